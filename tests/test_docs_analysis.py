"""docs/analysis.md says what it shows: the numbers it quotes, checked.

The page's blocks are run by the collector of ``tests/test_docs_blocks.py`` (in order, in one
namespace, one thread, a temporary directory; what they print is compared with the page's
``text`` blocks there); here that namespace is checked against closed forms where there is one
(the 1-unit RNN's μ = −1.5 and its 2-cycle, μ = 1 + dt·λ, the integrator's line, the ring's
radius r, the leaky integrator's selection vector) and against the networks themselves otherwise
(the trained GRU's points are fixed points of the module, their verdicts hold when it runs).

One thread: the page's outputs were recorded so (the float32 training sums in another order with
other thread counts), and on a loaded 2-core machine OpenMP's spin-waiting made two threads
10–50× slower than one for the batched LAPACK calls.
"""

import math

import pytest
import torch
from scipy.optimize import brentq
from test_docs_blocks import page_run

import torchrate as tr

F64 = torch.float64


@pytest.fixture(scope="module")
def run():
    return page_run("docs/analysis.md")


@pytest.fixture(scope="module")
def ns(run):
    """The namespace after every block of the page has run."""
    return run.namespace


def test_page_has_its_blocks_and_no_stray_warnings(run):
    assert len(run.ran) == 12
    # the only warnings the page triggers are the two it catches and prints (section 2)
    assert run.warnings == []


def test_as_system_table():
    S = tr.systems.as_system
    lstm = S(torch.nn.LSTM(3, 16, num_layers=2))
    assert (lstm.time, lstm.state_size) == ("discrete", 2 * 2 * 16)
    assert S(torch.nn.GRUCell(3, 16)).time == "discrete"
    assert S(tr.RateRNN(3, 16, tau=10.0, dt=1.0)).time == "continuous"  # dt/τ = 0.1
    assert S(tr.RateRNN(3, 16, tau=10.0, dt=5.0)).time == "discrete"  # dt/τ = 0.5
    assert S(tr.RateRNN(3, 16, tau=10.0, dt=1.0), time="discrete").time == "discrete"
    assert S(tr.RateRNN(3, 16, tau=10.0, dt=1.0, solver="rk4")).time == "continuous"
    with pytest.raises(ValueError, match="needs an Euler network"):
        S(tr.RateRNN(3, 16, tau=10.0, dt=1.0, solver="rk4"), time="discrete")
    assert S(lambda v, h: h - v).time == "continuous"
    with pytest.raises(ValueError, match="bidirectional"):
        S(torch.nn.GRU(3, 4, bidirectional=True))
    with pytest.raises(ValueError, match="discrete-time system"):
        S(torch.nn.GRU(3, 4), time="continuous")
    with pytest.raises(TypeError, match="cannot analyse a Linear"):
        S(torch.nn.Linear(3, 4))


# ----------------------------------------------------------------------------- 1. the trained GRU
def test_gru_flip_flop_points_are_the_modules_own(ns):
    fps, gru, readout = ns["fps"], ns["gru"], ns["readout"]  # fps: section 4's search (same points)
    assert fps.time == "discrete" and fps.points.dtype == F64
    assert sorted(fps.kind) == ["saddle", "stable spiral", "stable spiral"]
    with torch.no_grad():
        out = readout(fps.points)[:, 0]
        step, _ = gru(torch.zeros(1, len(fps), 1, dtype=F64), fps.points[None])
    assert (step[0] - fps.points).abs().max() < 1e-12  # fixed points of the GRU itself
    saddle = fps.kind.index("saddle")
    assert abs(out[saddle]) < 0.1  # between the memories
    memories = sorted(out[k].item() for k in range(len(fps)) if k != saddle)
    assert memories[0] < -0.5 and memories[1] > 0.5
    mod = fps.eigenvalues.abs()
    assert int((mod[saddle] > 1).sum()) == 1  # one unstable direction
    assert all(bool((mod[k] < 1).all()) for k in range(len(fps)) if k != saddle)


def test_gru_verdicts_hold_when_it_runs(ns):
    fps, gru = ns["fps"], ns["gru"]
    gen = torch.Generator().manual_seed(0)  # other directions than the page's
    with torch.no_grad():
        for k in range(len(fps)):
            kick = torch.randn(32, generator=gen, dtype=F64)
            hs, _ = gru(torch.zeros(1000, 1, 1, dtype=F64), (fps.points[k] + 1e-3 * kick / kick.norm())[None, None])
            moved = (hs[-1, 0] - fps.points[k]).norm().item()
            assert (moved < 1e-4) if fps.kind[k].startswith("stable") else (moved > 0.5)


# ----------------------------------------------------------------------------- 2. the stability rule
def test_one_unit_rnn_is_unstable_as_the_map_it_runs(ns):
    a = brentq(lambda x: x - math.tanh(1.5 * x), 0.1, 1.0)  # the 2-cycle ±a
    assert round(a, 4) == 0.8586
    h = ns["h"]  # 100 steps of the RNN from 0.01
    assert abs(abs(h[-1].item()) - a) < 1e-6 and h[-1].item() * h[-2].item() < 0
    for fps in (ns["fps_rnn"], ns["fps_map"]):
        assert fps.time == "discrete" and fps.kind == ["unstable node"] and not bool(fps.stable[0])
        assert abs(fps.points[0, 0].item()) < 1e-6
        assert fps.eigenvalues[0, 0].real.item() == pytest.approx(-1.5, abs=1e-6)
    ode = ns["fps_ode"]
    assert ode.time == "continuous" and ode.kind == ["stable node"]
    assert ode.eigenvalues[0, 0].real.item() == pytest.approx(-2.5, abs=1e-6)  # μ = 1 + dt·λ, dt = 1
    messages = [str(w.message) for w in ns["caught"]]
    assert len(messages) == 2
    assert messages[0].startswith("1 of 1 fixed points are unstable as the discrete-time system")
    assert messages[1].startswith("1 of 1 fixed points are stable as the continuous-time system")


def test_default_time_and_mu_equals_one_plus_dt_lambda(ns):
    assert tr.systems.as_system(ns["net"]).time == "discrete"  # dt/τ = 1
    assert tr.systems.as_system(ns["leaky"]).time == "continuous"  # dt/τ = 0.1
    v0 = torch.zeros(1)
    lam = tr.analysis.jacobian(ns["leaky"], v0).item()
    mu = tr.analysis.jacobian(ns["leaky"], v0, time="discrete").item()
    assert lam == pytest.approx((-1 - 1.5) / 10, abs=1e-7) and mu == pytest.approx(1 + 1.0 * lam, abs=1e-7)


# ----------------------------------------------------------------------------- 3. line and ring
def test_integrator_is_one_attracting_line(ns):
    fps = ns["fps_line"]
    assert len(fps) == 0 and len(fps.manifolds) == 1
    line = fps.manifolds[0]
    assert line.dimension == 1 and not line.closed and line.stable_transverse and line.count == 64
    assert (line.points[:, 0] - line.points[:, 1]).abs().max() < 1e-12
    torch.testing.assert_close(
        line.eigenvalues.real, torch.tensor([0.0, -0.1], dtype=F64).expand(64, -1), rtol=0, atol=1e-12
    )


def test_ring_is_one_closed_attracting_ring_of_the_closed_form(ns):
    fps, theta = ns["fps_ring"], ns["theta"]
    N = theta.shape[0]
    assert len(fps) == 0 and len(fps.manifolds) == 1
    ring = fps.manifolds[0]
    assert ring.dimension == 1 and ring.closed and ring.stable_transverse
    # the page says 98 of 100; a search that places all 100 would only improve on it
    assert 95 <= ring.count <= 100 and ring.points.shape[0] == ring.count
    c = torch.cos(theta).tolist()
    r = brentq(lambda x: x - 3 / N * sum(math.tanh(x * ci) * ci for ci in c), 0.5, 3.0, xtol=1e-15)
    assert abs(ns["r"] - r) < 1e-10
    kc, ks = ns["kc"], ns["ks"]
    assert ((kc**2 + ks**2).sqrt() - r).abs().max() < 1e-10
    bumps = torch.tanh(r * torch.cos(theta - torch.atan2(ks, kc)[:, None]))
    assert (ring.points - bumps).abs().max() < 1e-10
    lam = ring.eigenvalues.real
    assert lam[:, 0].abs().max() < 1e-10  # along the ring
    assert (lam[:, 1] < -0.05).all() and lam[:, 1].sub(-0.0582).abs().max() < 1e-4  # the bump's amplitude


# ----------------------------------------------------------------------------- 4. input Jacobians
def test_gru_input_jacobians_and_selection_at_the_saddle(ns):
    fps, gru, readout = ns["fps"], ns["gru"], ns["readout"]
    assert fps.input_jacobians.shape == (3, 32, 1)
    u0 = torch.zeros(1, dtype=F64)
    assert (tr.analysis.input_jacobian(gru, fps.points, u0) - fps.input_jacobians).abs().max() < 1e-14
    R, L = fps.right_eigenvectors, fps.left_eigenvectors
    eye = torch.eye(32, dtype=R.dtype).expand_as(R)
    assert (L @ R - eye).abs().max() < 1e-9
    k = fps.kind.index("saddle")
    r, l = R[k, :, 0], L[k, 0]
    per_input = ((readout.weight.detach()[0].to(r.dtype) @ r) * (l @ fps.input_jacobians[k].to(l.dtype))).real
    with torch.no_grad():
        ends = []
        for pulse in (+0.01, -0.01):
            x = torch.zeros(500, 1, 1, dtype=F64)
            x[0] = pulse
            hs, _ = gru(x, fps.points[k][None, None])
            ends.append(readout(hs[-1, 0]).item())
    # the sign the selection vector predicts, and each pulse ends at a memory (|readout| > 0.5)
    assert ends[0] * per_input.item() > 0 and ends[1] * per_input.item() < 0
    assert min(abs(e) for e in ends) > 0.5


def test_leaky_integrator_selection_vector(ns):
    eps, fps = ns["eps"], ns["fps_li"]
    assert fps.kind == ["stable node"] and fps.points.abs().max() < 1e-12
    torch.testing.assert_close(fps.eigenvalues[0].real, torch.tensor([-eps / 10, -0.1], dtype=F64), rtol=0, atol=1e-15)
    r, l = ns["r_slow"], ns["l_slow"]
    selection = l @ fps.input_jacobians[0]
    assert abs(selection[0].item()) < 1e-15 and abs(selection[1].item()) > 0.1
    torch.testing.assert_close(
        torch.outer(r, l), torch.tensor([[0.0, 1 / (1 - eps)], [0.0, 1.0]], dtype=F64), rtol=0, atol=1e-12
    )
    # the last run of the block (pulse to unit 2), against the Euler map in closed form:
    # v2 gains dt/τ per step and decays by a = 1 − dt·ε/τ; 10 steps of pulse, then 290 without
    a = 1 - eps / 10
    v2 = 0.1 * (1 - a**10) / (1 - a) * a**290
    rates = ns["rates"]
    assert rates[-1, 1].item() == pytest.approx(v2, rel=1e-12)
    assert (rates[-1, 0] / rates[-1, 1]).item() == pytest.approx(1 / (1 - eps), rel=1e-9)
    with torch.no_grad():
        pulse = torch.zeros(300, 2, dtype=F64)
        pulse[:10, 0] = 1.0
        forgotten, _ = ns["leaky_integrator"](pulse)
    assert forgotten[-1].abs().max() < 1e-10


# ----------------------------------------------------------------------------- 5. your own system
def test_own_map_and_flow(ns):
    fm, ff, om, of, N = ns["fps_step"], ns["fps_flow"], ns["om"], ns["of"], ns["N"]
    W, B, u = ns["W"], ns["B"], ns["u"]
    assert fm.time == "discrete" and ff.time == "continuous" and len(fm) == len(ff) == 3
    assert (fm.points[om] - ff.points[of]).abs().max() < 1e-12
    assert (torch.tanh(fm.points @ W.T + u @ B.T) - fm.points).abs().max() < 1e-13
    assert (ns["Jm"] - torch.eye(N, dtype=F64) - ns["Jf"]).abs().max() < 1e-15
    assert [fm.kind[i] for i in om] == ["saddle", "stable spiral", "saddle"]
    assert [ff.kind[j] for j in of] == ["stable spiral", "stable spiral", "saddle"]
    # the first point: a flip (μ < −1) for the map, fast and stable (λ = μ − 1) for the flow
    mu = fm.eigenvalues[om[0]]
    assert mu.real.min().item() == pytest.approx(-1.921, abs=5e-4)
    assert bool(ff.stable[of[0]])
