r"""Eigenvalues of the Jacobian at a fixed point as a parameter varies; Hopf bifurcations.

A Hopf bifurcation is where a complex-conjugate pair of eigenvalues of J crosses Re λ = 0:
the fixed point turns from a stable into an unstable spiral and oscillations appear (the
Dayan–Abbott E–I pair at τ_I = 40 ms).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .. import _validate
from ..systems import as_system
from .fixed_points import find_fixed_points
from .stability import classify

__all__ = ["Sweep", "sweep"]


@dataclass
class Sweep:
    """Fixed point followed along a parameter.

    Attributes
    ----------
    values : Tensor, shape (S,)
        Parameter values (float64, CPU).
    points : Tensor, shape (S, N)
        The fixed point at each value (NaN where none was found).
    eigenvalues : Tensor, shape (S, N), complex
        Of the Jacobian there (λ of a flow, in 1/ms; μ of a map, the multipliers), by decreasing
        real part.
    stable : Tensor, shape (S,), bool
    kind : list of str
    hopf : list of float
        Parameter values where a complex pair crosses Re λ = 0 on the followed branch (solved by
        Newton on the extended system with ``refine=True``, else interpolated between values).
    time : {"continuous", "discrete"}
        The system's time: a flow (stable where Re λ < 0) or a map (stable where |μ| < 1).
    """

    values: Tensor
    points: Tensor
    eigenvalues: Tensor
    stable: Tensor
    kind: list[str]
    hopf: list[float]
    time: str = "continuous"


def sweep(
    make_net: Callable[[float], object],
    values: Sequence[float] | Tensor,
    u: Tensor | None = None,
    *,
    initial_states: Tensor | None = None,
    refine: bool = True,
    **find_options: Any,
) -> Sweep:
    r"""Follow one fixed point over parameter ``values`` and locate its Hopf bifurcations.

    The one-branch view of :func:`~torchrate.analysis.bifurcation`: the fixed point found at
    the first value (from most ``initial_states``) is continued by pseudo-arclength along its
    branch, and read off at every value.

    Parameters
    ----------
    make_net : callable ``value -> net``
        Builds the network for one parameter value, e.g.
        ``lambda tau_i: EIRateRNN.from_weights(M, 1, tau_e=10, tau_i=tau_i, b=b, dt=0.1)``.
    values : sequence of float, shape (S,)
        Parameter values, in order.
    u : Tensor, shape (I,), optional
        Constant input.
    initial_states : Tensor, shape (K, N), optional
        Where to search at the first value. Default: the origin and the states the network
        visits from it in 1,000 steps.
    refine : bool
        Hopf points solved by Newton on the extended system (f = 0, J q = iωq) to the precision
        of the arithmetic; ``False``: linear interpolation of the complex pair's Re λ between
        neighbouring ``values``.
    **find_options
        Passed to :func:`find_fixed_points` (the search at the first value).

    Returns
    -------
    Sweep
    """
    from .bifurcation import _complex_front, _eigenvalues, _visited_states, bifurcation, parameter_values

    if not callable(make_net) or isinstance(make_net, torch.nn.Module):
        raise TypeError(
            f"make_net must be a function value -> network, got {type(make_net).__name__}; e.g. "
            "make_net=lambda tau_i: EIRateRNN.from_weights(M, 1, tau_e=10, tau_i=tau_i, dt=0.1)"
        )
    values = parameter_values(values)
    if not isinstance(refine, bool):
        raise TypeError(f"refine must be True or False, got {refine!r}")
    system = as_system(_build(make_net, values[0].item()))
    if initial_states is not None:
        initial_states = _validate.as_real_tensor("initial_states", initial_states)
        _validate.check_shape("initial_states", initial_states, ("K", system.state_size or initial_states.shape[-1]))
        _validate.check_finite_tensor("initial_states", initial_states)
    kw = _validate.Factory(dtype=system.dtype or torch.get_default_dtype(), device=system.device)
    I = system.input_size if system.input_size is not None else system.state_size
    if I is None:
        raise ValueError(
            f"make_net({values[0].item():g}) gives a system of unknown size: give a torchrate.systems.Flow "
            "or Map with state_size and input_size"
        )
    u = torch.zeros(I, **kw) if u is None else _validate.check_vector("u", u, I, what="input", **kw)
    find_options.setdefault("outlier_scale", None)
    init = _visited_states(system, u) if initial_states is None else initial_states
    fps = find_fixed_points(system, u, torch.as_tensor(init), **find_options)
    if len(fps) == 0:
        raise ValueError(
            f"no fixed point found at the first value {values[0].item():g}; give initial_states closer to one"
        )
    start = fps.points[int(fps.counts.argmax())]
    if values.min() == values.max():  # nothing to continue
        S = values.numel()
        points = start.expand(S, -1).cpu()
        eigenvalues = fps.eigenvalues[int(fps.counts.argmax())].expand(S, -1).cpu()
        stable, kind = classify(eigenvalues, time=system.time)
        return Sweep(values, points, eigenvalues, stable, kind, [], system.time)

    bif = bifurcation(
        lambda p: (_build(make_net, p), u), values, initial_states=start[None], seeds=1, refine=refine, **find_options
    )
    slices = bif.at(values.tolist())
    first = slices[0]
    if len(first) == 0:
        raise ValueError(f"continuation lost the fixed point at the first value {values[0].item():g}")
    branch = int(first.branch[(first.points - start.to(first.points)).norm(dim=-1).argmin()])
    rows, previous = [], start
    for sl in slices:  # the branch's point at each value (nearest the last one where it folds back)
        on = sl.points[sl.branch == branch]
        if on.shape[0] == 0:
            rows.append(torch.full_like(start, math.nan))
            continue
        previous = on[(on - previous.to(on)).norm(dim=-1).argmin()]
        rows.append(previous)
    points = torch.stack(rows)
    found = ~torch.isnan(points).any(-1)
    eigenvalues = torch.full(points.shape, complex(math.nan, math.nan), dtype=torch.complex128)
    if found.any():
        p = values.to(points.device, points.dtype)[found]
        eigenvalues[found.cpu()] = _eigenvalues(bif._family, points[found], p).cpu().to(eigenvalues.dtype)
    points = points.cpu()
    stable, kind = classify(eigenvalues, time=system.time)

    if refine or system.time == "discrete":
        hopf = sorted(h.value for h in bif.hopf if h.branch == branch)
    else:
        front = _complex_front(eigenvalues).tolist()
        hopf = []
        for k in range(len(values) - 1):
            g0, g1 = front[k], front[k + 1]
            if not (math.isnan(g0) or math.isnan(g1) or (g0 < 0) == (g1 < 0) or g0 == g1):
                a, b = values[k].item(), values[k + 1].item()
                hopf.append(a - g0 * (b - a) / (g1 - g0))
    return Sweep(values, points, eigenvalues, stable, kind, hopf, system.time)


def _build(make_net: Callable[[float], object], value: float) -> object:
    """``make_net(value)``, refusing what is not a network."""
    net = make_net(value)
    if (
        net is None
        or isinstance(net, (str, bytes))
        or not (hasattr(net, "system") or hasattr(net, "vector_field") or callable(net))
    ):
        raise TypeError(
            f"make_net({value:g}) returned {type(net).__name__}; make_net must return a network "
            "(RateRNN, EIRateRNN, or a module with vector_field(v, h)) for each value"
        )
    return net
