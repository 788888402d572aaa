r"""The Jacobian J = ∂(dv/dt)/∂v of a rate network, and the constant-input vector field used by
the fixed-point finder.

For torchrate's networks J = (−I + diag(F′(x)) M)/τ with x = h + Mv + b
(:func:`torchrate.dynamics.jacobian_of_vector_field`); :func:`jacobian` obtains it with
``torch.func`` from ``net.vector_field`` itself, so it holds for any module that exposes one.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.func import jacrev, vjp, vmap

from .. import _validate, dynamics
from ..networks import RateRNN

__all__ = ["jacobian", "input_drive"]


def _reference(net) -> Tensor | None:
    """A tensor carrying the network's dtype and device (its first parameter or buffer)."""
    if isinstance(net, nn.Module):
        for t in (*net.parameters(), *net.buffers()):
            if t.is_floating_point():
                return t
    return None


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


def jacobian(net, v: Tensor, u: Tensor | None = None) -> Tensor:
    r"""Jacobian of the vector field, ∂(dv/dt)/∂v, at rates ``v`` and constant input ``u``.

    Computed with ``torch.func.vmap(torch.func.jacrev(net.vector_field))``: exact for any
    module exposing ``vector_field(v, h)`` (and ``project_input(u)``, else ``u`` is ``h``) or
    for a callable ``f(v, h)``; differentiable with respect to the network's parameters.

    Parameters
    ----------
    net : RateRNN, EIRateRNN, module with ``vector_field``, or callable ``f(v, h)``
    v : Tensor, shape (B, N) or (N,)
        Rates.
    u : Tensor, shape (I,) or (B, I), optional
        Input (zeros if None).

    Returns
    -------
    Tensor, shape (B, N, N) or (N, N), in 1/ms: ``J[b, i, j] = ∂(dv_i/dt)/∂v_j``.
    """
    if net is None or not (hasattr(net, "vector_field") or callable(net)):
        raise TypeError(f"net must be a network with vector_field(v, h) (RateRNN, EIRateRNN, …) or a callable "
                        f"f(v, h) -> dv/dt, got {type(net).__name__}")
    f = _field_fn(net)
    ref = _reference(net)
    v = _validate.as_real_tensor("v", v, device=None if ref is None else ref.device)
    if ref is not None and v.dtype != ref.dtype:
        raise TypeError(f"v has dtype {v.dtype} but the network's parameters are {ref.dtype}; "
                        f"pass v.to({ref.dtype}) (or convert the network with net.to({v.dtype}))")
    N = getattr(net, "hidden_size", None)
    if v.ndim not in (1, 2) or (N is not None and v.shape[-1] != N):
        n = "N" if N is None else N
        raise ValueError(f"v must have shape (B, {n}) or ({n},) (one rate per neuron), got {tuple(v.shape)}")
    _validate.check_finite_tensor("v", v)
    if u is not None:
        u = _validate.check_vector("u", u, getattr(net, "input_size", v.shape[-1]), dtype=v.dtype,
                                   device=v.device, batch=v.ndim == 2, what="input")
        if u.ndim == 2 and u.shape[0] != v.shape[0]:
            raise ValueError(f"u must have shape ({u.shape[-1]},) or (B, {u.shape[-1]}) with the B = {v.shape[0]} "
                             f"of v, got {tuple(u.shape)}")
    h = input_drive(net, u, v)
    if h.shape[-1] != v.shape[-1]:
        raise ValueError(f"the input drive h has {h.shape[-1]} entries but v has {v.shape[-1]}")
    if v.ndim == 1:
        return jacrev(f)(v, h)
    return vmap(jacrev(f), in_dims=(0, 0 if h.ndim == 2 else None))(v, h)



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
        self.analytic = (isinstance(net, RateRNN) and type(net).vector_field is RateRNN.vector_field
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
            return dynamics.vector_field(v, self.h, self.M, self.b, self.tau, self.F)
        with torch.no_grad():
            return self._f(v, self.h)

    def q(self, v: Tensor) -> Tensor:
        """q = ½‖dv/dt‖², shape (*,)."""
        return 0.5 * self(v).square().sum(-1)

    def q_and_grad(self, v: Tensor) -> tuple[Tensor, Tensor]:
        """q (K,) and ∇q = Jᵀ f (K, N)."""
        if self.analytic:
            y = self.F(dynamics.pre_activation(v, self.h, self.M, self.b))
            f = (y - v) / self.tau
            w = f / self.tau
            return 0.5 * f.square().sum(-1), (self.F.derivative_from_output(y) * w) @ self.M - w
        f, pullback = vjp(lambda x: self._f(x, self.h), v)
        return 0.5 * f.square().sum(-1), pullback(f)[0]

    def jacobian(self, v: Tensor) -> Tensor:
        """J at states ``v`` (K, N) → (K, N, N)."""
        if self.analytic:
            return dynamics.jacobian_of_vector_field(v, self.h, self.M, self.b, self.tau, self.F)
        with torch.no_grad():
            return vmap(jacrev(lambda x: self._f(x, self.h)))(v)
