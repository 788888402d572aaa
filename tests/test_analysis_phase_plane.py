"""phase_plane and sweep on the Dayan–Abbott E–I pair: nullclines, fixed point, Hopf at τ_I = 40 ms."""

import math

import pytest
import torch

import torchrate as tr

F64 = torch.float64
M = torch.tensor([[1.25, -1.0], [1.0, 0.0]], dtype=F64)
B = torch.tensor([10.0, -10.0], dtype=F64)
FIXED_POINT = torch.tensor([80 / 3, 50 / 3], dtype=F64)


def ei_pair(tau_i, dt=0.5):
    return tr.EIRateRNN.from_weights(M, n_exc=1, tau_e=10.0, tau_i=tau_i, b=B, dt=dt)


def re_lambda(tau_i):
    """Re λ = ½((M_EE−1)/τ_E + (M_II−1)/τ_I) = ½(0.025 − 1/τ_I) while the pair is complex."""
    return 0.5 * (0.25 / 10 - 1 / tau_i)


def test_phase_plane_ei_pair():
    net = ei_pair(30.0)
    start = torch.tensor([[30.0, 20.0]], dtype=F64)
    pp = tr.analysis.phase_plane(
        net, torch.zeros(2, dtype=F64), (0, 60), (0, 40), n=15, initial_states=start, duration=4000.0
    )
    assert pp.velocity.shape == (15, 15, 2) and pp.x.shape == (15,)
    i, j = 4, 11
    v = torch.stack([pp.x[j], pp.y[i]])
    torch.testing.assert_close(pp.velocity[i, j], net.vector_field(v, torch.zeros(2, dtype=F64)), rtol=1e-15, atol=0)
    # nullclines above threshold: dv_E/dt = 0 on v_I = 0.25 v_E + 10, dv_I/dt = 0 on v_I = v_E − 10
    e_curve = torch.cat(pp.nullclines[0])
    e_curve = e_curve[e_curve[:, 0] > 1.0]
    torch.testing.assert_close(e_curve[:, 1], 0.25 * e_curve[:, 0] + 10, rtol=0, atol=1e-10)
    i_curve = torch.cat(pp.nullclines[1])
    i_curve = i_curve[i_curve[:, 0] > 10.5]
    torch.testing.assert_close(i_curve[:, 1], i_curve[:, 0] - 10, rtol=0, atol=1e-10)
    assert len(e_curve) > 100 and len(i_curve) > 100
    fps = pp.fixed_points
    assert len(fps) == 1 and fps.kind == ["stable spiral"]
    torch.testing.assert_close(fps.points[0], FIXED_POINT, rtol=1e-15, atol=1e-13)
    # Euler with dt = 0.5 ms keeps the fixed point; the distance decays like e^{Re λ t}
    assert pp.trajectories.shape == (8001, 1, 2)
    gap = (pp.trajectories[-1, 0] - FIXED_POINT).norm().item()
    assert gap < 10 * math.exp(re_lambda(30.0) * 4000) * 10


def test_unstable_spiral_settles_on_a_limit_cycle():
    """τ_I = 50 ms: oscillations grow from near the fixed point, then rectification bounds them."""
    pp = tr.analysis.phase_plane(
        ei_pair(50.0),
        torch.zeros(2, dtype=F64),
        (0, 60),
        (0, 40),
        n=5,
        initial_states=FIXED_POINT[None] + 0.1,
        duration=3000.0,
    )
    assert pp.fixed_points.kind == ["unstable spiral"]
    late = pp.trajectories[-2000:, 0]  # last 1000 ms
    amplitude = (late[:, 0].max() - late[:, 0].min()).item()
    assert 10 < amplitude < 100 and late.min().item() >= 0


def test_phase_plane_needs_two_neurons():
    with pytest.raises(ValueError, match="2 neurons, got hidden_size=3"):
        tr.analysis.phase_plane(tr.RateRNN(1, 3))


@pytest.mark.parametrize("refine", [True, False])
def test_sweep_finds_hopf_at_40ms(refine):
    values = torch.arange(13.0, 80.0, 7.0, dtype=F64)  # 40 is not on the grid
    sw = tr.analysis.sweep(
        ei_pair,
        values,
        torch.zeros(2, dtype=F64),
        initial_states=torch.tensor([[20.0, 10.0]], dtype=F64),
        refine=refine,
    )
    assert sw.eigenvalues.shape == (len(values), 2)
    torch.testing.assert_close(sw.points, FIXED_POINT.expand(len(values), 2), rtol=1e-14, atol=1e-13)
    expected = torch.tensor([re_lambda(t) for t in values.tolist()], dtype=F64)
    torch.testing.assert_close(sw.eigenvalues.real[:, 0], expected, rtol=1e-13, atol=1e-16)
    assert sw.stable.tolist() == [t < 40 for t in values.tolist()]
    assert len(sw.hopf) == 1
    if refine:
        assert sw.hopf[0] == pytest.approx(40.0, abs=1e-9)
    else:  # linear interpolation of Re λ between the grid neighbours of 40, 34 and 41
        ga, gb = re_lambda(34.0), re_lambda(41.0)
        assert sw.hopf[0] == pytest.approx(34.0 - ga * 7.0 / (gb - ga), rel=1e-12)
        assert abs(sw.hopf[0] - 40.0) < 0.2  # Re λ is 1/τ_I-shaped, not linear, between grid points


def test_sweep_default_starts_from_visited_states():
    """Without initial_states the sweep starts from the states the network visits from rest."""
    sw = tr.analysis.sweep(ei_pair, [25.0, 35.0, 45.0], torch.zeros(2, dtype=F64))
    torch.testing.assert_close(sw.points, FIXED_POINT.expand(3, 2), rtol=1e-14, atol=1e-13)
    assert sw.kind == ["stable spiral", "stable spiral", "unstable spiral"]
    assert sw.hopf[0] == pytest.approx(40.0, abs=1e-9)


@pytest.mark.parametrize("steps", [3, 4])
def test_trajectories_of_a_batch_first_network_are_its_own(steps):
    # phase_plane gave a batch_first network a (T, B, I) input, which it reads as (B, T, I): with as
    # many steps as starts, the trajectories came back transposed (off by 1.2); otherwise a shape error
    M = torch.tensor([[1.25, -1.0], [1.0, 0.0]], dtype=torch.float64)
    b, u = torch.tensor([0.2, -0.1], dtype=torch.float64), torch.tensor([0.3, 0.0], dtype=torch.float64)
    v0 = torch.tensor([[0.5, -0.5], [-0.4, 0.2], [0.1, 0.9]], dtype=torch.float64)
    runs = []
    for batch_first in (False, True):
        net = tr.RateRNN(2, 2, dtype=torch.float64, tau=10.0, dt=0.5, nonlinearity="tanh", batch_first=batch_first)
        with torch.no_grad():
            net.weight_hh_l0.copy_(M)
            net.weight_ih_l0.copy_(torch.eye(2, dtype=torch.float64))
            net.bias_l0.copy_(b)
        runs.append(tr.analysis.phase_plane(net, u, (-1, 1), (-1, 1), n=5, initial_states=v0, duration=0.5 * steps))
    v = [v0]
    for _ in range(steps):  # Euler by hand: v ← v + dt/τ (−v + tanh(M v + u + b))
        v.append(v[-1] + 0.05 * (-v[-1] + torch.tanh(v[-1] @ M.T + u + b)))
    for pp in runs:
        torch.testing.assert_close(pp.trajectories, torch.stack(v), rtol=0, atol=1e-14)


def test_a_given_dt_integrates_the_flow_with_that_step_not_the_networks_own():
    """An Euler network at dt = 8 ms, τ = 10 ms analysed as its flow: dt = 0.1 was replaced silently by
    the network's 8 ms (its map, which overshoots the stable spiral); given, it is the Euler step."""
    net = ei_pair(30.0, dt=8.0)
    start = torch.tensor([[30.0, 20.0]], dtype=F64)
    u = torch.zeros(2, dtype=F64)
    pp = tr.analysis.phase_plane(
        net, u, (0, 60), (0, 40), n=3, initial_states=start, duration=2.0, dt=0.1, time="continuous"
    )
    assert pp.dt == 0.1 and pp.trajectories.shape == (21, 1, 2)
    v = [start]
    for _ in range(20):
        v.append(v[-1] + 0.1 * net.vector_field(v[-1], u))
    torch.testing.assert_close(pp.trajectories, torch.stack(v), rtol=0, atol=1e-12)
    own = tr.analysis.phase_plane(net, u, (0, 60), (0, 40), n=3, initial_states=start, duration=16.0, time="continuous")
    assert own.dt == 8.0 and own.trajectories.shape == (3, 1, 2)  # without dt: the network's own forward
    with torch.no_grad():
        rates, _ = net(u.expand(2, 1, 2), start[None])
    torch.testing.assert_close(own.trajectories[1:], rates, rtol=0, atol=0)
