r"""The Euler rollout of τ dv/dt = −v + F(x), x = X_t + M v: one fused op, and the loop it equals.

.. math::
    v_{t+1} = v_t + a\,(F(X_t + M v_t) - v_t) + \eta_t, \qquad a = dt/\tau

* :func:`euler_rollout` is what the networks call. On the ordinary eager and compiled paths it
  runs the fused op ``torchrate::euler_rollout``: per step an in-place ``addmm → F → lerp``
  into preallocated buffers; backward is a hand-written loop of three kernels a step, and the
  weight gradient one matmul after the loop. Being a ``torch.library.custom_op`` (with a fake
  kernel and a registered autograd formula), ``torch.compile(fullgraph=True, dynamic=True)``
  and ``torch.export`` see one opaque op: T is neither unrolled nor specialised on.
* :func:`euler_rollout_reference` is the plain loop of differentiable ops the fused op is
  equivalent to. It is taken wherever the fused kernels cannot give an exact answer:

  - under ``torch.func`` transforms (``vmap``, ``grad``, ``jacrev``, ``jacfwd``, ``jvp``,
    ensembles through ``functional_call``);
  - for higher derivatives: when backward runs with ``create_graph=True`` the fused backward
    re-runs the reference loop and differentiates it, so second and higher derivatives are
    exact, never absent;
  - for a user-supplied F (whose derivative torchrate does not know).

Under ``torch.autocast`` the rollout runs in the autocast dtype (bf16/fp16), as ``nn.RNN`` does.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .nonlinearities import NONLINEARITIES, Nonlinearity

__all__ = ["euler_rollout", "euler_rollout_reference", "transforms_active"]


def transforms_active() -> bool:
    """True inside a ``torch.func`` transform (vmap, grad, jvp, …), where only plain ops compose."""
    return torch._C._are_functorch_transforms_active()


# --------------------------------------------------------------------------- fused kernels
def _forward_kernel(X: Tensor, v0: Tensor, M: Tensor, a: Tensor, eta: Tensor | None,
                    F: Nonlinearity) -> tuple[Tensor, Tensor]:
    """V (T+1, *, B, N) with V[0] = v0, and Y[t] = F(X[t] + V[t] Mᵀ) (T, *, B, N) for the backward."""
    T = X.shape[0]
    V = X.new_empty((T + 1, *v0.shape))
    Y = torch.empty_like(X)
    V[0] = v0
    MT = M.mT
    mm = torch.addmm if M.ndim == 2 else torch.baddbmm  # one network, or K members at once
    # a shared τ steps with a Python float (cheaper kernels); on the CPU this is no device sync
    weight = a.item() if a.ndim == 0 and a.device.type == "cpu" else a
    Xs, Vs, Ys = X.unbind(0), V.unbind(0), Y.unbind(0)  # per-step views, made once
    etas = eta.unbind(0) if eta is not None else None
    for t in range(T):
        mm(Xs[t], Vs[t], MT, out=Ys[t])
        F.apply_(Ys[t])
        torch.lerp(Vs[t], Ys[t], weight, out=Vs[t + 1])
        if etas is not None:
            Vs[t + 1].add_(etas[t])
    return V, Y


def _backward_kernel(grad_V: Tensor, V: Tensor, Y: Tensor, M: Tensor, a: Tensor, F: Nonlinearity,
                     need_G: bool) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Gradients (∂X, ∂v0, ∂M, ∂a, ∂η) of L given ∂L/∂V (T+1, B, N); ∂η = ∂L/∂v[t+1]."""
    T = Y.shape[0]
    mm = torch.addmm if M.ndim == 2 else torch.baddbmm
    gain = F.derivative_from_output(Y).mul_(a)  # dv[t+1]/dx[t] = a F'(x[t]), all steps at once
    D = torch.empty_like(Y)  # δ[t] = ∂L/∂x[t]
    G = torch.empty_like(Y) if need_G else None  # ∂L/∂v[t+1]
    Ds, gains, direct = D.unbind(0), gain.unbind(0), grad_V.unbind(0)
    shared = a.ndim == 0
    leak = 1 - (a.item() if shared and a.device.type == "cpu" else a)
    scalar_leak = not isinstance(leak, Tensor)
    g = direct[T].clone()
    for t in range(T - 1, -1, -1):
        if G is not None:
            G[t].copy_(g)
        torch.mul(g, gains[t], out=Ds[t])
        # ∂L/∂v[t] = (1 − a) ∂L/∂v[t+1] + δ[t] M + the direct gradient of V[t]
        g = mm(g, Ds[t], M, beta=leak) if scalar_leak else mm(g * leak, Ds[t], M)
        g.add_(direct[t])
    # the weight gradient, one matmul over all steps (a batched one for K members)
    grad_M = _steps_last(D, M.ndim).mT @ _steps_last(V[:-1], M.ndim)
    grad_a = (G * (Y - V[:-1])).sum_to_size(a.shape) if G is not None else torch.zeros_like(a)
    return D, g, grad_M, grad_a, (G if G is not None else Y.new_empty(0))  # nothing to fill when unused


def _steps_last(Z: Tensor, m_ndim: int) -> Tensor:
    """(T, B, N) → (T·B, N); with K members (T, K, B, N) → (K, T·B, N)."""
    if m_ndim == 2:
        return Z.reshape(-1, Z.shape[-1])
    return Z.transpose(0, 1).reshape(Z.shape[1], -1, Z.shape[-1])


# --------------------------------------------------------------------------- the op
@torch.library.custom_op("torchrate::euler_rollout", mutates_args=())
def _euler_op(X: Tensor, v0: Tensor, M: Tensor, a: Tensor, eta: Tensor | None,
              nonlinearity: str) -> tuple[Tensor, Tensor]:
    return _forward_kernel(X, v0, M, a, eta, NONLINEARITIES[nonlinearity])


@_euler_op.register_fake
def _(X, v0, M, a, eta, nonlinearity):
    return X.new_empty((X.shape[0] + 1, *v0.shape)), torch.empty_like(X)


@torch.library.custom_op("torchrate::euler_rollout_backward", mutates_args=())
def _euler_backward_op(grad_V: Tensor, V: Tensor, Y: Tensor, M: Tensor, a: Tensor, nonlinearity: str,
                       need_G: bool) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    return _backward_kernel(grad_V, V, Y, M, a, NONLINEARITIES[nonlinearity], need_G)


@_euler_backward_op.register_fake
def _(grad_V, V, Y, M, a, nonlinearity, need_G):
    return (torch.empty_like(Y), torch.empty_like(V[0]), torch.empty_like(M), torch.empty_like(a),
            torch.empty_like(Y) if need_G else Y.new_empty(0))


def _setup_context(ctx, inputs, output):
    X, v0, M, a, eta, nonlinearity = inputs
    V, Y = output
    ctx.save_for_backward(X, v0, M, a, eta, V, Y)
    ctx.nonlinearity = nonlinearity
    ctx.mark_non_differentiable(Y)


def _backward(ctx, grad_V, _grad_Y):
    X, v0, M, a, eta, V, Y = ctx.saved_tensors
    need = ctx.needs_input_grad
    if torch.is_grad_enabled():
        # create_graph=True: differentiate the reference loop, so that every higher
        # derivative is exact (the fused kernels' in-place buffers carry no graph)
        return _reference_vjp(grad_V, X, v0, M, a, eta, NONLINEARITIES[ctx.nonlinearity], need)
    dX, dv0, dM, da, deta = _euler_backward_op(grad_V, V, Y, M, a, ctx.nonlinearity, bool(need[3] or need[4]))
    return (dX if need[0] else None, dv0 if need[1] else None, dM if need[2] else None,
            da if need[3] else None, deta if need[4] else None, None)


_euler_op.register_autograd(_backward, setup_context=_setup_context)


def _reference_vjp(grad_V, X, v0, M, a, eta, F, need):
    inputs = [x for x, n in zip((X, v0, M, a, eta), need) if n]
    V = torch.cat([v0.unsqueeze(0), euler_rollout_reference(X, v0, M, a, F, eta)])
    grads = iter(torch.autograd.grad(V, inputs, grad_V, create_graph=True, allow_unused=True))
    out = [next(grads) if n else None for n in need[:5]]
    return (*[g if g is not None or not n else torch.zeros_like(x)
              for g, n, x in zip(out, need, (X, v0, M, a, eta))], None)


# --------------------------------------------------------------------------- public functions
def euler_rollout(X: Tensor, v0: Tensor, M: Tensor, a: Tensor, F: Nonlinearity,
                  eta: Tensor | None = None) -> Tensor:
    r"""Euler rollout of all ``T`` steps, returning the rates after each step.

    .. math::
        v_{t+1} = v_t + a\,(-v_t + F(X_t + M v_t)) + \eta_t, \qquad a = dt/\tau

    Efficient implementation equivalent to :func:`euler_rollout_reference`; exact first and
    higher derivatives, and every ``torch.func`` transform.

    Parameters
    ----------
    X : Tensor, shape (T, B, N), or (T, K, B, N) for K networks at once
        Input drive plus bias, ``W u_t + b``, for every step.
    v0 : Tensor, shape (B, N) or (K, B, N)
    M : Tensor, shape (N, N) or (K, N, N)
        With a leading K, each member steps with its own M (batched matmuls, :class:`~torchrate.Ensemble`).
    a : Tensor, shape () or (N,); (K, 1, 1) or (K, 1, N) with K members
        ``dt / τ``.
    F : Nonlinearity
    eta : Tensor, shaped like X, optional
        Additive noise for each step (Euler–Maruyama).

    Returns
    -------
    Tensor, shaped like X: ``v_1 … v_T``.
    """
    device = X.device.type
    if torch.is_autocast_enabled(device):
        # as nn.RNN: the recurrence runs in the autocast dtype; gradients flow back through the casts
        dtype = torch.get_autocast_dtype(device)
        X, v0, M, a = (t.to(dtype) for t in (X, v0, M, a))
        eta = None if eta is None else eta.to(dtype)
        with torch.autocast(device, enabled=False):
            return euler_rollout(X, v0, M, a, F, eta)
    fused = F.derivative_from_output is not None and NONLINEARITIES.get(F.name) is F
    if not fused or (not torch.compiler.is_compiling() and transforms_active()):
        return euler_rollout_reference(X, v0, M, a, F, eta)
    V, _ = _euler_op(X, v0, M, a, eta, F.name)
    return V[1:]


def euler_rollout_reference(X: Tensor, v0: Tensor, M: Tensor, a: Tensor, F: Nonlinearity,
                            eta: Tensor | None = None) -> Tensor:
    """The plain loop :func:`euler_rollout` is equivalent to, one ``lerp`` a step (same arguments)."""
    v, rates = v0, []
    for t in range(X.shape[0]):
        v = torch.lerp(v, F(X[t] + v @ M.mT), a)
        if eta is not None:
            v = v + eta[t]
        rates.append(v)
    return torch.stack(rates) if rates else X.new_empty((0, *v0.shape))
