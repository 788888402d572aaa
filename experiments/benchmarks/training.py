"""Steps per second of ``torchrate fit`` (Lightning) against a bare PyTorch loop on the same
model, data and batch size.

Both contenders are built by the ``torchrate fit`` command line itself
(:func:`torchrate.cli.build_cli` on a config of ``configs/``, i.e. the same
:class:`~torchrate.training.TaskModule` — network + readout, the task's loss and
penalties, Adam, gradient-norm clipping — and the same
:class:`~torchrate.training.TaskDataModule` train stream):

* ``bare``      — ``for batch in loader: re-seed the noise; zero_grad; forward; loss;
  backward; clip_grad_norm_; Adam step`` on the same batches (epoch by epoch);
* ``Lightning`` — ``cli.trainer.fit`` exactly as ``torchrate fit`` runs it: CSV logger,
  progress bar, checkpoints every epoch, the learning-curve hooks of
  :class:`~torchrate.training.AnalysisCallback`, ``self.log`` of the loss. Left out, as
  they are not training steps: validation (``limit_val_batches 0``) and the end-of-fit
  analysis. The progress bar is written to ``os.devnull``.

Both end with bit-identical weights (checked, ``max |Δw|`` printed): they do the same work.
The first epoch of each run is a warm-up; the steps of the remaining epochs are timed.
Runs are interleaved (bare, Lightning, bare, …) so both see the same machine load; the
median and the best (least disturbed by other processes) of the repeats are reported.
Overhead = 1 − (Lightning steps/s) / (bare steps/s), from the wall clock and, printed beside it,
from the process's CPU time (``time.process_time``: the one thread's own work, robust to other
processes taking the cores; on a loaded machine the wall clock mostly measures the others).

Usage: ``python experiments/benchmarks/training.py [--repeats 9] [--epochs 4] [--out experiments/out]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

from torchrate.cli import build_cli
from torchrate.training import AnalysisCallback

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
# (name, config, overrides): the default configs, and a 4× wider flip-flop network
CASES = [
    ("PerceptualDecision N=64 T=50", "perceptual_decision.yaml", []),
    ("FlipFlop(3) N=64 T=50", "flipflop.yaml", []),
    ("FlipFlop(3) N=256 T=50", "flipflop.yaml", ["--model.network.init_args.hidden_size", "256"]),
]


def _cli(config: str, overrides: list[str], epochs: int, root: str):
    args = [
        "--config",
        str(CONFIGS / config),
        "--trainer.default_root_dir",
        root,
        "--trainer.max_epochs",
        str(epochs),
        "--trainer.limit_val_batches",
        "0",
        *overrides,
    ]
    with contextlib.redirect_stderr(open(os.devnull, "w")):
        return build_cli(args, run=False)


def _weights(module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def bare(config: str, overrides: list[str], epochs: int) -> tuple[float, float, torch.Tensor]:
    """Steps/s of a plain PyTorch training loop (epochs 1…epochs−1 timed) by the wall clock and
    by CPU time, final weights."""
    with tempfile.TemporaryDirectory() as root:
        cli = _cli(config, overrides, epochs, root)
    module, dm = cli.model, cli.datamodule
    optimizer = module.configure_optimizers()
    clip = module.hparams.grad_clip
    module.on_fit_start()  # the noise seed, as in fit
    epoch, step, start = 0, 0, None
    dm._where = lambda: (epoch, 0)  # the batches of (epoch, rank 0), as the Trainer draws them
    for epoch in range(epochs):
        if epoch == 1:
            start, cpu, step0 = time.perf_counter(), time.process_time(), step
        for inputs, targets, mask, _ in dm.train_dataloader():
            module._reseed("train", step)
            optimizer.zero_grad(set_to_none=True)
            outputs, rates = module(inputs)
            loss, _ = module.loss(outputs, rates, targets, mask)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), clip)
            optimizer.step()
            step += 1
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return (step - step0) / wall, (step - step0) / cpu, _weights(module)


class _Clock(L.Callback):
    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == 1:
            self.start, self.cpu, self.step0 = time.perf_counter(), time.process_time(), trainer.global_step

    def on_train_end(self, trainer, pl_module):
        steps = trainer.global_step - self.step0
        self.steps_per_s = steps / (time.perf_counter() - self.start)
        self.steps_per_cpu_s = steps / (time.process_time() - self.cpu)


# what each variant of --breakdown takes out of the trainer ``torchrate fit`` builds
_STRIP = {
    "torchrate fit": lambda trainer: None,
    "without loggers": lambda trainer: setattr(trainer, "loggers", []),
    "without RunCheckpoint": lambda trainer: _drop(trainer, "RunCheckpoint"),
    "without AnalysisCallback": lambda trainer: _drop(trainer, "AnalysisCallback"),
    "without the progress bar": lambda trainer: _drop(trainer, "TQDMProgressBar"),
    "without any logger or callback": lambda trainer: (setattr(trainer, "loggers", []), trainer.callbacks.clear()),
}


def _drop(trainer, name: str) -> None:
    trainer.callbacks[:] = [c for c in trainer.callbacks if type(c).__name__ != name]


def lightning(
    config: str, overrides: list[str], epochs: int, strip: str = "torchrate fit"
) -> tuple[float, float, torch.Tensor]:
    """Steps/s (wall clock, CPU time) of ``trainer.fit`` as ``torchrate fit`` builds it (less what
    ``strip`` names, see ``_STRIP``), final weights."""
    with tempfile.TemporaryDirectory() as root:
        cli = _cli(config, overrides, epochs, root)
        _STRIP[strip](cli.trainer)
        clock = _Clock()
        cli.trainer.callbacks.append(clock)
        for cb in cli.trainer.callbacks:
            if isinstance(cb, AnalysisCallback):
                cb.on_fit_end = lambda trainer, pl_module: None  # the analysis is no training step
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
            cli.trainer.fit(cli.model, cli.datamodule)
    return clock.steps_per_s, clock.steps_per_cpu_s, _weights(cli.model)


def barebones(config: str, overrides: list[str], epochs: int) -> tuple[float, float, torch.Tensor]:
    """Steps/s of Lightning's own floor: ``L.Trainer(barebones=True)`` (no logging, progress bar,
    checkpoints, summary or profiler hooks) on the same module and batches."""
    with tempfile.TemporaryDirectory() as root:
        cli = _cli(config, overrides, epochs, root)
    clock = _Clock()
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
        trainer = L.Trainer(
            barebones=True,
            max_epochs=epochs,
            callbacks=[clock],
            limit_val_batches=0,
            accelerator="cpu",
            devices=1,
            gradient_clip_val=cli.trainer.gradient_clip_val,
        )
        trainer.log_every_n_steps = 10**9  # barebones sets 0; TaskModule logs every log_every_n_steps
        trainer.fit(cli.model, cli.datamodule)
    return clock.steps_per_s, clock.steps_per_cpu_s, _weights(cli.model)


def breakdown(repeats: int = 7, epochs: int = 4, out: Path = Path("experiments/out")) -> dict[str, float]:
    """Where Lightning's time goes on FlipFlop(3), N = 64: the overhead (CPU time, median of
    ``repeats`` interleaved runs) of the full trainer, of it without each of its parts, and of
    ``Trainer(barebones=True)``, each against the bare loop."""
    torch.set_num_threads(1)
    runs: dict[str, list[float]] = {"bare loop": [], **{k: [] for k in _STRIP}, "Trainer(barebones=True)": []}
    print(f"FlipFlop(3) N=64, CPU time, median of {repeats}; load {_load()}")
    for _ in range(repeats):
        runs["bare loop"].append(bare("flipflop.yaml", [], epochs)[1])
        for strip in _STRIP:
            runs[strip].append(lightning("flipflop.yaml", [], epochs, strip)[1])
        runs["Trainer(barebones=True)"].append(barebones("flipflop.yaml", [], epochs)[1])
    bare_rate = statistics.median(runs["bare loop"])
    overhead = {k: 1 - statistics.median(v) / bare_rate for k, v in runs.items() if k != "bare loop"}
    for k, o in overhead.items():
        added = 1e3 * (1 / (bare_rate * (1 - o)) - 1 / bare_rate)
        print(f"{k:<32} overhead {o:6.1%}  added {added:.2f} ms/step")
    print(f"load {_load()}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmark_training_breakdown.json").write_text(json.dumps({"overhead": overhead, "runs": runs}, indent=2))
    return overhead


def _load() -> float | None:
    """The machine's 1-minute load average (other processes compete for the cores above ~1 per core)."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def main(repeats: int = 9, epochs: int = 4, out: Path = Path("experiments/out")) -> list[dict]:
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # no banners between the rows
    torch.set_num_threads(1)  # the configs' threads: 1 (build_cli(run=False) applies no process-wide setting)
    print(
        f"torch {torch.__version__}, lightning {L.__version__}, the configs' settings (1 thread, float32 "
        f"CPU, batch 64, 50 steps/epoch), {epochs - 1} timed epochs, median of {repeats}; machine load "
        f"(1-min average) {_load()} on {os.cpu_count()} cores"
    )
    print(
        f"{'case':<30} | {'bare steps/s':>12} {'Lightning steps/s':>17} | {'overhead':>8} | "
        f"{'best bare':>9} {'best Lightning':>14} | {'overhead':>8} | {'added ms/step':>13} | "
        f"{'CPU overhead':>12} {'CPU ms/st':>9} | max |Δw| | load"
    )
    rows = []
    for name, config, overrides in CASES:
        runs, diff = {"bare": [], "Lightning": [], "bare cpu": [], "Lightning cpu": []}, 0.0
        for _ in range(repeats):  # interleaved: the same load for both
            b, bc, wb = bare(config, overrides, epochs)
            lt, lc, wl = lightning(config, overrides, epochs)
            for key, value in (("bare", b), ("Lightning", lt), ("bare cpu", bc), ("Lightning cpu", lc)):
                runs[key].append(value)
            diff = max(diff, (wb - wl).abs().max().item())
        b, lt = statistics.median(runs["bare"]), statistics.median(runs["Lightning"])
        bb, lb = max(runs["bare"]), max(runs["Lightning"])
        cpu = 1 - statistics.median(runs["Lightning cpu"]) / statistics.median(runs["bare cpu"])
        row = {
            "case": name,
            "load": _load(),
            "bare steps/s": b,
            "Lightning steps/s": lt,
            "overhead": 1 - lt / b,
            "best bare steps/s": bb,
            "best Lightning steps/s": lb,
            "best overhead": 1 - lb / bb,
            "added ms/step (best)": 1e3 * (1 / lb - 1 / bb),
            "overhead (CPU time)": cpu,
            "added CPU ms/step": 1e3
            * (1 / statistics.median(runs["Lightning cpu"]) - 1 / statistics.median(runs["bare cpu"])),
            "max |Δw|": diff,
            "runs": runs,
        }
        rows.append(row)
        print(
            f"{name:<30} | {b:>12.1f} {lt:>17.1f} | {row['overhead']:>8.1%} | "
            f"{bb:>9.1f} {lb:>14.1f} | {row['best overhead']:>8.1%} | "
            f"{row['added ms/step (best)']:>13.2f} | {cpu:>12.1%} {row['added CPU ms/step']:>9.2f} | "
            f"{diff:.1e} | {row['load']}"
        )
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
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("experiments/out"))
    parser.add_argument(
        "--breakdown", action="store_true", help="where the time goes: the trainer without each part, and barebones"
    )
    args = parser.parse_args()
    if args.breakdown:
        breakdown(args.repeats, args.epochs, args.out)
    else:
        main(args.repeats, args.epochs, args.out)
