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
* :func:`hparams_differences` — what differs between a checkpoint's network / task and a
  config's, as ``"network.init_args.hidden_size: checkpoint 8, config 16"``.
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
def _is_mapping(value: Any) -> bool:  # duck-typed: anything with items() (jsonargparse's Namespace)
    return isinstance(value, Mapping) or hasattr(value, "items") and callable(value.items)


def _flatten(value: Any, prefix: str) -> dict[str, tuple[Any, Any]]:
    """``{dotted name: (comparable value, value as given)}`` of the leaves of ``value``. A list of
    configs (a Multitask's ``tasks``) is followed into each entry (``tasks[1].init_args.n_bits``) and
    its length compared; any other list is one leaf."""
    if _is_mapping(value):
        out: dict[str, tuple[Any, Any]] = {}
        for k, v in value.items():
            out |= _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(value, (list, tuple)) and any(_is_mapping(v) for v in value):
        out = {f"{prefix}.length": (len(value), len(value))}
        for i, v in enumerate(value):
            out |= _flatten(v, f"{prefix}[{i}]")
        return out
    if isinstance(value, (list, tuple)):
        return {prefix: ([_plain(v) for v in value], value)}
    return {prefix: (_plain(value), value)}


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if _is_mapping(value):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # 20 and 20.0 agree
    return value


def hparams_differences(
    saved: Mapping[str, Any], current: Mapping[str, Any], keys: Sequence[str] = ("network", "task")
) -> list[str]:
    """The entries under ``keys`` whose values differ between the checkpoint's hyper-parameters
    ``saved`` and the ``current`` config, as ``"network.init_args.hidden_size: checkpoint 8,
    config 16"``. Entries present on one side only (an argument added to a class since the
    checkpoint was written) are not compared. ``saved`` and ``current`` are mappings, ``keys`` a
    tuple of str (``TypeError`` naming the argument otherwise).

    Examples
    --------
    >>> hparams_differences({"network": {"init_args": {"hidden_size": 8, "tau": 20.0}}},
    ...                     {"network": {"init_args": {"hidden_size": 16, "tau": 20}}})
    ['network.init_args.hidden_size: checkpoint 8, config 16']
    """
    for name, value in (("saved", saved), ("current", current)):
        if not _is_mapping(value):
            raise TypeError(f"{name} must be a mapping of hyper-parameters (a dict), got {_validate._show(value)}")
    if isinstance(keys, str) or not isinstance(keys, (tuple, list)) or not all(isinstance(k, str) for k in keys):
        raise TypeError(f"keys must be a tuple of str (the top-level entries to compare), got {keys!r}")
    out = []
    for key in keys:
        if key not in saved or key not in current or saved[key] is None or current[key] is None:
            continue
        a, b = _flatten(saved[key], key), _flatten(current[key], key)
        for name in sorted(set(a) & set(b)):
            if a[name][0] != b[name][0] and not (name.endswith("class_path") and _same_class(a[name][0], b[name][0])):
                out.append(f"{name}: checkpoint {a[name][1]}, config {b[name][1]}")
    return out


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
