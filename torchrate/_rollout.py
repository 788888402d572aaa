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
# Layouts. X, the rates R, δ = ∂L/∂x (D) and ∂L/∂v[t+1] (G) are (T, B, N) for one network and
# member-major (K, T, B, N) for K members: a member's steps are contiguous, so an ensemble's
# rates need no transpose and every member's weight gradient is one matmul over views of its
# steps. Y = F(X + V Mᵀ) (kept for the backward, internal) is time-major, (T, B, N) or
# (T, K, B, N): each step's slice is contiguous, which is what a batched GEMM writes in one call
# (MKL's batched kernel wants a contiguous result). Members step in groups (:func:`_group_size`).


def _group_size(K: int, B: int, N: int) -> int:
    """How many of K members step together: all of them while a step's products are small
    (per-call overheads dominate), fewer once a group's M and states would leave the cache."""
    if _GROUP is not None:
        return max(1, min(K, _GROUP))
    return K


_GROUP: int | None = None  # a fixed group size, for benchmarks and tests of the grouping


def _scalar(a: Tensor) -> float | Tensor:
    """``a`` as a Python float where it is one number per member and all members share it, on the
    CPU (cheaper kernels, no device sync); the tensor otherwise."""
    if a.device.type != "cpu" or (a.ndim and a.shape[-1] != 1) or a.numel() == 0:
        return a
    if a.numel() == 1:
        return a.item()
    flat = a.reshape(-1)
    return flat[0].item() if bool((flat == flat[0]).all()) else a


def _groups(K: int, B: int, N: int):
    """Index of each group of members: an int where members step one at a time (2-D products)."""
    c = _group_size(K, B, N)
    return range(K) if c == 1 else [slice(k, min(k + c, K)) for k in range(0, K, c)]


def _forward_kernel(X: Tensor, v0: Tensor, M: Tensor, a: Tensor, eta: Tensor | None,
                    F: Nonlinearity) -> tuple[Tensor, Tensor]:
    """Rates R = v_1 … v_T, shaped like X, and Y[t] = F(X[t] + v_t Mᵀ), time-major, for the backward."""
    T = X.shape[-3]
    R = torch.empty_like(X, memory_format=torch.contiguous_format)
    Y = X.new_empty((T, *v0.shape))
    if M.ndim == 2:
        _forward_steps(X, v0, M, _scalar(a), eta, F, R, Y)
        return R, Y
    K, B, N = v0.shape
    for k in _groups(K, B, N):
        _forward_steps(X[k], v0[k], M[k], _scalar(a[k]), None if eta is None else eta[k], F, R[k], Y[:, k])
    return R, Y


def _forward_steps(X: Tensor, v0: Tensor, M: Tensor, w: float | Tensor, eta: Tensor | None, F: Nonlinearity,
                   R: Tensor, Y: Tensor) -> None:
    """The time loop of one network, X (T, B, N), or of a group of members, X (c, T, B, N), M (c, N, N)."""
    mm = torch.addmm if M.ndim == 2 else torch.baddbmm
    MT = M.mT
    Xs, Rs, Ys = X.unbind(-3), R.unbind(-3), Y.unbind(0)  # per-step views, made once
    etas = eta.unbind(-3) if eta is not None else None
    v = v0
    for t in range(len(Xs)):
        mm(Xs[t], v, MT, out=Ys[t])
        F.apply_(Ys[t])
        torch.lerp(v, Ys[t], w, out=Rs[t])
        if etas is not None:
            Rs[t].add_(etas[t])
        v = Rs[t]


def _backward_kernel(grad_R: Tensor, v0: Tensor, R: Tensor, Y: Tensor, M: Tensor, a: Tensor, F: Nonlinearity,
                     need_G: bool) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Gradients (∂X, ∂v0, ∂M, ∂a, ∂η) of L given ∂L/∂R; ∂η[t] = ∂L/∂v[t+1] (G)."""
    T = R.shape[-3]
    D = torch.empty_like(R)  # δ[t] = ∂L/∂x[t]
    G = torch.empty_like(R) if need_G else None
    if T == 0:
        return (D, torch.zeros_like(v0), torch.zeros_like(M), torch.zeros_like(a),
                G if G is not None else R.new_empty(0))
    if M.ndim == 2:
        grad_v0 = _backward_steps(grad_R, Y, M, a, F, D, G)
    else:
        K, B, N = v0.shape
        grad_v0 = torch.empty_like(v0)
        for k in _groups(K, B, N):
            grad_v0[k] = _backward_steps(grad_R[k], Y[:, k], M[k], a[k], F, D[k], None if G is None else G[k])
    # the weight gradient Σ_t δ[t]ᵀ v_t: step 0 (v_0 = v0), then one matmul over the steps' views
    grad_M = D.select(-3, 0).mT @ v0
    if T > 1:  # views: a member's steps are contiguous
        steps = (*D.shape[:-3], -1, M.shape[-1])
        mm_ = Tensor.addmm_ if M.ndim == 2 else Tensor.baddbmm_
        mm_(grad_M, D.narrow(-3, 1, T - 1).reshape(steps).mT, R.narrow(-3, 0, T - 1).reshape(steps))
    grad_a = torch.zeros_like(a)
    if G is not None:  # Σ_t G[t] (Y[t] − v_t), summed to a's shape, in Y's time-major order
        Gt, Rt = G.movedim(-3, 0), R.movedim(-3, 0)
        grad_a = (Gt[0] * (Y[0] - v0)).sum_to_size(a.shape)
        if T > 1:
            grad_a = grad_a + (Gt[1:] * (Y[1:] - Rt[:-1])).sum_to_size(a.shape)
    return D, grad_v0, grad_M, grad_a, (G if G is not None else R.new_empty(0))  # nothing to fill when unused


def _backward_steps(grad_R: Tensor, Y: Tensor, M: Tensor, a: Tensor, F: Nonlinearity, D: Tensor,
                    G: Tensor | None) -> Tensor:
    """The backward time loop of one network or one group of members; fills D (and G), returns ∂L/∂v0."""
    mm_ = Tensor.addmm_ if M.ndim == 2 else Tensor.baddbmm_
    w = _scalar(a)
    leak = 1 - w
    Ds, direct = D.unbind(-3), grad_R.unbind(-3)
    Gs = G.unbind(-3) if G is not None else None
    T = len(Ds)
    # dv[t+1]/dx[t] = a F'(x[t]) for a block of steps at once, a block small enough to stay in cache
    block = max(1, _BLOCK_BYTES // max(1, Y[0].numel() * Y.element_size()))
    # ∂L/∂v[t] = (1 − a) ∂L/∂v[t+1] + δ[t] M + the direct gradient of v_t, in two alternating buffers
    bufs = (torch.empty_like(Y[0]), torch.empty_like(Y[0]))
    g = bufs[0].copy_(direct[T - 1])
    for t1 in range(T, 0, -block):
        t0 = max(0, t1 - block)
        gains = F.derivative_from_output(Y[t0:t1]).mul_(w).unbind(0)
        for t in range(t1 - 1, t0 - 1, -1):
            if Gs is not None:
                Gs[t].copy_(g)
            torch.mul(g, gains[t - t0], out=Ds[t])
            nxt = bufs[(T - t) % 2]
            if t == 0:  # v_0 is an input: no direct gradient
                torch.mul(g, leak, out=nxt)
            elif isinstance(leak, float):
                torch.add(direct[t - 1], g, alpha=leak, out=nxt)
            else:
                torch.addcmul(direct[t - 1], g, leak, out=nxt)
            g = mm_(nxt, Ds[t], M)
    return g


_BLOCK_BYTES = 1 << 18  # the backward's F' is formed for this many bytes of steps at a time (an L2-sized block)


# --------------------------------------------------------------------------- the op
@torch.library.custom_op("torchrate::euler_rollout", mutates_args=())
def _euler_op(X: Tensor, v0: Tensor, M: Tensor, a: Tensor, eta: Tensor | None,
              nonlinearity: str) -> tuple[Tensor, Tensor]:
    return _forward_kernel(X, v0, M, a, eta, NONLINEARITIES[nonlinearity])


@_euler_op.register_fake
def _(X, v0, M, a, eta, nonlinearity):
    return X.new_empty(X.shape), X.new_empty((X.shape[-3], *v0.shape))


@torch.library.custom_op("torchrate::euler_rollout_backward", mutates_args=())
def _euler_backward_op(grad_R: Tensor, v0: Tensor, R: Tensor, Y: Tensor, M: Tensor, a: Tensor, nonlinearity: str,
                       need_G: bool) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    return _backward_kernel(grad_R, v0, R, Y, M, a, NONLINEARITIES[nonlinearity], need_G)


@_euler_backward_op.register_fake
def _(grad_R, v0, R, Y, M, a, nonlinearity, need_G):
    return (R.new_empty(R.shape), torch.empty_like(v0), torch.empty_like(M), torch.empty_like(a),
            R.new_empty(R.shape) if need_G else R.new_empty(0))


def _setup_context(ctx, inputs, output):
    X, v0, M, a, eta, nonlinearity = inputs
    R, Y = output
    ctx.save_for_backward(X, v0, M, a, eta, R, Y)
    ctx.nonlinearity = nonlinearity
    ctx.mark_non_differentiable(Y)
    ctx.set_materialize_grads(False)  # no zeros for Y's (absent) gradient


def _backward(ctx, grad_R, _grad_Y):
    X, v0, M, a, eta, R, Y = ctx.saved_tensors
    need = ctx.needs_input_grad
    if grad_R is None:  # the rates were not used
        return None, None, None, None, None, None
    if torch.is_grad_enabled():
        # create_graph=True: differentiate the reference loop, so that every higher
        # derivative is exact (the fused kernels' in-place buffers carry no graph)
        return _reference_vjp(grad_R, X, v0, M, a, eta, NONLINEARITIES[ctx.nonlinearity], need)
    dX, dv0, dM, da, deta = _euler_backward_op(grad_R, v0, R, Y, M, a, ctx.nonlinearity, bool(need[3] or need[4]))
    return (dX if need[0] else None, dv0 if need[1] else None, dM if need[2] else None,
            da if need[3] else None, deta if need[4] else None, None)


_euler_op.register_autograd(_backward, setup_context=_setup_context)


def _reference_vjp(grad_R, X, v0, M, a, eta, F, need):
    inputs = [x for x, n in zip((X, v0, M, a, eta), need) if n]
    R = _reference_members_first(X, v0, M, a, F, eta)
    grads = iter(torch.autograd.grad(R, inputs, grad_R, create_graph=True, allow_unused=True))
    out = [next(grads) if n else None for n in need[:5]]
    return (*[g if g is not None or not n else torch.zeros_like(x)
              for g, n, x in zip(out, need, (X, v0, M, a, eta))], None)


def _reference_members_first(X, v0, M, a, F, eta):
    """The reference loop on the op's layout: (T, B, N), or (K, T, B, N) with K members."""
    if M.ndim == 2:
        return euler_rollout_reference(X, v0, M, a, F, eta)
    return euler_rollout_reference(X.movedim(1, 0), v0, M, a, F, None if eta is None else eta.movedim(1, 0)) \
        .movedim(0, 1)


# --------------------------------------------------------------------------- public functions
def euler_rollout(X: Tensor, v0: Tensor, M: Tensor, a: Tensor, F: Nonlinearity,
                  eta: Tensor | None = None, *, members_first: bool = False) -> Tensor:
    r"""Euler rollout of all ``T`` steps, returning the rates after each step.

    .. math::
        v_{t+1} = v_t + a\,(-v_t + F(X_t + M v_t)) + \eta_t, \qquad a = dt/\tau

    Efficient implementation equivalent to :func:`euler_rollout_reference`; exact first and
    higher derivatives, and every ``torch.func`` transform.

    Parameters
    ----------
    X : Tensor, shape (T, B, N), or (T, K, B, N) for K networks at once ((K, T, B, N) with ``members_first``)
        Input drive plus bias, ``W u_t + b``, for every step.
    v0 : Tensor, shape (B, N) or (K, B, N)
    M : Tensor, shape (N, N) or (K, N, N)
        With a leading K, each member steps with its own M (batched matmuls, :class:`~torchrate.Ensemble`).
    a : Tensor, shape () or (N,); (K, 1, 1) or (K, 1, N) with K members
        ``dt / τ``.
    F : Nonlinearity
    eta : Tensor, shaped like X, optional
        Additive noise for each step (Euler–Maruyama).
    members_first : bool
        K members' X, eta and the result are member-major, (K, T, B, N): what the fused op
        computes in (each member's steps contiguous), so no transpose is made.

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
            return euler_rollout(X, v0, M, a, F, eta, members_first=members_first)
    fused = F.derivative_from_output is not None and NONLINEARITIES.get(F.name) is F
    if not fused or (not torch.compiler.is_compiling() and transforms_active()):
        if members_first and M.ndim == 3:
            return _reference_members_first(X, v0, M, a, F, eta)
        return euler_rollout_reference(X, v0, M, a, F, eta)
    if M.ndim == 3 and not members_first:  # (T, K, B, N) → the op's member-major layout and back
        X, eta = X.movedim(0, 1), None if eta is None else eta.movedim(0, 1)
        return _euler_op(X, v0, M, a, eta, F.name)[0].movedim(1, 0)
    return _euler_op(X, v0, M, a, eta, F.name)[0]


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
