r"""Matplotlib figures for the analysis: spectra, phase planes, fixed points in PCA space, sweeps.

Every function draws into ``ax`` when given (else a new figure) and returns the ``Figure``.
Stable fixed points are filled markers, unstable ones open; saddles are triangles.

A new figure is a plain :class:`matplotlib.figure.Figure`, not registered with ``pyplot``:
nothing is left open in pyplot's figure list (no memory growth in loops, no "More than 20
figures" warning). Save it with ``fig.savefig``; in Jupyter it displays as the cell's value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from . import _validate
from .analysis.bifurcation import Bifurcation
from .analysis.fixed_points import FixedPoints
from .analysis.phase_plane import PhasePlane
from .analysis.spectrum import Spectrum
from .analysis.sweep import Sweep

if TYPE_CHECKING:
    from .analysis.lowrank import LatentFixedPoints
    from .networks import LowRankRateRNN

__all__ = [
    "plot_spectrum",
    "plot_phase_plane",
    "plot_fixed_points",
    "plot_sweep",
    "plot_latent_flow",
    "plot_bifurcation",
]

_STYLE = {  # kind -> (marker, filled, colour)
    "stable node": ("o", True, "tab:blue"),
    "stable spiral": ("o", True, "tab:green"),
    "saddle": ("^", False, "tab:orange"),
    "unstable node": ("o", False, "tab:red"),
    "unstable spiral": ("o", False, "tab:purple"),
    "marginal": ("s", False, "tab:gray"),
    "flip": ("D", False, "tab:brown"),
    "Neimark–Sacker": ("D", False, "tab:pink"),
    "undetermined": ("x", True, "k"),
}


# trajectory colours by group, distinct from the fixed-point markers' colours above
_GROUP_COLOURS = ("tab:cyan", "tab:pink", "tab:olive", "tab:brown", "tab:gray")


def _axes(ax: Axes | None, figsize: tuple[float, float] = (4.5, 4.0)) -> tuple[Figure, Axes]:
    if ax is None:
        fig = Figure(figsize=figsize, layout="constrained")  # not pyplot: nothing left open
        return fig, fig.add_subplot()
    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes (or None: a new figure), got {type(ax).__name__}")
    owner = ax.figure  # a SubFigure for an Axes in one: its root Figure is what can be saved
    return (owner if isinstance(owner, Figure) else owner.figure), ax


def _require(name: str, value: object, cls: type, what: str) -> None:
    if not isinstance(value, cls):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}")


def _check_ax(ax: object) -> None:
    """Refuse anything but a matplotlib Axes or None, before any work or figure is made."""
    if ax is not None and not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes (or None: a new figure), got {type(ax).__name__}")


def _check_text(**texts: Any) -> None:
    """Each keyword (a title or label) must be a string or None."""
    for name, value in texts.items():
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a string or None, got {_validate._show(value)}")


def _check_rates(name: str, value: object, N: int, fix: str) -> Tensor:
    """Rates (T, B, N): a finite real tensor (a NumPy array or nested list is converted)."""
    t = _validate.as_real_tensor(name, value, fix=fix)
    _validate.check_shape(name, t, ("T", "B", N), fix=fix)
    return _validate.check_finite_tensor(name, t, fix=fix)


def _np(x: Tensor) -> np.ndarray[Any, Any]:
    return x.detach().cpu().numpy()


def _mark(ax: Axes, xy: np.ndarray[Any, Any], kinds: list[str], size: float = 60, counts: bool = False) -> None:
    """Scatter points (P, 2) with one legend entry per kind (``"saddle (19)"`` with ``counts``)."""
    for kind in dict.fromkeys(kinds):
        marker, filled, colour = _STYLE[kind]
        sel = np.array([k == kind for k in kinds])
        label = f"{kind} ({sel.sum()})" if counts else kind
        ax.scatter(
            xy[sel, 0],
            xy[sel, 1],
            s=size,
            marker=marker,
            zorder=5,
            label=label,
            facecolors=colour if filled else "white",
            edgecolors=colour,
            linewidths=1.8,
        )


def _eigenvalues(value: object) -> Tensor:
    """Eigenvalues given as a tensor, array or list: real or complex numbers, all finite."""
    fix = "pass the eigenvalues as a real or complex tensor (or a Spectrum / FixedPoints)"
    try:
        lam = value if isinstance(value, Tensor) else torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):
        lam = None
    if lam is None or lam.dtype == torch.bool:
        raise TypeError(f"spectrum must be a tensor of eigenvalues, got {_validate._show(value)}; {fix}")
    return _validate.check_finite_tensor("spectrum", lam, fix=fix)


def _plot_multipliers(ax: Axes, mu: Tensor, title: str) -> None:
    """The multipliers μ of a map on ``ax``: stable (|μ| < 1) blue, unstable red, with the unit circle."""
    lam = _np(mu.to(torch.complex128)).reshape(-1)
    angle = np.linspace(0, 2 * np.pi, 361)
    ax.plot(np.cos(angle), np.sin(angle), color="k", ls="--", lw=1, label="|μ| = 1")
    ax.axhline(0, color="0.8", lw=0.8, zorder=0)
    unstable = np.abs(lam) >= 1
    ax.scatter(lam.real[~unstable], lam.imag[~unstable], s=22, color="tab:blue", label="stable")
    ax.scatter(lam.real[unstable], lam.imag[unstable], s=22, color="tab:red", label="unstable")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("Re μ")
    ax.set_ylabel("Im μ")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="best")


def plot_spectrum(
    spectrum: Spectrum | FixedPoints | Tensor,
    ax: Axes | None = None,
    *,
    boundary: float | None = None,
    title: str | None = None,
) -> Figure:
    r"""Eigenvalues in the complex plane with the stability boundary.

    Parameters
    ----------
    spectrum : Spectrum, FixedPoints or Tensor (N,) / (P, N)
        Eigenvalues of ``M`` (a :class:`Spectrum`: boundary Re λ = 1) or of Jacobians
        (:class:`FixedPoints` or a tensor: boundary Re λ = 0, in 1/ms; the unit circle |μ| = 1 for
        the fixed points of a map, ``fps.time == "discrete"``).
    boundary : float, optional
        Overrides the vertical line: 1 for ``M``, 0 for ``J``.
    """
    if not isinstance(spectrum, (Spectrum, FixedPoints, Tensor, np.ndarray, list, tuple)):
        raise TypeError(
            f"spectrum must be a Spectrum, FixedPoints or a tensor of eigenvalues, got {type(spectrum).__name__}"
        )
    if not isinstance(spectrum, (Spectrum, FixedPoints)):
        spectrum = _eigenvalues(spectrum)
    _check_ax(ax)
    if boundary is not None:
        boundary = _validate.as_float("boundary", boundary, fix="the stability line Re λ = boundary, or None")
    _check_text(title=title)
    fig, ax = _axes(ax)
    if isinstance(spectrum, FixedPoints) and spectrum.time == "discrete" and boundary is None:
        _plot_multipliers(ax, spectrum.eigenvalues, title or "eigenvalues of the map's Jacobian")
        return fig
    if isinstance(spectrum, Spectrum):
        eig, line, what = spectrum.eigenvalues, 1.0, "M"
    elif isinstance(spectrum, FixedPoints):
        eig, line, what = spectrum.eigenvalues, 0.0, "J"
    else:
        eig, line, what = spectrum, 0.0, "J"
    line = line if boundary is None else boundary
    lam = _np(eig.to(torch.complex128) if not eig.is_complex() else eig).reshape(-1)
    ax.axvline(line, color="k", ls="--", lw=1, label=f"Re λ = {line:g}")
    ax.axhline(0, color="0.8", lw=0.8, zorder=0)
    unstable = lam.real >= line
    ax.scatter(lam.real[~unstable], lam.imag[~unstable], s=22, color="tab:blue", label="stable")
    ax.scatter(lam.real[unstable], lam.imag[unstable], s=22, color="tab:red", label="unstable")
    ax.set_xlabel("Re λ" + (" (1/ms)" if what == "J" else ""))
    ax.set_ylabel("Im λ" + (" (1/ms)" if what == "J" else ""))
    ax.set_title(title or f"eigenvalues of {what}")
    ax.legend(fontsize=8, loc="best")
    return fig


def plot_phase_plane(
    pp: PhasePlane, ax: Axes | None = None, *, title: str | None = None, labels: tuple[str, str] = ("$v_1$", "$v_2$")
) -> Figure:
    """Vector field (arrows), nullclines, fixed points and trajectories of a 2-neuron network."""
    _require("pp", pp, PhasePlane, "a PhasePlane (from torchrate.analysis.phase_plane)")
    _check_ax(ax)
    _check_text(title=title)
    if isinstance(labels, (str, bytes)) or not isinstance(labels, (tuple, list)):
        raise TypeError(f"labels must be a pair of strings (x label, y label), got {_validate._show(labels)}")
    if len(labels) != 2:
        raise ValueError(f"labels must be a pair of strings (x label, y label), got {len(labels)}: {tuple(labels)!r}")
    _check_text(**{f"labels[{i}]": label for i, label in enumerate(labels)})
    if any(label is None for label in labels):
        raise TypeError(f"labels must be a pair of strings (x label, y label), got {tuple(labels)!r}")
    fig, ax = _axes(ax)
    X, Y = np.meshgrid(_np(pp.x), _np(pp.y))
    U, V = _np(pp.velocity[..., 0]), _np(pp.velocity[..., 1])
    speed = np.hypot(U, V)
    norm = np.where(speed > 0, speed, 1)  # unit arrows: direction only
    ax.quiver(X, Y, U / norm, V / norm, color="0.55", angles="xy", pivot="mid", width=0.003)
    for i, (curves, colour) in enumerate(zip(pp.nullclines, ("tab:red", "tab:blue"))):
        for j, c in enumerate(curves):
            ax.plot(c[:, 0], c[:, 1], color=colour, lw=2, label=f"d{labels[i]}/dt = 0" if j == 0 else None)
    if pp.trajectories is not None:
        traj = _np(pp.trajectories)
        for b in range(traj.shape[1]):
            ax.plot(traj[:, b, 0], traj[:, b, 1], color="k", lw=1, alpha=0.8, label="trajectory" if b == 0 else None)
            ax.plot(traj[0, b, 0], traj[0, b, 1], "k.", ms=6)
    fps = pp.fixed_points
    if len(fps):
        _mark(ax, _np(fps.points), fps.kind)
    ax.set_xlim(float(pp.x[0]), float(pp.x[-1]))
    ax.set_ylim(float(pp.y[0]), float(pp.y[-1]))
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7, loc="upper right")
    return fig


def pca(data: Tensor, k: int = 2) -> tuple[Tensor, Tensor, Tensor]:
    """Principal components of ``data`` (*, N), via SVD.

    Returns
    -------
    mean : Tensor (N,)
    axes : Tensor (k', N), k' = min(k, number of axes): the top principal axes; the projection
        of ``x`` is ``(x − mean) @ axes.T``
    explained : Tensor (k',), the fraction of the variance along each axis
    """
    flat = data.detach().reshape(-1, data.shape[-1]).double()
    mean = flat.mean(0)
    _, S, Vh = torch.linalg.svd(flat - mean, full_matrices=False)
    var = S.square()
    return mean, Vh[:k], var[:k] / var.sum().clamp_min(torch.finfo(var.dtype).tiny)


def plot_fixed_points(
    fps: FixedPoints,
    trajectories: Tensor | None = None,
    ax: Axes | None = None,
    *,
    title: str | None = None,
    max_trajectories: int = 20,
    groups: Tensor | None = None,
) -> Figure:
    r"""Fixed points projected on the first two principal components of the trajectories.

    Parameters
    ----------
    fps : FixedPoints
    trajectories : Tensor, shape (T, B, N), optional
        Rates the network visits (e.g. ``net(u)[0]``); they define the PCA and are drawn
        (at most ``max_trajectories``). Without them the PCA of the fixed points is used.
    groups : Tensor of ints, shape (B,), optional
        Colour trajectory ``b`` by ``groups[b]`` (e.g. the correct choice of a trial).
    """
    _require("fps", fps, FixedPoints, "FixedPoints (from torchrate.analysis.find_fixed_points)")
    _check_ax(ax)
    _check_text(title=title)
    max_trajectories = _validate.as_int("max_trajectories", max_trajectories, minimum=1)
    N = fps.points.shape[-1]
    if trajectories is not None:
        trajectories = _check_rates(
            "trajectories",
            trajectories,
            N,
            f"rates of the network the fixed points belong to (N = {N}), e.g. net(u)[0]",
        )
    if groups is not None:
        if trajectories is None:
            raise ValueError(
                "groups must come with trajectories (it colours trajectory b by groups[b]), got "
                "trajectories=None; pass the rates too, or drop groups"
            )
        B = trajectories.shape[1]
        fix = f"one integer label per trajectory (B = {B})"
        if isinstance(groups, (str, bytes)):
            raise TypeError(f"groups must be a tensor of integers, got {_validate._show(groups)}; {fix}")
        try:
            groups = torch.as_tensor(groups)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"groups must be a tensor of integers, got {_validate._show(groups)}; {fix}") from None
        if groups.is_floating_point() or groups.is_complex():
            raise TypeError(f"groups must be a tensor of integers, got {_validate._show(groups)}; {fix}")
        _validate.check_shape("groups", groups, (B,), fix=fix)
    fig, ax = _axes(ax)
    source = fps.points if trajectories is None else trajectories
    mean, axes, explained = pca(source.cpu(), 2)
    if axes.shape[0] < 2:  # a single point or a 1-D cloud: pad with a zero axis
        axes = torch.cat([axes, torch.zeros(2 - axes.shape[0], axes.shape[1], dtype=axes.dtype)])

    def project(x: Tensor) -> np.ndarray[Any, Any]:
        return _np((x.detach().cpu().double() - mean) @ axes.T)

    if trajectories is not None:
        tr_ = project(trajectories)
        for b in range(min(tr_.shape[1], max_trajectories)):
            colour = "0.6" if groups is None else _GROUP_COLOURS[int(groups[b]) % len(_GROUP_COLOURS)]
            ax.plot(
                tr_[:, b, 0],
                tr_[:, b, 1],
                color=colour,
                lw=0.8,
                alpha=0.6,
                label="trajectories" if b == 0 and groups is None else None,
            )
    if len(fps):
        _mark(ax, project(fps.points), fps.kind, counts=True)
    pc = [f"PC {i + 1}" + (f" ({float(explained[i]):.0%} var.)" if i < len(explained) else "") for i in range(2)]
    ax.set_xlabel(pc[0])
    ax.set_ylabel(pc[1])
    ax.set_title(title or f"{len(fps)} fixed points")
    ax.legend(fontsize=7, loc="best")
    return fig


def plot_sweep(sw: Sweep, ax: Axes | None = None, *, parameter: str = "parameter", title: str | None = None) -> Figure:
    """The eigenvalues of the Jacobian at the fixed point versus the parameter, with the Hopf
    points marked: of a flow, Re λ (solid) and Im λ (dashed) with the boundary Re λ = 0; of a map,
    |μ| with the boundary |μ| = 1."""
    _require("sw", sw, Sweep, "a Sweep (from torchrate.analysis.sweep)")
    _check_ax(ax)
    _check_text(parameter=parameter, title=title)
    fig, ax = _axes(ax, figsize=(5.0, 3.6))
    p = _np(sw.values)
    lam = _np(sw.eigenvalues)
    for i in range(lam.shape[1]):
        if sw.time == "discrete":
            ax.plot(p, np.abs(lam[:, i]), color=f"C{i}", lw=2, label=f"|μ{i + 1}|")
        else:
            ax.plot(p, lam[:, i].real, color=f"C{i}", lw=2, label=f"Re λ{i + 1}")
            ax.plot(p, lam[:, i].imag, color=f"C{i}", lw=1.2, ls="--", label=f"Im λ{i + 1}")
    ax.axhline(1 if sw.time == "discrete" else 0, color="k", lw=0.8)
    for j, h in enumerate(sw.hopf):
        ax.axvline(h, color="tab:red", ls=":", lw=1.5, label=f"Hopf at {h:.4g}" if j < 3 else None)
    ax.set_xlabel(parameter)
    ax.set_ylabel("|μ| (the map's multipliers)" if sw.time == "discrete" else "λ (1/ms)")
    ax.set_title(title or f"eigenvalues of {'the map' if sw.time == 'discrete' else 'J'} at the fixed point")
    ax.legend(fontsize=7, loc="best")
    return fig


def _coordinate(coordinate: object, N: int) -> tuple[Callable[[Tensor], Tensor], str]:
    """v (…, N) -> y (…,): "norm" ‖v‖, an int (a neuron's rate), or a direction d (N,): ⟨d, v⟩."""
    if isinstance(coordinate, str):
        if coordinate != "norm":
            raise ValueError(f'coordinate must be "norm", a neuron index or a direction (N,), got {coordinate!r}')
        return (lambda v: v.norm(dim=-1)), "‖v‖"
    if isinstance(coordinate, (int, np.integer)) and not isinstance(coordinate, bool):
        if not -N <= int(coordinate) < N:
            raise ValueError(f"coordinate must be a neuron index in [0, {N}), got {coordinate}")
        return (lambda v: v[..., int(coordinate)]), f"v[{int(coordinate)}]"
    if isinstance(coordinate, Tensor):
        fix = 'pass "norm", a neuron index or a direction d (e.g. a readout row)'
        if coordinate.is_complex() or coordinate.dtype == torch.bool:
            raise TypeError(
                f"coordinate must be a real direction of shape ({N},), got {_validate._show(coordinate)}; {fix}"
            )
        d = _validate.check_shape("coordinate", coordinate, (N,), fix=fix)
        _validate.check_finite_tensor("coordinate", d, fix=fix)
        return (lambda v: v @ d.to(v)), "⟨d, v⟩"
    raise TypeError(
        f'coordinate must be "norm", a neuron index or a real direction of shape ({N},), '
        f"got {_validate._show(coordinate)}"
    )


def plot_bifurcation(
    bif: Bifurcation,
    ax: Axes | None = None,
    *,
    coordinate: str = "norm",
    parameter: str = "parameter",
    ylabel: str | None = None,
    title: str | None = None,
) -> Figure:
    """Bifurcation diagram: the parameter on x, a coordinate of each fixed point on y.

    Stable stretches of a branch are solid, unstable ones dashed; folds are black circles,
    Hopf points red squares.

    Parameters
    ----------
    bif : Bifurcation
        From :func:`torchrate.analysis.bifurcation`.
    coordinate : "norm", int or Tensor (N,)
        ‖v‖, the rate of one neuron, or the projection ⟨d, v⟩ onto a direction d (e.g. a
        readout row, or the difference of two rows).
    parameter, ylabel, title : str
        Axis labels and title.
    """
    _require("bif", bif, Bifurcation, "a Bifurcation (from torchrate.analysis.bifurcation)")
    _check_ax(ax)
    _check_text(parameter=parameter, ylabel=ylabel, title=title)
    N = bif.branches[0].points.shape[-1] if bif.branches else 1
    y_of, default_label = _coordinate(coordinate, N)
    fig, ax = _axes(ax, figsize=(5.2, 3.8))
    for i, br in enumerate(bif.branches):
        p, y, st = _np(br.values), _np(y_of(br.points)), _np(br.stable)
        colour = f"C{i % 10}"
        start = 0
        for k in range(1, len(p) + 1):
            if k == len(p) or st[k] != st[start]:
                stop = min(k + 1, len(p))  # share the end point: no gap at a change of stability
                ax.plot(
                    p[start:stop],
                    y[start:stop],
                    color=colour,
                    lw=1.8 if st[start] else 1.2,
                    ls="-" if st[start] else "--",
                )
                start = k
    if bif.folds:
        pts = torch.stack([f.point for f in bif.folds])
        ax.plot([f.value for f in bif.folds], _np(y_of(pts)), "o", color="k", ms=6, label="fold")
    if bif.hopf:
        pts = torch.stack([h.point for h in bif.hopf])
        ax.plot([h.value for h in bif.hopf], _np(y_of(pts)), "s", color="tab:red", ms=6, label="Hopf")
    ax.plot([], [], "k-", lw=1.8, label="stable")
    ax.plot([], [], "k--", lw=1.2, label="unstable")
    ax.set_xlabel(parameter)
    ax.set_ylabel(ylabel or default_label)
    ax.set_title(title or f"{len(bif.branches)} branches, {len(bif.folds)} folds, {len(bif.hopf)} Hopf")
    ax.legend(fontsize=7, loc="best")
    return fig


def _extent(extent: object, rank: int) -> tuple[float, ...]:
    """(lo, hi) for rank 1, (lo₁, hi₁, lo₂, hi₂) for rank 2: finite numbers, lo < hi on each axis."""
    want = "(lo, hi)" if rank == 1 else "(lo₁, hi₁, lo₂, hi₂)"
    if isinstance(extent, (str, bytes)) or not hasattr(extent, "__len__") or not hasattr(extent, "__iter__"):
        raise TypeError(f"extent must be {want} for rank {rank}, got {_validate._show(extent)}")
    if len(extent) != 2 * rank:
        raise ValueError(f"extent must have {2 * rank} numbers {want} for rank {rank}, got {len(extent)}")
    out = tuple(_validate.as_float(f"extent[{i}]", x, fix=f"extent is {want}") for i, x in enumerate(extent))
    for i in range(rank):
        if not out[2 * i] < out[2 * i + 1]:
            raise ValueError(f"extent must have lo < hi on each axis {want}, got {out}")
    return out


def plot_latent_flow(
    net: LowRankRateRNN,
    u: Tensor | None = None,
    ax: Axes | None = None,
    *,
    fixed_points: LatentFixedPoints | None = None,
    extent: tuple[float, ...] | None = None,
    resolution: int = 25,
    trajectories: Tensor | None = None,
    title: str | None = None,
) -> Figure:
    r"""The κ-space flow of a rank-1 or rank-2 :class:`~torchrate.LowRankRateRNN` at constant input.

    κ = nᵀv/N obeys τ dκ/dt = −κ + nᵀF(mκ + Wu + b)/N exactly (one τ). Rank 1: dκ/dt against κ
    (the fixed points are its zeros). Rank 2: streamlines coloured by speed, the two nullclines
    dκ₁/dt = 0 and dκ₂/dt = 0, and the fixed points (filled stable, open unstable, triangles saddles).

    Parameters
    ----------
    net : LowRankRateRNN
        Rank 1 or 2.
    u : Tensor (I,), optional
        Constant input (zeros if None).
    fixed_points : LatentFixedPoints, optional
        Default: :func:`~torchrate.analysis.lowrank.latent_fixed_points` (``net``, ``u``).
    extent : (lo, hi) for rank 1, (lo₁, hi₁, lo₂, hi₂) for rank 2, optional
        Default: 1.3 × the range of the fixed points, at least ±0.5.
    resolution : int
        Grid points per axis (rank 1: 20 × as many).
    trajectories : Tensor (T, B, N), optional
        Rates from ``net(u)``, drawn as κ(t) = nᵀv(t)/N (rank 2).
    """
    from .analysis.lowrank import LatentFixedPoints, latent_fixed_points, latent_velocity
    from .networks import LowRankRateRNN

    _require("net", net, LowRankRateRNN, "a rank-1 or rank-2 torchrate.LowRankRateRNN")
    rank = net.rank
    if rank not in (1, 2):
        raise ValueError(
            f"net must be of rank 1 or 2 (plot_latent_flow draws rank-1 and rank-2 LowRankRateRNNs), got rank {rank!r}"
        )
    if u is not None:
        u = _validate.check_vector(
            "u",
            u,
            net.input_size,
            dtype=net.m.dtype,
            device=net.m.device,
            what="input",
            fix="a constant input, or None for zeros",
        )
    _check_ax(ax)
    _check_text(title=title)
    resolution = _validate.as_int("resolution", resolution, minimum=2)
    if extent is not None:
        extent = _extent(extent, rank)
    if trajectories is not None:
        trajectories = _check_rates(
            "trajectories", trajectories, net.hidden_size, f"rates of net (N = {net.hidden_size}), e.g. net(u)[0]"
        )
    if fixed_points is not None:
        _require(
            "fixed_points",
            fixed_points,
            LatentFixedPoints,
            "LatentFixedPoints (from torchrate.analysis.lowrank.latent_fixed_points) or None",
        )
        if fixed_points.kappas.shape[-1] != rank:
            raise ValueError(
                f"fixed_points must be of a rank-{rank} network like net, got κ of shape "
                f"{tuple(fixed_points.kappas.shape)}; pass latent_fixed_points(net, u) or None"
            )
    fps = latent_fixed_points(net, u) if fixed_points is None else fixed_points
    k = fps.kappas.detach().cpu().double()
    if extent is None:
        lo = k.min(0).values if len(k) else torch.zeros(rank, dtype=torch.float64)
        hi = k.max(0).values if len(k) else torch.zeros(rank, dtype=torch.float64)
        half = torch.clamp(0.65 * (hi - lo), min=0.5)
        mid = 0.5 * (hi + lo)
        extent = tuple(x for i in range(rank) for x in (float(mid[i] - half[i]), float(mid[i] + half[i])))
    fig, ax = _axes(ax, figsize=(4.5, 3.2) if rank == 1 else (4.8, 4.2))
    dtype, device = net.m.dtype, net.m.device
    if rank == 1:
        x = torch.linspace(extent[0], extent[1], 20 * resolution, dtype=dtype, device=device)
        dk = latent_velocity(net, u, x[:, None])[:, 0]
        ax.plot(_np(x), _np(dk), color="k", lw=1.5, label="dκ/dt")
        ax.axhline(0, color="0.6", lw=0.8)
        if len(fps):
            _mark(ax, np.stack([_np(k[:, 0]), np.zeros(len(k))], 1), fps.kind)
        ax.set_xlim(extent[0], extent[1])
        ax.set_xlabel("κ")
        ax.set_ylabel("dκ/dt (1/ms)")
    else:
        g1 = torch.linspace(extent[0], extent[1], resolution, dtype=dtype, device=device)
        g2 = torch.linspace(extent[2], extent[3], resolution, dtype=dtype, device=device)
        K1, K2 = torch.meshgrid(g1, g2, indexing="xy")
        vel = _np(latent_velocity(net, u, torch.stack([K1, K2], -1)))
        speed = np.hypot(vel[..., 0], vel[..., 1])
        X, Y = _np(K1), _np(K2)
        stream = ax.streamplot(
            X, Y, vel[..., 0], vel[..., 1], color=speed, cmap="Greys", density=1.1, linewidth=0.8, arrowsize=0.8
        )
        fig.colorbar(stream.lines, ax=ax, label="speed |dκ/dt| (1/ms)", shrink=0.8)
        ax.contour(X, Y, vel[..., 0], levels=[0], colors="tab:red", linewidths=1.5)
        ax.contour(X, Y, vel[..., 1], levels=[0], colors="tab:blue", linewidths=1.5)
        ax.plot([], [], color="tab:red", label="dκ₁/dt = 0")
        ax.plot([], [], color="tab:blue", label="dκ₂/dt = 0")
        if trajectories is not None:
            kt = _np(trajectories.detach() @ net.n.detach() / net.hidden_size)
            for b in range(min(kt.shape[1], 20)):
                ax.plot(
                    kt[:, b, 0],
                    kt[:, b, 1],
                    color="tab:green",
                    lw=1,
                    alpha=0.7,
                    label="trajectories" if b == 0 else None,
                )
        if len(fps):
            _mark(ax, _np(k), fps.kind)
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_xlabel("κ₁")
        ax.set_ylabel("κ₂")
    ax.set_title(title or f"latent flow, rank {rank}: {len(fps)} fixed points")
    ax.legend(fontsize=7, loc="best")
    return fig
