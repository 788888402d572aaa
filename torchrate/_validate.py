r"""Argument checks shared by the whole library: one rule, one message, written once.

Every check raises (never ``assert``, so it holds under ``python -O``) a ``TypeError`` for a
value of the wrong kind and a ``ValueError`` for a value of the right kind outside its range.
Messages follow one pattern: ``"<name> must be <rule>, got <received>"`` plus, where one
exists, the fix (``fix=`` argument), e.g.::

    tau must be a positive finite number (ms), got -1.0

The checks run on the host, on arguments, before any computation; none is meant to run
inside ``vmap`` / ``torch.compile`` traced code (a data-dependent branch breaks them).

Examples
--------
>>> as_float("tau", 10)
10.0
>>> check_positive("tau", float("nan"))
Traceback (most recent call last):
    ...
ValueError: tau must be a positive finite number, got nan
>>> as_int("n", 2.5)
Traceback (most recent call last):
    ...
TypeError: n must be an integer, got 2.5
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Collection, Sequence
from typing import Literal, TypedDict, TypeVar, overload

import torch
from torch import Tensor

_T = TypeVar("_T")


class Factory(TypedDict):
    """Where new tensors are made: ``torch.zeros(n, **factory)``."""

    dtype: torch.dtype | None
    device: torch.device | str | None


__all__ = [
    "as_float",
    "as_int",
    "check_positive",
    "check_nonnegative",
    "check_finite_tensor",
    "as_real_tensor",
    "check_shape",
    "check_choice",
    "check_vector",
    "check_interval",
    "check_square_matrix",
]


def _fix(fix: str | None) -> str:
    return f"; {fix}" if fix else ""


def _show(value: object) -> str:
    """The received value as it should appear in a message (short, with its type if odd)."""
    if isinstance(value, Tensor):
        if value.numel() <= 6:
            return f"{value.tolist()!r} (tensor, {value.dtype})"
        return f"a tensor of shape {tuple(value.shape)} ({value.dtype})"
    if isinstance(value, (bool, str)) or not isinstance(value, numbers.Number):
        text = repr(value)
        return f"{text[:60]}… ({type(value).__name__})" if len(text) > 60 else f"{text} ({type(value).__name__})"
    return repr(value)


def as_float(name: str, value: object, *, finite: bool = True, fix: str | None = None) -> float:
    """``value`` as a Python float: a real number, a NumPy scalar or a one-element real tensor.

    Refuses strings, booleans, complex numbers, tensors of more than one element (TypeError)
    and, with ``finite=True``, NaN and ±inf (ValueError).

    Parameters
    ----------
    name : str
        Argument name, used in the message.
    value : object
    finite : bool
        Also refuse NaN and ±inf.
    fix : str, optional
        How to fix it, appended to the message.

    Returns
    -------
    float
    """
    x = value
    if isinstance(x, Tensor):
        if x.numel() != 1 or x.is_complex() or x.dtype == torch.bool:
            raise TypeError(f"{name} must be a real number, got {_show(value)}{_fix(fix)}")
        x = x.item()
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_show(value)}{_fix(fix)}")
    x = float(x)
    if finite and not math.isfinite(x):
        raise ValueError(f"{name} must be a finite number, got {x!r}{_fix(fix)}")
    return x


def as_int(name: str, value: object, *, minimum: int | None = None, fix: str | None = None) -> int:
    """``value`` as a Python int (an ``int``, NumPy integer or integral one-element tensor;
    not a float, even ``2.0``, nor a bool), at least ``minimum`` if given.

    Examples
    --------
    >>> as_int("resolution", 1, minimum=2)
    Traceback (most recent call last):
        ...
    ValueError: resolution must be an integer ≥ 2, got 1
    """
    x = value
    if (
        isinstance(x, Tensor)
        and x.numel() == 1
        and not x.is_floating_point()
        and not x.is_complex()
        and x.dtype != torch.bool
    ):
        x = x.item()
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {_show(value)}{_fix(fix)}")
    x = int(x)
    if minimum is not None and x < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {x}{_fix(fix)}")
    return x


def check_positive(name: str, value: object, *, fix: str | None = None) -> float:
    """``value`` as a float, which must be finite and > 0 (NaN and inf refused)."""
    x = as_float(name, value, finite=False, fix=fix)
    if not (math.isfinite(x) and x > 0):
        raise ValueError(f"{name} must be a positive finite number, got {x!r}{_fix(fix)}")
    return x


def check_nonnegative(name: str, value: object, *, fix: str | None = None) -> float:
    """``value`` as a float, which must be finite and ≥ 0 (NaN and inf refused)."""
    x = as_float(name, value, finite=False, fix=fix)
    if not (math.isfinite(x) and x >= 0):
        raise ValueError(f"{name} must be a finite number ≥ 0, got {x!r}{_fix(fix)}")
    return x


def as_seed(name: str, value: object, *, fix: str | None = None) -> int:
    """``value`` as a seed torch takes (``torch.Generator.manual_seed``): an integer (as
    :func:`as_int`) in [−2⁶³, 2⁶⁴ − 1].

    Examples
    --------
    >>> as_seed("seed", 2**64)
    Traceback (most recent call last):
        ...
    ValueError: seed must be an integer in [-2**63, 2**64 - 1] (a torch seed), got 18446744073709551616
    """
    x = as_int(name, value, fix=fix)
    if not -(2**63) <= x < 2**64:
        raise ValueError(f"{name} must be an integer in [-2**63, 2**64 - 1] (a torch seed), got {x}{_fix(fix)}")
    return x


def check_finite_tensor(name: str, t: Tensor, *, fix: str | None = None) -> Tensor:
    """Raise ``ValueError`` naming ``name``, the count and the first index of any NaN / ±inf
    in ``t``; return ``t``. One reduction (and a host sync) when all entries are finite."""
    if t.numel() == 0 or (not t.is_floating_point() and not t.is_complex()):
        return t
    if bool(torch.isfinite(t).all()):
        return t
    bad = ~torch.isfinite(t)
    first = tuple(int(i) for i in bad.nonzero()[0].tolist())
    value = t[first].item()
    raise ValueError(
        f"{name} must be finite, got {int(bad.sum())} non-finite entr"
        f"{'y' if int(bad.sum()) == 1 else 'ies'} of {t.numel()} (first: {name}{list(first)} = "
        f"{value}){_fix(fix)}"
    )


def as_real_tensor(
    name: str,
    value: object,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    fix: str | None = None,
) -> Tensor:
    """``value`` (tensor, NumPy array, nested list of numbers) as a real floating tensor.

    Integer input is cast to ``dtype`` (default: the default dtype); complex, boolean and
    non-numeric input is refused with a ``TypeError`` (``torch.as_tensor`` would drop the
    imaginary part silently on a later cast, or fail with a message that names nothing).

    Parameters
    ----------
    name : str
    value : Tensor, array-like
    dtype : torch.dtype, optional
        Cast to this floating dtype (default: keep a floating tensor's dtype).
    device : torch.device, optional
    fix : str, optional
    """
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be a real tensor or array of numbers, got {_show(value)}{_fix(fix)}")
    if isinstance(value, Tensor):
        t = value
    else:
        try:
            t = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(
                f"{name} must be a real tensor or array of numbers, got {_show(value)} ({err}){_fix(fix)}"
            ) from None
    if t.is_complex():
        raise TypeError(
            f"{name} must be real, got a complex tensor ({t.dtype}); pass its .real part "
            f"if the imaginary part is meant to be dropped{_fix(fix)}"
        )
    if t.dtype == torch.bool:
        raise TypeError(f"{name} must be a real tensor of numbers, got a bool tensor{_fix(fix)}")
    if dtype is not None:
        if not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating point dtype, got {dtype}")
        t = t.to(dtype=dtype)
    elif not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    return t if device is None else t.to(device)


def check_shape(name: str, t: Tensor, shape: Sequence[int | None | str], *, fix: str | None = None) -> Tensor:
    """Require ``t.shape`` to match ``shape``, whose entries are sizes, ``None`` (any size) or
    a symbol (any size, shown in the message: ``("B", 3)`` reads "(B, 3)"); return ``t``.

    Examples
    --------
    >>> check_shape("u", torch.zeros(2, 4), ("B", 3))
    Traceback (most recent call last):
        ...
    ValueError: u must have shape (B, 3), got (2, 4)
    """
    ok = t.ndim == len(shape) and all(not isinstance(s, int) or s == n for s, n in zip(shape, t.shape))
    if not ok:
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name} must have shape {want}, got {tuple(t.shape)}{_fix(fix)}")
    return t


def check_choice(name: str, value: _T, choices: Collection[object], *, fix: str | None = None) -> _T:
    """Require ``value`` to be one of ``choices``; return it."""
    try:
        ok = value in choices
    except TypeError:  # unhashable value against a set
        ok = False
    if not ok:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {_show(value)}{_fix(fix)}")
    return value


def check_vector(
    name: str,
    value: object,
    size: int | None,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    batch: bool = False,
    what: str = "entries",
    fix: str | None = None,
) -> Tensor:
    """A finite real tensor of shape ``(size,)`` (or ``(B, size)`` with ``batch=True``), e.g. a
    constant input ``u`` of ``input_size`` entries; ``size=None`` accepts any width.

    Examples
    --------
    >>> check_vector("u", [0.0, 1.0, 2.0], 2, what="inputs")
    Traceback (most recent call last):
        ...
    ValueError: u must have shape (2,) (one value per inputs), got (3,)
    """
    t = as_real_tensor(name, value, dtype=dtype, device=device, fix=fix)
    ok_ndim = t.ndim == 1 or (batch and t.ndim == 2)
    if not ok_ndim or (size is not None and t.shape[-1] != size):
        n = "N" if size is None else str(size)
        want = f"({n},) or (B, {n})" if batch else f"({n},)"
        raise ValueError(f"{name} must have shape {want} (one value per {what}), got {tuple(t.shape)}{_fix(fix)}")
    return check_finite_tensor(name, t, fix=fix)


def check_interval(name: str, value: object, *, fix: str | None = None) -> tuple[float, float]:
    """``(lo, hi)``: two finite real numbers with ``lo < hi``.

    Examples
    --------
    >>> check_interval("xlim", (1.0, 0.0))
    Traceback (most recent call last):
        ...
    ValueError: xlim must be (lo, hi) with lo < hi, got (1.0, 0.0)
    """
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a pair (lo, hi) of numbers, got {_show(value)}{_fix(fix)}")
    if len(value) != 2:
        raise ValueError(f"{name} must be a pair (lo, hi), got {len(value)} values: {tuple(value)!r}{_fix(fix)}")
    lo, hi = (as_float(f"{name}[{i}]", v, finite=False, fix=fix) for i, v in enumerate(value))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name} must be finite (lo, hi), got {(lo, hi)}{_fix(fix)}")
    if not lo < hi:
        raise ValueError(f"{name} must be (lo, hi) with lo < hi, got {(lo, hi)}{_fix(fix)}")
    return lo, hi


def check_square_matrix(name: str, M: object, *, fix: str | None = None) -> Tensor:
    """``M`` as a finite, real, non-empty square floating tensor (integers cast to the default
    dtype), e.g. recurrent weights.

    Examples
    --------
    >>> check_square_matrix("M", torch.zeros(0, 0))
    Traceback (most recent call last):
        ...
    ValueError: M must have at least one neuron, got shape (0, 0)
    """
    M = as_real_tensor(name, M, fix=fix or "recurrent weights are real")
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(f"{name} must be a square matrix (N, N), got shape {tuple(M.shape)}{_fix(fix)}")
    if M.shape[0] == 0:
        raise ValueError(f"{name} must have at least one neuron, got shape (0, 0){_fix(fix)}")
    return check_finite_tensor(name, M, fix=fix)


def check_flag(name: str, value: object, *, fix: str | None = None) -> bool:
    """``value``, which must be ``True`` or ``False`` (not ``0``/``1``, ``None`` or a string)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {_show(value)}{_fix(fix)}")
    return value


def check_dtype(name: str, value: object, *, fix: str | None = None) -> torch.dtype | None:
    """``value``: ``None`` or a real floating-point ``torch.dtype`` (``torch.float32``, ``torch.float64``)."""
    if value is not None and not (isinstance(value, torch.dtype) and value.is_floating_point):
        raise TypeError(
            f"{name} must be a floating-point torch.dtype (torch.float32, torch.float64) or None, "
            f"got {_show(value)}{_fix(fix)}"
        )
    return value


def check_device(name: str, value: object, *, fix: str | None = None) -> torch.device | None:
    """``value`` (``None``, a ``torch.device``, a name like ``"cpu"``/``"cuda:0"`` or a CUDA index)
    as a ``torch.device`` that exists on this machine (``None`` stays ``None``).

    Examples
    --------
    >>> check_device("device", "gpu0")
    Traceback (most recent call last):
        ...
    ValueError: device must be a torch.device or a name like 'cpu' or 'cuda:0', got 'gpu0' (str)
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, torch.device, numbers.Integral)):
        raise TypeError(
            f"{name} must be a torch.device, a name like 'cpu' or 'cuda:0', or None, got {_show(value)}{_fix(fix)}"
        )
    try:
        device = torch.device(value if isinstance(value, (str, torch.device)) else int(value))  # an index
    except (RuntimeError, ValueError, TypeError):
        raise ValueError(
            f"{name} must be a torch.device or a name like 'cpu' or 'cuda:0', got {_show(value)}{_fix(fix)}"
        ) from None
    if device.type != "meta":
        try:
            torch.empty(0, device=device)
        except (RuntimeError, AssertionError) as err:  # torch not built for it, or no such index
            raise ValueError(
                f"{name} must be a device available here, got {str(device)!r} ({str(err).splitlines()[0]}){_fix(fix)}"
            ) from None
    return device


def check_generator(name: str, value: object, *, fix: str | None = None) -> torch.Generator | None:
    """``value``: ``None`` (the global RNG) or a ``torch.Generator``."""
    if value is not None and not isinstance(value, torch.Generator):
        raise TypeError(
            f"{name} must be a torch.Generator or None (the global RNG), got {_show(value)}"
            f"{_fix(fix or 'pass torch.Generator().manual_seed(seed)')}"
        )
    return value


def check_probability(name: str, value: object, *, fix: str | None = None) -> float:
    """``value`` as a float in [0, 1] (NaN refused)."""
    x = as_float(name, value, finite=False, fix=fix)
    if not 0 <= x <= 1:
        raise ValueError(f"{name} must be a probability in [0, 1], got {x!r}{_fix(fix)}")
    return x


@overload
def check_path(
    name: str, value: object, *, optional: Literal[False] = False, fix: str | None = None
) -> str | os.PathLike[str]: ...
@overload
def check_path(
    name: str, value: object, *, optional: bool, fix: str | None = None
) -> str | os.PathLike[str] | None: ...
def check_path(
    name: str, value: object, *, optional: bool = False, fix: str | None = None
) -> str | os.PathLike[str] | None:
    """``value``, which must be a path (``str`` or ``os.PathLike``), or ``None`` with ``optional``.

    Examples
    --------
    >>> check_path("out", 3)
    Traceback (most recent call last):
        ...
    TypeError: out must be a path (str or os.PathLike), got 3
    """
    if value is None and optional:
        return None
    if not isinstance(value, (str, os.PathLike)):
        rule = "a path (str or os.PathLike)" + (" or None" if optional else "")
        raise TypeError(f"{name} must be {rule}, got {_show(value)}{_fix(fix)}")
    return value
