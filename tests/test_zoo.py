"""tr.zoo: every hand-built network checked against the mathematics that defines it."""

import itertools
import math

import pytest
import torch

import torchrate as tr
from torchrate import dynamics, zoo

F64 = torch.float64


def field(net, v, h=None):
    h = torch.zeros_like(v) if h is None else h
    return net.vector_field(v, h)


def analytic_jacobian(net, v, h=None):
    h = torch.zeros_like(v) if h is None else h
    return dynamics.jacobian_of_vector_field(v, h, net.M, net.b, net.tau, net.F)


# ---------------------------------------------------------------------- linear algebra
def test_weights_from_modes_mutual_excitation_and_symmetry():
    Phi = torch.tensor([[1.0, -1.0], [1.0, 1.0]], dtype=F64) / math.sqrt(2)
    M = zoo.weights_from_modes(Phi, [0.8, -0.8])
    torch.testing.assert_close(M, torch.tensor([[0.0, 0.8], [0.8, 0.0]], dtype=F64), rtol=0, atol=1e-15)
    assert torch.equal(M, M.T)


def test_weights_from_modes_refuses_non_orthonormal_and_bad_shapes():
    with pytest.raises(ValueError, match=r"orthonormal \(ΦᵀΦ = I\); max \|ΦᵀΦ − I\| = 2 > "):
        zoo.weights_from_modes(torch.tensor([[1.0, 1.0], [1.0, 1.0]]), [1.0, 0.0])
    with pytest.raises(ValueError, match=r"eigenvalues must have shape \(2,\), got \(3,\)"):
        zoo.weights_from_modes(torch.eye(2), [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"square \(N, N\) matrix Φ, got shape \(2, 3\)"):
        zoo.weights_from_modes(torch.ones(2, 3), [1.0, 0.0])


@pytest.mark.parametrize("direction", [[1.0, 2.0, 2.0], [-3.0, 0.5, 1.0, 2.0], [0.0, 1.0], [5.0]])
def test_basis_with_direction_is_orthonormal_with_the_direction_first(direction):
    d = torch.tensor(direction, dtype=F64)
    Phi = zoo.basis_with_direction(d)
    eye = torch.eye(len(direction), dtype=F64)
    torch.testing.assert_close(Phi.T @ Phi, eye, rtol=0, atol=1e-15)
    torch.testing.assert_close(Phi[:, 0], d / d.norm(), rtol=0, atol=1e-16)


def test_basis_with_direction_refuses_zero():
    with pytest.raises(ValueError, match="direction must be non-zero"):
        zoo.basis_with_direction([0.0, 0.0])


# ---------------------------------------------------------------------- linear networks
def test_autapse_steady_states_and_time_constants_are_the_lectures():
    lam = [0.0, 0.5, 0.66, -1.0, -2.0]
    net = zoo.autapse(lam, tau=10.0, dt=0.1, dtype=F64)
    assert torch.equal(net.M, torch.diag(torch.tensor(lam, dtype=F64))) and net.F.name == "linear"
    h = torch.ones(5, dtype=F64)
    torch.testing.assert_close(
        tr.linear.steady_state(net.M.detach(), h), 1 / (1 - torch.tensor(lam, dtype=F64)), rtol=1e-15, atol=0
    )
    s = tr.analysis.spectrum(net.M.detach(), tau=10.0)
    torch.testing.assert_close(
        s.time_constants.sort().values, (10.0 / (1 - torch.tensor(lam, dtype=F64))).sort().values, rtol=1e-14, atol=0
    )


@pytest.mark.parametrize("make, sign", [(zoo.mutual_excitation, 1.0), (zoo.mutual_inhibition, -1.0)])
def test_mutual_pair_gains_5_and_1_over_1_8(make, sign):
    net = make(tau=10.0, dt=0.1, dtype=F64)
    torch.testing.assert_close(net.M, sign * torch.tensor([[0.0, 0.8], [0.8, 0.0]], dtype=F64))
    s = tr.analysis.spectrum(net.M.detach(), tau=10.0)
    torch.testing.assert_close(s.gains, torch.tensor([5.0, 1 / 1.8], dtype=F64), rtol=1e-14, atol=0)
    # the amplified mode: (1, 1) for excitation, (1, −1) for inhibition
    e = s.eigenvectors[:, 0]
    assert abs(abs(e[0] * e[1] * 2) - 1) < 1e-14 and torch.sign(e[0] * e[1]) == sign


def test_mutual_pair_refuses_negative_strength():
    with pytest.raises(ValueError, match="needs weight ≥ 0, got -0.8; use mutual_inhibition"):
        zoo.mutual_excitation(-0.8)
    with pytest.raises(ValueError, match=r"strength ≥ 0 \(M = −weight\), got -0.8"):
        zoo.mutual_inhibition(-0.8)


def test_line_attractor_has_eigenvalue_one_along_the_direction():
    d = torch.tensor([1.0, 2.0, 2.0], dtype=F64)
    net = zoo.line_attractor(d, other_eigenvalues=[0.5, -0.3], dtype=F64)
    M = net.M.detach()
    assert torch.equal(M, M.T)
    torch.testing.assert_close(M @ (d / 3), d / 3, rtol=0, atol=1e-15)
    torch.testing.assert_close(torch.linalg.eigvalsh(M), torch.tensor([-0.3, 0.5, 1.0], dtype=F64), rtol=0, atol=1e-15)
    assert tr.analysis.spectrum(M).regimes[0] == "integrator"
    with pytest.raises(ValueError, match=r"other_eigenvalues must be a float or have shape \(2,\), got \(3"):
        zoo.line_attractor(d, other_eigenvalues=[0.1, 0.2, 0.3])


# ---------------------------------------------------------------------- attractor networks
def test_saturating_autapse_two_stable_states_and_unstable_origin():
    lam, tau = 2.0, 10.0
    net = zoo.saturating_autapse(lam, tau=tau, dtype=F64)
    v = torch.tensor([[-1.0], [0.0], [1.0]], dtype=F64)
    assert torch.equal(field(net, v), torch.zeros_like(v))
    J = analytic_jacobian(net, v)[:, 0, 0]
    # saturated at ±1 (F' = 0): J = −1/τ; linear at 0: J = (λ − 1)/τ
    torch.testing.assert_close(J, torch.tensor([-1 / tau, (lam - 1) / tau, -1 / tau], dtype=F64))
    with pytest.raises(ValueError, match=r"every λ > 1 for two attractors, got \[2.0, 0.5\]"):
        zoo.saturating_autapse([2.0, 0.5])


@pytest.mark.parametrize("K", [2, 3, 5])
def test_winner_take_all_one_hot_states_are_the_stable_fixed_points(K):
    tau = 10.0
    net = zoo.winner_take_all(K, tau=tau, dtype=F64)
    corners = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=K)), dtype=F64)
    is_fixed = field(net, corners).abs().max(-1).values == 0
    one_hot = (corners > 0).sum(-1) == 1
    assert torch.equal(is_fixed, one_hot)  # exactly the K winner states among the 2^K corners
    J = analytic_jacobian(net, corners[one_hot])
    torch.testing.assert_close(J, -torch.eye(K, dtype=F64).expand_as(J) / tau)  # F' = 0: stable node


def test_two_attractor_is_the_lecture_network():
    net = zoo.two_attractor(dtype=F64)
    assert torch.equal(net.M, torch.tensor([[0.0, -2.0], [-2.0, 0.0]], dtype=F64))
    assert net.b is None and net.F.name == "clip"
    fps = tr.analysis.find_fixed_points(
        net, torch.zeros(2, dtype=F64), torch.tensor([[0.9, -0.8], [-0.7, 0.9], [0.05, 0.04]], dtype=F64)
    )
    found = {(round(p[0].item(), 9), round(p[1].item(), 9)): k for p, k in zip(fps.points, fps.kind)}
    assert found == {(1.0, -1.0): "stable node", (-1.0, 1.0): "stable node", (0.0, 0.0): "saddle"}


def test_winner_take_all_refuses_bad_arguments():
    with pytest.raises(ValueError, match="n_units must be an int ≥ 2, got 1"):
        zoo.winner_take_all(1)
    with pytest.raises(ValueError, match="α \\+ β > 1 for stable winners; got β = 0.5, α = 0.2"):
        zoo.winner_take_all(2, inhibition=0.5, self_excitation=0.2)


# ---------------------------------------------------------------------- Hopfield
def hadamard(n: int) -> torch.Tensor:
    H = torch.ones(1, 1, dtype=F64)
    while H.shape[0] < n:
        H = torch.cat([torch.cat([H, H], 1), torch.cat([H, -H], 1)])
    return H


def test_hebbian_weights_outer_product_rule():
    xi = torch.tensor([[1, -1, 1, 1], [1, 1, -1, 1]], dtype=F64)
    M = zoo.hebbian_weights(xi)
    expected = (torch.outer(xi[0], xi[0]) + torch.outer(xi[1], xi[1])) / 4 - 2 / 4 * torch.eye(4, dtype=F64)
    assert torch.equal(M, expected) and torch.equal(M, M.T)
    with pytest.raises(ValueError, match="patterns must contain only ±1, found 0.5"):
        zoo.hebbian_weights(torch.tensor([[1.0, 0.5]]))


def test_hopfield_energy_is_the_quadratic_form():
    gen = torch.Generator().manual_seed(0)
    xi = (torch.randint(0, 2, (3, 7), generator=gen) * 2 - 1).to(F64)
    M = zoo.hebbian_weights(xi)
    s = (torch.randint(0, 2, (5, 7), generator=gen) * 2 - 1).to(F64)
    b = torch.randn(7, generator=gen, dtype=F64)
    brute = torch.stack([-0.5 * sum(M[i, j] * x[i] * x[j] for i in range(7) for j in range(7)) - b @ x for x in s])
    torch.testing.assert_close(zoo.hopfield_energy(M, s, b), brute, rtol=1e-14, atol=1e-14)


def test_orthogonal_patterns_are_recalled_exactly_both_ways():
    xi = hadamard(16)[[1, 2, 4]]  # 3 mutually orthogonal patterns, N = 16
    M = zoo.hebbian_weights(xi)
    cues = xi.clone()
    cues[:, :2] *= -1  # 2 wrong bits: local field on wrong units is still of the right sign
    for recall in (
        zoo.recall_asynchronous(M, cues, generator=torch.Generator().manual_seed(0)),
        zoo.recall_synchronous(M, cues),
    ):
        assert torch.equal(recall.states, xi) and bool(recall.converged.all())
    # the network's own Euler step with dt = τ is the synchronous update sign(M v)
    net = zoo.hopfield(xi)
    with torch.no_grad():
        step = net(torch.zeros(1, 3, 16, dtype=F64), cues[None])[0][0]
    assert torch.equal(step, torch.where(cues @ M.T >= 0, 1.0, -1.0).to(F64))


def test_asynchronous_recall_never_raises_the_energy_and_stops_at_fixed_points():
    gen = torch.Generator().manual_seed(3)
    xi = (torch.randint(0, 2, (6, 40), generator=gen) * 2 - 1).to(F64)
    M = zoo.hebbian_weights(xi)
    s0 = (torch.randint(0, 2, (64, 40), generator=gen) * 2 - 1).to(F64)
    r = zoo.recall_asynchronous(M, s0, generator=gen)
    assert bool(r.converged.all())
    assert bool((zoo.hopfield_energy(M, r.states) <= zoo.hopfield_energy(M, s0) + 1e-12).all())
    assert bool(((r.states @ M.T) * r.states >= -1e-12).all())  # no unit wants to flip (ties keep)


def test_recall_refuses_bad_states():
    M = zoo.hebbian_weights(torch.ones(1, 4))
    with pytest.raises(ValueError, match=r"states must have shape \(B, 4\), got \(2, 3\)"):
        zoo.recall_synchronous(M, torch.ones(2, 3))
    with pytest.raises(ValueError, match="states must contain only ±1, found 0"):
        zoo.recall_asynchronous(M, torch.zeros(1, 4))


# ---------------------------------------------------------------------- Dayan–Abbott
@pytest.mark.parametrize("tau_i", [30.0, 40.0, 50.0])
def test_dayan_abbott_fixed_point_and_jacobian(tau_i):
    net = zoo.dayan_abbott_ei(tau_i, dtype=F64)
    assert torch.equal(net.M, torch.tensor([[1.25, -1.0], [1.0, 0.0]], dtype=F64))
    assert torch.equal(net.tau, torch.tensor([10.0, tau_i], dtype=F64))
    v = torch.tensor([[80 / 3, 50 / 3]], dtype=F64)  # v_E = 1.25 v_E − v_I + 10, v_I = v_E − 10
    torch.testing.assert_close(field(net, v), torch.zeros_like(v), rtol=0, atol=1e-14)
    J = analytic_jacobian(net, v)[0]
    torch.testing.assert_close(J, torch.tensor([[0.25 / 10, -1 / 10], [1 / tau_i, -1 / tau_i]], dtype=F64))
    trace = J.trace().item()
    assert math.copysign(1, trace) == math.copysign(1, tau_i - 40) or abs(trace) < 1e-15  # Hopf at 40 ms


def test_zoo_keeps_dtype_and_device(dtype, device):
    f = {"dtype": dtype, "device": device}
    nets = [
        zoo.autapse([0.5], **f),
        zoo.mutual_excitation(**f),
        zoo.line_attractor([1.0, 1.0], **f),
        zoo.winner_take_all(3, **f),
        zoo.dayan_abbott_ei(**f),
        zoo.hopfield(torch.ones(1, 4, **f)),
    ]
    for net in nets:
        assert net.M.dtype == dtype and net.M.device.type == device.type
        rates, _ = net(torch.zeros(5, 2, net.input_size, dtype=dtype, device=device))
        assert rates.dtype == dtype and rates.device.type == device.type


def test_recall_on_any_device_with_a_cpu_generator(device):
    xi = hadamard(16)[[1, 2, 4]].to(device)
    M = zoo.hebbian_weights(xi)
    cues = xi.clone()
    cues[:, :2] *= -1
    r = zoo.recall_asynchronous(M, cues, generator=torch.Generator().manual_seed(0))
    assert r.states.device.type == device.type and torch.equal(r.states, xi)
    assert torch.equal(zoo.recall_synchronous(M, cues).states, xi)
