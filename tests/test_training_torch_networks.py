"""torch.nn.RNN / GRU / LSTM in TaskModule's network slot: training (module and CLI), the end-of-fit
analysis of their maps (verdicts checked by iterating the torch module itself), checkpoints and the
options that need a torchrate network."""

import json
import math
import os

import lightning as L
import pytest
import torch

import torchrate as tr
from torchrate.cli import main
from torchrate.tasks import FlipFlop
from torchrate.training import AnalysisCallback, TaskDataModule, TaskModule, analyze, export_weights, load_checkpoint

KINDS = {
    "rnn_tanh": ("torch.nn.RNN", {"nonlinearity": "tanh"}),
    "rnn_relu": ("torch.nn.RNN", {"nonlinearity": "relu"}),
    "gru": ("torch.nn.GRU", {}),
    "lstm": ("torch.nn.LSTM", {}),
}
TASK = FlipFlop(n_bits=2, dt=10.0, duration=100.0, pulse_rate=0.02)


def spec(kind: str, hidden_size: int = 8, **kw) -> dict:
    path, extra = KINDS[kind]
    return {"class_path": path, "init_args": {"hidden_size": hidden_size, **extra, **kw}}


@pytest.fixture(autouse=True)
def _restore_threads():
    threads = torch.get_num_threads()  # the CLI configs set threads: 1 (process-wide)
    yield
    torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- the module
@pytest.mark.parametrize("kind", KINDS)
def test_outputs_read_the_hidden_state_of_the_torch_network(kind):
    module = TaskModule(TASK, spec(kind), network_seed=1)
    inputs = torch.randn(10, 4, 2)
    outputs, rates = module(inputs)
    assert outputs.shape == (10, 4, 2) and rates.shape == (10, 4, 8)
    h, _ = module.network(inputs)  # an LSTM's output is h (c is its second state)
    torch.testing.assert_close(rates, h, rtol=0, atol=0)
    torch.testing.assert_close(outputs, module.readout(h), rtol=0, atol=0)
    assert module.is_torch_rnn and module.network.input_size == TASK.input_size


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_batch_first_networks_run_time_first_inside_the_module(kind):
    inputs = torch.randn(10, 4, 2)
    a = TaskModule(TASK, spec(kind), network_seed=3)
    b = TaskModule(TASK, spec(kind, batch_first=True), network_seed=3)
    torch.testing.assert_close(b(inputs), a(inputs), rtol=0, atol=0)


def test_network_seed_draws_torchs_initialisation_from_its_own_generator():
    a, b, c = (TaskModule(TASK, spec("gru", 16), network_seed=s) for s in (5, 5, 6))
    state = torch.get_rng_state()
    for (name, p), q, r in zip(a.network.named_parameters(), b.network.parameters(), c.network.parameters()):
        assert torch.equal(p, q) and not torch.equal(p, r), name
        assert p.abs().max() <= 1 / math.sqrt(16)  # U(−1/√H, 1/√H), torch's own bound
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("kind", KINDS)
def test_loss_decreases_on_a_short_run(kind):
    module = TaskModule(TASK, spec(kind, 16), network_seed=0, lr=2e-2)
    g = torch.Generator().manual_seed(0)
    held_out = TASK.sample(64, generator=g)[:3]
    optimizer = module.configure_optimizers()

    def loss():
        with torch.no_grad():
            outputs, rates = module(held_out[0])
            return float(module.loss(outputs, rates, held_out[1], held_out[2])[1])

    before = loss()
    for _ in range(40):
        inputs, targets, mask = TASK.sample(32, generator=g)[:3]
        outputs, rates = module(inputs)
        optimizer.zero_grad()
        module.loss(outputs, rates, targets, mask)[0].backward()
        optimizer.step()
    # 40 Adam steps at lr 0.02 take a 16-unit network from chance (MSE ≈ 1, targets ±1) well below it
    assert loss() < 0.7 * before


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"ensemble": 2}, r"ensemble=2 needs a torchrate network .* got a torch.nn.GRU"),
        ({"readout": "excitatory"}, r"readout='excitatory' needs an EIRateRNN .*got a GRU"),
        ({"masks": {"network.bias_l0": True}}, r"masks names 'network.bias_l0', .*network GRU.*network.bias_ih_l0"),
        ({"fixed": {"network.M": True}}, r"fixed names 'network.M', which is not a weight of this module"),
    ],
)
def test_options_for_torchrate_networks_are_refused_naming_option_and_class(kw, match):
    with pytest.raises(ValueError, match=match):
        TaskModule(TASK, spec("gru"), **kw)


@pytest.mark.parametrize(
    "init_args, match",
    [
        ({"num_layers": 2}, r"network torch.nn.LSTM with num_layers=2: .* set init_args num_layers: 1"),
        ({"bidirectional": True}, r"with bidirectional=True: .* set init_args bidirectional: false"),
        ({"proj_size": 2}, r"with proj_size=2: .* set init_args proj_size: 0"),
    ],
)
def test_stacked_bidirectional_or_projected_networks_are_refused(init_args, match):
    with pytest.raises(ValueError, match=match):
        TaskModule(TASK, spec("lstm", **init_args))


def test_other_torch_modules_are_refused():
    with pytest.raises(TypeError, match=r"'torch.nn.Linear' is not a torchrate.networks.RateRNN or .*GRU"):
        TaskModule(TASK, {"class_path": "torch.nn.Linear", "init_args": {"out_features": 4}})


def test_export_weights_refuses_a_torch_network(tmp_path):
    module = TaskModule(TASK, spec("gru"))
    with pytest.raises(ValueError, match=r"export_weights writes a torchrate rate network.*torch.nn.GRU"):
        export_weights(module, tmp_path / "w.npz")


@pytest.mark.parametrize("kind", ["rnn_tanh", "gru"])
def test_masks_and_fixed_name_the_torch_networks_parameters(kind):
    H = 8
    rows = {"rnn_tanh": H, "gru": 3 * H}[kind]  # gates stacked: (G·H, H)
    mask = torch.rand(rows, H, generator=torch.Generator().manual_seed(0)) > 0.5
    module = TaskModule(
        TASK, spec(kind), network_seed=0, masks={"network.weight_hh_l0": mask}, fixed={"network.bias_ih_l0": True}
    )
    bias = module.network.bias_ih_l0.detach().clone()
    optimizer = torch.optim.Adam(module.parameters(), lr=0.1)
    inputs, targets, mask_t = TASK.sample(8, generator=torch.Generator().manual_seed(1))
    for _ in range(3):
        outputs, rates = module(inputs)
        optimizer.zero_grad()
        module.loss(outputs, rates, targets, mask_t)[0].backward()
        optimizer.step()
    assert torch.all(module.network.weight_hh_l0[~mask] == 0)
    assert torch.equal(module.network.bias_ih_l0, bias)
    # the forward uses the constrained weights: a plain torch network with them gives the same rates
    path = KINDS[kind][0].rsplit(".", 1)[1]
    plain = getattr(torch.nn, path)(2, H, **KINDS[kind][1])
    with torch.no_grad():
        for name, p in plain.named_parameters():
            p.copy_(getattr(module.network, name))
    torch.testing.assert_close(module(inputs)[1], plain(inputs)[0])


# ----------------------------------------------------------------------------- the analysis of the map
def _bistable(kind: str) -> TaskModule:
    """Two independent bistable units (inputs drive unit i with weight 2):
    RNN h ← tanh(2h); GRU h ← (h + tanh(2h)) / 2 (z = ½, r ≈ 1); LSTM c ← tanh(2h), h ← tanh(c)
    (f ≈ 0, i = o ≈ 1). Per unit the map has 3 fixed points, 0 unstable and ±a stable; the plane 9:
    4 stable nodes, 4 saddles and the origin, an unstable node (an LSTM's: a saddle, its c directions
    contract with μ = f ≈ 0)."""
    module = TaskModule(TASK, spec(kind, 2), network_seed=0)
    net, eye = module.network, torch.eye(2)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        if kind == "rnn_tanh":
            net.weight_hh_l0.copy_(2 * eye)
            net.weight_ih_l0.copy_(2 * eye)
        elif kind == "gru":  # gates (r, z, n)
            net.bias_ih_l0[:2].fill_(20.0)  # r = σ(20) ≈ 1; z = σ(0) = ½
            net.weight_hh_l0[4:].copy_(2 * eye)
            net.weight_ih_l0[4:].copy_(2 * eye)
        else:  # gates (i, f, g, o)
            net.bias_ih_l0.copy_(torch.tensor([20.0, 20.0, -20.0, -20.0, 0.0, 0.0, 20.0, 20.0]))
            net.weight_hh_l0[4:6].copy_(2 * eye)
            net.weight_ih_l0[4:6].copy_(2 * eye)
    return module


def _iterate(net, state: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` steps of the torch module itself at zero input from the state (S,) — h, or an LSTM's (h, c)."""
    H = net.hidden_size
    zeros = torch.zeros(steps, 1, net.input_size, dtype=state.dtype)
    with torch.no_grad():
        if isinstance(net, torch.nn.LSTM):
            _, (h, c) = net(zeros, (state[:H].reshape(1, 1, H), state[H:].reshape(1, 1, H)))
            return torch.cat([h.reshape(H), c.reshape(H)])
        _, h = net(zeros, state.reshape(1, 1, H))
        return h.reshape(H)


@pytest.mark.parametrize("kind", ["rnn_tanh", "gru", "lstm"])
def test_fixed_points_of_the_map_and_their_verdicts_agree_with_iterating_the_cell(kind, tmp_path):
    module = _bistable(kind)
    summary = analyze(module, tmp_path, n_trials=64, n_initial=256)
    fp = summary["fixed_points"]
    assert fp["time"] == "discrete" and fp["stability"].startswith("|μ| < 1")
    assert fp["state"] == ("(h, c)" if kind == "lstm" else "rates")
    assert fp["count"] == sum(fp["by_kind"].values()) and fp["max_residual"] < 1e-20
    # the trials' pulses visit the four stable corners: each is found, and judged stable
    assert fp["stable"] == 4 and fp["by_kind"].get("stable node") == 4
    # every point the analysis can find, from around all 9, judged as iterating the torch module says
    net = module.network.double()
    a = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)
    grid = torch.cartesian_prod(a, a)
    starts = torch.cat([grid, torch.tanh(2 * grid)], -1) if kind == "lstm" else grid
    fps = tr.analysis.find_fixed_points(net, torch.zeros(2, dtype=torch.float64), 0.9 * starts)
    assert len(fps) == 9 and int(fps.stable.sum()) == 4 and fps.kind.count("saddle") == (5 if kind == "lstm" else 4)
    g = torch.Generator().manual_seed(0)
    for point, stable in zip(fps.points, fps.stable.tolist()):
        # a fixed point of torch's own forward, not only of the systems core's map
        torch.testing.assert_close(_iterate(net, point, 1), point, rtol=0, atol=1e-12)
        kick = 1e-6 * torch.randn(point.shape, generator=g, dtype=torch.float64)
        after = (_iterate(net, point + kick, 200) - point).norm()
        # |μ| ≤ 0.8 at the stable nodes: 200 steps shrink the kick below 1e-19 (float64: ~1e-16);
        # every unstable point has a |μ| ≥ 1.5 direction: the kick leaves (to a distance ~1)
        assert (after < 1e-12) if stable else (after > 1e-2), (point, stable, after)


@pytest.mark.parametrize("kind", ["rnn_relu", "gru", "lstm"])
def test_fit_then_checkpoint_round_trips_with_identical_outputs(kind, tmp_path):
    module = TaskModule(TASK, spec(kind), network_seed=0)
    data = TaskDataModule(TASK, batch_size=8, train_batches=3, val_trials=16, test_trials=16, seed=0)
    trainer = L.Trainer(
        default_root_dir=tmp_path,
        max_steps=5,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[AnalysisCallback(n_trials=32)],
    )
    trainer.fit(module, data)
    summary = json.loads((tmp_path / "analysis" / "summary.json").read_text())
    assert summary["fixed_points"]["time"] == "discrete" and summary["network"]["class_path"] == KINDS[kind][0]
    ckpt = next((tmp_path / "checkpoints").glob("*.ckpt"))
    loaded, checkpoint = load_checkpoint(ckpt)
    assert type(loaded.network) is type(module.network) and checkpoint["hyper_parameters"]["network"] == spec(kind)
    inputs = torch.randn(12, 3, 2)
    module.eval()
    torch.testing.assert_close(loaded(inputs), module(inputs), rtol=0, atol=0)
    assert torch.load(ckpt, weights_only=True)["hyper_parameters"]["network"]["class_path"] == KINDS[kind][0]


# ----------------------------------------------------------------------------- the command line
CONFIG = """
seed_everything: 0
threads: 1
trainer:
  default_root_dir: {root}
  max_epochs: 1
  accelerator: cpu
  devices: 1
  enable_progress_bar: false
  enable_model_summary: false
model:
  network:
    class_path: {path}
    init_args: {{hidden_size: 8{extra}}}
data:
  task:
    class_path: torchrate.tasks.FlipFlop
    init_args: {{n_bits: 2, dt: 10.0, duration: 100.0, pulse_rate: 0.02}}
  batch_size: 16
  train_batches: 4
  val_trials: 32
  test_trials: 32
"""


@pytest.mark.parametrize("kind", ["rnn_tanh", "gru", "lstm"])
def test_torchrate_fit_trains_and_analyses_a_torch_network(kind, tmp_path, capsys):
    path, extra = KINDS[kind]
    config = tmp_path / "c.yaml"
    extra = "".join(f", {k}: {v}" for k, v in extra.items())
    config.write_text(CONFIG.format(root=tmp_path / "run", path=path, extra=extra))
    main(["fit", "--config", str(config), "--trainer.max_steps", "3"])
    assert "fixed points at u = 0:" in capsys.readouterr().out
    summary = json.loads((tmp_path / "run" / "analysis" / "summary.json").read_text())
    assert summary["global_step"] == 3 and summary["fixed_points"]["time"] == "discrete"
    assert summary["network"]["class_path"] == path and summary["network"]["init_args"]["hidden_size"] == 8
    module, _ = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert isinstance(module.network, getattr(torch.nn, path.rsplit(".", 1)[1])) and module.network.input_size == 2
    # torchrate analyze on the checkpoint reproduces the end-of-fit analysis
    assert main(["analyze", str(tmp_path / "run" / "checkpoints" / "last.ckpt"), "--out", str(tmp_path / "a")]) == 0
    again = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert again["fixed_points"] == summary["fixed_points"] and again["metrics"] == summary["metrics"]
    assert (again["epochs"], again["global_step"]) == (summary["epochs"], summary["global_step"])  # was one epoch fewer


def test_bifurcation_entry_reads_an_lstms_choices_from_h():
    """The readout reads h, the first half of an LSTM's state (h, c): every stable point and fold of
    the bifurcation entry gets a choice (it got none when the readout's width had to equal the state's)."""
    from torchrate.training.report import _bifurcation, _bifurcation_figure

    net = _bistable("lstm").network.double()  # unit i: c ← tanh(2h_i + 2u_i), h ← tanh(c)
    readout = torch.nn.Linear(2, 2).double()
    with torch.no_grad():  # choice 0 where h_0 > 0, choice 1 where h_0 < 0
        readout.weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
        readout.bias.zero_()
    a = torch.tensor([-1.0, 1.0], dtype=torch.float64)
    grid = torch.cartesian_prod(a, a)
    starts = 0.9 * torch.cat([grid, torch.tanh(2 * grid)], -1)  # near the four stable corners

    def evidence(c: float) -> torch.Tensor:  # drives unit 0 only
        return torch.tensor([c, 0.0], dtype=torch.float64)

    bif, entry = _bifurcation(net, evidence, starts, readout, n_values=41)
    at_zero = entry["at_zero_coherence"]
    assert at_zero["stable"] == 4 and at_zero["stable_choices"] == [0, 0, 1, 1]
    # unit 0's bistability ends at c = ±c*: the attractors of the choice against the evidence go
    folds = entry["folds"]
    assert len(folds) >= 2 and all(f["choice"] in (0, 1) for f in folds)
    lo, hi = min(f["coherence"] for f in folds), max(f["coherence"] for f in folds)
    assert lo < 0 < hi and entry["choice_attractor_disappears_at"].keys() == {"0", "1"}
    # closed form (gates i = o = 1, f = 0 to 2e-9): h = tanh(tanh(2h + 2c)) holds on the curve
    # c(h) = atanh(atanh(h))/2 − h, whose extrema are the folds
    h = torch.linspace(1e-6, math.tanh(1.0) - 1e-9, 2_000_001, dtype=torch.float64)
    c_star = (torch.atanh(torch.atanh(h)) / 2 - h).min().abs().item()
    assert hi == pytest.approx(c_star, abs=1e-7) and lo == pytest.approx(-c_star, abs=1e-7)
    fig = _bifurcation_figure(bif, readout)
    try:
        assert fig.axes[0].get_ylabel() == "readout: choice 0 − choice 1"  # the axis, zero on c
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_spectrum_figure_of_a_map_marks_stability_by_the_unit_circle(tmp_path, monkeypatch):
    """spectrum.png of a torch.nn network: the multipliers μ of its map at 0 are stable where |μ| < 1.
    μ = −1.5 (|μ| > 1, Re μ < 1) was drawn as "stable" — by the line Re λ = 1 of a flow's M — while
    summary.json said linear_stable False."""
    from matplotlib.figure import Figure

    module = TaskModule(TASK, spec("rnn_tanh", 2), network_seed=0)
    with torch.no_grad():
        for p in module.network.parameters():
            p.zero_()
        module.network.weight_hh_l0.copy_(torch.diag(torch.tensor([-1.5, 0.5])))  # ∂F/∂v at 0 = M
    saved: dict[str, Figure] = {}
    monkeypatch.setattr(Figure, "savefig", lambda fig, path, **kwargs: saved.__setitem__(os.path.basename(path), fig))
    summary = analyze(module, tmp_path, n_trials=8, n_initial=8, progress=False)
    assert summary["spectrum"]["spectral_radius"] == pytest.approx(1.5) and not summary["spectrum"]["linear_stable"]
    drawn = {c.get_label(): c.get_offsets().tolist() for c in saved["spectrum.png"].axes[0].collections}
    assert drawn["stable"] == [[0.5, 0.0]] and drawn["unstable"] == [[-1.5, 0.0]]
