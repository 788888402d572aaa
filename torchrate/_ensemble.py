r"""The Euler rollout of K networks at once: batched matmuls, one fused loop.

.. math::
    v^k_{t+1} = v^k_t + a^k\,(F(X^k_t + M^k v^k_t) - v^k_t) + \eta^k_t, \qquad k = 1 … K

:func:`ensemble_rollout` is :func:`torchrate._rollout.euler_rollout` with a leading member
dimension: per step one ``baddbmm → F → lerp`` for all K members (in place, into preallocated
buffers); backward a hand-written loop of one ``bmm`` a step, the weight gradients one ``bmm``
after the loop. A backward with ``create_graph=True`` differentiates
:func:`ensemble_rollout_reference` instead, so higher derivatives are exact. Under
``torch.func`` transforms the caller uses the members' own forward (vmap), not this.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .nonlinearities import Nonlinearity

__all__ = ["ensemble_rollout", "ensemble_rollout_reference"]


def ensemble_rollout_reference(X: Tensor, v0: Tensor, M: Tensor, a: Tensor, F: Nonlinearity,
                               eta: Tensor | None = None) -> Tensor:
    """The plain loop :func:`ensemble_rollout` equals (same arguments and result)."""
    v, rates = v0, []
    MT = M.transpose(1, 2)
    for t in range(X.shape[0]):
        v = torch.lerp(v, F(torch.baddbmm(X[t], v, MT)), a)
        if eta is not None:
            v = v + eta[t]
        rates.append(v)
    return torch.stack(rates) if rates else X.new_empty((0, *v0.shape))


class _EnsembleRollout(torch.autograd.Function):
    @staticmethod
    def forward(X, v0, M, a, eta, F):
        T = X.shape[0]
        V = X.new_empty((T + 1, *v0.shape))
        Y = torch.empty_like(X)
        V[0] = v0
        MT = M.transpose(1, 2)
        Xs, Vs, Ys = X.unbind(0), V.unbind(0), Y.unbind(0)
        etas = eta.unbind(0) if eta is not None else None
        for t in range(T):
            torch.baddbmm(Xs[t], Vs[t], MT, out=Ys[t])
            F.apply_(Ys[t])
            torch.lerp(Vs[t], Ys[t], a, out=Vs[t + 1])
            if etas is not None:
                Vs[t + 1].add_(etas[t])
        return V, Y

    @staticmethod
    def setup_context(ctx, inputs, output):
        X, v0, M, a, eta, F = inputs
        V, Y = output
        ctx.save_for_backward(X, v0, M, a, eta, V, Y)
        ctx.F = F
        ctx.mark_non_differentiable(Y)

    @staticmethod
    def backward(ctx, grad_V, _grad_Y):
        X, v0, M, a, eta, V, Y = ctx.saved_tensors
        F, need = ctx.F, ctx.needs_input_grad
        if torch.is_grad_enabled():  # create_graph: differentiate the reference loop
            inputs = [x for x, n in zip((X, v0, M, a, eta), need) if n]
            W = torch.cat([v0.unsqueeze(0), ensemble_rollout_reference(X, v0, M, a, F, eta)])
            grads = iter(torch.autograd.grad(W, inputs, grad_V, allow_unused=True, create_graph=True))
            return (*[next(grads) if n else None for n in need[:5]], None)
        T, K, B, N = Y.shape
        gain = F.derivative_from_output(Y).mul_(a)  # a F'(x[t])
        leak = 1 - a
        D = torch.empty_like(Y)
        G = torch.empty_like(Y) if (need[3] or need[4]) else None
        Ds, gains, direct = D.unbind(0), gain.unbind(0), grad_V.unbind(0)
        g = direct[T].clone()
        for t in range(T - 1, -1, -1):
            if G is not None:
                G[t].copy_(g)
            torch.mul(g, gains[t], out=Ds[t])
            g = torch.baddbmm(direct[t], Ds[t], M).addcmul_(g, leak)  # ∂L/∂v[t]
        grad_M = torch.bmm(D.transpose(0, 1).reshape(K, T * B, N).transpose(1, 2),
                           V[:-1].transpose(0, 1).reshape(K, T * B, N)) if need[2] else None
        grad_a = (G * (Y - V[:-1])).sum_to_size(a.shape) if need[3] else None
        return (D if need[0] else None, g if need[1] else None, grad_M, grad_a,
                G if need[4] else None, None)


def ensemble_rollout(X: Tensor, v0: Tensor, M: Tensor, a: Tensor, F: Nonlinearity,
                     eta: Tensor | None = None) -> Tensor:
    r"""Euler rollout of K members at once.

    Parameters
    ----------
    X : Tensor, shape (T, K, B, N)
        ``W_k u_t + b_k`` for every step and member.
    v0 : Tensor, shape (K, B, N)
    M : Tensor, shape (K, N, N)
    a : Tensor, shape (K, 1, 1) or (K, 1, N)
        ``dt / τ`` of each member (and neuron).
    F : Nonlinearity
        A named one (it knows its derivative); others take the reference loop.
    eta : Tensor, shape (T, K, B, N), optional

    Returns
    -------
    Tensor, shape (T, K, B, N): ``v_1 … v_T`` of every member.
    """
    if F.derivative_from_output is None:
        return ensemble_rollout_reference(X, v0, M, a, F, eta)
    V, _ = _EnsembleRollout.apply(X, v0, M, a, eta, F)
    return V[1:]
