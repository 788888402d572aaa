r"""The fixed-point search engine: batched warm-up, damped Newton, chord iteration and exact
clustering on any :class:`~torchrate.systems.Residual` g(v) (zero at fixed points).

One Newton, one clustering, one progress meter for every analysis (the full-space finder,
the low-rank latent search, continuation). See :func:`torchrate.analysis.find_fixed_points`
for the algorithm; nothing here knows what network the residual came from.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from .._private import fused_adam_
from ..systems import Residual
from ._progress import Progress


def default_tol(scale: float, v: Tensor) -> Tensor:
    """q ≤ ½ N (1000 eps (1 + ‖v‖∞) · scale)²: the residual within ~1000 rounding errors of 0
    (``scale``: the residual's size per unit of v, 1/τ_min for a rate flow)."""
    s = 1e3 * torch.finfo(v.dtype).eps * (1 + v.abs().amax(-1)) * scale
    return 0.5 * v.shape[-1] * s.square()


def inference(field: Residual) -> contextlib.AbstractContextManager[object]:
    """``torch.inference_mode`` for a search on a residual that runs no user code
    (:attr:`Residual.pure`: a rate network's, a torch cell's), else nothing. A search is thousands
    of small operations; without version counters and view tracking each costs less (FixedPointFinder's
    16-unit flip-flop: ~10% of the search's time). The caller copies what it keeps into ordinary
    tensors: an inference tensor cannot be saved for backward or modified in place outside."""
    return torch.inference_mode() if field.pure else contextlib.nullcontext()


# ----------------------------------------------------------------------------- linear solves
# MKL's batched LU (torch runs the batch in parallel, each getrf possibly threaded too) returned
# invalid pivots for N ≥ 256 in float64, and valid pivots with a wrong solution in float32, with
# 2 threads (torch 2.13, MKL); N ≤ 128 was right. Above this size a multi-threaded CPU
# factorises one matrix at a time.
_BATCHED_LU_MAX_N_THREADED = 128


def _threaded_cpu(J: Tensor) -> bool:
    """Whether batched factorisations of J run on a multi-threaded CPU, where torch runs the batch in
    parallel and each result is checked; on one CPU thread they are LAPACK's own routines matrix after
    matrix, whose ``info`` is the verdict (and elsewhere the device library's)."""
    return J.device.type == "cpu" and torch.get_num_threads() > 1


def _one_at_a_time(J: Tensor) -> bool:
    """Whether a batch J (B, N, N) must be factorised one matrix at a time (see above)."""
    return _threaded_cpu(J) and J.shape[-1] > _BATCHED_LU_MAX_N_THREADED


def _solved(J: Tensor, x: Tensor, rhs: Tensor) -> Tensor:
    r"""Whether ``x`` (B, N) solves ``J x = rhs``: finite, and ‖Jx − rhs‖∞ ≤ √eps (‖J‖∞‖x‖∞ + ‖rhs‖∞).

    A backward-stable solve leaves a residual of order N·eps relative to that scale, however
    ill-conditioned J is; a corrupted factorisation leaves one of order 1.
    """
    r = (J @ x.unsqueeze(-1)).squeeze(-1) - rhs
    scale = J.abs().sum(-1).amax(-1) * x.abs().amax(-1) + rhs.abs().amax(-1)
    return torch.isfinite(x).all(-1) & (r.abs().amax(-1) <= math.sqrt(torch.finfo(x.dtype).eps) * scale)


def _solve_one(J: Tensor, rhs: Tensor) -> Tensor | None:
    """x with J x = rhs for one (N, N) matrix, or None if the solve fails its check."""
    try:
        x, info = torch.linalg.solve_ex(J, rhs)
    except RuntimeError:
        return None
    return x if int(info) == 0 and bool(_solved(J[None], x[None], rhs[None])[0]) else None


def _solve(J: Tensor, rhs: Tensor) -> tuple[Tensor, Tensor]:
    r"""x = J⁻¹ rhs for a batch J (B, N, N), rhs (B, N), and ``ok`` (B,): solved and checked.

    Batched ``solve_ex`` first (unless a multi-threaded CPU with N > 128, see above). On one CPU
    thread that is LAPACK's own solver matrix after matrix, so its ``info`` is the verdict (a
    non-finite x of a nearly singular J fails Newton's line search: no step is taken with it).
    Elsewhere, rows that fail (exception, ``info`` ≠ 0, non-finite, or on a multi-threaded CPU a
    residual too large) are solved one at a time, and checked; rows that still fail (J singular)
    have ``ok`` False and x = 0.
    """
    B = rhs.shape[0]
    threaded_cpu = _threaded_cpu(J)
    if not _one_at_a_time(J):
        try:
            xb, info = torch.linalg.solve_ex(J, rhs)
        except RuntimeError:
            pass
        else:
            if J.device.type == "cpu" and not threaded_cpu:  # sequential LAPACK: nothing to redo
                return xb, info == 0  # a non-finite x fails the line search (no step is taken)
            ok = (info == 0) & torch.isfinite(xb).all(-1)
            if threaded_cpu:  # the batched driver is only suspect when torch runs threads
                ok &= _solved(J, xb, rhs)
            if bool(ok.all()):  # a host synchronisation, once per Newton iteration
                return xb, ok
            return _solve_rows(J, rhs, torch.where(ok[:, None], xb, 0.0), ok)
    return _solve_rows(J, rhs, torch.zeros_like(rhs), torch.zeros(B, dtype=torch.bool, device=rhs.device))


def _inverse(J: Tensor) -> tuple[Tensor, Tensor]:
    """J⁻¹ (P, N, N) and ``good`` (P,): factorised (batched unless :func:`_one_at_a_time`), with
    ``info`` = 0 and finite; on a multi-threaded CPU also checked as :func:`_solve` checks solves,
    ‖J J⁻¹ − I‖ ≤ √eps (1 + ‖J‖∞‖J⁻¹‖∞): a backward-stable inverse of any conditioning passes, a
    corrupted one does not."""
    if _one_at_a_time(J):
        parts = [torch.linalg.inv_ex(j) for j in J]
        inv, info = torch.stack([p[0] for p in parts]), torch.stack([p[1] for p in parts])
    else:
        inv, info = torch.linalg.inv_ex(J)
    good = (info == 0) & torch.isfinite(inv).flatten(1).all(-1)
    if _threaded_cpu(J):
        eye = torch.eye(J.shape[-1], dtype=J.dtype, device=J.device)
        err = (J @ inv - eye).abs().amax((-2, -1))
        scale = 1 + J.abs().sum(-1).amax(-1) * inv.abs().sum(-1).amax(-1)
        good &= err <= math.sqrt(torch.finfo(J.dtype).eps) * scale
    return inv, good


def _solve_rows(J: Tensor, rhs: Tensor, x: Tensor, ok: Tensor) -> tuple[Tensor, Tensor]:
    """The rows of ``x`` not ``ok`` solved one matrix at a time (checked)."""
    for i in (~ok).nonzero()[:, 0].tolist():
        xi = _solve_one(J[i], rhs[i])
        if xi is not None:
            x[i], ok[i] = xi, True
    return x, ok


# ----------------------------------------------------------------------------- warm-up

_FUSED_ADAM: dict[tuple[str, torch.dtype], bool] = {}


def _has_fused_adam(v: Tensor) -> bool:
    """Whether torch's fused Adam kernel (the one ``torch.optim.Adam(fused=True)`` runs) exists
    for ``v``'s device type and dtype: tried once on a one-element tensor, then remembered."""
    key = (v.device.type, v.dtype)
    if key not in _FUSED_ADAM:
        t = [torch.zeros(1, dtype=v.dtype, device=v.device) for _ in range(4)]
        try:
            step = torch.zeros((), dtype=torch.float32, device=v.device)
            fused_adam_(t[0], t[1], t[2], t[3], step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8)
            _FUSED_ADAM[key] = bool(torch.isfinite(t[0]).all())
        except (AttributeError, RuntimeError, NotImplementedError):
            _FUSED_ADAM[key] = False
    return _FUSED_ADAM[key]


def _adam(
    field: Residual, v: Tensor, steps: int, lr: float, check_every: int, q_tol: Tensor, progress: Progress
) -> Tensor:
    """Adam on q(v) for all states at once (elementwise, so each state is optimised on its own).

    Stops early when every state has q ≤ ``q_tol`` (checked every ``check_every`` steps, the
    only host synchronisations). The update is torch's fused Adam kernel where the device and
    dtype have one (one kernel instead of seven), else the same formula in place.
    """
    b1, b2, eps = 0.9, 0.999, 1e-8
    v = v.clone()
    m, s, denom = torch.zeros_like(v), torch.zeros_like(v), torch.empty_like(v)
    step = torch.zeros((), dtype=torch.float32, device=v.device)
    fused = _has_fused_adam(v)
    grad = field.grad_q
    for it in range(1, steps + 1):
        g = grad(v)
        if fused:
            fused_adam_(v, g, m, s, step, lr=lr, beta1=b1, beta2=b2, eps=eps)
        else:
            m.lerp_(g, 1 - b1)
            s.mul_(b2).addcmul_(g, g, value=1 - b2)
            c2 = math.sqrt(1 - b2**it)  # √(s/c2²) + eps = (√s + eps·c2)/c2
            torch.sqrt(s, out=denom).add_(eps * c2)
            v.addcdiv_(m, denom, value=-lr * c2 / (1 - b1**it))
        if it % check_every == 0 or it == steps:
            q = field.q(v)
            done = bool((q <= q_tol).all())
            progress.update(
                check_every if it % check_every == 0 else it % check_every,
                phase="warm-up",
                q_max=f"{q.max().item():.2e}",
            )
            if done:
                break
    return v


# The warm-up of a float64 search runs in float32 where the residual can be rebuilt so (a rate
# network's): it only steers states towards fixed points, and float32 halves its memory traffic and
# doubles the width of its vector instructions (tanh, σ, Adam's update: 3-4× faster per step on
# this CPU build). States within float32's rounding of a fixed point are not warmed up (there
# float32 rounding alone would set Adam's normalised step). Magnitudes beyond this stay in float64
# (their squares would overflow float32).
_WARM_DTYPE = torch.float32
_WARM_MAX = 1e15


def _warm_up(
    field: Residual, v: Tensor, steps: int, lr: float, check_every: int, q_tol: Tensor, progress: Progress
) -> Tensor:
    """``steps`` of Adam on q for every state of ``v`` (K, N) (see :func:`_adam`), in float32 for a
    float64 search where the residual has a float32 twin (:meth:`Residual.lowered`)."""
    low = field.lowered(_WARM_DTYPE) if v.dtype == torch.float64 and steps > 0 else None
    if (
        low is None
        or not v.numel()
        or not bool(v.abs().max() <= _WARM_MAX)
        or not lr >= 1e3 * torch.finfo(_WARM_DTYPE).eps
    ):
        return _adam(field, v, steps, lr, check_every, q_tol, progress)
    out = v.clone()
    go = (field.q(v) > default_tol(field.scale, v.to(_WARM_DTYPE)).to(v.dtype)).nonzero()[:, 0]
    if go.numel():
        out[go] = _adam(low, v[go].to(_WARM_DTYPE), steps, lr, check_every, q_tol[go], progress).to(v.dtype)
    return out


def _median(x: Tensor, dim: int | None = None) -> Tensor:
    """``torch.median`` (the lower median for an even count) of ``x`` or along ``dim``; on the CPU by
    numpy's selection (``np.partition``), ~4× faster there than ``torch.median``'s."""
    if x.device.type != "cpu":
        return x.median() if dim is None else x.median(dim).values
    a = x.detach().numpy()
    if dim is None:
        a, dim = a.reshape(-1), 0
    k = (a.shape[dim] - 1) // 2
    return torch.as_tensor(np.partition(a, k, axis=dim).take(k, axis=dim))


def _robust_spread(v: Tensor) -> float:
    """1.4826 × the median absolute deviation of the entries of ``v`` (K, N) from their
    per-coordinate median: the standard deviation for Gaussian starts, unmoved by a minority of
    extreme ones. Falls back to 1e-3 (1 + median |v|) when the starts coincide."""
    spread = 1.4826 * _median((v - _median(v, 0)).abs()).item()
    return spread if spread > 0 else 1e-3 * (1 + _median(v.abs()).item())


# ----------------------------------------------------------------------------- Newton
# line-search step lengths 1, 1/2, …, 1/128: a shorter step lowers q by less than 1%,
# (1 − α)² > 0.99, which the search treats as no progress anyway
_ALPHAS = 2.0 ** -torch.arange(8)
_ARMIJO = 1e-4
_LINE_SEARCH: dict[tuple[torch.dtype, torch.device], tuple[Tensor, Tensor, float]] = {}


def _line_search(dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor, float]:
    """The step lengths α (8,), their Armijo factors 1 − 2·10⁻⁴α (accept α d when
    s(v + αd) ≤ this × s(v)) and the full step's factor as a float: made once per dtype and device."""
    key = (dtype, device)
    if key not in _LINE_SEARCH:
        alphas = _ALPHAS.to(dtype=dtype, device=device)
        armijo = 1 - 2 * _ARMIJO * alphas
        _LINE_SEARCH[key] = alphas, armijo, float(armijo[0])
    return _LINE_SEARCH[key]


# a step that divides q by at least 10⁴ (‖f‖ by 100) into rounding level is Newton's quadratic
# convergence onto an isolated root: one more step polishes it. A state that creeps into rounding
# level more slowly (along a slow manifold: a GRU's saturated update gate) keeps iterating.
_QUADRATIC = 1e-4

# Jacobians are formed and factorised in chunks of at most this many bytes: on a CPU a chunk
# that stays in cache is formed ~5× faster than one (K, N, N) tensor (the LU costs the same);
# on a GPU the bound only caps memory.
_JACOBIAN_BYTES_CPU = 16 * 2**20
_JACOBIAN_BYTES_CUDA = 2 * 2**30


def _newton_direction(jacobian: Callable[[Tensor], Tensor], v: Tensor, f: Tensor, chunk: int) -> tuple[Tensor, Tensor]:
    """d = −J⁻¹f (K, N) and ``ok`` (K,), Jacobians formed ``chunk`` states at a time."""
    if v.shape[0] <= chunk:
        return _solve(jacobian(v), -f)
    parts = [_solve(jacobian(vc), -fc) for vc, fc in zip(v.split(chunk), f.split(chunk))]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


# ----------------------------------------------------------------------------- Krylov directions
# From N = 256 on, a Newton direction costs one LU factorisation (N³/3) per state, and that is what
# each state's own search spends its time on. Once some points are known, the batched search solves
# J(v) d = −f(v) by GMRES instead, right-preconditioned by the LU of J at the state's nearest known
# point: one factorisation per point, shared by every state near it. An iteration is one product
# with J(v) and one solve with a shared LU, for all states at once (matrix-matrix products: the
# work a state alone does as matrix-vector products, memory-bound). States whose GMRES misses its
# tolerance within N/25 (10 to 40) iterations take the exact direction with their own LU. The
# tolerance is Eisenstat and Walker's (1996, choice 2): η = min(η_max, (‖f_k‖/‖f_k−1‖)²), so
# directions are exact to rounding where Newton converges quadratically (there the shared LU is
# that of the point the state converges to, and GMRES needs one or two iterations).
_KRYLOV_MIN_N = 256
# GMRES iterations before a state takes its own LU: an iteration costs ~4N² (a product with J and a
# solve with a shared LU), an LU ~N³/1.5, so up to ~N/25 iterations stay well below one LU
_KRYLOV_MIN_STEPS, _KRYLOV_MAX_STEPS = 10, 40
_KRYLOV_ETA = 1e-1
_KRYLOV_BYTES = 256 * 2**20  # GMRES keeps a basis vector per iteration and state: chunk to this


class _PointPreconditioner:
    """r ↦ J(p)⁻¹ r for each state's nearest known point p (K, N): the LU of J(p) made on first use
    (one matrix at a time: safe with any thread count) and kept. Singular or nearly singular ones
    (pivots spanning more than 1/√eps: a point on a line or ring of fixed points, whose J has a
    null direction along it) are not used: their states take exact steps."""

    def __init__(self, field: Residual, points: Tensor) -> None:
        self.field, self.points = field, points
        self.lu: dict[int, tuple[Tensor, Tensor] | None] = {}

    def _factor(self, p: int) -> tuple[Tensor, Tensor] | None:
        if p not in self.lu:
            J = self.field.jacobian(self.points[p : p + 1])[0]
            LU, pivots, info = torch.linalg.lu_factor_ex(J)
            N = J.shape[-1]
            diag = LU.diagonal().abs()
            good = int(info) == 0 and bool(
                ((pivots >= 1) & (pivots <= N)).all()
                & torch.isfinite(LU).all()
                & (diag.min() > math.sqrt(torch.finfo(J.dtype).eps) * diag.max())
            )
            self.lu[p] = (LU, pivots) if good else None
        return self.lu[p]

    def at(self, v: Tensor) -> Callable[[Tensor], Tensor]:
        """The preconditioner of the states ``v``: rows grouped by their point, one solve a group
        (rows whose point's J is singular are left as they are)."""
        target = _distances(v, self.points).argmin(1)
        order = torch.argsort(target)
        ids, counts = torch.unique_consecutive(target[order], return_counts=True)
        groups = [
            (rows, lu)
            for p, rows in zip(ids.tolist(), order.split(counts.tolist()))
            if (lu := self._factor(p)) is not None
        ]

        def apply(r: Tensor) -> Tensor:
            out = r.clone()
            for rows, (LU, pivots) in groups:  # r[rows].T (N, S) is column-major: no copy for LAPACK
                out[rows] = torch.linalg.lu_solve(LU, pivots, r[rows].T).T
            return out

        return apply


def _gmres(
    field: Residual, preconditioner: _PointPreconditioner, v: Tensor, f: Tensor, target: Tensor, steps: int
) -> tuple[Tensor, Tensor]:
    r"""d with ‖J(v) d + f‖ ≤ ``target`` (K,) for every state of ``v`` (K, N): right-preconditioned
    GMRES (classical Gram–Schmidt applied twice, Givens rotations), all states in lockstep, at most
    ``steps`` iterations. A quarter or more of the states meeting their tolerance leave the
    iteration (one host synchronisation an iteration). Returns d and ``ok`` (K,): the tolerance
    met and d finite."""
    K, N = f.shape
    tiny = torch.finfo(f.dtype).tiny
    rows = torch.arange(K, device=f.device)  # the states still iterating
    product, precondition = field.linear(v), preconditioner.at(v)
    beta = f.norm(dim=-1)
    V = f.new_empty(steps + 1, K, N)  # orthonormal basis of the Krylov space, vector by vector
    V[0] = f / -beta.clamp_min(tiny)[:, None]
    R = f.new_zeros(K, steps, steps)  # the Hessenberg matrix made triangular by the rotations
    g = f.new_zeros(K, steps + 1)  # the rotated right-hand side β e₁: |g[j + 1]| is the residual
    g[:, 0] = beta
    cs, sn = f.new_zeros(K, steps), f.new_zeros(K, steps)
    finished, combined, met = [], [], []  # states that left: rows, V y, tolerance met

    def combine(sel: Tensor, k: int) -> Tensor:  # V y for the states ``sel`` after k iterations
        y = torch.linalg.solve_triangular(R[sel, :k, :k], g[sel, :k, None], upper=True)[..., 0]
        return torch.einsum("kj,jkn->kn", y, V[:k, sel])

    for j in range(steps):
        w = product(precondition(V[j]))
        basis = V[: j + 1]
        h = (basis * w).sum(-1)  # (j + 1, K)
        w = w - (h[:, :, None] * basis).sum(0)
        h2 = (basis * w).sum(-1)
        w = w - (h2[:, :, None] * basis).sum(0)
        hn = w.norm(dim=-1)
        V[j + 1] = w / hn.clamp_min(tiny)[:, None]
        col = torch.cat([(h + h2).T, hn[:, None]], 1)  # (K, j + 2)
        for i in range(j):  # the earlier rotations, in order
            a, b = col[:, i].clone(), col[:, i + 1].clone()
            col[:, i], col[:, i + 1] = cs[:, i] * a + sn[:, i] * b, cs[:, i] * b - sn[:, i] * a
        r = torch.hypot(col[:, j], col[:, j + 1])
        broke = r == 0  # the space is exhausted: the solution is exact already
        c = torch.where(broke, 1.0, col[:, j] / r.clamp_min(tiny))
        sj = torch.where(broke, 0.0, col[:, j + 1] / r.clamp_min(tiny))
        cs[:, j], sn[:, j] = c, sj
        R[:, :j, j] = col[:, :j]
        R[:, j, j] = torch.where(broke, 1.0, r)  # with g[j] = 0 there: a zero component
        g[:, j + 1], g[:, j] = -sj * g[:, j], c * g[:, j]
        done = g[:, j + 1].abs() <= target
        n_done = int(done.sum())  # host synchronisation, once an iteration
        if n_done == len(rows) or j == steps - 1:
            break
        if 4 * n_done >= len(rows):  # they leave: the others go on with smaller tensors
            sel = done.nonzero()[:, 0]
            finished.append(rows[sel])
            combined.append(combine(sel, j + 1))
            met.append(done[sel])
            keep = (~done).nonzero()[:, 0]
            rows, V, R, g, cs, sn, target = rows[keep], V[:, keep], R[keep], g[keep], cs[keep], sn[keep], target[keep]
            product, precondition = field.linear(v[rows]), preconditioner.at(v[rows])
    finished.append(rows)
    combined.append(combine(torch.arange(len(rows), device=f.device), j + 1))
    met.append(done)
    rows, u = torch.cat(finished), torch.cat(combined)
    d, ok = torch.empty_like(f), torch.empty(K, dtype=torch.bool, device=f.device)
    d[rows] = preconditioner.at(v[rows])(u)
    ok[rows] = torch.cat(met)
    return d, ok & torch.isfinite(d).all(-1)


def _krylov_direction(
    field: Residual,
    jacobian: Callable[[Tensor], Tensor],
    v: Tensor,
    f: Tensor,
    target: Tensor,
    preconditioner: _PointPreconditioner,
    chunk: int,
    exact: Tensor,
) -> tuple[Tensor, Tensor, Tensor]:
    """d ≈ −J⁻¹f (K, N) by preconditioned GMRES to ``target`` (K,), and the exact direction (own LU)
    for the states marked ``exact`` (K,) and those GMRES does not bring to tolerance. Returns d,
    ``ok`` (K,) as :func:`_newton_direction`, and which states GMRES missed."""
    d, ok = torch.empty_like(f), torch.zeros_like(exact)
    tried = (~exact).nonzero()[:, 0]  # host synchronisation
    N = v.shape[1]
    steps = min(_KRYLOV_MAX_STEPS, max(_KRYLOV_MIN_STEPS, N // 25))
    rows = max(1, _KRYLOV_BYTES // ((steps + 1) * N * v.element_size()))
    for i in tried.split(rows):
        d[i], ok[i] = _gmres(field, preconditioner, v[i], f[i], target[i], steps)
    missed = ~ok & ~exact
    own = (~ok).nonzero()[:, 0]  # host synchronisation
    if own.numel():
        d[own], ok[own] = _newton_direction(jacobian, v[own], f[own], chunk)
    return d, ok, missed


def _newton(
    field: Residual,
    v: Tensor,
    max_steps: int,
    check_every: int,
    step_tol: float,
    progress: Progress,
    stop: tuple[float, float] | None = None,
    points: Tensor | None = None,
) -> Tensor:
    """Batched damped Newton on f(v) = 0 with a line search on q; returns the refined states.

    Each state takes the largest step α d, α = 1, 1/2, …, 1/128, that lowers q by the Armijo
    fraction; the full step is tried first, and the shorter ones only for the states it does
    not suit (near a solution, none). A state stops when its step is at rounding level, or
    when no step (or only one that lowers q by less than 1%) is found: J singular, or a slow
    point. With ``stop = (scale, tol)``, a state also stops one step after a step that fell
    quadratically (q divided by 10⁴ or more) to rounding level, min(:func:`default_tol` (scale,
    v), tol), and at once below 1e-6 times that: that step ends at rounding level, and the steps
    after it would only move it by rounding noise (at N = 256 they were 2–5 of every converged
    state's ~8 LU factorisations). With known ``points`` (P, N), a state that enters a ball around
    one from which Newton provably converges to it is placed on it (N < 256, a residual with a
    Lipschitz constant: see :class:`_Basins`); from N = 256 on, directions come from GMRES
    preconditioned by the points' LUs (see :func:`_krylov_direction`). Only still-moving
    states are iterated; the active set is compacted every ``check_every`` iterations.
    """
    v, va = v.clone(), v  # the result, and the states still iterating (never changed in place)
    N = v.shape[-1]
    budget = _JACOBIAN_BYTES_CUDA if v.device.type == "cuda" else _JACOBIAN_BYTES_CPU
    chunk = max(1, budget // (N * N * v.element_size()))
    alphas, armijo, armijo_full = _line_search(v.dtype, v.device)
    if stop is not None:  # s = 2q at rounding level is c (1 + ‖v‖∞)², capped at 2 tol
        c, cap = N * (1e3 * torch.finfo(v.dtype).eps * stop[0]) ** 2, 2 * stop[1]
    jacobian = field.jacobian
    # the states still iterating: their rows in v, states, residuals f and s = ‖f‖² = 2q
    active = torch.arange(v.shape[0], device=v.device)
    f = field(va)
    s0 = torch.linalg.vecdot(f, f)
    # balls around known points where N is small; from N = 256 on their LUs serve GMRES instead
    points = points if points is not None and len(points) else None
    basins = (
        _Basins(field, points) if points is not None and field.lipschitz is not None and N < _KRYLOV_MIN_N else None
    )
    krylov = None
    if points is not None and N >= _KRYLOV_MIN_N:
        krylov, s_prev = _PointPreconditioner(field, points), s0  # s before the last step taken
        exact = torch.zeros(va.shape[0], dtype=torch.bool, device=v.device)  # GMRES missed: own LU next
    done = torch.zeros(va.shape[0], dtype=torch.bool, device=v.device)
    # q has reached rounding level quadratically: one more step, taken if it does not raise q (at
    # rounding level the Armijo fraction is noise; if it does, the line search and
    # Levenberg–Marquardt as for any), then done
    polish, threshold = done, torch.full_like(s0, armijo_full)
    if stop is not None:
        done = s0 <= 1e-6 * (c * (1 + va.abs().amax(-1)).square()).clamp_max(cap)
    done_steps = 0
    while done_steps < max_steps and va.shape[0]:
        for _ in range(min(check_every, max_steps - done_steps)):
            if krylov is None:
                d, ok = _newton_direction(jacobian, va, f, chunk)
            else:
                target = (s0 / s_prev).clamp_max(_KRYLOV_ETA**2).sqrt() * s0.sqrt()
                if stop is not None:  # no need to solve below what rounding lets f reach
                    target = target.clamp_min((1e-6 * (c * (1 + va.abs().amax(-1)).square()).clamp_max(cap)).sqrt())
                # a state GMRES missed takes its own LU this time and the next, then GMRES again
                d, ok, exact = _krylov_direction(field, jacobian, va, f, target, krylov, chunk, exact)
            trial = va + d
            f1 = field(trial)
            s1, tmax = torch.linalg.vecdot(f1, f1), trial.abs().amax(-1)
            rounding_step = tmax.mul(step_tol).add_(step_tol)  # a step this small is rounding noise
            small = ok & (d.abs().amax(-1) <= rounding_step)
            accept = ok & (s1 <= threshold * s0)
            settled = accept | small | done
            if not bool(settled.all()):  # host synchronisation: some state needs a shorter or damped step
                retry = ok & ~settled  # a rounding-level step is not shortened
                if bool(retry.any()):
                    trial, f1, s1, accept = _backtrack(
                        field, va, d, s0, trial, f1, s1, accept, retry, alphas[1:], armijo[1:]
                    )
                    tmax = trial.abs().amax(-1)
                    small = ok & ((trial - va).abs().amax(-1) <= tmax.mul(step_tol).add_(step_tol))
                    settled = accept | small | done
                stuck = ~settled
                if bool(stuck.any()):  # J singular, or its Newton step useless
                    trial, f1, s1, accept = _damped(field, va, f, s0, trial, f1, s1, accept, stuck, armijo_full)
                    tmax = trial.abs().amax(-1)
            moved = accept & ~done
            # less than 1% decrease of q is no longer Newton-like progress (singular J, slow point)
            done = ~moved | small | (s1 > 0.99 * s0) | polish  # ~moved includes done
            if krylov is not None:
                s_prev = torch.where(moved, s0, s_prev)
            if stop is not None:  # at the new states: a state that did not move is done already
                rounding = (c * (1 + tmax).square()).clamp_max(cap)
                polish = moved & (s1 <= torch.minimum(_QUADRATIC * s0, rounding))  # a quadratic step to rounding level
                done |= s1 <= 1e-6 * rounding
                threshold = torch.where(polish, 1.0, armijo_full)
            step = moved[:, None]
            va, f, s0 = torch.where(step, trial, va), torch.where(step, f1, f), torch.where(moved, s1, s0)
            if basins is not None:  # inside a known point's ball: Newton would end there
                va, caught = basins.capture(va)
                done |= caught
            done_steps += 1
        go = (~done).nonzero()[:, 0]  # host synchronisation: compact the active set
        if len(go) < len(done):
            v[active] = va
            active, va, f, s0, polish, threshold = (t[go] for t in (active, va, f, s0, polish, threshold))
            done = done[go]
            if krylov is not None:
                s_prev, exact = s_prev[go], exact[go]
        progress.update(min(check_every, max_steps), phase="newton", active=active.numel())
    v[active] = va
    return v


class _Basins:
    r"""Balls around known points from which Newton's iteration converges to the point.

    Where J(p) is invertible with β = ‖J(p)⁻¹‖∞ and J is Lipschitz with constant γ
    (:attr:`Residual.lipschitz`), Newton's iteration from any state within 1/(2βγ) of p (∞-norm)
    converges to p, quadratically (Dennis & Schnabel 1996, Theorem 5.2.1). Each ball is taken
    at half that radius (p and β are computed to rounding). A state that enters one is placed
    on its point: where it would converge, without the iterations to get there.
    """

    def __init__(self, field: Residual, points: Tensor) -> None:
        assert field.lipschitz is not None
        J = field.jacobian(points)
        inv, good = _inverse(J)
        beta = inv.abs().sum(-1).amax(-1)
        # no ball where J(p) is singular or nearly (condition number beyond 1/√eps): a point of a line
        # or ring of fixed points, whose J is singular up to rounding; with γ = 0 (J constant) its
        # ball would be the whole space and every state would be placed on it
        regular = good & (beta * J.abs().sum(-1).amax(-1) <= torch.finfo(J.dtype).eps ** -0.5)
        self.points, self.radius = points, torch.where(regular, 0.25 / (beta * field.lipschitz), 0.0)

    def capture(self, v: Tensor) -> tuple[Tensor, Tensor]:
        """``v`` (K, N) with the states inside a ball placed on its point, and which (K,)."""
        dist, near = _distances(v, self.points).min(1)  # ‖·‖∞ ≤ ‖·‖₂: inside the ball too
        caught = dist < self.radius[near]
        return torch.where(caught[:, None], self.points[near], v), caught


def _damped(
    field: Residual,
    v: Tensor,
    f: Tensor,
    s0: Tensor,
    trial: Tensor,
    f1: Tensor,
    s1: Tensor,
    accept: Tensor,
    stuck: Tensor,
    armijo: float,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    r"""Levenberg–Marquardt steps d = −(JᵀJ + μI)⁻¹Jᵀg, μ = √eps·max diag(JᵀJ), for the ``stuck``
    states: where J is singular (a line or ring of fixed points: J has a null direction along
    it) or its Newton step fails the line search. With g in the range of J this is the
    minimum-norm Newton step to the nearest point of the set, to within μ/σ², so states converge
    onto a continuous attractor instead of stalling beside it. Solved as Newton's directions are
    (:func:`_solve`: one matrix at a time on a multi-threaded CPU above N = 128, where MKL's batched
    LU fails). Updates the iteration's ``trial``, ``f1``, ``s1`` and ``accept`` in place, and
    returns them."""
    idx = stuck.nonzero()[:, 0]
    J = field.jacobian(v[idx]).contiguous()
    Jt = J.mT
    A = Jt @ J
    info = torch.finfo(v.dtype)
    mu = math.sqrt(info.eps) * A.diagonal(dim1=-2, dim2=-1).amax(-1).clamp_min(info.tiny)
    A.diagonal(dim1=-2, dim2=-1).add_(mu[:, None])
    d, ok = _solve(A, -(Jt @ f[idx].unsqueeze(-1)).squeeze(-1))
    usable = ok & torch.isfinite(d).all(-1)
    t = v[idx] + torch.where(usable[:, None], d, torch.zeros_like(d))
    ft = field(t)
    st = torch.linalg.vecdot(ft, ft)
    good = usable & (st <= armijo * s0[idx])
    keep = good[:, None]
    trial[idx] = torch.where(keep, t, trial[idx])
    f1[idx] = torch.where(keep, ft, f1[idx])
    s1[idx] = torch.where(good, st, s1[idx])
    accept[idx] = good
    return trial, f1, s1, accept


def _backtrack(
    field: Residual,
    v: Tensor,
    d: Tensor,
    s0: Tensor,
    trial: Tensor,
    f1: Tensor,
    s1: Tensor,
    accept: Tensor,
    retry: Tensor,
    alphas: Tensor,
    armijo: Tensor,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The line search's shorter steps α d (all ``alphas`` at once) for the ``retry`` states: each
    takes the largest accepted one; where none is, the full step's values stay (not accepted). Updates
    ``trial``, ``f1``, ``s1`` and ``accept`` in place, and returns them."""
    idx = retry.nonzero()[:, 0]
    tr = v[idx] + alphas[:, None, None] * d[idx]  # (L, R, N)
    fr = field(tr)
    sr = torch.linalg.vecdot(fr, fr)  # (L, R)
    ok = sr <= armijo[:, None] * s0[idx]
    first = ok.to(torch.uint8).argmax(0)  # largest accepted step
    pick = first[None, :, None].expand(1, -1, v.shape[1])
    trial[idx], f1[idx] = tr.gather(0, pick)[0], fr.gather(0, pick)[0]
    s1[idx], accept[idx] = sr.gather(0, first[None])[0], ok.any(0)
    return trial, f1, s1, accept


# ----------------------------------------------------------------------------- clustering
_BLOCK = 128  # states clustered per host synchronisation


def _distances(a: Tensor, b: Tensor, exact: bool = True) -> Tensor:
    """Euclidean distances (A, B): ``exact``, from direct differences; else by ``torch.cdist``'s
    matrix-product form ‖a‖² + ‖b‖² − 2a·b, 2-3× faster, for a clustering radius or a nearest
    point, where rounding does not matter.

    The matrix-product form loses ~1e-7 to cancellation at N = 512 in float64, as much as a
    de-duplication tolerance: a point would not be within tolerance of itself.
    """
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist" if exact else "use_mm_for_euclid_dist")


def _leaders(x: Tensor, order: Tensor, radius: float, exact: bool = True) -> tuple[Tensor, Tensor]:
    r"""Greedy leader clustering of the rows of ``x`` (K, N), taken in ``order`` (K,).

    A row becomes a leader when no leader so far is within ``radius`` of it; otherwise it joins a
    leader within ``radius``, the nearest of those made before it was first compared (rows are
    compared with each new batch of leaders at once, and a block of ``_BLOCK`` rows at a time
    makes the next batch). Exact distances, so every row has exactly one leader, at distance ≤
    ``radius``, and leaders are their own leaders, more than ``radius`` apart. No chaining: a
    cluster's diameter is at most 2·radius. Without ``exact``, distances with rounding errors
    (see :func:`_distances`): for a coarse radius.

    Returns
    -------
    leaders : Tensor (L,) long
        Row indices of the leaders, in ``order``.
    assign : Tensor (K,) long
        Index into ``leaders`` of each row's leader.
    """
    K = x.shape[0]
    if K == 1:  # its own leader
        return order.clone(), torch.zeros(1, dtype=torch.long, device=x.device)
    assign = torch.full((K,), -1, dtype=torch.long, device=x.device)
    leaders = fresh = torch.zeros(0, dtype=torch.long, device=x.device)
    pending = order  # rows with no leader yet, in order, each compared with every leader but ``fresh``
    while pending.numel():
        if fresh.numel():  # the pending rows within reach of the newest leaders join them
            dist, nearest = _distances(x[pending], x[fresh], exact).min(1)
            near = dist <= radius
            assign[pending[near]] = nearest[near] + (leaders.numel() - fresh.numel())
            pending = pending[~near]
        block, pending = pending[:_BLOCK], pending[_BLOCK:]
        if not block.numel():
            break
        close = (_distances(x[block], x[block], exact) <= radius).cpu().numpy()  # one synchronisation
        free = np.ones(len(block), dtype=bool)
        local = np.empty(len(block), dtype=np.int64)
        new: list[int] = []
        for i in range(len(block)):  # greedy, in order; each new leader takes its free neighbours
            if free[i]:
                members = close[i] & free
                members[i] = True
                local[members] = leaders.numel() + len(new)
                free &= ~members
                new.append(i)
        assign[block] = torch.from_numpy(local).to(x.device)
        fresh = block[torch.tensor(new, dtype=torch.long, device=x.device)]
        leaders = torch.cat([leaders, fresh])
    return leaders, assign


# ----------------------------------------------------------------------------- placement
@dataclass
class _Options:
    """The search settings shared by its phases (see :func:`find_fixed_points`)."""

    opt_steps: int
    lr: float
    newton_steps: int
    adam_every: int
    newton_every: int
    tol: float | None
    slow_points: float | None
    dedup_tol: float | None
    cluster: bool
    radius: float
    scale: float

    def q_tol(self, v: Tensor) -> Tensor:
        """The convergence threshold on q for each state (K,)."""
        return default_tol(self.scale, v) if self.tol is None else torch.full_like(v[:, 0], self.tol)

    @property
    def stop(self) -> tuple[float, float]:
        """Where Newton stops polishing (see :func:`_newton`): the residual's scale, and ``tol``."""
        return self.scale, math.inf if self.tol is None else self.tol


def _relax(field: Residual, v: Tensor, opt: _Options, bar: Progress, points: Tensor | None = None) -> Tensor:
    """Warm-up (Adam on q), then damped Newton, for every state of ``v`` (K, N), given the ``points``
    known so far (see :func:`_newton`)."""
    if opt.opt_steps > 0:
        v = _warm_up(field, v, opt.opt_steps, opt.lr, opt.adam_every, opt.q_tol(v), bar)
    if opt.newton_steps > 0:
        v = _newton(field, v, opt.newton_steps, opt.newton_every, 4 * torch.finfo(v.dtype).eps, bar, opt.stop, points)
    return v


def _place(field: Residual, v: Tensor, opt: _Options, bar: Progress) -> Tensor:
    """Rounds of leaders' warm-up and Newton + everyone else's chord; the last round relaxes
    every state still unplaced (the per-state search).

    Round r takes at most ``max(4^(r+1), 2²⁰/N²)`` leaders, lowest q first, with the
    clustering radius divided by 4 each round. Below N = 128 every state is warmed up first
    (cheap there, and it steers states into saddles' basins); above, only leaders are.
    ``opt.dedup_tol`` (None: ``10·sqrt(eps)·(1 + ‖p‖∞)`` of the points
    found so far) merges the points found and bounds how far a chord-placed state may end from
    its point.
    """
    eps = torch.finfo(v.dtype).eps
    N = v.shape[1]
    warm_all = N < _WARM_LEADERS_MIN_N
    v = _warm_up(field, v, opt.opt_steps, opt.lr, opt.adam_every, opt.q_tol(v), bar) if warm_all else v.clone()
    leader_opt = replace(opt, opt_steps=0) if warm_all else opt
    unplaced = torch.isfinite(v).all(-1).nonzero()[:, 0]
    points = v.new_zeros(0, N)
    tol_p, radius = math.nan, opt.radius  # tol_p: the points' dedup distance, set with the first points found
    chord_pays = True
    for r in range(_ROUNDS):
        if not unplaced.numel():
            break
        vu = v[unplaced]
        cap = max(4 ** (r + 1), _LEADER_ENTRIES // N**2)
        # the per-state search: in the last round, as soon as the unplaced states fit in a
        # round's leader budget, or once the chord iteration has stopped paying (it placed
        # fewer than half of the states it was given: they are far from every point so far)
        last = r == _ROUNDS - 1 or not chord_pays or (r > 0 and len(unplaced) <= cap)
        if last:
            leaders = torch.arange(len(unplaced), device=v.device)  # the per-state fallback
        else:
            leaders = _leaders(vu, field.q(vu).argsort(), radius, exact=False)[0][:cap]
            radius /= 4
        vl = _relax(field, vu[leaders], leader_opt, bar, points)
        v[unplaced[leaders]] = vl
        found = vl[field.q(vl) <= opt.q_tol(vl)]
        rest = torch.ones(len(unplaced), dtype=torch.bool, device=v.device)
        rest[leaders] = False
        unplaced = unplaced[rest]
        if last or not unplaced.numel():
            break
        if found.numel():
            points = torch.cat([points, found])
            tol_p = (
                opt.dedup_tol if opt.dedup_tol is not None else 10 * math.sqrt(eps) * (1 + points.abs().max().item())
            )
            points = points[_leaders(points, field.q(points).argsort(), tol_p)[0]]
        if not points.numel():
            continue
        vu = v[unplaced]
        target = _distances(vu, points, exact=False).argmin(1)
        vu, ok = _chord(field, vu, points, target, _CHORD_STEPS, opt.q_tol(vu), 4 * eps, tol_p)
        v[unplaced] = vu
        unplaced = unplaced[~ok]
        chord_pays = 2 * len(unplaced) < len(ok)
    return v


_ROUNDS = 4
_CHORD_STEPS = 12
_SLOW_POINT_STEPS = 200  # Adam steps that refine slow points (minima of q > 0)
# Below this N, a Newton iteration on every state costs less than the clustering's bookkeeping
_CLUSTER_MIN_N = 0
_WARM_LEADERS_MIN_N = 128  # from this N on, only leaders are warmed up
_LEADER_ENTRIES = 2**20  # leaders per round: at least this many Jacobian entries' worth
_RADIUS_SCALE = 0.25  # first clustering radius: this × robust spread × √N
# default Adam step: this fraction of the robust spread of the starts
_LR_SCALE = 0.02


def _chord(
    field: Residual,
    v: Tensor,
    points: Tensor,
    target: Tensor,
    steps: int,
    q_tol: Tensor,
    step_tol: float,
    dedup_tol: float,
) -> tuple[Tensor, Tensor]:
    r"""Chord iteration v ← v − J(p)⁻¹ f(v) of each state towards its point p = ``points[target]``.

    One LU factorisation of J(p) per point, shared by all its states (one (N, N) matrix at a
    time: safe with any thread count). J is taken at the solution, so near p the error is
    squared each step, like Newton's. A state is placed only if it behaves so — every step at
    most half the previous one — and ends within ``dedup_tol`` of p with q ≤ ``q_tol``: a state
    that would be carried from a saddle's neighbourhood to an attractor (the chord iteration
    with J at a stable point is close to the network's own dynamics) is refused, not placed.

    Returns the iterated states (failed ones unchanged) and ``ok`` (S,).
    """
    out = v.clone()
    ok = torch.zeros(v.shape[0], dtype=torch.bool, device=v.device)
    for sel, solve in _chord_solvers(field, points, target):
        w = v[sel]
        newton_like = torch.ones(len(sel), dtype=torch.bool, device=v.device)
        # the states still iterating: after each step, those at rounding level or no longer
        # Newton-like drop out (a host synchronisation). J is taken at the solution, so the steps
        # shrink quadratically, s' ≈ s²/s_prev·(s/s_prev): a state whose next step would be at
        # rounding level is there already, and stops without taking it
        act, wa, nl = torch.arange(len(sel), device=v.device), w, newton_like
        last = torch.full((len(sel),), math.inf, dtype=v.dtype, device=v.device)
        for _ in range(steps):
            d = solve(field(wa))  # (S, N)
            wa = wa - d
            size = d.abs().amax(-1)
            noise = wa.abs().amax(-1).mul_(step_tol).add_(step_tol)
            nl = nl & ((size <= 0.5 * last) | (size <= noise))
            rounding = (size <= noise) | ((size.pow(3) <= noise * last.square()) & (last < math.inf))
            last = size
            w[act], newton_like[act] = wa, nl
            go = nl & ~rounding
            keep = go.nonzero()[:, 0]
            if len(keep) == len(go):
                continue
            if not len(keep):
                break
            act, wa, nl, last = act[keep], wa[keep], nl[keep], last[keep]
            solve.keep(keep)
        good = (
            newton_like
            & (field.q(w) <= q_tol[sel])
            & torch.isfinite(w).all(-1)
            & ((w - points[target[sel]]).norm(dim=-1) <= dedup_tol)
        )
        out[sel[good]] = w[good]
        ok[sel[good]] = True
    return out, ok


class _GroupedInverse:
    """f ↦ J(p)⁻¹f for states ordered by their point p: one matrix product per point, with the
    inverses' transposes ``inv_t`` (P, N, N) and each state's point ``target`` (S,), sorted."""

    def __init__(self, inv_t: Tensor, target: Tensor) -> None:
        self.inv_t, self.target = inv_t, target
        self._group()

    def _group(self) -> None:
        points, counts = torch.unique_consecutive(self.target, return_counts=True)  # host synchronisation
        self.points, self.counts = points.tolist(), counts.tolist()

    def __call__(self, f: Tensor) -> Tensor:
        if not self.points:
            return f.clone()
        return torch.cat([part @ self.inv_t[p] for p, part in zip(self.points, f.split(self.counts))])

    def keep(self, rows: Tensor) -> None:
        """Keep only the states ``rows`` (indices, in order)."""
        self.target = self.target[rows]
        self._group()


class _SharedLU:
    """f ↦ J(p)⁻¹f for states that share one point p: one LU factorisation."""

    def __init__(self, LU: Tensor, pivots: Tensor) -> None:
        self.LU, self.pivots = LU, pivots

    def __call__(self, f: Tensor) -> Tensor:
        return torch.linalg.lu_solve(self.LU, self.pivots, f.T).T

    def keep(self, rows: Tensor) -> None:
        pass


def _chord_solvers(
    field: Residual, points: Tensor, target: Tensor
) -> Iterator[tuple[Tensor, _GroupedInverse | _SharedLU]]:
    """(states, solver) pairs for the chord iteration, a solver applying f ↦ J(p)⁻¹f.

    Small N (≤ 64): one group, with the inverses of every J(p) formed at once (checked) and
    applied as one matrix product per point. Larger N: one group per point, with its LU
    factorisation (one (N, N) matrix at a time). States whose J(p) is singular get no solver.
    """
    N = points.shape[1]
    jacobian = field.jacobian
    if N <= _CHORD_INVERSE_MAX_N:
        inv, good = _inverse(jacobian(points))
        sel = good[target].nonzero()[:, 0]
        sel = sel[torch.sort(target[sel], stable=True).indices]  # grouped by point
        yield sel, _GroupedInverse(inv.mT, target[sel])
        return
    for p in target.unique().tolist():
        sel = (target == p).nonzero()[:, 0]
        LU, pivots, info = torch.linalg.lu_factor_ex(jacobian(points[p : p + 1])[0])
        if int(info) != 0 or not bool(((pivots >= 1) & (pivots <= N)).all()):
            continue  # J(p) singular (or the factorisation failed): Newton will handle these
        yield sel, _SharedLU(LU, pivots)


_CHORD_INVERSE_MAX_N = 64


def search(field: Residual, v: Tensor, opt: _Options, bar: Progress) -> Tensor:
    """The whole search for one batch of finite states (K, N); returns their final states."""
    v = _place(field, v, opt, bar) if opt.cluster else _relax(field, v, opt, bar)
    if opt.slow_points is not None and opt.opt_steps > 0:
        q = field.q(v)
        slow = ((q > opt.q_tol(v)) & (q <= opt.slow_points) & torch.isfinite(v).all(-1)).nonzero()[:, 0]
        if slow.numel():  # Newton cannot pin a minimum of q > 0: more warm-up steps there
            v[slow] = _adam(field, v[slow], _SLOW_POINT_STEPS, opt.lr, opt.adam_every, torch.zeros_like(q[slow]), bar)
    return v
