"""The dynamical-system core: every network (ours, torch's RNN/GRU/LSTM and cells, callables) as a
Flow or a Map, checked against the modules themselves, autograd, and closed forms; discrete-time
stability verified by running the real network; continuous attractors against exact solutions."""

import math
import warnings

import pytest
import torch
from torch import nn

import torchrate as tr
from torchrate.systems import Flow, Map, as_system

F64, F32 = torch.float64, torch.float32
TORCH_MODULES = [nn.RNN, nn.GRU, nn.LSTM]


def _stacked(state: torch.Tensor | tuple, layers: int) -> torch.Tensor:
    """torch's (L, B, H) hidden state (or (h, c)) as the system's (B, L·H[·2]) state."""
    parts = state if isinstance(state, tuple) else (state,)
    return torch.cat([p.permute(1, 0, 2).reshape(p.shape[1], -1) for p in parts], -1)


# ----------------------------------------------------------------------------- systems equal their modules
@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cls", TORCH_MODULES)
def test_torch_rnn_map_is_one_step_of_the_module(cls, layers, dtype):
    """v' = F(v, u) equals module(u[None], h0) for RNN/GRU/LSTM of 1 and 2 layers, to rounding."""
    gen = torch.Generator().manual_seed(layers)
    torch.manual_seed(0)
    module = cls(3, 7, num_layers=layers).to(dtype)
    B = 5
    u = torch.randn(B, 3, generator=gen, dtype=dtype)
    h0 = torch.randn(layers, B, 7, generator=gen, dtype=dtype)
    state = (h0, torch.randn(layers, B, 7, generator=gen, dtype=dtype)) if cls is nn.LSTM else h0
    _, out = module(u[None], state)
    system = as_system(module)
    assert system.time == "discrete" and system.state_size == 7 * layers * (2 if cls is nn.LSTM else 1)
    tol = 1e-15 if dtype == F64 else 1e-6
    torch.testing.assert_close(system(_stacked(state, layers), u), _stacked(out, layers), rtol=tol, atol=tol)


@pytest.mark.parametrize("cls", [nn.RNNCell, nn.GRUCell, nn.LSTMCell])
def test_torch_cells_are_maps(cls):
    torch.manual_seed(1)
    cell = cls(2, 4).double()
    u, h = torch.randn(3, 2, dtype=F64), torch.randn(3, 4, dtype=F64)
    if cls is nn.LSTMCell:
        c = torch.randn(3, 4, dtype=F64)
        out = torch.cat(cell(u, (h, c)), -1)
        v = torch.cat([h, c], -1)
    else:
        out, v = cell(u, h), h
    torch.testing.assert_close(as_system(cell)(v, u), out, rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("cls", TORCH_MODULES)
def test_jacobians_of_torch_modules_are_autograd_and_pass_gradcheck(cls):
    """∂v'/∂v and ∂v'/∂u against torch.autograd.functional.jacobian of the module's own step, and
    gradcheck/gradgradcheck of the system in float64."""
    torch.manual_seed(2)
    module = cls(3, 5).double()
    system = as_system(module)
    N = system.state_size
    v, u = torch.randn(4, N, dtype=F64), torch.randn(4, 3, dtype=F64)

    def step(vb, ub):  # the module itself, one step, one state
        if cls is nn.LSTM:
            _, (h, c) = module(ub[None, None], (vb[None, None, :5], vb[None, None, 5:]))
            return torch.cat([h, c], -1).reshape(-1)
        return module(ub[None, None], vb[None, None])[1].reshape(-1)

    for b in range(4):
        Jv, Ju = torch.autograd.functional.jacobian(step, (v[b], u[b]))
        torch.testing.assert_close(system.jacobian(v, u)[b], Jv, rtol=1e-13, atol=1e-14)
        torch.testing.assert_close(system.input_jacobian(v, u)[b], Ju, rtol=1e-13, atol=1e-14)
    # the finder's residual at one input: ∂(F − I)/∂v and ∇q = (∂F/∂v − I)ᵀ(F(v) − v), written out
    res = system.at(u[0])
    generic = Map(system.__call__, N, 3).at(u[0])
    torch.testing.assert_close(res.jacobian(v), generic.jacobian(v), rtol=1e-13, atol=1e-14)
    torch.testing.assert_close(res.grad_q(v), generic.grad_q(v), rtol=1e-13, atol=1e-14)
    vr, ur = v[:2].clone().requires_grad_(), u[:2].clone().requires_grad_()
    assert torch.autograd.gradcheck(system, (vr, ur))
    assert torch.autograd.gradgradcheck(system, (vr, ur))


@pytest.mark.parametrize(
    "module",
    [
        nn.RNN(3, 5, nonlinearity="relu"),
        nn.RNN(3, 5, bias=False),
        nn.GRU(3, 5, bias=False),
        nn.LSTM(3, 5, bias=False),
        nn.RNNCell(3, 5),
        nn.GRUCell(3, 5),
        nn.LSTMCell(3, 5),
    ],
    ids=lambda m: f"{type(m).__name__}-{getattr(m, 'nonlinearity', '')}-{'bias' if m.bias else 'nobias'}",
)
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_written_out_input_jacobian_of_one_layer_equals_torch_func(module, dtype):
    """∂v'/∂u of a one-layer module or cell, written out (:meth:`_Cell.input_jacobian`), equals
    torch.func's of the same step, with and without biases, tanh and relu."""
    torch.manual_seed(3)
    system = as_system(module.to(dtype))
    v, u = torch.randn(6, system.state_size, dtype=dtype), torch.randn(6, 3, dtype=dtype)
    tol = 1e-13 if dtype == F64 else 1e-5
    Ju = system.input_jacobian(v, u)
    assert Ju.shape == (6, system.state_size, 3)
    torch.testing.assert_close(Ju, Map.input_jacobian(system, v, u), rtol=tol, atol=tol)


@pytest.mark.parametrize("time", ["continuous", "discrete"])
def test_rate_system_jacobians_are_analytic_and_equal_autograd(time):
    """RateSystem's analytic ∂/∂v and ∂/∂u equal torch.func of its own __call__, for both times,
    per-neuron τ, a bias and W; the map is v + dt·f."""
    net = tr.RateRNN(
        3, 6, tau=torch.linspace(5.0, 15.0, 6), dt=2.0, dtype=F64, generator=torch.Generator().manual_seed(3)
    )
    with torch.no_grad():
        net.bias_l0.normal_(generator=torch.Generator().manual_seed(4))
    system = net.system(time)
    assert system.time == time
    v, u = torch.randn(4, 6, dtype=F64), torch.randn(4, 3, dtype=F64)
    generic = Flow(system.__call__, 6, 3) if time == "continuous" else Map(system.__call__, 6, 3)
    torch.testing.assert_close(system.jacobian(v, u), generic.jacobian(v, u), rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(system.input_jacobian(v, u), generic.input_jacobian(v, u), rtol=1e-14, atol=1e-15)
    f = net.vector_field(v, net.project_input(u))
    torch.testing.assert_close(system(v, u), f if time == "continuous" else v + 2.0 * f, rtol=1e-15, atol=1e-15)


def test_default_time_follows_dt_over_tau():
    """The map when dt/τ ≥ 0.5 (from_rnn's τ = dt included), the flow otherwise; ODE nets are flows."""
    assert tr.RateRNN(2, 3, tau=10.0, dt=1.0).system().time == "continuous"
    assert tr.RateRNN(2, 3, tau=10.0, dt=5.0).system().time == "discrete"
    assert tr.RateRNN.from_rnn(nn.RNN(2, 3)).system().time == "discrete"
    assert tr.RateRNN(2, 3, tau=10.0, dt=1.0, solver="rk4").system().time == "continuous"
    ei = tr.EIRateRNN(2, 4, 2, tau_e=20.0, tau_i=2.0, dt=1.0)  # dt/τ_min = 0.5
    assert as_system(ei).time == "discrete"
    with pytest.raises(ValueError, match="time='discrete' needs an Euler network"):
        tr.RateRNN(2, 3, solver="rk4").system("discrete")
    with pytest.raises(ValueError, match="time must be 'continuous', 'discrete' or None"):
        as_system(tr.RateRNN(2, 3), time="map")
    with pytest.raises(ValueError, match="discrete-time system; time='continuous' needs an Euler network"):
        as_system(nn.GRU(2, 3), time="continuous")


def test_stacked_rate_network_is_one_map_of_all_layers():
    """A 2-layer Euler network as a map: one step of its forward, state (v⁰, v¹)."""
    net = tr.RateRNN(3, 4, num_layers=2, tau=1.0, dt=1.0, dtype=F64, generator=torch.Generator().manual_seed(5))
    u = torch.randn(6, 3, dtype=F64)
    h0 = torch.randn(2, 6, 4, dtype=F64)
    _, h1 = net(u[None], h0)
    system = as_system(net)
    assert system.time == "discrete" and system.state_size == 8
    torch.testing.assert_close(system(_stacked(h0, 2), u), _stacked(h1, 2), rtol=1e-15, atol=1e-15)


def test_refusals_name_the_fix():
    with pytest.raises(ValueError, match="bidirectional"):
        as_system(nn.GRU(2, 3, bidirectional=True))
    with pytest.raises(ValueError, match="bidirectional"):
        as_system(tr.RateRNN(2, 3, bidirectional=True))
    with pytest.raises(ValueError, match="proj_size=2 is not supported"):
        as_system(nn.LSTM(2, 3, proj_size=2))
    with pytest.raises(TypeError, match="cannot analyse a str"):
        as_system("gru")
    with pytest.raises(TypeError, match="step must be a callable"):
        Map(3, 2, 2)
    with pytest.raises(TypeError, match="f must be a callable"):
        Flow(None, 2, 2)
    with pytest.raises(ValueError, match="state_size must be"):
        Map(lambda v, u: v, 0, 1)


class _LeakyGRUCell(nn.GRUCell):
    """A user's cell: torch's GRU step with a leak, h' = (1 − α) h + α GRU(u, h)."""

    def forward(self, input, hx=None):
        return 0.9 * hx + 0.1 * super().forward(input, hx)


class _HalvedRNN(nn.RNN):
    def forward(self, input, hx=None):
        out, h = super().forward(input, hx)
        return 0.5 * out, 0.5 * h


@pytest.mark.parametrize("module", [_LeakyGRUCell(2, 3), _HalvedRNN(2, 3)], ids=["GRUCell", "RNN"])
def test_a_torch_module_with_its_own_forward_is_refused_not_analysed_as_torchs(module):
    """A subclass whose forward is its own was analysed silently with torch's formulas (its step,
    Jacobians and fixed points were those of the plain cell); a parametrized module, whose class
    inherits forward, is still torch's map."""
    with pytest.raises(TypeError, match=r"overrides torch\.nn\.(GRUCell|RNN)\.forward.*torchrate\.systems\.Map"):
        as_system(module)
    with pytest.raises(TypeError, match="overrides"):
        tr.analysis.jacobian(module, torch.zeros(3))
    masked = nn.GRU(2, 3).double()
    torch.nn.utils.parametrize.register_parametrization(masked, "weight_hh_l0", _Abs())
    u, h = torch.randn(4, 2, dtype=F64), torch.randn(4, 3, dtype=F64)
    torch.testing.assert_close(as_system(masked)(h, u), masked(u[None], h[None])[1][0], rtol=1e-15, atol=1e-15)


class _Abs(nn.Module):
    def forward(self, x):
        return x.abs()


# ----------------------------------------------------------------------------- discrete-time stability
def _one_unit_rnn(dtype=F64) -> nn.RNN:
    rnn = nn.RNN(1, 1, bias=False).to(dtype)
    with torch.no_grad():
        rnn.weight_hh_l0.fill_(-1.5)
        rnn.weight_ih_l0.zero_()
    return rnn


@pytest.mark.parametrize("dtype", [F32, F64])
def test_one_unit_rnn_is_unstable_as_the_map_it_runs(dtype):
    """h ← tanh(−1.5 h): the fixed point 0 has μ = −1.5, so the network oscillates with period 2
    (±a, a = tanh(1.5 a) = 0.8586); its ODE would call 0 a stable node (λ = −2.5)."""
    rnn = _one_unit_rnn(dtype)
    starts = torch.linspace(-0.3, 0.3, 7, dtype=dtype)[:, None]
    direct = tr.analysis.find_fixed_points(rnn, None, starts)
    with pytest.warns(UserWarning, match="1 of 1 fixed points are unstable as the discrete-time system"):
        converted = tr.analysis.find_fixed_points(tr.RateRNN.from_rnn(rnn), None, starts)
    for fps in (direct, converted):
        assert fps.time == "discrete" and len(fps) == 1 and fps.kind == ["unstable node"]
        assert fps.points.abs().max() < 1e-6 and not bool(fps.stable[0])
        torch.testing.assert_close(fps.eigenvalues[0, 0].real.item(), -1.5, rtol=0, atol=1e-6)
    with pytest.warns(UserWarning, match="stable as the continuous-time system analysed here"):
        flow = tr.analysis.find_fixed_points(tr.RateRNN.from_rnn(rnn), None, starts, time="continuous")
    assert flow.kind == ["stable node"] and flow.eigenvalues[0, 0].real.item() == pytest.approx(-2.5, abs=1e-6)
    # the verdict checked by running the network itself: from 0.01 it leaves 0 for the 2-cycle
    h = torch.full((1, 1, 1), 0.01, dtype=dtype)
    x = torch.zeros(60, 1, 1, dtype=dtype)
    out, _ = rnn(x, h)
    a = 0.858560  # a = tanh(1.5 a)
    assert abs(out[-1].abs().item() - a) < 1e-4 and out[-1].item() * out[-2].item() < 0


@pytest.mark.parametrize("cls", TORCH_MODULES)
def test_verdicts_of_maps_hold_when_the_module_runs(cls):
    """For random 24-unit RNN/GRU/LSTM maps at a fixed input: every point is a fixed point of the
    module itself (one step moves it by rounding), stable points attract a 1e-4 perturbation over
    300 steps of the module, and a point with |μ_max| > 1.05 repels one along its top eigenvector."""
    torch.manual_seed(7)
    module = cls(2, 24).double()
    with torch.no_grad():  # strong recurrence: several points
        for name, p in module.named_parameters():
            if "weight_hh" in name:
                p.mul_(6.0)
    system = as_system(module)
    u = torch.tensor([0.1, -0.2], dtype=F64)
    starts = torch.rand(256, system.state_size, generator=torch.Generator().manual_seed(8), dtype=F64) * 2 - 1
    fps = tr.analysis.find_fixed_points(module, u, starts)
    assert len(fps) >= 1
    U = u.expand(len(fps), -1)
    assert (system(fps.points, U) - fps.points).abs().max() < 1e-12
    lam, vec = torch.linalg.eig(fps.jacobians)
    for k in range(len(fps)):
        top = lam[k].abs().argmax()
        direction = vec[k][:, top].real
        direction = direction / direction.norm()
        v = fps.points[k : k + 1] + 1e-4 * direction
        for _ in range(300):
            v = system(v, u[None])
        dist = (v - fps.points[k]).norm().item()
        if bool(fps.stable[k]):
            assert dist < 1e-4 * 0.999**0  # attracted (it shrinks)
        elif lam[k].abs().max() > 1.05:
            assert dist > 1e-3  # repelled


def test_classify_discrete_kinds():
    lam = torch.tensor(
        [
            [0.5, 0.2],
            [1.5, 0.2],
            [-1.0, 0.5],
            [complex(0.6, 0.8), complex(0.6, -0.8)],
            [1.0, 0.3],
            [1.2, 1.1],
            [complex(0.3, 0.4), 0.1],
            [math.nan, 0.1],
        ],
        dtype=torch.complex128,
    )
    stable, kind = tr.analysis.classify(lam, time="discrete")
    assert kind == [
        "stable node",
        "saddle",
        "flip",
        "Neimark–Sacker",
        "marginal",
        "unstable node",
        "stable spiral",
        "undetermined",
    ]
    assert stable.tolist() == [True, False, False, False, False, False, True, False]
    with pytest.raises(ValueError, match="time must be 'continuous' or 'discrete'"):
        tr.analysis.classify(lam, time="map")


# ----------------------------------------------------------------------------- continuous attractors
@pytest.mark.parametrize("dtype", [F32, F64])
def test_linear_integrator_is_a_line_of_fixed_points(dtype):
    """M = [[.5, .5], [.5, .5]]: eigenvalue 1 along (1, 1) (an integrator), 0 across: every point
    v₁ = v₂ is fixed, and nearby states fall onto the line (transverse λ = −1/τ)."""
    M = torch.tensor([[0.5, 0.5], [0.5, 0.5]], dtype=dtype)
    net = tr.RateRNN.from_weights(M, tau=10.0, dt=1.0, nonlinearity="linear")
    starts = torch.randn(100, 2, generator=torch.Generator().manual_seed(0), dtype=dtype)
    fps = tr.analysis.find_fixed_points(net, None, starts)
    assert len(fps) == 0 and len(fps.manifolds) == 1
    line = fps.manifolds[0]
    assert line.dimension == 1 and not line.closed and line.stable_transverse and line.count == 100
    tol = 1e-12 if dtype == F64 else 1e-5
    assert (line.points[:, 0] - line.points[:, 1]).abs().max() < tol
    # each start ends on the line next to its projection (the flow leaves the slow mode alone; the
    # warm-up's per-coordinate Adam steps may slide it a little along the line)
    assert (fps.final_states[:, 0] - fps.final_states[:, 1]).abs().max() < tol
    torch.testing.assert_close(fps.final_states[:, 0], starts.mean(1), rtol=0, atol=1e-3)
    assert (line.points[1:, 0] >= line.points[:-1, 0]).all()  # ordered along the line
    assert int((fps.on_manifold == 0).sum()) == 100 and int(fps.counts.sum()) == 0


def test_identical_starts_return_their_one_point():
    net = tr.RateRNN.from_weights(
        torch.tensor([[0.0, 2.0], [2.0, 0.0]], dtype=F64), tau=10.0, dt=1.0, nonlinearity="tanh"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fps = tr.analysis.find_fixed_points(net, None, torch.full((100, 2), 0.7, dtype=F64))
    assert len(fps) == 1 and fps.counts.tolist() == [100] and not fps.outliers.any()
    a = fps.points[0, 0].item()
    assert a == pytest.approx(math.tanh(2 * a), abs=1e-15) and fps.kind == ["stable node"]


def _ring(N: int, dtype):
    th = torch.arange(N, dtype=dtype) * 2 * math.pi / N
    c, s = torch.cos(th), torch.sin(th)
    M = 3.0 / N * (torch.outer(c, c) + torch.outer(s, s))
    return tr.RateRNN.from_weights(M, tau=10.0, dt=1.0, nonlinearity="tanh"), th, c, s


@pytest.mark.parametrize("dtype", [F32, F64])
def test_ring_network_is_one_closed_attracting_manifold(dtype):
    """M = (3/N)(c cᵀ + s sᵀ), tanh: every rotation of the bump v = tanh(r cos(θ − φ)) is a fixed
    point, r = (3/N) Σ tanh(r cos θ_i) cos θ_i (the discrete sum equals the rotation-invariant
    integral to ~e^{-0.7N}: exact at N = 128). One ring of dimension 1, found from 200 noisy bumps."""
    N = 128
    net, th, c, s = _ring(N, dtype)
    gen = torch.Generator().manual_seed(0)
    phi = 2 * math.pi * torch.rand(200, generator=gen, dtype=dtype)
    starts = torch.tanh(2 * torch.cos(th[None] - phi[:, None])) + 0.1 * torch.randn(200, N, generator=gen, dtype=dtype)
    fps = tr.analysis.find_fixed_points(net, None, starts)
    assert len(fps.manifolds) == 1
    ring = fps.manifolds[0]
    assert ring.dimension == 1 and ring.closed and ring.stable_transverse and ring.points.shape[0] > 150
    r = 1.0
    for _ in range(300):
        r = 3.0 / N * (torch.tanh(r * c.double()) * c.double()).sum().item()
    kc, ks = ring.points @ c * 3.0 / N, ring.points @ s * 3.0 / N
    angle = torch.atan2(ks, kc)
    tol = 1e-11 if dtype == F64 else 3e-5
    assert ((kc**2 + ks**2).sqrt() - r).abs().max() < tol
    torch.testing.assert_close(ring.points, torch.tanh(r * torch.cos(th[None] - angle[:, None])), rtol=0, atol=tol)
    steps = torch.diff(angle.double())
    assert max(int((steps >= 0).sum()), int((steps <= 0).sum())) >= len(angle) - 2  # ordered by angle, one wrap


def test_trained_style_slow_line_is_reported_with_slow_points():
    """An exact line attractor perturbed by ε: M = [[.5, .5], [.5, .5]] + ε·diag(1, −1)·… turns the
    line into one stable point and a slow line (λ ≈ −ε/τ). Starts spread along it converge to the
    one point; with slow_points they are kept as slow points, not as a manifold (q > 0 along it)."""
    eps = 1e-3
    M = torch.tensor([[0.5 - eps, 0.5], [0.5, 0.5 - eps]], dtype=F64)
    net = tr.RateRNN.from_weights(M, tau=10.0, dt=1.0, nonlinearity="linear")
    starts = torch.linspace(-1, 1, 41, dtype=F64)[:, None].expand(-1, 2).contiguous()
    fps = tr.analysis.find_fixed_points(net, None, starts)
    assert len(fps) == 1 and fps.points.abs().max() < 1e-12 and not fps.manifolds
    assert fps.eigenvalues[0, 0].real.item() == pytest.approx(-eps / 10, rel=1e-9)


# ----------------------------------------------------------------------------- input Jacobians, eigenvectors
@pytest.mark.parametrize("dtype", [F32, F64])
def test_input_jacobians_and_eigenvectors(dtype):
    """Input Jacobians equal autograd of the system at the points; L R = I, J R = R Λ, L J = Λ L."""
    torch.manual_seed(3)
    gru = nn.GRU(3, 16).to(dtype)
    with torch.no_grad():
        gru.weight_hh_l0.mul_(4.0)
    starts = torch.rand(128, 16, generator=torch.Generator().manual_seed(4), dtype=dtype) * 2 - 1
    u = torch.tensor([0.2, 0.0, -0.1], dtype=dtype)
    fps = tr.analysis.find_fixed_points(gru, u, starts, eigenvectors=True)
    assert len(fps) >= 1 and fps.input_jacobians.shape == (len(fps), 16, 3)
    system = as_system(gru)
    tol = 1e-12 if dtype == F64 else 1e-5
    for k in range(len(fps)):
        Ju = torch.autograd.functional.jacobian(lambda x, k=k: system(fps.points[k : k + 1], x[None])[0], u)
        torch.testing.assert_close(fps.input_jacobians[k], Ju, rtol=tol, atol=tol)
    # to rounding where the eigenvalues are apart. In float32 this saturated GRU's slow states count as
    # converged, with μ ≈ 1 five- to elevenfold: nearly defective, LAPACK's own eig leaves ‖J R − R Λ‖ ~ 0.2
    mu = fps.eigenvalues
    apart = (mu[:, :, None] - mu[:, None, :]).abs().masked_fill(torch.eye(16, dtype=torch.bool), math.inf).amin(
        (-2, -1)
    ) > 1e-3
    assert int(apart.sum()) >= 1
    R, L, J = fps.right_eigenvectors, fps.left_eigenvectors, fps.jacobians.to(fps.right_eigenvectors.dtype)
    R, L, J, lam = R[apart], L[apart], J[apart], torch.diag_embed(mu[apart])
    eye = torch.eye(16, dtype=R.dtype).expand_as(R)
    scale = 1e3 * torch.finfo(dtype).eps * (1 + R.abs().amax() * L.abs().amax())
    assert (L @ R - eye).abs().max() < scale
    assert (J @ R - R @ lam).abs().max() < scale
    assert (L @ J - lam @ L).abs().max() < scale
    with pytest.raises(TypeError, match="eigenvectors must be True or False"):
        tr.analysis.find_fixed_points(gru, u, starts, eigenvectors="yes")


# ----------------------------------------------------------------------------- any callable
def test_a_map_of_your_own_and_threads():
    """A hand-written map v' = tanh(A v + B u) gives the same points with 1 and 2 threads, and each
    point satisfies the map to rounding."""
    gen = torch.Generator().manual_seed(9)
    A = 1.8 * torch.randn(64, 64, generator=gen, dtype=F64) / 8
    B = torch.randn(64, 2, generator=gen, dtype=F64)
    system = Map(lambda v, u: torch.tanh(v @ A.T + u @ B.T), 64, 2, dtype=F64)
    starts = torch.randn(256, 64, generator=gen, dtype=F64)
    threads = torch.get_num_threads()
    try:
        results = []
        for n in (1, 2):
            torch.set_num_threads(n)
            results.append(tr.analysis.find_fixed_points(system, None, starts))
    finally:
        torch.set_num_threads(threads)
    one, two = results
    assert len(one) == len(two) >= 1 and one.kind == two.kind
    torch.testing.assert_close(one.points, two.points, rtol=0, atol=1e-12)
    assert (torch.tanh(one.points @ A.T) - one.points).abs().max() < 1e-13


@pytest.mark.parametrize("time", ["continuous", "discrete"])
@pytest.mark.parametrize("dtype", [F32, F64])
def test_parallel_rings_are_separate_manifolds(dtype, time):
    """A ring of 63 units beside an uncoupled bistable unit (self-weight 2): three rings, the bump
    times w ∈ {−w*, 0, w*}, w* = tanh(2w*), 0.957 apart, closer than a gap in their sampling. The two
    outer rings attract, the middle one is a saddle ring; each is its own closed manifold (they were
    reported as one ring that does not attract). Verdicts checked by simulating the network."""
    N, n = 64, 63
    th = torch.arange(n, dtype=F64) * 2 * math.pi / n
    c, s = th.cos(), th.sin()
    M = torch.zeros(N, N, dtype=F64)
    M[:n, :n] = 3.0 / n * (torch.outer(c, c) + torch.outer(s, s))
    M[n, n] = 2.0
    net = tr.RateRNN.from_weights(M, tau=10.0, dt=1.0, nonlinearity="tanh").to(dtype)
    gen = torch.Generator().manual_seed(0)
    phi = 2 * math.pi * torch.rand(300, generator=gen, dtype=F64)
    starts = torch.empty(300, N, dtype=F64)
    starts[:, :n] = 0.8 * torch.cos(th[None] - phi[:, None]) + 0.05 * torch.randn(300, n, generator=gen, dtype=F64)
    starts[:, n] = 2.4 * torch.rand(300, generator=gen, dtype=F64) - 1.2
    fps = tr.analysis.find_fixed_points(net, None, starts.to(dtype), time=time)
    assert len(fps) == 0 and len(fps.manifolds) == 3
    assert sum(m.count for m in fps.manifolds) == int((fps.on_manifold >= 0).sum()) >= 290  # (float32: 293)
    w = 1.0
    for _ in range(100):
        w = math.tanh(2 * w)
    tol = 1e-10 if dtype == F64 else 1e-4
    rings = sorted(fps.manifolds, key=lambda m: m.points[0, n].item())
    for ring, level, attracting in zip(rings, (-w, 0.0, w), (True, False, True)):
        assert ring.dimension == 1 and ring.closed and ring.stable_transverse == attracting
        assert (ring.points[:, n] - level).abs().max() < tol
        # simulated: a small kick off the ring (unit n) decays on the outer rings, grows on the middle one
        v = ring.points[:1].clone()
        v[0, n] += 1e-3
        for _ in range(200):
            v = v + 0.1 * (torch.tanh(v @ M.to(dtype).T) - v)  # the network's Euler step, dt/τ = 0.1
        assert ((v[0, n] - level).abs() < 1e-3) == attracting


def _line_with_a_gap(center: bool):
    """dv₂/dt = −v₂ and dv₁/dt zero on two segments of the v₁ axis, [−2, −1] and [1, 2] (with an
    unstable point at 0 midway between them: dv₁/dt = v₁(1 − v₁²)² there) or [−2, −1] and [1/2, 2]
    (a flow towards 1/2 in the gap: no fixed point in it)."""
    relu = torch.relu

    def f(v, u):
        x = v[:, :1]
        inner = x * relu(1 - x * x) ** 2 if center else relu(x + 1) ** 2 * relu(0.5 - x) ** 2
        return torch.cat([inner - relu(x - 2) ** 2 + relu(-2 - x) ** 2, -v[:, 1:]], -1)

    return f


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("dtype", [F32, F64])
def test_a_line_with_a_gap_is_two_segments(dtype, center):
    """Two segments of fixed points on one line, a gap of 1.5–2 between them (the points 1/40 apart):
    two lines, not one through the gap (an edge along a set joined its ends however long it was).
    Midway between the centred segments lies a fixed point, but an unstable node, on no set."""
    flow = Flow(_line_with_a_gap(center), 2, 1, dtype=dtype)
    lo = 1.0 if center else 0.5
    v1 = torch.cat([torch.linspace(-2, -1, 41, dtype=dtype), torch.linspace(lo, 2, 41, dtype=dtype)])
    starts = torch.stack([v1, torch.full_like(v1, 0.1)], -1)
    fps = tr.analysis.find_fixed_points(flow, None, starts)
    assert len(fps.manifolds) == 2 and sum(m.count for m in fps.manifolds) == 82
    ends = sorted((m.points[:, 0].min().item(), m.points[:, 0].max().item()) for m in fps.manifolds)
    assert ends == [(-2.0, -1.0), (lo, 2.0)]
    assert all(m.dimension == 1 and m.stable_transverse and not m.closed for m in fps.manifolds)


@pytest.mark.parametrize("dtype", [F32, F64])
def test_slow_ring_is_a_chain_of_points_or_one_manifold(dtype):
    """At N = 12 the discrete sum breaks the ring's rotation symmetry by ~e^{-0.7N}: 12 stable bumps
    and 12 saddles alternate at φ = kπ/12, each with one slow eigenvalue |λ| ≈ 1e-4/ms. By default
    (float64) they are 24 isolated points; with manifold_tol=1e-3 one closed ring made of that chain.
    In float32 the flow along the ring (~1e-5/ms) is below the default tolerance, so every state on
    it counts as converged: there only the manifold view is meaningful."""
    net, th, c, s = _ring(12, dtype)
    gen = torch.Generator().manual_seed(0)
    phi = 2 * math.pi * torch.rand(400, generator=gen, dtype=dtype)
    noise = 0.05 * torch.randn(400, 12, generator=gen, dtype=dtype)
    starts = torch.tanh(2 * torch.cos(th[None] - phi[:, None])) + noise
    if dtype == F64:
        fps = tr.analysis.find_fixed_points(net, None, starts)
        assert len(fps) == 24 and fps.kind.count("stable node") == 12 and fps.kind.count("saddle") == 12
        assert not fps.manifolds
        angle = torch.atan2(fps.points @ s, fps.points @ c)
        step = math.pi / 12
        assert (angle / step - (angle / step).round()).abs().max() < 1e-10  # at multiples of 15°
        slow = fps.eigenvalues[:, 0].real.abs()
        assert slow.max() < 1e-3 and fps.eigenvalues[:, 1].real.max() < -0.05
    ring = tr.analysis.find_fixed_points(net, None, starts, manifold_tol=1e-3)
    assert len(ring) == 0 and len(ring.manifolds) == 1
    m = ring.manifolds[0]
    assert m.closed and m.dimension == 1 and m.stable_transverse
    if dtype == F64:
        assert m.points.shape[0] == 24 and m.kind.count("stable node") == 12 and m.kind.count("saddle") == 12
        # ordered along the ring: stable bumps and saddles alternate
        assert all(a != b for a, b in zip(m.kind, m.kind[1:] + m.kind[:1]))


def test_the_lectures_line_attractor_is_one_line():
    """tr.zoo.line_attractor (λ₁ = 1 along (1, 2, 2)/3, others 0.5): a line along that direction."""
    net = tr.zoo.line_attractor([1.0, 2.0, 2.0], other_eigenvalues=0.5, dtype=F64)
    starts = torch.randn(64, 3, generator=torch.Generator().manual_seed(1), dtype=F64)
    fps = tr.analysis.find_fixed_points(net, None, starts)
    assert len(fps) == 0 and len(fps.manifolds) == 1
    line = fps.manifolds[0]
    assert line.dimension == 1 and line.stable_transverse and not line.closed
    d = torch.tensor([1.0, 2.0, 2.0], dtype=F64) / 3
    off = line.points - (line.points @ d)[:, None] * d
    assert off.abs().max() < 1e-12
    assert line.eigenvalues[:, 0].abs().max() < 1e-15 and line.eigenvalues[:, 1].real.max() < -0.04


def test_new_options_are_checked_by_name():
    net = tr.RateRNN(2, 3)
    starts = torch.zeros(4, 3)
    with pytest.raises(ValueError, match="manifold_tol must be a finite number ≥ 0"):
        tr.analysis.find_fixed_points(net, None, starts, manifold_tol=-1.0)
    with pytest.raises(ValueError, match="manifold_tol must be a finite number ≥ 0"):
        tr.analysis.find_fixed_points(net, None, starts, manifold_tol=math.nan)
    with pytest.raises(ValueError, match="time must be 'continuous', 'discrete' or None"):
        tr.analysis.find_fixed_points(net, None, starts, time="euler")
    with pytest.raises(TypeError, match="latent must be True, False or None"):
        tr.analysis.find_fixed_points(net, None, starts, latent="yes")
    with pytest.raises(ValueError, match=r"u must be a constant input of shape \(2,\)"):
        tr.analysis.find_fixed_points(net, torch.zeros(3), starts)
    with pytest.raises(ValueError, match="time must be 'continuous', 'discrete' or None"):
        tr.analysis.jacobian(net, torch.zeros(3), time="map")
    with pytest.raises(ValueError, match="time must be 'continuous', 'discrete' or None"):
        tr.analysis.phase_plane(tr.RateRNN(2, 2), time="x")


def test_plot_spectrum_of_a_map_draws_the_unit_circle():
    import matplotlib.pyplot as plt

    fps = tr.analysis.find_fixed_points(_one_unit_rnn(), None, torch.zeros(1, 1, dtype=F64))
    fig = tr.plotting.plot_spectrum(fps)
    try:
        ax = fig.axes[0]
        assert ax.get_xlabel() == "Re μ" and any(line.get_label() == "|μ| = 1" for line in ax.get_lines())
    finally:
        plt.close(fig)


# ----------------------------------------------------------------------------- other analyses take any system
def test_bifurcation_of_a_torch_rnn_map():
    """h ← tanh(2h + p) as an nn.RNN: folds where 2(1 − h²) = 1, p = ±(atanh(1/√2) − √2), as for
    the flow (the same points); stability by μ = 2(1 − h²): the outer branches stable, the middle not."""
    rnn = nn.RNN(1, 1, bias=False).double()
    with torch.no_grad():
        rnn.weight_hh_l0.fill_(2.0)
        rnn.weight_ih_l0.fill_(1.0)
    bif = tr.analysis.bifurcation(
        lambda p: (rnn, torch.tensor([p], dtype=F64)),
        torch.linspace(-1, 1, 21, dtype=F64),
        initial_states=torch.linspace(-1, 1, 9, dtype=F64)[:, None],
    )
    fold = math.atanh(1 / math.sqrt(2)) - math.sqrt(2)
    assert bif.time == "discrete" and len(bif.folds) == 2 and all(f.refined for f in bif.folds)
    assert sorted(f.value for f in bif.folds) == pytest.approx([fold, -fold], abs=1e-12)
    for br in bif.branches:
        h = br.points[:, 0]
        mu = 2 * (1 - h**2)
        assert not br.eigenvalues.requires_grad
        torch.testing.assert_close(br.eigenvalues[:, 0].real, mu, rtol=0, atol=1e-10)
        far = (mu - 1).abs() > 1e-6
        assert (br.stable[far] == (mu[far] < 1)).all()


def test_sweep_of_a_map_finds_the_flip():
    """v ← tanh(w v) (a from_rnn-style map, τ = dt): v* = 0 is stable for |w| < 1; below w = −1 the
    map flips (μ = w < −1) although the ODE stays stable (λ = w − 1 < 0); the sweep says so."""

    def net(w):
        return tr.RateRNN.from_weights(torch.tensor([[w]], dtype=F64), tau=1.0, dt=1.0, nonlinearity="tanh")

    values = torch.linspace(-1.5, 0.5, 21, dtype=F64)
    with pytest.warns(UserWarning, match=r"flip \(μ = −1\) or Neimark–Sacker"):
        sw = tr.analysis.sweep(net, values, initial_states=torch.zeros(1, 1, dtype=F64))
    assert sw.stable.tolist() == (values > -1).tolist()


def test_phase_plane_of_a_gru():
    """A 2-unit GRU: the residual F(v) − v on the grid, its fixed point, and a trajectory of the map."""
    torch.manual_seed(0)
    gru = nn.GRU(1, 2).double()
    u = torch.zeros(1, dtype=F64)
    pp = tr.analysis.phase_plane(
        gru, u, (-1, 1), (-1, 1), initial_states=torch.tensor([[0.5, 0.5]], dtype=F64), duration=20
    )
    system = as_system(gru)
    V = torch.stack(torch.meshgrid(pp.y, pp.x, indexing="ij")[::-1], -1).reshape(-1, 2)
    torch.testing.assert_close(pp.velocity.reshape(-1, 2), system(V, u.expand(len(V), -1)) - V, rtol=1e-14, atol=1e-14)
    assert pp.trajectories.shape == (21, 1, 2) and pp.fixed_points.time == "discrete"
    _, h = gru(torch.zeros(20, 1, 1, dtype=F64), torch.tensor([[[0.5, 0.5]]], dtype=F64))
    torch.testing.assert_close(pp.trajectories[-1, 0], h[0, 0].detach(), rtol=1e-14, atol=1e-14)


def test_low_rank_network_as_a_map_keeps_the_exact_latent_search():
    """A rank-one LowRankRateRNN with τ = dt is its map by default: the latent search gives the same
    points as the full-space search, with the map's eigenvalues μ = 1 + dt·λ (the N − 1 fixed ones
    1 − dt/τ = 0)."""
    m = torch.randn(128, 1, generator=torch.Generator().manual_seed(0), dtype=F64)
    net = tr.LowRankRateRNN.from_factors(m, 2 * m, tau=1.0, dt=1.0)
    assert as_system(net).time == "discrete" and as_system(net).factors is not None
    gen = torch.Generator().manual_seed(1)
    c = torch.linspace(-2, 2, 64, dtype=F64)[:, None]
    starts = torch.tanh(c * m.T) + 0.05 * torch.randn(64, 128, generator=gen, dtype=F64)  # near the κ-line
    latent = tr.analysis.find_fixed_points(net, None, starts)
    full = tr.analysis.find_fixed_points(net, None, starts, latent=False)
    assert latent.time == full.time == "discrete" and len(latent) == len(full) == 3
    d = torch.cdist(latent.points, full.points, compute_mode="donot_use_mm_for_euclid_dist")
    assert d.min(1).values.max() < 1e-10
    torch.testing.assert_close(latent.eigenvalues, full.eigenvalues[d.argmin(1)], rtol=0, atol=1e-10)
    assert sorted(latent.kind) == ["saddle", "stable node", "stable node"]
    assert latent.eigenvalues[:, 1:].abs().max() < 1e-12  # μ = 1 − dt/τ = 0 off the latent direction


def test_ensemble_member_is_its_own_system():
    nets = [tr.RateRNN(2, 5, tau=10.0, dt=1.0, dtype=F64, generator=torch.Generator().manual_seed(k)) for k in (0, 1)]
    ens = tr.Ensemble(nets)
    v, u = torch.randn(3, 5, dtype=F64), torch.randn(3, 2, dtype=F64)
    for k in (0, 1):
        torch.testing.assert_close(
            as_system(ens[k]).jacobian(v, u), as_system(nets[k]).jacobian(v, u), rtol=1e-15, atol=1e-15
        )


def test_rate_system_refuses_what_it_cannot_run():
    """RateSystem built directly: neither M nor factors, or a map without its Euler step, is refused
    at construction (it used to fail later with a TypeError on None)."""
    from torchrate.systems import RateSystem

    F, tau = tr.nonlinearity("tanh"), torch.tensor(10.0)
    with pytest.raises(ValueError, match=r"needs the recurrent weights M, or factors"):
        RateSystem(None, None, None, tau, F, time="continuous", dt=1.0)
    with pytest.raises(ValueError, match=r"time='discrete' needs dt"):
        RateSystem(torch.eye(2), None, None, tau, F, time="discrete", dt=None)
    flow = RateSystem(torch.eye(2), None, None, tau, F, time="continuous", dt=None)
    v = torch.tensor([[0.5, -0.5]])
    torch.testing.assert_close(flow(v, torch.zeros(1, 2)), (torch.tanh(v) - v) / 10.0)


@pytest.mark.parametrize("tau", [1.0, 3.0])
@pytest.mark.parametrize("time", ["discrete", "continuous"])
def test_rate_residual_call_equals_its_differentiable_g_for_any_shape(tau, time):
    """The search's fused g(v) (no reshape for (K, N) states, no division where τ′ = 1) equals the
    differentiable g, for (K, N), (A, B, N) and (N,) states, τ′ = 1 and τ′ ≠ 1."""
    torch.manual_seed(4)
    N = 6
    net = tr.RateRNN.from_weights(torch.randn(N, N, dtype=F64), torch.randn(N, 2, dtype=F64), tau=tau, dt=tau)
    res = net.system(time).at(torch.randn(2, dtype=F64))
    for shape in [(5, N), (2, 3, N), (N,)]:
        v = torch.randn(shape, dtype=F64)
        out = res(v)
        assert out.shape == v.shape
        torch.testing.assert_close(out, res.g(v), rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("time", ["discrete", "continuous"])
@pytest.mark.parametrize("name", ["tanh", "sigmoid", "softplus", "linear"])
def test_rate_residual_lipschitz_constant_bounds_its_jacobian_and_is_attained(name, time, dtype):
    """γ = sup|F″| maxᵢ ‖Mᵢ‖₁²/τ′ᵢ bounds ‖J(x) − J(y)‖∞/‖x − y‖∞ at random pairs, and is attained
    (to 1%) by a short step along sign(Mᵢ) of the row that sets it, from where F″ peaks: the bound
    the fixed-point search's Newton balls rest on is neither wrong nor loose. τ a vector (per unit)."""
    gen = torch.Generator().manual_seed(7)
    N = 12
    M, W = torch.randn(N, N, generator=gen, dtype=F64), torch.randn(N, 2, generator=gen, dtype=F64)
    tau = 2.0 + torch.rand(N, generator=gen, dtype=F64)
    net = tr.RateRNN.from_weights(M, W, torch.randn(N, generator=gen, dtype=F64), tau=tau, dt=0.5, nonlinearity=name)
    res = net.to(dtype).system(time).at(torch.randn(2, generator=gen, dtype=F64).to(dtype))
    gamma = float(res.lipschitz)
    tau_prime = tau if time == "continuous" else tau / 0.5  # the Euler map's residual is dt·f
    row = M.abs().sum(-1)
    peak = {"tanh": 4 / (3 * 3**0.5), "sigmoid": 3**0.5 / 18, "softplus": 0.25, "linear": 0.0}[name]
    assert gamma == pytest.approx(peak * float((row.square() / tau_prime).max()), rel=1e-6)

    def ratio(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        J = res.jacobian(torch.stack([x, y]).to(dtype)).double()
        return (J[0] - J[1]).abs().sum(-1).amax() / (x - y).abs().max()

    for _ in range(50):
        x, y = torch.randn(2, N, generator=gen, dtype=F64)
        assert ratio(x, y) <= gamma * (1 + 1e-5)
    if name == "linear":
        return
    i = int((row.square() / tau_prime).argmax())
    x_peak = {"tanh": math.atanh(3**-0.5), "sigmoid": math.log(2 + 3**0.5), "softplus": 0.0}[name]
    direction = M[i].sign()
    h = res.h[i].double() + (0 if res.b is None else res.b[i].double())
    x = (x_peak - h) / (M[i] @ direction) * direction  # pre-activation i at the peak of |F″|
    step = 1e-3 if dtype == F32 else 1e-6
    assert ratio(x - step * direction, x + step * direction) >= 0.99 * gamma


@pytest.mark.parametrize("name", ["relu", "clip", "step"])
def test_rate_residual_has_no_lipschitz_constant_where_its_slope_jumps(name):
    net = tr.RateRNN.from_weights(torch.randn(4, 4), torch.randn(4, 1), tau=2.0, dt=1.0, nonlinearity=name)
    assert net.system("discrete").at(torch.zeros(1)).lipschitz is None


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_torch_rnn_residual_lipschitz_constant_is_the_rate_maps(nonlinearity):
    """A one-layer tanh nn.RNN's residual has the Lipschitz constant of the rate map it is (τ′ = 1), which
    bounds its Jacobian's change; a ReLU RNN (F′ jumps) and a GRU have none."""
    gen = torch.Generator().manual_seed(2)
    rnn = nn.RNN(2, 10, nonlinearity=nonlinearity).double()
    res = as_system(rnn).at(torch.zeros(2, dtype=F64))
    if nonlinearity == "relu":
        assert res.lipschitz is None and as_system(nn.GRU(2, 10)).at(torch.zeros(2)).lipschitz is None
        return
    W = rnn.weight_hh_l0.detach()
    assert float(res.lipschitz) == pytest.approx(4 / (3 * 3**0.5) * float(W.abs().sum(-1).square().max()), rel=1e-12)
    for _ in range(20):
        x, y = torch.randn(2, 10, generator=gen, dtype=F64)
        J = res.jacobian(torch.stack([x, y]))
        assert (J[0] - J[1]).abs().sum(-1).amax() <= float(res.lipschitz) * (x - y).abs().max() * (1 + 1e-12)


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("time", ["continuous", "discrete"])
@pytest.mark.parametrize("tau", [10.0, "per-neuron", "dt"])
@pytest.mark.parametrize("nonlinearity", ["tanh", "sigmoid", "softplus", "linear", "relu"])
def test_rate_residual_derivatives_equal_autograd(nonlinearity, tau, time, dtype):
    """The search's analytic rate residual (``RateSystem.at(u)``: its g, q, ∇q, J and J z) equals
    torch.func of the same g (the generic :class:`Residual`), for every analytic F, a scalar, a
    per-neuron and a unit τ′ (τ = dt: the map's g = F(x) − v, no division), flow and map, float32
    and float64. ``lowered`` gives the same residual in float32."""
    from torchrate.systems import Residual

    N, I, dt = 7, 3, 2.0
    taus = {10.0: 10.0, "per-neuron": torch.linspace(4.0, 16.0, N), "dt": dt}
    net = tr.RateRNN(
        I, N, tau=taus[tau], dt=dt, nonlinearity=nonlinearity, dtype=F64, generator=torch.Generator().manual_seed(5)
    )
    with torch.no_grad():
        net.bias_l0.normal_(generator=torch.Generator().manual_seed(6))
    net = net.to(dtype)
    system = net.system(time)
    gen = torch.Generator().manual_seed(7)
    u = torch.randn(I, generator=gen, dtype=F64).to(dtype)
    v, z = (torch.randn(5, N, generator=gen, dtype=F64).to(dtype) for _ in range(2))
    res = system.at(u)
    generic = Residual(lambda x: system.residual(x, u.expand(x.shape[0], -1)), res.scale)
    tol = dict(rtol=1e-13, atol=1e-14) if dtype == F64 else dict(rtol=2e-5, atol=2e-6)
    torch.testing.assert_close(res(v), generic(v), **tol)
    torch.testing.assert_close(res.q(v), generic.q(v), **tol)
    torch.testing.assert_close(res.grad_q(v), generic.grad_q(v), **tol)
    torch.testing.assert_close(res.jacobian(v), generic.jacobian(v), **tol)
    torch.testing.assert_close(res.linear(v)(z), generic.linear(v)(z), **tol)
    if dtype == F64:
        low = res.lowered(F32)
        torch.testing.assert_close(low.jacobian(v.float()), res.jacobian(v).float(), rtol=2e-5, atol=2e-6)
        torch.testing.assert_close(low.grad_q(v.float()), res.grad_q(v).float(), rtol=2e-5, atol=2e-6)
