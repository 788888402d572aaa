r"""The Euler rollout of τ dv/dt = −v + F(x), x = X_t + M v: one fused op, and the loop it equals.

.. math::
    v_{t+1} = v_t + a\,(F(X_t + M v_t) - v_t) + \eta_t, \qquad a = dt/\tau

* :func:`euler_rollout_input` (X = W u + b formed inside) and :func:`euler_rollout` (X given)
  are what the networks call. On the ordinary eager and compiled paths they run the fused op
  ``torchrate::euler_rollout``: per block of steps the drive W u + b written into a
  preallocated buffer, then per step an in-place ``addmm → F → lerp`` (members with their own
  inputs, or a shared input of 16 rows or more: per step ``bmm`` of the recurrent product, the
  drive's small product added, ``F``, ``lerp``); backward is a
  hand-written loop of three kernels a step (ATen's own backward of F, an add, a matmul), and
  the weight gradients one matmul per block of steps. K networks of one shape (an
  :class:`~torchrate.Ensemble`) run in the same op with a leading member dimension, in
  cache-sized groups of members, with batched matmuls. Being a ``torch.library.custom_op``
  (with a fake kernel and a registered autograd formula), ``torch.compile(fullgraph=True,
  dynamic=True)`` and ``torch.export`` see one opaque op: T is neither unrolled nor specialised on.
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

from collections.abc import Callable, Sequence
from typing import Any, Literal, overload

import torch
from torch import Tensor

from . import _hostmem
from ._private import transforms_active
from .nonlinearities import NONLINEARITIES, Nonlinearity

__all__ = ["euler_rollout", "euler_rollout_input", "euler_rollout_reference"]

_Group = int | slice | None  # members stepped together: one (int), a range of them (slice), or the one network (None)


# --------------------------------------------------------------------------- fused kernels
# The drive X = u Wᵀ + b (u + b without W) is formed inside, one cache-sized block of steps at a
# time (members with W and their own inputs, or a shared input of _SHARED_B rows or more: a step
# at a time, :func:`_forward_steps`), and its gradients are summed block by block: neither X nor
# ∂L/∂X is held for all steps.
# u is (T, B, I) for one network; (K, T, B, I), one per member, or (T, B, I) shared, for K members.
# The rates R and ∂L/∂η (G) are (T, B, N), or member-major (K, T, B, N): a member's steps are
# contiguous, so an ensemble's rates need no transpose and the weight gradients are matmuls over
# views of a block's steps. Members step in groups (:func:`_group_size`). Y = F(X + V Mᵀ), saved
# for the backward, is one flat buffer in which each group's part is time-major, (T, [c,] B, N):
# a block of steps is contiguous, so the drive is written into it directly, and each step's
# slice is contiguous, so the recurrent product adds into it in place (a batched GEMM writes a
# contiguous result in one call).

_BLOCK_BYTES = 1 << 20  # steps are taken in blocks of about this many bytes of a step's states,
_BLOCK_ROWS = 256  # and at least this many rows (steps × B)
_GROUP_BYTES = 5 << 18  # a group's M and a step's four (B, N) states: about this many bytes (1.25 MiB, L2-sized)
_GROUP: int | None = None  # a fixed group size, for benchmarks and tests of the grouping
_SHARED_B = 16  # from this batch size on, a shared input's drive is a product a step, not a block's transposed product


def _group_size(K: int, B: int, N: int, itemsize: int, device: torch.device) -> int:
    """How many of K members step together: on the CPU as many as keep a group's M and a step's
    states in cache (a member's (N, N) product then costs what it costs alone, and the per-call
    overheads are shared); elsewhere all of them (one batched kernel a step)."""
    if _GROUP is not None:
        return max(1, min(K, _GROUP))
    if device.type != "cpu":
        return K
    most = max(1, _GROUP_BYTES // ((N * N + 4 * B * N) * itemsize))  # M, and v, Y[t], the next v, the drive
    groups = -(-K // most)
    return -(-K // groups)  # groups of near-equal size


def _groups(v0: Tensor, M: Tensor) -> list[_Group]:
    """Index of each group of members (an int where members step one at a time: 2-D products);
    ``[None]`` for one network."""
    if M.ndim == 2:
        return [None]
    K, B, N = v0.shape
    c = _group_size(K, B, N, v0.element_size(), v0.device)
    return list(range(K)) if c == 1 else [slice(k, min(k + c, K)) for k in range(0, K, c)]


def _group_y(Y: Tensor, k: _Group, v0: Tensor, T: int) -> Tensor:
    """Group ``k``'s part of the flat Y: (T, c, B, N), or (T, B, N) for one network or member."""
    if k is None:
        return Y.view(T, *v0.shape)
    B, N = v0.shape[-2:]
    k0, c = (k.start, k.stop - k.start) if isinstance(k, slice) else (k, None)
    part = Y.narrow(0, k0 * T * B * N, (c or 1) * T * B * N)
    return part.view(T, B, N) if c is None else part.view(T, c, B, N)


@overload
def _take(t: Tensor, k: _Group) -> Tensor: ...
@overload
def _take(t: Tensor | None, k: _Group) -> Tensor | None: ...
def _take(t: Tensor | None, k: _Group) -> Tensor | None:
    """Member(s) ``k`` of a stacked tensor (all of it for one network, k = None)."""
    return t if t is None or k is None else t[k]


def _input_of(u: Tensor, k: _Group, members: bool) -> Tensor:
    """Member(s) ``k``'s input: its own slice, or the input all members share."""
    return u if k is None or (members and u.ndim == 3) else u[k]


def _scratch(shape: tuple[int, ...], like: Tensor) -> Tensor:
    """A scratch buffer for one call's blocks, from memory kept between calls where it is large."""
    return _hostmem.empty(shape, like.dtype, like.device, min_bytes=_hostmem.MIN_BYTES // 16)


def _blocks(T: int, step: Tensor) -> list[tuple[int, int]]:
    """[t0, t1) blocks of steps, each about _BLOCK_BYTES of states shaped like ``step`` (…, B, N), and
    at least _BLOCK_ROWS rows of B (the weight gradients' products sum over a block's rows)."""
    n = max(1, _BLOCK_BYTES // max(1, step.numel() * step.element_size()), _BLOCK_ROWS // max(1, step.shape[-2]))
    return [(t0, min(T, t0 + n)) for t0 in range(0, T, n)]


def _scalar(a: Tensor) -> float | Tensor:
    """``a`` as a Python float where it is one number per member and all members share it, on the
    CPU (cheaper kernels, no device sync); the tensor otherwise."""
    if a.device.type != "cpu" or (a.ndim and a.shape[-1] != 1) or a.numel() == 0:
        return a
    if a.numel() == 1:
        return a.item()
    flat = a.reshape(-1)
    return flat[0].item() if bool((flat == flat[0]).all()) else a


def _flat(x: Tensor) -> Tensor:
    """(…, t, B, n) → (…, t·B, n): a view for the contiguous blocks used here."""
    return x.reshape(*x.shape[:-3], x.shape[-3] * x.shape[-2], x.shape[-1])


def _drive(u: Tensor, W: Tensor | None, b: Tensor | None, out: Tensor) -> None:
    """X = u Wᵀ + b (u + b without W) for a block of steps u: (t, B, I) (one network, one member or
    an input shared by a group), or (c, t, B, I), one per member; written into ``out``, the block of
    Y, time-major: (t, B, N) or (t, c, B, N). Members with W and their own inputs, or a shared input
    of _SHARED_B rows or more, form their drive a step at a time instead (:func:`_forward_steps`)."""
    if out.ndim == 3:  # one network (or one member): plain 2-D products
        if W is None:
            torch.add(u, b, out=out) if b is not None else out.copy_(u)
        elif b is None:
            torch.mm(_flat(u), W.T, out=_flat(out))
        else:
            torch.addmm(b, _flat(u), W.T, out=_flat(out))
        return
    n, c, B, N = out.shape
    if W is not None:  # a shared input, few rows: one product with the members' W side by side,
        # transposed into place
        Wcat = W.permute(2, 0, 1).reshape(W.shape[-1], c * N)  # (I, c·N)
        X = out.view(n, c * N) if B == 1 else torch.empty(n * B, c * N, dtype=out.dtype, device=out.device)
        if b is None:
            torch.mm(_flat(u), Wcat, out=X)
        else:
            torch.addmm(b.reshape(c * N), _flat(u), Wcat, out=X)
        if B > 1:  # (t, B, c, N) → (t, c, B, N)
            out.copy_(X.view(n, B, c, N).transpose(1, 2))
        return
    u = u.unsqueeze(1) if u.ndim == 3 else u.transpose(0, 1)  # (t, 1 or c, B, I), time-major
    torch.add(u, b.unsqueeze(-2), out=out) if b is not None else out.copy_(u)


def _forward_kernel(
    u: Tensor, W: Tensor | None, b: Tensor | None, v0: Tensor, M: Tensor, a: Tensor, eta: Tensor | None, F: Nonlinearity
) -> tuple[Tensor, Tensor, Tensor]:
    """Rates R = v_1 … v_T (a view of V = v_0 … v_T); Y = F(X + V Mᵀ), flat, each group's part
    time-major, for the backward; and S, () or (K,), each network's sum of its last rates v_T
    (zeros for T = 0), which is non-finite where any of its rates is: a non-finite entry of v_t
    stays non-finite in v_{t+1} = lerp(v_t, y, a) (+ η) whatever y and a ∈ [0, 1] (NaN + … and
    ∞ − ∞ are NaN), so no pass over R is needed."""
    T, members = u.shape[-3], M.ndim == 3
    # large buffers from memory kept between calls (no page faults every step; see _hostmem)
    V = _hostmem.empty((*v0.shape[:-2], T + 1, *v0.shape[-2:]), v0.dtype, v0.device)
    V.select(-3, 0).copy_(v0)
    Y = _hostmem.empty((T * v0.numel(),), v0.dtype, v0.device)
    if not T:
        return V.narrow(-3, 1, 0), Y, v0.new_zeros(v0.shape[:-2])
    for k in _groups(v0, M):
        _forward_steps(
            _input_of(u, k, members),
            _take(W, k),
            _take(b, k),
            _take(M, k),
            _scalar(_take(a, k)),
            _take(eta, k),
            F,
            _take(V, k),
            _group_y(Y, k, v0, T),
        )
    return V.narrow(-3, 1, T), Y, V.select(-3, T).sum((-2, -1))


def _forward_steps(
    u: Tensor,
    W: Tensor | None,
    b: Tensor | None,
    M: Tensor,
    w: float | Tensor,
    eta: Tensor | None,
    F: Nonlinearity,
    V: Tensor,
    Y: Tensor,
) -> None:
    """The time loop of one network, V (T + 1, B, N), M (N, N), or of a group of members, V (c, T + 1, B, N),
    M (c, N, N): per block (or per step, see :func:`_drive`), the drive into Y; per step, ``Y[t] += v_t Mᵀ``,
    ``F`` in place, ``lerp`` into V."""
    mm_ = Tensor.addmm_ if M.ndim == 2 else Tensor.baddbmm_
    MT = M.mT.contiguous()  # a transposed operand makes MKL's (batched) GEMM up to 1.5× slower at N = 64
    Vs, Ys = V.unbind(-3), Y.unbind(0)  # per-step views, made once
    etas = eta.unbind(-3) if eta is not None else None
    apply_ = F.inplace or F.apply_  # torch.tanh_ itself where F has an in-place form
    v = Vs[0]
    xs: Sequence[Tensor] = ()
    if W is not None and M.ndim == 3 and (u.ndim == 4 or Y.shape[-2] >= _SHARED_B):
        # each step's drive b + u_t Wᵀ is one batched product added into Y[t] just after the
        # recurrent product wrote it, while Y[t] is in cache (a block's drive, a product over (step,
        # member) pairs of copied operands, wrote megabytes of Y ahead of the steps); b is a row
        # of [Wᵀ; b] against a column of ones in [u | 1] (cheaper than baddbmm's copy of b into Y[t])
        WT = (W.mT if b is None else torch.cat([W.mT, b.unsqueeze(-2)], -2)).contiguous()
        if b is not None:
            u = torch.cat([u, u.new_ones(*u.shape[:-1], 1)], -1)
        xs = (u.unsqueeze(-3).expand(-1, M.shape[0], -1, -1) if u.ndim == 3 else u.movedim(-3, 0)).unbind(0)
    for t0, t1 in _blocks(len(Ys), Ys[0]):
        if not xs:
            _drive(u.narrow(-3, t0, t1 - t0), W, b, Y[t0:t1])
        for t in range(t0, t1):
            y = Ys[t]
            if xs:  # the recurrent product written, the drive's added (cheaper than the other order)
                torch.bmm(v, MT, out=y)
                y.baddbmm_(xs[t], WT)
            else:
                mm_(y, v, MT)
            apply_(y)
            v = torch.lerp(v, y, w, out=Vs[t + 1])
            if etas is not None:
                v.add_(etas[t])


def _backward_kernel(
    grad_R: Tensor,
    u: Tensor,
    W: Tensor | None,
    b: Tensor | None,
    v0: Tensor,
    R: Tensor,
    Y: Tensor,
    M: Tensor,
    a: Tensor,
    F: Nonlinearity,
    need_u: bool,
    need_weights: bool,
    need_G: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Gradients (∂u, ∂W, ∂b, ∂v0, ∂M, ∂a, ∂η) of L given ∂L/∂R; ∂η[t] = ∂L/∂v[t+1] (G).
    Without ``need_u``/``need_weights``/``need_G`` the corresponding gradients are empty."""
    members = M.ndim == 3
    shared = members and u.ndim == 3  # one input for all members: its gradient sums theirs
    T = R.shape[-3]
    V = R.as_strided((*R.shape[:-3], T + 1, *R.shape[-2:]), R.stride(), R.storage_offset() - R.stride(-3))
    du = (torch.zeros_like(u) if shared else _hostmem.empty(u.shape, u.dtype, u.device)) if need_u else None
    dWb = db = None  # [∂W | ∂b] summed by one product (u with a column of ones); ∂b alone without W
    if need_weights and W is not None:  # members': a transposed view, [∂W | ∂b]ᵀ summed by uᵀ E (3× faster than Eᵀ u)
        I1 = W.shape[-1] + (b is not None)
        dWb = W.new_zeros((*W.shape[:-1], I1)) if not members else W.new_zeros((W.shape[0], I1, W.shape[1])).mT
    elif need_weights and b is not None:
        db = torch.zeros_like(b)
    dM = torch.zeros_like(M) if need_weights else None
    dv0 = torch.zeros_like(v0)
    G = _hostmem.empty(R.shape, R.dtype, R.device) if need_G else None
    grad_a = torch.zeros_like(a) if need_G else None
    if T:
        for k in reversed(_groups(v0, M)):  # the last group's rates and Y may still be in cache
            Yk, Gk, Vk = _group_y(Y, k, v0, T), _take(G, k), _take(V, k)
            dv0[... if k is None else k] = _backward_steps(
                _take(grad_R, k),
                _input_of(u, k, members),
                _take(W, k),
                _take(b, k),
                Vk,
                Yk,
                _take(M, k),
                _take(a, k),
                F,
                du if shared else _take(du, k),
                shared,
                _take(dWb, k),
                _take(db, k),
                _take(dM, k),
                Gk,
                _take(grad_a, k) if members else None,
                exact=not members,
            )
            if Gk is not None and grad_a is not None and not members:  # Σ_t G[t] (Y[t] − v_t), to a's shape
                Gt, Vt, ak = Gk.movedim(-3, 0), Vk.movedim(-3, 0), _take(a, k)
                grad_a[... if k is None else k] = (Gt * (Yk - Vt[:-1])).sum_to_size(ak.shape)
    dW = None
    if dWb is not None and W is not None:  # separate tensors: the op's outputs may not alias each other
        dW, db = dWb[..., : W.shape[-1]].contiguous(), (dWb[..., -1].clone() if b is not None else None)

    def filled(g: Tensor | None) -> Tensor:  # a new empty tensor each: the op's outputs may not alias
        return R.new_empty(0) if g is None else g

    return filled(du), filled(dW), filled(db), dv0, filled(dM), filled(grad_a), filled(G)


def _backward_steps(
    grad_R: Tensor,
    u: Tensor,
    W: Tensor | None,
    b: Tensor | None,
    V: Tensor,
    Y: Tensor,
    M: Tensor,
    a: Tensor,
    F: Nonlinearity,
    du: Tensor | None,
    shared: bool,
    dWb: Tensor | None,
    db: Tensor | None,
    dM: Tensor | None,
    G: Tensor | None,
    da: Tensor | None,
    exact: bool,
) -> Tensor:
    """The backward time loop of one network or one group of members: δ[t] = ∂L/∂x[t] (e[t] = δ[t] / a,
    with a folded into M, without ``exact``), then ∂M, [∂W | ∂b] (dWb: one product with u and a column
    of ones; db: ∂b without W) and ∂u (written; added into a ``shared`` input's). Fills G, and adds
    Σ_t G[t] (Y[t] − v_t) into ``da`` (∂L/∂a, a block at a time while it is in cache); returns ∂L/∂v0.

    ``exact`` (one network) keeps the historical arithmetic bit for bit, so that training runs
    reproduce: δ = ∂L/∂v[t+1] ⊙ (F'(x) a) with F'(x) a formed for all steps, and every weight
    gradient one product over all steps. Members instead go a cache-sized block of steps at a time,
    with ATen's fused backward of F (one kernel for ∂L/∂v ⊙ F') and a applied once to the sums."""
    v0 = V.select(-3, 0)
    lead = v0.shape[:-2]
    mm = torch.addmm if M.ndim == 2 else torch.baddbmm
    mm_ = Tensor.addmm_ if M.ndim == 2 else Tensor.baddbmm_
    w = _scalar(a)
    leak = 1 - w
    direct = grad_R.unbind(-3)
    Gs = G.unbind(-3) if G is not None else None
    T = len(direct)
    fused: Callable[[Tensor, Tensor, Tensor], Tensor] | None
    rows: float | Tensor
    a_x: float | Tensor
    a_n: float | Tensor
    if exact:
        blocks, fused, Ma, rows, a_x, a_n = [(0, T)], None, M, 1.0, 1.0, 1.0
    else:
        blocks = _blocks(T, Y[0])
        fused = _GRAD_FROM_OUTPUT.get(F.name) if NONLINEARITIES.get(F.name) is F else None
        # a scales δ's last (neuron) axis: as a factor on rows of M, W and the weight gradients
        # (diag(a) M), on δ itself (a_x), and on ∂b (a_n)
        if isinstance(w, float) or w.ndim == 0:
            rows = a_x = a_n = w
        else:
            rows = w.unsqueeze(-1) if w.ndim == 1 else w.mT
            a_x, a_n = (w.unsqueeze(-3), w.squeeze(-2)) if lead else (w, w.squeeze(-2) if w.ndim > 1 else w)
        Ma = M * rows
    own = du if du is not None and W is None and not shared else None  # ∂u is δ itself: written in place
    own_u = own is not None
    # ∂L/∂v[t] = (1 − a) ∂L/∂v[t+1] + δ[t] M + the direct gradient of v_t, in two alternating buffers
    bufs = (torch.empty_like(v0), torch.empty_like(v0))
    g = bufs[0].copy_(direct[T - 1])
    scratch = own if own is not None else _scratch((*lead, blocks[0][1], *v0.shape[-2:]), v0)  # e, every block
    B = v0.shape[-2]
    ub1 = None  # [u | 1], (…, T·B, I (+ 1)), made once: the rows [∂W | ∂b] is summed over
    if dWb is not None:
        ub1 = _flat(u)
        if dWb.shape[-1] > ub1.shape[-1]:
            ub1 = torch.cat([ub1, ub1.new_ones(*ub1.shape[:-1], 1)], -1)
        ub1 = ub1.expand(*lead, *ub1.shape) if ub1.ndim < len(lead) + 2 else ub1
    Ys = Y.unbind(0)
    for t0, t1 in reversed(blocks):
        n = t1 - t0
        slopes: tuple[Tensor, ...] = ()
        if not fused:  # F'(x[t]) (times a, exact) for the block's steps
            if F.derivative_from_output is None:  # never: euler_rollout_input takes the reference loop then
                raise TypeError(f"the fused backward needs {F.name!r} to have derivative_from_output")
            d = F.derivative_from_output(Y[t0:t1])
            slopes = (d.mul_(a) if exact else d).unbind(0)
        E = own.narrow(-3, t0, n) if own is not None else scratch.narrow(-3, 0, n)
        Es = E.unbind(-3)
        for t in range(t1 - 1, t0 - 1, -1):
            if Gs is not None:
                Gs[t].copy_(g)
            e = Es[t - t0]
            if fused:
                fused(g, Ys[t], e)
            else:
                torch.mul(g, slopes[t - t0], out=e)
            nxt = bufs[(T - t) % 2]
            if exact:  # (1 − a) ∂L/∂v[t+1] + δ[t] M, then the direct gradient: the historical order
                if isinstance(leak, float):
                    mm(g, e, Ma, beta=leak, out=nxt)
                else:
                    mm_(torch.mul(g, leak, out=nxt), e, Ma)
                if t:  # v_0 is an input: no direct gradient
                    nxt.add_(direct[t - 1])
            else:  # the direct gradient + (1 − a) ∂L/∂v[t+1] in one kernel, then += e[t] (a M)
                if not t:
                    torch.mul(g, leak, out=nxt)
                elif isinstance(leak, float):
                    torch.add(direct[t - 1], g, alpha=leak, out=nxt)
                else:
                    torch.addcmul(direct[t - 1], g, leak, out=nxt)
                mm_(nxt, e, Ma)
            g = nxt
        # the block's share of the weight gradients: Σ e[t]ᵀ u_t, Σ e[t] (first, while E is in
        # cache from the steps), Σ e[t]ᵀ v_t
        if dWb is not None and ub1 is not None:
            flat = ub1.narrow(-2, t0 * B, n * B)
            mm_(dWb, _flat(E).mT, flat) if exact else mm_(dWb.mT, flat.mT, _flat(E))
        if dM is not None:
            if exact:
                dM.copy_(_flat(E).mT @ _flat(V.narrow(-3, 0, T)))
            else:
                mm_(dM, _flat(E).mT, _flat(V.narrow(-3, t0, n)))
        if da is not None and G is not None:  # Y's block is time-major, G's and V's member-major
            D = torch.sub(Y[t0:t1].movedim(0, -3), V.narrow(-3, t0, n)).mul_(G.narrow(-3, t0, n))
            da.add_(D.sum(-3).sum_to_size(da.shape))
        if db is not None:
            db.add_(E.sum((-3, -2)))
        if own_u:
            if not exact:
                E.mul_(a_x)
        elif du is not None:
            part = E * a_x if W is None else (_flat(E) @ (W * rows)).view(*E.shape[:-1], W.shape[-1])
            if shared:  # the members' gradients add
                du.narrow(-3, t0, n).add_(part.sum(0) if part.ndim > u.ndim else part)
            else:
                du.narrow(-3, t0, n).copy_(part)
    if not exact:
        for grad, scale in ((dM, rows), (dWb, rows), (db, a_n)):
            if grad is not None:
                grad.mul_(scale)
    return g


# e = grad ⊙ F'(x) from the output y = F(x), in one kernel (ATen's own backward of F) where F has one
_GRAD_FROM_OUTPUT = {
    "tanh": lambda g, y, out: torch.ops.aten.tanh_backward.grad_input(g, y, grad_input=out),
    "sigmoid": lambda g, y, out: torch.ops.aten.sigmoid_backward.grad_input(g, y, grad_input=out),
    "relu": lambda g, y, out: torch.ops.aten.threshold_backward.grad_input(g, y, 0, grad_input=out),  # y > 0 iff x > 0
    "linear": lambda g, y, out: out.copy_(g),
}


# --------------------------------------------------------------------------- the op
# explicit schemas: torch 2.4's schema inference cannot read postponed (string) annotations
@torch.library.custom_op(
    "torchrate::euler_rollout",
    mutates_args=(),
    schema="(Tensor u, Tensor? W, Tensor? b, Tensor v0, Tensor M, Tensor a, Tensor? eta, "
    "str nonlinearity) -> (Tensor, Tensor, Tensor)",
)
def _euler_op(
    u: Tensor,
    W: Tensor | None,
    b: Tensor | None,
    v0: Tensor,
    M: Tensor,
    a: Tensor,
    eta: Tensor | None,
    nonlinearity: str,
) -> tuple[Tensor, Tensor, Tensor]:
    return _forward_kernel(u, W, b, v0, M, a, eta, NONLINEARITIES[nonlinearity])


@_euler_op.register_fake
def _(
    u: Tensor,
    W: Tensor | None,
    b: Tensor | None,
    v0: Tensor,
    M: Tensor,
    a: Tensor,
    eta: Tensor | None,
    nonlinearity: str,
) -> tuple[Tensor, Tensor, Tensor]:
    T = u.shape[-3]  # the rates are a view of v_0 … v_T (the strides of the real kernel's)
    return (
        v0.new_empty((*v0.shape[:-2], T + 1, *v0.shape[-2:])).narrow(-3, 1, T),
        v0.new_empty((T * v0.numel(),)),
        v0.new_empty(v0.shape[:-2]),
    )


@torch.library.custom_op(
    "torchrate::euler_rollout_backward",
    mutates_args=(),
    schema="(Tensor grad_R, Tensor u, Tensor? W, Tensor? b, Tensor v0, Tensor R, Tensor Y, "
    "Tensor M, Tensor a, str nonlinearity, bool need_u, bool need_weights, "
    "bool need_G) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)",
)
def _euler_backward_op(
    grad_R: Tensor,
    u: Tensor,
    W: Tensor | None,
    b: Tensor | None,
    v0: Tensor,
    R: Tensor,
    Y: Tensor,
    M: Tensor,
    a: Tensor,
    nonlinearity: str,
    need_u: bool,
    need_weights: bool,
    need_G: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    return _backward_kernel(grad_R, u, W, b, v0, R, Y, M, a, NONLINEARITIES[nonlinearity], need_u, need_weights, need_G)


@_euler_backward_op.register_fake
def _(
    grad_R: Tensor,
    u: Tensor,
    W: Tensor | None,
    b: Tensor | None,
    v0: Tensor,
    R: Tensor,
    Y: Tensor,
    M: Tensor,
    a: Tensor,
    nonlinearity: str,
    need_u: bool,
    need_weights: bool,
    need_G: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    def like(t: Tensor | None, need: bool) -> Tensor:  # a new tensor each: outputs may not alias
        return R.new_empty(0) if t is None or not need else t.new_empty(t.shape)

    return (
        like(u, need_u),
        like(W, need_weights),
        like(b, need_weights),
        v0.new_empty(v0.shape),
        like(M, need_weights),
        like(a, need_G),
        like(R, need_G),
    )


# ctx: torch's FunctionCtx, which carries attributes set here (``nonlinearity``): Any to the type checker
def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor, Tensor]) -> None:
    u, W, b, v0, M, a, eta, nonlinearity = inputs
    R, Y, S = output
    ctx.save_for_backward(u, W, b, v0, M, a, eta, R, Y)
    ctx.nonlinearity = nonlinearity
    ctx.mark_non_differentiable(Y, S)
    ctx.set_materialize_grads(False)  # no zeros for Y's and S's (absent) gradients


def _backward(ctx: Any, grad_R: Tensor | None, _grad_Y: None, _grad_S: None) -> tuple[Tensor | None, ...]:
    u, W, b, v0, M, a, eta, R, Y = ctx.saved_tensors
    need = ctx.needs_input_grad[:7]  # u, W, b, v0, M, a, eta
    if grad_R is None:  # the rates were not used
        return (None,) * 8
    if torch.is_grad_enabled():
        # create_graph=True: differentiate the reference loop, so that every higher
        # derivative is exact (the fused kernels' in-place buffers carry no graph)
        return _reference_vjp(grad_R, (u, W, b, v0, M, a, eta), NONLINEARITIES[ctx.nonlinearity], need)
    grads = _euler_backward_op(
        grad_R, u, W, b, v0, R, Y, M, a, ctx.nonlinearity, need[0], need[1] or need[2] or need[4], need[5] or need[6]
    )
    return (*(g if n else None for g, n in zip(grads, need)), None)


_euler_op.register_autograd(_backward, setup_context=_setup_context)


def _reference_vjp(
    grad_R: Tensor, inputs: tuple[Any, ...], F: Nonlinearity, need: Sequence[bool]
) -> tuple[Tensor | None, ...]:
    wanted = [x for x, n in zip(inputs, need) if n]
    u, W, b, v0, M, a, eta = inputs
    R = _reference(u, W, b, v0, M, a, F, eta)
    grads = iter(torch.autograd.grad(R, wanted, grad_R, create_graph=True, allow_unused=True))
    out = [next(grads) if n else None for n in need]
    return (*[g if g is not None or not n else torch.zeros_like(x) for g, n, x in zip(out, need, inputs)], None)


def _reference(
    u: Tensor,
    W: Tensor | None,
    b: Tensor | None,
    v0: Tensor,
    M: Tensor,
    a: Tensor,
    F: Nonlinearity,
    eta: Tensor | None,
) -> Tensor:
    """The reference loop on the op's arguments and layout, X formed by differentiable ops."""
    if M.ndim == 2:
        if W is None:
            X = u if b is None else u + b
        else:
            T, B, I = u.shape
            X = (u.reshape(T * B, I) @ W.T if b is None else torch.addmm(b, u.reshape(T * B, I), W.T)).view(T, B, -1)
        return euler_rollout_reference(X, v0, M, a, F, eta)
    K, (T, B) = M.shape[0], u.shape[-3:-1]
    X = u if u.ndim == 4 else u.expand(K, *u.shape)  # (K, T, B, I)
    if W is not None:
        X = torch.bmm(X.reshape(K, T * B, -1), W.mT).view(K, T, B, -1)
    if b is not None:
        X = X + b.view(K, 1, 1, -1)
    return euler_rollout_reference(X.movedim(1, 0), v0, M, a, F, None if eta is None else eta.movedim(1, 0)).movedim(
        0, 1
    )


# --------------------------------------------------------------------------- public functions
def euler_rollout(X: Tensor, v0: Tensor, M: Tensor, a: Tensor, F: Nonlinearity, eta: Tensor | None = None) -> Tensor:
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
        With a leading K, each member steps with its own M (batched matmuls).
    a : Tensor, shape () or (N,); (K, 1, 1) or (K, 1, N) with K members
        ``dt / τ``.
    F : Nonlinearity
    eta : Tensor, shaped like X, optional
        Additive noise for each step (Euler–Maruyama).

    Returns
    -------
    Tensor, shaped like X: ``v_1 … v_T``.
    """
    if M.ndim == 3:  # (T, K, B, N) → the op's member-major layout, and back
        return euler_rollout_input(
            X.movedim(0, 1), None, None, v0, M, a, F, None if eta is None else eta.movedim(0, 1)
        ).movedim(1, 0)
    return euler_rollout_input(X, None, None, v0, M, a, F, eta)


@overload
def euler_rollout_input(
    u: Tensor,
    W: Tensor | None,
    b: Tensor | None,
    v0: Tensor,
    M: Tensor,
    a: Tensor,
    F: Nonlinearity,
    eta: Tensor | None = None,
    *,
    with_sums: Literal[False] = False,
) -> Tensor: ...
@overload
def euler_rollout_input(
    u: Tensor,
    W: Tensor | None,
    b: Tensor | None,
    v0: Tensor,
    M: Tensor,
    a: Tensor,
    F: Nonlinearity,
    eta: Tensor | None = None,
    *,
    with_sums: Literal[True],
) -> tuple[Tensor, Tensor]: ...
@overload
def euler_rollout_input(
    u: Tensor,
    W: Tensor | None,
    b: Tensor | None,
    v0: Tensor,
    M: Tensor,
    a: Tensor,
    F: Nonlinearity,
    eta: Tensor | None = None,
    *,
    with_sums: bool,
) -> Tensor | tuple[Tensor, Tensor]: ...
def euler_rollout_input(
    u: Tensor,
    W: Tensor | None,
    b: Tensor | None,
    v0: Tensor,
    M: Tensor,
    a: Tensor,
    F: Nonlinearity,
    eta: Tensor | None = None,
    *,
    with_sums: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    r""":func:`euler_rollout` with the drive ``X_t = W u_t + b`` formed inside, a cache-sized block
    of steps at a time (neither X nor its gradient is held for all steps; ``W = None``: X = u + b).

    Parameters
    ----------
    u : Tensor, shape (T, B, I); with K members (K, T, B, I), one per member, or (T, B, I) shared
    W : Tensor, shape (N, I) or (K, N, I), optional
    b : Tensor, shape (N,) or (K, N), optional
    v0, M, a, F, eta
        As :func:`euler_rollout`, member-major with K members: eta (K, T, B, N).
    with_sums : bool
        Also return, without a gradient, () or (K,) numbers each finite exactly where the
        network's rates are: for a finiteness check that needs no pass over the rates (the
        fused op sums each network's last rates, in which a non-finite rate persists).

    Returns
    -------
    Tensor, (T, B, N), or member-major (K, T, B, N) with K members: ``v_1 … v_T`` (and the sums).
    """
    device = v0.device.type
    if torch.is_autocast_enabled(device):
        # as nn.RNN: the recurrence runs in the autocast dtype; gradients flow back through the casts
        dtype = torch.get_autocast_dtype(device)
        u, v0, M, a = (t.to(dtype) for t in (u, v0, M, a))
        W, b, eta = (None if t is None else t.to(dtype) for t in (W, b, eta))
        with torch.autocast(device, enabled=False):
            return euler_rollout_input(u, W, b, v0, M, a, F, eta, with_sums=with_sums)
    fused = F.derivative_from_output is not None and NONLINEARITIES.get(F.name) is F
    if not fused or (not torch.compiler.is_compiling() and transforms_active()):
        R = _reference(u, W, b, v0, M, a, F, eta)
        return (R, R.detach().sum((-3, -2, -1))) if with_sums else R
    R, _, S = _euler_op(u, W, b, v0, M, a, eta, F.name)
    return (R, S) if with_sums else R


def euler_rollout_reference(
    X: Tensor, v0: Tensor, M: Tensor, a: Tensor, F: Nonlinearity, eta: Tensor | None = None
) -> Tensor:
    """The plain loop :func:`euler_rollout` is equivalent to, one ``lerp`` a step (same arguments)."""
    v, rates = v0, []
    for t in range(X.shape[0]):
        v = torch.lerp(v, F(X[t] + v @ M.mT), a)
        if eta is not None:
            v = v + eta[t]
        rates.append(v)
    return torch.stack(rates) if rates else X.new_empty((0, *v0.shape))
