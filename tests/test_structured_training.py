"""Training ensembles with TaskModule: member k is the single network trained with seed + k."""

from __future__ import annotations

import json

import pytest
import torch

import torchrate as tr
from torchrate.training import TaskModule
from torchrate.training.data import draw_batch

F64 = torch.float64
SPEC = {
    "class_path": "torchrate.RateRNN",
    "init_args": {"hidden_size": 12, "tau": 20.0, "dt": 10.0, "noise_std": 0.1, "dtype": F64},
}


def _task():
    return tr.tasks.FlipFlop(n_bits=2, dt=10.0, duration=200.0)


def _train(module: TaskModule, batches) -> None:
    """What Lightning's step does: reseed the noise, forward, loss, backward, clip, Adam."""
    opt = module.configure_optimizers()
    module.on_fit_start()
    for step, (u, y, m, _) in enumerate(batches):
        module._reseed("train", step)
        opt.zero_grad()
        outputs, rates = module(u.to(F64))
        total, _ = module.loss(outputs, rates, y.to(F64), m.to(F64))
        total.backward()
        if module.is_ensemble:
            module.configure_gradient_clipping(opt)
        else:
            torch.nn.utils.clip_grad_norm_(module.parameters(), module.hparams.grad_clip)
        opt.step()


def test_ensemble_members_equal_their_sequential_runs_after_training():
    task, K, seed = _task(), 3, 11
    batches = [draw_batch(task, 8, 100 + i) for i in range(30)]
    ens = TaskModule(task, SPEC, ensemble=K, network_seed=seed, lr=0.02, grad_clip=0.5)
    assert ens.member_seeds.tolist() == [11, 12, 13]
    singles = [TaskModule(task, SPEC, network_seed=seed + k, lr=0.02, grad_clip=0.5) for k in range(K)]
    # the same initial weights and readouts
    for k, single in enumerate(singles):
        torch.testing.assert_close(ens.network[k].M, single.network.M, rtol=0, atol=0)
        torch.testing.assert_close(ens.readout[k].weight, single.readout.weight, rtol=0, atol=0)
    u, y, m, _ = batches[0]
    outputs, rates = ens(u.to(F64))
    assert outputs.shape == (K, *y.shape) and rates.shape[:2] == (K, u.shape[0])
    _train(ens, batches)
    for k, single in enumerate(singles):
        _train(single, batches)
        member = ens.network[k]
        for name, p in single.network.named_parameters():
            torch.testing.assert_close(dict(member.named_parameters())[name], p, rtol=0, atol=1e-8, msg=name)
        torch.testing.assert_close(ens.readout[k].weight, single.readout.weight, rtol=0, atol=1e-8)
    # the clipping acts at this scale (members' raw norms above 0.5): per-member clipping was tested
    from torchrate.training.module import clip_members_

    fresh = TaskModule(task, SPEC, ensemble=K, network_seed=seed, lr=0.02, grad_clip=0.5)
    u, y, m, _ = batches[0]
    outputs, rates = fresh(u.to(F64))
    fresh.loss(outputs, rates, y.to(F64), m.to(F64))[0].backward()
    assert (clip_members_(fresh.parameters(), K, 0.5) > 0.5).all()


def test_ensemble_fit_writes_the_members_report(tmp_path):
    import lightning as L

    from torchrate.training import AnalysisCallback, TaskDataModule

    task = _task()
    spec = {
        "class_path": "torchrate.LowRankRateRNN",
        "init_args": {"hidden_size": 16, "rank": 2, "tau": 20.0, "dt": 10.0},
    }
    module = TaskModule(task, spec, ensemble=3, network_seed=0)
    data = TaskDataModule(task, batch_size=16, train_batches=5, val_trials=32, test_trials=32)
    trainer = L.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=True,
        default_root_dir=tmp_path,
        enable_progress_bar=False,
        callbacks=[AnalysisCallback(n_trials=32)],
        enable_model_summary=False,
    )
    trainer.fit(module, data)
    summary = json.loads((tmp_path / "analysis" / "summary.json").read_text())
    assert summary["ensemble"] == 3 and len(summary["members"]) == 3
    assert [row["seed"] for row in summary["members"]] == [0, 1, 2]
    row = summary["members"][0]
    assert {"bit_accuracy", "stable", "saddles", "fixed_points"} <= set(row)
    assert (tmp_path / "analysis" / "members.png").is_file()
    assert (tmp_path / "analysis" / "members.md").read_text().startswith("| member | seed |")
    ckpt = torch.load(next((tmp_path / "checkpoints").glob("epoch*.ckpt")), weights_only=True)
    assert ckpt["torchrate"]["member_seeds"] == [0, 1, 2]
    assert ckpt["state_dict"]["member_seeds"].tolist() == [0, 1, 2]
    loaded, _ = tr.training.load_checkpoint(next((tmp_path / "checkpoints").glob("epoch*.ckpt")))
    torch.testing.assert_close(loaded.network[1].M, module.network[1].M.cpu(), rtol=0, atol=0)


def test_ensemble_argument_refusals():
    with pytest.raises(ValueError, match="ensemble"):
        TaskModule(_task(), SPEC, ensemble=0)


def test_ensemble_report_reads_choices_with_the_best_members_readout(tmp_path):
    """The bifurcation entry of a decision-task ensemble names choices through member best's own
    readout (the stacked readout's row), not None."""
    from torchrate.training.report import analyze

    task = tr.tasks.PerceptualDecision()
    spec = {"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": 16, "dt": task.dt, "tau": 50.0}}
    summary = analyze(TaskModule(task, spec, ensemble=2, network_seed=0), tmp_path, n_trials=32)
    at_zero = summary["bifurcation"]["at_zero_coherence"]
    assert at_zero["stable"] >= 1 and len(at_zero["stable_choices"]) == at_zero["stable"]
    assert (tmp_path / "bifurcation.png").exists() and (tmp_path / "members.png").exists()


def test_an_unseeded_ensemble_takes_any_64_bit_initial_seed(monkeypatch):
    # a process never seeded has a random 64-bit initial seed; base + k must still fit int64
    monkeypatch.setattr(torch, "initial_seed", lambda: 2**64 - 2)
    seeds = TaskModule(_task(), SPEC, ensemble=3).member_seeds.tolist()
    assert seeds == [seeds[0], seeds[0] + 1, seeds[0] + 2] and 0 <= seeds[0] < 2**63 - 3
