"""tr.tasks.Multitask: several tasks in one stream of trials, with rule inputs (Yang et al. 2019);
its loss, metrics, config round trip, training and the report's task-variance analysis."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch
import yaml

import torchrate as tr
from torchrate.training import TaskModule, masked_cross_entropy, masked_mse

ROOT = Path(__file__).resolve().parents[1]
F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _tasks():
    return [
        tr.tasks.PerceptualDecision(dt=20.0),
        tr.tasks.FlipFlop(n_bits=2, dt=20.0, duration=300.0),
        tr.tasks.Integration(dt=20.0, stimulus=200.0, hold=200.0),
    ]


# ---------------------------------------------------------------------- layout
@pytest.mark.parametrize(
    "inputs, outputs", [("separate", "separate"), ("shared", "shared"), ("separate", "shared"), ("shared", "separate")]
)
def test_each_task_in_its_slots_rule_inputs_on_during_the_trial_padding_unscored(inputs, outputs):
    tasks = _tasks()
    multi = tr.tasks.Multitask(tasks, inputs=inputs, outputs=outputs)
    I = [3, 2, 1]
    O = [2, 2, 1]
    base_in = sum(I) if inputs == "separate" else max(I)
    assert multi.input_size == base_in + 3
    assert multi.output_size == (sum(O) if outputs == "separate" else max(O))
    in_start = [0, 3, 5] if inputs == "separate" else [0, 0, 0]
    out_start = [0, 2, 4] if outputs == "separate" else [0, 0, 0]
    (x, y, m), c = multi.generate(12, generator=_gen(0), dtype=F64)
    assert x.shape == (40, 12, multi.input_size) and y.shape == m.shape == (40, 12, multi.output_size)
    seeds = torch.randint(2**62, (3,), generator=_seeded_after_order(12, multi, 0)).tolist()
    counts = torch.bincount(c["task"], minlength=3)
    assert counts.tolist() == [4, 4, 4]
    for k, task in enumerate(tasks):
        idx = (c["task"] == k).nonzero()[:, 0]
        (xk, yk, mk), ck = task.generate(4, generator=_gen(seeds[k]), dtype=F64)  # the task's own trials
        T = xk.shape[0]
        assert int(c["steps"][idx[0]]) == T
        torch.testing.assert_close(x[:T, idx, in_start[k] : in_start[k] + I[k]], xk, rtol=0, atol=0)
        torch.testing.assert_close(y[:T, idx, out_start[k] : out_start[k] + O[k]], yk, rtol=0, atol=0)
        torch.testing.assert_close(m[:T, idx, out_start[k] : out_start[k] + O[k]], mk, rtol=0, atol=0)
        # everything else of these trials: zero input (but the rule), unscored outputs
        others = torch.ones(multi.output_size, dtype=torch.bool)
        others[out_start[k] : out_start[k] + O[k]] = False
        assert not m[:, idx][..., others].any() and not m[T:, idx].any() and not x[T:, idx].any()
        rule = x[:, idx, base_in:]
        assert (
            torch.equal(rule[:T, :, k], torch.ones(T, 4, dtype=F64))
            and not rule[..., [j for j in range(3) if j != k]].any()
        )
        for key, value in ck.items():
            torch.testing.assert_close(c[f"{multi.names[k]}/{key}"][idx], value, rtol=0, atol=0)


def _seeded_after_order(B, multi, seed):
    """The batch generator as Multitask leaves it after drawing the counts' offset and the order."""
    g = _gen(seed)
    torch.rand((), generator=g, dtype=F64)
    torch.randperm(B, generator=g)
    return g


def test_same_seed_same_batch_other_seed_other_batch():
    multi = tr.tasks.Multitask(_tasks())
    a, ca = multi.generate(16, generator=_gen(3))
    b, cb = multi.generate(16, generator=_gen(3))
    c, cc = multi.generate(16, generator=_gen(4))
    assert all(torch.equal(u, v) for u, v in zip(a, b)) and all(torch.equal(ca[k], cb[k]) for k in ca)
    assert not torch.equal(ca["task"], cc["task"]) or not torch.equal(a.inputs, c.inputs)


def test_proportions_by_systematic_sampling():
    multi = tr.tasks.Multitask(_tasks(), proportions=[0.5, 0.3, 0.2])
    B = 10
    total = torch.zeros(3)
    for seed in range(2000):
        n = multi.counts(B, _gen(seed))
        assert int(n.sum()) == B
        assert torch.all((n - torch.tensor([5.0, 3.0, 2.0])).abs() < 1)  # never a whole trial off
        total += n
    multi = tr.tasks.Multitask(_tasks(), proportions=[1, 1, 1])
    for seed in range(2000):
        n = multi.counts(B, _gen(seed))
        assert int(n.sum()) == B and n.min() >= 3 and n.max() <= 4
        total += n
    torch.testing.assert_close(total[:1] / 2000, torch.tensor([5.0 + 10 / 3]), rtol=0, atol=0.1)
    only = tr.tasks.Multitask(_tasks(), proportions=[0.0, 1.0, 0.0])
    assert torch.equal(only.generate(8, generator=_gen(0))[1]["task"], torch.ones(8, dtype=torch.long))


def test_onset_and_length_mark_the_trial_proper():
    pd = tr.tasks.PerceptualDecision(dt=20.0, fixation=100.0)
    multi = tr.tasks.Multitask([pd, tr.tasks.FlipFlop(dt=20.0)])
    _, c = multi.generate(16, generator=_gen(0))
    tagged = multi.trial_tasks(c)
    is_pd = tagged.task == 0
    assert torch.all(tagged.onset[is_pd] == 5) and torch.all(tagged.length[is_pd] == pd.n_steps)  # 100 ms fixation
    assert tagged.names == ["PerceptualDecision", "FlipFlop"]
    silent = tr.tasks.Multitask([pd, tr.tasks.FlipFlop(dt=20.0, duration=200.0, pulse_rate=0.0)])  # all-zero trials
    (x, _, _), c = silent.generate(8, generator=_gen(0))
    zero = c["task"] == 1
    assert torch.all(c["onset"][zero] == 0) and torch.all(c["length"][zero] == 10)  # the whole trial, rule on
    assert torch.equal(x[:10, zero, -1], torch.ones(10, int(zero.sum())))


def test_names_default_and_repeat():
    multi = tr.tasks.Multitask(
        [tr.tasks.FlipFlop(dt=10.0), tr.tasks.FlipFlop(n_bits=1, dt=10.0), tr.tasks.Integration(dt=10.0)]
    )
    assert multi.names == ["FlipFlop_1", "FlipFlop_2", "Integration"]


# ---------------------------------------------------------------------- loss and metrics
def test_loss_is_each_tasks_own_loss_weighted_by_its_share_of_trials():
    multi = tr.tasks.Multitask(_tasks(), proportions=[2, 1, 1])
    (x, y, m), c = multi.generate(16, generator=_gen(1), dtype=F64)
    out = torch.randn(y.shape, generator=_gen(2), dtype=F64)
    want = 0.0
    for k, (loss, cols) in enumerate(
        ((masked_cross_entropy, slice(0, 2)), (masked_mse, slice(2, 4)), (masked_mse, slice(4, 5)))
    ):
        idx = (c["task"] == k).nonzero()[:, 0]
        want += len(idx) / 16 * loss(out[:, idx, cols], y[:, idx, cols], m[:, idx, cols])
    torch.testing.assert_close(multi.compute_loss(out, y, m, c), want, rtol=1e-14, atol=0)


def test_a_batch_of_one_task_is_trained_exactly_as_that_task():
    pd = tr.tasks.PerceptualDecision(dt=20.0)
    multi = tr.tasks.Multitask([pd, tr.tasks.FlipFlop(dt=20.0)], proportions=[1, 0], outputs="shared")
    (x, y, m), c = multi.generate(8, generator=_gen(0), dtype=F64)
    out = torch.randn(y.shape, generator=_gen(1), dtype=F64)
    torch.testing.assert_close(
        multi.compute_loss(out, y, m, c), masked_cross_entropy(out[..., :2], y[..., :2], m[..., :2]), rtol=0, atol=0
    )


def test_metrics_are_each_tasks_own_on_its_trials():
    tasks = _tasks()
    multi = tr.tasks.Multitask(tasks, names=["pd", "ff", "int"])
    (x, y, m), c = multi.generate(30, generator=_gen(5), dtype=F64)
    out = y + 0.3 * torch.randn(y.shape, generator=_gen(6), dtype=F64)
    metrics = multi.evaluate(out, y, m, c)
    for k, (task, name, cols) in enumerate(zip(tasks, ["pd", "ff", "int"], (slice(0, 2), slice(2, 4), slice(4, 5)))):
        idx = (c["task"] == k).nonzero()[:, 0]
        T = int(c["steps"][idx[0]])
        own = {key[len(name) + 1 :]: v[idx] for key, v in c.items() if key.startswith(f"{name}/")}
        expected = task.evaluate(out[:T, idx, cols], y[:T, idx, cols], m[:T, idx, cols], own)
        for key, value in expected.items():
            torch.testing.assert_close(metrics[f"{name}/{key}"], value, equal_nan=True)
    assert metrics["accuracy"] == metrics["pd/accuracy"]  # the only task with an "accuracy"
    assert multi.headline(metrics) == {
        "pd": ("accuracy", float(metrics["pd/accuracy"])),
        "ff": ("bit_accuracy", float(metrics["ff/bit_accuracy"])),
        "int": ("mse", float(metrics["int/mse"])),
    }
    fig = multi.draw(metrics, out, y, m)
    assert len(fig.axes) == 1 and "per-task" in fig.axes[0].get_title()


# ---------------------------------------------------------------------- config, checkpoints, ensembles
def test_config_round_trip_and_a_changed_subtask_is_named():
    from torchrate.training.checkpoints import hparams_differences
    from torchrate.training.module import as_task

    multi = tr.tasks.Multitask(_tasks(), names=["a", "b", "c"], proportions=[1, 2, 3], inputs="shared")
    config = multi.config()
    again = as_task(config)
    assert again.config() == config and again.input_size == multi.input_size
    same = zip(multi.sample(6, generator=_gen(0)), again.sample(6, generator=_gen(0)))
    assert all(torch.equal(u, v) for u, v in same)
    other = json.loads(json.dumps(config))
    other["init_args"]["tasks"][1]["init_args"]["n_bits"] = 3
    other["init_args"]["tasks"][0]["class_path"] = "torchrate.tasks.PerceptualDecision"  # same class, shorter path
    assert hparams_differences({"task": config}, {"task": other}) == [
        "task.init_args.tasks[1].init_args.n_bits: checkpoint 2, config 3"
    ]
    multi.update(proportions=[1, 1, 1])  # a curriculum stage
    assert multi.proportions == [1.0, 1.0, 1.0] and multi.names == ["a", "b", "c"]


def test_ensemble_trains_a_multitask_under_vmap():
    multi = tr.tasks.Multitask(_tasks())
    module = TaskModule(
        multi,
        {"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": 8, "dt": 20.0}},
        ensemble=2,
        network_seed=0,
    )
    (x, y, m), c = multi.generate(6, generator=_gen(0))
    outputs, rates = module(x)
    total, task_loss = module.loss(outputs, rates, y, m, c)
    single = [multi.compute_loss(o, y, m, c) for o in outputs]
    torch.testing.assert_close(total, single[0] + single[1])
    total.backward()
    assert module.readout.weight.grad.abs().sum() > 0


def test_module_loss_without_conditions_names_what_is_missing():
    multi = tr.tasks.Multitask(_tasks())
    module = TaskModule(multi, {"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": 8, "dt": 20.0}})
    x, y, m = multi.sample(4, generator=_gen(0))
    outputs, rates = module(x)
    with pytest.raises(ValueError, match=r"Multitask needs the conditions of the batch"):
        module.loss(outputs, rates, y, m)


def test_yaml_config_parses_and_each_task_has_the_networks_dt(capsys, monkeypatch):
    from torchrate.cli import main

    monkeypatch.setattr(sys, "argv", ["torchrate"])
    with pytest.raises(SystemExit) as exit_:
        main(["fit", "--config", str(ROOT / "configs" / "multitask.yaml"), "--print_config"])
    assert exit_.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    task = printed["data"]["task"]
    assert task["class_path"] == "torchrate.tasks.Multitask" and len(task["init_args"]["tasks"]) == 3
    dts = {t["init_args"]["dt"] for t in task["init_args"]["tasks"]}
    assert dts == {printed["model"]["network"]["init_args"]["dt"]}


# ---------------------------------------------------------------------- training and the report
def test_short_training_learns_two_tasks_and_the_report_has_the_multitask_analysis(tmp_path):
    """200 Adam steps (a few seconds): one 48-unit network learns a perceptual decision and a 1-bit
    flip-flop, told apart by the rule input; the report gives per-task accuracies, task variances,
    clusters and FTVs."""
    import lightning as L

    tasks = [
        tr.tasks.PerceptualDecision(dt=20.0, stimulus=300.0, decision=200.0, coherences=[0.128, 0.256, 0.512]),
        tr.tasks.FlipFlop(n_bits=1, dt=20.0, duration=600.0, pulse_rate=0.005, grace=40.0),
    ]
    multi = tr.tasks.Multitask(tasks, names=["decision", "memory"])
    module = TaskModule(
        multi,
        {
            "class_path": "torchrate.RateRNN",
            "init_args": {"hidden_size": 48, "tau": 50.0, "dt": 20.0, "nonlinearity": "tanh"},
        },
        lr=0.01,
        network_seed=0,
    )
    data = tr.training.TaskDataModule(multi, batch_size=32, train_batches=50, val_trials=64, test_trials=256, seed=0)
    trainer = L.Trainer(
        max_epochs=4,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[tr.training.AnalysisCallback(out=tmp_path / "a")],
        accelerator="cpu",
        devices=1,
    )
    trainer.fit(module, data)
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["metrics"]["decision/accuracy"] >= 0.85
    assert summary["metrics"]["memory/bit_accuracy"] >= 0.9
    entry = summary["multitask"]
    assert entry["tasks"] == ["decision", "memory"] and entry["performance"]["memory"]["metric"] == "bit_accuracy"
    variance = torch.tensor(entry["task_variance"]["values"])
    assert variance.shape == (48, 2) and torch.all(variance >= 0) and entry["task_variance"]["active_units"] >= 3
    assert (
        entry["clusters"]["n_clusters"] >= 2
        and sum(entry["clusters"]["sizes"]) == entry["task_variance"]["active_units"]
    )
    pair = entry["ftv"]["pairs"]["decision|memory"]
    assert sum(pair["counts"]) == pair["units"] and len(entry["ftv"]["bins"]) == 21
    for name in ("task_metric.png", "task_variance.png", "clusters.png", "ftv.png", "fixed_points.png"):
        assert (tmp_path / "a" / name).stat().st_size > 0


@pytest.mark.slow
def test_config_trains_to_target(tmp_path, monkeypatch):
    """configs/multitask.yaml as shipped (about 3 min on 2 cores)."""
    from torchrate.cli import main

    monkeypatch.setattr(sys, "argv", ["torchrate"])
    main(
        [
            "fit",
            "--config",
            str(ROOT / "configs" / "multitask.yaml"),
            f"--trainer.default_root_dir={tmp_path}",
            "--trainer.enable_progress_bar=false",
        ]
    )
    summary = json.loads((tmp_path / "analysis" / "summary.json").read_text())
    assert summary["metrics"]["decision/accuracy"] >= 0.85
    assert summary["metrics"]["flipflop/bit_accuracy"] >= 0.95
    assert math.isfinite(summary["metrics"]["integration/mse"])
    assert summary["multitask"]["clusters"]["n_clusters"] >= 2


# ---------------------------------------------------------------------- NeuroGym's yang19 collection
YANG19 = ROOT / "configs" / "neurogym" / "yang19.yaml"
PAPER = [
    "go",
    "rtgo",
    "dlygo",
    "anti",
    "rtanti",
    "dlyanti",
    "dm1",
    "dm2",
    "ctxdm1",
    "ctxdm2",
    "multidm",
    "dlydm1",
    "dlydm2",
    "ctxdlydm1",
    "ctxdlydm2",
    "multidlydm",
    "dms",
    "dnms",
    "dmc",
    "dnmc",
]


@pytest.fixture(scope="module")
def ngym():
    return pytest.importorskip("neurogym")


def test_yang19_config_lists_the_twenty_tasks_and_every_one_builds(ngym):
    from neurogym_envs import refused

    tasks = yaml.safe_load(YANG19.read_text())["data"]["task"]["init_args"]["tasks"]
    assert [t["init_args"]["env_id"] for t in tasks] == [f"yang19.{n}-v0" for n in PAPER]
    assert not refused(YANG19)  # the ten ScheduleEnvs among them included


def test_yang19_tasks_share_one_layout_and_get_one_rule_input_each(ngym):
    envs = ["dm1", "ctxdm2", "dlydm1"]
    multi = tr.tasks.Multitask([tr.tasks.NeuroGym(f"yang19.{e}-v0") for e in envs], inputs="shared", outputs="shared")
    assert multi.names == envs and (multi.input_size, multi.output_size) == (33 + 3, 17)
    (x, y, m), c = multi.generate(30, generator=_gen(0))
    for k in range(3):
        idx = c["task"] == k
        live = torch.arange(x.shape[0])[:, None] < c["length"][idx]
        assert torch.equal(x[:, idx, 33 + k], live.float())  # the rule: on for the whole trial, off on padding
        assert not x[:, idx, 33:][..., [j for j in range(3) if j != k]].any()
    assert torch.all(c["onset"] >= 2)  # the variance window opens after 200-500 ms of fixation (dt = 100 ms)


def test_yang19_config_fits_on_the_envs_that_build(ngym, tmp_path, monkeypatch, capsys):
    """One short epoch of configs/neurogym/yang19.yaml (a small network) on its buildable tasks, through
    ``torchrate fit``: per-task accuracies and the multitask analysis of all of them."""
    from neurogym_envs import buildable

    from torchrate.cli import main

    config, left_out = buildable(YANG19, tmp_path / "yang19.yaml")
    assert not left_out
    names = list(PAPER)
    monkeypatch.setattr(sys, "argv", ["torchrate"])
    main(
        [
            "fit",
            "--config",
            str(config),
            f"--trainer.default_root_dir={tmp_path / 'run'}",
            "--trainer.enable_progress_bar=false",
            "--trainer.max_epochs=1",
            "--data.train_batches=3",
            "--data.val_trials=64",
            "--data.test_trials=256",
            "--model.network.init_args.hidden_size=32",
        ]
    )
    summary = json.loads((tmp_path / "run" / "analysis" / "summary.json").read_text())
    assert {f"{n}/accuracy" for n in names} <= set(summary["metrics"])
    entry = summary["multitask"]
    assert entry["tasks"] == names and entry["task_variance"]["tasks"] == names
    assert len(entry["task_variance"]["values"]) == 32
    assert len(entry["ftv"]["pairs"]) == len(names) * (len(names) - 1) // 2
    assert (tmp_path / "run" / "analysis" / "ftv.png").is_file()
    # the checkpoint (hyper-parameters as the CLI wrote them: no names) rebuilds the run and its analysis
    capsys.readouterr()
    assert main(["analyze", str(tmp_path / "run" / "checkpoints" / "last.ckpt"), "--out", str(tmp_path / "a")]) == 0
    again = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert again["metrics"] == summary["metrics"] and again["multitask"]["clusters"] == entry["clusters"]


@pytest.mark.slow
def test_yang19_config_trains_to_target(ngym, tmp_path, monkeypatch):
    """configs/neurogym/yang19.yaml as shipped, on its buildable tasks (~10 min on 2 cores for ten)."""
    import re

    from neurogym_envs import buildable

    from torchrate.cli import main

    config, _ = buildable(YANG19, tmp_path / "yang19.yaml")
    target = float(re.search(r"Target: accuracy ≥ ([0-9.]+)", YANG19.read_text()).group(1))
    monkeypatch.setattr(sys, "argv", ["torchrate"])
    main(
        [
            "fit",
            "--config",
            str(config),
            f"--trainer.default_root_dir={tmp_path / 'run'}",
            "--trainer.enable_progress_bar=false",
        ]
    )
    summary = json.loads((tmp_path / "run" / "analysis" / "summary.json").read_text())
    assert summary["metrics"]["accuracy"] >= target
    assert summary["multitask"]["clusters"]["n_clusters"] >= 2


def test_docs_multitask_blocks_run_and_print_what_they_say():
    import re
    import warnings

    text = (ROOT / "docs" / "multitask.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for block in blocks:
            exec(compile(block, "docs/multitask.md", "exec"), namespace)
    assert tuple(namespace["inputs"].shape) == (50, 64, 10) and tuple(namespace["targets"].shape) == (50, 64, 6)
    assert tuple(namespace["variance"].shape) == (64, 3)
    assert {"decision/accuracy", "flipflop/mse", "integration/mse"} <= set(namespace["metrics"])
    assert namespace["clusters"].n_clusters >= 2


def test_batches_where_a_task_drew_no_trial_join_with_the_others(tmp_path):
    # a Multitask's "<task>/<key>" conditions exist only in batches where that task drew trials:
    # the predictions file took the keys of its first batch (dropping decision/coherence when that
    # batch had no decision trial), and joining the batches for the whole-set test metrics failed
    import lightning as L

    tasks = [
        {
            "class_path": "torchrate.tasks.PerceptualDecision",
            "init_args": {"dt": 20.0, "fixation": 100.0, "stimulus": 200.0, "decision": 100.0},
        },
        {"class_path": "torchrate.tasks.FlipFlop", "init_args": {"n_bits": 2, "dt": 20.0, "duration": 300.0}},
    ]
    task = tr.tasks.Multitask(tasks, names=["decision", "flipflop"], proportions=[0.2, 0.8])
    data = tr.training.TaskDataModule(task, batch_size=2, test_trials=8, seed=2)
    batches = list(data.test_dataloader())
    assert ["decision/coherence" in b[3] for b in batches] == [False, True, False, True]  # the case
    module = TaskModule(task, {"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": 8, "dt": 20.0}})
    writer = tr.training.PredictionWriter(out=str(tmp_path / "p.pt"))
    trainer = L.Trainer(callbacks=[writer], logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.predict(module, data, return_predictions=False)
    saved = torch.load(tmp_path / "p.pt", weights_only=True)["conditions"]
    decision = saved["task"] == 0
    assert decision.tolist() == [False, False, False, True, False, False, True, False]
    joined = torch.cat([b[3].get("decision/coherence", torch.zeros(2)) for b in batches])
    assert torch.equal(saved["decision/coherence"], joined) and (saved["decision/coherence"][~decision] == 0).all()
    # the whole test set's metrics: each task's own, on its trials
    logged = trainer.test(module, data, verbose=False)[0]
    inputs, targets, mask = (torch.cat([b[i] for b in batches], 1) for i in range(3))
    with torch.no_grad():
        outputs, _ = module(inputs)
    whole = task.evaluate(outputs, targets, mask, {k: v for k, v in saved.items()})
    assert {k: logged[f"test/{k}"] for k in whole if whole[k].ndim == 0} == pytest.approx(
        {k: float(v) for k, v in whole.items() if v.ndim == 0}, abs=1e-6
    )
