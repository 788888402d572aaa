"""Lightning recipes: train a torchrate network on a task, then analyse it.

* :class:`TaskModule` — network + linear readout + task loss (LightningModule);
* :class:`TaskDataModule` — seeded train / val / test trials of a task;
* :class:`AnalysisCallback` — at the end of ``fit``, figures and ``summary.json``
  (:func:`analyze`; :func:`analyze_checkpoint` for a saved run);
* :class:`RunCheckpoint` — checkpoints in ``<default_root_dir>/checkpoints`` (with
  ``last.ckpt``, so ``--ckpt_path last`` resumes).
"""

from .callbacks import AnalysisCallback, RunCheckpoint, default_loggers
from .data import TaskDataModule
from .module import TaskModule, masked_cross_entropy, masked_mse
from .report import analyze, analyze_checkpoint, load_checkpoint

__all__ = [
    "TaskModule",
    "TaskDataModule",
    "AnalysisCallback",
    "RunCheckpoint",
    "default_loggers",
    "analyze",
    "analyze_checkpoint",
    "load_checkpoint",
    "masked_mse",
    "masked_cross_entropy",
]
