r"""Checkpoints that cannot run code or lie, and run directories that cannot be corrupted.

* :func:`load_checkpoint_file` — verifies the zip archive (every member's CRC-32) and loads
  with ``torch.load(weights_only=True)`` **always**: a torchrate checkpoint holds only
  tensors and plain Python values, so neither ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``,
  ``--weights_only false`` nor Lightning's ``weights_only=None`` can make it unpickle code.
* :func:`save_checkpoint_file` — writes to a temporary file in the same folder, ``fsync``\ s
  it and renames it over the target: an interrupted save (full disk, kill -9) leaves the
  previous checkpoint intact.
* :class:`SafeCheckpointIO` — both, as the Lightning ``CheckpointIO`` that ``torchrate fit``
  (and :class:`~torchrate.training.RunCheckpoint`) install.
* :func:`hparams_differences` — what differs between a checkpoint's hyper-parameters and a
  config's, as ``"network.init_args.hidden_size: checkpoint 8, config 16"``: every TaskModule
  argument that defines the model, and the optimiser's on a resumed fit.
* :class:`RunLock` — an exclusive lock on a run directory: a second ``torchrate fit`` into
  the same directory is refused while the first runs.
"""

from __future__ import annotations

import os
import pickle
import warnings
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from .. import _validate

__all__ = [
    "CheckpointError",
    "load_checkpoint_file",
    "save_checkpoint_file",
    "SafeCheckpointIO",
    "hparams_differences",
    "RunLock",
    "RunDirectoryInUseError",
]


class CheckpointError(ValueError):
    """A checkpoint file that is corrupted, not a torchrate checkpoint, or unsafe to load."""


def _name(source: object) -> str:
    return os.fspath(source) if isinstance(source, (str, os.PathLike)) else str(getattr(source, "name", "<stream>"))


def verify_archive(path: str | os.PathLike[str] | IO[bytes]) -> None:
    """Raise :class:`CheckpointError` naming ``path`` unless it is a complete zip archive whose
    members all match their CRC-32 (what ``torch.save`` writes since PyTorch 1.6). ``path``
    may also be a seekable binary file object.

    Reads the whole file once (~1 ms per MB)."""
    name = _name(path)
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise CheckpointError(
            f"checkpoint {name!r} is not a complete torch.save archive ({err}): the file is "
            "truncated or corrupted; resume from an earlier checkpoint of the run"
        ) from None
    except Exception as err:  # zlib errors inside a damaged member
        raise CheckpointError(
            f"checkpoint {name!r} is corrupted ({type(err).__name__}: {err}); "
            "resume from an earlier checkpoint of the run"
        ) from None
    if bad is not None:
        raise CheckpointError(
            f"checkpoint {name!r} is corrupted: member {bad!r} fails its CRC-32 check "
            "(a changed byte); resume from an earlier checkpoint of the run"
        )


def load_checkpoint_file(path: str | os.PathLike[str] | IO[bytes], map_location: Any = "cpu") -> dict[str, Any]:
    """Verify ``path`` (:func:`verify_archive`) and load it with ``weights_only=True``, whatever
    the environment says.

    ``path`` is a local path, a ``file://`` or fsspec URL (read into memory, then verified), or
    an open binary file object. This is the one loader behind
    :func:`~torchrate.training.load_checkpoint`, ``TaskModule.load_from_checkpoint``, ``torchrate
    analyze`` and Trainer resumes (:class:`SafeCheckpointIO`).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    CheckpointError
        If the archive is corrupted, or holds anything but tensors and plain Python values
        (e.g. a pickled object that would run code when loaded).
    TypeError, ValueError
        If ``map_location`` is not None, a device (or its name), a dict or a callable.
    """
    import io

    _check_map_location(map_location)

    name = _name(path)
    source: str | os.PathLike[str] | IO[bytes] = path
    if isinstance(path, (str, os.PathLike)):
        if not _is_local(path):
            from lightning.fabric.utilities.cloud_io import get_filesystem

            with get_filesystem(name).open(name, "rb") as f:
                source = io.BytesIO(f.read())
        else:
            name = name.removeprefix("file://")
            if not os.path.isfile(name):
                raise FileNotFoundError(f"checkpoint file not found: {name!r}")
            source = name
    elif not (hasattr(path, "seek") and hasattr(path, "read")):
        raise TypeError(f"checkpoint must be a path, URL or binary file object, got {type(path).__name__}")
    verify_archive(source)
    if hasattr(source, "seek"):
        source.seek(0)
    try:
        ckpt = torch.load(source, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise CheckpointError(
            f"refusing to load checkpoint {name!r}: it holds Python objects that loading would execute "
            f"or import ({first}). torchrate checkpoints hold only tensors and plain values and always load "
            "with weights_only=True; do not load this file from an untrusted source"
        ) from None
    except RuntimeError as err:  # a member the archive's index names is missing or unreadable
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise CheckpointError(f"checkpoint {name!r} is incomplete or corrupted ({first})") from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"checkpoint {name!r} holds a {type(ckpt).__name__}, not a checkpoint dict")
    return ckpt


def _check_map_location(map_location: object) -> None:
    """What ``torch.load`` accepts: None, a device or its name, a dict of names, a callable."""
    if map_location is None or callable(map_location) or isinstance(map_location, (torch.device, dict)):
        return
    if not isinstance(map_location, str):
        raise TypeError(
            "map_location must be None, a torch.device or its name ('cpu', 'cuda:0'), a dict or a callable "
            f"(as torch.load), got {_validate._show(map_location)}"
        )
    try:
        torch.device(map_location)
    except RuntimeError:
        raise ValueError(f"map_location must name a device ('cpu', 'cuda:0'), got {map_location!r}") from None


def save_checkpoint_file(checkpoint: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save(checkpoint, path)`` atomically: a temporary file in the same folder, flushed
    to disk, then renamed over ``path`` (``os.replace``). On any error the temporary file is
    removed and ``path`` is left as it was.

    ``checkpoint`` is a dict (what :func:`load_checkpoint_file` loads back), ``path`` a local path
    (not an existing folder); ``TypeError``/``ValueError`` naming the argument otherwise."""
    if not isinstance(checkpoint, dict):
        raise TypeError(f"checkpoint must be a dict (of tensors and plain values), got {_validate._show(checkpoint)}")
    path = os.fspath(_validate.check_path("path", path))
    if os.path.isdir(path):
        raise ValueError(f"path must be a checkpoint file, got the folder {path!r}")
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def _is_local(path: str | os.PathLike[str]) -> bool:
    return "://" not in str(path) or str(path).startswith("file://")


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning ``CheckpointIO`` with :func:`save_checkpoint_file` (atomic) and
    :func:`load_checkpoint_file` (CRC-verified, ``weights_only=True`` always) for local files.

    A request for ``weights_only=False`` is ignored with a warning: torchrate checkpoints never
    need it.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        if storage_options is not None or not _is_local(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        save_checkpoint_file(checkpoint, str(path).removeprefix("file://"))

    def load_checkpoint(
        self,
        path: str | Path,
        map_location: Callable[..., Any] | None = lambda storage, loc: storage,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        if weights_only is False:
            warnings.warn(
                "weights_only=False is ignored: torchrate checkpoints hold only tensors and plain "
                "values and always load with weights_only=True",
                UserWarning,
                stacklevel=2,
            )
        return load_checkpoint_file(path, map_location=map_location)


def install_safe_checkpoint_io(trainer: L.Trainer) -> None:
    """Make ``trainer`` save and load through :class:`SafeCheckpointIO` (idempotent).

    Called by ``torchrate fit``, by :class:`~torchrate.training.RunCheckpoint` and by
    :class:`~torchrate.training.TaskModule`'s ``setup`` — so a bare ``L.Trainer().fit(module,
    ckpt_path=...)`` of a TaskModule loads verified too. Lightning's default ``TorchCheckpointIO``
    is replaced silently; any other ``CheckpointIO`` (a plugin of yours, ``AsyncCheckpointIO``)
    is replaced with a warning: its loads would not be verified."""
    strategy = trainer.strategy
    current = strategy.checkpoint_io
    if isinstance(current, SafeCheckpointIO):
        return
    if type(current) is not TorchCheckpointIO:
        warnings.warn(
            f"the trainer's {type(current).__name__} is replaced by torchrate's SafeCheckpointIO: "
            "torchrate checkpoints are always saved atomically and loaded CRC-verified with "
            "weights_only=True",
            UserWarning,
            stacklevel=2,
        )
    strategy.checkpoint_io = SafeCheckpointIO()


# ---------------------------------------------------------------------- config agreement
#: The :class:`~torchrate.training.TaskModule` arguments that define the model: its network and
#: task, its members (``ensemble``, and ``network_seed``: the members' seeds, buffer ``member_seeds``,
#: and the noise seed) and the constraints on its weights (``readout``, ``masks``, ``fixed``, whose
#: masks are buffers of the state dict). A checkpoint loaded into a module built from a config
#: (``--ckpt_path``, any Trainer's restore) must agree with the config on every one of them.
_MODEL_HPARAMS: tuple[str, ...] = ("network", "task", "ensemble", "network_seed", "readout", "masks", "fixed")
#: ... and, when a fit resumes, on the optimiser's and the loss's (Adam's saved state would carry on
#: with a new ``lr`` or ``weight_decay`` unannounced). Every TaskModule argument is in one of the two
#: (tests/test_training.py checks it).
_FIT_HPARAMS: tuple[str, ...] = ("lr", "weight_decay", "rate_l2", "weight_l2", "grad_clip")


def _compared_hparams(fit: bool) -> tuple[str, ...]:
    """The hyper-parameters a checkpoint must share with the config: ``_MODEL_HPARAMS``, and
    ``_FIT_HPARAMS`` too when ``fit`` (a resumed fit). What ``torchrate fit|validate|test|predict
    --ckpt_path`` and ``TaskModule.on_load_checkpoint`` compare with :func:`hparams_differences`."""
    return _MODEL_HPARAMS + _FIT_HPARAMS if fit else _MODEL_HPARAMS


def _is_mapping(value: Any) -> bool:  # duck-typed: anything with items() (jsonargparse's Namespace)
    return isinstance(value, Mapping) or hasattr(value, "items") and callable(value.items)


def _entries(value: Any) -> dict[Any, Any]:
    """A mapping's entries, one level deep (a jsonargparse Namespace's ``items()`` are its dotted leaves)."""
    return dict(value.as_dict() if hasattr(value, "as_dict") else value.items())


def _is_config_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and any(_is_mapping(v) for v in value)


def _differences(saved: Any, current: Any, name: str) -> list[str]:
    """The leaves of ``saved`` and ``current`` under ``name`` that differ.

    A class's spec (``{"class_path", "init_args"}``) and its ``init_args`` are followed into the
    entries both have: an argument present on one side only (added to the class since the
    checkpoint was written) is not compared. Any other mapping is a value (``masks``, ``fixed``):
    its keys must be the same (else it is one difference) and its entries are compared. A list
    of configs (a Multitask's ``tasks``) is followed into the entries both have, its length compared
    (``tasks[1].init_args.n_bits``, ``tasks.length``). Anything else is one leaf, None included —
    so None against a value (or a mapping) is a difference."""
    if _is_mapping(saved) and _is_mapping(current):
        a, b = _entries(saved), _entries(current)
        arguments = "class_path" in a or "class_path" in b or name.rpartition(".")[2] in ("init_args", "dict_kwargs")
        if arguments or set(a) == set(b):
            out: list[str] = []
            for k in sorted(set(a) & set(b), key=str):
                out += _differences(a[k], b[k], f"{name}.{k}" if name else str(k))
            return out
    elif isinstance(saved, (list, tuple)) and isinstance(current, (list, tuple)):
        if _is_config_list(saved) or _is_config_list(current):
            out = (
                [] if len(saved) == len(current) else [f"{name}.length: checkpoint {len(saved)}, config {len(current)}"]
            )
            for i, (x, y) in enumerate(zip(saved, current)):
                out += _differences(x, y, f"{name}[{i}]")
            return out
    a, b = _plain(saved), _plain(current)
    if a == b or (name.endswith("class_path") and _same_class(a, b)):
        return []
    return [f"{name}: checkpoint {_brief(saved)}, config {_brief(current)}"]


def _plain(value: Any) -> Any:
    """``value`` comparable with ``==``: tensors and arrays as nested lists, ints as floats (20 and 20.0 agree)."""
    if hasattr(value, "tolist") and callable(value.tolist) and not isinstance(value, (int, float, bool, str)):
        value = value.tolist()  # a Tensor or NumPy array (a mask), or a NumPy scalar
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if _is_mapping(value):
        return {k: _plain(v) for k, v in _entries(value).items()}
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _brief(value: Any) -> str:
    """A value as the message shows it: as given (``20``, ``torchrate.RateRNN``), tensors as their
    nested lists, cut at 60 characters (a mask)."""
    text = str(_lists(value))
    return f"{text[:60]}…" if len(text) > 60 else text


def _lists(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    if _is_mapping(value):
        return {k: _lists(v) for k, v in _entries(value).items()}
    return value


def hparams_differences(
    saved: Mapping[str, Any], current: Mapping[str, Any], keys: Sequence[str] = ("network", "task")
) -> list[str]:
    """The entries under ``keys`` whose values differ between the checkpoint's hyper-parameters
    ``saved`` and the ``current`` config, as ``"network.init_args.hidden_size: checkpoint 8,
    config 16"``. ``saved`` and ``current`` are mappings, ``keys`` a tuple of str (``TypeError``
    naming the argument otherwise). ``--ckpt_path`` and ``TaskModule.on_load_checkpoint`` compare
    every TaskModule argument that defines the model (``network``, ``task``, ``ensemble``,
    ``network_seed``, ``readout``, ``masks``, ``fixed``) and, on a resumed fit, the optimiser's and
    the loss's (``lr``, ``weight_decay``, ``rate_l2``, ``weight_l2``, ``grad_clip``).

    An argument present on one side only — a key of the hyper-parameters, or of a class's
    ``init_args``: one added since the checkpoint was written — is not compared. An entry present
    on both sides is, None included: ``masks`` None in the checkpoint and a dict in the config is
    reported (``"masks: checkpoint None, config {...}"``), and so are two ``masks`` (or ``fixed``)
    dicts that name different weights. Ints equal floats (``20`` and ``20.0`` agree), a tensor
    equals its nested list, and two class paths that name one class agree.

    Examples
    --------
    >>> hparams_differences({"network": {"init_args": {"hidden_size": 8, "tau": 20.0}}},
    ...                     {"network": {"init_args": {"hidden_size": 16, "tau": 20}}})
    ['network.init_args.hidden_size: checkpoint 8, config 16']
    >>> hparams_differences({"masks": None, "fixed": None}, {"masks": None, "fixed": {"readout.bias": True}},
    ...                     keys=("masks", "fixed", "ensemble"))
    ["fixed: checkpoint None, config {'readout.bias': True}"]
    """
    for name, value in (("saved", saved), ("current", current)):
        if not _is_mapping(value):
            raise TypeError(f"{name} must be a mapping of hyper-parameters (a dict), got {_validate._show(value)}")
    if isinstance(keys, str) or not isinstance(keys, (tuple, list)) or not all(isinstance(k, str) for k in keys):
        raise TypeError(f"keys must be a tuple of str (the top-level entries to compare), got {keys!r}")
    out = []
    for key in keys:
        if key in saved and key in current:  # absent on one side: not compared
            out += _differences(saved[key], current[key], key)
    return out


def _hparams_disagreement(saved: Mapping[str, Any], current: Mapping[str, Any], *, fit: bool) -> list[str]:
    """:func:`hparams_differences` of a checkpoint's hyper-parameters ``saved`` and a module's or
    config's ``current`` on :func:`_compared_hparams` — what ``--ckpt_path`` and
    ``TaskModule.on_load_checkpoint`` refuse. The task is compared as built: a task's ``config()``
    may resolve what its YAML left to a default (a NeuroGym task's ``env_kwargs: null`` is ``{}``),
    so where the written configs differ both are rebuilt (:func:`_built_task`) and compared again;
    what still differs is a different task."""
    keys = _compared_hparams(fit)
    diff = hparams_differences(saved, current, keys)
    if any(d.startswith(("task.", "task:")) for d in diff) and "task" in saved and "task" in current:
        diff = hparams_differences(
            {**saved, "task": _built_task(saved["task"])}, {**current, "task": _built_task(current["task"])}, keys
        )
    return diff


def _built_task(spec: Any) -> Any:
    """The task config ``spec`` as the task it builds writes it (``Task.config()``), kept to the
    entries ``spec`` names (an argument added to the class since stays uncompared); a task object
    (``load_from_checkpoint(path, task=PerceptualDecision(...))``) as its ``config()``; ``spec`` itself
    when it does not build. The global RNG is left as it was and the task's warnings are not shown
    (they are when the module builds it)."""
    from ..tasks import Task
    from .module import as_task

    if isinstance(spec, Task):
        return spec.config()
    if not _is_mapping(spec):
        return spec
    spec = _lists(spec)  # plain dicts and lists
    try:
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            built = as_task(spec).config()
    except Exception:  # a checkpoint's task that no longer builds: its config as written
        return spec
    return _restricted(built, spec)


def _restricted(built: Any, written: Any) -> Any:
    """``built`` with its mappings cut to the keys of ``written`` (entries ``written`` lacks dropped)."""
    if _is_mapping(built) and _is_mapping(written):
        b = _entries(built)
        return {k: _restricted(b[k], v) if k in b else v for k, v in _entries(written).items()}
    if isinstance(built, (list, tuple)) and isinstance(written, (list, tuple)) and len(built) == len(written):
        return [_restricted(x, y) for x, y in zip(built, written)]
    return built


def _same_class(a: object, b: object) -> bool:
    """``torchrate.tasks.FlipFlop`` and ``torchrate.tasks.memory.FlipFlop`` name one class.
    Only allowed class paths are resolved (:mod:`~torchrate.training.allowlist`): a name from a
    checkpoint never imports a module of its own."""
    from .allowlist import resolve_class

    def resolve(path: object) -> object:
        try:
            return resolve_class(path, object)
        except (ImportError, TypeError, ValueError):
            return path

    return resolve(a) is resolve(b)


# ---------------------------------------------------------------------- run directory lock
class RunDirectoryInUseError(RuntimeError):
    """Another process is training into this run directory."""


class RunLock:
    """Exclusive lock on a run directory (``<dir>/.torchrate.lock``, ``fcntl.flock``), held while
    a ``fit`` writes into it; released on :meth:`release`, at exit, or when the process dies
    (the kernel drops it, so a killed run never leaves a stale lock).

    Raises
    ------
    RunDirectoryInUseError
        If another process (or another lock in this one) holds it; the message names the
        directory and the holder's pid.
    TypeError, ValueError
        If ``directory`` is not a path, or names a file.
    """

    name = ".torchrate.lock"

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(_validate.check_path("directory", directory))
        if self.directory.exists() and not self.directory.is_dir():
            raise ValueError(f"directory must be a run directory, got the file {str(self.directory)!r}")
        self._file: IO[str] | None = None

    def acquire(self) -> RunLock:
        """Take the lock (``RunDirectoryInUseError`` naming the other process if it is held); returns ``self``."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / self.name
        f = open(path, "a+")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            f.close()
            raise RunDirectoryInUseError(
                f"run directory {str(self.directory)!r} is in use by another `torchrate fit` (pid {holder}); "
                "wait for it to finish, or give this run its own --trainer.default_root_dir"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._file = f
        return self

    def release(self) -> None:
        """Drop the lock (nothing if it is not held)."""
        if self._file is not None:
            self._file.close()  # closing the file drops the flock
            self._file = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
