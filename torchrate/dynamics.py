r"""The one equation of torchrate, as pure functions.

.. math::
    \tau \frac{dv}{dt} = -v + F(h + M v + b), \qquad h = W u

``v`` are firing rates, ``M`` the recurrent weights (``M[i, j]``: from neuron ``j`` to
neuron ``i``), ``h`` the already-projected input and ``τ`` (ms) a scalar or one value per
neuron. The Euler cell, the ODE solvers, the Jacobian and the fixed-point finder all
call :func:`vector_field`; :mod:`torchrate.systems` turns a network into the flow or map that
every analysis consumes.

The public functions check their arguments (shapes, dtypes, finiteness, τ > 0: a few host syncs);
torchrate's own time loops call the unchecked twins (``_vector_field`` …), which add no per-step cost.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import _validate
from .nonlinearities import Nonlinearity
from .parametrizations import check_positive

__all__ = ["pre_activation", "vector_field", "euler_step", "jacobian_of_vector_field"]


def _check(
    v: Tensor, h: Tensor, M: Tensor, b: Tensor | None, tau: float | Tensor = 1.0, F: Nonlinearity | None = None
) -> None:
    """The arguments of the public functions: ``v`` (*, N), ``h`` broadcastable to it, ``M`` (N, N),
    ``b`` (N,) or None, all of ``v``'s floating dtype and finite; ``τ`` > 0 of shape () or (N,)."""
    for name, t in (("v", v), ("h", h), ("M", M), ("b", b)):
        if t is None and name == "b":
            continue
        if not isinstance(t, Tensor) or not t.is_floating_point():
            want = "a floating-point Tensor or None" if name == "b" else "a floating-point Tensor"
            raise TypeError(f"{name} must be {want}, got {_validate._show(t)}")
    if v.ndim == 0:
        raise ValueError("v must have shape (*, N) (rates of N neurons), got a 0-D tensor")
    n = v.shape[-1]
    _validate.check_shape("M", M, (n, n), fix=f"recurrent weights of the N = {n} neurons of v")
    if b is not None:
        _validate.check_shape("b", b, (n,), fix=f"one bias per neuron of v (N = {n})")
    if h.shape[-1:] != (n,) and h.ndim:
        raise ValueError(f"h must have shape (*, {n}) (the projected input of each neuron), got {tuple(h.shape)}")
    for name, t in (("h", h), ("M", M), ("b", b)):
        if t is not None and t.dtype != v.dtype:
            raise TypeError(f"{name} must have the dtype of v ({v.dtype}), got {t.dtype}")
    if isinstance(tau, Tensor):
        if not tau.is_floating_point() or tau.dtype != v.dtype:
            raise TypeError(f"tau must be a number or a Tensor of the dtype of v ({v.dtype}), got {tau.dtype}")
        if tau.shape not in ((), (n,)):
            raise ValueError(f"tau must have shape () or ({n},) (one time constant per neuron), got {tuple(tau.shape)}")
        check_positive("tau", tau.detach())  # every entry > 0 and finite, naming the first that is not
    else:
        _validate.check_positive("tau", tau, fix="the time constant in ms")
    if F is not None and not isinstance(F, Nonlinearity):
        raise TypeError(
            f"F must be a torchrate Nonlinearity (torchrate.nonlinearity('tanh') or Nonlinearity(name, fn)), "
            f"got {_validate._show(F)}"
        )
    for name, t in (("v", v), ("h", h), ("M", M), ("b", b)):
        if t is not None:
            _validate.check_finite_tensor(name, t.detach())


def pre_activation(v: Tensor, h: Tensor, M: Tensor, b: Tensor | None) -> Tensor:
    """x = h + M v + b, batched over leading dimensions of ``v`` and ``h``.

    Parameters
    ----------
    v : Tensor, shape (*, N)
    h : Tensor, shape (*, N), broadcastable to ``v``
    M : Tensor, shape (N, N)
    b : Tensor, shape (N,), or None

    Returns
    -------
    Tensor, shape (*, N)

    Raises
    ------
    TypeError, ValueError
        Naming the argument: not a floating tensor, a shape other than the above, a dtype other
        than ``v``'s, or a NaN/inf entry.
    """
    _check(v, h, M, b)
    return _pre_activation(v, h, M, b)


def _pre_activation(v: Tensor, h: Tensor, M: Tensor, b: Tensor | None) -> Tensor:
    x = h + v @ M.T
    return x if b is None else x + b


def vector_field(v: Tensor, h: Tensor, M: Tensor, b: Tensor | None, tau: Tensor | float, F: Nonlinearity) -> Tensor:
    r"""dv/dt = (−v + F(h + M v + b)) / τ.

    Parameters
    ----------
    v : Tensor, shape (*, N)
        Rates.
    h : Tensor, shape (*, N)
        Projected input ``W u``.
    M : Tensor, shape (N, N)
    b : Tensor, shape (N,), or None
    tau : float or Tensor, shape () or (N,)
        Time constant(s) in ms, > 0.
    F : Nonlinearity

    Returns
    -------
    Tensor, shape (*, N), in rate per ms.

    Raises
    ------
    TypeError, ValueError
        Naming the argument, as :func:`pre_activation`; ``tau`` ≤ 0, non-finite or of another
        shape; ``F`` not a :class:`~torchrate.Nonlinearity`.
    """
    _check(v, h, M, b, tau, F)
    return _vector_field(v, h, M, b, tau, F)


def _vector_field(v: Tensor, h: Tensor, M: Tensor, b: Tensor | None, tau: Tensor | float, F: Nonlinearity) -> Tensor:
    return (F(_pre_activation(v, h, M, b)) - v) / tau


def euler_step(
    v: Tensor, h: Tensor, M: Tensor, b: Tensor | None, tau: Tensor | float, F: Nonlinearity, dt: float
) -> Tensor:
    r"""One Euler step ``v + dt · dv/dt`` = ``v + (dt/τ)(−v + F(h + Mv + b))``.

    Arguments as :func:`vector_field`, and ``dt`` (ms, > 0); returns the rates (*, N) after the step.
    """
    _check(v, h, M, b, tau, F)
    dt = _validate.check_positive("dt", dt, fix="the Euler step in ms")
    return v + dt * _vector_field(v, h, M, b, tau, F)


def jacobian_of_vector_field(
    v: Tensor, h: Tensor, M: Tensor, b: Tensor | None, tau: Tensor | float, F: Nonlinearity
) -> Tensor:
    r"""Analytic Jacobian ∂(dv/dt)/∂v = (−I + diag(F'(x)) M) / τ, x = h + Mv + b.

    Needs a named nonlinearity (one that knows its derivative); arguments as :func:`vector_field`.

    Returns
    -------
    Tensor, shape (*, N, N)
    """
    _check(v, h, M, b, tau, F)
    return _jacobian_of_vector_field(v, h, M, b, tau, F)


def _jacobian_of_vector_field(
    v: Tensor, h: Tensor, M: Tensor, b: Tensor | None, tau: Tensor | float, F: Nonlinearity
) -> Tensor:
    if F.derivative_from_output is None:
        raise ValueError(
            f"the analytic Jacobian needs a named nonlinearity; {F.name!r} is a plain callable. "
            "Use torchrate.analysis.jacobian, which differentiates any F with torch.func"
        )
    slope = F.derivative_from_output(F(_pre_activation(v, h, M, b)))  # (*, N)
    tau = torch.as_tensor(tau, dtype=M.dtype, device=M.device)
    J = slope.unsqueeze(-1) * (M / (tau.unsqueeze(-1) if tau.ndim else tau))  # row i: F'_i M_i· / τ_i
    J.diagonal(dim1=-2, dim2=-1).sub_(1 / tau)  # in place: no (*, N, N) identity or temporaries
    return J
