r"""Bifurcation diagrams: every branch of fixed points followed across a parameter, folds and
Hopf points located by Newton on the extended systems.

The fixed points of τ dv/dt = −v + F(h + Mv + b) form curves in (v, p) space as a parameter p
varies (an input amplitude, a coherence, a time constant): the zeros of f(v, p) = dv/dt.
:func:`bifurcation` follows each curve by **pseudo-arclength continuation** (Keller 1977) in
the full N-dimensional space:

1. **Seeds.** :func:`~torchrate.analysis.find_fixed_points` at the first value and at a coarse
   set of values (``seeds``); a seed that does not lie on a branch already followed starts a new
   one, so isolated branches (isolas, the far side of an S) are found too.
2. **Predictor.** With z = (v/L, (p − p₀)/P) (``L``, ``P``: scales that make the parameter range
   one unit), the tangent t solves the bordered system [∂f/∂z; t_prevᵀ] t = [0; 1], with the
   analytic Jacobian J = (diag F′ M − I)/τ and ∂f/∂p from ``torch.func.jvp``. Step z + Δs·t.
3. **Corrector.** Newton on f(z) = 0, tᵀ(z − z_pred) = 0 — regular at folds, where J alone is
   singular, so the branch goes round them. Steps grow after easy corrections and halve after
   slow or failed ones, or when the tangent turns by more than ``max_turn``.
4. **Detection** along each branch: a **fold** (saddle-node) where the tangent's p-component
   changes sign (the branch turns back in p; a real eigenvalue of J crosses 0), a **Hopf** point
   where the largest real part among complex eigenvalues changes sign.
5. **Refinement** by Newton on the extended systems, with their Jacobians from ``torch.func``:

   * fold: f(v, p) = 0, J(v, p) w = 0, cᵀw = 1 (unknowns v, w, p: 2N + 1);
   * Hopf: f = 0, J a + ω b = 0, J b − ω a = 0, cᵀa = 1, cᵀb = 0 (v, a, b, ω, p: 3N + 2),
     i.e. J(a + ib) = iω(a + ib);

   both regular at a generic fold / Hopf point, so they converge quadratically, to rounding
   level in p (|Δp| ≤ 1e-13·max(1, |p|) in float64).

Walkers (the two directions from each seed) are batched; the network's dtype and device are used
throughout (float64 for 1e-10 accuracy). Stability along a branch changes only at the detected
points, which :meth:`Bifurcation.at` uses to report points and stability at any value without an
eigen-decomposition.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast, overload

import torch
from torch import Tensor
from torch.func import jacfwd, jvp

from .. import _validate
from ..nonlinearities import Nonlinearity
from ..systems import RateSystem, System, as_system
from . import _search
from ._progress import Progress
from .fixed_points import find_fixed_points
from .stability import classify, sort_eigenvalues

_Num = TypeVar("_Num", float, Tensor)  # the Hermite formulas on numbers or on tensors

__all__ = ["Bifurcation", "Branch", "Fold", "Hopf", "bifurcation"]


# ============================================================================ results
@dataclass
class Branch:
    """One branch of fixed points, in the order continuation traced it.

    Attributes
    ----------
    values : Tensor, shape (S,)
        Parameter value at each point (not monotonic where the branch turns at a fold).
    points : Tensor, shape (S, N)
        Rates v* with f(v*, p) = 0.
    eigenvalues : Tensor, shape (S, N), complex
        Of J = ∂f/∂v there, by decreasing real part.
    stable : Tensor, shape (S,), bool
        All Re λ < 0.
    tangents : Tensor, shape (S, N + 1)
        Unit tangent in the scaled coordinates (v/L, (p − p₀)/P); its last entry changes sign at
        each fold.
    closed : bool
        True for an isola traced all the way round (first point = last point).
    """

    values: Tensor
    points: Tensor
    eigenvalues: Tensor
    stable: Tensor
    tangents: Tensor
    closed: bool = False

    def __len__(self) -> int:
        return self.values.shape[0]

    def __repr__(self) -> str:
        lo, hi = self.values.min().item(), self.values.max().item()
        return (
            f"Branch({len(self)} points, p in [{lo:.6g}, {hi:.6g}], "
            f"{int(self.stable.sum())} stable{', closed' if self.closed else ''})"
        )


@dataclass
class Fold:
    """A fold (saddle-node) point: f = 0 and J w = 0 with one real eigenvalue 0.

    Attributes
    ----------
    value : float
        Parameter value.
    point : Tensor, shape (N,)
    eigenvector : Tensor, shape (N,)
        w with J w = 0, ‖w‖ = 1.
    branch : int
        Index into :attr:`Bifurcation.branches`.
    index : int
        Its position in the branch: refined folds and Hopf points are inserted into the branch
        (``branch.points[index]`` is ``point``), so no segment of a branch contains a turn.
    refined : bool
        Newton on the extended system converged (else ``value`` and ``point`` are the
        continuation's estimate, and a warning was raised).
    """

    value: float
    point: Tensor
    eigenvector: Tensor
    branch: int
    index: int
    refined: bool


@dataclass
class Hopf:
    """A Hopf point: f = 0 and a complex pair ±iω of J on the imaginary axis.

    Attributes
    ----------
    value : float
    point : Tensor, shape (N,)
    eigenvector : Tensor, shape (N,), complex
        q = a + ib with J q = iω q, ‖q‖ = 1.
    frequency : float
        ω (rad per ms); the period of the emerging oscillation is 2π/ω ms.
    branch, index, refined
        As for :class:`Fold`.
    """

    value: float
    point: Tensor
    eigenvector: Tensor
    frequency: float
    branch: int
    index: int
    refined: bool


@dataclass
class Slice:
    """The fixed points of all branches at one parameter value (:meth:`Bifurcation.at`).

    ``points`` (P, N), ``stable`` (P,) bool and ``branch`` (P,) long, the branch each lies on.
    """

    value: float
    points: Tensor
    stable: Tensor
    branch: Tensor

    def __len__(self) -> int:
        return self.points.shape[0]


@dataclass
class Bifurcation:
    """Result of :func:`bifurcation`.

    Attributes
    ----------
    values : Tensor, shape (S,)
        The requested parameter values (float64, CPU); branches span ``[min, max]``.
    branches : list of Branch
    folds : list of Fold
    hopf : list of Hopf
    scale : tuple of float
        (L, P): the rate and parameter scales of the arclength.
    """

    values: Tensor
    branches: list[Branch]
    folds: list[Fold]
    hopf: list[Hopf]
    scale: tuple[float, float]
    _family: _Family = field(repr=False)

    @property
    def time(self) -> str:
        """The system's time ("continuous" or "discrete"), which sets ``stable`` along branches."""
        return self._family.time

    def __repr__(self) -> str:
        return (
            f"Bifurcation({len(self.branches)} branches, {len(self.folds)} folds at "
            f"{[round(f.value, 6) for f in self.folds]}, {len(self.hopf)} Hopf at "
            f"{[round(h.value, 6) for h in self.hopf]})"
        )

    @overload
    def at(self, value: float) -> Slice: ...
    @overload
    def at(self, value: Sequence[float]) -> list[Slice]: ...
    @overload
    def at(self, value: float | Sequence[float] | Tensor) -> Slice | list[Slice]: ...
    def at(self, value: float | Sequence[float] | Tensor) -> Slice | list[Slice]:
        """The fixed points on every branch at ``value`` (a float, or a sequence: one Slice each).

        Each crossing of a branch with p = ``value`` is interpolated (cubic Hermite in the
        arclength, with the stored tangents) and corrected by Newton at fixed p, all crossings at
        all values in one batch; the stability is that of the branch segment (it changes only at
        the folds and Hopf points). A value outside ``[min, max]`` of :attr:`values`, where no
        branch was followed, is a ``ValueError`` naming the range.
        """
        if isinstance(value, (str, bytes)):
            raise TypeError(f"value must be a number or a sequence of numbers, got {value!r} (str)")
        single = not isinstance(value, (Sequence, Tensor)) or (isinstance(value, Tensor) and value.ndim == 0)
        if not isinstance(value, (Sequence, Tensor)) or single:
            vals = [_validate.as_float("value", value)]
        else:
            vals = [_validate.as_float(f"value[{i}]", x) for i, x in enumerate(value)]
        lo, hi = self.values.min().item(), self.values.max().item()
        out = [x for x in vals if not lo <= x <= hi]
        if out:
            raise ValueError(
                f"value must lie within [min(values), max(values)] = [{lo:g}, {hi:g}], where the "
                f"branches were followed, got {out[0]:g}; run bifurcation over a range that holds it"
            )
        slices = _slices(self, vals)
        return slices[0] if single else slices


# ============================================================================ the family f(v, p)
class _Family:
    """f(v, p) for ``system(value) -> (net, u)``.

    Analytic (torchrate's rate networks with a named F, whose M, b, τ and h = Wu depend on p
    affinely — an input amplitude, a τ — checked at three values to rounding): f, J and ∂f/∂p
    are evaluated for any batch of (v, p) without calling ``system`` again, and p can be a
    tensor that ``torch.func`` differentiates. Otherwise ``system`` is called at each p (cached)
    and ∂f/∂p is a central difference.
    """

    def __init__(self, system: Callable[[float], object], p_lo: float, p_hi: float) -> None:
        self.system = system
        self._cache: dict[float, tuple[System, Tensor]] = {}
        sys0, u = self._call(p_lo)
        if sys0.dtype is None:
            raise TypeError(
                f"system({p_lo:g}) returned a network without floating-point parameters; "
                "bifurcation needs a network or a Flow/Map with a dtype"
            )
        self.dtype, self.device = sys0.dtype, sys0.device
        self.time = sys0.time
        self.N = int(cast(int, sys0.state_size))  # not None: _call refuses a system of unknown size
        self.p0 = p_lo
        self.analytic = False
        params = [self._params(*self._call(p)) for p in (p_lo, p_hi, p_lo + 0.3819660112501051 * (p_hi - p_lo))]
        p0, p1, p2 = params
        if (
            p0 is not None
            and p1 is not None
            and p2 is not None
            and p_hi > p_lo
            and len({q[1].name for q in (p0, p1, p2)}) == 1
        ):
            (a, F), (b, _), (m, _) = p0, p1, p2
            dp = p_hi - p_lo
            slope = {k: (b[k] - a[k]) / dp for k in a}
            affine = all(
                (
                    (a[k] + slope[k] * (0.3819660112501051 * dp) - m[k]).abs().max()
                    <= 1e-11 * (a[k].abs().max() + b[k].abs().max() + 1e-300)
                ).item()
                for k in a
            )
            if affine and F.derivative_from_output is not None:  # (always: an analytic rate system's F)
                self.analytic, self.F, self._slope = True, F, F.derivative_from_output
                self.P0 = a
                self.dP = {k: v if (v != 0).any() else None for k, v in slope.items()}
                self.I = torch.eye(self.N, dtype=self.dtype, device=self.device)

    # ---------------------------------------------------------------- construction
    def _call(self, p: float) -> tuple[System, Tensor]:
        """(system, u) at p, u a tensor (I,) (zeros for None); cached for the last 16 values."""
        p = float(p)
        if p in self._cache:
            return self._cache[p]
        out = self.system(p)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(
                f"system({p:g}) must return (net, u), got {type(out).__name__}; e.g. "
                "system=lambda c: (net, torch.tensor([0.0, (1 + c) / 2, (1 - c) / 2]))"
            )
        net, u = out
        try:
            sys_ = as_system(net)
        except TypeError as e:
            raise TypeError(
                f"system({p:g}) returned {type(net).__name__} as the network; it must return (net, u) "
                "with a RateRNN, EIRateRNN, torch RNN, Flow/Map or a module with vector_field(v, h) "
                f"({e})"
            ) from None
        if getattr(self, "N", None) is not None and sys_.state_size != self.N:
            raise ValueError(
                f"system({p:g}) returned a system of {sys_.state_size} units, but system({self.p0:g}) "
                f"had {self.N}: the state size must not change with the parameter"
            )
        if sys_.state_size is None:
            raise TypeError(
                f"system({p:g}) returned a system of unknown size: give a torchrate.systems.Flow or Map "
                "with state_size and input_size"
            )
        I = sys_.input_size if sys_.input_size is not None else sys_.state_size
        kw = _validate.Factory(dtype=sys_.dtype or torch.get_default_dtype(), device=sys_.device)
        u_p = torch.zeros(I, **kw) if u is None else _validate.check_vector("u", u, I, what="input", **kw)
        if len(self._cache) > 16:
            self._cache.pop(next(iter(self._cache)))
        self._cache[p] = (sys_, u_p)
        return sys_, u_p

    @staticmethod
    def _params(system: System, u: Tensor) -> tuple[dict[str, Tensor], Nonlinearity] | None:
        """(dict of h, M, b, τ′ as (N,)/(N, N) tensors, F) for an analytic rate system, else None
        (τ′: the residual's time constant, τ for a flow and τ/dt for an Euler map)."""
        if not isinstance(system, RateSystem) or not system.analytic:
            return None
        with torch.no_grad():
            M = system.M.detach()
            h = system.drive(u).detach()
            b = torch.zeros_like(h) if system.b is None else system.b.detach()
            tau = system.residual_tau().detach().expand(M.shape[0])
        return {"h": h, "M": M, "b": b, "tau": tau}, system.F

    # ---------------------------------------------------------------- evaluation
    def _x_tau(self, v: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
        """Pre-activation x (…, N) and τ (…, N) at states v (…, N), parameters p (…)."""
        P0, dP = self.P0, self.dP
        d = (p.to(self.dtype) - self.p0)[..., None]  # p may come float64 (Branch.values): keep the system's dtype
        x = P0["h"] + P0["b"] + v @ P0["M"].T
        for key in ("h", "b"):
            if (dk := dP[key]) is not None:
                x = x + d * dk
        if (dM := dP["M"]) is not None:
            x = x + d * (v @ dM.T)
        tau = P0["tau"] if (dtau := dP["tau"]) is None else P0["tau"] + d * dtau
        return x, tau

    def f(self, v: Tensor, p: Tensor) -> Tensor:
        """The residual g (dv/dt of a flow, F(v) − v of a map) at v (K, N), p (K,)."""
        if self.analytic:
            x, tau = self._x_tau(v, p)
            return (self.F(x) - v) / tau
        return torch.stack([self._generic(float(pk))[0](vk) for vk, pk in zip(v, p)])

    def _generic(self, p: float) -> tuple[Callable[[Tensor], Tensor], System]:
        """(v (N,) ↦ the residual g at p, the system at p), differentiable in v."""
        sys_, u = self._call(p)
        field_ = sys_.at(u)
        return (lambda x: field_.g(x[None])[0]), sys_

    def jacobian(self, v: Tensor, p: Tensor) -> Tensor:
        """J = ∂g/∂v (K, N, N) (for a map, its Jacobian minus I)."""
        if self.analytic:
            x, tau = self._x_tau(v, p)
            slope = self._slope(self.F(x))
            M = (
                self.P0["M"]
                if (dM := self.dP["M"]) is None
                else self.P0["M"] + (p.to(self.dtype) - self.p0)[:, None, None] * dM
            )
            return (slope[..., None] * M - self.I) / tau[..., None]
        return torch.stack([jacfwd(self._generic(float(pk))[0])(vk) for vk, pk in zip(v, p)])

    def f_and_fp(self, v: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
        """f and ∂f/∂p (K, N): in closed form (analytic family; ``torch.func.jvp`` of :meth:`f` in p
        gives the same, tested), else central differences."""
        if self.analytic:  # ∂f/∂p = (F′(x) ⊙ ∂x/∂p − f ⊙ ∂τ/∂p)/τ, the forward-mode rule written out
            x, tau = self._x_tau(v, p)
            y = self.F(x)
            f = (y - v) / tau
            dx = torch.zeros_like(x)
            for key in ("h", "b"):
                if (dk := self.dP[key]) is not None:
                    dx = dx + dk
            if (dM := self.dP["M"]) is not None:
                dx = dx + v @ dM.T
            fp = self._slope(y) * dx
            if (dtau := self.dP["tau"]) is not None:
                fp = fp - f * dtau
            return f, fp / tau
        f = self.f(v, p)
        delta = (6e-6 if self.dtype == torch.float64 else 5e-3) * torch.clamp(p.abs(), min=1.0)
        return f, (self.f(v, p + delta) - self.f(v, p - delta)) / (2 * delta[:, None])


# ============================================================================ small linear algebra
def _solve(A: Tensor, b: Tensor) -> Tensor:
    """Batched solve of A x = b (b (K, n)); NaN rows where A is singular. The fixed-point search's
    solver (:func:`._search._solve`): one matrix at a time on a multi-threaded CPU above n = 128,
    where MKL's batched LU returns invalid pivots or hangs, and checked there."""
    x, ok = _search._solve(A, b)
    return torch.where(ok[:, None], x, torch.full_like(x, math.nan))


def _bordered(A: Tensor, row: Tensor) -> Tensor:
    """[[A], [row]] (K, n + 1, n + 1) for A (K, n, n + 1), row (K, n + 1)."""
    return torch.cat([A, row[:, None, :]], 1)


def _unit(t: Tensor) -> Tensor:
    return t / t.norm(dim=-1, keepdim=True)


# ============================================================================ continuation
@dataclass
class _Options:
    max_step: float = 0.1
    min_step: float = 1e-9
    first_step: float = 0.01
    max_turn: float = 0.25  # radians
    newton_iters: int = 8
    max_points: int = 5000
    progress: bool | None = None


class _Tracer:
    """Batched pseudo-arclength continuation in z = (v/L, (p − p₀)/P)."""

    def __init__(self, fam: _Family, L: float, P: float, lo: float, hi: float, opt: _Options) -> None:
        self.fam, self.L, self.P, self.lo, self.hi, self.opt = fam, L, P, lo, hi, opt
        eps = torch.finfo(fam.dtype).eps
        self.ztol = 1e4 * eps
        self.s_hi = (hi - lo) / P

    def p_of(self, s: Tensor) -> Tensor:
        return self.lo + self.P * s

    def system(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """f (K, N) and [∂f/∂y, ∂f/∂s] (K, N, N + 1) at z (K, N + 1)."""
        v, p = z[:, :-1] * self.L, self.p_of(z[:, -1])
        f, fp = self.fam.f_and_fp(v, p)
        J = self.fam.jacobian(v, p)
        return f, torch.cat([J * self.L, (fp * self.P)[..., None]], -1)

    def tangent(self, z: Tensor, previous: Tensor) -> Tensor:
        _, A = self.system(z)
        rhs = torch.zeros_like(z)
        rhs[:, -1] = 1
        return _unit(_solve(_bordered(A, previous), rhs))

    def correct(self, z_pred: Tensor, t: Tensor, fixed_s: bool = False) -> tuple[Tensor, Tensor, Tensor]:
        """Newton on [f(z); tᵀ(z − z_pred)] = 0 (or s = s_pred with ``fixed_s``).

        Returns z (K, N + 1), converged (K,) bool and iterations used (K,)."""
        z = z_pred.clone()
        K = z.shape[0]
        done = torch.zeros(K, dtype=torch.bool, device=z.device)
        iters = torch.zeros(K, dtype=torch.long, device=z.device)
        row = (
            t
            if not fixed_s
            else torch.nn.functional.one_hot(torch.full((K,), z.shape[1] - 1, device=z.device), z.shape[1]).to(z.dtype)
        )
        f_scale = self._f_scale()
        for _ in range(self.opt.newton_iters):
            act = (~done).nonzero().squeeze(1)
            if act.numel() == 0:
                break
            za = z[act]
            f, A = self.system(za)
            rhs = torch.cat([-f, -(row[act] * (za - z_pred[act])).sum(-1, keepdim=True)], -1)
            dz = _solve(_bordered(A, row[act]), rhs)
            za = za + dz
            z[act] = za
            iters[act] += 1
            small = dz.abs().amax(-1) <= self.ztol * (1 + za.abs().amax(-1))
            bad = ~torch.isfinite(dz).all(-1)
            if small.any():
                fa = self.fam.f(za[:, :-1] * self.L, self.p_of(za[:, -1])).abs().amax(-1)
                small &= fa <= f_scale
            done[act[small]] = True
            if bad.all():
                break
        return z, done, iters

    def _f_scale(self) -> float:
        if not hasattr(self, "_fs"):
            eps = torch.finfo(self.fam.dtype).eps
            self._fs = 1e4 * eps * max(1.0, self.L)
        return self._fs

    def run(self, seeds: Tensor, progress: Callable[[int], None]) -> list[tuple[Tensor, Tensor, bool]]:
        """Follow each seed (B, N + 1) both ways; returns per seed (z (S, N + 1), t (S, N + 1), closed)."""
        opt = self.opt
        B = seeds.shape[0]
        z0 = seeds.repeat(2, 1)  # walkers 0..B-1 forward (+p), B..2B-1 backward
        K = 2 * B
        e_s = torch.zeros_like(z0)
        e_s[:, -1] = torch.cat([torch.ones(B), -torch.ones(B)]).to(z0)
        t = self.tangent(z0, e_s)
        if not torch.isfinite(t).all():  # the seed sits on a fold (p-direction singular): any direction
            t = torch.where(torch.isfinite(t), t, _unit(torch.ones_like(z0)))
        paths = [[z0[k].clone()] for k in range(K)]
        tans = [[t[k].clone()] for k in range(K)]
        z, ds = z0.clone(), torch.full((K,), opt.first_step, dtype=z0.dtype, device=z0.device)
        alive = torch.ones(K, dtype=torch.bool)
        closed = torch.zeros(K, dtype=torch.bool)
        travelled = torch.zeros(K, dtype=z0.dtype, device=z0.device)
        cos_turn = math.cos(opt.max_turn)
        while alive.any():
            act = alive.nonzero().squeeze(1).to(z.device)
            za, ta, da = z[act], t[act], ds[act]
            zn, ok, iters = self.correct(za + da[:, None] * ta, ta)
            tn = self.tangent(zn, ta)
            ok &= torch.isfinite(tn).all(-1) & ((tn * ta).sum(-1) >= cos_turn)
            for j, k in enumerate(act.tolist()):
                if not bool(ok[j]):
                    ds[k] = da[j] / 2
                    if ds[k] < opt.min_step:
                        alive[k] = False
                        p = self.p_of(za[j, -1]).item()
                        warnings.warn(
                            f"bifurcation: continuation lost a branch at p = {p:.6g} (step below "
                            f"min_step = {opt.min_step:g}); the diagram ends there",
                            stacklevel=4,
                        )
                    continue
                znk, tnk = zn[j], tn[j]
                s = znk[-1].item()
                if s < 0 or s > self.s_hi:  # left the parameter range: land on its edge
                    edge = 0.0 if s < 0 else self.s_hi
                    zl, tl = self._land(za[j], znk, ta[j], tnk, edge)
                    if zl is not None and (zl - za[j]).abs().max() > self.ztol * (1 + za[j].abs().max()):
                        paths[k].append(zl)
                        tans[k].append(tl)
                    alive[k] = False
                    continue
                travelled[k] += da[j]
                paths[k].append(znk)
                tans[k].append(tnk)
                z[k], t[k] = znk, tnk
                if travelled[k] > 3 * da[j] and (znk - z0[k]).norm() < 0.5 * da[j] and (tnk * tans[k][0]).sum() > 0:
                    alive[k], closed[k] = False, True  # back at the seed: an isola
                    paths[k][-1] = z0[k].clone()
                    tans[k][-1] = tans[k][0].clone()
                    alive[k % B + (B if k < B else 0)] = False  # the other direction has nothing left
                    continue
                if iters[j] <= 3:  # the last iteration only confirms convergence
                    ds[k] = min(da[j].item() * 1.6, opt.max_step)
                elif iters[j] >= 6:
                    ds[k] = da[j] * 0.6
                if len(paths[k]) >= opt.max_points:
                    alive[k] = False
                    warnings.warn(
                        f"bifurcation: a branch reached max_points = {opt.max_points} and was cut "
                        f"at p = {self.p_of(znk[-1]).item():.6g}",
                        stacklevel=4,
                    )
            progress(sum(len(pth) for pth in paths))
        out = []
        for b in range(B):
            fwd, bwd = paths[b], paths[B + b]
            tf, tb = tans[b], tans[B + b]
            if closed[b] or closed[B + b]:
                zs = fwd if closed[b] else bwd[::-1]
                ts = tf if closed[b] else [-x for x in tb[::-1]]
                out.append((torch.stack(zs), torch.stack(ts), True))
                continue
            zs = bwd[::-1] + fwd[1:]
            ts = [-x for x in tb[::-1]] + tf[1:]
            out.append((torch.stack(zs), torch.stack(ts), False))
        return out

    def _land(self, za: Tensor, zb: Tensor, ta: Tensor, tb: Tensor, edge: float) -> tuple[Tensor | None, Tensor | None]:
        """The branch point at s = ``edge`` between za (inside) and zb (outside)."""
        w = (edge - za[-1]) / (zb[-1] - za[-1])
        guess = (za + w * (zb - za))[None]
        guess[:, -1] = edge
        z, ok, _ = self.correct(guess, ta[None], fixed_s=True)
        if not bool(ok[0]):
            return None, None
        return z[0], _unit(ta + w * (tb - ta))


# ============================================================================ extended systems
def _newton(
    G: Callable[[Tensor], Tensor], y: Tensor, jac: Callable[[Tensor], Tensor], p_index: int, max_iter: int = 40
) -> tuple[Tensor, bool]:
    """Newton on G(y) = 0 until |Δp| ≤ 1e-13·max(1, |p|) (float64; √eps-scaled otherwise)."""
    eps = torch.finfo(y.dtype).eps
    ptol = 500 * eps
    gtol = None
    for _ in range(max_iter):
        g = G(y)
        if gtol is None:
            gtol = 1e3 * eps * (1 + g.abs().max().item())
        A = jac(y)
        dy, info = torch.linalg.solve_ex(A, -g)
        if info.item() != 0 or not torch.isfinite(dy).all():
            # a singular extended Jacobian (e.g. a ReLU unit at its kink): not refined, reported as such
            return y, False
        y = y + dy
        if abs(dy[p_index].item()) <= ptol * max(1.0, abs(y[p_index].item())) and dy.abs().max().item() <= 1e3 * eps * (
            1 + y.abs().max().item()
        ):
            return y, bool(G(y).abs().max().item() <= gtol * 10)
    return y, False


def _jac_ext(fam: _Family, G: Callable[[Tensor], Tensor], y: Tensor) -> Tensor:
    """∂G/∂y: ``torch.func.jacfwd`` over all of y (analytic family), or over the state part with
    a central difference in p (the last entry)."""
    if fam.analytic:
        return jacfwd(G)(y)
    head = jacfwd(lambda a: G(torch.cat([a, y[-1:]])))(y[:-1])
    d = 6e-6 * max(1.0, abs(y[-1].item()))
    e = torch.zeros_like(y)
    e[-1] = d
    return torch.cat([head, ((G(y + e) - G(y - e)) / (2 * d))[:, None]], 1)


def _fv(fam: _Family, v: Tensor, p: Tensor) -> Tensor:
    """f at one state (N,), p 0-d (differentiable in v, and in p for analytic families)."""
    if fam.analytic:
        return fam.f(v[None], p[None])[0]
    return fam._generic(float(p))[0](v)


def _refine_fold(fam: _Family, v: Tensor, p: float, w: Tensor) -> tuple[float, Tensor, Tensor, bool]:
    """Newton on f = 0, J w = 0, cᵀw = 1 from (v, w, p). Returns (p, v, w/‖w‖, converged)."""
    N = v.shape[0]
    w = w / w.norm()
    c = w.clone()

    def G(y: Tensor) -> Tensor:
        vv, ww, pp = y[:N], y[N : 2 * N], y[-1]
        f, Jw = _jvp(lambda x: _fv(fam, x, pp), vv, ww)
        return torch.cat([f, Jw, (c @ ww - 1)[None]])

    y0 = torch.cat([v, w, torch.tensor([p], dtype=v.dtype, device=v.device)])
    y, ok = _newton(G, y0, lambda y: _jac_ext(fam, G, y), 2 * N)
    ww = y[N : 2 * N]
    return y[-1].item(), y[:N], ww / ww.norm(), ok


def _refine_hopf(
    fam: _Family, v: Tensor, p: float, q: Tensor, omega: float
) -> tuple[float, Tensor, Tensor, float, bool]:
    """Newton on f = 0, J a + ω b = 0, J b − ω a = 0, cᵀa = 1, cᵀb = 0 from q = a + ib."""
    N = v.shape[0]
    q = q.to(torch.promote_types(v.dtype, torch.complex64))  # the system's precision, not eig's
    q = q / q.norm()
    c = q.real.clone()
    if c.norm() < 1e-3:
        q, c = q * 1j, (q * 1j).real.clone()
    scale = c @ q.real
    a, b = q.real / scale, q.imag / scale
    c = c.to(v.dtype)
    # rotate so that cᵀb = 0: q ← q·e^{iθ}
    theta = math.atan2(-(c @ b).item(), (c @ a).item())
    qr = (a + 1j * b) * complex(math.cos(theta), math.sin(theta))
    qr = qr / (c.to(qr.dtype) @ qr).real
    a, b = qr.real.to(v.dtype), qr.imag.to(v.dtype)

    def G(y: Tensor) -> Tensor:
        vv, aa, bb, om, pp = y[:N], y[N : 2 * N], y[2 * N : 3 * N], y[-2], y[-1]
        fn = lambda x: _fv(fam, x, pp)  # noqa: E731
        f, Ja = _jvp(fn, vv, aa)
        _, Jb = _jvp(fn, vv, bb)
        return torch.cat([f, Ja + om * bb, Jb - om * aa, (c @ aa - 1)[None], (c @ bb)[None]])

    y0 = torch.cat([v, a, b, torch.tensor([omega, p], dtype=v.dtype, device=v.device)])
    y, ok = _newton(G, y0, lambda y: _jac_ext(fam, G, y), 3 * N + 1)
    qv = torch.complex(y[N : 2 * N], y[2 * N : 3 * N])
    om = y[-2].item()
    if om < 0:
        om, qv = -om, qv.conj()
    return y[-1].item(), y[:N], qv / qv.norm(), om, ok


def _jvp(fn: Callable[[Tensor], Tensor], x: Tensor, dx: Tensor) -> tuple[Tensor, Tensor]:
    """(fn(x), J dx) by ``torch.func.jvp`` (whose stub also allows has_aux's third value)."""
    out, tangent = jvp(fn, (x,), (dx,))[:2]
    return out, tangent


# ============================================================================ analysis of a branch
def _complex_front(lam: Tensor) -> Tensor:
    """Largest Re λ among complex eigenvalues, per row (S, N) → (S,) (NaN: none complex)."""
    tol = math.sqrt(torch.finfo(lam.real.dtype).eps) * lam.abs().amax(-1, keepdim=True).clamp_min(1e-300)
    re = torch.where(lam.imag.abs() > tol, lam.real, torch.full_like(lam.real, -math.inf))
    front = re.amax(-1)
    return torch.where(torch.isinf(front), torch.full_like(front, math.nan), front)


def _eigenvalues(fam: _Family, v: Tensor, p: Tensor, chunk: int = 64) -> Tensor:
    """Eigenvalues of the system's Jacobian (flow: of ∂f/∂v; map: μ = 1 + eig(∂g/∂v)), sorted."""
    out = []
    for i in range(0, v.shape[0], chunk):
        lam = torch.linalg.eigvals(fam.jacobian(v[i : i + chunk], p[i : i + chunk]))
        out.append(sort_eigenvalues(lam + 1 if fam.time == "discrete" else lam, fam.time))
    return torch.cat(out) if out else torch.zeros(0, fam.N, dtype=torch.complex128)


def _null_vector(J: Tensor) -> Tensor:
    """The eigenvector of J whose eigenvalue is nearest 0 (inverse iteration, three solves)."""
    g = torch.Generator(device="cpu").manual_seed(0)
    w = torch.randn(J.shape[-1], generator=g, dtype=J.dtype).to(J.device)
    shift = (1e-14 if J.dtype == torch.float64 else 1e-6) * max(1.0, J.abs().max().item())
    A = J - shift * torch.eye(J.shape[-1], dtype=J.dtype, device=J.device)
    for _ in range(3):
        w = torch.linalg.solve(A, w)
        w = w / w.norm()
    return w


def _detect(
    fam: _Family,
    br: Branch,
    index: int,
    folds: list[Fold],
    hopfs: list[Hopf],
    refine: bool,
    scale: tuple[float, float],
) -> None:
    """Folds (tangent's p-component changes sign) and Hopf points (complex front crosses 0)."""
    tp = br.tangents[:, -1]
    L, P = scale

    def near(
        pv: float, pt: Tensor, k: int
    ) -> bool:  # the refined point lies on the segment k, k + 1 (within its length)
        def z(v: Tensor, p: float) -> Tensor:
            return torch.cat([v / L, torch.tensor([p / P], dtype=v.dtype, device=v.device)])

        za, zb = z(br.points[k], br.values[k].item()), z(br.points[k + 1], br.values[k + 1].item())
        h = (zb - za).norm().item()
        zr = z(pt, pv)
        return min((zr - za).norm().item(), (zr - zb).norm().item()) <= 2 * h + 1e-12

    # Hopf points are where a complex pair of a flow crosses Re λ = 0; a map's stability changes
    # at μ = −1 (flip) and |μ| = 1 (Neimark–Sacker), which are not located: said, not hidden
    front = (
        _complex_front(br.eigenvalues)
        if fam.time == "continuous"
        else torch.full((len(br),), math.nan, dtype=br.eigenvalues.real.dtype)
    )
    if fam.time == "discrete":
        turns = {k for k in range(len(br) - 1) if (tp[k] > 0) != (tp[k + 1] > 0)}
        changes = [
            k
            for k in range(len(br) - 1)
            if bool(br.stable[k]) != bool(br.stable[k + 1]) and not ({k - 1, k, k + 1} & turns)
        ]
        if changes:
            warnings.warn(
                f"bifurcation: the map's stability changes {len(changes)} time(s) along branch {index} away "
                f"from folds (near p = {', '.join(f'{br.values[k].item():.6g}' for k in changes)}): flip "
                "(μ = −1) or Neimark–Sacker (|μ| = 1) points, which bifurcation does not locate for "
                "discrete-time systems; branch.stable is right on either side",
                stacklevel=3,
            )
    for k in range(len(br) - 1):
        if (tp[k] > 0) != (tp[k + 1] > 0) and tp[k] != 0 and tp[k + 1] != 0:
            j = k if tp[k].abs() < tp[k + 1].abs() else k + 1
            v, p = br.points[j], br.values[j].item()
            w = _null_vector(fam.jacobian(v[None], br.values[j : j + 1])[0])
            pv, pt, ev, ok = _refine_fold(fam, v, p, w) if refine else (p, v, w, False)
            if refine and (not ok or not near(pv, pt, k)):
                warnings.warn(
                    f"bifurcation: Newton on the fold system did not converge near p = {p:.6g}; "
                    "reporting the continuation's estimate",
                    stacklevel=3,
                )
                pv, pt, ev, ok = p, v, w, False
            folds.append(Fold(pv, pt, ev, index, k, ok))
        g0, g1 = front[k].item(), front[k + 1].item()
        if not (math.isnan(g0) or math.isnan(g1)) and (g0 < 0) != (g1 < 0):
            j = k if abs(g0) < abs(g1) else k + 1
            v, p = br.points[j], br.values[j].item()
            lam, vec = torch.linalg.eig(fam.jacobian(v[None], br.values[j : j + 1])[0])
            cplx = lam.imag.abs() > 1e-12 * lam.abs().max()
            i = int(torch.where(cplx & (lam.imag > 0), lam.real, torch.full_like(lam.real, -math.inf)).argmax())
            est = br.values[k].item() - g0 * (br.values[k + 1].item() - br.values[k].item()) / (g1 - g0)
            if refine:
                pv, pt, ev, om, ok = _refine_hopf(fam, v, p, vec[:, i], lam[i].imag.item())
                if not ok or not near(pv, pt, k):
                    warnings.warn(
                        f"bifurcation: Newton on the Hopf system did not converge near p = {p:.6g}; "
                        "reporting the interpolated crossing",
                        stacklevel=3,
                    )
                    pv, pt, ev, om, ok = est, v, vec[:, i] / vec[:, i].norm(), lam[i].imag.item(), False
            else:
                pv, pt, ev, om, ok = est, v, vec[:, i] / vec[:, i].norm(), lam[i].imag.item(), False
            hopfs.append(Hopf(pv, pt, ev, abs(om), index, k, ok))


# ============================================================================ slices
def _slices(bif: Bifurcation, vals: list[float]) -> list[Slice]:
    fam: _Family = bif._family
    L, P = bif.scale
    lo = bif.values.min().item()
    rows, guesses, ps, stab, which, segs = [], [], [], [], [], []
    for i, x in enumerate(vals):
        for bi, br in enumerate(bif.branches):
            pv = br.values.tolist()
            n = len(pv)
            for k in range(n - 1):
                a, b = pv[k], pv[k + 1]
                last = k == n - 2 and not br.closed
                if not ((a <= x < b) or (b < x <= a) or (a > b and x == b and last) or (a < b and x == b and last)):
                    continue
                # cubic Hermite in the segment's parameter τ ∈ [0, 1], tangents scaled by the chord
                za = torch.cat([br.points[k] / L, br.points.new_tensor([(a - lo) / P])])
                zb = torch.cat([br.points[k + 1] / L, br.points.new_tensor([(b - lo) / P])])
                h = (zb - za).norm()
                ta, tb = br.tangents[k] * h, br.tangents[k + 1] * h
                tau = _hermite_root(za[-1].item(), zb[-1].item(), ta[-1].item(), tb[-1].item(), (x - lo) / P)
                z = _hermite(za, zb, ta, tb, tau)
                rows.append(i)
                guesses.append(z[:-1] * L)
                ps.append(x)
                stab.append(bool(br.stable[k]) if bool(br.stable[k]) == bool(br.stable[k + 1]) else None)
                which.append(bi)
                segs.append((bi, k))
    out_pts = torch.zeros(0, fam.N, dtype=fam.dtype, device=fam.device)
    if guesses:
        v = torch.stack(guesses)
        p = torch.tensor(ps, dtype=fam.dtype, device=fam.device)
        v, ok = _chord_fixed_p(fam, v, p, segs)
        if not bool(ok.all()):
            warnings.warn(f"bifurcation.at: {int((~ok).sum())} crossings did not converge", stacklevel=3)
        need = [j for j, s in enumerate(stab) if s is None]
        if need:
            lam = _eigenvalues(fam, v[need], p[need])
            st, _ = classify(lam, time=fam.time)
            for j, s in zip(need, st.tolist()):
                stab[j] = s
        out_pts = v
    result = []
    rows_t = torch.tensor(rows, dtype=torch.long)
    for i, x in enumerate(vals):
        sel = (rows_t == i).nonzero().squeeze(1)
        idx = sel.tolist()
        result.append(
            Slice(
                x,
                out_pts[sel.to(out_pts.device)] if idx else out_pts[:0],
                torch.tensor([stab[j] for j in idx], dtype=torch.bool),
                torch.tensor([which[j] for j in idx], dtype=torch.long),
            )
        )
    return result


def _hermite(za: _Num, zb: _Num, ta: _Num, tb: _Num, s: float) -> _Num:
    h00, h10 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s
    h01, h11 = -2 * s**3 + 3 * s**2, s**3 - s**2
    return h00 * za + h10 * ta + h01 * zb + h11 * tb


def _hermite_root(a: float, b: float, ta: float, tb: float, x: float) -> float:
    """τ ∈ [0, 1] where the cubic Hermite p-component equals x (bisection; p is monotonic on a segment
    between folds up to the cubic's wiggle)."""

    def g(s: float) -> float:
        return _hermite(a, b, ta, tb, s) - x

    lo, hi = 0.0, 1.0
    glo = g(lo)
    if glo == 0:
        return 0.0
    if (glo > 0) == (g(hi) > 0):
        return (x - a) / (b - a) if b != a else 0.5
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        gm = g(mid)
        if (gm > 0) == (glo > 0):
            lo, glo = mid, gm
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _chord_fixed_p(
    fam: _Family, v: Tensor, p: Tensor, segs: list[tuple[int, int]], iters: int = 12
) -> tuple[Tensor, Tensor]:
    """Chord iteration v ← v − J₀⁻¹ f(v, p) at fixed p, with one LU of J₀ (at the first guess)
    per branch segment shared by all its crossings; Newton for any that does not converge."""
    eps = torch.finfo(v.dtype).eps
    groups: dict[tuple[int, int], list[int]] = {}
    for j, key in enumerate(segs):
        groups.setdefault(key, []).append(j)
    done = torch.zeros(v.shape[0], dtype=torch.bool, device=v.device)
    for idx in groups.values():
        ix = torch.tensor(idx, device=v.device)
        vi, pi = v[ix], p[ix]
        LU, piv, info = torch.linalg.lu_factor_ex(fam.jacobian(vi[:1], pi[:1])[0])
        if int(info) != 0:
            continue
        ok = torch.zeros(len(idx), dtype=torch.bool, device=v.device)
        for _ in range(iters):
            dv = torch.linalg.lu_solve(LU, piv, -fam.f(vi, pi).T).T
            if not torch.isfinite(dv).all():
                break
            vi = vi + dv
            ok = dv.abs().amax(-1) <= 1e3 * eps * (1 + vi.abs().amax(-1))
            if ok.all():
                break
        v[ix] = torch.where(ok[:, None], vi, v[ix])
        done[ix] = ok
    if not done.all():
        rest = (~done).nonzero().squeeze(1)
        vr, okr = _newton_fixed_p(fam, v[rest].clone(), p[rest])
        v[rest], done[rest] = vr, okr
    return v, done


def _newton_fixed_p(fam: _Family, v: Tensor, p: Tensor, iters: int = 20) -> tuple[Tensor, Tensor]:
    """Batched Newton on f(v, p) = 0 at fixed p."""
    eps = torch.finfo(v.dtype).eps
    done = torch.zeros(v.shape[0], dtype=torch.bool, device=v.device)
    for _ in range(iters):
        act = (~done).nonzero().squeeze(1)
        if act.numel() == 0:
            break
        f = fam.f(v[act], p[act])
        dv = _solve(fam.jacobian(v[act], p[act]), -f)
        v[act] = v[act] + torch.nan_to_num(dv)
        small = dv.abs().amax(-1) <= 1e3 * eps * (1 + v[act].abs().amax(-1))
        done[act[small]] = True
    return v, done


# ============================================================================ seeds
@torch.no_grad()
def _visited_states(system: System, u: Tensor, steps: int = 1000, every: int = 20) -> Tensor:
    """The origin and every ``every``-th state of a ``steps``-step run from it at input ``u``: the
    map iterated, or a flow stepped by its network's Euler dt."""
    dt = system.euler_dt if system.time == "continuous" else None  # a flow is stepped by its network's Euler dt
    if system.time == "continuous" and dt is None:
        raise ValueError("give initial_states (K, N): this flow has no step (dt) to run it from the origin")
    if system.state_size is None:
        raise ValueError("give initial_states (K, N): this system's state size is unknown")
    v = torch.zeros(1, system.state_size, dtype=system.dtype, device=system.device)
    U = u.expand(1, -1)
    out = [v]
    for k in range(1, steps + 1):
        v = system(v, U) if dt is None else v + dt * system(v, U)
        if k % every == 0:
            out.append(v)
    return torch.cat(out)


def _on_branches(bif_like: Bifurcation, value: float, pts: Tensor) -> Tensor:
    """For each point (Q, N): does it lie on a followed branch at ``value``?"""
    if not bif_like.branches or pts.shape[0] == 0:
        return torch.zeros(pts.shape[0], dtype=torch.bool)
    sl = _slices(bif_like, [value])[0]
    if len(sl) == 0:
        return torch.zeros(pts.shape[0], dtype=torch.bool)
    d = (pts[:, None, :] - sl.points[None].to(pts)).abs().amax(-1)  # (Q, P)
    tol = math.sqrt(torch.finfo(pts.dtype).eps) * (1 + pts.abs().max().item())
    return (d <= tol).any(1).cpu()


# ============================================================================ the entry point
def parameter_values(values: object) -> Tensor:
    """``values`` as a finite 1-D float64 CPU tensor of at least one parameter value (errors name it)."""
    t = _validate.as_real_tensor("values", values, dtype=torch.float64)
    if t.ndim > 1:
        raise ValueError(f"values must be a 1-D sequence of parameter values, got shape {tuple(t.shape)}")
    t = t.reshape(-1)
    if t.numel() < 1:
        raise ValueError("values must hold at least one parameter value, got none")
    return _validate.check_finite_tensor("values", t)


@torch.no_grad()  # forward-mode derivatives (jacfwd, jvp) still work; no graph through the weights
def bifurcation(
    system: Callable[[float], object],
    values: Sequence[float] | Tensor,
    *,
    initial_states: Tensor | None = None,
    seeds: int | Sequence[float] | None = None,
    max_step: float = 0.1,
    max_turn: float = 0.25,
    max_points: int = 5000,
    refine: bool = True,
    progress: bool | None = None,
    **find_options: Any,
) -> Bifurcation:
    r"""Follow every branch of fixed points of ``system(p)`` for p across ``values``.

    For each p, ``system(p)`` returns ``(net, u)``: the fixed points solve
    f(v, p) = (−v + F(W u + M v + b))/τ = 0. Branches are followed by pseudo-arclength
    continuation (module docstring), folds and Hopf points refined by Newton on the extended
    systems.

    Parameters
    ----------
    system : callable ``p -> (net, u)``
        E.g. ``lambda c: (net, torch.tensor([0.0, (1 + c) / 2, (1 - c) / 2]))`` (an input) or
        ``lambda tau_i: (tr.zoo.dayan_abbott_ei(tau_i, dtype=torch.float64), None)`` (a
        parameter). Must return the same kind of network at every p. When M, b, τ and W u are
        affine in p (checked), f, J and ∂f/∂p come from one network without further calls.
    values : sequence of float, shape (S,)
        Parameter values; branches are followed over ``[min(values), max(values)]``.
    initial_states : Tensor, shape (K, N), optional
        Starts of the seed searches; default the origin and the states the network visits
        from it in 1,000 steps at each seed value.
    seeds : int or sequence of float, optional
        Where :func:`find_fixed_points` seeds branches: a count of evenly spread values (default
        ``min(S, 5)``, first and last included) or the values themselves.
    max_step : float
        Largest arclength step, in units where the parameter range is 1 (so at least 1/max_step
        points per branch).
    max_turn : float
        Largest angle (radians) between consecutive tangents; larger turns halve the step.
    max_points : int
        Points per direction of a branch before it is cut (with a warning).
    refine : bool
        Newton on the extended systems at each detected fold and Hopf point.
    progress : bool, optional
        Print progress to stderr (None: after the first 5 s of a run).
    **find_options
        Passed to :func:`find_fixed_points` for the seeds.

    Returns
    -------
    Bifurcation
        ``.branches`` (values, points, eigenvalues, stable), ``.folds`` and ``.hopf`` (value,
        point, eigenvector), ``.at(p)`` for the points at any p.

    Examples
    --------
    >>> import torchrate as tr
    >>> M = torch.tensor([[0.0, -2.0], [-2.0, 0.0]], dtype=torch.float64)
    >>> net = tr.RateRNN.from_weights(M, tau=10.0, dt=1.0, nonlinearity="tanh")
    >>> bif = tr.analysis.bifurcation(lambda d: (net, torch.tensor([d, -d], dtype=torch.float64)),
    ...                               torch.linspace(-1, 1, 21, dtype=torch.float64))
    >>> [round(f.value, 6) for f in sorted(bif.folds, key=lambda f: f.value)]
    [-0.53284, 0.53284]
    """
    if not callable(system) or isinstance(system, torch.nn.Module):
        raise TypeError(
            f"system must be a function value -> (net, u), got {type(system).__name__}; e.g. "
            "system=lambda c: (net, torch.tensor([0.0, (1 + c) / 2, (1 - c) / 2]))"
        )
    values = parameter_values(values)
    if values.numel() < 2 or values.min() == values.max():
        raise ValueError(f"values must hold at least two different parameter values, got {values.tolist()}")
    if not isinstance(refine, bool):
        raise TypeError(f"refine must be True or False, got {refine!r}")
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be True, False or None, got {_validate._show(progress)}")
    max_step = _validate.check_positive("max_step", max_step, fix="the largest arclength step, e.g. 0.1")
    max_turn = _validate.check_positive("max_turn", max_turn, fix="an angle in radians, e.g. 0.25")
    max_points = _validate.as_int("max_points", max_points, minimum=2)
    lo, hi = values.min().item(), values.max().item()
    if seeds is None:
        seeds = min(values.numel(), 5)
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValueError(f"seeds must be a positive count or a sequence of values, got {seeds}")
        seed_values = torch.linspace(lo, hi, seeds, dtype=torch.float64).tolist() if seeds > 1 else [values[0].item()]
    else:
        seed_values = _validate.as_real_tensor("seeds", seeds, dtype=torch.float64).reshape(-1).tolist()
        if not all(lo <= s <= hi for s in seed_values):
            raise ValueError(f"seeds must lie within [min(values), max(values)] = [{lo:g}, {hi:g}], got {seed_values}")
    first = values[0].item()
    seed_values = [first] + [s for s in seed_values if s != first]

    fam = _Family(system, lo, hi)
    if initial_states is not None:
        initial_states = _validate.as_real_tensor("initial_states", initial_states, dtype=fam.dtype, device=fam.device)
        _validate.check_shape("initial_states", initial_states, ("K", fam.N))
        _validate.check_finite_tensor("initial_states", initial_states)
    find_options.setdefault("outlier_scale", None)

    show = Progress(progress, None, "bifurcation")
    # ---- seeds at the first value
    found = []
    for s in seed_values:
        sys_, u = fam._call(s)
        init = _visited_states(sys_, u) if initial_states is None else initial_states
        fps = find_fixed_points(sys_, u, init, **find_options)
        found.append((s, fps.points[fps.converged]))
    if found[0][1].shape[0] == 0:
        raise ValueError(f"no fixed point found at the first value {first:g}; give initial_states closer to one")
    L = max(1.0, max((pts.norm(dim=-1).max().item() if pts.numel() else 0.0) for _, pts in found))
    P = hi - lo
    opt = _Options(max_step=max_step, max_turn=max_turn, max_points=max_points, progress=progress)
    tracer = _Tracer(fam, L, P, lo, hi, opt)
    bif = Bifurcation(values, [], [], [], (L, P), fam)
    for s, pts in found:
        pts = pts.clone()
        while pts.shape[0]:
            keep = ~_on_branches(bif, s, pts)
            pts = pts[keep.to(pts.device)]
            if pts.shape[0] == 0:
                break
            seed = torch.cat([pts[0] / L, torch.tensor([(s - lo) / P], dtype=fam.dtype, device=fam.device)])
            ((zs, ts, closed),) = tracer.run(
                seed[None], lambda n: show.update(1, branch=len(bif.branches) + 1, points=n)
            )
            bif.branches.append(_branch(fam, zs, ts, closed, L, P, lo))
            pts = pts[1:]
    for i, br in enumerate(bif.branches):
        folds: list[Fold] = []
        hopfs: list[Hopf] = []
        _detect(fam, br, i, folds, hopfs, refine, (L, P))
        bif.branches[i] = _insert(fam, br, folds + hopfs, L, P, lo)
        bif.folds += folds
        bif.hopf += hopfs
    show.close(f"{len(bif.branches)} branches, {len(bif.folds)} folds, {len(bif.hopf)} Hopf points")
    return bif


def _branch(fam: _Family, zs: Tensor, ts: Tensor, closed: bool, L: float, P: float, lo: float) -> Branch:
    v = zs[:, :-1] * L
    p = lo + P * zs[:, -1]
    lam = _eigenvalues(fam, v, p)
    stable, _ = classify(lam, time=fam.time)
    return Branch(p.detach().to("cpu", torch.float64), v.detach(), lam.detach(), stable.cpu(), ts.detach(), closed)


def _insert(fam: _Family, br: Branch, found: list[Fold | Hopf], L: float, P: float, lo: float) -> Branch:
    """The branch with each refined fold / Hopf point inserted after its segment's first point
    (``item.index`` becomes the point's position); the tangent there is the null vector at a
    fold (p-component 0) and the chord's direction otherwise."""
    found = sorted((x for x in found if x.refined), key=lambda x: x.index)
    if not found:
        return br
    v, p = [br.points], [br.values]
    pieces, shift = [], 0
    start = 0
    zs = torch.cat([br.points / L, ((br.values.to(br.points) - lo) / P)[:, None]], -1)
    for x in found:
        k = x.index
        pieces.append(slice(start, k + 1))
        start = k + 1
        x.index = k + 1 + shift
        shift += 1
    pieces.append(slice(start, len(br)))
    v, p, lam, st, tg = [], [], [], [], []
    for j, sl in enumerate(pieces):
        v.append(br.points[sl])
        p.append(br.values[sl])
        lam.append(br.eigenvalues[sl])
        st.append(br.stable[sl])
        tg.append(br.tangents[sl])
        if j < len(found):
            x = found[j]
            k = sl.stop - 1
            pt = x.point.to(br.points)
            z = torch.cat([pt / L, pt.new_tensor([(x.value - lo) / P])])
            if isinstance(x, Fold):
                t = torch.cat([x.eigenvector.to(pt) / L, pt.new_zeros(1)])
            else:
                t = zs[k + 1] - zs[k]
            t = _unit(t)
            if (t * br.tangents[k].to(t)).sum() < 0:
                t = -t
            e = _eigenvalues(fam, pt[None], pt.new_tensor([x.value]))
            v.append(pt[None])
            p.append(torch.tensor([x.value], dtype=torch.float64))
            lam.append(e.to(br.eigenvalues))
            st.append(torch.zeros(1, dtype=torch.bool))  # on the stability boundary
            tg.append(t[None])
            del z
    return Branch(torch.cat(p), torch.cat(v), torch.cat(lam), torch.cat(st), torch.cat(tg), br.closed)
