"""Every private torch and torchdiffeq API torchrate uses, one small function each.

Nothing else in torchrate touches ``torch._*``, ``torchdiffeq._impl`` or the private helpers of
``torch.nn.utils`` (``tests/test_private_apis.py`` enforces it, and exercises each function
here against the public behaviour it stands for, naming the torch/torchdiffeq version when one
has moved). Each docstring says what is used, why no public route does the job, and what breaks
if it changes.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["fused_adam_", "torchdiffeq_methods", "transforms_active"]


def torchdiffeq_methods() -> tuple[frozenset[str], frozenset[str]]:
    """torchdiffeq's method names, split into adaptive (error-controlled) and fixed-grid ones.

    Uses ``torchdiffeq._impl.odeint.SOLVERS`` (the table ``odeint(method=…)`` looks names up in)
    and ``torchdiffeq._impl.solvers.FixedGridODESolver`` (the base class of its fixed-grid
    solvers). torchdiffeq exports only ``odeint``, ``odeint_adjoint``, ``odeint_event`` and
    ``odeint_dense``: no list of methods, no way to tell which take ``step_size``. If these move,
    ``torchrate.solvers.ODE_METHODS`` cannot be formed and every ODE network fails at
    construction (``import torchrate`` and Euler networks are unaffected).

    Returns
    -------
    adaptive, fixed_grid : frozenset of str
        Together every name ``torchdiffeq.odeint`` accepts (its ``"euler"`` among the fixed-grid).
    """
    from torchdiffeq._impl.odeint import SOLVERS
    from torchdiffeq._impl.solvers import FixedGridODESolver

    fixed = frozenset(k for k, v in SOLVERS.items() if issubclass(v, FixedGridODESolver))
    return frozenset(SOLVERS) - fixed, fixed


def transforms_active() -> bool:
    """True inside a ``torch.func`` transform (vmap, grad, jvp, jacrev, jacfwd, …).

    Uses ``torch._C._are_functorch_transforms_active()``. torch has no public query: under a
    transform a tensor is a functorch wrapper that the public API does not tell apart from a
    plain one (``torch.compiler.is_compiling`` answers for dynamo only). The fused Euler op and
    the finiteness checks ask this to take the plain loop of differentiable ops instead, which
    every transform composes with (forward-mode AD, higher derivatives, data-dependent
    branches). If it moves, every network forward fails with AttributeError; if it answers
    wrongly, ``vmap``/``jacfwd`` of a network raise or differentiate the fused op only once.
    """
    return torch._C._are_functorch_transforms_active()


def fused_adam_(
    v: Tensor, g: Tensor, m: Tensor, s: Tensor, step: Tensor, *, lr: float, beta1: float, beta2: float, eps: float
) -> None:
    r"""One Adam step on ``v`` in place: torch's fused kernel, as ``torch.optim.Adam(fused=True)`` runs it.

    .. math::
        m \leftarrow \beta_1 m + (1-\beta_1) g,\quad s \leftarrow \beta_2 s + (1-\beta_2) g^2,\quad
        v \leftarrow v - \frac{lr}{1-\beta_1^k}\,\frac{m}{\sqrt{s/(1-\beta_2^k)} + \epsilon}

    with k = ``step`` + 1 (``step`` is incremented here). ``v``, ``g``, ``m``, ``s``: one shape;
    ``step``: a 0-d float32 tensor on ``v``'s device.

    Uses ``torch._fused_adam_``, the kernel behind ``torch.optim.Adam(fused=True)``. The public
    routes to it (the optimiser's ``step``, or ``torch.optim.adam.adam``) add 20-60 µs of Python
    per step, which doubles the warm-up of a one-state fixed-point search (``batch_size=1``,
    N = 16-64, measured on torch 2.13, CPU). If it moves, :func:`torchrate.analysis.find_fixed_points`
    falls back to the same update written as seven in-place ops (same formula, slower; results
    differ by rounding); if its semantics change, warm-ups take other steps.
    """
    torch._fused_adam_(
        [v],
        [g],
        [m],
        [s],
        [],
        [step.add_(1)],
        lr=lr,
        beta1=beta1,
        beta2=beta2,
        weight_decay=0.0,
        eps=eps,
        amsgrad=False,
        maximize=False,
    )
