r"""Time integration of τ dv/dt = −v + F(h(t) + M v + b).

Two paths share the equation of :mod:`torchrate.dynamics`:

* :func:`euler_rollout` — the discrete Euler cell, written as one custom
  ``autograd.Function``: an in-place ``addmm → F → lerp`` per step forward, a hand-written
  backward loop of three ops per step, and the weight gradient as one matmul over all steps
  afterwards. :func:`euler_rollout_reference` is the plain loop it is equivalent to (and the
  path taken for user-supplied nonlinearities, which carry no derivative).
* :func:`ode_rollout` — any ``torchdiffeq`` method, with the input held exactly piecewise
  constant over each ``dt`` bin.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .dynamics import euler_step
from .nonlinearities import Nonlinearity

__all__ = ["euler_rollout", "euler_rollout_reference", "ode_rollout", "ADAPTIVE_METHODS"]

#: torchdiffeq methods with error control (noise is refused with these)
ADAPTIVE_METHODS = frozenset(
    {"dopri8", "dopri5", "bosh3", "fehlberg2", "adaptive_heun", "scipy_solver"}
)
FIXED_GRID_METHODS = frozenset(
    {"euler", "midpoint", "heun2", "heun3", "rk4", "explicit_adams", "implicit_adams",
     "fixed_adams"}
)


class _EulerRollout(torch.autograd.Function):
    """v[t+1] = lerp(v[t], F(x[t]), a) + η[t],  x[t] = X[t] + v[t] Mᵀ,  a = dt/τ."""

    @staticmethod
    def forward(ctx, X, v0, M, a, eta, F):  # noqa: D102 - documented on the class
        T = X.shape[0]
        V = X.new_empty((T + 1, *v0.shape))  # V[0] = v0, V[t+1] = rates after step t
        Y = torch.empty_like(X)  # F(x[t]), kept for the backward pass
        V[0] = v0
        MT = M.T
        # a shared τ (the common case) steps with a Python float: cheaper kernels per step
        weight = a.item() if a.ndim == 0 else a
        Xs, Vs, Ys = X.unbind(0), V.unbind(0), Y.unbind(0)  # per-step views, made once
        etas = eta.unbind(0) if eta is not None else None
        for t in range(T):
            torch.addmm(Xs[t], Vs[t], MT, out=Ys[t])
            F.apply_(Ys[t])
            torch.lerp(Vs[t], Ys[t], weight, out=Vs[t + 1])
            if etas is not None:
                Vs[t + 1].add_(etas[t])
        ctx.F = F
        ctx.save_for_backward(V, Y, M, a)
        ctx.has_eta = eta is not None
        return V[1:]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_rates):
        V, Y, M, a = ctx.saved_tensors
        T = Y.shape[0]
        need_X, need_v0, need_M, need_a, need_eta = ctx.needs_input_grad[:5]
        # dv[t+1]/dx[t] = a F'(x[t]), computed for all steps at once
        gain = ctx.F.derivative_from_output(Y).mul_(a)
        D = torch.empty_like(Y)  # δ[t] = ∂L/∂x[t]
        G = torch.empty_like(Y) if (need_a or need_eta) else None  # ∂L/∂v[t+1]
        Ds, gains, direct = D.unbind(0), gain.unbind(0), grad_rates.unbind(0)
        Gs = G.unbind(0) if G is not None else None
        shared = a.ndim == 0
        leak = 1 - (a.item() if shared else a)
        g = direct[T - 1].clone()
        for t in range(T - 1, -1, -1):
            if Gs is not None:
                Gs[t].copy_(g)
            torch.mul(g, gains[t], out=Ds[t])
            # ∂L/∂v[t] = (1 − a) ∂L/∂v[t+1] + δ[t] M  (+ the direct gradient of rates[t−1])
            g = torch.addmm(g, Ds[t], M, beta=leak) if shared else torch.addmm(g * leak, Ds[t], M)
            if t > 0:
                g.add_(direct[t - 1])
        N = M.shape[0]
        grad_M = D.reshape(-1, N).T @ V[:-1].reshape(-1, N) if need_M else None
        grad_a = None
        if need_a:
            grad_a = (G * (Y - V[:-1])).sum_to_size(a.shape)
        return (D if need_X else None, g if need_v0 else None, grad_M, grad_a,
                G if (need_eta and ctx.has_eta) else None, None)


def euler_rollout(
    X: Tensor, v0: Tensor, M: Tensor, a: Tensor, F: Nonlinearity, eta: Tensor | None = None
) -> Tensor:
    r"""Euler rollout of all ``T`` steps, returning the rates after each step.

    .. math::
        v_{t+1} = v_t + a\,(-v_t + F(X_t + M v_t)) + \eta_t, \qquad a = dt/\tau

    Efficient implementation equivalent to :func:`euler_rollout_reference`.

    Parameters
    ----------
    X : Tensor, shape (T, B, N)
        Input drive plus bias, ``W u_t + b``, for every step.
    v0 : Tensor, shape (B, N)
    M : Tensor, shape (N, N)
    a : Tensor, shape () or (N,)
        ``dt / τ``.
    F : Nonlinearity
    eta : Tensor, shape (T, B, N), optional
        Additive noise for each step (Euler–Maruyama).

    Returns
    -------
    Tensor, shape (T, B, N): ``v_1 … v_T``.
    """
    if F.derivative_from_output is None:
        return euler_rollout_reference(X, v0, M, a, F, eta)
    return _EulerRollout.apply(X, v0, M, a, eta, F)


def euler_rollout_reference(
    X: Tensor, v0: Tensor, M: Tensor, a: Tensor, F: Nonlinearity, eta: Tensor | None = None
) -> Tensor:
    """The plain loop :func:`euler_rollout` is equivalent to: one :func:`euler_step` a step."""
    v, rates = v0, []
    for t in range(X.shape[0]):
        # euler_step with τ = 1 and dt = a is v + a(−v + F(x))
        v = euler_step(v, X[t], M, None, 1.0, F, a)
        if eta is not None:
            v = v + eta[t]
        rates.append(v)
    return torch.stack(rates)


class _PiecewiseConstantField(torch.nn.Module):
    """dv/dt at time t with the input of the dt-bin that contains t (torchdiffeq signature)."""

    def __init__(self, field, U: Tensor, edges: Tensor):
        super().__init__()
        self.field, self.U, self.edges = field, U, edges

    def forward(self, t: Tensor, v: Tensor) -> Tensor:
        # bin k holds [k·dt, (k+1)·dt); torchdiffeq nudges t to the left or right of a
        # jump with nextafter, so a comparison against the same float edges is exact
        k = torch.searchsorted(self.edges, t.reshape(1), right=True)
        return self.field(v, self.U.index_select(0, k).squeeze(0))


def ode_rollout(
    field,
    U: Tensor,
    v0: Tensor,
    dt: float,
    *,
    method: str = "dopri5",
    rtol: float = 1e-6,
    atol: float = 1e-8,
    adjoint: bool = False,
    adjoint_params: tuple[Tensor, ...] = (),
    options: dict | None = None,
) -> Tensor:
    r"""Solve dv/dt = field(v, u(t)) with ``torchdiffeq``, u piecewise constant per dt bin.

    The input of bin k, ``U[k]``, acts on ``[k·dt, (k+1)·dt)``. Adaptive methods are told
    the bin edges where the input changes as ``jump_t`` (their steps restart at each
    discontinuity, with the input of the new bin) and fixed-grid
    methods step exactly on the bin edges with ``perturb`` so that every stage inside a bin
    sees that bin's input.

    Parameters
    ----------
    field : callable (v, u) -> dv/dt
        Computes everything from ``u`` itself (``W u`` included), so that with the adjoint
        every parameter is reached once, directly, and never also through a precomputed
        ``W u`` graph.
    U : Tensor, shape (T, B, I)
    v0 : Tensor, shape (B, N)
    dt : float
        Bin width in ms; rates are reported at t = dt, 2dt, …, T·dt.
    method, rtol, atol, options
        Passed to ``torchdiffeq.odeint``.
    adjoint : bool
        Use ``odeint_adjoint``; ``adjoint_params`` are the tensors ``field`` uses (``U`` is
        added when it requires grad).

    Returns
    -------
    Tensor, shape (T, B, N)
    """
    import torchdiffeq

    T = U.shape[0]
    times = torch.arange(T + 1, dtype=v0.dtype, device=v0.device) * dt
    edges = times[1:-1]
    options = dict(options or {})
    if method in FIXED_GRID_METHODS:
        options.setdefault("perturb", True)
    elif T > 1:
        # only the edges where the input actually changes are discontinuities
        changes = (U[1:] != U[:-1]).flatten(1).any(1)
        options.setdefault("jump_t", edges[changes])
    func = _PiecewiseConstantField(field, U, edges)
    if adjoint:
        params = tuple(adjoint_params) + ((U,) if U.requires_grad else ())
        solution = torchdiffeq.odeint_adjoint(
            func, v0, times, rtol=rtol, atol=atol, method=method, options=options,
            adjoint_params=params,
        )
    else:
        solution = torchdiffeq.odeint(
            func, v0, times, rtol=rtol, atol=atol, method=method, options=options
        )
    return solution[1:]

