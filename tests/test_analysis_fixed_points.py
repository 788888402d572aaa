"""find_fixed_points against closed forms: the Dayan–Abbott E–I pair, bistable pairs, Hopfield."""

import cmath
import math
from pathlib import Path

import pytest
import torch
from torch import nn

import torchrate as tr

F64 = torch.float64
EI_M = [[1.25, -1.0], [1.0, 0.0]]


def ei_pair(tau_i, dtype=F64):
    """τ_E dv_E/dt = −v_E + [1.25 v_E − v_I + 10]⁺, τ_I dv_I/dt = −v_I + [v_E − 10]⁺ (γ_E = −10, γ_I = 10)."""
    return tr.EIRateRNN.from_weights(
        torch.tensor(EI_M, dtype=dtype),
        n_exc=1,
        tau_e=10.0,
        tau_i=tau_i,
        b=torch.tensor([10.0, -10.0], dtype=dtype),
        dt=0.1,
    )


def supplement_eigenvalues(tau_e, tau_i, M=EI_M):
    """λ = ½((M_EE−1)/τ_E + (M_II−1)/τ_I ± sqrt(((M_EE−1)/τ_E − (M_II−1)/τ_I)² + 4 M_EI M_IE/(τ_E τ_I)))."""
    (mee, mei), (mie, mii) = M
    a, d = (mee - 1) / tau_e, (mii - 1) / tau_i
    root = cmath.sqrt((a - d) ** 2 + 4 * mei * mie / (tau_e * tau_i))
    return [(a + d + root) / 2, (a + d - root) / 2]


def tanh_root(w):
    """a > 0 with a = tanh(w a), by scalar Newton in float64."""
    a = 1.0
    for _ in range(100):
        a -= (a - math.tanh(w * a)) / (1 - w / math.cosh(w * a) ** 2)
    return a


@pytest.mark.parametrize("tau_i, kind", [(30.0, "stable spiral"), (50.0, "unstable spiral")])
def test_ei_pair_fixed_point_and_supplement_eigenvalues(tau_i, kind):
    net = ei_pair(tau_i)
    init = 50 * torch.rand(256, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    fps = tr.analysis.find_fixed_points(net, torch.zeros(2, dtype=F64), init)
    assert len(fps) == 1 and fps.kind == [kind] and bool(fps.stable[0]) == (tau_i < 40)
    torch.testing.assert_close(fps.points[0], torch.tensor([80 / 3, 50 / 3], dtype=F64), rtol=1e-15, atol=1e-13)
    assert fps.residuals[0].item() < 1e-26
    expected = torch.tensor(supplement_eigenvalues(10.0, tau_i), dtype=torch.complex128)
    torch.testing.assert_close(fps.eigenvalues[0], expected, rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("F", ["relu", "tanh"])
def test_bistable_pair_has_exactly_three_fixed_points(F, dtype):
    """relu, mutual inhibition w = 2, h = (1, 1): (1, 0), (0, 1) stable, (⅓, ⅓) saddle.
    tanh, mutual excitation w = 2, h = 0: ±(a, a) with a = tanh(2a) stable, (0, 0) saddle."""
    tau = 10.0
    w = -2.0 if F == "relu" else 2.0
    M = torch.tensor([[0.0, w], [w, 0.0]], dtype=dtype)
    net = tr.RateRNN.from_weights(M, tau=tau, dt=1.0, nonlinearity=F)
    u = torch.ones(2, dtype=dtype) if F == "relu" else None
    init = 2 * torch.rand(512, 2, generator=torch.Generator().manual_seed(1), dtype=dtype)
    init -= float(F == "tanh")  # tanh: states in [−1, 1]²
    fps = tr.analysis.find_fixed_points(net, u, init)
    if F == "relu":
        expected = {(1.0, 0.0): "stable node", (0.0, 1.0): "stable node", (1 / 3, 1 / 3): "saddle"}
        saddle_eigs = [(-1 + 2) / tau, (-1 - 2) / tau]  # M has eigenvalues ±2 there
    else:
        a = tanh_root(2.0)
        expected = {(a, a): "stable node", (-a, -a): "stable node", (0.0, 0.0): "saddle"}
        saddle_eigs = [(2 - 1) / tau, (-2 - 1) / tau]
    assert len(fps) == 3 and sorted(fps.kind) == ["saddle", "stable node", "stable node"]
    assert fps.stable.sum().item() == 2 and fps.counts.sum().item() <= 512
    tol = 1e-14 if dtype == F64 else 1e-6
    for point, kind in expected.items():
        dist = (fps.points - torch.tensor(point, dtype=dtype)).norm(dim=-1)
        i = int(dist.argmin())
        assert dist[i].item() < tol and fps.kind[i] == kind
    assert fps.residuals.max().item() < (1e-26 if dtype == F64 else 1e-12)
    i = fps.kind.index("saddle")
    torch.testing.assert_close(fps.eigenvalues[i].real, torch.tensor(saddle_eigs, dtype=dtype), rtol=tol, atol=tol)


def hadamard(n):
    H = torch.ones(1, 1, dtype=F64)
    while H.shape[0] < n:
        H = torch.cat([torch.cat([H, H], 1), torch.cat([H, -H], 1)], 0)
    return H


def test_hopfield_stores_patterns_as_stable_fixed_points():
    """M = (β/N) Σ ξξᵀ with orthogonal ξ ∈ {±1}ᴺ: Mξ = βξ, so v = aξ with a = tanh(βa) exactly;
    J = (β(1−a²)P − I)/τ (P the projector on the patterns): eigenvalues (β(1−a²)−1)/τ (×3), −1/τ."""
    N, beta, tau = 16, 3.0, 10.0
    xi = hadamard(N)[[1, 5, 10]]
    net = tr.RateRNN.from_weights(beta / N * xi.T @ xi, tau=tau, dt=1.0, nonlinearity="tanh")
    gen = torch.Generator().manual_seed(0)
    flips = torch.where(torch.rand(300, N, generator=gen) < 0.2, -1.0, 1.0).double()
    signs = torch.where(torch.rand(300, 1, generator=gen) < 0.5, -1.0, 1.0).double()
    init = xi[torch.randint(3, (300,), generator=gen)] * flips * signs
    fps = tr.analysis.find_fixed_points(net, None, init)
    a = tanh_root(beta)
    expected_eigs = torch.tensor([(beta * (1 - a * a) - 1) / tau] * 3 + [-1 / tau] * (N - 3), dtype=F64)
    for pattern in torch.cat([xi, -xi]):
        dist = (fps.points - a * pattern).norm(dim=-1)
        i = int(dist.argmin())
        assert dist[i].item() < 1e-13, f"pattern not found (closest at {dist[i].item():.3g})"
        assert fps.kind[i] == "stable node" and bool(fps.stable[i])
        torch.testing.assert_close(fps.eigenvalues[i].real, expected_eigs, rtol=1e-12, atol=1e-14)
        assert fps.eigenvalues[i].imag.abs().max().item() < 1e-14


def test_network_is_not_modified():
    net = tr.RateRNN(2, 8, tau=10.0, generator=torch.Generator().manual_seed(0), dtype=F64)
    next(net.parameters()).requires_grad_(False)  # a user's choice the finder must keep
    before = {k: v.clone() for k, v in net.state_dict().items()}
    flags = {k: p.requires_grad for k, p in net.named_parameters()}
    net.train()
    tr.analysis.find_fixed_points(net, torch.ones(2, dtype=F64), torch.randn(32, 8, dtype=F64))
    assert {k: p.requires_grad for k, p in net.named_parameters()} == flags
    assert all(p.grad is None for p in net.parameters()) and net.training
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k


@pytest.mark.parametrize("make", ["rate", "gru"])
def test_result_holds_ordinary_tensors(make):
    """The search runs under torch.inference_mode for these residuals (no user code runs): every
    tensor it returns is an ordinary one, usable in autograd and modifiable in place."""
    g = torch.Generator().manual_seed(0)
    net = tr.RateRNN(2, 8, tau=10.0, generator=g, dtype=F64) if make == "rate" else nn.GRU(2, 8).double()
    field = tr.systems.as_system(net).at(torch.zeros(2, dtype=F64))
    assert field.pure
    fps = tr.analysis.find_fixed_points(net, torch.zeros(2, dtype=F64), torch.randn(64, 8, dtype=F64, generator=g))
    tensors = {k: t for k, t in vars(fps).items() if isinstance(t, torch.Tensor)}
    assert {"points", "final_states", "eigenvalues", "jacobians"} <= set(tensors)
    assert not [k for k, t in tensors.items() if t.is_inference()]
    w = torch.ones(8, dtype=F64, requires_grad=True)
    (fps.points * w).sum().backward()  # saved for backward: fails on an inference tensor
    fps.final_states.add_(0.0)


def test_slow_point_of_a_ghost():
    """τ dv/dt = −v + tanh(2v + 0.6): past the saddle-node (b_c = 2^{1/2} − atanh(2^{−1/2}) ≈ 0.533)
    one fixed point is left, and a slow point (a minimum of q > 0) near v ≈ −0.74."""
    net = tr.RateRNN.from_weights(
        torch.tensor([[2.0]], dtype=F64), b=torch.tensor([0.6], dtype=F64), tau=10.0, dt=1.0, nonlinearity="tanh"
    )
    init = torch.linspace(-2, 2, 101, dtype=F64)[:, None]
    fixed = tr.analysis.find_fixed_points(net, None, init)
    v_star = fixed.points[0].item()
    assert len(fixed) == 1 and v_star == pytest.approx(math.tanh(2 * v_star + 0.6), abs=1e-15)
    fps = tr.analysis.find_fixed_points(net, None, init, slow_points=1e-4, dedup_tol=1e-2)
    assert len(fps) == 2 and fps.converged.tolist() == [True, False]
    grid = torch.linspace(-1.5, 0.0, 1_500_001, dtype=F64)
    q = 0.5 * ((torch.tanh(2 * grid + 0.6) - grid) / 10) ** 2
    assert fps.points[1].item() == pytest.approx(grid[q.argmin()].item(), abs=5e-3)
    assert fps.residuals[1].item() == pytest.approx(q.min().item(), rel=1e-3)


def test_outliers_are_dropped():
    """Linear autapse λ = 0.5 with h = 100: v* = h/(1 − λ) = 200, far from initial states in [−1, 1]."""
    net = tr.RateRNN.from_weights(torch.tensor([[0.5]], dtype=F64), tau=10.0, dt=1.0)
    init = torch.linspace(-1, 1, 8, dtype=F64)[:, None]
    u = torch.tensor([100.0], dtype=F64)
    with pytest.warns(UserWarning, match="8 of 8 converged states lie farther than outlier_scale=10"):
        dropped = tr.analysis.find_fixed_points(net, u, init)
    assert len(dropped) == 0 and dropped.outliers.all() and (dropped.assignment == -1).all()
    assert dropped.final_states.flatten().tolist() == pytest.approx([200.0] * 8, rel=1e-15)
    fps = tr.analysis.find_fixed_points(net, u, init, outlier_scale=None)
    assert len(fps) == 1 and fps.points.item() == pytest.approx(200.0, rel=1e-15)
    assert fps.counts.item() == 8 and not fps.outliers.any()


def test_any_module_with_a_vector_field():
    """A module without M: τ dv/dt = −v + tanh(2 v_other) written by hand, found via torch.func."""

    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.tensor(2.0, dtype=F64))

        def vector_field(self, v, h):
            return (-v + torch.tanh(self.w * v.flip(-1)) + h) / 10.0

    init = 2 * torch.rand(128, 2, generator=torch.Generator().manual_seed(2), dtype=F64) - 1
    fps = tr.analysis.find_fixed_points(Pair(), None, init)
    a = tanh_root(2.0)
    assert len(fps) == 3 and sorted(fps.kind) == ["saddle", "stable node", "stable node"]
    torch.testing.assert_close(fps.points.abs().max(), torch.tensor(a, dtype=F64), rtol=1e-14, atol=0)


def test_sample_states():
    traj = torch.arange(30.0, dtype=F64).reshape(5, 3, 2)
    s = tr.analysis.sample_states(traj, 100, generator=torch.Generator().manual_seed(0))
    assert s.shape == (100, 2) and s.dtype == F64
    rows = traj.reshape(-1, 2)
    assert bool((torch.cdist(s, rows).min(1).values == 0).all())
    noisy = tr.analysis.sample_states(
        torch.zeros(4, 3, dtype=F64), 20000, noise_std=0.5, generator=torch.Generator().manual_seed(1)
    )
    assert noisy.std().item() == pytest.approx(0.5, rel=0.02)  # 60000 draws: 3 standard errors ≈ 0.9%


def test_progress_bar_and_errors(capsys):
    net = tr.RateRNN.from_weights(torch.tensor([[0.5]], dtype=F64), tau=10.0, dt=1.0)
    tr.analysis.find_fixed_points(net, None, torch.zeros(4, 1, dtype=F64), progress=True)
    assert "fixed points" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"initial_states must have shape \(K, N\), got \(4,\)"):
        tr.analysis.find_fixed_points(net, None, torch.zeros(4))
    with pytest.raises(ValueError, match=r"shape \(K, 1\) for this network, got \(4, 3\)"):
        tr.analysis.find_fixed_points(net, None, torch.zeros(4, 3))


def test_classify():
    lam = torch.tensor(
        [[-1 + 2j, -1 - 2j], [-1, -2], [1, -2], [1 + 1j, 1 - 1j], [2, 1], [0, -1]], dtype=torch.complex128
    )
    stable, kind = tr.analysis.classify(lam)
    assert kind == ["stable spiral", "stable node", "saddle", "unstable spiral", "unstable node", "marginal"]
    assert stable.tolist() == [True, True, False, False, False, False]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_fixed_points_cuda():
    net = ei_pair(30.0).cuda()
    init = 50 * torch.rand(1024, 2, dtype=F64, device="cuda")
    fps = tr.analysis.find_fixed_points(net, torch.zeros(2, dtype=F64, device="cuda"), init)
    assert fps.points.device.type == "cuda" and fps.kind == ["stable spiral"]
    torch.testing.assert_close(fps.points[0].cpu(), torch.tensor([80 / 3, 50 / 3], dtype=F64), rtol=1e-15, atol=1e-13)


def test_per_state_loop_gives_the_batched_result():
    """batch_size=1 runs the same algorithm one state at a time: the same points, counts, kinds."""
    M = torch.tensor([[0.0, 2.0], [2.0, 0.0]], dtype=F64)
    net = tr.RateRNN.from_weights(M, tau=10.0, dt=1.0, nonlinearity="tanh")
    init = 2 * torch.rand(24, 2, generator=torch.Generator().manual_seed(5), dtype=F64) - 1
    batched = tr.analysis.find_fixed_points(net, None, init)
    looped = tr.analysis.find_fixed_points(net, None, init, batch_size=1)
    chunked = tr.analysis.find_fixed_points(net, None, init, batch_size=7)
    for other in (looped, chunked):
        assert other.kind == batched.kind and other.counts.tolist() == batched.counts.tolist()
        torch.testing.assert_close(other.points, batched.points, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="batch_size must be an integer ≥ 1, got 0"):
        tr.analysis.find_fixed_points(net, None, init, batch_size=0)


def test_float32_search_agrees_with_float64_on_a_64_unit_network():
    """The same network in both dtypes: float32 points within ~100 float32 ulps of float64's."""
    gen = torch.Generator().manual_seed(0)
    M = 1.2 * torch.randn(64, 64, generator=gen, dtype=F64) / 8
    b = 0.1 * torch.randn(64, generator=gen, dtype=F64)
    net = tr.RateRNN.from_weights(M, torch.ones(64, 1, dtype=F64), b, tau=10.0, dt=1.0, nonlinearity="tanh")
    v, traj = torch.randn(8, 64, generator=gen, dtype=F64), []
    for _ in range(200):  # the network's own Euler trajectories at u = 0
        v = tr.dynamics.euler_step(v, torch.zeros(64, dtype=F64), M, b, 10.0, net.F, 1.0)
        traj.append(v)
    rates = torch.stack(traj)
    init = tr.analysis.sample_states(rates[50:], 128, 0.05, generator=gen)
    f64 = tr.analysis.find_fixed_points(net, torch.zeros(1, dtype=F64), init)
    f32 = tr.analysis.find_fixed_points(net.float(), torch.zeros(1), init.float())
    assert len(f64) == len(f32) == 1 and f32.points.dtype == torch.float32
    assert f64.residuals.item() < 1e-30 and f32.residuals.item() < 1e-12
    torch.testing.assert_close(f32.points.double(), f64.points, rtol=0, atol=1e-5)
    torch.testing.assert_close(f32.eigenvalues.to(torch.complex128), f64.eigenvalues, rtol=0, atol=1e-5)
    assert f32.kind == f64.kind


def test_a_network_without_fixed_points_returns_none_and_says_why():
    """τ dv/dt = −v + (v + h) = h (an integrator driven by h ≠ 0) has no fixed point."""
    net = tr.RateRNN.from_weights(torch.eye(2, dtype=torch.float64), tau=10.0, dt=1.0)
    starts = torch.randn(16, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    # dv/dt = h/τ everywhere: q = ½‖h/τ‖² = 0.005 at every state
    with pytest.warns(UserWarning, match=r"none of the 16 states converged .*smallest q = ½‖dv/dt‖² = 0.005\)"):
        fps = tr.analysis.find_fixed_points(net, torch.tensor([1.0, 0.0], dtype=torch.float64), starts)
    assert len(fps) == 0 and int(fps.counts.sum()) == 0


def _fpf_rate_network(dtype: torch.dtype) -> tuple[tr.RateRNN, torch.Tensor]:
    """FixedPointFinder's trained 3-bit flip-flop tanh RNN (tests/data) as the rate network with its
    map (τ = dt), and its 1,024 starts."""
    d = torch.load(Path(__file__).parent / "data" / "fpf_flipflop_rnn.pt", weights_only=True)
    sd = {k: t.to(dtype) for k, t in d["state_dict"].items()}
    b = sd["bias_ih_l0"] + sd["bias_hh_l0"]
    net = tr.RateRNN.from_weights(sd["weight_hh_l0"], sd["weight_ih_l0"], b, tau=1.0, dt=1.0, nonlinearity="tanh")
    return net, d["initial_states"].to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_newton_balls_around_known_points_hold(dtype, monkeypatch):
    """The search places a state on a known point p once it is within ¼/(‖J(p)⁻¹‖∞ γ) of it (∞-norm,
    half the radius of Dennis & Schnabel's Theorem 5.2.1): plain Newton (full steps, nothing placed)
    from corners of every ball of FixedPointFinder's flip-flop converges to its point. Placing changes
    no result: with the balls switched off (no Lipschitz constant) the same 27 points, kinds and counts."""
    from torchrate.analysis import _search

    net, starts = _fpf_rate_network(dtype)
    u = torch.zeros(3, dtype=dtype)
    fps = tr.analysis.find_fixed_points(net, u, starts, outlier_scale=None)
    assert len(fps) == 27 and int(fps.stable.sum()) == 8
    field = net.system("discrete").at(u)
    basins = _search._Basins(field, fps.points)
    assert bool((basins.radius > 0).all())
    gen = torch.Generator().manual_seed(3)
    signs = torch.randint(0, 2, (27, 8, 16), generator=gen).to(dtype) * 2 - 1
    x = (fps.points[:, None] + basins.radius[:, None, None] * signs).reshape(-1, 16)  # on each ball's corners
    for _ in range(30):
        x = x - torch.linalg.solve(field.jacobian(x), field(x))
    far = (x.reshape(27, 8, 16) - fps.points[:, None]).abs().amax(-1)
    assert far.max() < (1e-5 if dtype == torch.float32 else 1e-13)
    monkeypatch.setattr(tr.systems, "_CURVATURE", {})
    assert net.system("discrete").at(u).lipschitz is None
    plain = tr.analysis.find_fixed_points(net, u, starts, outlier_scale=None)
    dist = torch.cdist(plain.points.double(), fps.points.double(), compute_mode="donot_use_mm_for_euclid_dist")
    match = dist.argmin(1)
    assert len(plain) == 27 and sorted(match.tolist()) == list(range(27))
    assert dist.min(1).values.max() < (1e-5 if dtype == torch.float32 else 1e-13)
    assert [fps.kind[j] for j in match.tolist()] == plain.kind
    assert torch.equal(fps.counts[match], plain.counts)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_no_newton_ball_around_a_point_of_a_line(dtype, monkeypatch):
    """A linear network with a line of fixed points whose J is singular only up to rounding (M = Q Λ Qᵀ,
    one eigenvalue 1): γ = 0 would make every ball the whole space, and place every state on one of the
    first points found. No ball is drawn where J(p)'s condition number exceeds 1/√eps, so the search
    returns the same line, from the same states, with the balls as without."""
    gen = torch.Generator().manual_seed(0)
    N = 20
    Q, _ = torch.linalg.qr(torch.randn(N, N, generator=gen, dtype=F64))
    lam = torch.cat([torch.ones(1, dtype=F64), 0.5 * torch.rand(N - 1, generator=gen, dtype=F64)])
    net = tr.RateRNN.from_weights(Q @ torch.diag(lam) @ Q.T, tau=10.0, dt=1.0, nonlinearity="linear").to(dtype)
    starts = torch.randn(200, N, generator=gen, dtype=F64).to(dtype)
    assert float(net.system("continuous").at(torch.zeros(0, dtype=dtype)).lipschitz) == 0.0
    with_balls = tr.analysis.find_fixed_points(net, None, starts)
    monkeypatch.setattr(tr.systems, "_CURVATURE", {})
    without = tr.analysis.find_fixed_points(net, None, starts)
    assert len(with_balls.manifolds) == len(without.manifolds) == 1
    assert with_balls.manifolds[0].count == without.manifolds[0].count
    torch.testing.assert_close(with_balls.final_states, without.final_states)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_median_is_torch_median(dtype):
    """The search's median (numpy's selection on the CPU) is torch.median's, the lower one for an even
    count, bit for bit: of all entries and along a dimension, for odd and even counts."""
    from torchrate.analysis._search import _median

    gen = torch.Generator().manual_seed(0)
    for shape in [(1024, 16), (7, 3), (1, 5), (2, 2), (1000, 1)]:
        x = torch.randn(shape, generator=gen, dtype=F64).to(dtype)
        assert torch.equal(_median(x, 0), x.median(0).values)
        assert torch.equal(_median(x.T, 1), x.T.median(1).values)
        m = _median(x)
        assert m.ndim == 0 and m.dtype == dtype and torch.equal(m, x.median())


@pytest.mark.parametrize("exact", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_leaders_invariants(dtype, exact):
    """Greedy leader clustering (exact distances, or the matrix-product form for a coarse radius): every
    row has exactly one leader within the radius, leaders are their own leaders, more than the radius
    apart, and come in the order given; ~1,000 rows in clusters over several blocks of 128."""
    from torchrate.analysis._search import _leaders

    gen = torch.Generator().manual_seed(1)
    centres = 3 * torch.randn(40, 16, generator=gen, dtype=F64)
    x = (centres[torch.randint(0, 40, (1000,), generator=gen)] + 0.05 * torch.randn(1000, 16, generator=gen)).to(dtype)
    order = torch.randperm(1000, generator=gen)
    radius = 0.5
    leaders, assign = _leaders(x, order, radius, exact=exact)
    slack = 1e-4 if not exact else 0.0  # the matrix-product form's rounding
    d = torch.cdist(x.double(), x[leaders].double(), compute_mode="donot_use_mm_for_euclid_dist")
    assert bool((assign >= 0).all()) and len(leaders) == 40
    assert float(d.gather(1, assign[:, None]).max()) <= radius + slack
    assert torch.equal(assign[leaders], torch.arange(len(leaders)))
    between = d[leaders] + torch.diag(torch.full((len(leaders),), math.inf, dtype=F64))
    assert float(between.min()) > radius - slack
    rank = torch.empty_like(order)
    rank[order] = torch.arange(1000)
    assert bool((rank[leaders].diff() > 0).all())
    one = _leaders(x[:1], torch.zeros(1, dtype=torch.long), radius, exact=exact)  # a single row: its own leader
    assert one[0].tolist() == [0] and one[1].tolist() == [0]
