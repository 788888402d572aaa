r"""Phase plane of a two-neuron network: vector field, nullclines, fixed points, trajectories."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .. import _validate as check
from ..systems import System, as_system
from .fixed_points import FixedPoints, constant_input, find_fixed_points

__all__ = ["PhasePlane", "phase_plane"]


@dataclass
class PhasePlane:
    """Everything a phase-plane figure shows (tensors on the CPU).

    Attributes
    ----------
    x, y : Tensor, shapes (n,), (n,)
        Grid of rates v₁ (x axis) and v₂ (y axis).
    velocity : Tensor, shape (n, n, 2)
        dv/dt at ``(x[j], y[i])`` in ``velocity[i, j]``, rate/ms; for a map, the step F(v) − v.
    nullclines : tuple of two lists of Tensor (k, 2)
        Curves where dv₁/dt = 0 and where dv₂/dt = 0 (a map: where each unit's step is 0), as
        polylines (v₁, v₂).
    fixed_points : FixedPoints
        Found from every grid point (and the trajectories' starts).
    trajectories : Tensor, shape (T + 1, B, 2), or None
        Rates from the initial states under constant input, t = 0, dt, …, T·dt (a map: steps).
    dt : float
        Step of the trajectories in ms.
    """

    x: Tensor
    y: Tensor
    velocity: Tensor
    nullclines: tuple[list[Tensor], list[Tensor]]
    fixed_points: FixedPoints
    trajectories: Tensor | None
    dt: float


def _zero_contours(x: Tensor, y: Tensor, z: Tensor) -> list[Tensor]:
    """Polylines of the level z = 0 on the grid (marching squares, via contourpy)."""
    import contourpy  # a matplotlib dependency

    gen = contourpy.contour_generator(x.numpy(), y.numpy(), z.numpy(), line_type="Separate")
    return [torch.from_numpy(line.copy()) for line in gen.lines(0.0)]


def _runs_itself(net: object, system: System) -> bool:
    """A network with its own forward and dt (its solver, its step) whose flow is analysed."""
    return (
        system.time == "continuous"
        and isinstance(getattr(net, "dt", None), float)
        and callable(getattr(net, "forward", None))
    )


@torch.no_grad()
def _trajectories(net: Any, system: System, u: Tensor, v0: Tensor, steps: int, dt: float, own: bool) -> Tensor:
    """States (steps + 1, B, 2) from ``v0``: the network's own forward (``own``: its solver and dt),
    the map iterated, or Euler steps of ``dt`` on a flow."""
    if own:
        time_first = not getattr(net, "batch_first", False)  # the network reads (T, B, I) or (B, T, I)
        x = u.expand(steps, v0.shape[0], -1)
        rates, _ = net((x if time_first else x.transpose(0, 1)).contiguous(), v0[None])
        return torch.cat([v0[None], rates if time_first else rates.transpose(0, 1)])
    out = [v0]
    U = u.expand(v0.shape[0], -1)
    for _ in range(steps):
        v = out[-1]
        out.append(system(v, U) if system.time == "discrete" else v + dt * system(v, U))
    return torch.stack(out)


def phase_plane(
    net: object,
    u: Tensor | None = None,
    xlim: tuple[float, float] = (0.0, 1.0),
    ylim: tuple[float, float] = (0.0, 1.0),
    *,
    n: int = 25,
    resolution: int = 400,
    initial_states: Tensor | None = None,
    duration: float = 500.0,
    dt: float | None = None,
    time: str | None = None,
    **find_options: Any,
) -> PhasePlane:
    r"""Vector field, nullclines, fixed points and trajectories of a 2-neuron network.

    Parameters
    ----------
    net : anything :func:`~torchrate.systems.as_system` takes, with 2 state variables
    u : Tensor, shape (I,), optional
        Constant input.
    xlim, ylim : (float, float)
        Window in rates v₁ (x) and v₂ (y).
    n : int
        Arrows per axis of the vector-field grid (fixed points are searched from these).
    resolution : int
        Grid points per axis for the nullclines.
    initial_states : Tensor, shape (B, 2), optional
        Starts of trajectories, run for ``duration`` ms with the network's own ``forward``
        (its solver and ``dt``), or Euler with step ``dt`` (ms) for other modules.
    dt : float, optional
        The trajectories' Euler step (ms) on the flow; for a network with its own ``dt``, given,
        it replaces the network's forward (its solver, its step). Required for a flow without
        one; refused for a map, whose trajectories are its own steps.
    time : {"continuous", "discrete"}, optional
        For an Euler network: its ODE or the map it runs (see
        :func:`~torchrate.systems.as_system`). For a map, ``velocity`` is the step F(v) − v and
        the nullclines are where it vanishes; trajectories are iterations (``duration`` in steps).
    **find_options
        Passed to :func:`find_fixed_points`.

    Returns
    -------
    PhasePlane

    Raises
    ------
    TypeError, ValueError
        Naming the argument: a network without ``vector_field`` or not of 2 neurons; limits
        that are not two finite numbers ``lo < hi``; ``n`` or ``resolution`` below 2;
        ``initial_states`` not of shape (B, 2) or not finite; ``u`` not of shape
        (input_size,) or not finite; a ``duration`` or ``dt`` that is not positive and finite.
    """
    system = as_system(net, time=time)
    dtype = system.dtype or torch.get_default_dtype()
    device = system.device
    N = system.state_size if system.state_size is not None else 2
    if N != 2:
        raise ValueError(
            f"phase_plane needs a network of 2 neurons, got hidden_size={N}; "
            "for larger networks plot fixed points in PCA space (plot_fixed_points)"
        )
    xlim, ylim = check.check_interval("xlim", xlim), check.check_interval("ylim", ylim)
    n = check.as_int("n", n, minimum=2)
    resolution = check.as_int("resolution", resolution, minimum=2, fix="nullclines need a grid of ≥ 2×2 points")
    duration = check.check_positive("duration", duration, fix="the trajectories' length in ms (steps for a map)")
    if dt is not None:
        dt = check.check_positive("dt", dt, fix="the Euler step of the trajectories in ms")
        if system.time == "discrete":
            raise ValueError(
                f"dt applies to the trajectories of a flow; this is a map, whose trajectories are its own steps "
                f"(duration counts them), got dt={dt:g}: leave dt out, or pass time='continuous' for an Euler "
                "network's ODE"
            )
    kw = check.Factory(dtype=dtype, device=device)
    own_dt = getattr(net, "dt", None) if _runs_itself(net, system) else 1.0 if system.time == "discrete" else None
    own = False  # trajectories from the network's own forward
    if u is not None:
        u = check.check_vector("u", u, system.input_size if system.input_size is not None else 2, what="input", **kw)
    u = constant_input(system, u, torch.zeros(2, **kw))
    if initial_states is not None:
        initial_states = check.as_real_tensor("initial_states", initial_states, **kw)
        check.check_shape(
            "initial_states",
            initial_states,
            ("B", 2),
            fix="one row (v₁, v₂) per trajectory; a single start is initial_states[None]",
        )
        check.check_finite_tensor("initial_states", initial_states)
        if dt is None and own_dt is None:
            raise ValueError("dt must be given (ms) for the trajectories of a module without .dt, got None")
        own = dt is None and _runs_itself(net, system)  # unless a dt was given
        dt = own_dt if dt is None else dt
    field = system.at(u)

    def grid(k: int) -> tuple[Tensor, Tensor, Tensor]:
        x = torch.linspace(xlim[0], xlim[1], k, **kw)
        y = torch.linspace(ylim[0], ylim[1], k, **kw)
        Y, X = torch.meshgrid(y, x, indexing="ij")
        return x, y, torch.stack([X, Y], -1)  # (k, k, 2): [i, j] = (x[j], y[i])

    with torch.no_grad():
        x, y, V = grid(n)
        velocity = field(V)
        xf, yf, Vf = grid(resolution)
        vf = field(Vf).double().cpu()
    xf, yf = xf.double().cpu(), yf.double().cpu()
    nullclines = (_zero_contours(xf, yf, vf[..., 0]), _zero_contours(xf, yf, vf[..., 1]))
    starts = V.reshape(-1, 2)
    if initial_states is not None:
        starts = torch.cat([starts, initial_states])
    find_options.setdefault("outlier_scale", None)
    fps = find_fixed_points(system, u, starts, **find_options)
    traj = None
    if initial_states is not None and dt is not None:  # dt: given, or the network's own (checked above)
        traj = _trajectories(net, system, u, initial_states, max(1, round(duration / dt)), dt, own).cpu()
    return PhasePlane(x.cpu(), y.cpu(), velocity.cpu(), nullclines, fps, traj, float(dt or 0.0))
