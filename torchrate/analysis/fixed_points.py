r"""Batched fixed-point search whose cost grows with the number of distinct points, not of starts.

Fixed points of τ dv/dt = −v + F(h + Mv + b) at a constant input are the zeros of
f(v) = dv/dt, and the minima q = 0 of q(v) = ½‖f(v)‖² (Sussillo & Barak 2013). From K initial
states (K, N), all on the network's device:

1. **Warm-up** (``opt_steps`` of Adam on q, every state on its own): moves states towards
   fixed points, saddles included (they are minima of q too), and towards slow points. The
   gradient ∇q = Jᵀf is analytic for torchrate's networks. The step is a fraction of the robust
   (median-based) spread of the finite starts, so an extreme start changes nothing.
2. **Placement in rounds.** The unplaced states are clustered, exactly and greedily (lowest q
   first, a new leader when no leader is within the radius). Only the leaders run a batched
   damped Newton, d = −J⁻¹f with a line search on q, to q ≈ rounding level. Every other state
   then runs the *chord* iteration v ← v − J(p)⁻¹ f(v) towards its nearest point p found so
   far, with the one LU factorisation of J(p) shared by all of them (J at the solution itself,
   so the convergence is quadratic, like Newton's). A state is placed when its own q falls below
   ``tol``; one that does not converge is left unplaced, back at its warm-up position, for the
   next round, whose radius is four times smaller. The last round runs Newton on every state
   still unplaced: the per-state search, so nothing a per-state search would find is lost.
   Cost: about (leaders × N³/3) instead of (K × N³/3) per Newton iteration.
3. **Summary.** Converged states (q ≤ ``tol``; slow points with q ≤ ``slow_points`` if asked)
   farther than ``outlier_scale`` times the starts' radius are flagged as outliers (a warning
   names how many). The rest are de-duplicated by the same exact leader clustering with
   ``dedup_tol``: every kept state is represented by exactly one returned point, so
   ``counts.sum()`` equals the number of kept states. Then Jacobians, eigenvalues and the
   continuous-time classification (Re λ(J) < 0: stable).

Linear solves are checked (finite, LAPACK ``info`` = 0, small residual ‖Jd + f‖). MKL's batched
LU can return garbage when torch runs two or more threads (invalid pivots, or valid pivots and a
wrong solution in float32), so on a multi-threaded CPU, factorisations of N > 128 run one matrix
at a time (each one multi-threaded), and any failed batched solve is redone one matrix at a time.

The network is never modified: parameters are read detached, ``requires_grad`` untouched.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from ..nonlinearities import NONLINEARITIES
from .jacobian import VectorField, _reference

__all__ = ["FixedPoints", "find_fixed_points", "classify", "sample_states"]

KINDS = ("stable node", "stable spiral", "saddle", "unstable node", "unstable spiral", "marginal")


@dataclass
class FixedPoints:
    """Unique fixed points (or slow points) of ``dv/dt = f(v)`` at a constant input.

    Attributes
    ----------
    points : Tensor, shape (P, N)
        Rates at the fixed points, sorted by residual.
    residuals : Tensor, shape (P,)
        q = ½‖dv/dt‖² at each point, in (rate/ms)².
    jacobians : Tensor, shape (P, N, N)
        J = ∂(dv/dt)/∂v, in 1/ms.
    eigenvalues : Tensor, shape (P, N), complex
        Of J, sorted by decreasing real part.
    stable : Tensor, shape (P,), bool
        All Re λ < 0 (continuous time).
    kind : list of str, length P
        ``"stable node"``, ``"stable spiral"``, ``"saddle"``, ``"unstable node"``,
        ``"unstable spiral"`` or ``"marginal"`` (some Re λ = 0 within tolerance).
    converged : Tensor, shape (P,), bool
        q ≤ ``tol``: a fixed point; ``False`` for slow points.
    counts : Tensor, shape (P,), long
        Number of initial states that ended at each point: ``counts.sum()`` is the number of
        kept states, ``(assignment >= 0).sum()``.
    assignment : Tensor, shape (K,), long
        For each initial state, the index of the point it ended at, or −1 (not converged, a
        non-finite start, or an outlier).
    final_states : Tensor, shape (K, N)
        Where each initial state ended (its own converged state, not its point's).
    final_residuals : Tensor, shape (K,)
        q at ``final_states`` (NaN for non-finite starts).
    outliers : Tensor, shape (K,), bool
        States that converged (or reached a kept slow point) but lie farther from the starts than
        ``outlier_scale`` allows: reported here, not in ``points``.
    """

    points: Tensor
    residuals: Tensor
    jacobians: Tensor
    eigenvalues: Tensor
    stable: Tensor
    kind: list[str]
    converged: Tensor
    counts: Tensor
    assignment: Tensor
    final_states: Tensor
    final_residuals: Tensor
    outliers: Tensor

    def __len__(self) -> int:
        return self.points.shape[0]

    def __getitem__(self, index) -> FixedPoints:
        """Select points with an int, slice, index tensor or bool mask (P,); states whose point
        is not selected get ``assignment`` −1."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        idx = torch.arange(len(self), device=self.points.device)[index].reshape(-1)
        new = torch.full((len(self) + 1,), -1, dtype=torch.long, device=idx.device)
        new[idx] = torch.arange(len(idx), device=idx.device)
        assignment = new[self.assignment]  # −1 indexes the last entry, which stays −1
        return FixedPoints(self.points[idx], self.residuals[idx], self.jacobians[idx],
                           self.eigenvalues[idx], self.stable[idx],
                           [self.kind[i] for i in idx.tolist()], self.converged[idx], self.counts[idx],
                           assignment, self.final_states, self.final_residuals, self.outliers)

    def __repr__(self) -> str:
        N = self.points.shape[-1]
        tally = ", ".join(f"{self.kind.count(k)} {k}" for k in KINDS if k in self.kind)
        return f"FixedPoints({len(self)} points in {N} dimensions: {tally or 'none'})"


def classify(eigenvalues: Tensor, tol: float | None = None) -> tuple[Tensor, list[str]]:
    r"""Continuous-time classification of fixed points from the eigenvalues of J.

    Parameters
    ----------
    eigenvalues : Tensor, shape (P, N)
        Eigenvalues of the Jacobian of dv/dt (complex or real).
    tol : float, optional
        |Re λ| ≤ tol counts as 0 (``"marginal"``), |Im λ| ≤ tol as real; default
        ``sqrt(eps)·max|λ|`` per point.

    Returns
    -------
    stable : Tensor (P,) bool
        max Re λ < −tol.
    kind : list of str
        ``stable``/``unstable`` ``node``/``spiral`` (all Re λ of one sign; spiral if any
        complex pair), ``saddle`` (both signs) or ``marginal`` (any Re λ ≈ 0).
    """
    lam = eigenvalues if eigenvalues.is_complex() else eigenvalues.to(torch.complex128)
    re, im = lam.real, lam.imag
    if tol is None:
        eps = torch.finfo(re.dtype).eps
        tol_t = math.sqrt(eps) * lam.abs().amax(-1, keepdim=True).clamp_min(eps)
    else:
        tol_t = torch.full_like(re[..., :1], tol)
    pos, neg = re > tol_t, re < -tol_t
    marginal = ~(pos | neg)
    spiral = (im.abs() > tol_t).any(-1)
    kind = []
    for m, p, n, s in zip(marginal.any(-1).tolist(), pos.any(-1).tolist(), neg.any(-1).tolist(),
                          spiral.tolist()):
        if m:
            kind.append("marginal")
        elif p and n:
            kind.append("saddle")
        else:
            kind.append(f"{'unstable' if p else 'stable'} {'spiral' if s else 'node'}")
    return neg.all(-1), kind


def sort_eigenvalues(lam: Tensor) -> Tensor:
    """Sort along the last dimension by decreasing real part, ties by decreasing imaginary part."""
    lam = lam.gather(-1, torch.sort(lam.imag, dim=-1, descending=True, stable=True).indices)
    return lam.gather(-1, torch.sort(lam.real, dim=-1, descending=True, stable=True).indices)


def sample_states(trajectories: Tensor, n: int, noise_std: float = 0.0, *,
                  generator: torch.Generator | None = None) -> Tensor:
    r"""Initial states for :func:`find_fixed_points`: ``n`` rates drawn from trajectories plus noise.

    The usual recipe for trained networks: fixed points that matter lie near the states the
    network visits, so start from visited states, jittered.

    Parameters
    ----------
    trajectories : Tensor, shape (*, N)
        Visited rates, e.g. ``rates`` (T, B, N) from ``net(u)``.
    n : int
        Number of states.
    noise_std : float
        Standard deviation of the Gaussian noise added to each rate.
    generator : torch.Generator, optional

    Returns
    -------
    Tensor, shape (n, N), detached, same dtype and device.
    """
    flat = trajectories.detach().reshape(-1, trajectories.shape[-1])
    if flat.shape[0] == 0:
        raise ValueError("trajectories are empty: need at least one state of shape (N,)")
    gen_device = generator.device if generator is not None else flat.device
    idx = torch.randint(flat.shape[0], (n,), generator=generator, device=gen_device).to(flat.device)
    states = flat[idx].clone()
    if noise_std > 0:
        noise = torch.randn(states.shape, generator=generator, dtype=states.dtype, device=gen_device)
        states += noise_std * noise.to(flat.device)
    return states


# ----------------------------------------------------------------------------- linear solves
# MKL's batched LU (torch runs the batch in parallel, each getrf possibly threaded too) returned
# invalid pivots for N ≥ 256 in float64, and valid pivots with a wrong solution in float32, with
# 2 threads (torch 2.13, MKL); N ≤ 128 was right. Above this size a multi-threaded CPU
# factorises one matrix at a time.
_BATCHED_LU_MAX_N_THREADED = 128


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

    Batched ``solve_ex`` first (unless a multi-threaded CPU with N > 128, see above); rows that
    fail (exception, ``info`` ≠ 0, non-finite, or on a multi-threaded CPU a residual too large)
    are solved one at a time, and checked.
    Rows that still fail (J singular) have ``ok`` False and x = 0.
    """
    B, N = rhs.shape
    x, ok = torch.zeros_like(rhs), torch.zeros(B, dtype=torch.bool, device=rhs.device)
    threaded_cpu = J.device.type == "cpu" and torch.get_num_threads() > 1
    if B > 1 and not (threaded_cpu and N > _BATCHED_LU_MAX_N_THREADED):
        try:
            xb, info = torch.linalg.solve_ex(J, rhs)
            ok = (info == 0) & torch.isfinite(xb).all(-1)
            if threaded_cpu:  # the batched driver is only suspect when torch runs threads
                ok &= _solved(J, xb, rhs)
            if bool(ok.all()):  # a host synchronisation, once per Newton iteration
                return xb, ok
            x = torch.where(ok[:, None], xb, x)
        except RuntimeError:
            pass
    if not bool(ok.all()):
        for i in (~ok).nonzero()[:, 0].tolist():
            xi = _solve_one(J[i], rhs[i])
            if xi is not None:
                x[i], ok[i] = xi, True
    return x, ok


# ----------------------------------------------------------------------------- warm-up
class _Progress:
    """A tqdm bar updated only at synchronisation points (a no-op when disabled)."""

    def __init__(self, enabled: bool, total: int):
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="fixed points", unit="it")

    def update(self, n: int, **postfix) -> None:
        if self.bar is not None:
            self.bar.update(n)
            self.bar.set_postfix(postfix, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _grad_q(field: VectorField) -> Callable[[Tensor], Tensor]:
    r"""v ↦ ∇q = Jᵀf (K, N): for torchrate's networks ``(F′ ⊙ w) M − w`` with w = f/τ, two
    matrix products and a few in-place steps; otherwise ``field.q_and_grad``.

    For tanh it uses tanh x = 2σ(2x) − 1 (σ is ~3× faster than tanh on some CPU builds; the
    absolute error is ~eps). Only the warm-up uses this gradient: it steers, and Newton, the
    chord iteration and every q that decides anything use the exact field.
    """
    if not field.analytic:
        return lambda v: field.q_and_grad(v)[1]
    hb = field.h if field.b is None else field.h + field.b
    hb, M, c, F = hb.expand(1, -1), field.M, field.tau.square().reciprocal(), field.F
    if F is NONLINEARITIES["tanh"]:
        hb2, MT2, M4, c2 = 2 * hb, 2 * M.T, 4 * M, 2 * c

        def grad_tanh(v: Tensor) -> Tensor:
            s = torch.addmm(hb2, v, MT2).sigmoid_()  # σ(2x): y = F(x) = 2s − 1, F′(x) = 4s(1 − s)
            w = torch.sub(s, v, alpha=0.5).sub_(0.5).mul_(c2)  # (y − v)/τ² = f/τ
            return torch.addmm(w, torch.addcmul(s, s, s, value=-1).mul_(w), M4, beta=-1)

        return grad_tanh
    MT = M.T

    def grad(v: Tensor) -> Tensor:
        y = F(torch.addmm(hb, v, MT))
        w = (y - v).mul_(c)
        return torch.addmm(w, F.derivative_from_output(y).mul_(w), M, beta=-1)

    return grad


_FUSED_ADAM: dict[tuple[str, torch.dtype], bool] = {}


def _has_fused_adam(v: Tensor) -> bool:
    """Whether torch's fused Adam kernel (the one ``torch.optim.Adam(fused=True)`` runs) exists
    for ``v``'s device type and dtype: tried once on a one-element tensor, then remembered."""
    key = (v.device.type, v.dtype)
    if key not in _FUSED_ADAM:
        t = [torch.zeros(1, dtype=v.dtype, device=v.device) for _ in range(4)]
        try:
            torch._fused_adam_(t[:1], t[1:2], t[2:3], t[3:], [], [torch.ones((), dtype=torch.float32, device=v.device)],
                               lr=1e-3, beta1=0.9, beta2=0.999, weight_decay=0.0, eps=1e-8,
                               amsgrad=False, maximize=False)
            _FUSED_ADAM[key] = bool(torch.isfinite(t[0]).all())
        except (AttributeError, RuntimeError, NotImplementedError):
            _FUSED_ADAM[key] = False
    return _FUSED_ADAM[key]


def _adam(field: VectorField, v: Tensor, steps: int, lr: float, check_every: int, q_tol: Tensor,
          progress: _Progress) -> Tensor:
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
    grad = _grad_q(field)
    for it in range(1, steps + 1):
        g = grad(v)
        if fused:
            torch._fused_adam_([v], [g], [m], [s], [], [step.add_(1)], lr=lr, beta1=b1, beta2=b2,
                               weight_decay=0.0, eps=eps, amsgrad=False, maximize=False)
        else:
            m.lerp_(g, 1 - b1)
            s.mul_(b2).addcmul_(g, g, value=1 - b2)
            c2 = math.sqrt(1 - b2**it)  # √(s/c2²) + eps = (√s + eps·c2)/c2
            torch.sqrt(s, out=denom).add_(eps * c2)
            v.addcdiv_(m, denom, value=-lr * c2 / (1 - b1**it))
        if it % check_every == 0 or it == steps:
            q = field.q(v)
            done = bool((q <= q_tol).all())
            progress.update(check_every if it % check_every == 0 else it % check_every,
                            phase="warm-up", q_max=f"{q.max().item():.2e}")
            if done:
                break
    return v


def _robust_spread(v: Tensor) -> float:
    """1.4826 × the median absolute deviation of the entries of ``v`` (K, N) from their
    per-coordinate median: the standard deviation for Gaussian starts, unmoved by a minority of
    extreme ones. Falls back to 1e-3 (1 + median |v|) when the starts coincide."""
    spread = 1.4826 * (v - v.median(0).values).abs().median().item()
    return spread if spread > 0 else 1e-3 * (1 + v.abs().median().item())


# ----------------------------------------------------------------------------- Newton
# line-search step lengths 1, 1/2, …, 1/128: a shorter step lowers q by less than 1%,
# (1 − α)² > 0.99, which the search treats as no progress anyway
_ALPHAS = 2.0 ** -torch.arange(8)
_ARMIJO = 1e-4

# Jacobians are formed and factorised in chunks of at most this many bytes: on a CPU a chunk
# that stays in cache is formed ~5× faster than one (K, N, N) tensor (the LU costs the same);
# on a GPU the bound only caps memory.
_JACOBIAN_BYTES_CPU = 16 * 2**20
_JACOBIAN_BYTES_CUDA = 2 * 2**30


def _jacobian_fn(field: VectorField) -> Callable[[Tensor], Tensor]:
    r"""v (K, N) ↦ J(v) (K, N, N) = (diag(F′) M − I)/τ, stored column by column (``J.mT`` is
    contiguous): LAPACK factorises that layout without a transposing copy (an LU at N = 256 is
    15–30% faster). ``field.jacobian`` (torch.func) for networks without the analytic form."""
    if not field.analytic:
        return field.jacobian
    hb = (field.h if field.b is None else field.h + field.b).expand(1, -1)
    tau, MT, F = field.tau, field.M.T, field.F
    MtauT = (field.M / (tau[:, None] if tau.ndim else tau)).T.contiguous()  # [j, i] = M_ij/τ_i
    inv_tau = tau.reciprocal()

    def jacobian(v: Tensor) -> Tensor:
        Jt = F.derivative_from_output(F(torch.addmm(hb, v, MT))).unsqueeze(1) * MtauT  # Jᵀ
        Jt.diagonal(dim1=-2, dim2=-1).sub_(inv_tau)
        return Jt.mT

    return jacobian


def _newton_direction(jacobian: Callable[[Tensor], Tensor], v: Tensor, f: Tensor,
                      chunk: int) -> tuple[Tensor, Tensor]:
    """d = −J⁻¹f (K, N) and ``ok`` (K,), Jacobians formed ``chunk`` states at a time."""
    if v.shape[0] <= chunk:
        return _solve(jacobian(v), -f)
    parts = [_solve(jacobian(vc), -fc) for vc, fc in zip(v.split(chunk), f.split(chunk))]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def _newton(field: VectorField, v: Tensor, max_steps: int, check_every: int, step_tol: float,
            progress: _Progress) -> Tensor:
    """Batched damped Newton on f(v) = 0 with a line search on q; returns the refined states.

    Each state takes the largest step α d, α = 1, 1/2, …, 1/128, that lowers q by the Armijo
    fraction; the full step is tried first, and the shorter ones only for the states it does
    not suit (near a solution, none). A state stops when its step is at rounding level, or
    when no step (or only one that lowers q by less than 1%) is found: J singular, or a slow
    point. Only still-moving states are iterated; the active set is compacted every
    ``check_every`` iterations.
    """
    v = v.clone()
    N = v.shape[-1]
    budget = _JACOBIAN_BYTES_CUDA if v.device.type == "cuda" else _JACOBIAN_BYTES_CPU
    chunk = max(1, budget // (N * N * v.element_size()))
    active = torch.arange(v.shape[0], device=v.device)
    alphas = _ALPHAS.to(dtype=v.dtype, device=v.device)
    armijo = 1 - 2 * _ARMIJO * alphas  # accept α d when ‖f(v + αd)‖² ≤ this × ‖f(v)‖²
    jacobian = _jacobian_fn(field)
    done_steps = 0
    while done_steps < max_steps and active.numel():
        va = v[active]
        f = field(va)
        s0 = f.square().sum(-1)  # 2q
        done = torch.zeros(va.shape[0], dtype=torch.bool, device=v.device)
        for _ in range(min(check_every, max_steps - done_steps)):
            d, ok = _newton_direction(jacobian, va, f, chunk)
            trial = va + d
            f1 = field(trial)
            s1 = f1.square().sum(-1)
            accept = ok & (s1 <= armijo[0] * s0)
            small = d.abs().amax(-1) <= step_tol * (1 + trial.abs().amax(-1))
            retry = ok & ~(accept | done | small)  # a rounding-level step is not shortened
            if bool(retry.any()):  # host synchronisation: shorter steps for the states that need them
                trial, f1, s1, accept = _backtrack(field, va, d, s0, trial, f1, s1, accept, retry,
                                                   alphas[1:], armijo[1:])
                small = (trial - va).abs().amax(-1) <= step_tol * (1 + trial.abs().amax(-1))
            moved = accept & ~done
            # less than 1% decrease of q is no longer Newton-like progress (singular J, slow point)
            crawling = s1 > 0.99 * s0
            keep = ~moved[:, None]
            va, f = torch.where(keep, va, trial), torch.where(keep, f, f1)
            s0 = torch.where(moved, s1, s0)
            done = done | ~moved | small | crawling
            done_steps += 1
        v[active] = va
        active = active[~done]  # host synchronisation: compact the active set
        progress.update(min(check_every, max_steps), phase="newton", active=active.numel())
    return v


def _backtrack(field: VectorField, v: Tensor, d: Tensor, s0: Tensor, trial: Tensor,
               f1: Tensor, s1: Tensor, accept: Tensor, retry: Tensor, alphas: Tensor,
               armijo: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The line search's shorter steps α d (all ``alphas`` at once) for the ``retry`` states: each
    takes the largest accepted one; where none is, the full step's values stay (not accepted)."""
    idx = retry.nonzero()[:, 0]
    tr = v[idx] + alphas[:, None, None] * d[idx]  # (L, R, N)
    fr = field(tr)
    sr = fr.square().sum(-1)  # (L, R)
    ok = sr <= armijo[:, None] * s0[idx]
    first = ok.to(torch.uint8).argmax(0)  # largest accepted step
    pick = first[None, :, None].expand(1, -1, v.shape[1])
    trial, f1, s1, accept = trial.clone(), f1.clone(), s1.clone(), accept.clone()
    trial[idx], f1[idx] = tr.gather(0, pick)[0], fr.gather(0, pick)[0]
    s1[idx], accept[idx] = sr.gather(0, first[None])[0], ok.any(0)
    return trial, f1, s1, accept


# ----------------------------------------------------------------------------- clustering
_BLOCK = 128  # states clustered per host synchronisation


def _distances(a: Tensor, b: Tensor) -> Tensor:
    """Exact Euclidean distances (A, B) from direct differences.

    ``torch.cdist``'s default matrix-product mode, ‖a‖² + ‖b‖² − 2a·b, loses ~1e-7 to
    cancellation at N = 512 in float64, as much as a de-duplication tolerance: a point would not
    be within tolerance of itself.
    """
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")


def _leaders(x: Tensor, order: Tensor, radius: float) -> tuple[Tensor, Tensor]:
    r"""Greedy leader clustering of the rows of ``x`` (K, N), taken in ``order`` (K,).

    A row becomes a leader when no leader so far is within ``radius`` of it; otherwise it joins
    the nearest leader within ``radius``. Exact distances, so every row has exactly one leader,
    at distance ≤ ``radius``, and leaders are their own leaders. No chaining: a cluster's
    diameter is at most 2·radius.

    Returns
    -------
    leaders : Tensor (L,) long
        Row indices of the leaders, in ``order``.
    assign : Tensor (K,) long
        Index into ``leaders`` of each row's leader.
    """
    K = x.shape[0]
    assign = torch.full((K,), -1, dtype=torch.long, device=x.device)
    leaders = torch.zeros(0, dtype=torch.long, device=x.device)
    for block in order.split(_BLOCK):
        if leaders.numel():
            dist, nearest = _distances(x[block], x[leaders]).min(1)
            near = dist <= radius
            assign[block[near]] = nearest[near]
            block = block[~near]
        if not block.numel():
            continue
        close = (_distances(x[block], x[block]) <= radius).cpu().numpy()  # one synchronisation
        free = np.ones(len(block), dtype=bool)
        local = np.empty(len(block), dtype=np.int64)
        new = []
        for i in range(len(block)):  # greedy, in order; each new leader takes its free neighbours
            if free[i]:
                members = close[i] & free
                members[i] = True
                local[members] = leaders.numel() + len(new)
                free &= ~members
                new.append(i)
        assign[block] = torch.from_numpy(local).to(x.device)
        leaders = torch.cat([leaders, block[torch.tensor(new, dtype=torch.long, device=x.device)]])
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
    net: object

    def q_tol(self, v: Tensor) -> Tensor:
        """The convergence threshold on q for each state (K,)."""
        return _default_tol(self.net, v) if self.tol is None else torch.full_like(v[:, 0], self.tol)


def _relax(field: VectorField, v: Tensor, opt: _Options, bar: _Progress) -> Tensor:
    """Warm-up (Adam on q), then damped Newton, for every state of ``v`` (K, N)."""
    if opt.opt_steps > 0:
        v = _adam(field, v, opt.opt_steps, opt.lr, opt.adam_every, opt.q_tol(v), bar)
    if opt.newton_steps > 0:
        v = _newton(field, v, opt.newton_steps, opt.newton_every, 4 * torch.finfo(v.dtype).eps, bar)
    return v


def _place(field: VectorField, v: Tensor, opt: _Options, bar: _Progress) -> Tensor:
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
    v = _adam(field, v, opt.opt_steps, opt.lr, opt.adam_every, opt.q_tol(v), bar) if warm_all else v.clone()
    leader_opt = replace(opt, opt_steps=0) if warm_all else opt
    unplaced = torch.isfinite(v).all(-1).nonzero()[:, 0]
    points = v.new_zeros(0, N)
    tol_p, radius = opt.dedup_tol, opt.radius
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
            leaders = _leaders(vu, field.q(vu).argsort(), radius)[0][:cap]
            radius /= 4
        vl = _relax(field, vu[leaders], leader_opt, bar)
        v[unplaced[leaders]] = vl
        found = vl[field.q(vl) <= opt.q_tol(vl)]
        rest = torch.ones(len(unplaced), dtype=torch.bool, device=v.device)
        rest[leaders] = False
        unplaced = unplaced[rest]
        if last or not unplaced.numel():
            break
        if found.numel():
            points = torch.cat([points, found])
            if opt.dedup_tol is None:
                tol_p = 10 * math.sqrt(eps) * (1 + points.abs().max().item())
            points = points[_leaders(points, field.q(points).argsort(), tol_p)[0]]
        if not points.numel():
            continue
        vu = v[unplaced]
        target = _distances(vu, points).argmin(1)
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


def _chord(field: VectorField, v: Tensor, points: Tensor, target: Tensor, steps: int,
           q_tol: Tensor, step_tol: float, dedup_tol: float) -> tuple[Tensor, Tensor]:
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
        # the states still iterating: every second step, those at rounding level or no longer
        # Newton-like drop out (a host synchronisation)
        act, wa, nl = torch.arange(len(sel), device=v.device), w, newton_like
        last = torch.full((len(sel),), math.inf, dtype=v.dtype, device=v.device)
        for it in range(steps):
            d = solve(field(wa))  # (S, N)
            wa = wa - d
            size = d.abs().amax(-1)
            rounding = size <= step_tol * (1 + wa.abs().amax(-1))
            nl = nl & ((size <= 0.5 * last) | rounding)
            last = size
            if it % 2 == 1 or it == steps - 1:
                w[act], newton_like[act] = wa, nl
                go = nl & ~rounding
                if not bool(go.any()):
                    break
                act, wa, nl, last = act[go], wa[go], nl[go], last[go]
                solve.keep(go)
        good = (newton_like & (field.q(w) <= q_tol[sel]) & torch.isfinite(w).all(-1)
                & ((w - points[target[sel]]).norm(dim=-1) <= dedup_tol))
        out[sel[good]] = w[good]
        ok[sel[good]] = True
    return out, ok


class _PerStateInverse:
    """f ↦ J(p)⁻¹f with one (N, N) inverse per state (S, N, N), as one batched product."""

    def __init__(self, inv: Tensor):
        self.inv = inv

    def __call__(self, f: Tensor) -> Tensor:
        return (self.inv @ f.unsqueeze(-1)).squeeze(-1)

    def keep(self, rows: Tensor) -> None:
        """Keep only the states ``rows`` (a mask or indices)."""
        self.inv = self.inv[rows]


class _SharedLU:
    """f ↦ J(p)⁻¹f for states that share one point p: one LU factorisation."""

    def __init__(self, LU: Tensor, pivots: Tensor):
        self.LU, self.pivots = LU, pivots

    def __call__(self, f: Tensor) -> Tensor:
        return torch.linalg.lu_solve(self.LU, self.pivots, f.T).T

    def keep(self, rows: Tensor) -> None:
        pass


def _chord_solvers(field: VectorField, points: Tensor, target: Tensor):
    """(states, solver) pairs for the chord iteration, a solver applying f ↦ J(p)⁻¹f.

    Small N (≤ 64): one group, with the inverses of every J(p) formed at once (checked) and
    applied per state as one batched product. Larger N: one group per point, with its LU
    factorisation (one (N, N) matrix at a time). States whose J(p) is singular get no solver.
    """
    N = points.shape[1]
    jacobian = _jacobian_fn(field)
    if N <= _CHORD_INVERSE_MAX_N:
        J = jacobian(points)
        inv, info = torch.linalg.inv_ex(J)
        eye = torch.eye(N, dtype=J.dtype, device=J.device)
        err = (J @ inv - eye).abs().amax((-2, -1))
        good = (info == 0) & torch.isfinite(inv).flatten(1).all(-1) & (
            err <= math.sqrt(torch.finfo(J.dtype).eps) * (1 + J.abs().sum(-1).amax(-1) * inv.abs().sum(-1).amax(-1)))
        sel = good[target].nonzero()[:, 0]
        yield sel, _PerStateInverse(inv[target[sel]])  # (S, N, N)
        return
    for p in target.unique().tolist():
        sel = (target == p).nonzero()[:, 0]
        LU, pivots, info = torch.linalg.lu_factor_ex(jacobian(points[p:p + 1])[0])
        if int(info) != 0 or not bool(((pivots >= 1) & (pivots <= N)).all()):
            continue  # J(p) singular (or the factorisation failed): Newton will handle these
        yield sel, _SharedLU(LU, pivots)


_CHORD_INVERSE_MAX_N = 64


# ----------------------------------------------------------------------------- inputs
def _resolve_net(net, initial_states: Tensor) -> Tensor:
    ref = _reference(net)
    states = torch.as_tensor(initial_states)
    if states.ndim != 2:
        raise ValueError(f"initial_states must have shape (K, N), got {tuple(states.shape)}")
    if ref is not None:
        states = states.to(dtype=ref.dtype, device=ref.device)
        N = getattr(net, "hidden_size", states.shape[1])
        if states.shape[1] != N:
            raise ValueError(f"initial_states must have shape (K, {N}) for this network, "
                             f"got {tuple(states.shape)}")
    elif not states.is_floating_point():
        states = states.to(torch.get_default_dtype())
    return states.detach()


def _check_finite(net, u, field: VectorField) -> None:
    """Clear errors for NaN/Inf in ``u`` or in the network's parameters and buffers."""
    if u is not None and not bool(torch.isfinite(torch.as_tensor(u)).all()):
        raise ValueError(f"u must be finite, got {int((~torch.isfinite(torch.as_tensor(u))).sum())} "
                         f"NaN/Inf entries in u of shape {tuple(torch.as_tensor(u).shape)}")
    if isinstance(net, torch.nn.Module):
        for name, t in (*net.named_parameters(), *net.named_buffers()):
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise ValueError(f"the network's {name} has {int((~torch.isfinite(t)).sum())} NaN/Inf "
                                 f"entries (of {t.numel()}): its fixed points are undefined")
    if not bool(torch.isfinite(field.h).all()):
        raise ValueError("the input drive h = W u is not finite although u is: check the input weights")


def _finite_starts(v: Tensor) -> Tensor:
    """Mask (K,) of finite starts; warns naming how many are not, raises if none is."""
    finite = torch.isfinite(v).all(-1)
    bad = int((~finite).sum())
    if bad and bad == v.shape[0]:
        raise ValueError(f"all {bad} initial states contain NaN or Inf: give finite starting rates")
    if bad:
        warnings.warn(f"{bad} of {v.shape[0]} initial states contain NaN or Inf and were dropped "
                      "(their assignment is −1)", stacklevel=4)
    return finite


def _default_tol(net, v: Tensor) -> Tensor:
    """q ≤ ½ N (1000 eps (1 + ‖v‖∞)/τ_min)²: dv/dt within ~1000 rounding errors of 0."""
    tau = getattr(net, "tau", None)
    tau_min = torch.as_tensor(tau).min().item() if tau is not None else 1.0
    scale = 1e3 * torch.finfo(v.dtype).eps * (1 + v.abs().amax(-1)) / tau_min
    return 0.5 * v.shape[-1] * scale.square()


def _search(field: VectorField, v: Tensor, opt: _Options, bar: _Progress) -> Tensor:
    """The whole search for one batch of finite states (K, N); returns their final states."""
    v = _place(field, v, opt, bar) if opt.cluster else _relax(field, v, opt, bar)
    if opt.slow_points is not None and opt.opt_steps > 0:
        q = field.q(v)
        slow = ((q > opt.q_tol(v)) & (q <= opt.slow_points) & torch.isfinite(v).all(-1)).nonzero()[:, 0]
        if slow.numel():  # Newton cannot pin a minimum of q > 0: more warm-up steps there
            v[slow] = _adam(field, v[slow], _SLOW_POINT_STEPS, opt.lr, opt.adam_every,
                            torch.zeros_like(q[slow]), bar)
    return v


def find_fixed_points(
    net,
    u: Tensor | None,
    initial_states: Tensor,
    *,
    opt_steps: int = 100,
    lr: float | None = None,
    newton_steps: int = 50,
    check_every: int | None = None,
    tol: float | None = None,
    slow_points: float | None = None,
    dedup_tol: float | None = None,
    outlier_scale: float | None = 10.0,
    batch_size: int | None = None,
    cluster: bool | None = None,
    progress: bool = False,
    latent: bool | None = None,
) -> FixedPoints:
    r"""Fixed points v* (dv/dt = 0) of a network at constant input, from K initial states at once.

    Solves f(v) = (−v + F(h + Mv + b))/τ = 0 with h = W u: a warm-up on q = ½‖f‖², then Newton
    on cluster leaders and the chord iteration for the other states (see the module docstring).
    Every returned point has q ≤ ``tol``, every kept state is counted once (``counts.sum() ==
    (assignment >= 0).sum()``), and the same points come out with any thread count.

    Parameters
    ----------
    net : RateRNN, EIRateRNN, or any module with ``vector_field(v, h)``
        Not modified (no ``requires_grad`` change, no graph built through its parameters).
        Non-finite parameters raise ``ValueError``.
    u : Tensor, shape (I,), or None
        Constant input (``h = net.project_input(u)``; zeros for None). Must be finite.
    initial_states : Tensor, shape (K, N)
        Starting rates, e.g. from :func:`sample_states`; moved to the network's device/dtype.
        Starts with NaN/Inf are dropped with a warning (all of them: ``ValueError``).
    opt_steps : int
        Adam iterations on q before Newton (0: Newton only; saddles with small Newton basins
        may then be missed).
    lr : float, optional
        Adam step (rate units); default 2% of the robust spread of the finite starts
        (1.4826 × median absolute deviation), so extreme starts do not set it.
    newton_steps : int
        Maximum damped-Newton iterations per state.
    check_every : int, optional
        Iterations between host synchronisations (convergence checks): default 25 for Adam,
        2 for Newton (the active set is compacted at each check).
    tol : float, optional
        q below which a state is a fixed point; default ``½N(1000·eps·(1+‖v‖∞)/τ_min)²``.
    slow_points : float, optional
        Also return slow points: unconverged states with q ≤ ``slow_points`` (``converged`` False).
    dedup_tol : float, optional
        Distance below which two states are one point; default ``10·sqrt(eps)·(1 + max‖v*‖∞)``.
        Distances are exact (no ``cdist`` matrix-product cancellation) in any N and dtype.
    outlier_scale : float or None
        Flag states farther from the mean start than ``outlier_scale`` times the largest
        distance of a start from it (None: keep all); flagged states are reported in
        ``outliers`` with a warning, not returned as points.
    batch_size : int, optional
        Search the states in chunks of this many (None: all K at once). ``batch_size=1`` is the
        per-state loop (warm-up and Newton on every state).
    cluster : bool, optional
        Warm up and Newton only cluster leaders, and place the other states by the chord
        iteration (True), or warm up and Newton every state (False). Default: True for
        N ≥ 64, where the (K, N, N) factorisations dominate.
    progress : bool
        Show a progress bar (tqdm), updated only at synchronisation points.
    latent : bool, optional
        For a :class:`~torchrate.LowRankRateRNN` (the default there, None): the exact search in
        its r latent dimensions, :func:`~torchrate.analysis.lowrank.latent_fixed_points` (r × r
        Newton from κ = nᵀv/N of each start, eigenvalues from the r × r formula; ``newton_steps``
        and ``tol`` apply, the other options are those of the full-space search). ``False``: the
        full-space search on the formed M.

    Returns
    -------
    FixedPoints
        Unique points with residuals, Jacobians, eigenvalues, stability, kind and counts, and
        per start its point (``assignment``), final state and residual.

    Examples
    --------
    >>> import torchrate as tr
    >>> net = tr.RateRNN.from_weights(torch.tensor([[0.0, 2.0], [2.0, 0.0]]), tau=10.0, dt=1.0,
    ...                               nonlinearity="tanh")
    >>> fps = find_fixed_points(net, None, torch.randn(64, 2))
    >>> sorted(fps.kind)      # (0, 0) and ±(a, a) with a = tanh(2a)
    ['saddle', 'stable node', 'stable node']
    """
    if latent is None or latent:
        from ..networks import LowRankRateRNN  # networks builds on analysis' dependencies

        if isinstance(net, LowRankRateRNN):
            from .lowrank import latent_fixed_points

            return latent_fixed_points(net, u, initial_states, newton_steps=max(newton_steps, 100),
                                       tol=tol).to_fixed_points()
        if latent:
            raise TypeError(f"latent=True needs a torchrate.LowRankRateRNN, got {type(net).__name__}")
    with torch.no_grad():
        return _find(net, u, initial_states, opt_steps, lr, newton_steps, check_every, tol,
                     slow_points, dedup_tol, outlier_scale, batch_size, cluster, progress)


def _find(net, u, initial_states, opt_steps, lr, newton_steps, check_every, tol, slow_points,
          dedup_tol, outlier_scale, batch_size, cluster, progress) -> FixedPoints:
    """The body of :func:`find_fixed_points` (under ``torch.no_grad``)."""
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be a positive int or None, got {batch_size}")
    v0 = _resolve_net(net, initial_states)
    K, N = v0.shape
    field = VectorField(net, u, v0)
    if field.h.shape[-1] != N:
        raise ValueError(f"the input drive h = W u has {field.h.shape[-1]} entries, expected {N}")
    _check_finite(net, u, field)
    v = v0.clone()
    finite = _finite_starts(v0) if K else torch.zeros(0, dtype=torch.bool, device=v0.device)
    good = v0[finite]
    center = good.mean(0) if len(good) else v0.new_zeros(N)
    radius = (good - center).norm(dim=-1).max().item() if len(good) else 0.0
    spread = _robust_spread(good) if len(good) else 1.0
    opt = _Options(opt_steps, _LR_SCALE * spread if lr is None else lr, newton_steps,
                   check_every or 25, check_every or 2, tol, slow_points, dedup_tol,
                   N >= _CLUSTER_MIN_N if cluster is None else bool(cluster),
                   _RADIUS_SCALE * spread * math.sqrt(N), net)
    chunks = good.split(batch_size or max(len(good), 1))
    bar = _Progress(progress, len(chunks) * (opt_steps + newton_steps))
    try:
        if len(good):
            v[finite] = torch.cat([_search(field, c, opt, bar) for c in chunks])
    finally:
        bar.close()
    return _summarise(net, field, v, finite, tol, slow_points, dedup_tol, outlier_scale, center, radius)


def _summarise(net, field: VectorField, v: Tensor, finite: Tensor, tol, slow_points, dedup_tol,
               outlier_scale, center: Tensor, radius: float) -> FixedPoints:
    """Flag outliers, de-duplicate exactly and characterise the final states of a search."""
    K, N = v.shape
    eps = torch.finfo(v.dtype).eps
    q_all = field.q(v)
    q_tol = _default_tol(net, v) if tol is None else torch.full_like(q_all, tol)
    converged_all = (q_all <= q_tol) & finite
    kept = converged_all | (q_all <= slow_points) & finite if slow_points is not None else converged_all
    outliers = torch.zeros_like(kept)
    if outlier_scale is not None and radius > 0:
        outliers = kept & ((v - center).norm(dim=-1) > outlier_scale * radius)
        n_out = int(outliers.sum())
        if n_out:
            warnings.warn(f"{n_out} of {int(kept.sum())} converged states lie farther than "
                          f"outlier_scale={outlier_scale:g} × the radius of the initial states and "
                          "are reported in .outliers, not returned as points; pass "
                          "outlier_scale=None to keep them", stacklevel=4)
        kept = kept & ~outliers
    if K and not bool(converged_all.any()):  # an empty result is an answer, but say why it is empty
        q_min = q_all[finite].min().item() if bool(finite.any()) else math.nan
        warnings.warn(f"none of the {K} states converged to a fixed point (smallest q = ½‖dv/dt‖² = {q_min:.3g}): "
                      "there may be none near these starts (trajectories from them diverge, cycle or drift); "
                      "try other initial_states, or slow_points=q to see the slowest states", stacklevel=4)
    idx = kept.nonzero()[:, 0]
    vk, qk = v[idx], q_all[idx]
    if dedup_tol is None:
        dedup_tol = 10 * math.sqrt(eps) * (1 + (vk.abs().max().item() if len(vk) else 0.0))
    leaders, assign = _leaders(vk, qk.argsort(), dedup_tol)
    counts = torch.bincount(assign, minlength=len(leaders))
    # points sorted by residual: leaders come in q order, so this is already sorted
    points = vk[leaders]
    assignment = torch.full((K,), -1, dtype=torch.long, device=v.device)
    assignment[idx] = assign
    jac = field.jacobian(points) if len(points) else v.new_zeros(0, N, N)
    lam = torch.linalg.eigvals(jac) if len(points) else jac.new_zeros(0, N).to(
        torch.promote_types(v.dtype, torch.complex64))
    lam = sort_eigenvalues(lam)
    stable, kind = classify(lam)
    return FixedPoints(points, qk[leaders], jac, lam, stable, kind, converged_all[idx][leaders],
                       counts, assignment, v, q_all, outliers)
