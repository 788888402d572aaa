r"""Comparing networks: geometry (CCA, Procrustes) and dynamics (DSA) of their trajectories.

Universality and individuality (Maheswaranathan, Williams, Golub, Ganguli & Sussillo 2019):
networks trained on one task may share their *dynamics* (fixed-point topology, linearised
dynamics) while their *geometry* (where the trajectories lie in state space) differs. Three
comparisons of two networks' states on the same trials, each a function of plain tensors:

* :func:`cca` — canonical correlations of the states (SVCCA with ``keep``): invariant to any
  invertible linear map of either network's states; 1 for a rotated copy.
* :func:`procrustes_distance` — the angular shape distance (Williams, Kunz, Kornblith &
  Linderman 2021): invariant to rotations, reflections, translation and scale only.
* :func:`dsa` — dynamical similarity analysis (Ostrow, Eisen, Kozachkov & Fiete 2023): each
  network's delay-embedded states are fitted by a linear operator A (DMD on the top ``rank``
  principal components, HAVOK-style), and the operators are compared up to an orthogonal
  change of basis, ``min_C ∠(A_x, C A_y Cᵀ)``: networks with the same dynamics in different
  coordinates score ≈ 0.

Trajectories are (T, B, N): T steps of B trials of N units (one network); (S, N) is one trial.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .. import _validate
from ..systems import as_system

if TYPE_CHECKING:
    from .fixed_points import FixedPoints

__all__ = [
    "Topology",
    "topology",
    "cca",
    "procrustes_distance",
    "delay_embedding",
    "dmd",
    "operator_distance",
    "dsa",
    "DSA",
    "mds",
]


def _trials(X: Tensor, name: str) -> Tensor:
    """(T, B, N) as is; (S, N) as (S, 1, N); checked: a finite floating tensor."""
    if not isinstance(X, Tensor):
        raise TypeError(f"{name} must be a Tensor (T, B, N) or (S, N), got {type(X).__name__}")
    if X.ndim not in (2, 3) or X.numel() == 0:
        raise ValueError(f"{name} must have shape (T, B, N) or (S, N) with no empty dimension, got {tuple(X.shape)}")
    if not X.is_floating_point():
        raise TypeError(f"{name} must be a floating point tensor, got {X.dtype}")
    _validate.check_finite_tensor(name, X, fix="compare finite trajectories")
    return X if X.ndim == 3 else X.unsqueeze(1)


def _pair(X: Tensor, Y: Tensor) -> tuple[Tensor, Tensor]:
    """Both as (samples, units), centred; the same samples (steps × trials) in both."""
    X, Y = _trials(X, "X"), _trials(Y, "Y")
    if X.shape[:2] != Y.shape[:2]:
        raise ValueError(
            f"X and Y must hold the same steps and trials (T, B), got {tuple(X.shape[:2])} and "
            f"{tuple(Y.shape[:2])}: run both networks on the same inputs"
        )
    if X.dtype != Y.dtype or X.device != Y.device:
        raise ValueError(
            f"X and Y must share dtype and device, got {X.dtype} on {X.device} and {Y.dtype} on {Y.device}"
        )
    X, Y = X.reshape(-1, X.shape[-1]), Y.reshape(-1, Y.shape[-1])
    return X - X.mean(0), Y - Y.mean(0)


def _basis(Z: Tensor, keep: float | None) -> Tensor:
    """An orthonormal basis (samples, r) of Z's column space: the directions holding ``keep`` of
    its variance (all non-negligible ones when None)."""
    U, s, _ = torch.linalg.svd(Z, full_matrices=False)
    if keep is None:
        r = int((s > s[0] * max(Z.shape) * torch.finfo(Z.dtype).eps).sum()) if s.numel() and s[0] > 0 else 0
    else:
        share = torch.cumsum(s.square(), 0) / s.square().sum()
        r = int((share < keep - 1e-12).sum()) + 1
    if r == 0:
        raise ValueError("the states do not vary: a constant trajectory has no geometry to compare")
    return U[:, :r]


def cca(X: Tensor, Y: Tensor, *, keep: float | None = None) -> Tensor:
    r"""Canonical correlations between two networks' states on the same trials.

    .. math::
        \rho_i = \sigma_i(Q_X^\top Q_Y)

    with :math:`Q_X, Q_Y` orthonormal bases of the centred states (SVCCA: first reduced to the
    principal components holding ``keep`` of the variance, Raghu et al. 2017).

    Parameters
    ----------
    X : Tensor, shape (T, B, N_x) or (S, N_x)
    Y : Tensor, shape (T, B, N_y) or (S, N_y)
        The same T steps of the same B trials.
    keep : float in (0, 1], optional
        Share of variance kept per network before CCA (SVCCA, e.g. 0.99); None keeps every
        direction with non-negligible variance.

    Returns
    -------
    Tensor, shape (min(r_x, r_y),)
        The canonical correlations, descending, in [0, 1]; their mean is the CCA similarity.
    """
    if keep is not None:
        keep = _validate.check_probability("keep", keep, fix="a share of variance in (0, 1], e.g. 0.99")
        if keep == 0:
            raise ValueError("keep must be a share of variance in (0, 1], e.g. 0.99, got 0.0")
    X, Y = _pair(X, Y)
    Qx, Qy = _basis(X, keep), _basis(Y, keep)
    return torch.linalg.svdvals(Qx.mT @ Qy).clamp(0, 1)


def procrustes_distance(X: Tensor, Y: Tensor) -> Tensor:
    r"""Angular Procrustes shape distance between two networks' states on the same trials.

    .. math::
        d(X, Y) = \arccos \frac{\lVert \bar X^\top \bar Y \rVert_*}{\lVert \bar X \rVert_F \lVert \bar Y \rVert_F}
        \in [0, \pi/2]

    with :math:`\bar X, \bar Y` the centred states (the smaller network padded with zero units):
    the angle left after the best rotation/reflection. 0 iff Y is a rotated, reflected, shifted
    and scaled copy of X (Williams et al. 2021).

    Parameters
    ----------
    X : Tensor, shape (T, B, N_x) or (S, N_x)
    Y : Tensor, shape (T, B, N_y) or (S, N_y)

    Returns
    -------
    Tensor, shape ()
    """
    X, Y = _pair(X, Y)
    nx, ny = torch.linalg.matrix_norm(X), torch.linalg.matrix_norm(Y)
    if nx == 0 or ny == 0:
        raise ValueError("the states do not vary: a constant trajectory has no geometry to compare")
    cos = torch.linalg.matrix_norm(X.mT @ Y, ord="nuc") / (nx * ny)
    return torch.arccos(cos.clamp(-1, 1))


def delay_embedding(X: Tensor, n_delays: int, interval: int = 1) -> Tensor:
    r"""Stacked delayed copies of the states, trial by trial (a Hankel matrix).

    .. math::
        H_t = [x_t, x_{t-\delta}, \dots, x_{t-(d-1)\delta}]

    Parameters
    ----------
    X : Tensor, shape (T, B, N) or (S, N)
    n_delays : int ≥ 1
        d, the copies; 1 returns X.
    interval : int ≥ 1
        δ, steps between copies.

    Returns
    -------
    Tensor, shape (T − (d−1)δ, B, d·N)
    """
    X = _trials(X, "X")
    n_delays = _validate.as_int("n_delays", n_delays, minimum=1)
    interval = _validate.as_int("interval", interval, minimum=1)
    span = (n_delays - 1) * interval
    if span >= X.shape[0]:
        raise ValueError(
            f"n_delays={n_delays} with interval={interval} spans {span + 1} steps, more than the "
            f"trajectories' {X.shape[0]}; use fewer delays or longer trials"
        )
    T = X.shape[0] - span
    return torch.cat([X[span - k * interval : span - k * interval + T] for k in range(n_delays)], dim=-1)


def dmd(X: Tensor, *, rank: int, n_delays: int = 1, interval: int = 1) -> Tensor:
    r"""The linear operator A that advances the delay-embedded states by one step (DMD/HAVOK).

    The delay embedding H (:func:`delay_embedding`) is projected on its top ``rank`` right
    singular vectors, z = Vᵣᵀ h (not centred: a linear system's states stay exactly linear); A
    is the least-squares fit of :math:`z_{t+1} = A z_t` over every step of every trial.

    Parameters
    ----------
    X : Tensor, shape (T, B, N) or (S, N)
    rank : int ≥ 1
        Principal components kept (at most d·N).
    n_delays, interval : int
        See :func:`delay_embedding`.

    Returns
    -------
    Tensor, shape (rank, rank)
    """
    H = delay_embedding(X, n_delays, interval)
    rank = _validate.as_int("rank", rank, minimum=1)
    if rank > min(H.shape[-1], H.shape[0] * H.shape[1]):
        raise ValueError(
            f"rank must be at most the embedding's {H.shape[-1]} dimensions and its "
            f"{H.shape[0] * H.shape[1]} samples, got {rank}"
        )
    if H.shape[0] < 2:
        raise ValueError("the delay embedding keeps one step: a one-step operator needs at least two")
    _, _, Vh = torch.linalg.svd(H.reshape(-1, H.shape[-1]), full_matrices=False)
    Z = H @ Vh[:rank].mT  # (T', B, r)
    before, after = Z[:-1].reshape(-1, rank), Z[1:].reshape(-1, rank)
    return torch.linalg.lstsq(before, after).solution.mT


def _cosine(A: Tensor, B: Tensor) -> Tensor:
    return (A * B).sum((-2, -1)) / (torch.linalg.matrix_norm(A) * torch.linalg.matrix_norm(B))


def _angle(A: Tensor, B: Tensor) -> Tensor:
    return torch.arccos(_cosine(A, B).clamp(-1, 1))


def operator_distance(
    A: Tensor,
    B: Tensor,
    *,
    iters: int = 500,
    lr: float = 0.05,
    restarts: int = 8,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    r"""Angle between two linear operators up to an orthogonal change of basis.

    .. math::
        d(A, B) = \min_{C \in O(r)} \arccos \frac{\langle A, C B C^\top \rangle_F}{\lVert A \rVert_F \lVert B \rVert_F}

    minimised by Adam over C = P exp(S − Sᵀ) (P = I or a reflection, so both components of
    O(r) are searched) from the identity and ``restarts`` random rotations, all at once.

    Parameters
    ----------
    A, B : Tensor, shape (r, r)
    iters : int ≥ 1
    lr : float > 0
    restarts : int ≥ 0
    generator : torch.Generator, optional
        For the random starts.

    Returns
    -------
    (distance, C) : Tensor () in [0, π], Tensor (r, r)
    """
    for name, M in (("A", A), ("B", B)):
        if not isinstance(M, Tensor) or M.ndim != 2 or M.shape[0] != M.shape[1] or not M.is_floating_point():
            raise ValueError(
                f"{name} must be a square floating point Tensor (r, r), got "
                f"{tuple(M.shape) if isinstance(M, Tensor) else type(M).__name__}"
            )
    if A.shape != B.shape:
        raise ValueError(f"A and B must have the same shape, got {tuple(A.shape)} and {tuple(B.shape)}")
    iters = _validate.as_int("iters", iters, minimum=1)
    restarts = _validate.as_int("restarts", restarts, minimum=0)
    lr = _validate.check_positive("lr", lr, fix="Adam's step, e.g. 0.05")
    generator = _validate.check_generator("generator", generator)
    r, f64 = A.shape[0], _validate.Factory(dtype=torch.float64, device=A.device)
    A64, B64 = A.detach().to(**f64), B.detach().to(**f64)
    # starts C0: the identity, the best sign flip of the axes (principal axes are known up to
    # sign), random rotations; each also reflected, so both components of O(r) are searched
    flip = torch.eye(r, **f64)
    flip[0, 0] = -1
    noise = torch.randn(
        (restarts, r, r),
        generator=generator,
        dtype=torch.float64,
        device=generator.device if generator is not None else "cpu",
    ).to(A.device)
    C0 = torch.cat([torch.eye(r, **f64)[None], torch.diag(_best_signs(A64, B64))[None], torch.linalg.qr(noise)[0]])
    C0 = torch.cat([C0, C0 @ flip])
    S = torch.zeros_like(C0, requires_grad=True)
    opt = torch.optim.Adam([S], lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, iters)  # to 0: converges, no jitter

    def rotations() -> Tensor:
        return C0 @ torch.linalg.matrix_exp(S - S.mT)

    with torch.enable_grad():
        for _ in range(iters):
            opt.zero_grad()
            C = rotations()
            # the angle is minimal where the cosine is maximal: ascend the cosine, whose gradient is
            # finite everywhere (arccos' is infinite at a cosine of 1, i.e. at the answer for B = A)
            (-_cosine(A64, C @ B64 @ C.mT)).sum().backward()
            opt.step()
            schedule.step()
    with torch.no_grad():
        C = rotations()
        angles = _angle(A64, C @ B64 @ C.mT)
        best = int(angles.argmin())
    return angles[best].to(A.dtype), C[best].to(A.dtype)


def _best_signs(A: Tensor, B: Tensor) -> Tensor:
    """Signs d (r,) that locally maximise ⟨A, D B D⟩ (D = diag d), by flipping one at a time."""
    d = torch.ones(A.shape[0], dtype=A.dtype, device=A.device)
    for _ in range(A.shape[0]):
        changed = False
        for i in range(A.shape[0]):
            gain = -2 * d[i] * ((A[i] * B[i] * d).sum() + (A[:, i] * B[:, i] * d).sum() - 2 * A[i, i] * B[i, i] * d[i])
            if gain > 1e-12:
                d[i] = -d[i]
                changed = True
        if not changed:
            break
    return d


@dataclass
class DSA:
    """Result of :func:`dsa`: the distance and what it was computed from."""

    distance: Tensor  # () angle in [0, π]: 0 = the same dynamics up to a change of basis
    operators: tuple[Tensor, Tensor]  # the DMD operators A_x, A_y (rank, rank)
    basis_change: Tensor  # C (rank, rank), orthogonal: A_x ≈ C A_y Cᵀ


def dsa(
    X: Tensor,
    Y: Tensor,
    *,
    rank: int,
    n_delays: int = 1,
    interval: int = 1,
    iters: int = 500,
    lr: float = 0.05,
    restarts: int = 8,
    generator: torch.Generator | None = None,
) -> DSA:
    r"""Dynamical similarity analysis of two networks' trajectories (Ostrow et al. 2023).

    .. math::
        d = \min_{C \in O(r)} \angle(A_X, C A_Y C^\top), \qquad A = \mathrm{dmd}(\cdot)

    Trials need not be the same in X and Y (only their dynamics are compared), but both are
    embedded alike (``rank``, ``n_delays``, ``interval``).

    Parameters
    ----------
    X : Tensor, shape (T, B, N_x) or (S, N_x)
    Y : Tensor, shape (T', B', N_y) or (S', N_y)
    rank, n_delays, interval
        See :func:`dmd`.
    iters, lr, restarts, generator
        See :func:`operator_distance`.

    Returns
    -------
    DSA
    """
    X, Y = _trials(X, "X"), _trials(Y, "Y")  # each checked under its own name
    A, B = (
        dmd(X, rank=rank, n_delays=n_delays, interval=interval),
        dmd(Y, rank=rank, n_delays=n_delays, interval=interval),
    )
    distance, C = operator_distance(A, B, iters=iters, lr=lr, restarts=restarts, generator=generator)
    return DSA(distance, (A, B), C)


def mds(D: Tensor, dim: int = 2) -> Tensor:
    r"""Classical multidimensional scaling: points whose distances approximate D.

    .. math::
        B = -\tfrac12 J D^{\circ 2} J, \quad X = V_k \Lambda_k^{1/2}

    Parameters
    ----------
    D : Tensor, shape (P, P)
        Symmetric distances, zero diagonal.
    dim : int ≥ 1

    Returns
    -------
    Tensor, shape (P, dim)
        Negative eigenvalues (a non-Euclidean D) contribute 0.
    """
    if not isinstance(D, Tensor) or D.ndim != 2 or D.shape[0] != D.shape[1] or not D.is_floating_point():
        raise ValueError(
            f"D must be a square floating point Tensor (P, P), got "
            f"{tuple(D.shape) if isinstance(D, Tensor) else type(D).__name__}"
        )
    if not bool(torch.isfinite(D).all()) or not torch.allclose(D, D.mT, atol=1e-6 * float(D.abs().max()) + 1e-12):
        raise ValueError("D must be a finite symmetric distance matrix")
    dim = _validate.as_int("dim", dim, minimum=1)
    P = D.shape[0]
    J = torch.eye(P, dtype=D.dtype, device=D.device) - 1.0 / P
    Bm = -0.5 * J @ D.square() @ J
    lam, V = torch.linalg.eigh((Bm + Bm.mT) / 2)
    lam, V = lam.flip(0)[:dim], V.flip(1)[:, :dim]
    out = V * lam.clamp(min=0).sqrt()
    if dim > P:
        out = torch.cat([out, out.new_zeros(P, dim - P)], 1)
    return out


# --------------------------------------------------------------------------- topology
@dataclass
class Topology:
    """Which attractors each saddle connects: the fixed-point graph of one network.

    Attributes
    ----------
    counts : dict of str to int
        Points by kind (``FixedPoints.kind``).
    saddles : Tensor, shape (S,), long
        Indices (into the points) of the saddles with exactly one unstable direction.
    edges : Tensor, shape (S, 2), long
        The stable points reached from each saddle along its unstable direction, one per side
        (−1: the branch ended at no stable point — a limit cycle, divergence, or a point not found).
    signature : str
        A graph invariant: equal for isomorphic fixed-point graphs (Weisfeiler–Lehman colours of
        the saddle–attractor graph); compare it across networks.
    """

    counts: dict[str, int]
    saddles: Tensor
    edges: Tensor
    signature: str

    @property
    def connected(self) -> Tensor:
        """(S,) bool: both branches of the saddle reach a stable point, two different ones."""
        return (self.edges >= 0).all(1) & (self.edges[:, 0] != self.edges[:, 1])


def topology(
    obj: object,
    fixed_points: FixedPoints,
    u: Tensor | None = None,
    *,
    time: str | None = None,
    steps: int = 2000,
    step_size: float | None = None,
    eps: float = 1e-3,
) -> Topology:
    r"""The fixed-point graph of a system: which stable points each saddle's unstable manifold joins.

    From each saddle with one unstable eigenvalue (real, right eigenvector r), the states
    :math:`v^* \pm \varepsilon s\, r` (s: the spread of the points) are run forward — the map
    ``steps`` times, or the flow by Euler steps of ``step_size`` (default 0.5 / max |λ| over all
    points) — and each end is matched to the nearest stable point when it lies within 1 % of the
    points' spread of it (Maheswaranathan et al. 2019's topology).

    Parameters
    ----------
    obj : anything :func:`torchrate.systems.as_system` takes
        The system the fixed points were found for.
    fixed_points : FixedPoints
        From :func:`find_fixed_points` on ``obj`` at ``u``.
    u : Tensor, shape (I,), optional
        The constant input (zeros by default).
    time : {"continuous", "discrete"}, optional
        As in ``as_system``; must match ``fixed_points.time``.
    steps : int ≥ 1
    step_size : float > 0, optional
        Flows only.
    eps : float > 0
        Relative size of the first displacement.

    Returns
    -------
    Topology
    """
    from .fixed_points import FixedPoints, constant_input

    if not isinstance(fixed_points, FixedPoints):
        raise TypeError(
            f"fixed_points must be a FixedPoints (from find_fixed_points), got {type(fixed_points).__name__}"
        )
    system = as_system(obj, time=time if time is not None else fixed_points.time)
    if system.time != fixed_points.time:
        raise ValueError(
            f"fixed_points are of the {fixed_points.time} system, but obj gives the {system.time} one: "
            f"pass time={fixed_points.time!r}"
        )
    steps = _validate.as_int("steps", steps, minimum=1)
    eps = _validate.check_positive("eps", eps, fix="a relative displacement, e.g. 1e-3")
    if step_size is not None:
        step_size = _validate.check_positive("step_size", step_size, fix="an Euler step of the flow")
    fp = fixed_points
    P = len(fp)
    counts = {k: fp.kind.count(k) for k in dict.fromkeys(fp.kind)}
    points, lam = fp.points, fp.eigenvalues
    unstable = (lam.real > 0 if fp.time == "continuous" else lam.abs() > 1).sum(-1)
    saddles = torch.nonzero((unstable == 1) & (lam[:, 0].imag == 0)).flatten()
    edges = torch.full((len(saddles), 2), -1, dtype=torch.long, device=points.device)
    stable = torch.nonzero(fp.stable).flatten()
    if len(saddles) and len(stable):
        spread = float(torch.cdist(points, points).max()) if P > 1 else 1.0
        spread = spread or 1.0
        # the unstable direction: the eigenvector of the leading eigenvalue (eigenvalues are sorted)
        w, V = torch.linalg.eig(fp.jacobians[saddles])
        top = (w.real if fp.time == "continuous" else w.abs()).argmax(-1)
        r = V.gather(-1, top[:, None, None].expand(-1, V.shape[1], 1))[..., 0].real
        r = r / torch.linalg.vector_norm(r, dim=-1, keepdim=True)
        v = torch.cat([points[saddles] + eps * spread * r, points[saddles] - eps * spread * r])
        u_ = constant_input(system, u, points).expand(v.shape[0], -1)
        with torch.no_grad():
            if fp.time == "discrete":
                for _ in range(steps):
                    v = system(v, u_)
            else:
                h = step_size if step_size is not None else 0.5 / float(lam.abs().nan_to_num(0).max().clamp_min(1e-12))
                for _ in range(steps):
                    v = v + h * system(v, u_)
        d = torch.cdist(v, points[stable]).nan_to_num(float("inf"))
        near, which = d.min(-1)
        hit = torch.where(near < 1e-2 * spread, stable[which], torch.full_like(which, -1))
        edges = torch.stack(hit.split(len(saddles)), 1)
    return Topology(counts, saddles, edges, _signature(fp.stable, saddles, edges, counts))


def _signature(stable: Tensor, saddles: Tensor, edges: Tensor, counts: dict[str, int]) -> str:
    """Weisfeiler–Lehman colours (3 rounds) of the graph: stable points and saddles as nodes,
    each saddle joined to the stable points its branches reach."""
    nodes = [int(i) for i in torch.nonzero(stable).flatten()] + [int(s) for s in saddles]
    kind = {n: "A" for n in nodes[: int(stable.sum())]} | {int(s): "S" for s in saddles}
    nbrs: dict[int, list[int]] = {n: [] for n in nodes}
    for s, (a, b) in zip(saddles.tolist(), edges.tolist()):
        for x in (a, b):
            if x >= 0:
                nbrs[s].append(x)
                nbrs[x].append(s)
    colour = dict(kind)
    for _ in range(3):
        colour = {n: colour[n] + "(" + ",".join(sorted(colour[m] for m in nbrs[n])) + ")" for n in nodes}
        names = {c: f"{k}" for k, c in enumerate(sorted(set(colour.values())))}
        colour = {n: kind[n] + names[colour[n]] for n in nodes}
    tally = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    classes = sorted(colour.values())
    return f"{tally} | " + " ".join(f"{c}×{classes.count(c)}" for c in dict.fromkeys(classes))
