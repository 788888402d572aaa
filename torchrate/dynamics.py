r"""The one equation of torchrate, as pure functions.

.. math::
    \tau \frac{dv}{dt} = -v + F(h + M v + b), \qquad h = W u

``v`` are firing rates, ``M`` the recurrent weights (``M[i, j]``: from neuron ``j`` to
neuron ``i``), ``h`` the already-projected input and ``τ`` (ms) a scalar or one value per
neuron. The Euler cell, the ODE solvers, the Jacobian and the fixed-point finder all
call :func:`vector_field`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.func import jacrev, vjp, vmap

from .nonlinearities import Nonlinearity

__all__ = ["pre_activation", "vector_field", "euler_step", "jacobian_of_vector_field", "VectorField", "input_drive"]


def pre_activation(v: Tensor, h: Tensor, M: Tensor, b: Tensor | None) -> Tensor:
    """x = h + M v + b, batched over leading dimensions of ``v`` and ``h``."""
    x = h + v @ M.T
    return x if b is None else x + b


def vector_field(
    v: Tensor, h: Tensor, M: Tensor, b: Tensor | None, tau: Tensor | float, F: Nonlinearity
) -> Tensor:
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


# --------------------------------------------------------------------------- a network at fixed input
def input_drive(net, u: Tensor | None, like: Tensor) -> Tensor:
    """h = ``net.project_input(u)`` (``u`` itself for a module without ``project_input``);
    zeros of ``like``'s last dimension for ``u=None``."""
    if u is None:
        return like.new_zeros(like.shape[-1])
    u = torch.as_tensor(u, dtype=like.dtype, device=like.device)
    return net.project_input(u) if hasattr(net, "project_input") else u


def _field_fn(net) -> Callable[[Tensor, Tensor], Tensor]:
    if hasattr(net, "vector_field"):
        return net.vector_field
    if callable(net):
        return net
    raise TypeError(
        f"expected a network with a vector_field(v, h) method (RateRNN, EIRateRNN, …) or a "
        f"callable f(v, h) -> dv/dt, got {type(net).__name__}"
    )


def _is_rate_network(net) -> bool:
    from .networks import RateRNN  # networks builds on this module

    return isinstance(net, RateRNN) and type(net).vector_field is RateRNN.vector_field


class VectorField:
    """dv/dt of a network at a fixed input, with ∇q = Jᵀ f and J for batches of states.

    For :class:`~torchrate.RateRNN`-family networks with a named nonlinearity the Jacobian
    and the gradient of q = ½‖f‖² are analytic (``J = (diag(F′)M − I)/τ``, ``Jᵀf =
    (F′ ⊙ f/τ) M − f/τ``); otherwise they come from ``torch.func``. Parameters are detached:
    nothing here builds a graph through, or changes, the network.
    """

    def __init__(self, net, u: Tensor | None, like: Tensor):
        self.net = net
        with torch.no_grad():
            self.h = input_drive(net, u, like).detach()
        self.analytic = (_is_rate_network(net)
                         and net.F.derivative_from_output is not None)
        if self.analytic:
            with torch.no_grad():
                self.M, self.tau = net.M.detach(), net.tau.detach()
                self.b = None if net.b is None else net.b.detach()
            self.F = net.F
        self._f = _field_fn(net)

    def __call__(self, v: Tensor) -> Tensor:
        """dv/dt at states ``v`` (*, N)."""
        if self.analytic:
            return vector_field(v, self.h, self.M, self.b, self.tau, self.F)
        with torch.no_grad():
            return self._f(v, self.h)

    def q(self, v: Tensor) -> Tensor:
        """q = ½‖dv/dt‖², shape (*,)."""
        return 0.5 * self(v).square().sum(-1)

    def q_and_grad(self, v: Tensor) -> tuple[Tensor, Tensor]:
        """q (K,) and ∇q = Jᵀ f (K, N)."""
        if self.analytic:
            y = self.F(pre_activation(v, self.h, self.M, self.b))
            f = (y - v) / self.tau
            w = f / self.tau
            return 0.5 * f.square().sum(-1), (self.F.derivative_from_output(y) * w) @ self.M - w
        f, pullback = vjp(lambda x: self._f(x, self.h), v)
        return 0.5 * f.square().sum(-1), pullback(f)[0]

    def jacobian(self, v: Tensor) -> Tensor:
        """J at states ``v`` (K, N) → (K, N, N)."""
        if self.analytic:
            return jacobian_of_vector_field(v, self.h, self.M, self.b, self.tau, self.F)
        with torch.no_grad():
            return vmap(jacrev(lambda x: self._f(x, self.h)))(v)
