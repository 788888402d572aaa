"""Steps per second of Lightning training (the ``torchrate fit`` recipe) against a bare
PyTorch loop on the same model, data and batch size.

Both contenders train the same :class:`~torchrate.training.TaskModule` (network + readout,
the task's loss, Adam, gradient-norm clipping at 1) on the same batches from the same
:class:`~torchrate.training.TaskDataModule` train stream:

* ``bare``      — ``for batch in loader: zero_grad; loss.backward(); clip_grad_norm_; step``;
* ``Lightning`` — ``lightning.Trainer`` as ``torchrate fit`` builds it: CSV logger,
  checkpoints every epoch (:class:`~torchrate.training.RunCheckpoint`), ``self.log`` of the
  loss every step; validation, the progress bar and the end-of-fit analysis off (they are
  not training steps).

The first epoch of each run is a warm-up; the steps of the remaining epochs are timed.
Runs are interleaved (bare, Lightning, bare, …) so both see the same machine load; the
median and the best (least disturbed by other processes) of the repeats are reported.
Overhead = 1 − (Lightning steps/s) / (bare steps/s).

Usage: ``python experiments/benchmarks/training.py [--repeats 5] [--epochs 4] [--out experiments/out]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

import torchrate as tr
from torchrate.training import RunCheckpoint, TaskDataModule, TaskModule

# (name, task, network spec): the default configs' sizes
CASES = [
    ("PerceptualDecision N=64 T=40", lambda: tr.tasks.PerceptualDecision(),
     {"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": 64, "tau": 100.0, "dt": 20.0}}),
    ("FlipFlop(3) N=64 T=50", lambda: tr.tasks.FlipFlop(n_bits=3, dt=10.0),
     {"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": 64, "tau": 20.0, "dt": 10.0}}),
    ("FlipFlop(3) N=256 T=50", lambda: tr.tasks.FlipFlop(n_bits=3, dt=10.0),
     {"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": 256, "tau": 20.0, "dt": 10.0}}),
]
BATCH, BATCHES_PER_EPOCH = 64, 50


def _setup(make_task, network):
    L.seed_everything(0, verbose=False)
    task = make_task()
    return TaskModule(task, network, lr=1e-3, grad_clip=1.0), TaskDataModule(task, batch_size=BATCH,
                                                                             train_batches=BATCHES_PER_EPOCH)


def bare(make_task, network, epochs: int) -> float:
    """Steps/s of a plain PyTorch training loop (epochs 1…epochs−1 timed)."""
    module, dm = _setup(make_task, network)
    optimizer = module.configure_optimizers()
    loader = dm.train_dataloader()
    start, steps = None, 0
    for epoch in range(epochs):
        if epoch == 1:
            start = time.perf_counter()
        for inputs, targets, mask, _ in loader:
            optimizer.zero_grad(set_to_none=True)
            outputs, rates = module(inputs)
            loss, _ = module.loss(outputs, rates, targets, mask)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            optimizer.step()
            steps += epoch >= 1
    return steps / (time.perf_counter() - start)


class _Clock(L.Callback):
    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == 1:
            self.start, self.step0 = time.perf_counter(), trainer.global_step

    def on_train_end(self, trainer, pl_module):
        self.steps_per_s = (trainer.global_step - self.step0) / (time.perf_counter() - self.start)


def lightning(make_task, network, epochs: int) -> float:
    """Steps/s of ``lightning.Trainer.fit`` as ``torchrate fit`` configures it."""
    module, dm = _setup(make_task, network)
    clock = _Clock()
    with tempfile.TemporaryDirectory() as root:
        trainer = L.Trainer(max_epochs=epochs, default_root_dir=root, accelerator="cpu", devices=1,
                            logger=tr.training.default_loggers(root), callbacks=[RunCheckpoint(), clock],
                            limit_val_batches=0, enable_progress_bar=False, enable_model_summary=False,
                            log_every_n_steps=10)
        trainer.fit(module, dm)
    return clock.steps_per_s


def main(repeats: int = 5, epochs: int = 4, out: Path = Path("experiments/out")) -> list[dict]:
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, lightning {L.__version__}, 1 thread, float32 CPU, batch {BATCH}, "
          f"{BATCHES_PER_EPOCH} steps/epoch, {epochs - 1} timed epochs, median of {repeats}")
    print(f"{'case':<30} | {'bare steps/s':>12} {'Lightning steps/s':>17} | {'overhead':>8} | "
          f"{'best bare':>9} {'best Lightning':>14} | {'overhead':>8} | {'added ms/step':>13}")
    rows = []
    for name, make_task, network in CASES:
        runs = {"bare": [], "Lightning": []}
        for _ in range(repeats):  # interleaved: the same load for both
            runs["bare"].append(bare(make_task, network, epochs))
            runs["Lightning"].append(lightning(make_task, network, epochs))
        b, lt = statistics.median(runs["bare"]), statistics.median(runs["Lightning"])
        bb, lb = max(runs["bare"]), max(runs["Lightning"])
        row = {"case": name, "bare steps/s": b, "Lightning steps/s": lt, "overhead": 1 - lt / b,
               "best bare steps/s": bb, "best Lightning steps/s": lb, "best overhead": 1 - lb / bb,
               "added ms/step (best)": 1e3 * (1 / lb - 1 / bb), "runs": runs}
        rows.append(row)
        print(f"{name:<30} | {b:>12.1f} {lt:>17.1f} | {row['overhead']:>8.1%} | "
              f"{bb:>9.1f} {lb:>14.1f} | {row['best overhead']:>8.1%} | {row['added ms/step (best)']:>13.2f}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmark_training.json").write_text(json.dumps(rows, indent=2))
    plot(rows, out / "benchmark_training.png")
    return rows


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    x = range(len(rows))
    ax.bar([k - 0.2 for k in x], [r["bare steps/s"] for r in rows], 0.4, label="bare PyTorch loop")
    ax.bar([k + 0.2 for k in x], [r["Lightning steps/s"] for r in rows], 0.4, label="Lightning (torchrate fit)")
    for k, r in zip(x, rows):
        ax.text(k + 0.2, r["Lightning steps/s"], f"{r['overhead']:+.1%}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(x), [r["case"] for r in rows], fontsize=8)
    ax.set_ylabel("training steps / s")
    ax.set_title("Lightning overhead (label: 1 − Lightning/bare)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("experiments/out"))
    args = parser.parse_args()
    main(args.repeats, args.epochs, args.out)
