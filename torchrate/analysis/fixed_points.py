r"""Batched fixed-point search: minimise q = ½‖dv/dt‖², then damped Newton (Sussillo & Barak 2013).

All K initial states are one batch on the network's device:

1. **Adam on q** (optional warm-up, ``opt_steps``): moves states towards fixed points and slow
   points; the gradient ``∇q = Jᵀ f`` is analytic for torchrate's networks.
2. **Damped Newton** ``d = −J⁻¹ f`` with a batched ``linalg.solve_ex`` and a backtracking
   line search on q (all step lengths ``2⁻ᵏ`` tried at once, the largest with
   ``q(v + αd) ≤ (1 − 2cα) q(v)`` taken; ``∇q·d = −2q`` makes ``d`` a descent direction).
   A state stops when its step is at rounding level, or when no step (or only one that lowers
   q by less than 1%) is found: J singular, or a slow point. Only still-moving states are
   iterated; the active set is compacted every ``check_every`` iterations, the only host
   synchronisations of the search.
3. **Post-processing**: keep states with q ≤ ``tol`` (and slow points with q ≤ ``slow_points``
   when asked), drop outliers far from the initial states, de-duplicate with one ``cdist``,
   then Jacobians, eigenvalues and a continuous-time classification (Re λ(J) < 0: stable).

The network is never modified: parameters are read detached, ``requires_grad`` untouched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

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
        Number of initial states that ended at each point.
    """

    points: Tensor
    residuals: Tensor
    jacobians: Tensor
    eigenvalues: Tensor
    stable: Tensor
    kind: list[str]
    converged: Tensor
    counts: Tensor

    def __len__(self) -> int:
        return self.points.shape[0]

    def __getitem__(self, index) -> FixedPoints:
        """Select points with an int, slice, index tensor or bool mask (P,)."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        idx = torch.arange(len(self), device=self.points.device)[index].reshape(-1)
        return FixedPoints(self.points[idx], self.residuals[idx], self.jacobians[idx],
                           self.eigenvalues[idx], self.stable[idx],
                           [self.kind[i] for i in idx.tolist()], self.converged[idx], self.counts[idx])

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


# ----------------------------------------------------------------------------- the search
# line-search step lengths 1, 1/2, …, 1/128: a shorter step lowers q by less than 1%,
# (1 − α)² > 0.99, which the search treats as no progress anyway
_ALPHAS = 2.0 ** -torch.arange(8)
_ARMIJO = 1e-4


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


def _adam(field: VectorField, v: Tensor, steps: int, lr: float, check_every: int, q_tol: Tensor,
          progress: _Progress) -> Tensor:
    """Adam on q(v) for all states at once (elementwise, so each state is optimised on its own)."""
    b1, b2, eps = 0.9, 0.999, 1e-8
    m, s = torch.zeros_like(v), torch.zeros_like(v)
    for it in range(1, steps + 1):
        q, g = field.q_and_grad(v)
        m.lerp_(g, 1 - b1)
        s.lerp_(g * g, 1 - b2)
        v = v - lr * (m / (1 - b1**it)) / ((s / (1 - b2**it)).sqrt() + eps)
        if it % check_every == 0 or it == steps:
            done = bool((q <= q_tol).all())  # the only host synchronisation, every check_every
            progress.update(check_every if it % check_every == 0 else it % check_every,
                            phase="adam", q_max=f"{q.max().item():.2e}")
            if done:
                break
    return v


# Jacobians are formed and factorised in chunks of at most this many bytes: on a CPU a chunk
# that stays in cache is formed ~5× faster than one (K, N, N) tensor (the LU costs the same);
# on a GPU the bound only caps memory.
_JACOBIAN_BYTES_CPU = 16 * 2**20
_JACOBIAN_BYTES_CUDA = 2 * 2**30


def _newton_direction(field: VectorField, v: Tensor, f: Tensor, chunk: int) -> tuple[Tensor, Tensor]:
    """d = −J⁻¹f and LAPACK's info (0: solved), Jacobians formed ``chunk`` states at a time."""
    if v.shape[0] <= chunk:
        return torch.linalg.solve_ex(field.jacobian(v), -f)
    parts = [torch.linalg.solve_ex(field.jacobian(vc), -fc) for vc, fc in zip(v.split(chunk), f.split(chunk))]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def _newton(field: VectorField, v: Tensor, max_steps: int, check_every: int, step_tol: float,
            progress: _Progress) -> Tensor:
    """Batched damped Newton on f(v) = 0; returns the refined states."""
    v = v.clone()
    N = v.shape[-1]
    budget = _JACOBIAN_BYTES_CUDA if v.device.type == "cuda" else _JACOBIAN_BYTES_CPU
    chunk = max(1, budget // (N * N * v.element_size()))
    active = torch.arange(v.shape[0], device=v.device)
    alphas = _ALPHAS.to(dtype=v.dtype, device=v.device)
    done_steps = 0
    while done_steps < max_steps and active.numel():
        va = v[active]
        done = torch.zeros(va.shape[0], dtype=torch.bool, device=v.device)
        for _ in range(min(check_every, max_steps - done_steps)):
            f = field(va)
            q0 = 0.5 * f.square().sum(-1)
            d, info = _newton_direction(field, va, f, chunk)
            ok = (info == 0) & torch.isfinite(d).all(-1)
            d = torch.where(ok[:, None], d, torch.zeros_like(d))
            trial = va + alphas[:, None, None] * d  # (L, K, N)
            q_trial = field.q(trial)  # (L, K)
            accept = q_trial <= q0 * (1 - 2 * _ARMIJO * alphas[:, None])
            first = accept.to(torch.uint8).argmax(0)  # largest accepted step
            moved = accept.any(0) & ok & ~done
            step = torch.where(moved[:, None], alphas[first][:, None] * d, torch.zeros_like(d))
            va = va + step
            small = step.abs().amax(-1) <= step_tol * (1 + va.abs().amax(-1))
            # less than 1% decrease of q is no longer Newton-like progress (singular J, slow point)
            crawling = q_trial.gather(0, first[None])[0] > 0.99 * q0
            done = done | ~moved | small | crawling
            done_steps += 1
        v[active] = va
        active = active[~done]  # host synchronisation: compact the active set
        progress.update(min(check_every, max_steps), phase="newton", active=active.numel())
    return v


def _search(net, field: VectorField, v: Tensor, opt_steps: int, lr: float, newton_steps: int,
            check_every: int | None, tol: float | None, bar: _Progress) -> Tensor:
    """Adam on q, then damped Newton, for one batch of states (K, N)."""
    if opt_steps > 0:
        q_tol = _default_tol(net, v) if tol is None else torch.full_like(v[:, 0], tol)
        v = _adam(field, v, opt_steps, lr, check_every or 50, q_tol, bar)
    if newton_steps > 0:
        v = _newton(field, v, newton_steps, check_every or 2, 4 * torch.finfo(v.dtype).eps, bar)
    return v


def _dedup(points: Tensor, q: Tensor, tol: float) -> tuple[Tensor, Tensor]:
    """Indices of unique points (lowest q first) and, per input point, its representative."""
    order = q.argsort()
    if len(order) == 0:
        return order, order
    p = points[order]
    close = torch.cdist(p, p) <= tol  # (P, P)
    # representative of i: the first (lowest-q) point within tol of it
    rep_sorted = close.to(torch.uint8).argmax(1)
    keep = rep_sorted == torch.arange(len(p), device=p.device)
    rep = torch.empty_like(order)
    rep[order] = order[rep_sorted]
    return order[keep], rep


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


def _default_tol(net, v: Tensor) -> Tensor:
    """q ≤ ½ N (1000 eps (1 + ‖v‖∞)/τ_min)²: dv/dt within ~1000 rounding errors of 0."""
    tau = getattr(net, "tau", None)
    tau_min = torch.as_tensor(tau).min().item() if tau is not None else 1.0
    scale = 1e3 * torch.finfo(v.dtype).eps * (1 + v.abs().amax(-1)) / tau_min
    return 0.5 * v.shape[-1] * scale.square()


@torch.no_grad()
def find_fixed_points(
    net,
    u: Tensor | None,
    initial_states: Tensor,
    *,
    opt_steps: int = 200,
    lr: float | None = None,
    newton_steps: int = 50,
    check_every: int | None = None,
    tol: float | None = None,
    slow_points: float | None = None,
    dedup_tol: float | None = None,
    outlier_scale: float | None = 10.0,
    batch_size: int | None = None,
    progress: bool = False,
) -> FixedPoints:
    r"""Fixed points v* (dv/dt = 0) of a network at constant input, from K initial states at once.

    Parameters
    ----------
    net : RateRNN, EIRateRNN, or any module with ``vector_field(v, h)``
        Not modified (no ``requires_grad`` change, no graph built through its parameters).
    u : Tensor, shape (I,), or None
        Constant input (``h = net.project_input(u)``; zeros for None).
    initial_states : Tensor, shape (K, N)
        Starting rates, e.g. from :func:`sample_states`; moved to the network's device/dtype.
    opt_steps : int
        Adam iterations on q = ½‖dv/dt‖² before Newton (0: Newton only).
    lr : float, optional
        Adam step (rate units); default 1% of the spread of the initial states (at least 1e-3).
    newton_steps : int
        Maximum damped-Newton iterations.
    check_every : int, optional
        Iterations between host synchronisations (convergence checks): default 50 for Adam,
        2 for Newton (the active set is compacted at each check).
    tol : float, optional
        q below which a state is a fixed point; default ``½N(1000·eps·(1+‖v‖∞)/τ_min)²``.
    slow_points : float, optional
        Also return slow points: unconverged states with q ≤ ``slow_points`` (``converged`` False).
    dedup_tol : float, optional
        Distance below which two points are one; default ``10·sqrt(eps)·(1 + max‖v*‖∞)``.
    outlier_scale : float or None
        Drop points farther from the mean initial state than ``outlier_scale`` times the largest
        distance of an initial state from it (None: keep all).
    batch_size : int, optional
        Search the states in chunks of this many (None: all K at once). Bounds the memory of
        the (K, N, N) Jacobians for large N; ``batch_size=1`` is the per-state loop.
    progress : bool
        Show a progress bar (tqdm), updated only at synchronisation points.

    Returns
    -------
    FixedPoints
        Unique points with residuals, Jacobians, eigenvalues, stability and kind.

    Examples
    --------
    >>> import torchrate as tr
    >>> net = tr.RateRNN.from_weights(torch.tensor([[0.0, 2.0], [2.0, 0.0]]), tau=10.0, dt=1.0,
    ...                               nonlinearity="tanh")
    >>> fps = find_fixed_points(net, None, torch.randn(64, 2))
    >>> sorted(fps.kind)      # (0, 0) and ±(a, a) with a = tanh(2a)
    ['saddle', 'stable node', 'stable node']
    """
    v = _resolve_net(net, initial_states)
    K, N = v.shape
    field = VectorField(net, u, v)
    if field.h.shape[-1] != N:
        raise ValueError(f"the input drive h = W u has {field.h.shape[-1]} entries, expected {N}")
    center = v.mean(0)
    radius = (v - center).norm(dim=-1).max().item() if K else 0.0
    if lr is None:
        lr = max(1e-2 * v.std().item() if K > 1 else 0.0, 1e-3)
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be a positive int or None, got {batch_size}")
    chunks = v.split(batch_size or max(K, 1))
    bar = _Progress(progress, len(chunks) * (opt_steps + newton_steps))
    try:
        v = torch.cat([_search(net, field, c, opt_steps, lr, newton_steps, check_every, tol, bar)
                       for c in chunks]) if K else v
    finally:
        bar.close()
    return _summarise(net, field, v, tol, slow_points, dedup_tol, outlier_scale, center, radius)


def _summarise(net, field: VectorField, v: Tensor, tol, slow_points, dedup_tol, outlier_scale,
               center: Tensor, radius: float) -> FixedPoints:
    """Filter, de-duplicate and characterise the final states of a search."""
    eps = torch.finfo(v.dtype).eps
    q = field.q(v)
    q_tol = _default_tol(net, v) if tol is None else torch.full_like(q, tol)
    converged = q <= q_tol
    keep = converged | (q <= slow_points) if slow_points is not None else converged.clone()
    keep &= torch.isfinite(v).all(-1)
    if outlier_scale is not None and radius > 0:
        keep &= (v - center).norm(dim=-1) <= outlier_scale * radius
    v, q, converged = v[keep], q[keep], converged[keep]
    if dedup_tol is None:
        dedup_tol = 10 * math.sqrt(eps) * (1 + (v.abs().max().item() if len(v) else 0.0))
    unique, rep = _dedup(v, q, dedup_tol)
    counts = torch.zeros(len(v), dtype=torch.long, device=v.device).index_add_(
        0, rep, torch.ones_like(rep))[unique]
    points = v[unique]
    jac = field.jacobian(points) if len(points) else v.new_zeros(0, v.shape[-1], v.shape[-1])
    lam = torch.linalg.eigvals(jac) if len(points) else jac.new_zeros(0, v.shape[-1]).to(
        torch.promote_types(v.dtype, torch.complex64))
    lam = sort_eigenvalues(lam)
    stable, kind = classify(lam)
    return FixedPoints(points, q[unique], jac, lam, stable, kind, converged[unique], counts)
