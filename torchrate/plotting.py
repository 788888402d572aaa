r"""Matplotlib figures for the analysis: spectra, phase planes, fixed points in PCA space, sweeps.

Every function draws into ``ax`` when given (else a new figure) and returns the ``Figure``.
Stable fixed points are filled markers, unstable ones open; saddles are triangles.

A new figure is a plain :class:`matplotlib.figure.Figure`, not registered with ``pyplot``:
nothing is left open in pyplot's figure list (no memory growth in loops, no "More than 20
figures" warning). Save it with ``fig.savefig``; in Jupyter it displays as the cell's value.
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from .analysis.fixed_points import FixedPoints
from .analysis.phase_plane import PhasePlane
from .analysis.spectrum import Spectrum
from .analysis.sweep import Sweep

__all__ = ["plot_spectrum", "plot_phase_plane", "plot_fixed_points", "plot_sweep"]

_STYLE = {  # kind -> (marker, filled, colour)
    "stable node": ("o", True, "tab:blue"),
    "stable spiral": ("o", True, "tab:green"),
    "saddle": ("^", False, "tab:orange"),
    "unstable node": ("o", False, "tab:red"),
    "unstable spiral": ("o", False, "tab:purple"),
    "marginal": ("s", False, "tab:gray"),
}


# trajectory colours by group, distinct from the fixed-point markers' colours above
_GROUP_COLOURS = ("tab:cyan", "tab:pink", "tab:olive", "tab:brown", "tab:gray")


def _axes(ax: Axes | None, figsize=(4.5, 4.0)) -> tuple[Figure, Axes]:
    if ax is None:
        fig = Figure(figsize=figsize, layout="constrained")  # not pyplot: nothing left open
        return fig, fig.add_subplot()
    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes (or None: a new figure), got {type(ax).__name__}")
    return ax.figure, ax


def _require(name: str, value, cls: type, what: str) -> None:
    if not isinstance(value, cls):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}")


def _np(x: Tensor) -> np.ndarray:
    return x.detach().cpu().numpy()


def _mark(ax: Axes, xy: np.ndarray, kinds: list[str], size: float = 60, counts: bool = False) -> None:
    """Scatter points (P, 2) with one legend entry per kind (``"saddle (19)"`` with ``counts``)."""
    for kind in dict.fromkeys(kinds):
        marker, filled, colour = _STYLE[kind]
        sel = np.array([k == kind for k in kinds])
        label = f"{kind} ({sel.sum()})" if counts else kind
        ax.scatter(xy[sel, 0], xy[sel, 1], s=size, marker=marker, zorder=5, label=label,
                   facecolors=colour if filled else "white", edgecolors=colour, linewidths=1.8)


def plot_spectrum(spectrum: Spectrum | FixedPoints | Tensor, ax: Axes | None = None, *,
                  boundary: float | None = None, title: str | None = None) -> Figure:
    r"""Eigenvalues in the complex plane with the stability boundary.

    Parameters
    ----------
    spectrum : Spectrum, FixedPoints or Tensor (N,) / (P, N)
        Eigenvalues of ``M`` (a :class:`Spectrum`: boundary Re λ = 1) or of Jacobians
        (:class:`FixedPoints` or a tensor: boundary Re λ = 0, in 1/ms).
    boundary : float, optional
        Overrides the vertical line: 1 for ``M``, 0 for ``J``.
    """
    if not isinstance(spectrum, (Spectrum, FixedPoints, Tensor, np.ndarray, list, tuple)):
        raise TypeError("spectrum must be a Spectrum, FixedPoints or a tensor of eigenvalues, got "
                        f"{type(spectrum).__name__}")
    fig, ax = _axes(ax)
    if isinstance(spectrum, Spectrum):
        lam, line, what = spectrum.eigenvalues, 1.0, "M"
    elif isinstance(spectrum, FixedPoints):
        lam, line, what = spectrum.eigenvalues, 0.0, "J"
    else:
        lam, line, what = torch.as_tensor(spectrum), 0.0, "J"
    line = line if boundary is None else boundary
    lam = _np(lam.to(torch.complex128) if not lam.is_complex() else lam).reshape(-1)
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


def plot_phase_plane(pp: PhasePlane, ax: Axes | None = None, *, title: str | None = None,
                     labels: tuple[str, str] = ("$v_1$", "$v_2$")) -> Figure:
    """Vector field (arrows), nullclines, fixed points and trajectories of a 2-neuron network."""
    _require("pp", pp, PhasePlane, "a PhasePlane (from torchrate.analysis.phase_plane)")
    fig, ax = _axes(ax)
    X, Y = np.meshgrid(_np(pp.x), _np(pp.y))
    U, V = _np(pp.velocity[..., 0]), _np(pp.velocity[..., 1])
    speed = np.hypot(U, V)
    norm = np.where(speed > 0, speed, 1)  # unit arrows: direction only
    ax.quiver(X, Y, U / norm, V / norm, color="0.55", angles="xy", pivot="mid", width=0.003)
    for i, (curves, colour) in enumerate(zip(pp.nullclines, ("tab:red", "tab:blue"))):
        for j, c in enumerate(curves):
            ax.plot(c[:, 0], c[:, 1], color=colour, lw=2,
                    label=f"d{labels[i]}/dt = 0" if j == 0 else None)
    if pp.trajectories is not None:
        traj = _np(pp.trajectories)
        for b in range(traj.shape[1]):
            ax.plot(traj[:, b, 0], traj[:, b, 1], color="k", lw=1, alpha=0.8,
                    label="trajectory" if b == 0 else None)
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


def plot_fixed_points(fps: FixedPoints, trajectories: Tensor | None = None, ax: Axes | None = None,
                      *, title: str | None = None, max_trajectories: int = 20,
                      groups: Tensor | None = None) -> Figure:
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
    fig, ax = _axes(ax)
    source = fps.points if trajectories is None else trajectories
    mean, axes, explained = pca(source.cpu(), 2)
    if axes.shape[0] < 2:  # a single point or a 1-D cloud: pad with a zero axis
        axes = torch.cat([axes, torch.zeros(2 - axes.shape[0], axes.shape[1], dtype=axes.dtype)])
    project = lambda x: _np((x.detach().cpu().double() - mean) @ axes.T)  # noqa: E731
    if trajectories is not None:
        tr_ = project(trajectories)
        for b in range(min(tr_.shape[1], max_trajectories)):
            colour = "0.6" if groups is None else _GROUP_COLOURS[int(groups[b]) % len(_GROUP_COLOURS)]
            ax.plot(tr_[:, b, 0], tr_[:, b, 1], color=colour, lw=0.8, alpha=0.6,
                    label="trajectories" if b == 0 and groups is None else None)
    if len(fps):
        _mark(ax, project(fps.points), fps.kind, counts=True)
    for i, axis in enumerate((ax.set_xlabel, ax.set_ylabel)):
        axis(f"PC {i + 1}" + (f" ({float(explained[i]):.0%} var.)" if i < len(explained) else ""))
    ax.set_title(title or f"{len(fps)} fixed points")
    ax.legend(fontsize=7, loc="best")
    return fig


def plot_sweep(sw: Sweep, ax: Axes | None = None, *, parameter: str = "parameter",
               title: str | None = None) -> Figure:
    """Re λ (solid) and Im λ (dashed) of the Jacobian at the fixed point versus the parameter,
    with the Hopf points marked."""
    _require("sw", sw, Sweep, "a Sweep (from torchrate.analysis.sweep)")
    fig, ax = _axes(ax, figsize=(5.0, 3.6))
    p = _np(sw.values)
    lam = _np(sw.eigenvalues)
    for i in range(lam.shape[1]):
        ax.plot(p, lam[:, i].real, color=f"C{i}", lw=2, label=f"Re λ{i + 1}")
        ax.plot(p, lam[:, i].imag, color=f"C{i}", lw=1.2, ls="--", label=f"Im λ{i + 1}")
    ax.axhline(0, color="k", lw=0.8)
    for j, h in enumerate(sw.hopf):
        ax.axvline(h, color="tab:red", ls=":", lw=1.5, label=f"Hopf at {h:.4g}" if j < 3 else None)
    ax.set_xlabel(parameter)
    ax.set_ylabel("λ (1/ms)")
    ax.set_title(title or "eigenvalues of J at the fixed point")
    ax.legend(fontsize=7, loc="best")
    return fig
