"""Which classes a checkpoint's hyper-parameters, or a config's network slot, may name.

A ``{"class_path": "pkg.mod.Name", ...}`` entry is resolved by importing ``pkg.mod``: importing
runs that module's code, so a checkpoint naming ``evil.RateRNN`` next to a file ``evil.py``
would run it. Here a class path is looked at *before* anything is imported, and only these
may be named:

* torchrate's own classes (``torchrate.…``) and PyTorch's modules (``torch.nn.…``), imported
  as usual;
* classes registered with :func:`allow` (your own ``RateRNN`` or ``Task`` subclass), taken from
  the registry — never imported from the name; ``allow("mymodule.MyTask")`` is you saying that
  this one module may be imported;
* subclasses of :class:`~torchrate.tasks.Task` already defined in this process (their module
  was imported by you, or by ``torchrate fit`` from the config you wrote): naming one imports
  nothing new, so a checkpoint of a run on your own task loads once its module is imported.

Then the class must be a subclass of what the slot takes (``RateRNN``, ``Task``, ``nn.Module``):
a function such as ``os.system`` is refused before it could be called.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from typing import TypeGuard

from .. import _validate

__all__ = ["allow", "allowed", "resolve_class", "check_class_paths", "DisallowedClassError"]

#: packages whose classes may be named (imported on demand)
TRUSTED_PACKAGES = ("torchrate", "torch.nn")

_REGISTERED: dict[str, type] = {}
_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+\Z")


class DisallowedClassError(ValueError):
    """A class path outside torchrate, ``torch.nn`` and the classes registered with :func:`allow`."""


def allow(cls: type | str, *names: str) -> type:
    """Let checkpoints and configs name ``cls`` (by ``module.QualName`` and by any of ``names``).

    Checkpoints written with your own network or task class load once it is registered;
    returns ``cls``, so it also works as a class decorator. ``cls`` may also be a dotted class
    path, ``allow("mymodule.SimplePD")``: its module is imported now (you trust it) and the class
    registered under that path.

    Examples
    --------
    >>> import torchrate as tr
    >>> @tr.training.allow
    ... class MyRNN(tr.RateRNN):
    ...     pass
    >>> tr.training.allowlist.allowed(f"{MyRNN.__module__}.MyRNN")
    True
    """
    if isinstance(cls, str):
        path = cls
        if not _DOTTED.match(path):
            raise ValueError(f"allow(): {path!r} is not a dotted class path such as 'mymodule.SimplePD'")
        module, _, name = path.rpartition(".")
        try:
            cls = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as err:
            raise ImportError(
                f"allow({path!r}): cannot import it ({err}); is its folder the working directory or on PYTHONPATH?"
            ) from None
        if not isinstance(cls, type):
            raise TypeError(f"allow({path!r}): it names a {type(cls).__name__}, not a class")
        names = (path, *names)
    if not isinstance(cls, type):
        raise TypeError(f"allow() takes a class, got {type(cls).__name__} {cls!r}")
    own = f"{cls.__module__}.{cls.__qualname__}"
    for name in names:
        if not isinstance(name, str) or not _DOTTED.match(name):
            raise ValueError(f"allow(): {name!r} is not a dotted class path such as 'mylab.nets.MyRNN'")
    if not _DOTTED.match(own) and not names:  # a class defined inside a function
        raise ValueError(
            f"allow(): {cls.__name__} has no importable name ({own!r}); give the class path that "
            f"checkpoints and configs use, e.g. allow({cls.__name__}, 'mylab.nets.{cls.__name__}')"
        )
    for name in ((own,) if _DOTTED.match(own) else ()) + names:
        _REGISTERED[name] = cls
    return cls


def allowed(path: object) -> TypeGuard[str]:
    """Whether ``path`` is registered, inside a trusted package, or a Task subclass already
    defined in this process (no import is done). ``TypeError`` if ``path`` is not a str."""
    if not isinstance(path, str):
        raise TypeError(f"path must be a dotted class path str ('package.module.Class'), got {_validate._show(path)}")
    if not _DOTTED.match(path):
        return False
    return (
        path in _REGISTERED
        or any(path.startswith(f"{pkg}.") for pkg in TRUSTED_PACKAGES)
        or _defined_task(path) is not None
    )


def _defined_task(path: str) -> type | None:
    """The :class:`~torchrate.tasks.Task` subclass named ``module.QualName`` = ``path`` that is
    already defined in this process (preferring the one its module holds now), else None."""
    import sys

    from ..tasks.base import Task

    found, stack = [], [Task]
    while stack:
        for sub in stack.pop().__subclasses__():
            stack.append(sub)
            if f"{sub.__module__}.{sub.__qualname__}" == path:
                found.append(sub)
    current = [c for c in found if getattr(sys.modules.get(c.__module__), c.__qualname__, None) is c]
    return (current or found or [None])[-1]


def _refusal(path: object, where: str) -> str:
    module, _, name = str(path).rpartition(".")
    return (
        f"{where} names class_path {path!r}, which is not allowed: only torchrate's classes, torch.nn modules "
        f"and classes registered with torchrate.training.allow(cls) may be named (checked before anything is "
        f"imported: importing a module runs its code). If you trust it, register it first: "
        f"`from {module or 'yourmodule'} import {name or 'YourClass'}; "
        f"torchrate.training.allow({name or 'YourClass'})` (or torchrate.training.allow({str(path)!r}); a Task "
        f"subclass is allowed once its module is imported; `torchrate analyze … --allow {path}`)"
    )


def resolve_class(path: object, base: type | tuple[type, ...], where: str = "the spec") -> type:
    """The class named ``path`` — from the registry, or imported from a trusted package —
    checked to be a subclass of ``base``.

    Raises
    ------
    DisallowedClassError
        ``path`` is neither registered nor in a trusted package (nothing was imported).
    ImportError
        A trusted path that does not exist.
    TypeError
        The name is not a class, or not a ``base``; ``base`` not a class (or tuple of classes),
        ``where`` not a str.
    """
    if not isinstance(where, str):
        raise TypeError(f"where must be a str (what names the class, for errors), got {_validate._show(where)}")
    if not (isinstance(base, type) or isinstance(base, tuple) and base and all(isinstance(b, type) for b in base)):
        raise TypeError(f"base must be a class or a tuple of classes, got {_validate._show(base)}")
    if not isinstance(path, str) or not allowed(path):
        raise DisallowedClassError(_refusal(path, where))
    if path in _REGISTERED:
        cls = _REGISTERED[path]
    elif (task := _defined_task(path)) is not None:
        cls = task
    else:
        module, _, name = path.rpartition(".")
        try:
            cls = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError, ValueError) as err:
            raise ImportError(f"cannot import {path!r}: {err}") from None
    bases = base if isinstance(base, tuple) else (base,)
    if not (isinstance(cls, type) and issubclass(cls, bases)):
        expected = " or ".join(f"{b.__module__}.{b.__name__}" for b in bases)
        raise TypeError(f"class_path {path!r} is not a {expected} (got {type(cls).__name__} {cls!r})")
    return cls


def check_class_paths(tree: object, where: str) -> None:
    """Raise :class:`DisallowedClassError` if any ``class_path`` (or Lightning's ``_class_path``)
    anywhere in the nested dicts / lists ``tree`` is not :func:`allowed`. Imports nothing.
    ``where`` (a str) names the source in the error."""
    if not isinstance(where, str):
        raise TypeError(f"where must be a str (the source of tree, for errors), got {_validate._show(where)}")
    if isinstance(tree, Mapping) or hasattr(tree, "items") and callable(tree.items):
        for key, value in tree.items():
            if key in ("class_path", "_class_path") and not (isinstance(value, str) and allowed(value)):
                raise DisallowedClassError(_refusal(value, where))
            check_class_paths(value, where)
    elif isinstance(tree, (list, tuple)):
        for value in tree:
            check_class_paths(value, where)
