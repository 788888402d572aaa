"""tr.plotting: each figure draws what it is given (checked on the artists) and returns the Figure."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import torchrate as tr  # noqa: E402

F64 = torch.float64


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def ei_pair(tau_i):
    return tr.EIRateRNN.from_weights(
        torch.tensor([[1.25, -1.0], [1.0, 0.0]], dtype=F64),
        n_exc=1,
        tau_e=10.0,
        tau_i=tau_i,
        b=torch.tensor([10.0, -10.0], dtype=F64),
        dt=0.5,
    )


def test_plot_spectrum_of_M_and_J():
    M = torch.tensor([[0.5, 2.0], [-2.0, 0.5]], dtype=F64)  # λ = 0.5 ± 2i
    fig = tr.plotting.plot_spectrum(tr.analysis.spectrum(M))
    ax = fig.axes[0]
    assert isinstance(fig, matplotlib.figure.Figure)
    assert ax.lines[0].get_xdata()[0] == 1.0  # the Re λ = 1 line
    stable = ax.collections[0].get_offsets()
    np.testing.assert_allclose(np.sort(stable[:, 1]), [-2.0, 2.0], rtol=1e-14)
    np.testing.assert_allclose(stable[:, 0], [0.5, 0.5], rtol=1e-14)
    fps = tr.analysis.find_fixed_points(
        ei_pair(50.0), torch.zeros(2, dtype=F64), torch.tensor([[20.0, 10.0]], dtype=F64)
    )
    _, ax2 = plt.subplots()
    fig2 = tr.plotting.plot_spectrum(fps, ax2)
    assert fig2 is ax2.figure and ax2.lines[0].get_xdata()[0] == 0.0
    assert len(ax2.collections[1].get_offsets()) == 2  # unstable spiral: both Re λ > 0


def test_plot_into_a_subfigure_returns_the_root_figure():
    # mypy found it: Axes.figure is a SubFigure for an Axes in one, which cannot be saved; the
    # module promises "returns the Figure"
    root = matplotlib.figure.Figure()
    ax = root.subfigures(1, 2)[1].add_subplot()
    M = torch.tensor([[0.5, 2.0], [-2.0, 0.5]], dtype=F64)
    fig = tr.plotting.plot_spectrum(tr.analysis.spectrum(M), ax)
    assert fig is root and ax.collections  # drawn into the given Axes, the savable root returned


def test_plot_phase_plane_and_sweep():
    pp = tr.analysis.phase_plane(
        ei_pair(50.0),
        torch.zeros(2, dtype=F64),
        (0, 60),
        (0, 40),
        n=8,
        initial_states=torch.tensor([[30.0, 20.0]], dtype=F64),
        duration=500.0,
    )
    fig = tr.plotting.plot_phase_plane(pp)
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert "$v_1$" in fig.axes[0].get_xlabel() and "trajectory" in labels
    assert sum(label.startswith("d") for label in labels) == 2  # the two nullclines
    marker = fig.axes[0].collections[-1].get_offsets()
    np.testing.assert_allclose(marker[0], [80 / 3, 50 / 3], rtol=1e-13)
    sw = tr.analysis.sweep(
        ei_pair,
        torch.arange(20.0, 61.0, 10.0),
        torch.zeros(2, dtype=F64),
        initial_states=torch.tensor([[20.0, 10.0]], dtype=F64),
    )
    fig = tr.plotting.plot_sweep(sw, parameter="τ_I (ms)")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "τ_I (ms)"
    hopf = [line for line in ax.lines if line.get_label().startswith("Hopf")]
    assert len(hopf) == 1 and hopf[0].get_xdata()[0] == pytest.approx(40.0, abs=1e-9)


def test_plot_sweep_of_a_map_draws_the_multipliers_against_the_unit_circle():
    """v' = tanh(g v) (an nn.RNN, one unit, no bias): the fixed point 0 has μ = g, stable for |g| < 1;
    a map's plot draws |μ| with the boundary at 1, not Re λ against 0 in 1/ms."""

    def rnn(g):
        net = torch.nn.RNN(1, 1, bias=False, dtype=F64)
        with torch.no_grad():
            net.weight_hh_l0.fill_(g)
            net.weight_ih_l0.zero_()
        return net

    values = torch.tensor([-0.9, -0.3, 0.2, 0.6], dtype=F64)
    sw = tr.analysis.sweep(rnn, values, torch.zeros(1, dtype=F64), initial_states=torch.zeros(1, 1, dtype=F64))
    assert sw.time == "discrete" and sw.stable.all()
    torch.testing.assert_close(sw.eigenvalues[:, 0].real, values, rtol=0, atol=1e-12)
    ax = tr.plotting.plot_sweep(sw).axes[0]
    (curve,) = [line for line in ax.lines if line.get_label() == "|μ1|"]
    np.testing.assert_allclose(curve.get_ydata(), values.abs().numpy(), rtol=0, atol=1e-12)
    boundary = [line for line in ax.lines if line.get_label().startswith("_") and len(set(line.get_ydata())) == 1]
    assert [line.get_ydata()[0] for line in boundary] == [1]
    assert "μ" in ax.get_ylabel() and "1/ms" not in ax.get_ylabel()


def test_plot_fixed_points_in_pca_space():
    M = torch.tensor([[0.0, 2.0], [2.0, 0.0]], dtype=F64)
    net = tr.RateRNN.from_weights(M, tau=10.0, dt=1.0, nonlinearity="tanh")
    rates, _ = net(
        torch.zeros(200, 6, 2, dtype=F64), torch.randn(1, 6, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    )
    init = tr.analysis.sample_states(rates[:20], 64, 0.3, generator=torch.Generator().manual_seed(1))
    fps = tr.analysis.find_fixed_points(net, None, init)
    fig = tr.plotting.plot_fixed_points(fps, rates)
    ax = fig.axes[0]
    assert len(ax.lines) == 6 and ax.get_title() == "3 fixed points"
    # PCA is an isometry on the plane here (N = 2): distances between points are kept
    shown = np.concatenate([c.get_offsets() for c in ax.collections])
    d_shown = np.sort(np.linalg.norm(shown[:, None] - shown[None], axis=-1).ravel())
    pts = fps.points.numpy()
    d_true = np.sort(np.linalg.norm(pts[:, None] - pts[None], axis=-1).ravel())
    np.testing.assert_allclose(d_shown, d_true, rtol=1e-12, atol=1e-12)
