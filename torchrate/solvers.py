r"""Continuous-time integration of τ dv/dt = −v + F(h(t) + M v + b) with ``torchdiffeq``.

The input is held exactly piecewise constant over each ``dt`` bin. The method table is
``torchdiffeq``'s own (:data:`ODE_METHODS`); its ``"euler"`` is left out, because
``solver="euler"`` is torchrate's fused Euler cell (:mod:`torchrate._rollout`), and so are the
methods in :data:`WITHHELD_METHODS`, which give wrong solutions without an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from . import _validate
from ._private import torchdiffeq_methods

__all__ = [  # noqa: F822
    "ode_rollout",
    "ODE_METHODS",
    "ADAPTIVE_METHODS",
    "FIXED_GRID_METHODS",
    "WITHHELD_METHODS",
    "SolverBudgetError",
]

#: torchdiffeq methods torchrate does not offer, with the reason: each returns a wrong solution
#: without raising (``tests/test_solvers_withheld.py`` re-checks this against the installed torchdiffeq,
#: so that a fixed release is noticed). torchdiffeq 0.2.5's ``"explicit_adams"`` (Adams–Bashforth)
#: grows its error as the step shrinks: dy/dt = −y on [0, 1] ends at 0.677 instead of e⁻¹ = 0.368
#: with step_size = 1/64 (3.4 in float32), while it is accurate to 2·10⁻⁴ at step_size = 1/4.
WITHHELD_METHODS: dict[str, str] = {
    "explicit_adams": (
        "torchdiffeq's explicit Adams–Bashforth gets less accurate as the step shrinks (dy/dt = −y on [0, 1] "
        "with step_size = 1/64 ends at 0.677 instead of 0.368): use 'implicit_adams', 'rk4' or 'dopri5'"
    ),
}


_TABLE: dict[str, frozenset[str]] = {}


def __getattr__(name: str) -> frozenset[str]:
    """``ADAPTIVE_METHODS`` (error control), ``FIXED_GRID_METHODS`` and ``ODE_METHODS`` (both), read
    from torchdiffeq on first use: ``import torchrate`` does not import torchdiffeq (nor the scipy
    and sympy it imports), which only ODE networks need."""
    if name not in ("ADAPTIVE_METHODS", "FIXED_GRID_METHODS", "ODE_METHODS"):  # WITHHELD_METHODS: a plain dict
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if not _TABLE:
        adaptive, fixed = torchdiffeq_methods()
        left_out = {"euler", *WITHHELD_METHODS}
        _TABLE.update(ADAPTIVE_METHODS=adaptive - left_out, FIXED_GRID_METHODS=fixed - left_out)
        _TABLE["ODE_METHODS"] = _TABLE["ADAPTIVE_METHODS"] | _TABLE["FIXED_GRID_METHODS"]
    return _TABLE[name]


class SolverBudgetError(RuntimeError):
    """An ODE solve used more vector-field evaluations than its budget (stiff or non-finite)."""


class _PiecewiseConstantField(torch.nn.Module):
    """dv/dt at time t with the input of the dt-bin that contains t (torchdiffeq signature),
    counting evaluations against a budget: a solve that cannot finish raises instead of hanging
    (torchdiffeq's own guard is an ``assert``, gone under ``python -O``)."""

    def __init__(self, field: Callable[[Tensor, Tensor], Tensor], U: Tensor, edges: Tensor, budget: int) -> None:
        super().__init__()
        self.field, self.U, self.edges, self.budget, self.evals = field, U, edges, budget, 0

    def forward(self, t: Tensor, v: Tensor) -> Tensor:
        self.evals += 1
        if self.evals > self.budget:
            raise SolverBudgetError(
                f"the ODE solver used more than {self.budget} vector-field evaluations before t = "
                f"{float(t):g} ms: the dynamics are too stiff for it (small τ relative to dt) or became "
                "non-finite. Use solver='euler' with a small dt, an implicit-free fixed-grid method "
                "('rk4' with ode_options={'step_size': …}), or raise ode_options={'max_evals': …}"
            )
        # bin k holds [k·dt, (k+1)·dt); torchdiffeq nudges t to the left or right of a
        # jump with nextafter, so a comparison against the same float edges is exact
        k = torch.searchsorted(self.edges, t.reshape(1).to(self.edges.dtype), right=True)
        return self.field(v, self.U.index_select(0, k).squeeze(0))


def ode_rollout(
    field: Callable[[Tensor, Tensor], Tensor],
    U: Tensor,
    v0: Tensor,
    dt: float,
    *,
    method: str = "dopri5",
    rtol: float = 1e-6,
    atol: float = 1e-8,
    adjoint: bool = False,
    adjoint_params: tuple[Tensor, ...] = (),
    options: dict[str, Any] | None = None,
) -> Tensor:
    r"""Solve dv/dt = field(v, u(t)) with ``torchdiffeq``, u piecewise constant per dt bin.

    The input of bin k, ``U[k]``, acts on ``[k·dt, (k+1)·dt)``. Adaptive methods are told
    the bin edges where the input changes as ``jump_t`` (their steps restart at each
    discontinuity, with the input of the new bin) and fixed-grid methods step exactly on the
    bin edges with ``perturb``, so that every stage inside a bin sees that bin's input. Times
    are float64 whatever the state's dtype (a bf16 grid is not increasing past 256 steps).

    Parameters
    ----------
    field : callable (v, u) -> dv/dt
        Computes everything from ``u`` itself (``W u`` included), so that with the adjoint
        every parameter is reached once, directly, and never also through a precomputed
        ``W u`` graph.
    U : Tensor, shape (T, B, I)
    v0 : Tensor, shape (B, N)
    dt : float
        Bin width in ms; rates are reported at t = dt, 2dt, …, T·dt.
    method, rtol, atol, options
        Passed to ``torchdiffeq.odeint``; ``options["max_evals"]`` (default ``1000·T + 10⁴``)
        bounds the vector-field evaluations, raising :class:`SolverBudgetError` past it.
    adjoint : bool
        Use ``odeint_adjoint``; ``adjoint_params`` are the tensors ``field`` uses (``U`` is
        added when it requires grad).

    Returns
    -------
    Tensor, shape (T, B, N)

    Raises
    ------
    TypeError, ValueError
        Naming the argument: ``field`` not callable; ``U`` or ``v0`` not a floating tensor of the
        shapes above (the same B, the same dtype) or not finite; ``dt``, ``rtol`` or ``atol`` not a
        positive finite number; ``method`` not in :data:`ODE_METHODS` (or withheld); ``adjoint``
        not a bool; ``adjoint_params`` not tensors; ``options`` not a dict (``max_evals`` ≥ 1).
        Networks call the unchecked ``_ode_rollout`` (their settings are checked at construction).
    """
    if not callable(field):
        raise TypeError(f"field must be a callable (v, u) -> dv/dt, got {_validate._show(field)}")
    for name, t, shape in (("U", U, "(T, B, I)"), ("v0", v0, "(B, N)")):
        if not isinstance(t, Tensor) or not t.is_floating_point():
            raise TypeError(f"{name} must be a floating-point Tensor of shape {shape}, got {_validate._show(t)}")
        if t.ndim != len(shape.split(",")):
            raise ValueError(f"{name} must have shape {shape}, got {tuple(t.shape)}")
    if v0.shape[0] != U.shape[1]:
        raise ValueError(f"v0 must have shape (B, N) with B = U.shape[1] = {U.shape[1]}, got {tuple(v0.shape)}")
    if v0.dtype != U.dtype:
        raise TypeError(f"v0 must have the dtype of U ({U.dtype}), got {v0.dtype}")
    _validate.check_finite_tensor("U", U.detach())
    _validate.check_finite_tensor("v0", v0.detach())
    dt = _validate.check_positive("dt", dt, fix="the width of an input bin in ms")
    if method in WITHHELD_METHODS:
        raise ValueError(f"method {method!r} is not offered: {WITHHELD_METHODS[method]}")
    _validate.check_choice("method", method, sorted(__getattr__("ODE_METHODS")))
    rtol, atol = _validate.check_positive("rtol", rtol), _validate.check_positive("atol", atol)
    _validate.check_flag("adjoint", adjoint)
    if not isinstance(adjoint_params, (tuple, list)) or not all(isinstance(p, Tensor) for p in adjoint_params):
        raise TypeError(
            f"adjoint_params must be a tuple of the Tensors field uses, got {_validate._show(adjoint_params)}"
        )
    if options is not None and not isinstance(options, dict):
        raise TypeError(f"options must be a dict of torchdiffeq options or None, got {_validate._show(options)}")
    if options and "max_evals" in options:
        _validate.as_int("options['max_evals']", options["max_evals"], minimum=1)
    return _ode_rollout(
        field,
        U,
        v0,
        dt,
        method=method,
        rtol=rtol,
        atol=atol,
        adjoint=adjoint,
        adjoint_params=adjoint_params,
        options=options,
    )


def _ode_rollout(
    field: Callable[[Tensor, Tensor], Tensor],
    U: Tensor,
    v0: Tensor,
    dt: float,
    *,
    method: str,
    rtol: float,
    atol: float,
    adjoint: bool,
    adjoint_params: tuple[Tensor, ...],
    options: dict[str, Any] | None,
) -> Tensor:
    import torchdiffeq

    T = U.shape[0]
    if T == 0 or v0.numel() == 0:
        return v0.new_zeros((T, *v0.shape))
    times = torch.arange(T + 1, dtype=torch.float64, device=v0.device) * dt
    edges = times[1:-1]
    options = dict(options or {})
    budget = int(options.pop("max_evals", 1000 * T + 10_000))
    if method in __getattr__("FIXED_GRID_METHODS"):
        options.setdefault("perturb", True)
        if options.get("step_size") is not None and "grid_constructor" not in options:
            # torchdiffeq's own grid, k·step_size, misses the bin edges unless step_size divides
            # dt exactly in floating point: a step across an edge mixes two bins' inputs (rk4 at
            # step_size 0.3, dt 1: error 0.3 where step_size = dt gives 0.01). Each bin is split
            # into equal steps of at most step_size instead.
            options["grid_constructor"] = _bin_grid(float(options.pop("step_size")))
    elif T > 1:
        # only the edges where the input actually changes are discontinuities
        changes = (U[1:] != U[:-1]).flatten(1).any(1)
        options.setdefault("jump_t", edges[changes])
    # the adjoint's backward solve evaluates the same field (and its vector-Jacobian products)
    func = _PiecewiseConstantField(field, U, edges, 3 * budget if adjoint else budget)
    if adjoint:
        params = tuple(adjoint_params) + ((U,) if U.requires_grad else ())
        solution = torchdiffeq.odeint_adjoint(
            func,
            v0,
            times,
            rtol=rtol,
            atol=atol,
            method=method,
            options=options,
            adjoint_params=params,
        )
    else:
        solution = torchdiffeq.odeint(func, v0, times, rtol=rtol, atol=atol, method=method, options=options)
    return solution[1:]


def _bin_grid(step_size: float) -> Callable[[Any, Tensor, Tensor], Tensor]:
    """A torchdiffeq ``grid_constructor``: every interval between consecutive output times (the
    bins; one bin a backward solve of the adjoint, in either direction) split into the fewest
    equal steps of at most ``step_size``, so that every bin edge is a grid point."""
    if not step_size > 0 or not math.isfinite(step_size):
        raise ValueError(f"options['step_size'] must be a positive finite number (ms), got {step_size!r}")

    def grid(func: Any, y0: Tensor, t: Tensor) -> Tensor:
        width = t[1:] - t[:-1]
        ratio = float(width.abs().max()) / step_size if len(t) > 1 else 1.0
        n = max(1, round(ratio) if abs(ratio - round(ratio)) <= 1e-9 * ratio else math.ceil(ratio))
        inner = t[:-1, None] + width[:, None] * (torch.arange(n, dtype=t.dtype, device=t.device) / n)
        return torch.cat([inner.flatten(), t[-1:]])

    return grid
