"""Curriculum: a task stepped through difficulty stages by a validation metric; Task.update.

The NeuroGym cases are skipped when neurogym is not installed."""

from __future__ import annotations

from types import SimpleNamespace

import lightning as L
import pytest
import torch

import torchrate as tr
from torchrate.tasks import PerceptualDecision
from torchrate.training import TaskDataModule, TaskModule
from torchrate.training.curriculum import Curriculum, passes

STAGES = [{"coherences": [0.512]}, {"coherences": [0.256, 0.512]}, {"coherences": [0.064, 0.128, 0.256, 0.512]}]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _coherences(task, seed=0) -> set[float]:
    _, conditions = task.generate(256, generator=torch.Generator().manual_seed(seed))
    return {round(abs(c), 6) for c in conditions["coherence"].tolist()}


# ---------------------------------------------------------------------- Task.update
def test_update_reinitialises_in_place():
    task = PerceptualDecision(dt=20.0, coherences=(0.0, 0.512))
    same = task
    task.update(coherences=[0.256], decision=100.0)
    assert task is same and task.coherences == (0.256,) and task.decision == 100.0
    assert _coherences(task) == {0.256}
    inputs, _, _ = task.sample(4, generator=torch.Generator().manual_seed(0))
    assert inputs.shape[0] == (100 + 500 + 100) // 20  # the new decision period: 5 steps


def test_update_errors_name_the_argument():
    task = PerceptualDecision(dt=20.0)
    with pytest.raises(TypeError, match=r"PerceptualDecision has no argument\(s\) \['coherence'\]"):
        task.update(coherence=[0.5])
    with pytest.raises(ValueError, match="coherences must be a non-empty sequence of values in"):
        task.update(coherences=[2.0])
    assert task.coherences == (0.0, 0.032, 0.064, 0.128, 0.256, 0.512)  # unchanged after a refused update


def test_update_neurogym_env_kwargs():
    pytest.importorskip("neurogym")
    task = tr.tasks.NeuroGym("PerceptualDecisionMaking-v0")
    task.update(env_kwargs={"cohs": [51.2]})
    _, conditions = task.generate(64, generator=torch.Generator().manual_seed(0))
    assert {round(c, 3) for c in conditions["condition"].tolist()} == {51.2}


# ---------------------------------------------------------------------- the stepping rule
def test_passes():
    assert passes(0.9, 0.9, "max") and not passes(0.89, 0.9, "max")
    assert passes(0.1, 0.2, "min") and not passes(0.3, 0.2, "min")
    assert not passes(float("nan"), 0.0, "max") and not passes(float("nan"), 1.0, "min")


def test_constructor_errors():
    with pytest.raises(ValueError, match="stages must be a non-empty list"):
        Curriculum([])
    with pytest.raises(ValueError, match=r"threshold must be a number or 2 numbers .* got \[0.5\]"):
        Curriculum(STAGES, threshold=[0.5])
    with pytest.raises(ValueError, match=r"mode must be one of \('max', 'min'\), got 'up'"):
        Curriculum(STAGES, mode="up")
    with pytest.raises(ValueError, match="patience must be a positive int, got 0"):
        Curriculum(STAGES, patience=0)


def _fake_run(task):
    """A stand-in trainer and module: what the callback reads and writes."""
    module = SimpleNamespace(task=task, hparams={"task": task.config()})
    val_loop = SimpleNamespace(_combined_loader="drawn")
    trainer = SimpleNamespace(
        sanity_checking=False,
        global_step=0,
        current_epoch=0,
        loggers=[],
        callback_metrics={},
        datamodule=None,
        fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(val_loop=val_loop)),
    )
    return trainer, module


def test_steps_after_patience_passes_and_stays_at_the_last_stage():
    task = PerceptualDecision(dt=20.0)
    trainer, module = _fake_run(task)
    cb = Curriculum(STAGES, threshold=[0.8, 0.9], patience=2)
    cb.on_fit_start(trainer, module)
    assert task.coherences == (0.512,)
    for step, accuracy, stage in [
        (10, 0.85, 0),
        (20, 0.7, 0),
        (30, 0.81, 0),
        (40, 0.80, 1),  # 2 passes in a row
        (50, 0.95, 1),
        (60, 0.95, 2),
        (70, 0.99, 2),
        (80, 0.1, 2),
    ]:
        trainer.global_step = step
        trainer.callback_metrics = {"val/accuracy": torch.tensor(accuracy)}
        trainer.fit_loop.epoch_loop.val_loop._combined_loader = "drawn"
        cb.on_validation_end(trainer, module)
        assert cb.stage == stage, step
        if step in (40, 60):  # a new stage: the validation set is drawn again
            assert trainer.fit_loop.epoch_loop.val_loop._combined_loader is None
    assert task.coherences == tuple(STAGES[2]["coherences"])
    assert [(h["stage"], h["step"]) for h in cb.history] == [(1, 40), (2, 60)]
    assert cb.history[0]["val/accuracy"] == pytest.approx(0.80)


def test_missing_monitor_is_named():
    trainer, module = _fake_run(PerceptualDecision(dt=20.0))
    trainer.callback_metrics = {"val/loss": torch.tensor(0.1)}
    cb = Curriculum(STAGES, monitor="val/acc")
    with pytest.raises(KeyError, match=r"monitor 'val/acc' was not logged; validation metrics: \['val/loss'\]"):
        cb.on_validation_end(trainer, module)


def test_state_dict_round_trip_and_bad_stage():
    cb = Curriculum(STAGES)
    cb.stage, cb.passed, cb.history = 2, 0, [{"stage": 1, "step": 5}, {"stage": 2, "step": 9}]
    other = Curriculum(STAGES)
    other.load_state_dict(cb.state_dict())
    assert (other.stage, other.passed, other.history) == (2, 0, cb.history)
    with pytest.raises(ValueError, match="curriculum stage 3 does not exist in this curriculum of 2 stages"):
        Curriculum(STAGES[:2]).load_state_dict({"stage": 3})


# ---------------------------------------------------------------------- with Lightning
class _SeenCoherences(L.Callback):
    """Records the unsigned coherences of the validation batches of each validation."""

    def __init__(self):
        self.seen: list[set[float]] = []

    def on_validation_epoch_start(self, trainer, pl_module):
        self.seen.append(set())

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self.seen[-1] |= {round(abs(c), 6) for c in batch[3]["coherence"].tolist()}


def _fit(root, max_epochs, curriculum, ckpt_path=None, seen=None):
    task = PerceptualDecision(dt=20.0, fixation=40.0, stimulus=100.0, decision=40.0)
    module = TaskModule(
        task, {"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": 8, "dt": 20.0, "tau": 40.0}}
    )
    data = TaskDataModule(task.config(), batch_size=16, train_batches=2, val_trials=64, test_trials=16)
    checkpoint = tr.training.RunCheckpoint()
    trainer = L.Trainer(
        max_epochs=max_epochs,
        default_root_dir=root,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[curriculum, checkpoint, *([seen] if seen else [])],
    )
    trainer.fit(module, data, ckpt_path=ckpt_path)
    return trainer, module, data


def test_lightning_run_steps_tasks_hparams_and_validation_set(tmp_path):
    seen = _SeenCoherences()
    cb = Curriculum(STAGES, monitor="val/loss", mode="min", threshold=10.0)  # always passes: one stage per epoch
    trainer, module, data = _fit(tmp_path, 3, cb, seen=seen)
    assert cb.stage == 2 and [h["step"] for h in cb.history] == [2, 4]
    assert module.task.coherences == data.task.coherences == tuple(STAGES[2]["coherences"])
    # each validation drew its trials from the stage of its time
    assert seen.seen == [{0.512}, {0.256, 0.512}, {0.064, 0.128, 0.256, 0.512}]
    # the checkpoint: hyper-parameters as configured (a resume takes the same YAML), the stage and
    # the task's arguments at that stage in the callback's state
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["hyper_parameters"]["task"]["init_args"]["coherences"] == [0.0, 0.032, 0.064, 0.128, 0.256, 0.512]
    state = next(v for k, v in ckpt["callbacks"].items() if k.startswith("Curriculum"))
    assert state["stage"] == 2 and state["tasks"][0]["init_args"]["coherences"] == STAGES[2]["coherences"]


def test_resume_continues_at_the_saved_stage(tmp_path):
    stages = [*STAGES, {"coherences": [0.0, 0.512]}]
    _fit(tmp_path, 1, Curriculum(stages, monitor="val/loss", mode="min", threshold=10.0))
    seen = _SeenCoherences()
    cb = Curriculum(stages, monitor="val/loss", mode="min", threshold=10.0)
    trainer, module, data = _fit(tmp_path, 2, cb, ckpt_path=str(tmp_path / "checkpoints" / "last.ckpt"), seen=seen)
    # stage 1 restored from the checkpoint: the resumed epoch validates on stage 1, then moves to 2
    assert seen.seen == [{0.256, 0.512}]
    assert cb.stage == 2 and [h["stage"] for h in cb.history] == [1, 2]
    assert module.task.coherences == tuple(STAGES[2]["coherences"])


def test_lightning_run_with_a_neurogym_task(tmp_path):
    pytest.importorskip("neurogym")
    task = tr.tasks.NeuroGym("PerceptualDecisionMaking-v0", env_kwargs={"cohs": [51.2], "timing": {"stimulus": 300}})
    module = TaskModule(
        task, {"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": 8, "dt": 100.0, "tau": 200.0}}
    )
    data = TaskDataModule(task.config(), batch_size=16, train_batches=2, val_trials=32, test_trials=16)
    stages = [{}, {"env_kwargs": {"cohs": [6.4, 51.2], "timing": {"stimulus": 300}}}]
    cb = Curriculum(stages, monitor="val/loss", mode="min", threshold=10.0)
    trainer = L.Trainer(
        max_epochs=2,
        default_root_dir=tmp_path,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        enable_checkpointing=False,
        callbacks=[cb],
    )
    trainer.fit(module, data)
    assert cb.stage == 1
    _, conditions = data.task.generate(128, generator=torch.Generator().manual_seed(0))
    assert {round(c, 3) for c in conditions["condition"].tolist()} == {6.4, 51.2}
    assert module.task.env_kwargs["cohs"] == [6.4, 51.2]


# ---------------------------------------------------------------------- reliability
@pytest.mark.parametrize(
    "threshold, pattern",
    [
        (float("nan"), r"threshold must be a finite number, got nan"),
        (float("inf"), r"threshold must be a finite number, got inf"),
        ([0.5, float("nan")], r"threshold\[1\] must be a finite number, got nan; .*leave stage 1"),
    ],
)
def test_non_finite_thresholds_are_refused(threshold, pattern):
    with pytest.raises(ValueError, match=pattern):
        Curriculum(STAGES, threshold=threshold)


def test_a_stage_that_changes_dt_against_the_network_is_refused_and_leaves_the_task():
    task = PerceptualDecision(dt=20.0)
    trainer, module = _fake_run(task)
    module.network = tr.RateRNN(3, 8, tau=100.0, dt=20.0)
    cb = Curriculum([{"coherences": [0.512]}, {"coherences": [0.256], "dt": 10.0}], threshold=0.5)
    cb.on_fit_start(trainer, module)  # stage 0 keeps dt = 20 ms
    trainer.callback_metrics["val/accuracy"] = torch.tensor(0.9)
    with pytest.raises(
        ValueError,
        match=r"curriculum stage 1 .* must keep the task's dt equal to the network's "
        r"dt = 20 ms, got 10 ms",
    ):
        cb.on_validation_end(trainer, module)
    assert task.dt == 20.0 and _coherences(task) == {0.512}  # the task was left at stage 0's arguments
    same = Curriculum([{"dt": 20.0}, {"coherences": [0.256], "dt": 20.0}], threshold=0.5)
    same.on_fit_start(trainer, module)  # a stage may name dt, equal to the network's


def test_each_stage_applies_to_the_task_as_configured_so_a_resume_draws_the_same_trials():
    # stages were applied on top of the previous stage's task, so a run resumed at stage 1 (its
    # task rebuilt as configured, then stage 1 alone) drew every coherence where the uninterrupted
    # run drew 0.512 only, and {} later on was not "as configured"
    stages = [{"coherences": [0.512]}, {"delay": 200.0}, {}]
    task = PerceptualDecision(dt=20.0)
    trainer, module = _fake_run(task)
    cb = Curriculum(stages, monitor="val/loss", mode="min", threshold=10.0)
    cb.on_fit_start(trainer, module)
    trainer.callback_metrics = {"val/loss": torch.tensor(0.0)}
    cb.on_validation_end(trainer, module)
    assert (task.coherences, task.delay) == (PerceptualDecision().coherences, 200.0)
    resumed_task = PerceptualDecision(dt=20.0)
    resumed = Curriculum(stages, monitor="val/loss", mode="min", threshold=10.0)
    resumed.load_state_dict(cb.state_dict())
    resumed.on_fit_start(*_fake_run(resumed_task))
    assert resumed_task.config() == task.config()
    cb.on_validation_end(trainer, module)
    assert task.config() == PerceptualDecision(dt=20.0).config()
