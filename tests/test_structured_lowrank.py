"""LowRankRateRNN and the exact latent analysis: proofs against the full-rank network and the full-space finder."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch.func import functional_call, grad, vmap

import torchrate as tr
from torchrate.analysis.lowrank import latent_fixed_points, latent_velocity, low_rank_approximation, rank_fidelity

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _full(net: tr.LowRankRateRNN, **kw) -> tr.RateRNN:
    """The same network with M = m nᵀ/N formed (N, N)."""
    W = None if net.weight_ih_l0 is None else net.weight_ih_l0.detach()
    return tr.RateRNN.from_weights(
        net.M.detach(),
        W,
        None if net.b is None else net.b.detach(),
        tau=net.tau.detach(),
        dt=net.dt,
        nonlinearity=net.F,
        **kw,
    )


# ----------------------------------------------------------------------------- the module
def test_forward_equals_the_full_rank_network_to_rounding():
    net = tr.LowRankRateRNN(3, 200, 2, tau=10.0, dt=1.0, dtype=F64, generator=_gen(0))
    with torch.no_grad():
        net.bias_l0.normal_(generator=_gen(1))
    u, hx = torch.randn(40, 5, 3, dtype=F64), torch.rand(1, 5, 200, dtype=F64)
    rates, h_n = net(u, hx)
    ref, ref_h = _full(net)(u, hx)
    # one addmm reassociated, (v n) mᵀ vs v (m nᵀ)ᵀ: rounding of O(1) rates over 40 steps
    torch.testing.assert_close(rates, ref, rtol=0, atol=1e-13)
    torch.testing.assert_close(h_n, ref_h, rtol=0, atol=1e-13)


def test_noise_and_ode_solver_paths_equal_the_full_rank_network():
    net = tr.LowRankRateRNN(2, 64, 1, tau=10.0, dt=1.0, noise_std=0.3, dtype=F64, generator=_gen(2))
    full = _full(net, noise_std=0.3)
    net.generator, full.generator = _gen(7), _gen(7)
    u = torch.randn(25, 3, 2, dtype=F64)
    torch.testing.assert_close(net(u)[0], full(u)[0], rtol=0, atol=1e-13)  # the same ξ from the same seed
    ode = tr.LowRankRateRNN(
        2, 64, 1, tau=10.0, dt=1.0, solver="dopri5", rtol=1e-10, atol=1e-12, dtype=F64, generator=_gen(3)
    )
    torch.testing.assert_close(ode(u)[0], _full(ode, solver="dopri5", rtol=1e-10, atol=1e-12)(u)[0], rtol=0, atol=1e-9)


def test_noise_set_after_construction_with_an_ode_solver_is_refused():
    # the low-rank ODE branch ran without the noise, silently (RateRNN's refuses)
    u = torch.randn(5, 2, 2, dtype=F64)
    noisy_later = tr.LowRankRateRNN(2, 8, 1, solver="rk4", dtype=F64)
    noisy_later.noise_std = 0.5
    ode_later = tr.LowRankRateRNN(2, 8, 1, noise_std=0.5, dtype=F64)
    ode_later.solver = "rk4"
    for net in (noisy_later, ode_later):
        with pytest.raises(ValueError, match="noise_std=0.5 needs solver='euler'"):
            net(u)


def test_gradients_equal_the_full_rank_chain_rule_and_torch_func_works():
    """∂L/∂m = (∂L/∂M) n / N and ∂L/∂n = (∂L/∂M)ᵀ m / N, with ∂L/∂M from the fused full-rank path."""
    net = tr.LowRankRateRNN(3, 48, 2, tau=5.0, dt=1.0, dtype=F64, generator=_gen(4))
    u = torch.randn(30, 4, 3, dtype=F64)
    net(u)[0].square().sum().backward()
    full = _full(net)
    full(u)[0].square().sum().backward()
    G = full.weight_hh_l0.grad
    torch.testing.assert_close(net.m.grad, G @ net.n.detach() / 48, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(net.n.grad, G.T @ net.m.detach() / 48, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(net.weight_ih_l0.grad, full.weight_ih_l0.grad, rtol=1e-10, atol=1e-12)
    # second derivatives exist and are exact (plain ops)
    names = [n for n, _ in net.named_parameters()]
    params = tuple(p.detach().requires_grad_() for p in net.parameters())
    f = lambda *p: functional_call(net, dict(zip(names, p)), (u[:6, :2],))[0].sum()  # noqa: E731
    assert torch.autograd.gradgradcheck(f, params)
    # vmap over inputs equals a loop
    us = torch.randn(3, 10, 2, 3, dtype=F64)
    torch.testing.assert_close(vmap(lambda x: net(x)[0])(us), torch.stack([net(x)[0] for x in us]), rtol=0, atol=1e-14)
    g = grad(lambda p: functional_call(net, {**dict(net.named_parameters()), names[2]: p}, (u,))[0].sum())
    assert g(net.m.detach()).shape == (48, 2)


def test_from_factors_and_refusals():
    m, n = torch.randn(30, 2, dtype=F64), torch.randn(30, 2, dtype=F64)
    net = tr.LowRankRateRNN.from_factors(m, n, tau=10.0, dt=1.0)
    torch.testing.assert_close(net.M, m @ n.T / 30, rtol=0, atol=0)
    assert net.input_size == 30 and net.weight_ih_l0 is None
    with pytest.raises(ValueError, match=r"n must have shape \(30, 2\), got \(30, 3\)"):
        tr.LowRankRateRNN.from_factors(m, torch.randn(30, 3, dtype=F64), tau=10.0, dt=1.0)
    with pytest.raises(ValueError, match="rank must be ≤ hidden_size = 4, got 5"):
        tr.LowRankRateRNN(2, 4, 5)
    with pytest.raises(TypeError, match="LowRankRateRNN got 'connectivity'"):
        tr.LowRankRateRNN(2, 4, 1, connectivity=torch.ones(4, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="from_factors"):
        tr.LowRankRateRNN.from_weights(torch.eye(3), tau=1.0, dt=1.0)
    # assigning a full-rank M through the parametrization is refused, a rank-2 one is factorised
    with pytest.raises(ValueError, match=r"M has rank > 2: its singular value 3"):
        net.weight_hh_l0 = torch.eye(30, dtype=F64)
    a, b = torch.randn(30, 2, dtype=F64), torch.randn(30, 2, dtype=F64)
    net.weight_hh_l0 = a @ b.T
    torch.testing.assert_close(net.M, a @ b.T, rtol=0, atol=1e-13)


def test_factors_train_and_pickle():
    net = tr.LowRankRateRNN(2, 16, 1, dtype=F64, generator=_gen(5))
    before = net.m.detach().clone()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    u = torch.randn(10, 4, 2, dtype=F64)
    for _ in range(3):
        opt.zero_grad()
        net(u)[0].square().mean().backward()
        opt.step()
    assert not torch.equal(before, net.m.detach())
    import pickle

    copy = pickle.loads(pickle.dumps(net))
    torch.testing.assert_close(copy(u)[0], net(u)[0], rtol=0, atol=0)


# ----------------------------------------------------------------------------- latent fixed points
def _bistable(rank: int, N: int = 512, seed: int = 0) -> tr.LowRankRateRNN:
    """m Gaussian, n = m diag(2, 0.5): κ₁ bistable (overlap ≈ 2 > 1), κ₂ monostable; input along m₁."""
    g = _gen(seed)
    m = torch.randn(N, rank, dtype=F64, generator=g)
    n = m * torch.tensor([2.0, 0.5][:rank], dtype=F64)
    return tr.LowRankRateRNN.from_factors(m, n, m[:, :1].clone(), tau=10.0, dt=1.0, nonlinearity="tanh")


def _full_space_starts(net, n_per_dim: int, noise: float, seed: int) -> torch.Tensor:
    """Rates F(mκ + c) over a κ grid, jittered: the states a trained network visits."""
    r = net.rank
    axes = [torch.linspace(-2.5, 2.5, n_per_dim, dtype=F64)] * r
    kappa = torch.cartesian_prod(*axes).reshape(-1, r)
    v = torch.tanh(kappa @ net.m.detach().T)
    return v + noise * torch.randn(v.shape, dtype=F64, generator=_gen(seed))


@pytest.mark.parametrize("rank", [1, 2])
@pytest.mark.parametrize("u, roots", [(0.0, 3), (1.5, 1)], ids=["3-roots", "1-root"])
def test_latent_fixed_points_equal_the_full_space_finder(rank, u, roots):
    net = _bistable(rank)
    u = torch.tensor([u], dtype=F64)
    latent = latent_fixed_points(net, u)
    assert len(latent) == roots
    assert latent.residuals.max() < 1e-28
    full = tr.analysis.find_fixed_points(_full(net), u, _full_space_starts(net, 24 if rank == 1 else 9, 0.05, 1))
    assert len(full) == roots
    # the same points, one to one, to 1e-10
    d = torch.cdist(latent.points, full.points, compute_mode="donot_use_mm_for_euclid_dist")
    assert d.min(1).values.max() < 1e-10 and d.min(0).values.max() < 1e-10
    match = d.argmin(1)
    assert [full.kind[j] for j in match.tolist()] == latent.kind
    # the eigenvalues: r × r formula + (N − r) × (−1/τ) against the full Jacobian's
    torch.testing.assert_close(latent.eigenvalues, full.eigenvalues[match], rtol=0, atol=1e-12)
    ev = tr.analysis.fixed_points.sort_eigenvalues(torch.linalg.eigvals(latent.jacobians()))
    torch.testing.assert_close(latent.eigenvalues, ev, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_search_options_the_latent_search_has_no_use_for_take_the_full_space_search(dtype):
    # the latent search takes newton_steps and tol only: dedup_tol=100 (merge all three points) and
    # slow_points were silently ignored on a low-rank network's default search
    net = _bistable(1, N=64, seed=3)
    starts = _full_space_starts(net, 24, 0.05, 1).to(dtype)
    net, u = net.to(dtype), torch.tensor([0.0], dtype=dtype)
    assert len(tr.analysis.find_fixed_points(net, u, starts)) == 3  # the latent search, as before
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dedup_tol=100 joins distinct points (and says so where it does)
        merged = tr.analysis.find_fixed_points(net, u, starts, dedup_tol=100.0)
        full = tr.analysis.find_fixed_points(net, u, starts, dedup_tol=100.0, latent=False)
    assert len(merged) == len(full) == 1
    assert torch.equal(merged.points, full.points) and torch.equal(merged.counts, full.counts)
    with pytest.raises(
        ValueError, match=r"latent=True .* newton_steps and tol only: dedup_tol=100\.0 would be ignored"
    ):
        tr.analysis.find_fixed_points(net, u, starts, dedup_tol=100.0, latent=True)


def test_latent_eigenvalues_closed_form_rank_one():
    """Rank one: μ = nᵀ diag(F′(x*)) m / N, and J's spectrum is {(μ − 1)/τ} ∪ {−1/τ}^(N−1)."""
    net = _bistable(1, N=64, seed=3)
    lf = latent_fixed_points(net)
    x = lf.kappas @ net.m.detach().T
    mu = ((1 - torch.tanh(x) ** 2) * net.m.detach()[:, 0] * net.n.detach()[:, 0]).sum(-1) / 64
    top = lf.eigenvalues[:, 0].real
    torch.testing.assert_close(
        torch.sort(top).values,
        torch.sort(torch.maximum((mu - 1) / 10, torch.full_like(mu, -0.1))).values,
        rtol=0,
        atol=1e-15,
    )
    assert (lf.eigenvalues[:, 1:].real == -0.1).all()


def test_latent_starts_from_states_follow_the_latent_dynamics():
    """κ(t) = nᵀv(t)/N of a simulated trajectory matches the latent ODE (Euler, one τ)."""
    net = _bistable(2, N=128, seed=4)
    v0 = torch.rand(3, 128, dtype=F64) - 0.5
    u = torch.zeros(200, 3, 1, dtype=F64)
    rates, _ = net(u, v0[None])
    kappa = torch.cat([v0[None], rates]) @ net.n.detach() / 128  # (T+1, B, 2)
    euler = kappa[:-1] + net.dt * latent_velocity(net, None, kappa[:-1])
    torch.testing.assert_close(euler, kappa[1:], rtol=0, atol=1e-13)
    # and the search from states assigns each start to its basin's attractor (after 200 steps)
    lf = latent_fixed_points(net, None, rates[-1])
    assert (lf.assignment >= 0).all() and all(lf.stable[lf.assignment].tolist())


def test_latent_search_refusals():
    with pytest.raises(TypeError, match="must be a torchrate.LowRankRateRNN"):
        latent_fixed_points(tr.RateRNN(2, 4))
    relu = tr.LowRankRateRNN(1, 8, 1, nonlinearity="relu")
    with pytest.raises(ValueError, match="initial_states or initial_kappas for the unbounded nonlinearity 'relu'"):
        latent_fixed_points(relu)
    with pytest.raises(ValueError, match=r"initial_kappas must have shape \(K, 1\)"):
        latent_fixed_points(relu, initial_kappas=torch.zeros(3, 2))
    per_neuron = tr.LowRankRateRNN(1, 4, 1, tau=torch.tensor([1.0, 2.0, 3.0, 4.0]))
    with pytest.raises(ValueError, match="one τ for all neurons"):
        latent_velocity(per_neuron, None, torch.zeros(1))


def test_per_neuron_tau_falls_back_to_the_full_jacobian():
    m = torch.randn(40, 1, dtype=F64, generator=_gen(6))
    tau = torch.linspace(5.0, 20.0, 40, dtype=F64)
    net = tr.LowRankRateRNN.from_factors(m, 2 * m, tau=tau, dt=1.0)
    lf = latent_fixed_points(net)
    ev = tr.analysis.fixed_points.sort_eigenvalues(torch.linalg.eigvals(lf.jacobians()))
    torch.testing.assert_close(lf.eigenvalues, ev, rtol=0, atol=1e-14)
    assert sorted(lf.kind) == ["saddle", "stable node", "stable node"]


# ----------------------------------------------------------------------------- approximations
def test_low_rank_approximation_is_the_truncated_svd():
    net = tr.RateRNN(2, 40, dtype=F64, generator=_gen(8))
    U, S, Vh = torch.linalg.svd(net.M.detach())
    for r in (1, 3, 40):
        approx = low_rank_approximation(net, r)
        torch.testing.assert_close(approx.M, U[:, :r] * S[:r] @ Vh[:r], rtol=0, atol=1e-13)
        # Eckart–Young: the spectral-norm error is the (r+1)-th singular value
        err = torch.linalg.matrix_norm(approx.M - net.M.detach(), ord=2)
        torch.testing.assert_close(err, S[r] if r < 40 else torch.zeros((), dtype=F64), rtol=1e-10, atol=1e-13)
    fit = rank_fidelity(net, torch.randn(30, 4, 2, dtype=F64), ranks=[1, 5, 20, 40])
    assert fit.rates_error[-1] < 1e-12
    assert (fit.rates_error[:-1] > fit.rates_error[-1]).all()


@pytest.mark.parametrize(
    "kw",
    [
        {"batch_first": True},
        {"solver": "rk4", "ode_options": {"step_size": 0.25}},
        {"solver": "dopri5", "rtol": 1e-2, "atol": 1e-2},
    ],
)
def test_low_rank_approximation_keeps_the_rollout_settings(kw):
    # batch_first and the solver's options were dropped: rank N ran another rollout (rk4 with
    # step dt, dopri5 at 1e-6, or the inputs read time-major), silently
    net = tr.RateRNN(2, 16, tau=10.0, dt=5.0, gain=1.5, dtype=F64, generator=_gen(9), **kw)
    u = torch.randn(4, 30, 2, dtype=F64, generator=_gen(10))
    approx = low_rank_approximation(net, 16)
    with torch.no_grad():
        torch.testing.assert_close(approx(u)[0], net(u)[0], rtol=0, atol=1e-12)
    assert rank_fidelity(net, u, ranks=[16]).rates_error[0] < 1e-12


def test_rank_fidelity_of_a_noisy_network_compares_noise_free_rollouts():
    # one noisy draw against another: rank N had a rates_error of 0.6 (net noise_std = 0.1)
    net = tr.RateRNN(2, 16, dtype=F64, noise_std=0.1, generator=_gen(11))
    approx = low_rank_approximation(net, 16)
    assert approx.noise_std == 0.1
    fit = rank_fidelity(net, torch.randn(30, 4, 2, dtype=F64, generator=_gen(12)), ranks=[2, 16])
    assert fit.rates_error[1] < 1e-12 < fit.rates_error[0]
    assert net.noise_std == 0.1  # set aside while the rollouts run, then restored


# ----------------------------------------------------------------------------- figures
@pytest.mark.parametrize("rank", [1, 2])
def test_latent_flow_figure_marks_every_fixed_point(rank):
    import numpy as np

    net = _bistable(rank, N=64, seed=7)
    fig = tr.plotting.plot_latent_flow(net)
    ax = fig.axes[0]
    marked = np.concatenate(
        [
            c.get_offsets()
            for c in ax.collections
            if c.get_offsets().shape[1] == 2
            and len(c.get_offsets()) <= 9
            and c.get_label() in ("stable node", "saddle")
        ]
    )
    expected = latent_fixed_points(net).kappas.numpy()
    if rank == 1:
        expected = np.stack([expected[:, 0], np.zeros(len(expected))], 1)
    assert len(marked) == len(expected) == 3
    assert np.abs(np.sort(marked, 0) - np.sort(expected, 0)).max() < 1e-12
    with pytest.raises(ValueError, match="rank-1 and rank-2"):
        tr.plotting.plot_latent_flow(tr.LowRankRateRNN(1, 8, 3))


def test_find_fixed_points_on_a_low_rank_network_uses_the_latent_search():
    net = _bistable(2, N=128, seed=8)
    starts = _full_space_starts(net, 7, 0.05, 2)
    auto = tr.analysis.find_fixed_points(net, None, starts)
    full = tr.analysis.find_fixed_points(net, None, starts, latent=False)
    assert isinstance(auto, tr.analysis.FixedPoints) and len(auto) == len(full) == 3
    d = torch.cdist(auto.points, full.points, compute_mode="donot_use_mm_for_euclid_dist")
    assert d.min(1).values.max() < 1e-10
    assert auto.jacobians.shape == (3, 128, 128) and int(auto.counts.sum()) == int((auto.assignment >= 0).sum())
    torch.testing.assert_close(auto.eigenvalues, full.eigenvalues[d.argmin(1)], rtol=0, atol=1e-12)
    with pytest.raises(TypeError, match=r"latent=True needs a low-rank network \(torchrate.LowRankRateRNN\)"):
        tr.analysis.find_fixed_points(tr.RateRNN(1, 4), None, torch.zeros(2, 4), latent=True)
