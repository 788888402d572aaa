r"""The Jacobian J = ∂(dv/dt)/∂v of a rate network, and the constant-input vector field used by
the fixed-point finder.

For torchrate's networks J = (−I + diag(F′(x)) M)/τ with x = h + Mv + b
(:func:`torchrate.dynamics.jacobian_of_vector_field`); :func:`jacobian` obtains it with
``torch.func`` from ``net.vector_field`` itself, so it holds for any module that exposes one.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.func import jacrev, vmap

from .. import _validate
from ..dynamics import VectorField, _field_fn, input_drive  # noqa: F401 - re-exported for the analysis

__all__ = ["jacobian", "input_drive"]


def _reference(net) -> Tensor | None:
    """A tensor carrying the network's dtype and device (its first parameter or buffer)."""
    if isinstance(net, nn.Module):
        for t in (*net.parameters(), *net.buffers()):
            if t.is_floating_point():
                return t
    return None


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
