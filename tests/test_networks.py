"""Core models against closed forms: autapses, Euler order, ODE methods, gradients, E–I pair."""

import math

import pytest
import scipy.linalg
import torch
from torch.nn.utils import parametrize

import torchrate as tr
from torchrate._rollout import euler_rollout, euler_rollout_reference

F64 = torch.float64
NAMED = ["linear", "relu", "tanh", "sigmoid", "softplus", "clip"]
LAMBDAS = torch.tensor([0.0, 0.5, 0.66, -1.0, -2.0, 1.0, 1.5], dtype=F64)


def autapse_closed_form(lam, h, t, tau):
    """v(t) from v(0)=0 of τ dv/dt = −(1−λ)v + h: h/(1−λ)(1 − e^{−t(1−λ)/τ}); λ = 1: h t/τ."""
    k = (1 - lam) / tau
    safe = torch.where(k == 0, torch.ones_like(k), k)
    return torch.where(k == 0, h * t / tau, h * (-torch.expm1(-t * safe)) / (safe * tau))


# ----------------------------------------------------------------------------- autapses
def test_autapse_dopri5_matches_closed_form_float64():
    """Amplification (0<λ<1), suppression (λ<0), integration (λ=1), growth (λ>1)."""
    tau, dt, T = 10.0, 1.0, 60
    net = tr.RateRNN.from_weights(torch.diag(LAMBDAS), tau=tau, dt=dt, solver="dopri5", rtol=1e-11, atol=1e-12)
    h = torch.linspace(0.5, 2.0, len(LAMBDAS), dtype=F64)
    rates, h_n = net(h.expand(T, 1, -1).contiguous())
    t = dt * torch.arange(1, T + 1, dtype=F64)[:, None]
    exact = autapse_closed_form(LAMBDAS, h, t, tau)
    torch.testing.assert_close(rates[:, 0], exact, rtol=0, atol=1e-7)
    torch.testing.assert_close(h_n[0, 0], exact[-1], rtol=0, atol=1e-7)
    # steady states h/(1−λ) for the stable ones, reached after many τ/(1−λ)
    stable = LAMBDAS < 1
    long_net = tr.RateRNN.from_weights(
        torch.diag(LAMBDAS[stable]), tau=tau, dt=50.0, solver="dopri5", rtol=1e-11, atol=1e-12
    )
    v_inf = long_net(h[stable].expand(40, 1, -1).contiguous())[1][0, 0]
    torch.testing.assert_close(v_inf, h[stable] / (1 - LAMBDAS[stable]), rtol=1e-9, atol=0)


def test_autapse_euler_is_its_exact_discrete_map():
    """Euler on an autapse is v_k = h/(1−λ)(1 − (1 − a(1−λ))^k), a = dt/τ, to rounding."""
    tau, dt, T = 10.0, 0.5, 200
    net = tr.RateRNN.from_weights(torch.diag(LAMBDAS), tau=tau, dt=dt)
    h = torch.ones(len(LAMBDAS), dtype=F64)
    rates, _ = net(h.expand(T, 1, -1).contiguous())
    k = torch.arange(1, T + 1, dtype=F64)[:, None]
    a = dt / tau
    r = 1 - a * (1 - LAMBDAS)
    discrete = torch.where(LAMBDAS == 1, a * k * h, h / (1 - LAMBDAS + (LAMBDAS == 1)) * (1 - r**k))
    torch.testing.assert_close(rates[:, 0], discrete, rtol=1e-12, atol=1e-12)
    # and within its O(dt) error of the continuous solution: with x = a(1−λ), the factors
    # (1 − x)^k and e^{−kx} differ by at most e^{−kx}·k x²/(2(1 − max(x, 0))) (Taylor of log)
    exact = autapse_closed_form(LAMBDAS, h, dt * k, tau)
    x = a * (1 - LAMBDAS)
    v_inf = (h / (1 - LAMBDAS + (LAMBDAS == 1))).abs()
    bound = v_inf * torch.exp(-k * x) * k * x**2 / (2 * (1 - x.clamp(min=0)))
    assert ((rates[:, 0] - exact).abs() <= bound + 1e-12).all()


@pytest.mark.parametrize("nl", ["tanh", "relu", "softplus"])
def test_euler_converges_at_first_order(nl):
    """Error at t = 20 ms against dopri5 halves when dt halves (order 1)."""
    torch.manual_seed(0)
    N, I = 6, 2
    M = 0.9 * torch.randn(N, N, dtype=F64) / math.sqrt(N)
    W = torch.randn(N, I, dtype=F64)
    b = 0.1 * torch.randn(N, dtype=F64)
    u = torch.randn(1, 3, I, dtype=F64)  # constant input, 3 trials
    v0 = torch.rand(3, N, dtype=F64)
    T_ms = 20.0
    ref = tr.RateRNN.from_weights(M, W, b, tau=5.0, dt=T_ms, nonlinearity=nl, solver="dopri5", rtol=1e-12, atol=1e-13)(
        u, v0[None]
    )[0][-1]
    errors = []
    for dt in (0.4, 0.2, 0.1, 0.05):
        net = tr.RateRNN.from_weights(M, W, b, tau=5.0, dt=dt, nonlinearity=nl)
        steps = round(T_ms / dt)
        errors.append((net(u.expand(steps, -1, -1), v0[None])[0][-1] - ref).abs().max().item())
    orders = [math.log2(e0 / e1) for e0, e1 in zip(errors, errors[1:])]
    assert all(abs(p - 1) < 0.1 for p in orders), (errors, orders)


# ----------------------------------------------------------------------------- ODE path
def piecewise_exact(M, h_bins, v0, tau, dt):
    """Exact solution of the linear network with input constant per bin (scipy expm)."""
    A = ((M - torch.eye(len(M), dtype=F64)) / tau).numpy()
    E = torch.from_numpy(scipy.linalg.expm(A * dt))
    # ∫_0^dt e^{As} ds h / τ = A⁻¹(e^{A dt} − I) h / τ
    P = torch.linalg.solve(torch.from_numpy(A), E - torch.eye(len(M), dtype=F64)) / tau
    v, out = v0, []
    for h in h_bins:
        v = v @ E.T + h @ P.T
        out.append(v)
    return torch.stack(out)


@pytest.mark.parametrize("method, options", [("dopri5", {}), ("rk4", {"step_size": 0.125})])
def test_ode_piecewise_constant_input_is_exact(method, options):
    """A linear net driven by a different input in every bin matches expm bin by bin.

    Were the input interpolated or taken from the wrong bin at an edge, the error would be
    of the order of the input jumps, O(1).
    """
    torch.manual_seed(1)
    N, T, dt, tau = 4, 25, 2.0, 10.0
    M = 0.8 * torch.randn(N, N, dtype=F64) / math.sqrt(N)
    u = torch.randn(T, 3, N, dtype=F64)
    v0 = torch.randn(3, N, dtype=F64)
    net = tr.RateRNN.from_weights(M, tau=tau, dt=dt, solver=method, rtol=1e-11, atol=1e-12, ode_options=options)
    rates, _ = net(u, v0[None])
    exact = piecewise_exact(M, u, v0, tau, dt)
    # rk4 with h = 0.125 ms: global error ~ (h/τ)^4 · t/τ · |v| ≈ 1e-9
    torch.testing.assert_close(rates, exact, rtol=0, atol=1e-8)


@pytest.mark.parametrize("step_size", [0.3, 0.7, 3.0])
def test_a_fixed_grid_step_that_does_not_divide_dt_still_steps_on_the_bin_edges(step_size):
    """torchdiffeq's grid k·step_size missed the bin edges: steps across an edge mixed two bins'
    inputs and the rates at k·dt were interpolated (rk4, dt = 2: error 0.04 at step_size 0.3, 0.44
    at 3.0, against 5e-5 at step_size = dt), and the adjoint's gradient differed from the direct one."""
    torch.manual_seed(1)
    N, T, dt, tau = 4, 25, 2.0, 10.0
    M = 0.8 * torch.randn(N, N, dtype=F64) / math.sqrt(N)
    u = torch.randn(T, 3, N, dtype=F64)
    v0 = torch.randn(3, N, dtype=F64)
    exact = piecewise_exact(M, u, v0, tau, dt)
    grads = []
    for adjoint in (False, True):
        net = tr.RateRNN.from_weights(
            M, tau=tau, dt=dt, solver="rk4", adjoint=adjoint, ode_options={"step_size": step_size}
        )
        rates, _ = net(u, v0[None])
        # steps of at most min(step_size, dt) = h: rk4's global error ~ (h/τ)^4 · t/τ · |v| < 1e-4
        torch.testing.assert_close(rates, exact, rtol=0, atol=1e-4)
        rates.square().sum().backward()
        grads.append(net.weight_hh_l0.grad)
    # the adjoint solves the continuous adjoint ODE: equal up to the discretisation error (4e-4 at h = 2)
    torch.testing.assert_close(grads[0], grads[1], rtol=2e-3, atol=0)


def test_rk4_is_fourth_order_on_piecewise_input():
    torch.manual_seed(1)
    N, T, dt, tau = 4, 10, 2.0, 10.0
    M = 0.8 * torch.randn(N, N, dtype=F64) / math.sqrt(N)
    u, v0 = torch.randn(T, 2, N, dtype=F64), torch.randn(2, N, dtype=F64)
    exact = piecewise_exact(M, u, v0, tau, dt)
    errors = [
        (tr.RateRNN.from_weights(M, tau=tau, dt=dt, solver="rk4", ode_options={"step_size": h})(u, v0[None])[0] - exact)
        .abs()
        .max()
        .item()
        for h in (1.0, 0.5)
    ]
    assert math.log2(errors[0] / errors[1]) == pytest.approx(4, abs=0.2)


def test_two_ode_methods_agree_on_nonlinear_net():
    torch.manual_seed(2)
    net = tr.RateRNN(3, 8, tau=10.0, dt=1.0, solver="dopri5", rtol=1e-11, atol=1e-12, dtype=F64)
    u = torch.randn(40, 2, 3, dtype=F64)
    a = net(u)[0]
    net.solver, net.ode_options = "rk4", {"step_size": 0.125}  # error ~ (0.0125)^4 ≈ 2e-8 · t/τ
    b = net(u)[0]
    torch.testing.assert_close(a, b, rtol=0, atol=1e-8)


def test_adjoint_gradients_match_direct_backprop():
    torch.manual_seed(3)
    net = tr.EIRateRNN(
        2,
        4,
        2,
        tau_e=10.0,
        tau_i=20.0,
        dt=1.0,
        solver="dopri5",
        rtol=1e-10,
        atol=1e-12,
        nonlinearity="softplus",
        train_tau=True,
        dtype=F64,
    )
    u = torch.randn(15, 3, 2, dtype=F64)

    def grads(adjoint):
        net.adjoint = adjoint
        rates, _ = net(u)
        params = [p for p in net.parameters()]
        return torch.autograd.grad(rates.square().sum(), params)

    for g_adj, g_dir in zip(grads(True), grads(False)):
        torch.testing.assert_close(g_adj, g_dir, rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------------------- Euler path
@pytest.mark.parametrize("nl", NAMED)
def test_fast_euler_equals_reference_loop_values_and_gradients(nl):
    torch.manual_seed(4)
    T, B, N = 9, 3, 5
    F = tr.nonlinearity(nl)
    args = [
        torch.randn(T, B, N, dtype=F64),
        torch.randn(B, N, dtype=F64),
        torch.randn(N, N, dtype=F64),
        0.3 * torch.rand(N, dtype=F64),
        torch.randn(T, B, N, dtype=F64),
    ]
    args = [x.requires_grad_() for x in args]
    fast = euler_rollout(*args[:4], F, args[4])
    ref = euler_rollout_reference(*args[:4], F, args[4])
    torch.testing.assert_close(fast, ref, rtol=1e-13, atol=1e-13)
    w = torch.randn_like(fast)
    for gf, gr in zip(torch.autograd.grad((fast * w).sum(), args), torch.autograd.grad((ref * w).sum(), args)):
        torch.testing.assert_close(gf, gr, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("nl", NAMED)
def test_gradcheck_euler_rollout(nl):
    torch.manual_seed(5)
    T, B, N = 6, 2, 4
    F = tr.nonlinearity(nl)
    inputs = (
        torch.randn(T, B, N, dtype=F64, requires_grad=True),
        torch.randn(B, N, dtype=F64, requires_grad=True),
        torch.randn(N, N, dtype=F64, requires_grad=True),
        (0.5 * torch.rand(N, dtype=F64)).requires_grad_(),
        torch.randn(T, B, N, dtype=F64, requires_grad=True),
    )
    assert torch.autograd.gradcheck(lambda X, v0, M, a, eta: euler_rollout(X, v0, M, a, F, eta), inputs)


def test_gradcheck_through_module_with_trainable_tau_and_noise():
    torch.manual_seed(6)
    net = tr.RateRNN(2, 4, tau=torch.tensor([5.0, 10.0, 20.0, 40.0]), dt=1.0, train_tau=True, noise_std=0.1, dtype=F64)
    u = torch.randn(8, 2, 2, dtype=F64, requires_grad=True)

    def run(u, *params):
        net.generator = torch.Generator().manual_seed(0)  # the same noise at every evaluation
        names = [n for n, _ in net.named_parameters()]
        return torch.func.functional_call(net, dict(zip(names, params)), (u,))[0]

    assert torch.autograd.gradcheck(run, (u, *net.parameters()))


def test_user_callable_nonlinearity_uses_the_reference_loop():
    net = tr.RateRNN(2, 3, nonlinearity=lambda x: x / (1 + x.abs()), dtype=F64)
    u = torch.randn(5, 1, 2, dtype=F64)
    v = torch.zeros(1, 3, dtype=F64)
    for t in range(5):
        v = net.step(v, u[t])
    torch.testing.assert_close(net(u)[1][0], v, rtol=1e-14, atol=1e-14)


def test_step_and_vector_field_are_the_forward_cell(dtype):
    net = tr.RateRNN(3, 6, dtype=dtype)
    u = torch.randn(4, 2, 3, dtype=dtype)
    v = torch.zeros(2, 6, dtype=dtype)
    steps = []
    for t in range(4):
        v = net.step(v, u[t])
        steps.append(v)
    tol = 1e-6 if dtype == torch.float32 else 1e-14
    torch.testing.assert_close(net(u)[0], torch.stack(steps), rtol=tol, atol=tol)
    h = net.project_input(u[0])
    expected = (-v + torch.tanh(h + v @ net.M.T + net.b)) / net.tau
    torch.testing.assert_close(net.vector_field(v, h), expected)


# ----------------------------------------------------------------------------- noise
def test_noise_is_reproducible_and_has_the_ou_stationary_variance():
    """M = 0, F linear: v_{k+1} = (1−a)v_k + σ√(2a)ξ has stationary variance σ²/(1 − a/2)."""
    sigma, tau, dt = 0.5, 10.0, 1.0
    net = tr.RateRNN.from_weights(torch.zeros(1, 1, dtype=F64), tau=tau, dt=dt, noise_std=sigma)
    u = torch.zeros(4000, 500, 1, dtype=F64)
    net.generator = torch.Generator().manual_seed(7)
    r1, _ = net(u)
    net.generator = torch.Generator().manual_seed(7)
    state = torch.get_rng_state()
    r2, _ = net(u)
    assert torch.equal(r1, r2) and torch.equal(torch.get_rng_state(), state)  # the global RNG untouched
    a = dt / tau
    var = r1[500:].var().item()  # after 50 τ the initial condition is forgotten
    # 1.75M correlated samples (correlation time τ/dt = 10 steps): standard error of var ≈ 0.5%
    assert var == pytest.approx(sigma**2 / (1 - a / 2), rel=0.03)


def test_noise_with_an_ode_solver_is_refused():
    with pytest.raises(ValueError, match="noise_std=0.1 needs solver='euler'"):
        tr.RateRNN(2, 3, noise_std=0.1, solver="dopri5")
    # set after construction, either way round: the ODE branch ran without the noise, silently
    u = torch.randn(5, 2, 2)
    noisy_later = tr.RateRNN(2, 3, solver="rk4")
    noisy_later.noise_std = 0.5
    ode_later = tr.RateRNN(2, 3, noise_std=0.5)
    ode_later.solver = "rk4"
    for net in (noisy_later, ode_later):
        with pytest.raises(ValueError, match="noise_std=0.5 needs solver='euler'"):
            net(u)


# ----------------------------------------------------------------------------- Dayan–Abbott E–I
def dayan_abbott(tau_i, dt=1.0, solver="dopri5"):
    M = torch.tensor([[1.25, -1.0], [1.0, 0.0]], dtype=F64)
    return tr.EIRateRNN.from_weights(
        M,
        n_exc=1,
        tau_e=10.0,
        tau_i=tau_i,
        b=torch.tensor([10.0, -10.0]),
        dt=dt,
        nonlinearity="relu",
        solver=solver,
        rtol=1e-9,
        atol=1e-9,
    )


def test_dayan_abbott_pair_settles_at_30ms_and_oscillates_at_50ms():
    fixed_point = torch.tensor([80 / 3, 50 / 3], dtype=F64)
    v0 = (fixed_point + torch.tensor([5.0, -3.0], dtype=F64))[None]
    T = 4000  # 4 s at dt = 1 ms
    settled = dayan_abbott(30.0)(torch.zeros(T, 1, 2, dtype=F64), v0[None])[0][:, 0]
    assert (settled[-1] - fixed_point).abs().max() < 1e-6
    # the fixed point is exact: dv/dt = 0 there
    assert dayan_abbott(30.0).vector_field(fixed_point[None], torch.zeros(1, 2, dtype=F64)).abs().max() < 1e-14

    with torch.no_grad():
        cycling = dayan_abbott(50.0)(torch.zeros(T, 1, 2, dtype=F64), v0[None])[0][:, 0, 0]
    late, later = cycling[2000:3000], cycling[3000:]  # each window holds ≥ 5 periods
    amplitude = later.max() - later.min()
    assert amplitude > 20  # a large limit cycle in v_E (Hz)
    # no decay: the same amplitude (to sampling error ~(ω dt)²/8 ≈ 2e-4) in both windows
    assert (late.max() - late.min()).item() == pytest.approx(amplitude.item(), rel=1e-3)


def test_ei_tau_is_per_population_and_the_jacobian_is_the_supplement_formula():
    net = dayan_abbott(30.0)
    torch.testing.assert_close(net.tau, torch.tensor([10.0, 30.0], dtype=F64))
    # J = [[(M_EE − 1)/τ_E, M_EI/τ_E], [M_IE/τ_I, (M_II − 1)/τ_I]] above threshold
    v = torch.tensor([[80 / 3, 50 / 3]], dtype=F64).requires_grad_()
    dv = net.vector_field(v, torch.zeros(1, 2, dtype=F64))
    J = torch.stack([torch.autograd.grad(dv[0, i], v, retain_graph=True)[0][0] for i in range(2)])
    expected = torch.tensor([[0.25 / 10, -1 / 10], [1 / 30, -1 / 30]], dtype=F64)
    torch.testing.assert_close(J, expected, rtol=1e-15, atol=1e-15)


# ----------------------------------------------------------------------------- Dale's law
def test_dale_law_holds_after_training_steps():
    torch.manual_seed(8)
    net = tr.EIRateRNN(3, 12, 4, tau_e=10.0, tau_i=5.0)
    optimiser = torch.optim.Adam(net.parameters(), lr=0.5)
    u = torch.randn(20, 4, 3)
    for _ in range(10):
        optimiser.zero_grad()
        net(u)[0].mean().neg().backward()  # pushes weights around hard
        optimiser.step()
    M = net.M.detach()
    assert (M[:, :12] >= 0).all() and (M[:, 12:] <= 0).all()
    assert M[:, :12].sum() > 0 and M[:, 12:].sum() < 0


def test_ei_init_is_balanced_with_the_requested_spectral_radius():
    net = tr.EIRateRNN(2, 40, 10, gain=0.8, dtype=F64)
    M = net.M.detach()
    assert torch.linalg.eigvals(M).abs().max().item() == pytest.approx(0.8, rel=1e-12)
    assert torch.linalg.eigvals(tr.RateRNN(2, 30, gain=1.3, dtype=F64).M.detach()).abs().max().item() == pytest.approx(
        1.3, rel=1e-12
    )
    # E and I columns have equal total weight in expectation: row sums near zero
    assert M.sum(1).abs().mean() < M.abs().sum(1).mean() / 3


def test_ei_input_mask_and_from_weights_checks_dale():
    net = tr.EIRateRNN(2, 3, 2, input_mask="exc")
    assert (net.W[3:] == 0).all() and (net.W[:3] != 0).all()
    with pytest.raises(ValueError, match=r"M\[0, 1\] = -0.5, but neuron 1 is excitatory"):
        tr.EIRateRNN.from_weights(torch.tensor([[0.0, -0.5], [1.0, 0.0]]), n_exc=2, tau_e=10, tau_i=5, dt=1)
    with pytest.raises(ValueError, match=r"M\[1, 2\] = 0.3, but neuron 2 is inhibitory"):
        tr.EIRateRNN.from_weights(torch.tensor([[0, 0, 0], [0, 0, 0.3], [0, 0, 0.0]]), n_exc=2, tau_e=10, tau_i=5, dt=1)


# ----------------------------------------------------------------------------- interface
def test_batch_first_unbatched_and_hx(dtype):
    net = tr.RateRNN(3, 5, dtype=dtype)
    u = torch.randn(7, 4, 3, dtype=dtype)
    hx = torch.rand(1, 4, 5, dtype=dtype)
    rates, h_n = net(u, hx)
    assert h_n.shape == (1, 4, 5)
    net.batch_first = True
    rates_bf, h_n_bf = net(u.transpose(0, 1), hx)
    torch.testing.assert_close(rates_bf, rates.transpose(0, 1))
    torch.testing.assert_close(h_n_bf, h_n)
    net.batch_first = False
    rates_1, h_n_1 = net(u[:, 1], hx[:, 1])
    assert rates_1.shape == (7, 5) and h_n_1.shape == (1, 5)
    torch.testing.assert_close(rates_1, rates[:, 1])
    assert rates.dtype == dtype and torch.equal(h_n[0], rates[-1])
    with torch.no_grad():  # h_n is its own tensor, not a view of the rates: editing one leaves the other
        rates, h_n = net(u)
        h_n.zero_()
        assert rates[-1].abs().sum() > 0


def test_networks_pickle_and_deepcopy_with_the_same_behaviour():
    import copy
    import pickle

    for net in (tr.RateRNN(2, 5, nonlinearity="softplus"), tr.EIRateRNN(2, 3, 2, tau_e=20.0, tau_i=5.0)):
        u = torch.randn(6, 3, 2)
        for clone in (pickle.loads(pickle.dumps(net)), copy.deepcopy(net)):
            assert clone.F is net.F  # named nonlinearities come back as the registered one
            torch.testing.assert_close(clone(u)[0], net(u)[0], rtol=0, atol=0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: tr.EIRateRNN(2, 3, 2, train_tau=True),
        lambda: tr.RateRNN(2, 4, tau=torch.tensor([5.0, 10.0, 20.0, 40.0]), train_tau=True),
        lambda: tr.RateRNN(2, 4, connectivity=torch.eye(4, dtype=torch.bool).logical_not()),
        lambda: tr.LowRankRateRNN(2, 8, 2),
    ],
    ids=["ei", "tau", "mask", "lowrank"],
)
@pytest.mark.parametrize("how", ["pickle", "torch.save"])
def test_parametrized_networks_round_trip_their_exact_state(make, how):
    import io
    import pickle

    net = make()
    with torch.no_grad():  # raw tensors no constraint's right_inverse would give back
        for p in net.parameters():
            p.add_(torch.randn_like(p))
    shared = next(net.parametrizations.parameters())  # an `original` (low rank: original0, m)
    if how == "pickle":
        clone, clone_shared = pickle.loads(pickle.dumps((net, shared)))
    else:
        buffer = io.BytesIO()
        torch.save((net, shared), buffer)
        buffer.seek(0)
        clone, clone_shared = torch.load(buffer, weights_only=False)
    state, cloned = net.state_dict(), clone.state_dict()
    assert list(cloned) == list(state)  # same tensors in the same order (an optimiser's order too)
    assert all(torch.equal(cloned[k], state[k]) and cloned[k].dtype == state[k].dtype for k in state)
    assert next(clone.parametrizations.parameters()) is clone_shared  # one object, as pickled
    base = parametrize.type_before_parametrizations
    assert base(clone) is base(net) and type(clone).__name__ == type(net).__name__ and type(clone) is not type(net)
    u = torch.randn(6, 3, 2)
    torch.testing.assert_close(clone(u)[0], net(u)[0], rtol=0, atol=0)
    for name in clone.parametrizations:  # assigning goes through the constraints' right_inverse, as before
        target = getattr(net, name).detach()
        setattr(clone, name, target)  # float32 rounding of log/exp or of low rank's SVD and product:
        atol = 16 * torch.finfo(target.dtype).eps * target.abs().max()
        torch.testing.assert_close(getattr(clone, name), target, rtol=1e-6, atol=atol)


def test_from_weights_identity_input_and_properties():
    M = torch.tensor([[0.0, 0.8], [0.8, 0.0]])
    net = tr.RateRNN.from_weights(M, tau=10.0, dt=0.5)
    assert (net.input_size, net.hidden_size, net.dt, net.b) == (2, 2, 0.5, None)
    torch.testing.assert_close(net.W, torch.eye(2))
    assert net.tau.item() == 10.0 and net.F.name == "linear"


def test_trainable_tau_stays_positive_and_gets_gradients():
    net = tr.RateRNN(2, 3, tau=torch.tensor([5.0, 10.0, 20.0]), train_tau=True)
    torch.testing.assert_close(net.tau, torch.tensor([5.0, 10.0, 20.0]))
    net(torch.randn(10, 2, 2))[0].sum().backward()
    log_tau = net.parametrizations.tau.original
    assert log_tau.grad is not None and log_tau.grad.abs().sum() > 0
    torch.testing.assert_close(log_tau.detach(), net.tau.detach().log())
    assert not any("tau" in name for name, _ in tr.RateRNN(2, 3).named_parameters())


@pytest.mark.parametrize(
    "build, call, error, match",
    [
        (lambda: tr.RateRNN(3, 4), lambda n: n(torch.randn(5, 2, 4)), ValueError, "Expected 3, got 4"),
        (lambda: tr.RateRNN(3, 4), lambda n: n(torch.randn(5, 2, 1, 3)), ValueError, r"\(T, B, 3\)"),
        (
            lambda: tr.RateRNN(3, 4),
            lambda n: n(torch.full((5, 2, 3), float("nan"))),
            tr.NonFiniteRatesError,
            "the input contains NaN",
        ),
        (
            lambda: tr.RateRNN(3, 4),
            lambda n: n(torch.randn(5, 2, 3), torch.zeros(3, 4)),
            ValueError,
            r"hx must have shape \(num_layers·D, B, N\) = \(1, 2, 4\)",
        ),
        (lambda: tr.RateRNN(3, 4), lambda n: n(torch.randn(5, 2, 3, dtype=F64)), TypeError, "float64"),
        (lambda: tr.RateRNN(3, 4, nonlinearity="rectify"), None, ValueError, "known names are"),
        (lambda: tr.RateRNN(3, 4, solver="rk45"), None, ValueError, "unknown solver 'rk45'"),
        (lambda: tr.RateRNN(3, 4, tau=torch.ones(3)), None, ValueError, r"shape \(4,\)"),
        (lambda: tr.RateRNN(3, 4, tau=-1.0), None, ValueError, "tau must be positive"),
        (lambda: tr.EIRateRNN(3, 4, 1, tau=5.0), None, TypeError, "pass tau_e and tau_i"),
    ],
)
def test_clear_errors(build, call, error, match):
    with pytest.raises(error, match=match):
        net = build()
        call(net)


def test_finite_rates_whose_sum_overflows_pass_the_check():
    net = tr.RateRNN.from_weights(torch.zeros(2, 2), tau=1.0, dt=1.0)  # dt = τ, M = 0: v_k = u_k
    rates, _ = net(torch.full((3, 1, 2), 3e38))  # each rate finite in float32, their sum is not
    torch.testing.assert_close(rates, torch.full((3, 1, 2), 3e38))
    assert torch.isfinite(rates[0]).all() and not torch.isfinite(rates.sum())


@pytest.mark.parametrize(
    "lam, dt, hint",
    [
        (3.0, 1.0, "spectrum is 3 > 1: linear dynamics grow"),
        (-2.0, 10.0, "the Euler step amplifies a mode by 29 per step"),  # |1 + (dt/τ)(λ − 1)| = 29
        (0.5, 1.0, "the dynamics are stable, so the inputs"),
    ],
)
def test_blow_up_is_reported_with_step_and_spectrum(lam, dt, hint):
    net = tr.RateRNN.from_weights(torch.diag(torch.tensor([lam, 0.0])), tau=1.0, dt=dt)
    u = torch.full((2000, 1, 2), 3e38 if lam == 0.5 else 1.0)  # v∞ = 6e38 overflows
    with pytest.raises(tr.NonFiniteRatesError, match=r"non-finite at step \d+ .*" + hint):
        net(u)


# ----------------------------------------------------------------------------- devices
@pytest.mark.parametrize("solver", ["euler", "rk4"])
def test_runs_on_device_and_dtype(device, dtype, solver):
    net = tr.EIRateRNN(3, 6, 2, solver=solver, device=device, dtype=dtype)
    u = torch.randn(10, 4, 3, device=device, dtype=dtype)
    rates, last = net(u)
    assert rates.device.type == device.type and rates.dtype == dtype
    rates.sum().backward()
    assert net.parametrizations.weight_hh_l0.original.grad.device.type == device.type


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu_float64():
    torch.manual_seed(9)
    net = tr.RateRNN(3, 16, dtype=F64)
    u = torch.randn(30, 4, 3, dtype=F64)
    cpu = net(u)[0]
    gpu = net.to("cuda")(u.cuda())[0].cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("solver", ["euler", "dopri5"])
def test_empty_batches_and_sequences_give_empty_results(solver):
    net = tr.RateRNN(2, 3, solver=solver)
    out, h_n = net(torch.zeros(5, 0, 2))
    assert out.shape == (5, 0, 3) and h_n.shape == (1, 0, 3)
    hx = torch.rand(1, 4, 3)
    out, h_n = net(torch.zeros(0, 4, 2), hx)
    assert out.shape == (0, 4, 3) and torch.equal(h_n, hx)  # no step taken: the initial rates


@pytest.mark.parametrize("dtype, T", [(torch.bfloat16, 300), (torch.float16, 3000)])
def test_low_precision_ode_runs_on_a_float64_time_grid(dtype, T):
    """In bf16 the times k·dt stop increasing past 256 steps; the grid is built in float64."""
    net = tr.RateRNN.from_weights(torch.zeros(1, 1), tau=10.0, dt=1.0, solver="rk4").to(dtype)
    rates, _ = net(torch.ones(T, 1, 1, dtype=dtype))
    assert rates.dtype == dtype
    # v(t) = 1 − e^{−t/τ}, to the dtype's precision: near 1 a bf16 step of (dt/τ)(1 − v) below half an
    # ulp (2⁻⁸) is lost, so v stalls within 2⁻⁸·τ/dt ≈ 0.04 of 1; fp16's ulp there is 2⁻¹¹
    tolerance = 0.04 if dtype == torch.bfloat16 else 0.005
    assert rates[-1, 0, 0].item() == pytest.approx(1 - math.exp(-T / 10.0), abs=tolerance)


# ----------------------------------------------------------------------------- reliability (models)
def test_ei_load_state_dict_refuses_another_ei_split():
    """The E/I split is fixed at construction: a state with other Dale signs (or τ groups) is refused,
    never loaded into a network whose declared inhibitory column would then be positive."""
    same = tr.EIRateRNN(3, 2, 2, generator=torch.Generator().manual_seed(1))
    net = tr.EIRateRNN(3, 2, 2)
    net.load_state_dict(same.state_dict())  # the same split loads, weights and all
    torch.testing.assert_close(net.M, same.M, rtol=0, atol=0)
    with pytest.raises(
        ValueError,
        match=r"sign .*got 3 excitatory \+ 1 inhibitory.*has 2 excitatory \+ 2 "
        r"inhibitory.*neuron 2",
    ):
        net.load_state_dict(tr.EIRateRNN(3, 3, 1).state_dict())
    assert bool((net.M[:, 2:] <= 0).all())  # nothing was loaded: the inhibitory columns keep their sign
    trained = tr.EIRateRNN(3, 2, 2, train_tau=True)
    with pytest.raises(ValueError, match=r"sign"):
        trained.load_state_dict(tr.EIRateRNN(3, 3, 1, train_tau=True).state_dict())
    state = tr.EIRateRNN(3, 2, 2, train_tau=True).state_dict()
    state["parametrizations.tau.0.group"] = torch.tensor([0, 0, 0, 1])
    with pytest.raises(ValueError, match=r"group .*3 × log tau_e, 1 × log tau_i"):
        trained.load_state_dict(state)


def test_from_weights_noise_follows_the_global_seed_or_the_given_generator():
    """Without a generator the noise is the global RNG's (as the constructor's): two seeds, two draws;
    one seed, one draw; building the network does not advance the global RNG."""
    M = 0.5 * torch.eye(3, dtype=F64)
    u = torch.zeros(6, 2, 3, dtype=F64)

    def run(seed, **kw):
        torch.manual_seed(seed)
        net = tr.RateRNN.from_weights(M, tau=10.0, dt=1.0, noise_std=0.5, **kw)
        return net(u)[0]

    assert not torch.equal(run(1), run(2))
    torch.testing.assert_close(run(1), run(1), rtol=0, atol=0)
    torch.manual_seed(5)
    expected = torch.randn(6, 2, 3, dtype=F64)  # the first draw of the global RNG after seeding
    a = 10.0**-1
    torch.testing.assert_close(run(5)[0], 0.5 * math.sqrt(2 * a) * expected[0], rtol=1e-12, atol=1e-14)
    g = torch.Generator().manual_seed(7)
    out = run(1, generator=g)
    torch.testing.assert_close(out, run(2, generator=torch.Generator().manual_seed(7)), rtol=0, atol=0)
    with pytest.raises(TypeError, match=r"generator must be a torch.Generator or None"):
        tr.RateRNN.from_weights(M, tau=10.0, dt=1.0, generator=7)
    for build in (
        lambda **kw: tr.RateRNN.from_rnn(torch.nn.RNN(3, 3), **kw),
        lambda **kw: tr.LowRankRateRNN.from_factors(torch.ones(3, 1), torch.ones(3, 1), tau=10.0, dt=1.0, **kw),
        lambda **kw: tr.EIRateRNN.from_weights(
            torch.diag(torch.tensor([1.0, -1.0])), 1, tau_e=10.0, tau_i=10.0, dt=1.0, **kw
        ),
    ):
        assert build().generator is None and build(generator=g).generator is g


def test_layer_keeps_noise_solver_and_generator():
    g = torch.Generator().manual_seed(0)
    net = tr.RateRNN(3, 4, 2, noise_std=0.3, batch_first=True, generator=g)
    one = net.layer(1)
    assert (one.noise_std, one.generator, one.batch_first, one.input_size) == (0.3, g, True, 4)
    ode = tr.RateRNN(3, 4, 2, solver="rk4", rtol=1e-5, atol=1e-7, ode_options={"step_size": 0.25})
    one = ode.layer(0)
    assert (one.solver, one.rtol, one.atol, one.ode_options) == ("rk4", 1e-5, 1e-7, {"step_size": 0.25})
    # the copy runs what the stacked network runs: layer 0 alone gives the stack's layer-0 rates
    x = torch.randn(5, 2, 3)
    h0 = ode(x)[1][0]
    torch.testing.assert_close(one(x)[1][0], h0, rtol=1e-6, atol=1e-6)
    assert tr.RateRNN(3, 4, 2, solver="dopri5", adjoint=True).layer(1).adjoint


@pytest.mark.parametrize(
    "F, pattern",
    [
        (lambda x: x.sum(-1, keepdim=True).expand_as(x), r"must be elementwise: changing its input at"),
        (lambda x: x.mean(-1), r"must map a tensor of shape \(B, N\) to the same shape, got \(2, 4\) → \(2,\)"),
        (lambda x: x + x[..., -1:], r"must be elementwise"),
        (lambda x: x - x.mean(0), r"must be elementwise"),  # couples the batch
        (lambda x: x.reshape(-1)[:3], r"same shape"),
    ],
)
def test_non_elementwise_nonlinearity_is_refused_at_construction(F, pattern):
    with pytest.raises(ValueError, match=pattern):
        tr.RateRNN(3, 4, nonlinearity=F)


def test_elementwise_callables_pass_the_probe_without_touching_the_global_rng():
    state = torch.get_rng_state()
    for F in (lambda x: torch.relu(x) ** 2, torch.nn.Softplus(beta=2.0), lambda x: torch.log(x), torch.tanh):
        tr.RateRNN(3, 4, nonlinearity=F, generator=torch.Generator().manual_seed(0))
    tr.RateRNN(3, 1, nonlinearity=lambda x: 2 * x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.get_rng_state(), state)


def test_one_layer_dropout_warns_as_torch_rnn_does():
    with pytest.warns(UserWarning, match=r"dropout=0.2 and num_layers=1") as ours:
        tr.RateRNN(3, 4, dropout=0.2)
    with pytest.warns(UserWarning) as theirs:
        torch.nn.RNN(3, 4, dropout=0.2)
    assert str(ours[0].message) == str(theirs[0].message)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tr.RateRNN(3, 4, 2, dropout=0.2)  # between two layers: no warning
        tr.RateRNN(3, 4, dropout=0.0)


@pytest.mark.parametrize("kind", ["RateRNN", "LowRankRateRNN"])
def test_reset_parameters_keeps_identity_input(kind):
    """A network built with W=None (identity input, u is h) redraws its recurrent weights and keeps
    the identity: reset_parameters used to read the absent input weights' shape and fail."""
    N = 4
    if kind == "RateRNN":
        net = tr.RateRNN.from_weights(0.5 * torch.eye(N, dtype=torch.float64), tau=10.0, dt=1.0)
    else:
        m = torch.linspace(-1, 1, N, dtype=torch.float64)[:, None]
        net = tr.LowRankRateRNN.from_factors(m, 2 * m, tau=10.0, dt=1.0)
    before = net.M.detach().clone()
    net.reset_parameters(torch.Generator().manual_seed(0))
    assert net.weight_ih_l0 is None
    torch.testing.assert_close(net.W, torch.eye(N, dtype=torch.float64), rtol=0, atol=0)
    assert not torch.equal(net.M.detach(), before)  # redrawn
    u = torch.randn(3, 2, N, dtype=torch.float64)
    torch.testing.assert_close(net(u)[0][0], net.step(torch.zeros(2, N, dtype=torch.float64), u[0]))
