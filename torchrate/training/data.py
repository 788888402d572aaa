"""The LightningDataModule: trials drawn from a task, with seeded, disjoint splits.

* train — a fresh stream every epoch: batch ``i`` of epoch ``e`` on rank ``r`` is drawn with
  a generator seeded from ``(seed, "train", e, r, i)``, so a resumed run sees exactly the
  batches an uninterrupted one would, and DDP ranks see different trials;
* val, test — fixed sets drawn once from ``(seed, "val")`` and ``(seed, "test")``; predict
  runs on the test set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, IterableDataset

from .. import _validate
from ..tasks import Task
from .module import as_task
from .seeding import derive_seed

__all__ = ["TaskDataModule", "draw_batch"]

Batch = tuple[Tensor, Tensor, Tensor, dict[str, Tensor]]  # inputs (T, B, I), targets (T, B, O), mask, conditions


def draw_batch(task: Task, batch_size: int, seed: int) -> Batch:
    """``(inputs, targets, mask, conditions)`` of ``batch_size`` trials drawn with ``seed``.

    ``task`` a :class:`~torchrate.tasks.Task`, ``batch_size`` an int ≥ 1, ``seed`` an int
    (``TypeError``/``ValueError`` naming the argument otherwise)."""
    if not isinstance(task, Task):
        raise TypeError(f"task must be a torchrate.tasks.Task, got {_validate._show(task)}")
    batch_size = _validate.as_int("batch_size", batch_size, minimum=1)
    seed = _validate.as_seed("seed", seed)
    trials, conditions = task.generate(batch_size, generator=torch.Generator().manual_seed(seed))
    return trials.inputs, trials.targets, trials.mask, conditions


class _TrainStream(IterableDataset[Batch]):
    """``n_batches`` batches per epoch, each a deterministic function of (seed, epoch, rank, i);
    an epoch resumed at batch ``start`` (``where()`` → (epoch, rank, start)) yields the rest."""

    def __init__(
        self, task: Task, batch_size: int, n_batches: int, seed: int, where: Callable[[], tuple[int, int, int]]
    ) -> None:
        self.task, self.batch_size, self.n_batches = task, batch_size, n_batches
        self.seed, self.where = seed, where  # where() -> (epoch, rank, first batch)

    def __len__(self) -> int:
        return self.n_batches

    def __iter__(self) -> Iterator[Batch]:
        epoch, rank, start = self.where()
        for i in range(start, self.n_batches):
            yield draw_batch(self.task, self.batch_size, derive_seed(self.seed, "train", epoch, rank, i))


class _Batches(Dataset[Batch]):
    def __init__(self, batches: list[Batch]) -> None:
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> Batch:
        return self.batches[i]


class TaskDataModule(L.LightningDataModule):
    """Trials of ``task`` for fit / validate / test.

    Parameters
    ----------
    task : Task or dict
        The task (on the command line, the YAML block ``data.task``; ``model.task`` is
        linked to it).
    batch_size : int
        Trials per batch.
    train_batches : int
        Batches per training epoch (drawn fresh each epoch).
    val_trials, test_trials : int
        Size of the fixed validation and test sets (multiples of ``batch_size`` are split
        into batches of ``batch_size``).
    seed : int
        Root seed of the three splits.
    """

    def __init__(
        self,
        task: Task,
        batch_size: int = 64,
        train_batches: int = 50,
        val_trials: int = 512,
        test_trials: int = 1024,
        seed: int = 0,
    ) -> None:
        super().__init__()
        batch_size, train_batches, val_trials, test_trials = (
            _validate.as_int(name, value, minimum=1)
            for name, value in (
                ("batch_size", batch_size),
                ("train_batches", train_batches),
                ("val_trials", val_trials),
                ("test_trials", test_trials),
            )
        )
        _validate.as_seed("seed", seed, fix="the root seed of the train, val and test splits")
        self.task = as_task(task)
        task = self.task.config()  # type: ignore[assignment]  # save_hyperparameters reads the locals: plain
        self.save_hyperparameters()
        self.batch_size, self.train_batches, self.seed = batch_size, train_batches, seed
        self.val_trials, self.test_trials = val_trials, test_trials

    def _where(self) -> tuple[int, int, int]:
        """(epoch, rank, the epoch's first batch): 0, or on a run resumed from a checkpoint saved
        mid-epoch the batches of the epoch it had completed (Lightning restarts the loader but
        not its count of them: the epoch would start again from batch 0, seen twice)."""
        trainer = self.trainer
        if trainer is None:
            return 0, 0, 0
        done = trainer.fit_loop.epoch_loop.batch_progress.current.completed  # 0 when an epoch starts afresh
        return trainer.current_epoch, trainer.global_rank, done

    def _fixed(self, split: str, n_trials: int) -> _Batches:
        full, rest = divmod(n_trials, self.batch_size)
        sizes = [self.batch_size] * full + ([rest] if rest else [])
        return _Batches([draw_batch(self.task, size, derive_seed(self.seed, split, i)) for i, size in enumerate(sizes)])

    def held_out(self, n_trials: int, split: str = "test") -> Batch:
        """``(inputs, targets, mask, conditions)`` of ``n_trials`` held-out trials in one batch, drawn
        from ``(seed, split, "all")``: never trained on, but not the trials of the ``split``'s own
        batches (those are drawn a batch at a time, from ``(seed, split, i)``)."""
        return draw_batch(self.task, n_trials, derive_seed(self.seed, split, "all"))

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        """Lightning's hook: a batch whose tensors are all on ``device`` already (the CPU case) as it
        is — Lightning's generic walk over it costs ~40 µs a training step — else moved by
        Lightning's default."""
        if isinstance(batch, (tuple, list)) and all(_on_device(x, device) for x in batch):
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    # each loader gets a generator of its own: a DataLoader iterator otherwise draws its base seed
    # from the global RNG (the batches themselves are seeded from (seed, split, …) above)
    def train_dataloader(self) -> DataLoader[Batch]:
        stream = _TrainStream(self.task, self.batch_size, self.train_batches, self.seed, self._where)
        return DataLoader(stream, batch_size=None, generator=torch.Generator().manual_seed(self.seed))

    def val_dataloader(self) -> DataLoader[Batch]:
        return DataLoader(
            self._fixed("val", self.val_trials), batch_size=None, generator=torch.Generator().manual_seed(self.seed)
        )

    def test_dataloader(self) -> DataLoader[Batch]:
        return DataLoader(
            self._fixed("test", self.test_trials), batch_size=None, generator=torch.Generator().manual_seed(self.seed)
        )

    def predict_dataloader(self) -> DataLoader[Batch]:
        """The test split (the trials ``test`` scores): what ``torchrate predict`` runs the network on."""
        return self.test_dataloader()


def _on_device(x: Any, device: torch.device) -> bool:
    """``x`` — a tensor, or a dict of tensors (a batch's conditions) — is on ``device``; False for
    anything else (Lightning's default then walks it)."""
    if isinstance(x, torch.Tensor):
        return x.device == device
    return isinstance(x, Mapping) and all(isinstance(v, torch.Tensor) and v.device == device for v in x.values())
