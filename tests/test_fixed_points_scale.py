"""find_fixed_points at scale: exact answers of rank-one networks (N = 512 … 2048), invariants
(counts, thread counts, bad starts), and ground-truth sets of small networks.

Rank-one networks M = m nᵀ/N with input weights w have fixed points v* = tanh(κ m + u w) where κ
solves the scalar equation κ = ⟨n, tanh(κ m + u w)⟩/N (Mv = m·(nᵀv/N), so every fixed point
has this form, and every root κ gives one): brentq on a fine grid finds every root.
"""

import math
import warnings

import numpy as np
import pytest
import torch
from scipy.optimize import brentq, fsolve

import torchrate as tr

F64, F32 = torch.float64, torch.float32
TAU = 10.0


# ----------------------------------------------------------------------------- rank one
def rank_one(N, dtype, seed=0):
    """n = 2m, w = m + x with m, x ~ N(0, 1): three roots for small u, one past a fold near 0.28."""
    gen = torch.Generator().manual_seed(seed)
    m, x = torch.randn(N, generator=gen, dtype=F64), torch.randn(N, generator=gen, dtype=F64)
    n, w = 2 * m, m + x
    net = tr.RateRNN.from_weights(
        (torch.outer(m, n) / N).to(dtype), w[:, None].to(dtype), tau=TAU, dt=1.0, nonlinearity="tanh"
    )
    return net, m, n, w


def kappa_roots(m, n, w, u, points=20001):
    """Every root of g(κ) = ⟨n, tanh(κm + uw)⟩/N − κ (|κ| ≤ ⟨|n|⟩), to 1e-15: sign changes of g
    on a grid of ``points``, then brentq."""
    m, n, w = m.numpy(), n.numpy(), w.numpy()

    def g(k):
        return float(n @ np.tanh(k * m + u * w)) / len(m) - k

    bound = np.abs(n).mean() + 1
    grid = np.linspace(-bound, bound, points)
    vals = n @ np.tanh(np.outer(m, grid) + u * w[:, None]) / len(m) - grid
    return [brentq(g, grid[i], grid[i + 1], xtol=1e-15) for i in np.nonzero(np.diff(np.sign(vals)))[0]]


def fold_input(m, n, w):
    """u just below the fold where the two lower roots merge: they differ by ≈ 0.1 in κ there."""
    lo, hi = 0.2, 0.4  # 3 roots at 0.2, 1 root at 0.4
    for _ in range(20):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if len(kappa_roots(m, n, w, mid, points=2001)) == 3 else (lo, mid)
    # near the fold Δκ ≈ C √(u_c − u); find u with Δκ ≈ 0.1 by stepping back
    for gap in (1e-4, 3e-4, 1e-3, 3e-3, 1e-2):
        roots = kappa_roots(m, n, w, lo - gap)
        if len(roots) == 3 and roots[1] - roots[0] >= 0.1:
            return lo - gap, roots
    raise AssertionError("no input near the fold with three separated roots")


def trajectory_starts(net, m, w, u, K, seed=1):
    """K states from 32 of the network's own Euler trajectories (200 ms) started at
    tanh(c m + u w) + noise, c evenly in [−2, 2]."""
    gen = torch.Generator().manual_seed(seed)
    dtype = net.M.dtype
    c = torch.linspace(-2, 2, 32, dtype=F64)[:, None]
    v = (torch.tanh(c * m + u * w) + 0.1 * torch.randn(32, len(m), generator=gen, dtype=F64)).to(dtype)
    h = net.project_input(torch.tensor([u], dtype=dtype)).detach()
    M = net.M.detach()
    traj = []
    for _ in range(200):
        v = tr.dynamics.euler_step(v, h, M, None, net.tau.detach(), net.F, 1.0)
        traj.append(v)
    return tr.analysis.sample_states(torch.stack(traj), K, generator=gen)


def check_invariants(fps, K):
    """counts sum to the kept states; each kept state lies within dedup tolerance of its point."""
    kept = fps.assignment >= 0
    assert fps.counts.sum().item() == kept.sum().item()
    assert torch.equal(torch.bincount(fps.assignment[kept], minlength=len(fps)), fps.counts)
    assert fps.final_states.shape[0] == fps.assignment.shape[0] == K
    if kept.any():
        gap = (fps.final_states[kept] - fps.points[fps.assignment[kept]]).norm(dim=-1).max().item()
        eps = torch.finfo(fps.points.dtype).eps
        assert gap <= 10 * math.sqrt(eps) * (1 + fps.points.abs().max().item())


def check_rank_one(fps, m, n, w, u, roots, dtype):
    """Every root found, no other point, each point at tanh(κ m + u w) of its root."""
    assert len(fps) == len(roots), f"{len(fps)} points for {len(roots)} roots"
    points = fps.points.double()
    kappa = points @ n / len(n)
    tol = 1e-10 if dtype == F64 else 2e-4
    for r in roots:
        i = int((kappa - r).abs().argmin())
        assert abs(kappa[i].item() - r) <= tol, f"root κ = {r} not found (nearest {kappa[i].item()})"
        exact = torch.tanh(r * m + u * w)
        assert (points[i] - exact).abs().max().item() <= (1e-10 if dtype == F64 else 1e-4)


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", ["three roots", "one root", "near the fold"])
@pytest.mark.parametrize(
    "N", [512, pytest.param(1024, marks=pytest.mark.slow), pytest.param(2048, marks=pytest.mark.slow)]
)
def test_rank_one_network_every_root_and_nothing_else(N, case, dtype):
    net, m, n, w = rank_one(N, dtype)
    if case == "near the fold":
        u, roots = fold_input(m, n, w)
    else:
        u = 0.2 if case == "three roots" else 0.4
        roots = kappa_roots(m, n, w, u)
    assert len(roots) == (1 if case == "one root" else 3)
    K = 256
    starts = trajectory_starts(net, m, w, u, K)
    fps = tr.analysis.find_fixed_points(net, torch.tensor([u], dtype=dtype), starts)
    check_rank_one(fps, m, n, w, u, roots, dtype)
    check_invariants(fps, K)
    assert fps.points.dtype == dtype and fps.converged.all()
    # nearly every trajectory start converges; past the fold a few sit on its ghost, a slow point
    assert fps.counts.sum().item() >= 0.9 * K
    # two stable nodes and a saddle, or one stable node
    assert sorted(fps.kind) == (["stable node"] if case == "one root" else ["saddle", "stable node", "stable node"])


def test_threads_do_not_change_the_points():
    """N = 512 (batched LU is unsafe with threads there) and N = 16: the same result with 1, 2, 4."""
    net, m, n, w = rank_one(512, F64)
    starts = trajectory_starts(net, m, w, 0.2, 32)
    small = block_network()
    small_starts = 2 * torch.rand(256, 16, generator=torch.Generator().manual_seed(3), dtype=F64) - 1
    before = torch.get_num_threads()
    results = {}
    try:
        for threads in (1, 2, 4):
            torch.set_num_threads(threads)
            results[threads] = (
                tr.analysis.find_fixed_points(net, torch.tensor([0.2], dtype=F64), starts),
                tr.analysis.find_fixed_points(small, None, small_starts),
            )
    finally:
        torch.set_num_threads(before)
    assert torch.get_num_threads() == before
    for threads in (2, 4):
        for ref, other in zip(results[1], results[threads]):
            assert len(other) == len(ref) and other.counts.tolist() == ref.counts.tolist()
            torch.testing.assert_close(other.points, ref.points, rtol=0, atol=1e-12)
    assert len(results[1][0]) >= 2 and len(results[1][1]) == 27


# ----------------------------------------------------------------------------- bad starts
def pair():
    return tr.RateRNN.from_weights(
        torch.tensor([[0.0, 2.0], [2.0, 0.0]], dtype=F64), tau=TAU, dt=1.0, nonlinearity="tanh"
    )


def test_non_finite_starts_are_dropped_with_a_warning():
    init = 2 * torch.rand(64, 2, generator=torch.Generator().manual_seed(0), dtype=F64) - 1
    clean = tr.analysis.find_fixed_points(pair(), None, init)
    bad = torch.cat([init, torch.tensor([[math.nan, 0.0], [math.inf, 1.0], [0.0, -math.inf]], dtype=F64)])
    with pytest.warns(UserWarning, match="3 of 67 initial states contain NaN or Inf and were dropped"):
        fps = tr.analysis.find_fixed_points(pair(), None, bad)
    assert len(fps) == len(clean) == 3 and fps.counts.tolist() == clean.counts.tolist()
    torch.testing.assert_close(fps.points, clean.points, rtol=0, atol=1e-15)
    assert fps.assignment[-3:].tolist() == [-1, -1, -1]
    check_invariants(fps, 67)


def test_extreme_starts_do_not_change_the_steps():
    """Starts at ±1e6 set neither the Adam step nor the clustering radius (both from the median
    spread): the other starts end at the same points as without them. (A step from the standard
    deviation of all starts would be ~1e4 here and throw every state away.)"""
    init = 2 * torch.rand(64, 2, generator=torch.Generator().manual_seed(0), dtype=F64) - 1
    clean = tr.analysis.find_fixed_points(pair(), None, init)
    extreme = torch.cat([init, torch.tensor([[1e6, -1e6], [-1e6, 1e6]], dtype=F64)])
    fps = tr.analysis.find_fixed_points(pair(), None, extreme, outlier_scale=None)
    assert len(fps) == len(clean) == 3
    same = torch.cdist(clean.points, fps.points).argmin(1)  # the points' order is by residual
    torch.testing.assert_close(fps.points[same], clean.points, rtol=0, atol=1e-15)
    others = torch.bincount(fps.assignment[:64][fps.assignment[:64] >= 0], minlength=3)
    assert others[same].tolist() == clean.counts.tolist()
    check_invariants(fps, 66)


def test_bad_inputs_raise_clear_errors():
    net = pair()
    with pytest.raises(ValueError, match="all 2 initial states contain NaN or Inf"):
        tr.analysis.find_fixed_points(net, None, torch.full((2, 2), math.nan, dtype=F64))
    with pytest.raises(ValueError, match=r"u must be finite, got 1 NaN/Inf entries in u of shape \(2,\)"):
        tr.analysis.find_fixed_points(net, torch.tensor([0.0, math.nan], dtype=F64), torch.zeros(4, 2, dtype=F64))
    broken = pair()
    with torch.no_grad():  # from_weights refuses NaN: break the network afterwards
        next(broken.parameters()).view(-1)[1] = math.nan
    with pytest.raises(ValueError, match=r"the network's .* has 1 NaN/Inf entries \(of 4\)"):
        tr.analysis.find_fixed_points(broken, None, torch.zeros(4, 2, dtype=F64))


# ----------------------------------------------------------------------------- ground truth
def block_network(N=16):
    """Three bistable units (self-weight 2: v ∈ {−a, 0, a}, a = tanh(2a)) and N − 3 units with
    self-weight 0.5 (v = 0 only): exactly 27 fixed points, 8 stable nodes and 19 saddles."""
    M = torch.diag(torch.tensor([2.0, 2.0, 2.0] + [0.5] * (N - 3), dtype=F64))
    return tr.RateRNN.from_weights(M, tau=TAU, dt=1.0, nonlinearity="tanh")


def test_product_of_bistable_units_has_all_27_points():
    a = brentq(lambda x: math.tanh(2 * x) - x, 0.5, 1.0, xtol=1e-15)
    fps = tr.analysis.find_fixed_points(
        block_network(), None, 2 * torch.rand(1024, 16, generator=torch.Generator().manual_seed(0), dtype=F64) - 1
    )
    assert len(fps) == 27 and fps.kind.count("stable node") == 8 and fps.kind.count("saddle") == 19
    levels = torch.tensor([-a, 0.0, a], dtype=F64)
    expected = torch.cartesian_prod(levels, levels, levels)
    d = torch.cdist(expected, fps.points[:, :3])
    assert d.min(1).values.max().item() < 1e-14 and fps.points[:, 3:].abs().max().item() < 1e-14
    check_invariants(fps, 1024)


def scipy_fixed_points(M, b, grid_per_dim):
    """Every fixed point of v = tanh(Mv + b) from a dense grid of fsolve starts in [−1, 1]^N
    (|v| < 1 for every fixed point), polished, de-duplicated at 1e-8."""
    N = M.shape[0]
    axes = [np.linspace(-1, 1, grid_per_dim)] * N
    found = []
    for start in np.stack(np.meshgrid(*axes), -1).reshape(-1, N):
        sol, info, ier, _ = fsolve(lambda v: np.tanh(M @ v + b) - v, start, full_output=True, xtol=1e-14)
        if ier == 1 and np.abs(np.tanh(M @ sol + b) - sol).max() < 1e-12:
            if all(np.abs(sol - p).max() > 1e-8 for p in found):
                found.append(sol)
    return np.array(found)


@pytest.mark.parametrize("N, seed, grid", [(2, 0, 41), (2, 3, 41), (3, 1, 15), (3, 4, 15)])
def test_small_networks_match_a_dense_scipy_enumeration(N, seed, grid):
    gen = torch.Generator().manual_seed(seed)
    M = 2.5 * torch.randn(N, N, generator=gen, dtype=F64) / math.sqrt(N) + 1.5 * torch.eye(N, dtype=F64)
    b = 0.2 * torch.randn(N, generator=gen, dtype=F64)
    truth = torch.from_numpy(scipy_fixed_points(M.numpy(), b.numpy(), grid))
    net = tr.RateRNN.from_weights(M, b=b, tau=TAU, dt=1.0, nonlinearity="tanh")
    starts = 2 * torch.rand(1024, N, generator=gen, dtype=F64) - 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no outlier or bad-start warning expected
        fps = tr.analysis.find_fixed_points(net, None, starts)
    assert len(fps) == len(truth) >= 1, f"{len(fps)} points, scipy enumerated {len(truth)}"
    d = torch.cdist(truth, fps.points, compute_mode="donot_use_mm_for_euclid_dist")
    assert d.min(1).values.max().item() < 1e-12 and d.min(0).values.max().item() < 1e-12
    check_invariants(fps, 1024)


def test_levenberg_marquardt_steps_and_eigenvectors_with_threads_above_n128(monkeypatch):
    """N = 200, where MKL's batched LU is unsafe with threads (torch runs the batch in parallel): a
    random network whose search takes Levenberg–Marquardt steps (counted) returns the same points,
    and left eigenvectors with L R = I, with 2 threads as with 1. Those steps' batched solve and the
    left eigenvectors' batched inverse used to bypass the one-matrix-at-a-time rule, and the
    2-thread search hung in MKL ("DLASWP parameter 6", "ZLASWP") at the first of them."""
    from torchrate.analysis import _search

    calls = []
    damped = _search._damped
    monkeypatch.setattr(_search, "_damped", lambda *a, **k: calls.append(1) or damped(*a, **k))
    gen = torch.Generator().manual_seed(0)
    N = 200
    M = 1.3 * torch.randn(N, N, generator=gen, dtype=F64) / N**0.5
    net = tr.RateRNN.from_weights(M, tau=10.0, dt=1.0, nonlinearity="tanh")
    starts = 0.5 * torch.randn(64, N, generator=gen, dtype=F64)
    before = torch.get_num_threads()
    results = {}
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            calls.clear()
            results[threads] = tr.analysis.find_fixed_points(net, None, starts, eigenvectors=True), len(calls)
    finally:
        torch.set_num_threads(before)
    (one, steps_one), (two, steps_two) = results[1], results[2]
    assert steps_one > 0 and steps_two > 0
    assert len(two) == len(one) == 5 and two.kind == one.kind and two.counts.tolist() == one.counts.tolist()
    torch.testing.assert_close(two.points, one.points, rtol=0, atol=1e-12)
    torch.testing.assert_close(two.eigenvalues, one.eigenvalues, rtol=0, atol=1e-12)
    eye = torch.eye(N, dtype=two.left_eigenvectors.dtype).expand(len(two), N, N)
    torch.testing.assert_close(two.left_eigenvectors @ two.right_eigenvectors, eye, rtol=0, atol=1e-10)
