r"""Eigenvalues of the Jacobian at a fixed point as a parameter varies; Hopf bifurcations.

A Hopf bifurcation is where a complex-conjugate pair of eigenvalues of J crosses Re λ = 0:
the fixed point turns from a stable into an unstable spiral and oscillations appear (the
Dayan–Abbott E–I pair at τ_I = 40 ms).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .. import _validate
from ..networks import RateRNN
from .fixed_points import classify, find_fixed_points
from .jacobian import _reference

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
        Of the Jacobian there, by decreasing real part.
    stable : Tensor, shape (S,), bool
    kind : list of str
    hopf : list of float
        Parameter values where a complex pair crosses Re λ = 0, interpolated between grid
        values and, with ``refine=True``, solved to ``xtol`` by regula falsi.
    """

    values: Tensor
    points: Tensor
    eigenvalues: Tensor
    stable: Tensor
    kind: list[str]
    hopf: list[float]


def _nearest(net, u, guess: Tensor, init: Tensor | None, options: dict):
    """The fixed point of ``net`` closest to ``guess``, with its eigenvalues (or None)."""
    starts = guess[None] if init is None else torch.cat([guess[None], init.to(guess)])
    fps = find_fixed_points(net, u, starts, **options)
    if len(fps) == 0:
        return None
    i = int((fps.points - guess.to(fps.points)).norm(dim=-1).argmin())
    return fps.points[i], fps.eigenvalues[i]


@torch.no_grad()
def _visited_states(net, u: Tensor | None, steps: int = 1000, every: int = 20) -> Tensor:
    """The origin and every ``every``-th state of a ``steps``-step run from it at input ``u``."""
    if not isinstance(net, RateRNN):
        raise ValueError("give initial_states (K, N) for a module that is not a RateRNN")
    ref = net.M
    drive = (torch.zeros(net.input_size, dtype=ref.dtype, device=ref.device) if u is None
             else torch.as_tensor(u, dtype=ref.dtype, device=ref.device))
    rates, _ = net(drive.expand(steps, 1, net.input_size).contiguous())
    return torch.cat([torch.zeros_like(rates[0]), rates[every - 1::every, 0]])


def _complex_front(lam: Tensor) -> float:
    """Largest Re λ among the complex eigenvalues (NaN if all are real)."""
    tol = math.sqrt(torch.finfo(lam.real.dtype).eps) * max(lam.abs().max().item(), 1e-300)
    re = lam.real[lam.imag.abs() > tol]
    return re.max().item() if re.numel() else math.nan


def sweep(
    make_net: Callable[[float], object],
    values: Sequence[float] | Tensor,
    u: Tensor | None = None,
    *,
    initial_states: Tensor | None = None,
    refine: bool = True,
    xtol: float | None = None,
    **find_options,
) -> Sweep:
    r"""Follow a fixed point over parameter ``values`` and locate Hopf bifurcations.

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
        Where to search at the first value (the point found from most of them is followed);
        later values start from the previous fixed point (continuation) and these states.
        Default: the origin and the states the network visits from it in 1,000 steps.
    refine : bool
        Solve each Hopf crossing to ``xtol`` (default ``1e-12·max|value|``) with the Illinois
        regula falsi, building networks at intermediate values.
    **find_options
        Passed to :func:`find_fixed_points`.

    Returns
    -------
    Sweep
    """
    if not callable(make_net) or isinstance(make_net, torch.nn.Module):
        raise TypeError(f"make_net must be a function value -> network, got {type(make_net).__name__}; e.g. "
                        "make_net=lambda tau_i: EIRateRNN.from_weights(M, 1, tau_e=10, tau_i=tau_i, dt=0.1)")
    values = _validate.as_real_tensor("values", values, dtype=torch.float64)
    if values.ndim > 1:
        raise ValueError(f"values must be a 1-D sequence of parameter values, got shape {tuple(values.shape)}")
    values = values.reshape(-1)
    if values.numel() < 1:
        raise ValueError("values must hold at least one parameter value, got none")
    _validate.check_finite_tensor("values", values)
    if not isinstance(refine, bool):
        raise TypeError(f"refine must be True or False, got {refine!r}")
    if xtol is not None:
        xtol = _validate.check_positive("xtol", xtol, fix="the tolerance on the Hopf value")
    if initial_states is not None:
        initial_states = _validate.as_real_tensor("initial_states", initial_states)
    find_options.setdefault("outlier_scale", None)
    points, eigs = [], []
    guess = None
    for p in values.tolist():
        net = _build(make_net, p)
        if initial_states is not None and guess is None:
            N = getattr(net, "hidden_size", initial_states.shape[-1])
            _validate.check_shape("initial_states", initial_states, ("K", N))
            _validate.check_finite_tensor("initial_states", initial_states)
        if u is not None and guess is None:
            ref = _reference(net)
            u = _validate.check_vector("u", u, getattr(net, "input_size", None), what="input",
                                       dtype=None if ref is None else ref.dtype)
        if guess is None:
            init = _visited_states(net, u) if initial_states is None else initial_states
            fps = find_fixed_points(net, u, torch.as_tensor(init), **find_options)
            if len(fps) == 0:
                raise ValueError(f"no fixed point found at the first value {p:g}; "
                                 "give initial_states closer to one")
            i = int(fps.counts.argmax())
            found = (fps.points[i], fps.eigenvalues[i])
        else:
            found = _nearest(net, u, guess, initial_states, find_options)
        if found is None:
            N = points[0].shape[0]
            found = (torch.full((N,), math.nan, dtype=points[0].dtype, device=points[0].device),
                     torch.full((N,), complex(math.nan, math.nan), dtype=eigs[0].dtype,
                                device=eigs[0].device))
        else:
            guess = found[0]
        points.append(found[0])
        eigs.append(found[1])
    points = torch.stack(points).cpu()
    eigenvalues = torch.stack(eigs).cpu()
    stable, kind = classify(eigenvalues)

    front = [_complex_front(lam) for lam in eigenvalues]
    xtol = 1e-12 * values.abs().max().item() if xtol is None else xtol
    hopf = []
    for k in range(len(values) - 1):
        g0, g1 = front[k], front[k + 1]
        if math.isnan(g0) or math.isnan(g1) or (g0 < 0) == (g1 < 0) or g0 == g1:
            continue
        a, b = values[k].item(), values[k + 1].item()
        if refine:
            hopf.append(_regula_falsi(make_net, u, points[k], initial_states, find_options,
                                      a, b, g0, g1, xtol))
        else:
            hopf.append(a - g0 * (b - a) / (g1 - g0))
    return Sweep(values, points, eigenvalues, stable, kind, hopf)


def _build(make_net, value: float):
    """``make_net(value)``, refusing what is not a network."""
    net = make_net(value)
    if net is None or not (hasattr(net, "vector_field") or callable(net)):
        raise TypeError(f"make_net({value:g}) returned {type(net).__name__}; make_net must return a network "
                        "(RateRNN, EIRateRNN, or a module with vector_field(v, h)) for each value")
    return net


def _regula_falsi(make_net, u, guess, init, options, a, b, ga, gb, xtol, max_iter=100) -> float:
    """Illinois regula falsi on g(p) = max Re λ of the complex pair, bracketed by [a, b]."""
    side = 0
    c = a - ga * (b - a) / (gb - ga)
    for _ in range(max_iter):
        c = a - ga * (b - a) / (gb - ga)
        found = _nearest(_build(make_net, c), u, guess, init, options)
        if found is None:
            break
        guess, gc = found[0], _complex_front(found[1])
        if math.isnan(gc) or gc == 0 or abs(b - a) <= xtol:
            break
        if (gc < 0) == (gb < 0):
            b, gb = c, gc
            if side == -1:
                ga /= 2
            side = -1
        else:
            a, ga = c, gc
            if side == 1:
                gb /= 2
            side = 1
        if abs(b - a) <= xtol:
            c = a - ga * (b - a) / (gb - ga)
            break
    return c
