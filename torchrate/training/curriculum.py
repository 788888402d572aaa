"""Curricula: step a task through difficulty stages as the network learns.

:class:`Curriculum` is a Lightning callback. Each stage is a dict of the task's ``__init__``
arguments (applied with :meth:`Task.update <torchrate.tasks.Task.update>`, so it works with
every torchrate task, NeuroGym ones included); after each validation it compares a
validation metric with the stage's threshold and, once passed ``patience`` times in a row,
moves to the next stage. In ``torchrate fit``'s YAML::

    trainer:
      callbacks:
        - class_path: torchrate.training.curriculum.Curriculum
          init_args:
            monitor: val/accuracy
            threshold: 0.9
            stages:
              - {coherences: [0.512]}
              - {coherences: [0.128, 0.256, 0.512]}
              - {coherences: [0.0, 0.032, 0.064, 0.128, 0.256, 0.512]}
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info

from .. import _validate
from ..tasks import Task

__all__ = ["Curriculum", "passes"]

_MODES = ("max", "min")


def passes(value: float, threshold: float, mode: str) -> bool:
    """Whether a metric ``value`` reaches ``threshold`` (``mode="max"``: ≥, ``"min"``: ≤); NaN never does.

    ``value`` and ``threshold`` are real numbers (one-element tensors included), ``threshold`` finite;
    ``TypeError``/``ValueError`` naming the argument otherwise, and for a ``mode`` other than the two.
    """
    _validate.check_choice("mode", mode, _MODES, fix="'max': value ≥ threshold passes, 'min': value ≤ threshold")
    threshold = _validate.as_float("threshold", threshold)
    value = _validate.as_float("value", value, finite=False)
    if not math.isfinite(value):
        return False
    return value >= threshold if mode == "max" else value <= threshold


class Curriculum(Callback):
    """Advance the task through ``stages`` when ``monitor`` passes ``threshold``.

    The stage is applied to the model's task and to the data module's task (the training
    stream draws its next batch from it; the validation set is drawn anew for the new
    stage), logged as ``curriculum/stage`` and announced on rank 0. The callback's state
    (stage, passes, history, and the task's arguments at that stage) is saved in
    checkpoints: a resumed run continues at its stage. The checkpoint's hyper-parameters keep
    the task as configured, so ``--ckpt_path`` resumes with the same YAML.

    Parameters
    ----------
    stages : sequence of dict
        ``__init__`` arguments of the task at each stage, each applied to the task as configured
        (not to the previous stage's: ``{}`` is the task as configured, and a resumed run's
        task is the uninterrupted run's). Stage 0 is applied when fitting starts. A stage must
        keep the task's ``dt`` equal to the network's (``ValueError`` when it is applied, the
        task left as it was).
    monitor : str
        A validation metric logged by the module (``val/accuracy``, ``val/loss``, …).
    threshold : float or sequence of float
        The value to reach to leave each stage: one for all, or one per stage but the last
        (finite numbers).
    mode : {"max", "min"}
        ``max``: the metric must be ≥ threshold (accuracy); ``min``: ≤ (loss).
    patience : int
        Consecutive validations that must pass before the next stage.
    """

    def __init__(
        self,
        stages: Sequence[Mapping[str, Any]],
        monitor: str = "val/accuracy",
        threshold: float | Sequence[float] = 0.9,
        mode: str = "max",
        patience: int = 1,
    ) -> None:
        if isinstance(stages, (Mapping, str)) or not isinstance(stages, Sequence):
            raise TypeError(f"stages must be a non-empty list of dicts of task arguments, got {stages!r}")
        if len(stages) == 0:
            raise ValueError(f"stages must be a non-empty list of dicts of task arguments, got {stages!r}")
        for i, stage in enumerate(stages):
            if not isinstance(stage, Mapping):
                raise TypeError(f"stages[{i}] must be a dict of task arguments, got {stage!r}")
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(f"monitor must be the name of a logged metric (a str, 'val/accuracy'), got {monitor!r}")
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        thresholds = [threshold] * (len(stages) - 1) if isinstance(threshold, (int, float)) else list(threshold)
        if len(thresholds) != len(stages) - 1 or not all(isinstance(t, (int, float)) for t in thresholds):
            raise ValueError(
                f"threshold must be a number or {len(stages) - 1} numbers (one per stage but the "
                f"last), got {threshold!r}"
            )
        for i, t in enumerate(thresholds):
            if isinstance(t, bool) or not math.isfinite(t):  # a NaN threshold is never passed: no stage would follow
                name = "threshold" if isinstance(threshold, (int, float)) else f"threshold[{i}]"
                raise ValueError(
                    f"{name} must be a finite number, got {t!r}; the value {monitor} must reach to leave stage {i}"
                )
        if isinstance(patience, bool) or not isinstance(patience, int):
            raise TypeError(f"patience must be a positive int (validations that must pass in a row), got {patience!r}")
        if patience < 1:
            raise ValueError(f"patience must be a positive int, got {patience!r}")
        self.stages = [dict(s) for s in stages]
        self.monitor, self.mode, self.patience = monitor, mode, patience
        self.thresholds = [float(t) for t in thresholds]
        self.stage = 0
        self.passed = 0
        self.history: list[dict[str, Any]] = []  # {"stage", "step", "epoch", monitor: value} at each change
        self._task_configs: list[dict[str, Any]] = []  # the tasks' config() at the current stage
        # each task's __init__ arguments as configured (first seen), that every stage is applied to
        self._configured: dict[int, tuple[Task, dict[str, Any]]] = {}

    # ------------------------------------------------------------------ tasks
    @staticmethod
    def _tasks(trainer: L.Trainer, pl_module: L.LightningModule) -> list[Task]:
        tasks: list[Task] = []
        for owner in (pl_module, getattr(trainer, "datamodule", None)):
            task = getattr(owner, "task", None)
            if task is not None and all(task is not t for t in tasks):
                tasks.append(task)
        if not tasks:
            raise TypeError("Curriculum needs a model or data module with a `task` attribute (a torchrate Task)")
        return tasks

    def _apply(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        stage = self.stages[self.stage]
        network = getattr(pl_module, "network", None)
        net_dt = getattr(network, "dt", None)
        self._task_configs = []
        for task in self._tasks(trainer, pl_module):
            before = dict(task.__dict__)
            if id(task) not in self._configured or self._configured[id(task)][0] is not task:
                self._configured[id(task)] = (task, copy.deepcopy(task.config()["init_args"]))
            task.update(**{**self._configured[id(task)][1], **stage})
            if net_dt is not None and task.dt != net_dt:  # the network was built for one step: it cannot change
                new_dt = task.dt
                task.__dict__.clear()
                task.__dict__.update(before)
                raise ValueError(
                    f"curriculum stage {self.stage} ({stage!r}) must keep the task's dt equal to the "
                    f"network's dt = {net_dt:g} ms, got {new_dt:g} ms; drop 'dt' from the stage (or "
                    f"train every stage at one dt)"
                )
            self._task_configs.append(task.config())

    # ------------------------------------------------------------------ hooks
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # after a resume, self.stage was restored by load_state_dict
        self._apply(trainer, pl_module)
        self._log(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or self.stage == len(self.stages) - 1:
            return
        if self.monitor not in trainer.callback_metrics:
            available = sorted(k for k in trainer.callback_metrics if k.startswith("val"))
            raise KeyError(f"Curriculum monitor {self.monitor!r} was not logged; validation metrics: {available}")
        value = float(trainer.callback_metrics[self.monitor])
        threshold = self.thresholds[self.stage]
        self.passed = self.passed + 1 if passes(value, threshold, self.mode) else 0
        if self.passed < self.patience:
            return
        self.stage += 1
        self.passed = 0
        self.history.append(
            {"stage": self.stage, "step": trainer.global_step, "epoch": trainer.current_epoch, self.monitor: value}
        )
        self._apply(trainer, pl_module)
        # the validation set was drawn from the previous stage: draw it again
        trainer.fit_loop.epoch_loop.val_loop._combined_loader = None
        sign = "≥" if self.mode == "max" else "≤"
        rank_zero_info(
            f"Curriculum: stage {self.stage} of {len(self.stages) - 1} at step {trainer.global_step} "
            f"({self.monitor} = {value:.4g} {sign} {threshold:g}): {self.stages[self.stage]}"
        )
        self._log(trainer)

    def _log(self, trainer: L.Trainer) -> None:
        for logger in trainer.loggers:
            logger.log_metrics({"curriculum/stage": float(self.stage)}, step=trainer.global_step)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "passed": self.passed,
            "history": list(self.history),
            "tasks": list(self._task_configs),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        stage = int(state_dict["stage"])
        if not 0 <= stage < len(self.stages):
            raise ValueError(
                f"the checkpoint's curriculum stage {stage} does not exist in this curriculum of "
                f"{len(self.stages)} stages"
            )
        self.stage, self.passed = stage, int(state_dict.get("passed", 0))
        self.history = list(state_dict.get("history", []))
