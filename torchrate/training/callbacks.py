"""Callbacks and loggers of the ``torchrate fit`` recipe."""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import lightning as L
import torch
from lightning.pytorch.callbacks import BasePredictionWriter, Callback, ModelCheckpoint
from torch import Tensor

from .. import _validate

if TYPE_CHECKING:
    from lightning.pytorch.loggers import Logger

    from .module import TaskModule

__all__ = ["RunCheckpoint", "AnalysisCallback", "PredictionWriter", "default_loggers", "versioned_directory"]


def versioned_directory(path: str | os.PathLike[str]) -> Path:
    """``path`` if it does not exist or is empty, else the first of ``path-v1``, ``path-v2``, …
    that does not exist or is empty (what Lightning does for ``epoch=…-v1.ckpt``). ``path`` is a
    str or ``os.PathLike`` (``TypeError`` otherwise)."""
    path = Path(_validate.check_path("path", path))

    def free(p: Path) -> bool:
        return not p.exists() or p.is_dir() and not any(p.iterdir())

    k = 0
    candidate = path
    while not free(candidate):
        k += 1
        candidate = path.with_name(f"{path.name}-v{k}")
    return candidate


def _tensorboard_available() -> bool:
    """Whether Lightning's ``TensorBoardLogger`` can write: ``tensorboard`` or ``tensorboardX`` is
    installed (neither is a dependency of torchrate: ``pip install tensorboard``)."""
    import importlib.util

    return any(importlib.util.find_spec(name) is not None for name in ("tensorboard", "tensorboardX"))


def default_loggers(save_dir: str | Path) -> list[Logger]:
    """A CSV logger in ``save_dir/logs/version_k`` — plus TensorBoard in
    ``save_dir/tensorboard/version_k`` when ``tensorboard`` (or ``tensorboardX``) is installed."""
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    _validate.check_path("save_dir", save_dir, fix="the run's folder")
    loggers: list[Logger] = [CSVLogger(save_dir, name="logs")]
    if _tensorboard_available():
        # no hp_metric: Lightning's placeholder (−1) would stand in the HParams table for a metric
        loggers.append(TensorBoardLogger(save_dir, name="tensorboard", default_hp_metric=False))
    return loggers


class RunCheckpoint(ModelCheckpoint):
    """:class:`~lightning.pytorch.callbacks.ModelCheckpoint` that keeps a ``last.ckpt`` and whose
    default ``dirpath`` is ``<trainer.default_root_dir>/checkpoints`` — one folder per run,
    not per logger version — so that ``--ckpt_path last`` finds the run's ``last.ckpt``
    after a restart.

    ``last.ckpt`` is a symbolic link to the checkpoint just written (``save_last="link"``;
    a copy where links are not allowed): one save per epoch instead of two, ~0.1 ms per
    training step of a small network. ``save_last=True`` writes it as a file of its own.

    Reliability: ``last.ckpt`` always names the latest checkpoint — it is replaced atomically
    (never ``last-v1.ckpt``, also after the run directory was moved); checkpoints are written
    to a temporary file and renamed, and loaded CRC-verified with ``weights_only=True``
    (:class:`~torchrate.training.checkpoints.SafeCheckpointIO`, installed in ``setup``).
    """

    def __init__(
        self, dirpath: str | None = None, save_last: bool | Literal["link"] | None = "link", **kwargs: Any
    ) -> None:
        _validate.check_path(
            "dirpath", dirpath, optional=True, fix="None saves to <trainer.default_root_dir>/checkpoints"
        )
        if not (save_last is None or isinstance(save_last, bool) or save_last == "link"):
            error = ValueError if isinstance(save_last, str) else TypeError
            raise error(f"save_last must be True, False, None or 'link', got {_validate._show(save_last)}")
        super().__init__(dirpath=dirpath, save_last=save_last, **kwargs)

    @property
    def state_key(self) -> str:
        # Lightning formats the key (a repr of a dict, ~3 µs) on each of the ~6 callback hooks of
        # every training step: formatted once per setting of the values it names
        settings = (self.monitor, self.mode, self._every_n_train_steps, self._every_n_epochs, self._train_time_interval)
        cached = self.__dict__.get("_state_key")
        if cached is None or cached[0] != settings:
            cached = self._state_key = (settings, super().state_key)
        return cached[1]

    def _use_run_dir(self, trainer: L.Trainer) -> None:
        if self.dirpath is None:
            self.dirpath = os.path.realpath(os.path.join(trainer.default_root_dir, "checkpoints"))

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        from .checkpoints import install_safe_checkpoint_io

        install_safe_checkpoint_io(trainer)  # before Lightning restores --ckpt_path
        self._use_run_dir(trainer)
        super().setup(trainer, pl_module, stage)

    def _save_last_checkpoint(self, trainer: L.Trainer, monitor_candidates: dict[str, Tensor]) -> None:
        # always <dirpath>/last.ckpt: Lightning's version counter would write last-v1.ckpt
        # whenever last_model_path was not restored (a moved run directory)
        if not self.save_last:
            return
        filepath = self.format_checkpoint_name(monitor_candidates, self.CHECKPOINT_NAME_LAST)
        previous, self.last_model_path = self.last_model_path, filepath
        if self.save_last == "link" and self._last_checkpoint_saved and self.save_top_k != 0:
            self._link_checkpoint(trainer, self._last_checkpoint_saved, filepath)
        else:
            self._save_checkpoint(trainer, filepath)
        if previous and self._should_remove_checkpoint(trainer, previous, filepath):
            self._remove_checkpoint(trainer, previous)

    @staticmethod
    def _link_checkpoint(trainer: L.Trainer, filepath: str, linkpath: str) -> None:
        # Lightning's version removes the link, then creates it: a crash in between leaves no
        # last.ckpt. Here a new link (or copy) is made beside it and renamed over it.
        if trainer.is_global_zero and os.path.abspath(filepath) != os.path.abspath(linkpath):
            tmp = os.path.join(os.path.dirname(linkpath), f".{os.path.basename(linkpath)}.tmp-{os.getpid()}")
            if os.path.lexists(tmp):
                os.remove(tmp)
            try:
                os.symlink(os.path.relpath(filepath, os.path.dirname(linkpath)), tmp)
            except OSError:  # links refused (e.g. Windows without the privilege): a copy
                shutil.copy(filepath, tmp)
            if os.path.isdir(linkpath) and not os.path.islink(linkpath):
                shutil.rmtree(linkpath)
            os.replace(tmp, linkpath)
        trainer.strategy.barrier()

    def _find_last_checkpoints(self, trainer: L.Trainer) -> set[str]:
        self._use_run_dir(trainer)
        return super()._find_last_checkpoints(trainer)


class AnalysisCallback(Callback):
    """Record learning curves during ``fit``; at its end, analyse the trained network.

    Writes to ``out`` (default ``<trainer.default_root_dir>/analysis``), on rank 0:
    ``learning_curves.png``, ``task_metric.png``, ``spectrum.png``, ``fixed_points.png`` and
    ``summary.json`` — see :func:`torchrate.training.report.analyze`. The history is part of
    the checkpoint, so a resumed run draws its whole learning curve.

    The analysis takes seconds (the fixed-point search, the bifurcation diagram): its stages are
    shown on stderr as a progress bar when the Trainer's progress bar is enabled and stderr is
    a terminal (:func:`~torchrate.training.report.analyze`'s ``progress``). A TensorBoard
    logger of the Trainer receives the analysis too: the held-out metrics and fixed-point counts
    as scalars ``analysis/…``, each figure as an image, ``summary.json`` as text.

    Like checkpoints (``epoch=1-step=8-v1.ckpt``) and logs (``version_1``), an analysis never
    replaces an earlier one: when ``out`` already holds files, a re-run (or a resumed run) writes
    to ``out-v1``, then ``out-v2``, … — unless ``overwrite=True``. The folder written is
    :attr:`written_to`.

    Parameters
    ----------
    out : str, optional
        Output folder.
    n_trials : int
        Held-out trials (:meth:`TaskDataModule.held_out`: one batch drawn from the test split's
        seed, never trained on) used for the metrics, trajectories and the initial states of the
        fixed-point search.
    overwrite : bool
        Write into ``out`` even when it holds an earlier analysis (its files are replaced).
    """

    def __init__(self, out: str | None = None, n_trials: int = 512, overwrite: bool = False) -> None:
        _validate.check_path("out", out, optional=True, fix="None writes to <trainer.default_root_dir>/analysis")
        n_trials = _validate.as_int("n_trials", n_trials, minimum=1)
        _validate.check_flag("overwrite", overwrite)
        self.out, self.n_trials, self.overwrite = out, n_trials, overwrite
        self.written_to: Path | None = None
        self.history: list[dict[str, Any]] = []
        self._loss_sum: torch.Tensor | None = None
        self._batches = 0

    # ------------------------------------------------------------------ history
    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        # TaskModule returns the task loss without penalties; any other module its "loss"
        loss = outputs.get("task_loss", outputs["loss"]).detach()  # summed on device: no host sync
        self._loss_sum = loss if self._loss_sum is None else self._loss_sum + loss
        self._batches += 1

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # runs before ModelCheckpoint saves at the end of validation, so the row is in the checkpoint
        if trainer.sanity_checking:
            return
        row: dict[str, float] = {"epoch": trainer.current_epoch, "step": trainer.global_step}
        if self._batches and self._loss_sum is not None:
            row["train/loss"] = float(self._loss_sum) / self._batches
        row |= {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/") and v.ndim == 0}
        self.history.append(row)
        self._loss_sum, self._batches = None, 0

    def state_dict(self) -> dict[str, Any]:
        return {"history": list(self.history)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict["history"])

    # ------------------------------------------------------------------ analysis
    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        from .report import analyze

        out = Path(self.out) if self.out is not None else Path(trainer.default_root_dir) / "analysis"
        if not self.overwrite:
            out = versioned_directory(out)
        self.written_to = out
        datamodule: Any = getattr(trainer, "datamodule", None)  # set by Lightning, not declared on Trainer
        trials = datamodule.held_out(self.n_trials) if hasattr(datamodule, "held_out") else None
        # its stages on stderr, as the Trainer's bar shows training: not with the bar disabled, nor into a file
        progress = trainer.progress_bar_callback is not None and sys.stderr is not None and sys.stderr.isatty()
        summary = analyze(
            cast("TaskModule", pl_module),  # analyze refuses a module without .task and .network
            out,
            trials=trials,
            history=self.history,
            extra={"epochs": trainer.current_epoch, "global_step": trainer.global_step},
            progress=progress,
        )
        _log_analysis_to_tensorboard(trainer, out, summary)


def _log_analysis_to_tensorboard(trainer: L.Trainer, out: Path, summary: dict[str, Any]) -> None:
    """The analysis in every TensorBoard logger of the Trainer, at the last step: the held-out
    metrics and the fixed-point counts as scalars (``analysis/…``), each figure as an image,
    ``summary.json`` as text."""
    from lightning.pytorch.loggers import TensorBoardLogger

    writers = [logger.experiment for logger in trainer.loggers if isinstance(logger, TensorBoardLogger)]
    if not writers:
        return
    from matplotlib.image import imread

    step = trainer.global_step
    scalars = {f"analysis/{k}": v for k, v in summary.get("metrics", {}).items() if isinstance(v, (int, float))}
    fixed_points = summary.get("fixed_points", {})
    scalars |= {
        "analysis/fixed_points": fixed_points.get("count"),
        "analysis/stable_fixed_points": fixed_points.get("stable"),
    }
    images = {f"analysis/{png.stem}": imread(png)[..., :3] for png in sorted(out.glob("*.png"))}  # RGB, (H, W, 3)
    text = "```json\n" + json.dumps(summary, indent=2) + "\n```"
    for writer in writers:
        for tag, value in scalars.items():
            if value is not None:
                writer.add_scalar(tag, value, step)
        for tag, image in images.items():
            writer.add_image(tag, image, step, dataformats="HWC")
        writer.add_text("analysis/summary", text, step)
        writer.flush()


class PredictionWriter(BasePredictionWriter):
    """Write what ``predict`` computed — every trial's inputs, targets, mask, conditions, outputs
    and rates — to one file (what ``torchrate predict`` does).

    ``torchrate predict --config CONFIG --ckpt_path last`` runs the trained network on the test
    split of the data (the trials ``torchrate test`` scores; :meth:`TaskDataModule.predict_dataloader
    <torchrate.training.TaskDataModule.predict_dataloader>`) and writes
    ``<trainer.default_root_dir>/predictions.pt``, a dict of tensors that loads with
    ``torch.load(path, weights_only=True)``:

    ==============  ==========================================================================
    ``inputs``      (T, B, I)
    ``targets``     (T, B, O)
    ``mask``        (T, B, O)
    ``outputs``     (T, B, O) — (K, T, B, O) for an ensemble of K
    ``rates``       (T, B, N) — (K, T, B, N) for an ensemble
    ``conditions``  dict of (B, …) tensors (signed coherence, input amplitudes, …)
    ==============  ==========================================================================

    B is every trial of every batch, in order. Batches of different lengths are padded at the
    end to the longest T as the tasks pad trials: zero inputs and targets, mask 0, and NaN outputs
    and rates (not computed). A ``.npz`` file name writes the same for NumPy (``np.load``), the
    conditions as ``conditions/<name>``. Like the analysis, a file never replaces an earlier one:
    ``predictions-v1.pt``, … unless ``overwrite=True``; :attr:`written_to` is the file written.
    Under DDP each rank writes its own trials to ``predictions.rank<r>.pt``.

    Parameters
    ----------
    out : str, optional
        The file, ``.pt`` or ``.npz`` (default ``<trainer.default_root_dir>/predictions.pt``).
    overwrite : bool
        Replace ``out`` when it exists.
    """

    def __init__(self, out: str | None = None, overwrite: bool = False) -> None:
        _validate.check_path("out", out, optional=True, fix="None writes to <trainer.default_root_dir>/predictions.pt")
        if out is not None and Path(out).suffix not in (".pt", ".npz"):
            raise ValueError(f"out must name a .pt or .npz file, got {str(out)!r}")
        _validate.check_flag("overwrite", overwrite)
        super().__init__(write_interval="batch")  # each batch kept on the CPU: also with return_predictions=False
        self.out, self.overwrite = out, overwrite
        self.written_to: Path | None = None
        self._batches: list[dict[str, Any]] = []

    def on_predict_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._batches = []

    def write_on_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        prediction: Any,
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        if not isinstance(prediction, dict) or "outputs" not in prediction:
            raise TypeError(
                f"PredictionWriter writes the dicts of TaskModule.predict_step, got "
                f"{_validate._show(prediction)} from {type(pl_module).__name__}.predict_step"
            )
        self._batches.append(_to_cpu(prediction))

    def on_predict_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._batches:
            return
        out = Path(self.out) if self.out is not None else Path(trainer.default_root_dir) / "predictions.pt"
        if trainer.world_size > 1:
            out = out.with_name(f"{out.stem}.rank{trainer.global_rank}{out.suffix}")
        if not self.overwrite:
            out = _versioned_file(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        merged = _merge_batches(self._batches)
        self._batches = []
        if out.suffix == ".npz":
            import numpy as np

            arrays = {k: v.numpy() for k, v in merged.items() if k != "conditions"}
            arrays |= {f"conditions/{k}": v.numpy() for k, v in merged.get("conditions", {}).items()}
            with open(out, "wb") as f:  # np.savez would add .npz to a name of its own
                np.savez(f, **arrays)
        else:
            torch.save(merged, out)
        self.written_to = out


def _to_cpu(x: Any) -> Any:  # a prediction: tensors in nested dicts
    if isinstance(x, torch.Tensor):
        return x.detach().cpu()
    if isinstance(x, dict):
        return {k: _to_cpu(v) for k, v in x.items()}
    return x


def _versioned_file(path: Path) -> Path:
    """``path``, or the first of ``stem-v1.suffix``, ``stem-v2.suffix``, … that does not exist."""
    k, candidate = 0, path
    while candidate.exists():
        k += 1
        candidate = path.with_name(f"{path.stem}-v{k}{path.suffix}")
    return candidate


def _merge_batches(batches: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-batch dicts of (…, T, B, ·) tensors (and a ``conditions`` dict of (B, …) tensors) as
    one dict with every trial along B, shorter batches padded at the end of T (NaN outputs and
    rates, zeros elsewhere); conditions with every key any batch has (zeros where a batch lacks one,
    see :func:`~torchrate.training.module._conditions_side_by_side`)."""
    from .module import _conditions_side_by_side, _side_by_side

    merged: dict[str, Any] = {}
    for key in batches[0]:
        if key == "conditions":
            sizes = [b["inputs"].shape[-2] for b in batches]
            merged[key] = _conditions_side_by_side([b[key] for b in batches], sizes)
        else:
            merged[key] = _side_by_side([b[key] for b in batches], math.nan if key in ("outputs", "rates") else 0.0)
    return merged
