"""torchrate.training.curriculum and torchrate.training.checkpoints: the options of Curriculum,
passes, the checkpoint loader/saver, hparams_differences and RunLock refused by name."""

import functools
import tempfile

import torch

from torchrate.training import checkpoints as ck
from torchrate.training.curriculum import Curriculum, passes

NAN = float("nan")


@functools.cache
def _folder() -> tempfile.TemporaryDirectory[str]:
    """A folder holding a valid checkpoint ``a.ckpt``, made when a case first needs it and removed
    when the process exits (the cache keeps it alive until then)."""
    folder = tempfile.TemporaryDirectory(prefix="torchrate-bad-cases-")
    torch.save({"state_dict": {}}, f"{folder.name}/a.ckpt")
    return folder


def _dir() -> str:
    return _folder().name


CASES = [
    ("Curriculum stages a dict", lambda: Curriculum({"n_bits": 2}), TypeError, r"stages must be a non-empty list"),
    ("Curriculum stages a str", lambda: Curriculum("easy"), TypeError, r"stages must be a non-empty list"),
    ("Curriculum stages empty", lambda: Curriculum([]), ValueError, r"stages must be a non-empty list"),
    ("Curriculum stages of ints", lambda: Curriculum([1, 2]), TypeError, r"stages\[0\] must be a dict"),
    ("Curriculum monitor=None", lambda: Curriculum([{}, {}], monitor=None), TypeError, r"monitor must be the name"),
    ("Curriculum monitor=''", lambda: Curriculum([{}, {}], monitor=""), TypeError, r"monitor must be the name"),
    ("Curriculum mode='up'", lambda: Curriculum([{}, {}], mode="up"), ValueError, r"mode must be one of"),
    ("Curriculum patience=0", lambda: Curriculum([{}, {}], patience=0), ValueError, r"patience must be a positive"),
    ("Curriculum patience=True", lambda: Curriculum([{}, {}], patience=True), TypeError, r"patience must be a pos"),
    ("Curriculum patience=1.5", lambda: Curriculum([{}, {}], patience=1.5), TypeError, r"patience must be a pos"),
    ("passes mode='up'", lambda: passes(0.9, 0.5, "up"), ValueError, r"mode must be one of 'max', 'min', got 'up'"),
    ("passes mode=None", lambda: passes(0.9, 0.5, None), ValueError, r"mode must be one of 'max', 'min'"),
    ("passes threshold=nan", lambda: passes(0.9, NAN, "max"), ValueError, r"threshold must be a finite number"),
    ("passes threshold='0.5'", lambda: passes(0.9, "0.5", "max"), TypeError, r"threshold must be a real number"),
    ("passes value='0.9'", lambda: passes("0.9", 0.5, "max"), TypeError, r"value must be a real number"),
    ("passes value a list", lambda: passes([0.9], 0.5, "max"), TypeError, r"value must be a real number"),
    (
        "load_checkpoint_file path=3",
        lambda: ck.load_checkpoint_file(3),
        TypeError,
        r"checkpoint must be a path, URL or binary file object, got int",
    ),
    (
        "load_checkpoint_file path missing",
        lambda: ck.load_checkpoint_file(f"{_dir()}/missing.ckpt"),
        FileNotFoundError,
        r"checkpoint file not found: .*missing.ckpt",
    ),
    (
        "load_checkpoint_file map_location=3.5",
        lambda: ck.load_checkpoint_file(f"{_dir()}/a.ckpt", map_location=3.5),
        TypeError,
        r"map_location must be None, a torch.device or its name",
    ),
    (
        "load_checkpoint_file map_location='gpu'",
        lambda: ck.load_checkpoint_file(f"{_dir()}/a.ckpt", map_location="gpu"),
        ValueError,
        r"map_location must name a device \('cpu', 'cuda:0'\), got 'gpu'",
    ),
    (
        "save_checkpoint_file checkpoint a list",
        lambda: ck.save_checkpoint_file([1, 2], f"{_dir()}/b.ckpt"),
        TypeError,
        r"checkpoint must be a dict",
    ),
    (
        "save_checkpoint_file path=None",
        lambda: ck.save_checkpoint_file({}, None),
        TypeError,
        r"path must be a path \(str or os.PathLike\), got None",
    ),
    (
        "save_checkpoint_file path a folder",
        lambda: ck.save_checkpoint_file({}, _dir()),
        ValueError,
        r"path must be a checkpoint file, got the folder",
    ),
    (
        "hparams_differences saved a list",
        lambda: ck.hparams_differences([], {}),
        TypeError,
        r"saved must be a mapping of hyper-parameters",
    ),
    (
        "hparams_differences current=None",
        lambda: ck.hparams_differences({}, None),
        TypeError,
        r"current must be a mapping of hyper-parameters",
    ),
    (
        "hparams_differences keys='network'",
        lambda: ck.hparams_differences({}, {}, keys="network"),
        TypeError,
        r"keys must be a tuple of str",
    ),
    ("RunLock directory=None", lambda: ck.RunLock(None), TypeError, r"directory must be a path"),
    (
        "RunLock directory a file",
        lambda: ck.RunLock(f"{_dir()}/a.ckpt"),
        ValueError,
        r"directory must be a run directory, got",
    ),
]
