r"""The one equation of torchrate, as pure functions.

.. math::
    \tau \frac{dv}{dt} = -v + F(h + M v + b), \qquad h = W u

``v`` are firing rates, ``M`` the recurrent weights (``M[i, j]``: from neuron ``j`` to
neuron ``i``), ``h`` the already-projected input and ``τ`` (ms) a scalar or one value per
neuron. The Euler cell, the ODE solvers, the Jacobian and the fixed-point finder all
call :func:`vector_field`; :mod:`torchrate.systems` turns a network into the flow or map that
every analysis consumes.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .nonlinearities import Nonlinearity

__all__ = ["pre_activation", "vector_field", "euler_step", "jacobian_of_vector_field"]


def pre_activation(v: Tensor, h: Tensor, M: Tensor, b: Tensor | None) -> Tensor:
    """x = h + M v + b, batched over leading dimensions of ``v`` and ``h``."""
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
        Time constant(s) in ms.
    F : Nonlinearity

    Returns
    -------
    Tensor, shape (*, N), in rate per ms.
    """
    return (F(pre_activation(v, h, M, b)) - v) / tau


def euler_step(
    v: Tensor, h: Tensor, M: Tensor, b: Tensor | None, tau: Tensor | float, F: Nonlinearity, dt: float
) -> Tensor:
    r"""One Euler step ``v + dt · dv/dt`` = ``v + (dt/τ)(−v + F(h + Mv + b))``."""
    return v + dt * vector_field(v, h, M, b, tau, F)


def jacobian_of_vector_field(
    v: Tensor, h: Tensor, M: Tensor, b: Tensor | None, tau: Tensor | float, F: Nonlinearity
) -> Tensor:
    r"""Analytic Jacobian ∂(dv/dt)/∂v = (−I + diag(F'(x)) M) / τ, x = h + Mv + b.

    Needs a named nonlinearity (one that knows its derivative).

    Returns
    -------
    Tensor, shape (*, N, N)
    """
    if F.derivative_from_output is None:
        raise ValueError(
            f"the analytic Jacobian needs a named nonlinearity; {F.name!r} is a plain callable. "
            "Use torchrate.analysis.jacobian, which differentiates any F with torch.func"
        )
    slope = F.derivative_from_output(F(pre_activation(v, h, M, b)))  # (*, N)
    tau = torch.as_tensor(tau, dtype=M.dtype, device=M.device)
    J = slope.unsqueeze(-1) * (M / (tau.unsqueeze(-1) if tau.ndim else tau))  # row i: F'_i M_i· / τ_i
    J.diagonal(dim1=-2, dim2=-1).sub_(1 / tau)  # in place: no (*, N, N) identity or temporaries
    return J
