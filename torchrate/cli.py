"""The ``torchrate`` command line.

``torchrate fit|validate|test --config CONFIG.yaml`` is Lightning's ``LightningCLI`` over
:class:`~torchrate.training.TaskModule` and :class:`~torchrate.training.TaskDataModule`
(every ``--help`` and ``--print_config`` of Lightning works); ``torchrate analyze
CHECKPOINT --out DIR`` re-runs the end-of-fit analysis on a saved checkpoint.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main", "build_cli"]


def _analyze(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="torchrate analyze",
        description="Figures (task metric, spectrum of M, fixed points over PCA of trajectories) and "
                    "summary.json of a network trained with `torchrate fit`.",
    )
    parser.add_argument("checkpoint", help="a .ckpt written by `torchrate fit`")
    parser.add_argument("--out", required=True, help="directory for the figures and summary.json")
    parser.add_argument("--trials", type=int, default=512, help="held-out trials to evaluate (default 512)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch.set_num_threads (default 1: fastest for networks of a few hundred units)")
    args = parser.parse_args(argv)
    import torch

    from .training.report import analyze_checkpoint

    torch.set_num_threads(args.threads)

    summary = analyze_checkpoint(args.checkpoint, args.out, n_trials=args.trials)
    print(_describe(summary, args.out))
    return 0


def _describe(summary: dict, out: str) -> str:
    metrics = ", ".join(f"{k} = {v:.4g}" for k, v in summary["metrics"].items() if isinstance(v, float))
    kinds = ", ".join(f"{n} {k}" for k, n in summary["fixed_points"]["by_kind"].items()) or "none"
    return f"{metrics}\nfixed points at u = 0: {kinds}\nwritten to {out}"


def build_cli(args: list[str] | None, run: bool = True):
    """The ``LightningCLI`` of ``torchrate fit|validate|test``.

    With ``run=False`` (no subcommand in ``args``) it only builds ``cli.trainer``,
    ``cli.model`` and ``cli.datamodule`` exactly as ``torchrate fit`` would — what
    ``experiments/benchmarks/training.py`` times.
    """
    from lightning.pytorch.callbacks import ProgressBar, TQDMProgressBar
    from lightning.pytorch.cli import LightningCLI

    from .training import AnalysisCallback, RunCheckpoint, TaskDataModule, TaskModule, default_loggers

    class TorchrateCLI(LightningCLI):
        def add_arguments_to_parser(self, parser) -> None:
            parser.add_argument("--threads", type=int | None, default=None,
                                help="torch.set_num_threads for this run (default: PyTorch's choice)")
            # the task is written once, under data:, and the model gets the same one
            parser.link_arguments("data.task", "model.task")

        def before_instantiate_classes(self) -> None:
            import torch

            threads = (self.config[self.subcommand] if self.subcommand else self.config).threads
            if threads is not None:
                if threads < 1:
                    raise ValueError(f"--threads must be ≥ 1, got {threads}")
                torch.set_num_threads(threads)

        def _instantiate_trainer(self, config, callbacks):
            if config.get("logger") in (None, True):
                config["logger"] = default_loggers(config.get("default_root_dir") or ".")
            given = list(config.get("callbacks") or []) + list(callbacks)
            if config.get("enable_progress_bar") is not False and not any(isinstance(c, ProgressBar) for c in given):
                # Lightning's bar redraws every step by default (~0.5 ms, 10 % of a small
                # network's step); the shown loss changes every log_every_n_steps anyway
                callbacks = [*callbacks, TQDMProgressBar(refresh_rate=config.get("log_every_n_steps") or 50)]
            return super()._instantiate_trainer(config, callbacks)

    return TorchrateCLI(
        TaskModule, TaskDataModule, args=args, run=run, seed_everything_default=0,
        trainer_defaults={"callbacks": [RunCheckpoint(), AnalysisCallback()]},
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"description": "Train torchrate networks on tasks (LightningCLI). Also: "
                                      "`torchrate analyze CHECKPOINT --out DIR` (see its --help)."},
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``torchrate`` console script."""
    import torchrate

    args = sys.argv[1:] if argv is None else list(argv)
    if args in (["--version"], ["-V"]):
        print(f"torchrate {torchrate.__version__}")
        return 0
    if args and args[0] == "analyze":
        return _analyze(args[1:])
    build_cli(None if argv is None else args)  # None: LightningCLI reads sys.argv itself
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
