"""Rate nonlinearities F, chosen by name or given as any callable.

Each named nonlinearity also knows its derivative *as a function of its output*
``y = F(x)``: ``F'(x) = dF(y)``. The fast Euler backward pass and the analytic
Jacobian use it, so neither has to keep the pre-activations ``x`` in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

__all__ = ["Nonlinearity", "nonlinearity", "NONLINEARITIES"]


@dataclass(frozen=True)
class Nonlinearity:
    """A rate function ``F`` with, where known, its derivative ``dF`` written in ``y = F(x)``.

    Parameters
    ----------
    name : str
        Name used in ``repr`` and configs.
    fn : callable
        ``F(x)``, elementwise.
    derivative_from_output : callable or None
        ``dF(y)`` with ``F'(x) = dF(F(x))``; ``None`` for a user callable, in which case
        torchrate differentiates ``fn`` with autograd instead.
    inplace : callable or None
        In-place ``F`` (``torch.tanh_``), used by the fast Euler loop.
    """

    name: str
    fn: Callable[[Tensor], Tensor]
    derivative_from_output: Callable[[Tensor], Tensor] | None = None
    inplace: Callable[[Tensor], Tensor] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(
                f"name must be a str (used in repr and configs), got {type(self.name).__name__} {self.name!r}"
            )
        if not callable(self.fn):
            raise TypeError(
                f"fn must be a callable Tensor -> Tensor (F, elementwise), got {type(self.fn).__name__} {self.fn!r}"
            )
        for field in ("derivative_from_output", "inplace"):
            value = getattr(self, field)
            if value is not None and not callable(value):
                raise TypeError(
                    f"{field} must be a callable Tensor -> Tensor or None, got {type(value).__name__} {value!r}"
                )

    def __call__(self, x: Tensor) -> Tensor:
        return self.fn(x)

    def __reduce__(self) -> tuple[Callable[..., Nonlinearity], tuple[Any, ...]]:
        # a named nonlinearity pickles as its name (its lambdas cannot be pickled): networks
        # survive torch.save(module), deepcopy and multiprocessing
        if NONLINEARITIES.get(self.name) is self:
            return nonlinearity, (self.name,)
        return Nonlinearity, (self.name, self.fn, self.derivative_from_output, self.inplace)

    def apply_(self, x: Tensor) -> Tensor:
        """``x ← F(x)`` in place (a copy where F has no in-place form)."""
        return self.inplace(x) if self.inplace is not None else x.copy_(self.fn(x))


def _softplus_derivative(y: Tensor) -> Tensor:
    # softplus'(x) = sigmoid(x) = 1 - exp(-softplus(x))
    return -torch.expm1(-y)


NONLINEARITIES: dict[str, Nonlinearity] = {
    n.name: n
    for n in (
        Nonlinearity("linear", lambda x: x, torch.ones_like, lambda x: x),
        Nonlinearity("relu", torch.relu, lambda y: (y > 0).to(y.dtype), torch.relu_),
        Nonlinearity("tanh", torch.tanh, lambda y: 1 - y * y, torch.tanh_),
        Nonlinearity("sigmoid", torch.sigmoid, lambda y: y * (1 - y), torch.sigmoid_),
        Nonlinearity("softplus", torch.nn.functional.softplus, _softplus_derivative),
        # saturating [x] clipped to [-1, 1]: the lecture's saturating F; |y| < 1 iff |x| < 1
        Nonlinearity(
            "clip",
            lambda x: x.clamp(-1, 1),
            lambda y: (y.abs() < 1).to(y.dtype),
            lambda x: x.clamp_(-1, 1),
        ),
        # binary threshold at 0: for hand-built networks (Hopfield); its derivative is 0
        Nonlinearity("step", lambda x: (x > 0).to(x.dtype), torch.zeros_like),
    )
}


def nonlinearity(spec: str | Callable[[Tensor], Tensor] | Nonlinearity) -> Nonlinearity:
    """Return the :class:`Nonlinearity` for a name (``"tanh"``, ``"relu"``, …) or a callable.

    Examples
    --------
    >>> nonlinearity("relu")(torch.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """
    if isinstance(spec, Nonlinearity):
        return spec
    if isinstance(spec, str):
        try:
            return NONLINEARITIES[spec]
        except KeyError:
            raise ValueError(
                f"unknown nonlinearity {spec!r}; known names are {sorted(NONLINEARITIES)}, "
                "or pass any callable Tensor -> Tensor"
            ) from None
    if callable(spec):
        return Nonlinearity(getattr(spec, "__name__", type(spec).__name__), spec)
    raise TypeError(f"nonlinearity must be a name or a callable, got {type(spec).__name__}")
