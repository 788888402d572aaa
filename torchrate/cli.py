"""The ``torchrate`` command line.

``torchrate fit|validate|test|predict --config CONFIG.yaml`` is Lightning's ``LightningCLI`` over
:class:`~torchrate.training.TaskModule` and :class:`~torchrate.training.TaskDataModule`
(every ``--help`` and ``--print_config`` of Lightning works; ``predict`` writes the test
split's inputs, targets, mask, outputs and rates to ``<run>/predictions.pt``,
:class:`~torchrate.training.PredictionWriter`); ``torchrate analyze
CHECKPOINT --out DIR`` re-runs the end-of-fit analysis on a saved checkpoint; ``torchrate export
CHECKPOINT --out FILE.npz`` writes its weights for NumPy (:func:`~torchrate.training.export_weights`);
``torchrate sweep --config SWEEP.yaml [--address ADDRESS] [--resume]`` runs many fits on Ray Tune and
compares the trained networks (:func:`~torchrate.training.run_sweep`, the ``sweep`` extra).

Every subcommand can name classes of modules in the working directory (``class_path:
mymodule.MyTask`` next to ``mymodule.py``), as ``python -m`` can: the working directory is
on ``sys.path`` while the command runs (after the installed packages, so a stray file cannot
stand in for one of them).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from . import _validate

if TYPE_CHECKING:  # lightning is imported by the commands that train, not by `import torchrate.cli`
    import logging

    import lightning as L
    from lightning.pytorch.callbacks import Callback
    from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

__all__ = ["main", "build_cli"]


def _analyze(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="torchrate analyze",
        description="Figures (task metric, spectrum of M, fixed points over PCA of trajectories) and "
        "summary.json of a network trained with `torchrate fit`.",
    )
    parser.add_argument("checkpoint", help="a .ckpt written by `torchrate fit`")
    parser.add_argument("--out", required=True, help="directory for the figures and summary.json")
    parser.add_argument(
        "--trials", type=_positive_int, default=512, help="held-out trials to evaluate, ≥ 1 (default 512)"
    )
    parser.add_argument(
        "--threads",
        type=_positive_int,
        default=1,
        help="torch.set_num_threads for this command, ≥ 1 (default 1: fastest for networks of a "
        "few hundred units); restored afterwards",
    )
    _add_allow_argument(parser)
    args = parser.parse_args(argv)
    from .training.report import analyze_checkpoint

    _allow(args.allow)
    with _process_state_kept(threads=args.threads):
        summary = analyze_checkpoint(
            args.checkpoint, args.out, n_trials=args.trials, progress=sys.stderr is not None and sys.stderr.isatty()
        )
    print(_describe(summary, args.out))
    return 0


def _export(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="torchrate export",
        description="Write the effective weights (W_in, W_rec, b, tau, W_out, b_out), masks and time constants of a "
        "network trained with `torchrate fit` to a NumPy .npz file (see "
        "torchrate.training.export_weights).",
    )
    parser.add_argument("checkpoint", help="a .ckpt written by `torchrate fit`")
    parser.add_argument("--out", required=True, help="the .npz file to write")
    _add_allow_argument(parser)
    args = parser.parse_args(argv)
    from .training.export import export_weights

    _allow(args.allow)
    print(f"written to {export_weights(args.checkpoint, args.out)}")
    return 0


def _sweep(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="torchrate sweep",
        description="Many `torchrate fit` runs on Ray Tune (a search space over config keys), one table of them "
        "(population.csv/.parquet) and a population analysis of the trained networks (see "
        'torchrate.training.run_sweep; needs pip install -e ".[sweep]").',
    )
    parser.add_argument("--config", required=True, help="the sweep YAML (base:, fit:, space:, …)")
    parser.add_argument(
        "--address",
        default=None,
        help="a Ray cluster (ray://host:10001, auto); default: the "
        "file's address:, then RAY_ADDRESS, else a local Ray instance",
    )
    parser.add_argument("--resume", action="store_true", help="continue the interrupted sweep of this name")
    parser.add_argument("--no-progress", action="store_true", help="no progress table while the trials run")
    args = parser.parse_args(argv)
    from .training.sweep import run_sweep

    out = run_sweep(args.config, address=args.address, resume=args.resume, progress=not args.no_progress)
    print(f"written to {out} (population.csv, population.parquet, population.md, figures)")
    return 0


def _add_allow_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="CLASS_PATH",
        help="a class of yours the checkpoint names, e.g. mymodule.SimplePD (repeatable): its module "
        "is imported (from the working directory too) and the class allowed; checkpoints name "
        "nothing else outside torchrate and torch.nn",
    )


def _allow(paths: list[str]) -> None:
    from .training.allowlist import allow

    for path in paths:
        allow(path)


@contextlib.contextmanager
def _working_directory_importable() -> Iterator[None]:
    """The working directory on ``sys.path`` (appended: installed packages still win) while the
    block runs, as ``python -m`` has it: ``class_path: mymodule.MyTask`` finds ``./mymodule.py``."""
    cwd = os.getcwd()
    if cwd in sys.path or "" in sys.path:
        yield
        return
    sys.path.append(cwd)
    try:
        yield
    finally:
        if cwd in sys.path:
            sys.path.remove(cwd)


def _positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1 (argparse names the option in its error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer ≥ 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer ≥ 1, got {value}")
    return value


@contextlib.contextmanager
def _process_state_kept(threads: int | None = None) -> Iterator[None]:
    """Run the block with ``threads`` torch threads (if given), then restore the process-wide
    state a command may change: torch's thread count and CPU/CUDA RNGs, Python's and NumPy's
    RNGs, and the ``PL_GLOBAL_SEED*`` variables of ``seed_everything``."""
    import random

    import numpy as np
    import torch

    saved_threads = torch.get_num_threads()
    py_state, np_state = random.getstate(), np.random.get_state()  # noqa: NPY002 (what seed_everything sets)
    env = {k: os.environ.get(k) for k in ("PL_GLOBAL_SEED", "PL_SEED_WORKERS")}
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    try:
        with torch.random.fork_rng(devices=cuda):
            if threads is not None:
                torch.set_num_threads(threads)
            yield
    finally:
        torch.set_num_threads(saved_threads)
        random.setstate(py_state)
        np.random.set_state(np_state)  # noqa: NPY002
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# Lightning's messages that are noise for `torchrate fit|validate|test|predict`, silenced only while
# the command runs (filters added in a warnings.catch_warnings block, a logging filter removed
# afterwards): a process that imports torchrate, or calls L.Trainer itself, still sees them all.
_NOISE_WARNINGS = (
    # (category, message, module): Lightning 2.6 calls torch's deprecated LeafSpec: theirs to fix, not the user's
    (FutureWarning, r"`isinstance\(treespec, LeafSpec\)` is deprecated", r"lightning\."),
    # the batches are drawn in the training process (num_workers = 0): no worker can duplicate them,
    # and more workers would only add copies between processes
    (UserWarning, r"Your `IterableDataset` has `__len__` defined", r"lightning\."),
    (UserWarning, r"The '\w+' does not have many workers", r"lightning\."),
    # the batches are whole (batch_size=None): PredictionWriter needs no sampler indices
    (UserWarning, r"Couldn't infer the batch indices fetched from your dataloader", r"lightning\."),
)
_NOISE_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")


def _no_tips(record: logging.LogRecord) -> bool:
    """A logging filter: drops Lightning's advertisements ("💡 Tip: … litlogger / litmodels")."""
    return not str(record.msg).startswith("💡 Tip")


@contextlib.contextmanager
def _lightning_quieted() -> Iterator[None]:
    """Lightning's tips, and its warnings that do not apply to torchrate's in-memory tasks, off
    while the block runs; its information ("GPU available: …") and every other warning kept."""
    import logging
    import warnings

    loggers = [logging.getLogger(name) for name in _NOISE_LOGGERS]
    with warnings.catch_warnings():
        for category, message, module in _NOISE_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=category, module=module)
        for logger in loggers:
            logger.addFilter(_no_tips)
        try:
            yield
        finally:
            for logger in loggers:
                logger.removeFilter(_no_tips)


def _describe(summary: dict[str, Any], out: str) -> str:
    metrics = ", ".join(f"{k} = {v:.4g}" for k, v in summary["metrics"].items() if isinstance(v, float))
    kinds = ", ".join(f"{n} {k}" for k, n in summary["fixed_points"]["by_kind"].items()) or "none"
    return f"{metrics}\nfixed points at u = 0: {kinds}\nwritten to {out}"


def _fit_report(trainer: L.Trainer) -> str:
    """What ``torchrate fit`` prints at its end: where the run, its checkpoints and its analysis
    are, the held-out metrics and the fixed points found."""
    import json

    from .training import AnalysisCallback

    root = os.path.abspath(trainer.default_root_dir)
    lines = [f"run directory: {root}"]
    dirpath = getattr(trainer.checkpoint_callback, "dirpath", None)  # None: no checkpoint callback
    if dirpath:
        lines.append(f"checkpoints:   {dirpath} (resume with --ckpt_path last)")
    analysis = next((c for c in _callbacks(trainer) if isinstance(c, AnalysisCallback)), None)
    out = None
    if analysis is not None and analysis.written_to is not None:
        out = os.path.abspath(analysis.written_to)  # analysis, or analysis-v1, … when a run was repeated
    if out is None or not os.path.isfile(os.path.join(out, "summary.json")):
        lines.append("analysis:      none written (no AnalysisCallback, or fit was interrupted)")
        return "\n".join(lines)
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    written = ["summary.json"] + sorted(n for n in os.listdir(out) if n.endswith((".png", ".md")))  # as written
    lines.append(f"analysis:      {out} ({', '.join(written)})")
    metrics, fixed_points, _ = _describe(summary, out).split("\n")
    lines += [f"held-out:      {metrics}", f"{fixed_points}"]
    return "\n".join(lines)


def _predict_report(trainer: L.Trainer) -> str:
    """What ``torchrate predict`` prints at its end: the file written, its trials, and the weights used."""
    from .training import PredictionWriter

    writer = next((c for c in _callbacks(trainer) if isinstance(c, PredictionWriter)), None)
    if writer is None or writer.written_to is None:
        return "predictions:   none written (no PredictionWriter, or no batches)"
    weights = trainer.ckpt_path or "none given: the network as initialised (give --ckpt_path last for the trained one)"
    return (
        f"predictions:   {os.path.abspath(writer.written_to)} (inputs, targets, mask, conditions, outputs, rates)\n"
        f"checkpoint:    {weights}"
    )


def _callbacks(trainer: L.Trainer) -> list[Callback]:
    """The trainer's callbacks (an attribute Lightning sets, not declared on ``Trainer``)."""
    return getattr(trainer, "callbacks", [])


def build_cli(args: list[str] | None, run: bool = True) -> LightningCLI:
    """The ``LightningCLI`` of ``torchrate fit|validate|test|predict``.

    With ``run=False`` (no subcommand in ``args``) it only builds ``cli.trainer``,
    ``cli.model`` and ``cli.datamodule`` exactly as ``torchrate fit`` would — what
    ``experiments/benchmarks/training.py`` times.

    Neither form leaves process-wide state changed: the seed (``seed_everything``) and the
    ``threads`` of the config apply while the CLI builds and runs, and the RNGs and the thread
    count are restored when it returns. While it runs, Lightning's tips ("💡 Tip: … litlogger")
    and its warnings that do not apply to torchrate's in-memory tasks (``num_workers``, an
    ``IterableDataset`` with ``__len__``, its own use of a deprecated torch API) are silenced;
    the warning filters and loggers are as before once it returns. With ``run=False`` the configured thread count is
    ``cli.threads`` (None: PyTorch's choice), for the caller to apply.

    ``fit`` holds a lock on the run directory (``trainer.default_root_dir``): a second fit
    into it while the first runs is refused (:class:`~torchrate.training.checkpoints.RunDirectoryInUseError`).
    Checkpoints load CRC-verified and with ``weights_only=True`` always, and ``--ckpt_path``
    whose model (network, task, ensemble, network_seed, readout, masks, fixed; for ``fit`` also
    the optimiser's settings) disagrees with the config is refused with the keys named.

    ``args`` is a list of str (the command line without the program name) or None (``sys.argv``),
    ``run`` a bool: ``TypeError`` naming the argument otherwise.
    """
    _check_args("args", args)
    _validate.check_flag("run", run)
    with _process_state_kept(), _lightning_quieted():
        return _build_cli(args, run)


def _build_cli(args: list[str] | None, run: bool) -> LightningCLI:
    from lightning.pytorch.callbacks import ProgressBar, TQDMProgressBar
    from lightning.pytorch.cli import LightningCLI

    from .training import AnalysisCallback, PredictionWriter, RunCheckpoint, TaskDataModule, TaskModule, default_loggers

    class TorchrateCLI(LightningCLI):
        threads: int | None = None  # the config's thread count (set before instantiation)

        def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
            parser.add_argument(
                "--threads",
                type=int | None,
                default=None,
                help="torch.set_num_threads for this run (default: PyTorch's choice)",
            )
            # the task is written once, under data:, and the model gets the same one
            parser.link_arguments("data.task", "model.task")

        def before_instantiate_classes(self) -> None:
            import torch

            threads = (self.config[self.subcommand] if self.subcommand else self.config).threads
            if threads is not None:
                if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
                    raise ValueError(f"--threads must be an integer ≥ 1 (or null: PyTorch's choice), got {threads!r}")
                torch.set_num_threads(threads)  # restored by build_cli when it returns
            self.threads = threads
            _check_network_slot(self.config[self.subcommand] if self.subcommand else self.config)
            _check_tensorboard(self.config[self.subcommand] if self.subcommand else self.config)

        def _parse_ckpt_path(self) -> None:
            # Lightning merges the checkpoint's hyper-parameters over the config (so a config's
            # hidden_size: 16 silently trains the checkpoint's 8) and loads it without checking
            # it: here the file is verified and any disagreement refused instead
            from .training.allowlist import check_class_paths
            from .training.checkpoints import _compared_hparams, _hparams_disagreement, load_checkpoint_file

            sub = self.config.get("subcommand")
            if not sub:
                return
            ckpt_path = self.config[sub].get("ckpt_path")
            if not ckpt_path or not os.path.isfile(ckpt_path):
                return  # "last", "best" or a missing file: resolved (and checked) by the Trainer
            ckpt = load_checkpoint_file(ckpt_path)
            check_class_paths(ckpt.get("hyper_parameters") or {}, f"checkpoint {ckpt_path!r}")  # before comparing
            config = self.config[sub]
            # the TaskModule as it will be built: the model's arguments (and, for fit, the optimiser's),
            # the task linked from data.task
            current = {k: _as_dict(config.model.get(k)) for k in _compared_hparams(sub == "fit") if k in config.model}
            current["task"] = _as_dict(config.data.get("task"))
            diff = _hparams_disagreement(ckpt.get("hyper_parameters") or {}, current, fit=sub == "fit")
            if diff:
                raise ValueError(
                    f"checkpoint {ckpt_path!r} disagrees with the configuration: "
                    + "; ".join(diff)
                    + ". Use the checkpoint's values in the config, or start a new run (no --ckpt_path)"
                )

        def _run_subcommand(self, subcommand: str) -> None:
            if subcommand != "fit" or not _is_rank_zero_process():
                return super()._run_subcommand(subcommand)
            from .training.checkpoints import RunLock

            with RunLock(self.trainer.default_root_dir):
                super()._run_subcommand(subcommand)

        def after_fit(self) -> None:
            # the last lines of a run: where its directory and analysis are, and the headline numbers
            if self.trainer.is_global_zero:
                print(_fit_report(self.trainer), flush=True)

        def after_predict(self) -> None:
            if self.trainer.is_global_zero:
                print(_predict_report(self.trainer), flush=True)

        def _instantiate_trainer(self, config: dict[str, Any], callbacks: list[Callback]) -> L.Trainer:
            if config.get("logger") in (None, True):
                config["logger"] = default_loggers(config.get("default_root_dir") or ".")
            given = list(config.get("callbacks") or []) + list(callbacks)
            if config.get("enable_progress_bar") is not False and not any(isinstance(c, ProgressBar) for c in given):
                # Lightning's bar redraws every step by default (~0.5 ms, 10 % of a small
                # network's step); the shown loss changes every log_every_n_steps anyway
                callbacks = [*callbacks, TQDMProgressBar(refresh_rate=config.get("log_every_n_steps") or 50)]
            trainer = super()._instantiate_trainer(config, callbacks)
            if any(isinstance(c, PredictionWriter) and c is not default_writer for c in _callbacks(trainer)):
                _callbacks(trainer).remove(default_writer)  # the user's (--trainer.callbacks+=…PredictionWriter) writes
            from .training.checkpoints import install_safe_checkpoint_io

            install_safe_checkpoint_io(trainer)  # atomic saves; CRC-verified, weights_only=True loads
            return trainer

    default_writer = PredictionWriter()
    return TorchrateCLI(
        TaskModule,
        TaskDataModule,
        args=args,
        run=run,
        seed_everything_default=0,
        trainer_defaults={"callbacks": [RunCheckpoint(), AnalysisCallback(), default_writer]},
        save_config_kwargs={"overwrite": True},
        parser_kwargs={
            "description": "Train torchrate networks on tasks (LightningCLI; predict writes the test "
            "split's outputs and rates to <run>/predictions.pt). Also: "
            "`torchrate analyze CHECKPOINT --out DIR` and `torchrate export CHECKPOINT "
            "--out FILE.npz` (see their --help)."
        },
    )


def _as_dict(value: Any) -> Any:  # a jsonargparse Namespace, a dict, or any config value
    """A jsonargparse Namespace (or a dict) as nested plain dicts."""
    if hasattr(value, "as_dict"):
        return value.as_dict()
    return value


def _network_refusal(path: object, where: str) -> str:
    return (
        f"{where}: model.network.class_path {path!r} is not allowed: the network slot takes a torchrate network "
        "(torchrate.RateRNN, torchrate.EIRateRNN, …), torch.nn.RNN, GRU or LSTM, or a class registered with "
        "torchrate.training.allow(cls) in a script that then calls torchrate.cli.main([...])"
    )


def _check_network_slot(config: Any) -> None:  # a jsonargparse Namespace
    """The parsed config's ``model.network`` must name an allowed ``nn.Module`` subclass: refused
    before instantiation (a function such as ``os.system`` would otherwise be called with its
    ``init_args``)."""
    from torch import nn

    from .training.allowlist import resolve_class

    model = config.get("model") if hasattr(config, "get") else None
    network = _as_dict(model.get("network")) if model is not None and hasattr(model, "get") else None
    if not isinstance(network, dict) or "class_path" not in network:
        return
    try:
        resolve_class(network["class_path"], nn.Module, "model.network")
    except (ValueError, TypeError) as err:
        raise ValueError(f"{_network_refusal(network['class_path'], 'the configuration')} ({err})") from None


def _check_tensorboard(config: Any) -> None:  # a jsonargparse Namespace
    """A ``trainer.logger`` naming TensorBoard needs ``tensorboard`` (or ``tensorboardX``), an
    optional dependency: refused before anything is built, with the fix (Lightning would raise
    from inside jsonargparse's instantiation)."""
    from .training.callbacks import _tensorboard_available

    trainer = config.get("trainer") if hasattr(config, "get") else None
    loggers = _as_dict(trainer.get("logger")) if trainer is not None and hasattr(trainer, "get") else None
    for logger in map(_as_dict, loggers if isinstance(loggers, list) else [loggers]):
        path = logger.get("class_path", "") if isinstance(logger, dict) else ""
        if path.rsplit(".", 1)[-1] == "TensorBoardLogger" and not _tensorboard_available():
            raise ModuleNotFoundError(
                f"trainer.logger {path} needs the tensorboard package (or tensorboardX), an optional dependency "
                "that is not installed: `pip install tensorboard`, or remove trainer.logger (torchrate fit then "
                "logs to CSV, and to TensorBoard too once tensorboard is installed)"
            )


def _check_config_files(args: list[str]) -> None:
    """Refuse an empty ``--config`` file, or one that is not a YAML mapping, naming the file
    (jsonargparse says only "Unexpected config"); and one whose ``model.network.class_path`` is
    outside the allow-list — before jsonargparse imports it."""
    import yaml

    from .training.allowlist import allowed

    paths = [a.split("=", 1)[1] for a in args if a.startswith("--config=")]
    paths += [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("--config", "-c")]
    for path in paths:
        if not os.path.isfile(path):
            continue  # jsonargparse names a missing file itself
        with open(path) as f:
            try:
                content = yaml.safe_load(f)
            except yaml.YAMLError:
                continue  # jsonargparse reports the YAML error with its position
        if content is None:
            raise ValueError(
                f"config {path!r} is empty (no YAML keys): give at least model.network and data.task; "
                "see configs/*.yaml or `torchrate fit --print_config`"
            )
        if not isinstance(content, dict):
            raise ValueError(
                f"config {path!r} must be a YAML mapping of sections (trainer:, model:, data:), got a "
                f"{type(content).__name__}"
            )
        model = content.get("model")
        network = model.get("network") if isinstance(model, dict) else None
        if (
            isinstance(network, dict)
            and "class_path" in network
            and not (isinstance(network["class_path"], str) and allowed(network["class_path"]))
        ):
            raise ValueError(_network_refusal(network["class_path"], f"config {path!r}"))


def _is_rank_zero_process() -> bool:
    """False in the processes of ranks > 0 (launched by Lightning, torchrun or SLURM)."""
    return all(os.environ.get(k, "0") == "0" for k in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"))


def _check_args(name: str, value: object) -> None:
    """A command line: None or a list (tuple) of str; a bare str would be split into its letters."""
    if value is None:
        return
    if not isinstance(value, (list, tuple)) or not all(isinstance(a, str) for a in value):
        raise TypeError(
            f"{name} must be a list of str (the command line without the program name, e.g. ['fit', '--config', "
            f"'run.yaml']) or None, got {_validate._show(value)}"
        )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``torchrate`` console script.

    ``argv``: the command line without the program name (a list of str), or None for ``sys.argv[1:]``.
    """
    import torchrate

    _check_args("argv", argv)

    args = sys.argv[1:] if argv is None else list(argv)
    if args in (["--version"], ["-V"]):
        print(f"torchrate {torchrate.__version__}")
        return 0
    with _working_directory_importable():
        if args and args[0] == "analyze":
            return _analyze(args[1:])
        if args and args[0] == "export":
            return _export(args[1:])
        if args and args[0] == "sweep":
            return _sweep(args[1:])
        _check_config_files(args)
        build_cli(None if argv is None else args)  # None: LightningCLI reads sys.argv itself
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
