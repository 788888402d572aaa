r"""Batched fixed-point search whose cost grows with the number of distinct points, not of starts.

Works on any dynamical system (:mod:`torchrate.systems`): a torchrate network, a
``torch.nn.RNN``/``GRU``/``LSTM`` or cell, a :class:`~torchrate.systems.Flow` or
:class:`~torchrate.systems.Map`. Fixed points at a constant input u are the zeros of the
residual g(v) (dv/dt for a flow, F(v) − v for a map), and the minima q = 0 of q(v) = ½‖g(v)‖²
(Sussillo & Barak 2013). From K initial states (K, N), all on the system's device:

1. **Warm-up** (``opt_steps`` of Adam on q, every state on its own): moves states towards
   fixed points, saddles included (they are minima of q too), and towards slow points. The
   gradient ∇q = Jᵀg is analytic for torchrate's networks. The step is a fraction of the robust
   (median-based) spread of the finite starts, so an extreme start changes nothing. For a
   float64 search of a rate network or a one-layer torch RNN/GRU/LSTM the warm-up runs in
   float32 (it only steers; everything that decides anything runs in float64).
2. **Placement in rounds.** The unplaced states are clustered, exactly and greedily (lowest q
   first, a new leader when no leader is within the radius). Only the leaders run a batched
   damped Newton, d = −J⁻¹g with a line search on q (Levenberg–Marquardt where J is singular:
   on a line or ring of fixed points), to q ≈ rounding level: a state stops one step after a
   quadratic step into rounding level. From N = 256 on, once points are known, Newton's
   directions come from GMRES on J d = −g preconditioned by the LU of J at the state's nearest
   known point (one factorisation per point, shared; the products with J one matrix product
   for all states); a state GMRES does not bring to tolerance takes its own LU. Every other
   state then runs the *chord* iteration v ← v − J(p)⁻¹ g(v) towards its nearest point p found
   so far, with the one LU factorisation of J(p) shared by all of them. A state is placed when
   its own q falls below ``tol``; the last round runs Newton on every state still unplaced: the
   per-state search, so nothing a per-state search would find is lost.
3. **Summary.** Converged states (q ≤ ``tol``; slow points with q ≤ ``slow_points`` if asked)
   farther than ``outlier_scale`` times the starts' radius are flagged as outliers. The rest
   are de-duplicated by the same exact leader clustering with ``dedup_tol``. Points with an
   eigenvalue on the stability boundary that form a connected set of at least three distinct
   points are returned as **continuous attractors** (``.manifolds``: lines, rings), the others
   as isolated points with their Jacobians, eigenvalues and the system's own stability rule:
   Re λ < 0 for a flow, |μ| < 1 for a map (:mod:`torchrate.analysis.stability`).
4. **Between points.** Where the starts collapsed onto a few points (two or more states a point
   on average), Newton (no warm-up) from the midpoint of each point and its 12 nearest
   ones (at most 1,024 midpoints; up to three rounds while new points appear) adds the saddles
   between attractors whose basins the warm-up seldom enters; a point found only so has
   ``counts`` 0.

Linear solves are checked (finite, LAPACK ``info`` = 0, small residual); see
:mod:`torchrate.analysis._search`. The system is never modified: parameters are read
detached, ``requires_grad`` untouched.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import Tensor

from .. import _validate
from ..systems import RateSystem, Residual, System, as_system
from . import _search
from ._progress import Progress
from ._search import _CLUSTER_MIN_N, _LR_SCALE, _RADIUS_SCALE, _leaders, _Options, _robust_spread
from .lowrank import latent_search
from .stability import KINDS, boundary_tol, classify, distance_to_marginal, eigen_order, sort_eigenvalues

__all__ = ["FixedPoints", "Manifold", "find_fixed_points", "classify", "sample_states", "sort_eigenvalues"]


@dataclass
class Manifold:
    """A continuous attractor (or repeller): a connected set of fixed points, e.g. a line or a ring.

    Attributes
    ----------
    dimension : int
        Number of eigenvalues on the stability boundary along the set (1: a line or a ring).
    points : Tensor, shape (S, N)
        Distinct converged states on it, ordered along it (by angle for a ring, by position along
        its main axis for a line).
    residuals : Tensor, shape (S,)
        q at each.
    eigenvalues : Tensor, shape (S, N), complex
        At each point, sorted as :attr:`FixedPoints.eigenvalues`.
    stable_transverse : bool
        Every eigenvalue off the boundary is stable at every point: nearby states fall onto the
        set (an attractor).
    closed : bool
        The set closes on itself (a ring).
    count : int
        Initial states that ended on it.
    stable, kind : Tensor (S,) bool, list of str
        Each point's own verdict: on an exact continuum ``"marginal"``; on a slow one (found with
        ``manifold_tol``) the chain of stable points and saddles it is made of.
    """

    dimension: int
    points: Tensor
    residuals: Tensor
    eigenvalues: Tensor
    stable_transverse: bool
    closed: bool
    count: int
    stable: Tensor
    kind: list[str]

    def __repr__(self) -> str:
        shape = (
            "ring"
            if self.closed and self.dimension == 1
            else "line"
            if self.dimension == 1
            else f"{self.dimension}-dimensional set"
        )
        return (
            f"Manifold({shape} of {self.points.shape[0]} points in {self.points.shape[1]} dimensions, "
            f"{'attracting' if self.stable_transverse else 'not attracting'})"
        )


@dataclass
class FixedPoints:
    """Unique fixed points (or slow points) of a system at a constant input.

    Attributes
    ----------
    points : Tensor, shape (P, N)
        States at the isolated fixed points, sorted by residual; points found only from midpoints
        between others (``counts`` 0) come after those the starts reached.
    residuals : Tensor, shape (P,)
        q = ½‖g‖² at each point (g = dv/dt of a flow, in (rate/ms)²; F(v) − v of a map).
    jacobians : Tensor, shape (P, N, N)
        ∂(dv/dt)/∂v (flow, 1/ms) or ∂v'/∂v (map).
    eigenvalues : Tensor, shape (P, N), complex
        Of ``jacobians``: sorted by decreasing real part (flow) or modulus (map).
    stable : Tensor, shape (P,), bool
        All Re λ < 0 (flow) or all |μ| < 1 (map).
    kind : list of str, length P
        See :func:`~torchrate.analysis.stability.classify`.
    converged : Tensor, shape (P,), bool
        q ≤ ``tol``: a fixed point; ``False`` for slow points.
    counts : Tensor, shape (P,), long
        Initial states that ended at each point: ``counts.sum()`` plus the states on manifolds is
        the number of kept states.
    assignment : Tensor, shape (K,), long
        For each initial state, the index of the point it ended at, or −1 (on a manifold, not
        converged, a non-finite start, or an outlier).
    final_states : Tensor, shape (K, N)
        Where each initial state ended (its own converged state, not its point's).
    final_residuals : Tensor, shape (K,)
        q at ``final_states`` (NaN for non-finite starts).
    outliers : Tensor, shape (K,), bool
        States that converged but lie farther from the starts than ``outlier_scale`` allows.
    time : {"continuous", "discrete"}
        The system's time, which sets the stability rule.
    input_jacobians : Tensor, shape (P, N, I)
        ∂(dv/dt)/∂u (flow) or ∂v'/∂u (map) at each point: how the input moves the state there.
    manifolds : list of Manifold
        Continuous attractors (lines, rings) found among the converged states.
    on_manifold : Tensor, shape (K,), long
        For each initial state, the index of the manifold it ended on, or −1.
    right_eigenvectors, left_eigenvectors : Tensor, shape (P, N, N), complex, or None
        With ``eigenvectors=True``: columns ``R[:, :, k]`` and rows ``L[:, k, :]`` with
        ``J R = R diag(λ)``, ``L J = diag(λ) L`` and ``L R = I``, in the order of
        ``eigenvalues`` (the selection vectors of Mante, Sussillo et al. 2013 are rows of L).
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
    time: str = "continuous"
    input_jacobians: Tensor | None = None
    manifolds: list[Manifold] = field(default_factory=list)
    on_manifold: Tensor | None = None
    right_eigenvectors: Tensor | None = None
    left_eigenvectors: Tensor | None = None

    def __len__(self) -> int:
        return self.points.shape[0]

    def __getitem__(self, index: int | slice | Tensor) -> FixedPoints:
        """Select points with an int, slice, index tensor or bool mask (P,); states whose point
        is not selected get ``assignment`` −1 (manifolds are kept)."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        idx = torch.arange(len(self), device=self.points.device)[index].reshape(-1)
        new = torch.full((len(self) + 1,), -1, dtype=torch.long, device=idx.device)
        new[idx] = torch.arange(len(idx), device=idx.device)
        assignment = new[self.assignment]  # −1 indexes the last entry, which stays −1

        def pick(t: Tensor | None) -> Tensor | None:
            return None if t is None else t[idx]

        return replace(
            self,
            points=self.points[idx],
            residuals=self.residuals[idx],
            jacobians=self.jacobians[idx],
            eigenvalues=self.eigenvalues[idx],
            stable=self.stable[idx],
            kind=[self.kind[i] for i in idx.tolist()],
            converged=self.converged[idx],
            counts=self.counts[idx],
            assignment=assignment,
            input_jacobians=pick(self.input_jacobians),
            right_eigenvectors=pick(self.right_eigenvectors),
            left_eigenvectors=pick(self.left_eigenvectors),
        )

    def __repr__(self) -> str:
        N = self.points.shape[-1]
        tally = ", ".join(f"{self.kind.count(k)} {k}" for k in KINDS if k in self.kind)
        more = "".join(f"; {m!r}" for m in self.manifolds)
        return f"FixedPoints({len(self)} points in {N} dimensions, {self.time} time: {tally or 'none'}{more})"


def sample_states(
    trajectories: Tensor, n: int, noise_std: float = 0.0, *, generator: torch.Generator | None = None
) -> Tensor:
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
    trajectories = _validate.as_real_tensor(
        "trajectories", trajectories, fix="visited rates (*, N), e.g. the rates from net(u)"
    )
    if trajectories.ndim < 1:
        raise ValueError(
            "trajectories must have at least one dimension (*, N), got a 0-d tensor; pass rates "
            "of shape (T, B, N) or (K, N)"
        )
    n = _validate.as_int("n", n, minimum=1, fix="the number of states to draw")
    noise_std = _validate.check_nonnegative("noise_std", noise_std, fix="the standard deviation of the jitter")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {_validate._show(generator)}")
    flat = trajectories.detach().reshape(-1, trajectories.shape[-1])
    if flat.shape[0] == 0 or flat.shape[1] == 0:
        raise ValueError(
            f"trajectories must hold at least one state of shape (N,), got shape {tuple(trajectories.shape)}"
        )
    _validate.check_finite_tensor(
        "trajectories", flat, fix="starts drawn from NaN/Inf rates would be NaN/Inf; drop the diverged trials first"
    )
    gen_device = generator.device if generator is not None else flat.device
    idx = torch.randint(flat.shape[0], (n,), generator=generator, device=gen_device).to(flat.device)
    states = flat[idx].clone()
    if noise_std > 0:
        noise = torch.randn(states.shape, generator=generator, dtype=states.dtype, device=gen_device)
        states += noise_std * noise.to(flat.device)
    return states


# ----------------------------------------------------------------------------- inputs
def _starts(system: System, initial_states: object) -> Tensor:
    states = _validate.as_real_tensor("initial_states", initial_states)
    if states.ndim != 2:
        raise ValueError(f"initial_states must have shape (K, N), got {tuple(states.shape)}")
    if system.dtype is not None:
        states = states.to(dtype=system.dtype, device=system.device)
    elif not states.is_floating_point():
        states = states.to(torch.get_default_dtype())
    N = system.state_size
    if N is not None and states.shape[1] != N:
        raise ValueError(f"initial_states must have shape (K, {N}) for this network, got {tuple(states.shape)}")
    if states.dtype not in (torch.float32, torch.float64):
        raise TypeError(
            f"find_fixed_points searches in float32 or float64 (its linear algebra is LAPACK's), got a "
            f"{str(states.dtype).removeprefix('torch.')} network: analyse a copy in float32, e.g. "
            "copy.deepcopy(net).float()"
        )
    return states.detach()


def constant_input(system: System, u: object, like: Tensor) -> Tensor:
    """``u`` as the system's constant input (I,) on ``like``'s dtype and device (zeros for None);
    errors name the expected shape and non-finite entries."""
    I = system.input_size if system.input_size is not None else like.shape[-1]
    if u is None:
        return like.new_zeros(I)
    t = torch.as_tensor(u, dtype=like.dtype, device=like.device)
    if t.shape != (I,):
        raise ValueError(
            f"u must be a constant input of shape ({I},) (the system's input_size), got shape {tuple(t.shape)}"
        )
    if not bool(torch.isfinite(t).all()):
        raise ValueError(
            f"u must be finite, got {int((~torch.isfinite(t)).sum())} NaN/Inf entries in u of shape {tuple(t.shape)}"
        )
    return t


def _check_parameters(obj: object) -> None:
    """Clear errors for NaN/Inf in a module's parameters and buffers."""
    if isinstance(obj, torch.nn.Module):
        for name, t in (*obj.named_parameters(), *obj.named_buffers()):
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise ValueError(
                    f"the network's {name} has {int((~torch.isfinite(t)).sum())} NaN/Inf "
                    f"entries (of {t.numel()}): its fixed points are undefined"
                )


def _finite_starts(v: Tensor) -> Tensor:
    """Mask (K,) of finite starts; warns naming how many are not, raises if none is."""
    finite = torch.isfinite(v).all(-1)
    bad = int((~finite).sum())
    if bad and bad == v.shape[0]:
        raise ValueError(f"all {bad} initial states contain NaN or Inf: give finite starting rates")
    if bad:
        warnings.warn(
            f"{bad} of {v.shape[0]} initial states contain NaN or Inf and were dropped (their assignment is −1)",
            stacklevel=4,
        )
    return finite


def find_fixed_points(
    net: object,
    u: Tensor | None,
    initial_states: Tensor,
    *,
    time: str | None = None,
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
    eigenvectors: bool = False,
    manifold_tol: float | None = None,
) -> FixedPoints:
    r"""Fixed points of any recurrent system at constant input, from K initial states at once.

    Solves g(v) = 0, g the residual of the system (:func:`torchrate.systems.as_system`): dv/dt
    for a flow, F(v, u) − v for a map: a warm-up on q = ½‖g‖², then Newton on cluster leaders
    and the chord iteration for the other states (see the module docstring). Every returned
    point has q ≤ ``tol``, every kept state is counted once (``counts.sum()`` plus the states on
    ``manifolds``), and the same points come out with any thread count. Stability follows the
    system's time: Re λ < 0 (flow), |μ| < 1 (map). For an Euler network (both), a warning says
    where the other time's verdict differs.

    Parameters
    ----------
    net : torchrate network, torch.nn.RNN/GRU/LSTM (or cell), Flow, Map, or module with ``vector_field``
        Anything :func:`~torchrate.systems.as_system` takes. Not modified (no ``requires_grad``
        change, no graph built through its parameters). Non-finite parameters raise ``ValueError``.
    u : Tensor, shape (I,), or None
        Constant input (zeros for None). Must be finite.
    initial_states : Tensor, shape (K, N)
        Starting states, e.g. from :func:`sample_states` (for an LSTM, ``(h, c)`` concatenated);
        moved to the system's device/dtype. Starts with NaN/Inf are dropped with a warning (all
        of them: ``ValueError``).
    time : {"continuous", "discrete"}, optional
        Which view of an Euler network (see :func:`~torchrate.systems.as_system`); default its
        own: the map when dt/τ ≥ 0.5, else the flow.
    opt_steps : int
        Adam iterations on q before Newton (0: Newton only; saddles with small Newton basins
        may then be missed).
    lr : float, optional
        Adam step (state units); default 2% of the robust spread of the finite starts
        (1.4826 × median absolute deviation), so extreme starts do not set it.
    newton_steps : int
        Maximum damped-Newton iterations per state.
    check_every : int, optional
        Iterations between host synchronisations (convergence checks): default 25 for Adam,
        1 for Newton (the active set is compacted at each check).
    tol : float, optional
        q below which a state is a fixed point; default ``½N(1000·eps·(1+‖v‖∞)·s)²`` with s the
        residual's scale (1/τ_min for a rate flow, dt/τ_min for its map, else 1).
    slow_points : float, optional
        Also return slow points: unconverged states with q ≤ ``slow_points`` (``converged`` False).
    dedup_tol : float, optional
        Distance below which two states are one point; default ``10·sqrt(eps)·(1 + max‖v*‖∞)``.
    outlier_scale : float or None
        Flag states farther from the mean start than ``outlier_scale`` times the largest
        distance of a start from it (None: keep all; identical starts flag nothing); flagged
        states are reported in ``outliers`` with a warning, not returned as points.
    batch_size : int, optional
        Search the states in chunks of this many (None: all K at once). ``batch_size=1`` is the
        per-state loop (warm-up and Newton on every state).
    cluster : bool, optional
        Warm up and Newton only cluster leaders, and place the other states by the chord
        iteration (True, the default), or warm up and Newton every state (False).
    progress : bool
        Show a progress bar (tqdm), updated only at synchronisation points.
    latent : bool, optional
        For a low-rank network (a system with ``factors``, e.g. a
        :class:`~torchrate.LowRankRateRNN`; the default there, None): the exact search in its r
        latent dimensions (:func:`~torchrate.analysis.lowrank.latent_fixed_points`), which takes
        ``newton_steps`` and ``tol`` only: with any other search option given (``dedup_tol``,
        ``slow_points``, …) None takes the full-space search, and True is refused.
        ``False``: the full-space search on the formed M.
    eigenvectors : bool
        Also return right and left eigenvectors (``right_eigenvectors``, ``left_eigenvectors``).
    manifold_tol : float, optional
        Distance from the stability boundary (|Re λ| in 1/ms for a flow, ||μ| − 1| for a map)
        within which an eigenvalue counts as running along a set of fixed points. Default: the
        rounding level (``sqrt(eps)·max|λ|``), so only exact continua (lines, rings) are joined;
        for a trained network whose attractor is a chain of isolated points with one slow mode
        (a slow line or ring), pass the slow rate, e.g. 1e-3, to get it as one manifold.

    Returns
    -------
    FixedPoints
        Isolated points with residuals, Jacobians, input Jacobians, eigenvalues, stability,
        kind and counts; continuous attractors in ``manifolds``; per start its point
        (``assignment``) or manifold (``on_manifold``), final state and residual.

    Examples
    --------
    >>> import torchrate as tr
    >>> net = tr.RateRNN.from_weights(torch.tensor([[0.0, 2.0], [2.0, 0.0]]), tau=10.0, dt=1.0,
    ...                               nonlinearity="tanh")
    >>> fps = find_fixed_points(net, None, torch.randn(64, 2))
    >>> sorted(fps.kind)      # (0, 0) and ±(a, a) with a = tanh(2a)
    ['saddle', 'stable node', 'stable node']
    >>> rnn = torch.nn.GRU(3, 16)                      # any torch RNN: the map it runs
    >>> find_fixed_points(rnn, None, torch.randn(32, 16)).time
    'discrete'
    """
    (opt_steps, lr, newton_steps, check_every, tol, slow_points, dedup_tol, outlier_scale, batch_size, manifold_tol) = (
        _check_options(
            opt_steps,
            lr,
            newton_steps,
            check_every,
            tol,
            slow_points,
            dedup_tol,
            outlier_scale,
            batch_size,
            cluster,
            progress,
            latent,
            eigenvectors,
            manifold_tol,
        )
    )
    system = as_system(net, time=time)
    if latent and getattr(system, "factors", None) is None:
        raise TypeError(f"latent=True needs a low-rank network (torchrate.LowRankRateRNN), got {type(net).__name__}")
    defaults = inspect.signature(find_fixed_points).parameters
    given = {
        name: value
        for name, value in (
            ("opt_steps", opt_steps),
            ("lr", lr),
            ("check_every", check_every),
            ("slow_points", slow_points),
            ("dedup_tol", dedup_tol),
            ("outlier_scale", outlier_scale),
            ("batch_size", batch_size),
            ("cluster", cluster),
        )
        if value != defaults[name].default
        and not (name == "outlier_scale" and value is None)  # the latent search drops no outlier either
    }  # options the latent search has no use for: given, the full-space search takes them
    if latent and given:
        raise ValueError(
            f"latent=True searches the network's r latent dimensions, which take newton_steps and tol only: "
            f"{', '.join(f'{k}={v!r}' for k, v in given.items())} would be ignored; pass latent=None or False "
            "(the full-space search, which takes them)"
        )
    with torch.no_grad():
        v0 = _starts(system, initial_states)
        uc = constant_input(system, u, v0)
        _check_parameters(net)
        if latent is not False and not given and isinstance(system, RateSystem) and system.factors is not None:
            lat = latent_search(system, uc, v0, newton_steps=max(newton_steps, 100), tol=tol)
            fps = _characterise(
                system,
                uc,
                lat.points,
                lat.residuals,
                torch.ones_like(lat.counts, dtype=torch.bool),
                lat.counts,
                lat.assignment,
                lat.final_states,
                lat.final_residuals,
                torch.zeros_like(lat.assignment, dtype=torch.bool),
                eigenvectors,
                manifold_tol,
                tol,
                eigenvalues=lat.eigenvalues,
            )
        else:
            fps = _find(
                system,
                uc,
                v0,
                opt_steps,
                lr,
                newton_steps,
                check_every,
                tol,
                slow_points,
                dedup_tol,
                outlier_scale,
                batch_size,
                cluster,
                progress,
                eigenvectors,
                manifold_tol,
            )
    _compare_times(system, fps.eigenvalues, fps.stable, fps.kind)
    return fps


def _check_options(
    opt_steps: int,
    lr: float | None,
    newton_steps: int,
    check_every: int | None,
    tol: float | None,
    slow_points: float | None,
    dedup_tol: float | None,
    outlier_scale: float | None,
    batch_size: int | None,
    cluster: bool | None,
    progress: bool,
    latent: bool | None,
    eigenvectors: bool,
    manifold_tol: float | None,
) -> tuple[
    int, float | None, int, int | None, float | None, float | None, float | None, float | None, int | None, float | None
]:
    """Every option of :func:`find_fixed_points` by name (TypeError: wrong kind, ValueError: out of
    range), as Python numbers; None kept where it means "the default"."""

    def opt(check: Callable[..., float], name: str, value: float | None, fix: str) -> float | None:
        return None if value is None else check(name, value, fix=fix)

    opt_steps = _validate.as_int("opt_steps", opt_steps, minimum=0, fix="Adam iterations, e.g. 100 (0: Newton only)")
    newton_steps = _validate.as_int("newton_steps", newton_steps, minimum=0, fix="Newton iterations, e.g. 50")
    if check_every is not None:
        check_every = _validate.as_int(
            "check_every", check_every, minimum=1, fix="iterations between convergence checks, or None for the default"
        )
    if batch_size is not None:
        batch_size = _validate.as_int(
            "batch_size", batch_size, minimum=1, fix="states per chunk, or None for all at once"
        )
    lr = opt(_validate.check_positive, "lr", lr, "an Adam step in rate units, or None for 2% of the starts' spread")
    tol = opt(_validate.check_nonnegative, "tol", tol, "a threshold on q = ½‖g‖², e.g. 1e-12, or None")
    slow_points = opt(
        _validate.check_nonnegative, "slow_points", slow_points, "a threshold on q for slow points, e.g. 1e-4, or None"
    )
    dedup_tol = opt(
        _validate.check_positive, "dedup_tol", dedup_tol, "a distance below which two states are one point, or None"
    )
    outlier_scale = opt(
        _validate.check_positive,
        "outlier_scale",
        outlier_scale,
        "a multiple of the starts' radius, e.g. 10, or None to keep every state",
    )
    manifold_tol = opt(
        _validate.check_nonnegative,
        "manifold_tol",
        manifold_tol,
        "a rate (1/ms) or modulus distance, e.g. 1e-3, or None",
    )
    for name, flag in (("progress", progress), ("eigenvectors", eigenvectors)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {_validate._show(flag)}")
    for name, choice in (("cluster", cluster), ("latent", latent)):
        if choice is not None and not isinstance(choice, bool):
            raise TypeError(f"{name} must be True, False or None, got {_validate._show(choice)}")
    return (
        opt_steps,
        lr,
        newton_steps,
        check_every,
        tol,
        slow_points,
        dedup_tol,
        outlier_scale,
        batch_size,
        manifold_tol,
    )


def _find(
    system: System,
    u: Tensor,
    v0: Tensor,
    opt_steps: int,
    lr: float | None,
    newton_steps: int,
    check_every: int | None,
    tol: float | None,
    slow_points: float | None,
    dedup_tol: float | None,
    outlier_scale: float | None,
    batch_size: int | None,
    cluster: bool | None,
    progress: bool,
    eigenvectors: bool,
    manifold_tol: float | None,
) -> FixedPoints:
    """The body of :func:`find_fixed_points` (under ``torch.no_grad``)."""
    K, N = v0.shape
    if K == 0:
        raise ValueError(
            "initial_states must hold at least one start, got shape (0, N); e.g. "
            "tr.analysis.sample_states(rates, 256, noise_std=0.05)"
        )
    field_ = system.at(u)
    two = v0[:2].nan_to_num(0.0)
    out = system(two, u.expand(len(two), -1))
    if not (isinstance(out, torch.Tensor) and out.is_floating_point()):
        raise TypeError(
            f"the system's step must return a floating-point tensor of states, got "
            f"{out.dtype if isinstance(out, torch.Tensor) else type(out).__name__}"
        )
    if out.shape != two.shape:
        raise ValueError(
            f"the system's step must return states of the shape it was given, (B, N) = "
            f"{tuple(two.shape)}, got {tuple(out.shape)}: a Map's step(v, u) and a Flow's f(v, u) are "
            "batched over dimension 0"
        )
    if not bool(torch.isfinite(field_(two[:1])).all()):
        raise ValueError(
            "the system's residual is not finite at the first start although the input is: check the input weights"
        )
    v = v0.clone()
    finite = _finite_starts(v0)  # at least one (all non-finite raises)
    good = v0[finite]
    center = good.mean(0)
    radius = (good - center).norm(dim=-1).max().item()
    if radius <= 1e3 * torch.finfo(v0.dtype).eps * (1 + center.abs().max().item()):
        radius = 0.0  # identical starts: no scale to judge outliers by
    spread = _robust_spread(good)
    opt = _Options(
        opt_steps,
        _LR_SCALE * spread if lr is None else lr,
        newton_steps,
        check_every or 25,
        check_every or 1,
        tol,
        slow_points,
        dedup_tol,
        N >= _CLUSTER_MIN_N if cluster is None else bool(cluster),
        _RADIUS_SCALE * spread * math.sqrt(N),
        field_.scale,
    )
    chunks = good.split(batch_size or len(good))
    bar = Progress(progress, len(chunks) * (opt_steps + newton_steps), "fixed points")
    try:
        with _search.inference(field_):
            found = [_search.search(field_, c, opt, bar) for c in chunks]
        v[finite] = torch.cat(found)  # copied into an ordinary tensor
    finally:
        bar.close()
    q_all = field_.q(v)
    q_tol = opt.q_tol(v)
    converged_all = (q_all <= q_tol) & finite
    kept = converged_all | (q_all <= slow_points) & finite if slow_points is not None else converged_all
    outliers = torch.zeros_like(kept)
    if outlier_scale is not None and radius > 0:
        outliers = kept & ((v - center).norm(dim=-1) > outlier_scale * radius)
        n_out = int(outliers.sum())
        if n_out:
            warnings.warn(
                f"{n_out} of {int(kept.sum())} converged states lie farther than "
                f"outlier_scale={outlier_scale:g} × the radius of the initial states and "
                "are reported in .outliers, not returned as points; pass "
                "outlier_scale=None to keep them",
                stacklevel=3,
            )
        kept = kept & ~outliers
    if not bool(converged_all.any()):  # an empty result is an answer, but say why it is empty
        q_min = q_all[finite].min().item() if bool(finite.any()) else math.nan
        g = "dv/dt" if system.time == "continuous" else "F(v) − v"
        warnings.warn(
            f"none of the {K} states converged to a fixed point (smallest q = ½‖{g}‖² = {q_min:.3g}): "
            "there may be none near these starts (trajectories from them diverge, cycle or drift); "
            "try other initial_states, or slow_points=q to see the slowest states",
            stacklevel=3,
        )
    idx = kept.nonzero()[:, 0]
    vk, qk = v[idx], q_all[idx]
    user_dedup = dedup_tol is not None
    if dedup_tol is None:
        dedup_tol = 10 * math.sqrt(torch.finfo(v.dtype).eps) * (1 + (vk.abs().max().item() if len(vk) else 0.0))
    leaders, assign = _leaders(vk, torch.sort(qk, stable=True).indices, dedup_tol)  # points sorted by residual
    if user_dedup and len(vk):
        _warn_merged(vk, qk, leaders, assign, converged_all[idx], dedup_tol, v.dtype)
    points, q_points, conv = vk[leaders], qk[leaders], converged_all[idx][leaders]
    counts = torch.bincount(assign, minlength=len(leaders))
    # only where the starts collapsed onto a few points (two or more states a point on average): on a
    # continuum every start has a point of its own, and midpoints would only add more of the set
    collapsed = 2 * len(points) <= len(idx)
    with _search.inference(field_):
        extra = _between_points(field_, points[conv], opt, dedup_tol) if collapsed else points[:0]
    extra = extra.clone()  # an ordinary tensor, like every other field of the result
    if outlier_scale is not None and radius > 0:  # the starts' rule: nothing farther than their radius allows
        extra = extra[(extra - center).norm(dim=-1) <= outlier_scale * radius]
    if len(extra):  # found only between others: after the points the starts reached, with no start counted
        points, q_points = torch.cat([points, extra]), torch.cat([q_points, field_.q(extra)])
        conv = torch.cat([conv, torch.ones(len(extra), dtype=torch.bool, device=v.device)])
        counts = torch.cat([counts, counts.new_zeros(len(extra))])
    assignment = torch.full((K,), -1, dtype=torch.long, device=v.device)
    assignment[idx] = assign
    return _characterise(
        system, u, points, q_points, conv, counts, assignment, v, q_all, outliers, eigenvectors, manifold_tol, tol
    )


def _warn_merged(
    vk: Tensor, qk: Tensor, leaders: Tensor, assign: Tensor, converged: Tensor, dedup_tol: float, dtype: torch.dtype
) -> None:
    """Warn when a given ``dedup_tol`` joined converged states (fixed points to rounding) that lie farther
    apart than 1,000 × the default tolerance: they are distinct fixed points, reported as one."""
    far = (vk - vk[leaders][assign]).norm(dim=-1)
    default = 10 * math.sqrt(torch.finfo(dtype).eps) * (1 + vk.abs().max().item())
    merged = converged & (far > 1e3 * default)
    if bool(merged.any()):
        warnings.warn(
            f"dedup_tol={dedup_tol:g} joined {int(merged.sum())} converged states up to "
            f"{far[merged].max().item():.3g} from their point: distinct fixed points are reported as one; "
            f"pass a smaller dedup_tol (default {default:.2g})",
            stacklevel=4,
        )


def _between_points(field_: Residual, points: Tensor, opt: _Options, dedup_tol: float) -> Tensor:
    """New distinct points (E, N), sorted by residual, found from midpoints between points, in up to
    ``_BETWEEN_ROUNDS`` rounds: the first between all ``points``, each later one between the points
    the last round added and their neighbours."""
    known = points
    fresh = torch.arange(len(points), device=points.device)
    for _ in range(_BETWEEN_ROUNDS):
        found = _between(field_, known, fresh, opt)
        if len(found):
            found = found[_search._distances(found, known).min(1).values > dedup_tol]
        if not len(found):
            break
        found = found[_leaders(found, torch.sort(field_.q(found), stable=True).indices, dedup_tol)[0]]
        fresh = torch.arange(len(known), len(known) + len(found), device=points.device)
        known = torch.cat([known, found])
    return known[len(points) :]


_BETWEEN_NEIGHBOURS = 12  # midpoints of each point with this many nearest points
_BETWEEN_MAX = 1024  # at most this many midpoint starts
_BETWEEN_ROUNDS = 3  # rounds of midpoints, while they add points
_BETWEEN_STEPS = 20  # Newton iterations from a midpoint (a saddle near it converges in a few)


def _between(field_: Residual, known: Tensor, fresh: Tensor, opt: _Options) -> Tensor:
    """Converged states of Newton (no warm-up) from the midpoints of each point ``known[fresh]`` and
    its nearest other points (each pair once): saddles between attractors whose basins the warm-up
    seldom enters (two of the 27 points of FixedPointFinder's tanh flip-flop are found only so)."""
    P = known.shape[0]
    if P < 2 or not len(fresh):
        return known[:0]
    k = min(_BETWEEN_NEIGHBOURS, P - 1, max(1, _BETWEEN_MAX // len(fresh)))
    near = _search._distances(known[fresh], known).argsort(1)[:, 1 : k + 1]  # column 0: the point itself
    i, j = fresh[:, None].expand(-1, k).reshape(-1), near.reshape(-1)
    pair = torch.unique(torch.minimum(i, j) * P + torch.maximum(i, j))  # (i, j) and (j, i): one midpoint
    mids = 0.5 * (known[pair // P] + known[pair % P])
    found = _search._newton(
        field_,
        mids,
        min(opt.newton_steps, _BETWEEN_STEPS),
        opt.newton_every,
        4 * torch.finfo(mids.dtype).eps,
        Progress(False, 0, ""),
        opt.stop,
        known,
    )
    return found[(field_.q(found) <= opt.q_tol(found)) & torch.isfinite(found).all(-1)]


_MANIFOLD_MIN_POINTS = 3  # distinct points on the stability boundary that make a continuum
_MANIFOLD_GAP = 20.0  # points farther apart than this many median spacings, across the sets, lie apart
_ALONG = 0.8  # a chord with this fraction of its length in the sets' directions at both ends runs along them
_NEAR = 3.0  # a chord up to this many median spacings, off the sets as an arc would be, lies on one
_TANGENT_NOISE = 0.05  # rounding in the tangent spaces: the fraction of a chord off them that is noise
_LINK_ROUNDS = 8  # rounds of linking groups of points (see _continua)
_CONTINUES_STEPS = 20  # Newton iterations of the bordered system from a chord's midpoint
_CONTINUES_DEPTH = 3  # halvings of a chord before the set along it must be an arc


def _characterise(
    system: System,
    u: Tensor,
    points: Tensor,
    residuals: Tensor,
    converged: Tensor,
    counts: Tensor,
    assignment: Tensor,
    final_states: Tensor,
    final_residuals: Tensor,
    outliers: Tensor,
    eigenvectors: bool,
    manifold_tol: float | None,
    tol: float | None,
    eigenvalues: Tensor | None = None,
) -> FixedPoints:
    """Jacobians, eigenvalues, stability and kinds of the distinct points; continuous attractors
    split off into manifolds; the Euler network's other verdict compared."""
    P, N = points.shape
    time = system.time
    U = u.expand(P, -1)
    jac = system.jacobian(points, U).detach() if P else points.new_zeros(0, N, N)
    ctype = torch.promote_types(points.dtype, torch.complex64)
    R = None
    if not P:
        lam = jac.new_zeros(0, N).to(ctype)
        R = jac.new_zeros(0, N, N).to(ctype) if eigenvectors else None
    elif eigenvectors:
        lam, R = torch.linalg.eig(jac)
    elif eigenvalues is not None:  # given by a reduced (latent) formula, in the system's time
        lam = eigenvalues
    else:
        lam = torch.linalg.eigvals(jac)
    order = eigen_order(lam, time)
    lam = lam.gather(-1, order)
    if R is not None:
        R = R.gather(-1, order[:, None, :].expand(-1, N, -1))
    # ---- continuous attractors: connected sets of points with an eigenvalue on the boundary
    groups = _continua(system, u, points, jac, lam, manifold_tol, tol)
    on_set = torch.zeros(P, dtype=torch.bool, device=points.device)
    manifolds = []
    point_to_set = torch.full((P + 1,), -1, dtype=torch.long, device=points.device)
    for g, (members, dim) in enumerate(groups):
        on_set[members] = True
        point_to_set[members] = g
        manifolds.append(
            _manifold(points[members], residuals[members], lam[members], counts[members], dim, time, manifold_tol)
        )
    on_manifold = point_to_set[assignment]
    iso = (~on_set).nonzero()[:, 0]
    renumber = torch.full((P + 1,), -1, dtype=torch.long, device=points.device)
    renumber[iso] = torch.arange(len(iso), device=points.device)
    assignment = renumber[assignment]
    points, residuals, jac, lam, converged, counts = (t[iso] for t in (points, residuals, jac, lam, converged, counts))
    stable, kind = classify(lam, time=time)
    L = None
    if R is not None:
        R = R[iso]
        if not len(iso):
            L = R.clone()
        elif _search._one_at_a_time(R):  # MKL's batched LU hangs with threads above N = 128
            L = torch.stack([torch.linalg.inv(r) for r in R])
        else:
            L = torch.linalg.inv(R)
    inj = (
        system.input_jacobian(points, u.expand(len(iso), -1)).detach()
        if len(iso)
        else points.new_zeros(0, N, u.shape[-1])
    )
    return FixedPoints(
        points,
        residuals,
        jac,
        lam,
        stable,
        kind,
        converged,
        counts,
        assignment,
        final_states,
        final_residuals,
        outliers,
        time,
        inj,
        manifolds,
        on_manifold,
        R,
        L,
    )


_UNDECIDED = ("marginal", "flip", "Neimark–Sacker", "undetermined")


def _compare_times(system: System, lam: Tensor, stable: Tensor, kind: list[str]) -> None:
    """For an Euler network (μ = 1 + dt·λ), warn where the flow's and the map's verdicts differ."""
    dt = system.euler_dt
    if dt is None or not len(lam):
        return
    other = (lam - 1) / dt if system.time == "discrete" else 1 + dt * lam
    other_stable, other_kind = classify(other, time=system.other_time)
    definite = torch.tensor(
        [a not in _UNDECIDED and b not in _UNDECIDED for a, b in zip(kind, other_kind)],
        dtype=torch.bool,
        device=stable.device,
    )
    differs = (other_stable != stable) & definite
    if bool(differs.any()):
        verdict = "stable" if bool(stable[differs][0]) else "unstable"
        warnings.warn(
            f"{int(differs.sum())} of {len(lam)} fixed points are {verdict} as the {system.time}-time system analysed "
            f"here but not as the {system.other_time}-time one (μ = 1 + dt·λ, dt = {dt:g}): the network runs the "
            f"map at its dt (time='discrete'); its ODE is time='continuous'. The verdicts returned are those of "
            f"time={system.time!r}",
            stacklevel=3,
        )  # the caller of find_fixed_points


def _continua(
    system: System, u: Tensor, points: Tensor, jac: Tensor, lam: Tensor, tol: float | None, q_tol: float | None
) -> list[tuple[Tensor, int]]:
    """Index sets (and dimensions) of points that form continuous sets of fixed points: points with
    an eigenvalue on the stability boundary, joined where the set runs between them, in groups of
    ``_MANIFOLD_MIN_POINTS``+.

    A pair of points runs along the sets where, at both ends, at least ``_ALONG`` of the chord lies
    in the span of the boundary eigenvectors there (the set's tangent space, within 37°). Pairs that
    are near (at most ``_NEAR`` × the median distance to a nearest point) and form an :func:`_arc`
    are joined outright. The groups so joined are then linked in rounds: each round takes a minimum
    spanning tree of the groups (pairs along the sets first, then by length) and links two groups
    where :func:`_continues` finds, by Newton's method, the set running between the tree's pair of
    points; a pair neither along nor within ``_MANIFOLD_GAP`` × the median distance is not tried.
    A pair that fails sets its two groups apart for the later rounds, which try other pairs (an arc
    of a ring is linked to its other arc once the rings between them were set apart). So two
    parallel rings, a stable one and a saddle one, are two sets however close; so are two segments
    of one line.
    """
    if not len(points):
        return []
    time = system.time
    bound = boundary_tol(lam, time)[:, 0] if tol is None else torch.full_like(lam.real[:, 0], tol)
    dims = (distance_to_marginal(lam, time).abs() <= bound[:, None]).sum(-1)
    cand = (dims > 0).nonzero()[:, 0]
    if len(cand) < _MANIFOLD_MIN_POINTS:
        return []
    x = points[cand]
    S = x.shape[0]
    tangents = _tangent_spaces(jac[cand], lam[cand], time, int(dims[cand].max()))  # (S, N, d)
    dist = _search._distances(x, x)
    eye = torch.eye(S, dtype=torch.bool, device=x.device)
    median = dist.masked_fill(eye, math.inf).amin(1).median()
    # the fraction of x_j − x_i in the tangent space at x_i, ‖T_iᵀ (x_j − x_i)‖ / ‖x_j − x_i‖, from T_iᵀ x_j (S, d, S)
    tx = tangents.mT @ x.T
    own = tx.diagonal(dim1=0, dim2=2).T  # T_iᵀ x_i (S, d)
    here = ((tx - own[:, :, None]).norm(dim=1) / dist.clamp_min(torch.finfo(x.dtype).tiny)).clamp_max(1)
    along = torch.minimum(here, here.T)
    runs = (along >= _ALONG) & ~eye
    i, j = (runs & (dist <= _NEAR * median)).nonzero().unbind(1)
    arc = _arc(x[i], x[j], tangents[i], tangents[j])
    group = _union(S, i[arc].tolist(), j[arc].tolist())
    tried = runs | (dist <= _MANIFOLD_GAP * median)
    weight = torch.where(runs, dist, dist + 2 * dist.max())  # any pair along the sets before any across them
    failed = x.new_zeros(2, 0, dtype=torch.long)  # pairs of points tried and found apart: their groups lie apart
    for _ in range(_LINK_ROUNDS):
        g = torch.unique(torch.tensor(group, device=x.device), return_inverse=True)[1]  # groups 0, 1, …
        same = g[:, None] == g[None, :]
        between = torch.zeros(S, S, dtype=torch.bool, device=x.device)  # (groups, groups): apart
        between[g[failed[0]], g[failed[1]]] = True
        between[g[failed[1]], g[failed[0]]] = True
        apart = between[g][:, g]
        parent, _ = _spanning_tree(torch.where(same, 0.0, weight).masked_fill(apart, 2 * weight.max()))  # apart: last
        parent = parent.to(x.device)
        k = ((g != g[parent]) & ~apart.gather(1, parent[:, None])[:, 0]).nonzero()[:, 0]  # tree pairs between groups
        if not len(k):
            break
        pa = parent[k]
        link = tried[k, pa].clone()
        t = link.nonzero()[:, 0]
        if len(t):
            ka, kb = k[t], pa[t]
            on = torch.maximum(bound[cand[ka]], bound[cand[kb]])
            link[t] = _continues(system, u, x[ka], x[kb], tangents[ka], tangents[kb], on, q_tol)
        failed = torch.cat([failed, torch.stack([k[~link], pa[~link]])], 1)
        group = _union(S, k[link].tolist(), pa[link].tolist(), group)
    comps: dict[int, list[int]] = {}
    for m, r in enumerate(group):
        comps.setdefault(r, []).append(m)
    out = []
    for members in comps.values():
        if len(members) >= _MANIFOLD_MIN_POINTS:
            idx = cand[torch.tensor(members, device=cand.device)]
            out.append((idx, int(dims[idx].median().item())))
    return out


def _union(n: int, i: list[int], j: list[int], start: list[int] | None = None) -> list[int]:
    """The connected components of ``n`` nodes (each node's root, a member of its component) joined
    by the edges (i, j), starting from the components ``start`` (roots, as returned)."""
    root = list(range(n)) if start is None else list(start)

    def find(m: int) -> int:
        while root[m] != m:
            root[m] = root[root[m]]
            m = root[m]
        return m

    for a, b in zip(i, j):
        root[find(a)] = find(b)
    return [find(m) for m in range(n)]


def _arc(a: Tensor, b: Tensor, ta: Tensor, tb: Tensor) -> Tensor:
    """Whether the chords from ``a`` to ``b`` (E, N) run along sets with the tangent spaces ``ta``, ``tb``
    (E, N, d) at their ends as an arc of one would (E,): at least ``_ALONG`` of the chord in each (within
    37°), and off each by no more than 2 sin(θ/2) + ``_TANGENT_NOISE`` of it, θ the largest angle between
    the two spaces (an arc whose tangent turns by θ leaves it by θ/2 at each end)."""
    e = b - a
    length = e.norm(dim=-1).clamp_min(torch.finfo(a.dtype).tiny)
    here = ((ta.mT @ e[:, :, None]).norm(dim=(-2, -1)) / length).clamp_max(1)
    there = ((tb.mT @ e[:, :, None]).norm(dim=(-2, -1)) / length).clamp_max(1)
    frac = torch.minimum(here, there)
    cos = torch.linalg.svdvals(ta.mT @ tb).amin(-1).clamp(0, 1)  # cos θ
    return (frac >= _ALONG) & ((1 - frac.square()).sqrt() <= 2 * ((1 - cos) / 2).sqrt() + _TANGENT_NOISE)


def _continues(
    system: System,
    u: Tensor,
    a: Tensor,
    b: Tensor,
    ta: Tensor,
    tb: Tensor,
    tol: Tensor,
    q_tol: float | None,
    depth: int = _CONTINUES_DEPTH,
) -> Tensor:
    """Whether a set of fixed points runs from the points ``a`` to ``b`` (E, N), whose sets have the
    tangent spaces ``ta``, ``tb`` (E, N, d) there: (E,) bool. ``tol`` (E,): the distance from the
    boundary that counts as on it, at a and b.

    The set crosses the plane normal to the chord through its midpoint near that midpoint, at a point
    x of a set (:func:`_crossing`), and runs on from a to x and from x to b: each half is an
    :func:`_arc`, or, up to ``depth`` halvings, continues so itself. A third set between a and b
    (a saddle ring midway between two rings) is crossed, but not reached from a.
    """
    x, tx, ok = _crossing(system, u, a, b, ta, tb, tol, q_tol)
    for p, tp, q, tq in ((a, ta, x, tx), (x, tx, b, tb)):
        on = ok & _arc(p, q, tp, tq)
        rest = (ok & ~on).nonzero()[:, 0]
        if depth > 0 and len(rest):
            on[rest] = _continues(system, u, p[rest], q[rest], tp[rest], tq[rest], tol[rest], q_tol, depth - 1)
        ok = on
    return ok


def _crossing(
    system: System, u: Tensor, a: Tensor, b: Tensor, ta: Tensor, tb: Tensor, tol: Tensor, q_tol: float | None
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Where a set of fixed points through ``a`` and ``b`` (E, N) crosses the plane through their
    midpoint m normal to the chord: the points x (E, N), the set's tangent spaces there (E, N, d), and
    whether each is one (E,) bool.

    The plane is x ∈ m + B^⊥, B (N, d) the chord's direction and, for d > 1, the d − 1 other
    directions of the set at a. Newton on the bordered system (the corrector of pseudo-arclength
    continuation)

    .. math:: f(x) + B λ = 0, \quad Bᵀ (x − m) = 0, \qquad K = \begin{pmatrix} J & B \\ Bᵀ & 0 \end{pmatrix}

    from (m, 0) finds a fixed point (λ = 0) on it. There K (W; Λ) = (0; I) gives the directions W
    (N, d) along which f stays 0 to first order, J W = −B Λ: the set's tangent space, where
    ‖J Ŵ‖₂ ≤ ``tol`` (E,) for its orthonormal basis Ŵ (J singular along it: a point of a set, not an
    isolated fixed point). It is a crossing where Newton converged (q ≤ the search's tolerance)
    within ‖b − a‖ (1/8 + 3/8 sin θ) of m, θ the largest angle between ``ta`` and ``tb`` (an arc of a
    circle turning by θ ≤ 90° has its sagitta ‖b − a‖ tan(θ/4)/2 ≤ that bound), at a point of a set.
    Parallel rings have no fixed point on that plane, concentric ones two at ~√(r·gap) from m, far
    beyond gap/8; an isolated fixed point midway between two segments of a line is on no set.
    """
    field_ = system.at(u)
    E, N = a.shape
    d = ta.shape[-1]
    e = b - a
    length = e.norm(dim=-1)
    chord = e / length.clamp_min(torch.finfo(a.dtype).tiny)[:, None]
    if d > 1:  # the set's other directions at a, normal to the chord
        rest = ta - chord[:, :, None] * (chord[:, None, :] @ ta)
        other = torch.linalg.svd(rest, full_matrices=False).U[..., : d - 1]
        B = torch.cat([chord[:, :, None], other], -1)
    else:
        B = chord[:, :, None]
    m = 0.5 * (a + b)
    x, lam = m.clone(), a.new_zeros(E, d)
    budget = _search._JACOBIAN_BYTES_CUDA if a.device.type == "cuda" else _search._JACOBIAN_BYTES_CPU
    chunks = torch.arange(E, device=a.device).split(max(1, budget // ((N + d) ** 2 * a.element_size())))
    zeros = a.new_zeros(E, d, d)

    def bordered(rows: Tensor) -> tuple[Tensor, Tensor]:
        J = field_.jacobian(x[rows])
        return J, torch.cat([torch.cat([J, B[rows]], -1), torch.cat([B[rows].mT, zeros[rows]], -1)], -2)

    def converged(x: Tensor) -> Tensor:  # a fixed point to the search's tolerance
        return field_.q(x) <= (_search.default_tol(field_.scale, x) if q_tol is None else q_tol)

    for _ in range(_CONTINUES_STEPS):
        f = field_(x) + (B @ lam[:, :, None])[..., 0]
        g = (B.mT @ (x - m)[:, :, None])[..., 0]
        rhs = -torch.cat([f, g], -1)
        step = torch.empty_like(rhs)
        for rows in chunks:
            sol, solved = _search._solve(bordered(rows)[1], rhs[rows])
            step[rows] = torch.where(solved[:, None], sol, math.nan)
        step = torch.where(converged(x)[:, None], 0.0, step)  # there already (a slow set in float32: no closer)
        x, lam = x + step[:, :N], lam + step[:, N:]
        if not bool((step.abs().amax(-1) > 4 * torch.finfo(a.dtype).eps * (1 + x.abs().amax(-1))).any()):
            break  # every state converged, at rounding level, or failed (NaN)
    cos = torch.linalg.svdvals(ta.mT @ tb).amin(-1).clamp(0, 1)
    bound = length * (0.125 + 0.375 * (1 - cos.square()).sqrt())
    near = torch.isfinite(x).all(-1) & ((x - m).norm(dim=-1) <= bound)
    x = torch.where(near[:, None], x, m)  # finite everywhere
    tangents, on = x.new_zeros(E, N, d), torch.zeros_like(near)
    unit = torch.cat([x.new_zeros(N, d), torch.eye(d, dtype=x.dtype, device=x.device)])
    for rows in chunks:
        J, K = bordered(rows)
        W, _ = torch.linalg.solve_ex(K, unit.expand(len(rows), -1, -1))
        W = W[:, :N].nan_to_num(0.0)
        Q = torch.linalg.svd(W, full_matrices=False).U  # orthonormal (s, N, d)
        tangents[rows] = Q
        on[rows] = torch.linalg.svdvals(J @ Q)[:, -1] <= tol[rows]  # J singular along the set
    return x, tangents, near & converged(x) & on


def _tangent_spaces(jac: Tensor, lam: Tensor, time: str, d: int) -> Tensor:
    """Orthonormal bases (S, N, d) of the real span of the eigenvectors of ``jac`` (S, N, N) for its ``d``
    eigenvalues ``lam`` (S, N) nearest the stability boundary: the directions along a set of fixed points.

    Two steps of inverse iteration, (J − s I) w ← w, from the eigenvalue shifted by ~eps^¾ ‖J‖ (an LU
    each, not an eigendecomposition; where that fails, the eigenvectors), from a fixed pseudo-random
    start per column (a degenerate eigenvalue, a plane of fixed points, gets independent columns);
    each column's phase turned to make its largest entry real, and the leading d left singular
    vectors of their real and imaginary parts kept.
    """
    S, N = jac.shape[:2]
    ctype = lam.dtype
    near = distance_to_marginal(lam, time).abs().argsort(-1)[:, :d]
    size = jac.abs().sum(-1).amax(-1, keepdim=True)  # ‖J‖∞ (S, 1)
    shift = lam.gather(-1, near) + torch.finfo(jac.dtype).eps ** 0.75 * (1 + size)  # (S, d)
    start = torch.randn(d, N, generator=torch.Generator().manual_seed(0), dtype=jac.dtype).to(jac.device, ctype)
    eye = torch.eye(N, dtype=ctype, device=jac.device)
    budget = _search._JACOBIAN_BYTES_CUDA if jac.device.type == "cuda" else _search._JACOBIAN_BYTES_CPU
    vecs = []
    for rows in torch.arange(S, device=jac.device).split(max(1, budget // (d * N * N * eye.element_size()))):
        A = jac[rows].to(ctype)[:, None] - shift[rows][..., None, None] * eye  # (s, d, N, N)
        LU, pivots, _ = torch.linalg.lu_factor_ex(A)
        w = start.expand(len(rows), -1, -1)[..., None]
        for _ in range(2):
            w = torch.linalg.lu_solve(LU, pivots, w)
            w = w / w.abs().amax(-2, keepdim=True).clamp_min(torch.finfo(jac.dtype).tiny)
        vecs.append(w[..., 0])
    w = torch.cat(vecs)  # (S, d, N)
    bad = (~torch.isfinite(w).flatten(1).all(-1)).nonzero()[:, 0]
    if len(bad):  # the shifted J singular to rounding after all: the eigenvectors themselves
        lam_b, vec_b = torch.linalg.eig(jac[bad])
        pick = distance_to_marginal(lam_b, time).abs().argsort(-1)[:, :d]
        w[bad] = vec_b.gather(-1, pick[:, None, :].expand(-1, N, -1)).mT.to(ctype)
    top = w.abs().argmax(-1, keepdim=True)
    phase = w.gather(-1, top)
    w = (w * (phase.abs() / phase).nan_to_num(1.0)).mT  # (S, N, d), largest entry real
    return torch.linalg.svd(torch.cat([w.real, w.imag], -1), full_matrices=False).U[..., :d].to(jac.dtype)


def _spanning_tree(weights: Tensor) -> tuple[Tensor, Tensor]:
    """Prim's minimum spanning tree of a complete graph with symmetric edge ``weights`` (S, S) (one
    transfer to the host): each node's parent (S,) and the weight of the edge to it (S,); node 0 is
    the root (its own parent, weight 0)."""
    D = weights.double().cpu().numpy()
    S = D.shape[0]
    parent, edge = np.zeros(S, dtype=np.int64), np.zeros(S)
    best, nearest = D[0].copy(), np.zeros(S, dtype=np.int64)
    done = np.zeros(S, dtype=bool)
    done[0] = True
    for _ in range(S - 1):
        j = int(np.where(done, np.inf, best).argmin())
        parent[j], edge[j], done[j] = nearest[j], best[j], True
        closer = D[j] < best
        best, nearest = np.where(closer, D[j], best), np.where(closer, j, nearest)
    return torch.from_numpy(parent), torch.from_numpy(edge)


def _manifold(
    points: Tensor, residuals: Tensor, lam: Tensor, counts: Tensor, dim: int, time: str, tol: float | None
) -> Manifold:
    """A :class:`Manifold` from its points: ordered along the set, closed or not, transverse stability."""
    c = points.mean(0)
    X = points - c
    _, S, Vh = torch.linalg.svd(X, full_matrices=False)
    proj = X @ Vh[:2].T if Vh.shape[0] >= 2 else torch.cat([X @ Vh[:1].T, torch.zeros_like(X[:, :1])], -1)
    closed = False
    if dim == 1 and proj.shape[0] >= 8:
        r = proj.norm(dim=-1)
        angle = torch.atan2(proj[:, 1], proj[:, 0])
        gaps = torch.diff(torch.sort(angle).values, append=angle.min()[None] + 2 * math.pi)
        closed = bool(r.min() > 0.5 * r.max()) and bool(gaps.max() < math.pi / 2)
    order = torch.argsort(torch.atan2(proj[:, 1], proj[:, 0])) if closed else torch.argsort(proj[:, 0])
    d = distance_to_marginal(lam, time)
    transverse = d.clone()
    # the ``dim`` eigenvalues closest to the boundary are the ones along the set
    along = d.abs().argsort(-1)[:, :dim]
    transverse.scatter_(-1, along, -math.inf)
    stable_transverse = bool((transverse < -(boundary_tol(lam, time) if tol is None else tol)).all())
    stable, kind = classify(lam[order], time=time)
    return Manifold(
        dim, points[order], residuals[order], lam[order], stable_transverse, closed, int(counts.sum()), stable, kind
    )
