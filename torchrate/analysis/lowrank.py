r"""Exact latent analysis of low-rank networks, and low-rank approximations of any network.

For ``M = m nᵀ/N`` (:class:`~torchrate.LowRankRateRNN`), the recurrent drive is ``M v = m κ``
with ``κ = nᵀ v / N ∈ Rʳ``. At a constant input (``c = W u + b``):

* **fixed points** are exactly ``v* = F(m κ + c)`` with κ a root of the r-dimensional
  equation ``g(κ) = −κ + nᵀ F(m κ + c) / N = 0`` (a one-to-one correspondence: ``κ = nᵀv*/N``);
  Newton on ``g`` is r × r;
* **stability**: the Jacobian of dv/dt, ``J = (−I + diag(F′) m nᵀ/N)/τ``, has the eigenvalues
  ``(μ − 1)/τ`` for the r eigenvalues μ of ``nᵀ diag(F′) m / N`` (``AB`` and ``BA`` share their
  non-zero eigenvalues) and ``−1/τ`` with multiplicity N − r: no N × N eigen-decomposition
  (for one τ; with a τ per neuron the N × N Jacobian is formed and decomposed instead);
* **dynamics**: with one τ, κ(t) = nᵀv(t)/N obeys the closed r-dimensional ODE
  ``τ dκ/dt = −κ + nᵀ F(m κ + c)/N`` — the flow field drawn by
  :func:`torchrate.plotting.plot_latent_flow`.

:func:`low_rank_approximation` gives the best rank-r network (truncated SVD, in the ``m nᵀ/N``
convention) of any trained :class:`~torchrate.RateRNN`, and :func:`rank_fidelity` how well each
rank reproduces its rates (and outputs, and a task metric).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace

import torch
from torch import Tensor

from .. import _validate
from ..networks import LowRankRateRNN, RateRNN
from ..nonlinearities import Nonlinearity
from ..systems import RateSystem, Residual, System, as_system
from . import _search
from ._progress import Progress
from .stability import classify, sort_eigenvalues

__all__ = [
    "LatentFixedPoints",
    "latent_fixed_points",
    "latent_velocity",
    "low_rank_approximation",
    "RankFidelity",
    "rank_fidelity",
]

_BOUNDED = {"tanh": 1.0, "sigmoid": 1.0, "clip": 1.0, "step": 1.0}  # sup |F| of the named F


# ----------------------------------------------------------------------------- the latent system
class _Latent(Residual):
    """g(κ) = −κ + nᵀF(mκ + c)/N (K, r) of a low-rank rate system at a constant input, with its
    r × r Jacobian: the residual the search engine iterates (m, n (N, r), c = W u + b, τ, F)."""

    def __init__(self, m: Tensor, n: Tensor, c: Tensor, tau: Tensor, F: Nonlinearity) -> None:
        self.m, self.n, self.c, self.tau, self.F = m, n, c, tau, F
        self.scale = 1.0

    @classmethod
    def of(cls, net: object, u: object) -> _Latent:
        system = as_system(net, time="continuous") if not isinstance(net, System) else net
        factors = system.factors if isinstance(system, RateSystem) else None
        if not isinstance(system, RateSystem) or factors is None:
            raise TypeError(
                f"net must be a torchrate.LowRankRateRNN, got {type(net).__name__}; for a full-rank "
                "network use torchrate.analysis.low_rank_approximation(net, rank) first"
            )
        with torch.no_grad():
            m, n = (t.detach() for t in factors)
            if u is None:
                h = m.new_zeros(m.shape[0])
            else:
                u = _validate.as_real_tensor("u", u, dtype=m.dtype, device=m.device)
                if u.shape != (system.input_size,):
                    raise ValueError(
                        f"u must be a constant input of shape ({system.input_size},), got {tuple(u.shape)}"
                    )
                if not bool(torch.isfinite(u).all()):
                    raise ValueError("u must be finite")
                h = system.drive(u).detach()
            c = h if system.b is None else h + system.b.detach()
        return cls(m, n, c, system.tau.detach(), system.F)

    @property
    def N(self) -> int:
        return self.m.shape[0]

    def pre(self, kappa: Tensor) -> Tensor:
        """x = m κ + c (K, N)."""
        return kappa @ self.m.T + self.c

    def g(self, kappa: Tensor) -> Tensor:
        """g(κ) = −κ + nᵀF(mκ + c)/N (K, r): zero exactly at fixed points."""
        return self.F(self.pre(kappa)) @ self.n / self.N - kappa

    def __call__(self, kappa: Tensor) -> Tensor:
        return self.g(kappa)  # no graph: the latent tensors are detached

    def jacobian(self, kappa: Tensor) -> Tensor:
        """∂g/∂κ = nᵀ diag(F′) m / N − I (K, r, r)."""
        A = self.latent_jacobian(kappa)
        A.diagonal(dim1=-2, dim2=-1).sub_(1)
        return A

    def slope(self, x: Tensor) -> Tensor:
        """F′(x), elementwise (the named derivative, else autograd)."""
        dF = getattr(self.F, "derivative_from_output", None)
        if dF is not None:
            return dF(self.F(x))
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            (d,) = torch.autograd.grad(self.F(x).sum(), x)
        return d

    def latent_jacobian(self, kappa: Tensor) -> Tensor:
        """nᵀ diag(F′(mκ + c)) m / N (K, r, r); ∂g/∂κ is this minus I."""
        return torch.matmul(self.n.T / self.N, self.slope(self.pre(kappa)).unsqueeze(-1) * self.m)

    def full_jacobian(self, kappa: Tensor) -> Tensor:
        """J = (−I + diag(F′) m nᵀ/N)/τ at v* = F(mκ + c) (P, N, N): formed only on request."""
        s = self.slope(self.pre(kappa))
        M = self.m @ self.n.T / self.N
        tau = self.tau
        J = s.unsqueeze(-1) * (M / (tau.unsqueeze(-1) if tau.ndim else tau))
        J.diagonal(dim1=-2, dim2=-1).sub_(1 / tau)
        return J


def latent_velocity(net: object, u: Tensor | None, kappa: Tensor) -> Tensor:
    r"""dκ/dt = (−κ + nᵀF(mκ + W u + b)/N)/τ at latent states ``kappa`` (*, r), in 1/ms.

    Exact for one τ: then κ(t) = nᵀv(t)/N of every trajectory obeys this ODE. With a τ per
    neuron κ is not a closed system, and a ValueError says so.
    """
    lat = _Latent.of(net, u)
    if lat.tau.ndim and not bool((lat.tau == lat.tau[0]).all()):
        raise ValueError(
            "latent_velocity needs one τ for all neurons: with a τ per neuron, κ = nᵀv/N does not "
            "obey a closed r-dimensional ODE (the fixed points are still exact: latent_fixed_points)"
        )
    tau = lat.tau.reshape(-1)[0]
    r = lat.m.shape[1]
    kappa = _validate.as_real_tensor("kappa", kappa, dtype=lat.m.dtype, device=lat.m.device)
    if (kappa.shape[-1] != r) if kappa.ndim else (r != 1):
        raise ValueError(f"kappa must have shape (*, {r}) (one latent coordinate per rank), got {tuple(kappa.shape)}")
    with torch.no_grad():
        flat = kappa.reshape(-1, lat.m.shape[1])
        return (lat.g(flat) / tau).reshape(kappa.shape)


# ----------------------------------------------------------------------------- result
@dataclass
class LatentFixedPoints:
    r"""Fixed points of a low-rank network found in κ-space (:func:`latent_fixed_points`).

    Attributes
    ----------
    kappas : Tensor (P, r)
        Latent coordinates κ* = nᵀv*/N, sorted by residual.
    points : Tensor (P, N)
        Rates v* = F(m κ* + W u + b).
    residuals : Tensor (P,)
        q = ½‖dv/dt‖² at ``points``, in (rate/ms)² (evaluated in the full space).
    latent_jacobians : Tensor (P, r, r)
        nᵀ diag(F′(x*)) m / N.
    eigenvalues : Tensor (P, N) complex
        Of the full Jacobian of dv/dt: (μ − 1)/τ for the r eigenvalues μ of
        ``latent_jacobians`` and −1/τ (N − r times), sorted by decreasing real part.
    stable, kind
        As :class:`~torchrate.analysis.FixedPoints` (continuous time, Re λ < 0).
    counts : Tensor (P,) long
        Starts that ended at each point (sums to ``(assignment >= 0).sum()``).
    assignment : Tensor (K,) long
        Each start's point, or −1 (Newton did not converge).
    final_kappas : Tensor (K, r)
    """

    kappas: Tensor
    points: Tensor
    residuals: Tensor
    latent_jacobians: Tensor
    eigenvalues: Tensor
    stable: Tensor
    kind: list[str]
    counts: Tensor
    assignment: Tensor
    final_kappas: Tensor
    _latent: _Latent

    def __len__(self) -> int:
        return self.points.shape[0]

    def __repr__(self) -> str:
        r = self.kappas.shape[-1]
        kinds = ", ".join(f"{self.kind.count(k)} {k}" for k in dict.fromkeys(self.kind))
        return f"LatentFixedPoints({len(self)} points, rank {r}: {kinds or 'none'})"

    def jacobians(self) -> Tensor:
        """The full Jacobians (P, N, N) at the points, formed on request (O(P N²) memory)."""
        return self._latent.full_jacobian(self.kappas)

    def final_states(self) -> tuple[Tensor, Tensor]:
        """Each start's final state v = F(mκ + c) of its final κ (K, N), and q = ½‖dv/dt‖² there (K,)."""
        lat = self._latent
        final = lat.F(lat.pre(self.final_kappas))
        f = (lat.F(lat.pre(final @ lat.n / lat.N)) - final) / lat.tau
        return final, 0.5 * f.square().sum(-1)


# ----------------------------------------------------------------------------- the search
def _default_starts(lat: _Latent, name: str) -> Tensor:
    """A grid over the box that holds every root (|κ_k| ≤ Σ_i |n_ik| sup|F| / N for bounded F)."""
    r = lat.m.shape[1]
    if name not in _BOUNDED:
        raise ValueError(
            f"latent_fixed_points needs initial_states or initial_kappas for the unbounded "
            f"nonlinearity {name!r} (the roots of g are only boxed in for a bounded F)"
        )
    bound = lat.n.abs().sum(0) * _BOUNDED[name] / lat.N * 1.05 + 1e-12  # (r,)
    per_dim = {1: 2001, 2: 33}.get(r, max(3, round(1024 ** (1 / r))))
    axes = [torch.linspace(-1, 1, per_dim, dtype=lat.m.dtype, device=lat.m.device) * b for b in bound]
    return torch.cartesian_prod(*axes).reshape(-1, r)


def _roots_1d(lat: _Latent, grid: Tensor) -> Tensor:
    """For r = 1: midpoints of the grid cells where g changes sign, plus grid zeros (sign changes
    are where roots are, so none is missed that the grid resolves)."""
    g = lat.g(grid)[:, 0]
    change = (g[:-1] * g[1:] < 0).nonzero()[:, 0]
    zero = (g == 0).nonzero()[:, 0]
    return torch.cat([0.5 * (grid[change] + grid[change + 1]), grid[zero]])


def _newton(lat: _Latent, kappa: Tensor, steps: int) -> Tensor:
    """The search engine's damped Newton on g(κ) = 0 (r × r systems, O(K N r²) an iteration)."""
    return _search._newton(lat, kappa, steps, 2, 4 * torch.finfo(kappa.dtype).eps, Progress(False, 0, ""))


def latent_fixed_points(
    net: object,
    u: Tensor | None = None,
    initial_states: Tensor | None = None,
    *,
    initial_kappas: Tensor | None = None,
    newton_steps: int = 100,
    tol: float | None = None,
    dedup_tol: float | None = None,
) -> LatentFixedPoints:
    r"""Every fixed point of a :class:`~torchrate.LowRankRateRNN` at constant input, found in r dimensions.

    Solves ``κ = nᵀ F(m κ + W u + b)/N`` by batched damped Newton (r × r systems), then
    ``v* = F(m κ* + W u + b)``; stability from the r × r matrix ``nᵀ diag(F′) m / N`` and the
    N − r eigenvalues −1/τ (see the module docstring). Cost O(K N r²) per Newton iteration,
    against O(K N³) for the full-space search.

    Parameters
    ----------
    net : LowRankRateRNN
        Not modified.
    u : Tensor (I,), optional
        Constant input (zeros if None).
    initial_states : Tensor (K, N), optional
        Starting rates; their latent coordinates κ = nᵀv/N start the search (for one τ, each
        start's κ then follows exactly the latent dynamics of that state).
    initial_kappas : Tensor (K, r), optional
        Latent starts instead. Without either: for a bounded F, a grid over the box
        ``|κ_k| ≤ Σ_i |n_ik| sup|F| / N`` that holds every root — for r = 1, 2001 points whose
        sign changes of g bracket every root the grid resolves; for r = 2, 33 × 33 starts.
    newton_steps : int
        Maximum Newton iterations.
    tol : float, optional
        q = ½‖dv/dt‖² below which a state is a fixed point; default as
        :func:`~torchrate.analysis.find_fixed_points`, ``½N(1000·eps·(1+‖v‖∞)/τ_min)²``.
    dedup_tol : float, optional
        κ-distance below which two roots are one; default ``10·sqrt(eps)·(1 + max‖κ*‖∞)``.

    Returns
    -------
    LatentFixedPoints

    Examples
    --------
    >>> import torchrate as tr
    >>> m = torch.randn(512, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> net = tr.LowRankRateRNN.from_factors(m, 2 * m, tau=10.0, dt=1.0)   # bistable
    >>> sorted(latent_fixed_points(net).kind)
    ['saddle', 'stable node', 'stable node']
    """
    newton_steps = _validate.as_int("newton_steps", newton_steps, minimum=0, fix="Newton iterations, e.g. 100")
    if tol is not None:
        tol = _validate.check_nonnegative("tol", tol, fix="a threshold on q = ½‖dv/dt‖², or None")
    if dedup_tol is not None:
        dedup_tol = _validate.check_positive("dedup_tol", dedup_tol, fix="a κ-distance, or None")
    with torch.no_grad():
        lat = _Latent.of(net, u)
        N, r = lat.m.shape
        dtype = lat.m.dtype
        if initial_kappas is not None and initial_states is not None:
            raise ValueError(
                "give initial_states (K, N) or initial_kappas (K, r), not both: the search starts "
                "from κ, and κ = nᵀv/N of the states would replace the kappas given"
            )
        if initial_kappas is not None:
            k0 = _validate.as_real_tensor("initial_kappas", initial_kappas, dtype=dtype, device=lat.m.device)
            _validate.check_shape("initial_kappas", k0, ("K", r))
        elif initial_states is not None:
            v0 = _validate.as_real_tensor("initial_states", initial_states, dtype=dtype, device=lat.m.device)
            _validate.check_shape("initial_states", v0, ("K", N))
            k0 = v0 @ lat.n / N
        else:
            grid = _default_starts(lat, getattr(lat.F, "name", ""))
            k0 = _roots_1d(lat, grid) if r == 1 else grid
            if r == 1 and not k0.numel():
                k0 = grid[lat.g(grid).abs()[:, 0].argmin()].reshape(1, 1)
        finite = torch.isfinite(k0).all(-1)
        bad = int((~finite).sum())
        if bad and bad == len(k0):
            raise ValueError(f"all {bad} starts contain NaN or Inf: give finite initial_states or initial_kappas")
        if bad:
            warnings.warn(
                f"{bad} of {len(k0)} starts contain NaN or Inf and were dropped (their assignment is −1)", stacklevel=3
            )
        kappa = _newton(lat, torch.where(finite[:, None], k0, torch.zeros_like(k0)), newton_steps)
        return _summarise(lat, kappa, finite, tol, dedup_tol)


def latent_search(
    system: RateSystem, u: Tensor, initial_states: Tensor, *, newton_steps: int, tol: float | None
) -> SimpleNamespace:
    """:func:`latent_fixed_points` for the fixed-point finder, in the units of ``system``'s time:
    points, residuals q of its own residual, counts, assignment, final states and residuals, and
    eigenvalues (of the flow's Jacobian, or μ = 1 + dt·λ of its Euler map)."""
    dt = system.dt if system.time == "discrete" else None  # the map's step (a map has one)
    flow_tol = tol if tol is None or dt is None else tol / dt**2
    res = latent_fixed_points(system, u, initial_states, newton_steps=newton_steps, tol=flow_tol)
    field = system.at(u)
    final, _ = res.final_states()
    lam = 1 + dt * res.eigenvalues if dt is not None else res.eigenvalues
    return SimpleNamespace(
        points=res.points,
        residuals=field.q(res.points),
        counts=res.counts,
        assignment=res.assignment,
        final_states=final,
        final_residuals=field.q(final),
        eigenvalues=lam,
    )


def _summarise(
    lat: _Latent, kappa: Tensor, finite: Tensor, tol: float | None, dedup_tol: float | None
) -> LatentFixedPoints:
    N, r = lat.m.shape
    eps = torch.finfo(kappa.dtype).eps
    v = lat.F(lat.pre(kappa))  # (K, N); an O(K N) evaluation, as one step
    f = (lat.F(lat.pre(v @ lat.n / N)) - v) / lat.tau
    q = 0.5 * f.square().sum(-1)
    if tol is None:
        scale = 1e3 * eps * (1 + v.abs().amax(-1)) / lat.tau.min()
        q_tol = 0.5 * N * scale.square()
    else:
        q_tol = torch.full_like(q, tol)
    kept = (q <= q_tol) & finite & torch.isfinite(kappa).all(-1)
    idx = kept.nonzero()[:, 0]
    kk = kappa[idx]
    if dedup_tol is None:
        dedup_tol = 10 * math.sqrt(eps) * (1 + (kk.abs().max().item() if len(kk) else 0.0))
    leaders, assign = _search._leaders(kk, q[idx].argsort(), dedup_tol)
    counts = torch.bincount(assign, minlength=len(leaders))
    assignment = torch.full((kappa.shape[0],), -1, dtype=torch.long, device=kappa.device)
    assignment[idx] = assign
    kstar = kk[leaders]
    A = lat.latent_jacobian(kstar) if len(kstar) else kappa.new_zeros(0, r, r)
    lam = _eigenvalues(lat, kstar, A)
    stable, kind = classify(lam)
    return LatentFixedPoints(
        kstar, v[idx][leaders], q[idx][leaders], A, lam, stable, kind, counts, assignment, kappa, lat
    )


def _eigenvalues(lat: _Latent, kstar: Tensor, A: Tensor) -> Tensor:
    """Eigenvalues (P, N) of J at the points: (μ − 1)/τ and −1/τ (N − r times) for one τ."""
    N, r = lat.m.shape
    ctype = torch.promote_types(kstar.dtype, torch.complex64)
    P = kstar.shape[0]
    if not P:
        return torch.zeros(0, N, dtype=ctype, device=kstar.device)
    tau = lat.tau
    if tau.ndim and not bool((tau == tau[0]).all()):  # a τ per neuron: no r × r reduction
        return sort_eigenvalues(torch.linalg.eigvals(lat.full_jacobian(kstar)))
    tau = tau.reshape(-1)[0]
    mu = torch.linalg.eigvals(A)  # (P, r)
    rest = torch.full((P, N - r), -1.0, dtype=kstar.dtype, device=kstar.device).to(ctype)
    return sort_eigenvalues(torch.cat([(mu - 1), rest], -1) / tau)


# ----------------------------------------------------------------------------- approximations
def low_rank_approximation(net: RateRNN, rank: int) -> LowRankRateRNN:
    r"""The best rank-``rank`` network of a :class:`~torchrate.RateRNN` (layer 0): ``M ≈ m nᵀ/N``.

    Truncated SVD ``M = U S Vᵀ`` (Eckart–Young: the closest rank-r matrix in Frobenius and
    spectral norm), ``m = √N U_r S_r^{1/2}``, ``n = √N V_r S_r^{1/2}``; ``W``, ``b``, τ, dt and F
    are copied, and so are ``batch_first``, the noise (``noise_std``) and the solver settings
    (``solver``, ``rtol``, ``atol``, ``adjoint``, ``ode_options``), as :meth:`RateRNN.layer`
    does. Returns a :class:`~torchrate.LowRankRateRNN` (``rank = N`` reproduces ``M``).
    """
    from .._lowrank import factors_of

    if not isinstance(net, RateRNN):
        raise TypeError(f"net must be a torchrate.RateRNN, got {type(net).__name__}")
    if net.num_layers != 1 or net.bidirectional:
        raise ValueError(
            "low_rank_approximation takes a one-layer, one-direction network; use net.layer(k) "
            "for layer k of a stacked one"
        )
    N = net.hidden_size
    rank = _validate.as_int("rank", rank, minimum=1, fix=f"a rank in [1, {N}]")
    if rank > N:
        raise ValueError(f"rank must be an integer in [1, {N}] (the hidden size), got {rank}")
    with torch.no_grad():
        m, n, _ = factors_of(net.M.detach(), rank, check=False)
        W = None if net.weight_ih_l0 is None else net.weight_ih_l0.detach()
        b = None if net.b is None else net.b.detach()
        return LowRankRateRNN.from_factors(m, n, W, b, **net._run_settings())


@dataclass
class RankFidelity:
    """How well each rank's approximation reproduces a network (:func:`rank_fidelity`).

    Attributes
    ----------
    ranks : list of int
    singular_values : Tensor (N,)
        Of M, decreasing.
    rates_error : Tensor (len(ranks),)
        ‖v_r − v‖ / ‖v‖ over all (t, b, i) of the rollouts.
    outputs_error : Tensor (len(ranks),) or None
        The same for ``readout(rates)``.
    metric : Tensor (len(ranks),) or None
        ``metric(outputs)`` of each approximation; ``full_metric`` that of the network itself.
    full_metric : float or None
    """

    ranks: list[int]
    singular_values: Tensor
    rates_error: Tensor
    outputs_error: Tensor | None
    metric: Tensor | None
    full_metric: float | None


def rank_fidelity(
    net: RateRNN,
    inputs: Tensor,
    ranks: Sequence[int] | None = None,
    *,
    readout: Callable[[Tensor], Tensor] | None = None,
    metric: Callable[[Tensor], float] | None = None,
) -> RankFidelity:
    r"""Run the rank-r approximations of ``net`` on ``inputs`` (T, B, I) and compare with ``net``.

    The rollouts are noise-free (a ``noise_std`` of ``net`` is set aside while they run): one
    noisy draw against another would measure the noise, not the approximation.

    Parameters
    ----------
    net : RateRNN
    inputs : Tensor (T, B, I)
    ranks : sequence of int, optional
        Default 1, 2, …, min(N, 8).
    readout : callable, optional
        rates (T, B, N) → outputs (T, B, O), e.g. a trained ``TaskModule.readout``.
    metric : callable, optional
        outputs → a number (e.g. a task's accuracy); needs ``readout``.

    Examples
    --------
    >>> import torchrate as tr
    >>> net = tr.RateRNN(2, 32, dtype=torch.float64)
    >>> fit = rank_fidelity(net, torch.randn(30, 4, 2, dtype=torch.float64), ranks=[1, 32])
    >>> bool(fit.rates_error[-1] < 1e-12)
    True
    """
    if not isinstance(net, RateRNN):
        raise TypeError(f"net must be a torchrate.RateRNN, got {type(net).__name__}")
    for name, fn in (("readout", readout), ("metric", metric)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} must be a callable or None, got {_validate._show(fn)}")
    if metric is not None and readout is None:
        raise ValueError("metric needs readout: it is evaluated on readout(rates)")
    if not isinstance(inputs, Tensor):
        raise TypeError(f"inputs must be a Tensor (T, B, I), got {_validate._show(inputs)}")
    if inputs.ndim not in (2, 3) or inputs.shape[-1] != net.input_size:
        raise ValueError(
            f"inputs must have shape (T, B, {net.input_size}) (or unbatched (T, {net.input_size})), "
            f"got {tuple(inputs.shape)}"
        )
    if ranks is None:
        ranks = list(range(1, min(net.hidden_size, 8) + 1))
    else:
        if isinstance(ranks, (str, bytes)) or not hasattr(ranks, "__iter__"):
            raise TypeError(f"ranks must be a sequence of integers, got {_validate._show(ranks)}")
        ranks = [_validate.as_int(f"ranks[{i}]", r, minimum=1) for i, r in enumerate(ranks)]
        if not ranks:
            raise ValueError("ranks must hold at least one rank, got none")
        if max(ranks) > net.hidden_size:
            raise ValueError(f"ranks must lie in [1, {net.hidden_size}] (the hidden size), got {max(ranks)}")
    noise_std = net.noise_std
    try:
        net.noise_std = 0.0
        return _rank_fidelity(net, inputs, ranks, readout, metric)
    finally:
        net.noise_std = noise_std


def _rank_fidelity(
    net: RateRNN,
    inputs: Tensor,
    ranks: list[int],
    readout: Callable[[Tensor], Tensor] | None,
    metric: Callable[[Tensor], float] | None,
) -> RankFidelity:
    with torch.no_grad():
        ref, _ = net(inputs)
        S = torch.linalg.svdvals(net.M.detach())
        out_ref = readout(ref) if readout is not None else ref  # ref itself (unused) without a readout
        rates_err, out_err, metrics = [], [], []
        for r in ranks:
            rates, _ = low_rank_approximation(net, r)(inputs)
            rates_err.append((rates - ref).norm() / ref.norm())
            if readout is not None:
                out = readout(rates)
                out_err.append((out - out_ref).norm() / out_ref.norm())
                if metric is not None:
                    metrics.append(float(metric(out)))
    return RankFidelity(
        ranks,
        S,
        torch.stack(rates_err),
        torch.stack(out_err) if out_err else None,
        torch.tensor(metrics, dtype=torch.float64) if metric is not None else None,
        float(metric(out_ref)) if metric is not None else None,
    )
