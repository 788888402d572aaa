"""Lightning recipes: train a torchrate network on a task, then analyse it.

* :class:`TaskModule` — network + linear readout + task loss (LightningModule);
* :class:`TaskDataModule` — seeded train / val / test trials of a task;
* :class:`AnalysisCallback` — at the end of ``fit``, figures and ``summary.json``
  (:func:`analyze`; :func:`analyze_checkpoint` for a saved run);
* :class:`RunCheckpoint` — checkpoints in ``<default_root_dir>/checkpoints`` (with
  ``last.ckpt``, so ``--ckpt_path last`` resumes);
* :class:`PredictionWriter` — what ``predict`` computed (inputs, targets, mask, conditions,
  outputs, rates of the test split) in one file (``torchrate predict``);
* :func:`allow` — let checkpoints and configs name a class of your own (only torchrate's
  classes and ``torch.nn`` modules are allowed otherwise; see :mod:`.allowlist`);
* :func:`export_weights` — a trained network's effective weights, masks and time constants
  as a NumPy ``.npz`` file (``torchrate export CHECKPOINT --out FILE.npz``);
* :func:`analyze_population` — several trained networks compared on the same trials: fixed-point
  topology, CCA/Procrustes geometry, DSA dynamics, MDS embeddings (:mod:`.population`);
* :func:`load_sweep`, :func:`run_sweep` — ``torchrate sweep --config sweep.yaml``: many fits on
  Ray Tune (the ``sweep`` extra), one table of them and their population analysis (:mod:`.sweep`).

Checkpoints load through one verified path (CRC-checked, ``weights_only=True`` always):
:func:`load_checkpoint`, ``TaskModule.load_from_checkpoint``, Trainer resumes of a
``TaskModule`` and ``torchrate analyze``.
"""

from .allowlist import allow
from .callbacks import AnalysisCallback, PredictionWriter, RunCheckpoint, default_loggers
from .data import TaskDataModule
from .export import export_weights
from .module import TaskModule, masked_cross_entropy, masked_mse
from .population import analyze_population
from .report import analyze, analyze_checkpoint, load_checkpoint
from .sweep import load_sweep, run_sweep

__all__ = [
    "TaskModule",
    "TaskDataModule",
    "AnalysisCallback",
    "RunCheckpoint",
    "PredictionWriter",
    "default_loggers",
    "analyze",
    "analyze_checkpoint",
    "load_checkpoint",
    "allow",
    "export_weights",
    "masked_mse",
    "masked_cross_entropy",
    "analyze_population",
    "load_sweep",
    "run_sweep",
]
