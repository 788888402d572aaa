"""``torchrate sweep`` and the population analysis of trained networks.

* :func:`tr.training.analyze_population` (no Ray): a network compared with its own copy is at
  distance 0 in every measure and shares its topology; matrices are symmetric with a zero
  diagonal; two seeds differ.
* A 4-trial sweep on a local Ray instance (skipped only without the ``sweep`` extra; CI installs
  it): two trials train, two fail (hidden_size 0) and are reported with their error, the table
  and the analysis are written; ``--resume`` keeps the finished trials; a second start of the
  same sweep, or a resume with another file, is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import yaml

import torchrate as tr
from torchrate.cli import main
from torchrate.training import sweep as sw

ROOT = Path(__file__).resolve().parents[1]
FIT = {
    "seed_everything": 0,
    "threads": 1,
    "trainer": {
        "max_epochs": 1,
        "accelerator": "cpu",
        "devices": 1,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    },
    "model": {
        "network": {"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": 6, "tau": 20.0, "dt": 10.0}},
        "lr": 0.02,
    },
    "data": {
        "task": {
            "class_path": "torchrate.tasks.FlipFlop",
            "init_args": {"n_bits": 1, "dt": 10.0, "duration": 100.0, "pulse_rate": 0.02},
        },
        "batch_size": 16,
        "train_batches": 4,
        "val_trials": 16,
        "test_trials": 16,
    },
}


@pytest.fixture(autouse=True)
def _restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _fit(tmp_path: Path, seed: int, network: dict | None = None) -> Path:
    name = f"run{seed}" if network is None else f"{network['class_path'].rsplit('.', 1)[-1]}{seed}"
    config = sw.trial_config(
        FIT, {"seed_everything": seed} | ({"model.network": network} if network else {}), tmp_path / name
    )
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    main(["fit", "--config", str(path)])
    return tmp_path / name / "checkpoints" / "last.ckpt"


# ---------------------------------------------------------------------- the population analysis
@pytest.fixture(scope="module")
def population(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("population")
    threads = torch.get_num_threads()
    a, b = _fit(tmp, 0), _fit(tmp, 1)
    torch.set_num_threads(1)
    try:
        summary = tr.training.analyze_population(
            [a, b, a], tmp / "out", names=["a", "b", "a_again"], labels=[{"seed": 0}, {"seed": 1}, {"seed": 0}]
        )
    finally:
        torch.set_num_threads(threads)
    return summary, tmp / "out"


def test_a_network_and_its_copy_are_at_distance_zero(population):
    summary, _ = population
    for measure in ("cca", "procrustes", "dsa"):
        D = torch.tensor(summary["distances"][measure])
        assert torch.equal(D, D.T) and torch.all(D.diagonal() == 0), measure
        # the same rates: CCA and Procrustes exact to rounding (arccos near 1 loses half the digits:
        # sqrt(2·1e-16) ≈ 1.5e-8); DSA's optimiser starts at C = I, whose angle is 0
        assert D[0, 2] < {"cca": 1e-9, "procrustes": 1e-6, "dsa": 1e-5}[measure], (measure, D)
        assert D[0, 1] > 1e-3 and abs(D[0, 1] - D[2, 1]) < 1e-5, (measure, D)  # two seeds differ, alike to both copies
    E = torch.tensor(summary["mds"]["procrustes"])
    assert torch.linalg.vector_norm(E[0] - E[2]) < 1e-3 * torch.linalg.vector_norm(E[0] - E[1])


def test_a_network_and_its_copy_share_their_topology(population):
    summary, _ = population
    nets = summary["topology"]["networks"]
    assert nets[0] == nets[2]
    assert any({"a", "a_again"} <= set(group) for group in summary["topology"]["groups"])
    assert summary["topology"]["agree"] == (nets[0]["signature"] == nets[1]["signature"])
    assert sum(nets[0]["counts"].values()) >= 1  # a trained network has at least one fixed point at u = 0


def test_population_files_are_written(population):
    summary, out = population
    for name in summary["files"]:
        assert (out / name).stat().st_size > 0, name
    text = (out / "population.md").read_text()
    assert "3 networks on the same 64 held-out trials" in text and "| a_again | 0 |" in text
    rows = (out / "procrustes.csv").read_text().splitlines()
    assert rows[0] == ",a,b,a_again" and len(rows) == 4


def test_a_population_of_three_architectures(tmp_path, population):
    """RateRNN, GRU and LSTM compared on the same trials: an LSTM's fixed points are searched in
    its own state (h, c), started from its trajectories (not from its rates alone)."""
    gru = _fit(tmp_path, 0, {"class_path": "torch.nn.GRU", "init_args": {"hidden_size": 6}})
    lstm = _fit(tmp_path, 0, {"class_path": "torch.nn.LSTM", "init_args": {"hidden_size": 6}})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        summary = tr.training.analyze_population(
            [population[1].parent / "run0" / "checkpoints" / "last.ckpt", gru, lstm],
            tmp_path / "out",
            names=["rate", "gru", "lstm"],
            n_trials=16,
        )
    finally:
        torch.set_num_threads(threads)
    nets = summary["topology"]["networks"]
    assert [sum(n["counts"].values()) >= 1 for n in nets] == [True] * 3, nets
    for measure in ("cca", "procrustes", "dsa"):
        D = torch.tensor(summary["distances"][measure])
        assert D.shape == (3, 3) and torch.equal(D, D.T) and torch.all(D.diagonal() == 0), measure
    assert summary["separation"] is None  # no labels, nothing to group by


def test_separation_of_groups_on_a_hand_built_matrix():
    """Two groups {0, 1, 2} and {3, 4} at distance 1 inside, 3 between, except networks 2
    and 3 are at 0.5, each the other's nearest: within 1, 3 of 5 nearest in their own group; a
    lone member (5) counts in 'between' only."""
    from torchrate.training.population import _separation

    D = torch.full((6, 6), 3.0, dtype=torch.float64)
    for group in ([0, 1, 2], [3, 4]):
        for i in group:
            for j in group:
                D[i, j] = 1.0
    D[2, 3] = D[3, 2] = 0.5
    D.fill_diagonal_(0)
    sep = _separation(D, ["a", "a", "a", "b", "b", "c"])
    assert sep["within"] == 1.0 and sep["of"] == 5 and sep["nearest_in_group"] == 3
    between = D[torch.tensor([[x != y for y in "aaabbc"] for x in "aaabbc"])]
    assert sep["between"] == pytest.approx(float(between.mean()))
    assert _separation(torch.tensor([[0.0, 3.0], [3.0, 0.0]]), ["a", "b"]) == {
        "within": None,
        "between": 3.0,
        "nearest_in_group": None,
        "of": 0,
    }


def test_the_table_and_both_figures_group_networks_alike():
    """1 and "1" are two groups in the separation table, the distance figure's blocks and the MDS
    figure's legend (the figure grouped by str, the table by repr)."""
    import matplotlib.pyplot as plt

    from torchrate.training.population import _distances_figure, _mds_figure, _separation

    colours = [1, "1", 1, "1"]
    D = torch.tensor([[0.0, 3, 1, 3], [3, 0, 3, 1], [1, 3, 0, 3], [3, 1, 3, 0]], dtype=torch.float64)
    assert _separation(D, colours)["within"] == 1.0
    names = ["a", "b", "c", "d"]
    fig = _mds_figure({"cca": torch.randn(4, 2, dtype=torch.float64)}, names, colours, "x")
    try:
        assert [t.get_text() for t in fig.legends[0].get_texts()] == ["1", "'1'"]  # two groups, told apart
        assert [len(c.get_offsets()) for c in fig.axes[0].collections] == [2, 2]
    finally:
        plt.close(fig)
    fig = _distances_figure({"cca": D}, names, colours)
    try:
        assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["a", "c", "b", "d"]  # by group
    finally:
        plt.close(fig)


def test_a_distance_that_is_not_finite_is_refused_naming_the_pair():
    from torchrate.training.population import _matrix

    rates = [torch.zeros(2), torch.zeros(2), torch.full((2,), float("nan"))]
    with pytest.raises(FloatingPointError, match="networks 0 and 2 is nan"):
        _matrix(rates, lambda X, Y: float((X - Y).abs().sum()))


def test_networks_of_different_tasks_are_refused(tmp_path, population):
    summary, _ = population
    other = sw.trial_config(FIT, {"data.task.init_args.n_bits": 2}, tmp_path / "other")
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(other))
    main(["fit", "--config", str(path)])
    with pytest.raises(ValueError, match=r"checkpoints must all be trained on the same task"):
        tr.training.analyze_population(
            [summary["checkpoints"][0], tmp_path / "other" / "checkpoints" / "last.ckpt"], tmp_path / "out"
        )


# ---------------------------------------------------------------------- Ray stays optional
def test_torchrate_and_its_training_import_no_ray():
    import subprocess
    import sys

    code = "import sys, torchrate, torchrate.training, torchrate.cli; print('ray' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )


def test_without_the_extra_sweep_says_what_to_install(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed: `import ray` raises ImportError
    with pytest.raises(ModuleNotFoundError, match=r'pip install -e "\.\[sweep\]"'):
        main(["sweep", "--config", str(ROOT / "configs" / "sweeps" / "smoke.yaml")])


# ---------------------------------------------------------------------- the sweep file
def test_smoke_sweep_file_loads_with_four_trials():
    spec = tr.training.load_sweep(ROOT / "configs" / "sweeps" / "smoke.yaml")
    grids = [len(v["grid_search"]) for v in spec["space"].values()]
    assert spec["num_samples"] * grids[0] * grids[1] == 4 and len(grids) == 2
    assert spec["fit"]["model"]["network"]["class_path"] == "torchrate.RateRNN"  # from base:
    assert spec["fit"]["model"]["network"]["init_args"]["tau"] == 20.0  # base kept where fit: is silent
    assert spec["fit"]["trainer"]["max_epochs"] == 3  # fit: over base:
    sw._check_first_trial(spec)  # torchrate fit parses its first trial


def test_universality_sweep_file_loads_with_three_architectures_by_three_seeds():
    spec = tr.training.load_sweep(ROOT / "configs" / "sweeps" / "flipflop_universality.yaml")
    networks = spec["space"]["model.network"]["grid_search"]
    assert [n["class_path"] for n in networks] == ["torchrate.RateRNN", "torch.nn.GRU", "torch.nn.LSTM"]
    assert {n["init_args"]["hidden_size"] for n in networks} == {64}
    assert spec["space"]["seed_everything"]["grid_search"] == [0, 1, 2] and spec["num_samples"] == 1
    assert spec["analysis"]["keep"] is None and spec["analysis"]["color_by"] == "model.network"
    for network in networks:  # torchrate fit parses a trial of each architecture
        sw._check_first_trial({**spec, "space": {"model.network": {"grid_search": [network]}}})


def test_trial_config_sets_dotted_keys_and_the_run_directory(tmp_path):
    network = {"class_path": "torch.nn.GRU", "init_args": {"hidden_size": 8}}
    config = sw.trial_config(FIT, {"model.network": network, "model.lr": 0.1}, tmp_path)
    assert config["model"]["network"] == network and config["model"]["lr"] == 0.1
    assert config["trainer"]["default_root_dir"] == str(tmp_path)
    assert FIT["model"]["lr"] == 0.02  # the base is not changed
    assert sw._label(network) == "GRU(hidden_size=8)"


def test_a_key_inside_another_swept_key_is_set_inside_it_in_either_order(tmp_path):
    # the space listing model.network.init_args.hidden_size before model.network trained networks
    # of the swept network's size while the table reported the swept hidden_size
    network = {"class_path": "torch.nn.GRU", "init_args": {"hidden_size": 8}}
    for values in (
        {"model.network": network, "model.network.init_args.hidden_size": 5},
        {"model.network.init_args.hidden_size": 5, "model.network": network},
    ):
        config = sw.trial_config(FIT, values, tmp_path)
        assert config["model"]["network"] == {"class_path": "torch.nn.GRU", "init_args": {"hidden_size": 5}}
    assert network["init_args"]["hidden_size"] == 8  # the swept value is not changed


def test_a_misspelt_key_is_refused_before_any_trial():
    spec = tr.training.load_sweep({"fit": FIT, "space": {"model.network.init_args.hiden_size": {"grid_search": [4]}}})
    with pytest.raises(ValueError, match=r"refused by `torchrate fit`.*hiden_size"):
        sw._check_first_trial(spec)


def test_the_address_comes_from_the_option_then_the_file_then_ray_address(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert sw._address(None, None) is None
    monkeypatch.setenv("RAY_ADDRESS", "ray://env:10001")
    assert sw._address(None, None) == "ray://env:10001"
    assert sw._address(None, "ray://file:10001") == "ray://file:10001"
    assert sw._address("auto", "ray://file:10001") == "auto"


def test_the_summary_ranks_by_the_metric_and_says_when_it_was_not_reported():
    rows = [
        {"trial_id": "t0", "status": "ok", "mse": 0.2, "run_dir": "r0"},
        {"trial_id": "t1", "status": "ok", "mse": 0.1, "run_dir": "r1"},
        {"trial_id": "t2", "status": "error", "error": "ValueError: hidden_size must be ≥ 1", "run_dir": "r2"},
    ]
    text = sw._sweep_markdown(rows, {"name": "x", "metric": "mse", "mode": "min"}, analysed=True)
    assert "3 trials: 2 finished, 1 failed" in text and "Best by mse (min): t1, mse = 0.1," in text
    assert "- t2: ValueError: hidden_size must be ≥ 1" in text
    text = sw._sweep_markdown(rows, {"name": "x", "metric": "acc", "mode": "max"}, analysed=False)
    assert "metric 'acc' was not reported by any trial; the trials reported ['mse']" in text


class _FakeRay:
    def __init__(self):
        self.calls = []

    def is_initialized(self):
        return False

    def init(self, **kw):
        self.calls.append(kw)


def test_a_cluster_is_joined_as_it_is_and_a_local_instance_sized_to_the_machine():
    ray = _FakeRay()
    assert sw._start_ray(ray, "ray://head:10001")
    assert ray.calls[0]["address"] == "ray://head:10001" and "num_cpus" not in ray.calls[0]
    assert sw._start_ray(ray, None)
    assert ray.calls[1]["address"] == "local" and ray.calls[1]["num_cpus"] == os.cpu_count()


# ---------------------------------------------------------------------- a sweep on Ray
@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    pytest.importorskip("ray", reason='the sweep extra: pip install -e ".[sweep]"')
    tmp = tmp_path_factory.mktemp("sweep")
    spec = {
        "name": "four",
        "fit": FIT,
        "space": {
            "seed_everything": {"grid_search": [0, 1]},
            "model.network.init_args.hidden_size": {"grid_search": [6, 0]},
        },
        "metric": "mse",
        "mode": "min",
        "storage_path": str(tmp),
        "analysis": {"n_trials": 32},
    }
    threads = torch.get_num_threads()
    out = tr.training.run_sweep(spec, progress=False)
    torch.set_num_threads(threads)
    return spec, out


def test_sweep_writes_one_row_per_trial_and_reports_the_failed_ones(swept):
    import pandas as pd

    spec, out = swept
    table = pd.read_csv(out / "population.csv")
    assert len(table) == 4
    assert pd.read_parquet(out / "population.parquet").shape == table.shape
    ok, failed = table[table.status == "ok"], table[table.status == "error"]
    assert sorted(ok["config.seed_everything"]) == [0, 1] and set(ok["config.model.network.init_args.hidden_size"]) == {
        6
    }
    assert len(failed) == 2 and all("hidden_size" in e for e in failed.error)
    for _, row in ok.iterrows():
        summary = json.loads((Path(row.run_dir) / "analysis" / "summary.json").read_text())
        assert row.mse == pytest.approx(summary["metrics"]["mse"], rel=1e-12)
        assert row["fixed_points.count"] == summary["fixed_points"]["count"]
        assert sum(row[f"fixed_points.{k}"] for k in summary["fixed_points"]["by_kind"]) == row["fixed_points.count"]
        assert Path(row.checkpoint).is_file() and row.topology
    text = (out / "population.md").read_text()
    assert "4 trials: 2 finished, 2 failed" in text and "Best by mse (min)" in text
    population = json.loads((out / "population.json").read_text())
    assert sorted(population["names"]) == sorted(ok.trial_id)
    assert population["color_by"] == "seed_everything"
    for name in ("distances.png", "mds.png", "topology.png"):
        assert (out / name).stat().st_size > 0


def test_a_sweep_is_not_started_twice_nor_resumed_with_another_file(swept):
    spec, _ = swept
    with pytest.raises(FileExistsError, match=r"holds a sweep already: continue it with --resume"):
        tr.training.run_sweep(spec, progress=False)
    with pytest.raises(ValueError, match=r"resume: the sweep file differs .* \['num_samples'\]"):
        tr.training.run_sweep(spec | {"num_samples": 2}, resume=True, progress=False)
    with pytest.raises(FileNotFoundError, match=r"holds no sweep to resume"):
        tr.training.run_sweep(spec | {"name": "never_run"}, resume=True, progress=False)


def test_resume_keeps_the_finished_trials(swept):
    import pandas as pd

    spec, out = swept
    before = pd.read_csv(out / "population.csv")
    stamps = {r.trial_id: Path(r.checkpoint).stat().st_mtime_ns for r in before.itertuples() if r.status == "ok"}
    threads = torch.get_num_threads()
    tr.training.run_sweep(spec, resume=True, progress=False)
    torch.set_num_threads(threads)
    after = pd.read_csv(out / "population.csv")
    assert list(after.trial_id) == list(before.trial_id) and list(after.status) == list(before.status)
    for trial_id, stamp in stamps.items():
        row = after[after.trial_id == trial_id].iloc[0]
        assert Path(row.checkpoint).stat().st_mtime_ns == stamp  # not trained again
        assert not list(Path(row.run_dir).glob("analysis-v*"))


@pytest.mark.slow
def test_the_universality_reference_result(tmp_path):
    """docs/population.md's reference result, rerun (~80 s on 2 cores): every one of the 9
    flip-flop networks (RateRNN, GRU, LSTM × 3 seeds) has 8 stable points and 19 saddles with one
    shared topology, and CCA places each nearest to one of its own architecture."""
    pytest.importorskip("ray", reason='the sweep extra: pip install -e ".[sweep]"')
    spec = tr.training.load_sweep(ROOT / "configs" / "sweeps" / "flipflop_universality.yaml")
    spec["storage_path"] = str(tmp_path)
    threads = torch.get_num_threads()
    try:
        out = tr.training.run_sweep(spec, progress=False)
    finally:
        torch.set_num_threads(threads)
    summary = json.loads((Path(out) / "population.json").read_text())
    assert len(summary["names"]) == 9 and summary["topology"]["agree"]
    for net in summary["topology"]["networks"]:
        counts = net["counts"]
        assert counts.get("saddle") == 19 and sum(counts.values()) == 27, counts
    documented = {"cca": (0.354, 0.511, 9), "procrustes": (0.370, 0.479, 8), "dsa": (0.075, 0.297, 8)}
    for measure, (within, between, nearest) in documented.items():
        sep = summary["separation"][measure]
        assert sep["within"] < sep["between"] and sep["of"] == 9, (measure, sep)
        assert sep["within"] == pytest.approx(within, abs=0.02) and sep["between"] == pytest.approx(between, abs=0.02)
        assert sep["nearest_in_group"] >= nearest - (measure != "cca"), (measure, sep)
