r"""Stability of fixed points from their eigenvalues, in continuous or discrete time.

* **Continuous time** (a flow dv/dt = f(v)): λ the eigenvalues of ∂f/∂v; stable iff every
  Re λ < 0; marginal where some Re λ = 0 (a fold, a Hopf point, a line or ring attractor).
* **Discrete time** (a map v' = F(v)): μ the eigenvalues of ∂F/∂v; stable iff every |μ| < 1;
  marginal where some |μ| = 1: μ = 1 (a fold, a continuous attractor: ``"marginal"``), μ = −1
  (``"flip"``: period doubling) or a complex pair on the unit circle (``"Neimark–Sacker"``).

An Euler step v' = v + dt·f(v) has μ = 1 + dt·λ: the same points, but |1 + dt·λ| < 1 is
not Re λ < 0 once dt·|λ| is not small — the network that runs is the map.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .. import _validate

__all__ = ["classify", "sort_eigenvalues", "eigen_order", "KINDS", "is_stable", "distance_to_marginal", "boundary_tol"]

KINDS = (
    "stable node",
    "stable spiral",
    "saddle",
    "unstable node",
    "unstable spiral",
    "marginal",
    "flip",
    "Neimark–Sacker",
    "undetermined",
)


def _check(name: str, eigenvalues: object, time: str) -> None:
    """``eigenvalues`` a tensor of numbers (…, N) and ``time`` one of the two; no host sync."""
    _validate.check_choice("time", time, ("continuous", "discrete"))
    if not isinstance(eigenvalues, Tensor) or not (eigenvalues.is_floating_point() or eigenvalues.is_complex()):
        raise TypeError(
            f"{name} must be a floating or complex tensor of eigenvalues, shape (…, N), got "
            f"{_validate._show(eigenvalues)}"
        )
    if eigenvalues.ndim == 0:
        raise ValueError(f"{name} must have shape (…, N) (N eigenvalues a point), got a 0-D tensor")


def _complex(lam: Tensor) -> Tensor:
    return lam if lam.is_complex() else lam.to(torch.promote_types(lam.dtype, torch.complex64))


def distance_to_marginal(eigenvalues: Tensor, time: str = "continuous") -> Tensor:
    """Signed distance of each eigenvalue from the stability boundary: Re λ (continuous) or
    |μ| − 1 (discrete); negative is stable."""
    _check("eigenvalues", eigenvalues, time)
    lam = _complex(eigenvalues)
    return lam.real if time == "continuous" else lam.abs() - 1


def is_stable(eigenvalues: Tensor, time: str = "continuous") -> Tensor:
    """Every Re λ < 0 (continuous) or every |μ| < 1 (discrete), shape (P,) — no tolerance."""
    _check("eigenvalues", eigenvalues, time)
    return (distance_to_marginal(eigenvalues, time) < 0).all(-1)


def eigen_order(lam: Tensor, time: str = "continuous") -> Tensor:
    """Indices (…, N) that sort eigenvalues by decreasing real part (continuous) or modulus
    (discrete), ties by decreasing imaginary part."""
    _check("lam", lam, time)
    lam = _complex(lam)
    first = torch.sort(lam.imag, dim=-1, descending=True, stable=True).indices
    key = lam.gather(-1, first)
    key = key.real if time == "continuous" else key.abs()
    return first.gather(-1, torch.sort(key, dim=-1, descending=True, stable=True).indices)


def sort_eigenvalues(lam: Tensor, time: str = "continuous") -> Tensor:
    """Sort along the last dimension: by decreasing real part (continuous) or modulus (discrete),
    ties by decreasing imaginary part."""
    _check("lam", lam, time)
    return lam.gather(-1, eigen_order(lam, time))


def boundary_tol(eigenvalues: Tensor, time: str = "continuous") -> Tensor:
    """Default distance from the stability boundary that counts as on it, per point (…, 1):
    ``sqrt(eps)·max|λ|`` (continuous) or ``sqrt(eps)·max(1, max|μ|)`` (discrete)."""
    _check("eigenvalues", eigenvalues, time)
    lam = _complex(eigenvalues)
    eps = torch.finfo(lam.real.dtype).eps
    size = lam.abs().nan_to_num(0.0).amax(-1, keepdim=True)
    size = size.clamp_min(eps) if time == "continuous" else size.clamp_min(1.0)
    return math.sqrt(eps) * size


def classify(eigenvalues: Tensor, tol: float | None = None, *, time: str = "continuous") -> tuple[Tensor, list[str]]:
    r"""Stability and kind of fixed points from their eigenvalues.

    Parameters
    ----------
    eigenvalues : Tensor, shape (P, N)
        Of ∂f/∂v (``time="continuous"``) or of ∂F/∂v (``time="discrete"``), complex or real.
    tol : float, optional
        Distance from the stability boundary (|Re λ|, or ||μ| − 1|) that counts as 0, and |Im|
        that counts as real; default ``sqrt(eps)·max|λ|`` per point (continuous) or
        ``sqrt(eps)·max(1, max|μ|)`` (discrete).
    time : {"continuous", "discrete"}

    Returns
    -------
    stable : Tensor (P,) bool
        Every eigenvalue inside the stable region by more than ``tol``.
    kind : list of str
        ``stable``/``unstable`` ``node``/``spiral`` (spiral: a complex pair), ``saddle`` (both
        sides), ``marginal`` (some eigenvalue on the boundary; for a map, one at μ = 1), and for a
        map ``flip`` (μ = −1) and ``Neimark–Sacker`` (a complex pair with |μ| = 1);
        ``undetermined`` where an eigenvalue is NaN.

    Examples
    --------
    >>> classify(torch.tensor([[-1.5 + 0j]]), time="discrete")   # h ← tanh(−1.5 h): period 2
    (tensor([False]), ['unstable node'])
    >>> classify(torch.tensor([[-1.5 + 0j]]), time="continuous")
    (tensor([True]), ['stable node'])
    """
    if time not in ("continuous", "discrete"):
        raise ValueError(f"time must be 'continuous' or 'discrete', got {time!r}")
    if not isinstance(eigenvalues, Tensor) or eigenvalues.dtype == torch.bool:
        raise TypeError(
            f"eigenvalues must be a tensor of numbers (real or complex) of shape (P, N), got "
            f"{_validate._show(eigenvalues)}"
        )
    if eigenvalues.ndim != 2:
        raise ValueError(
            f"eigenvalues must have shape (P, N) (N eigenvalues of each of P points), got "
            f"{tuple(eigenvalues.shape)}; for one point pass eigenvalues[None]"
        )
    if tol is not None:
        tol = _validate.check_nonnegative("tol", tol, fix="a distance from the stability boundary, or None")
    lam = _complex(eigenvalues)
    re, im = lam.real, lam.imag
    tol_t = boundary_tol(lam, time) if tol is None else torch.full_like(re[..., :1], tol)
    d = distance_to_marginal(lam, time)
    pos, neg = d > tol_t, d < -tol_t
    on = ~(pos | neg)
    cplx = im.abs() > tol_t
    nan = torch.isnan(re).any(-1) | torch.isnan(im).any(-1)
    flip = (on & ~cplx & (re < 0)).any(-1)
    ns = (on & cplx).any(-1)
    kind = []
    rows = zip(
        nan.tolist(),
        on.any(-1).tolist(),
        flip.tolist(),
        ns.tolist(),
        pos.any(-1).tolist(),
        neg.any(-1).tolist(),
        cplx.any(-1).tolist(),
    )
    for is_nan, m, fl, n_s, p, n, s in rows:
        if is_nan:
            kind.append("undetermined")
        elif m:
            kind.append(
                "Neimark–Sacker" if time == "discrete" and n_s else "flip" if time == "discrete" and fl else "marginal"
            )
        elif p and n:
            kind.append("saddle")
        else:
            kind.append(f"{'unstable' if p else 'stable'} {'spiral' if s else 'node'}")
    return neg.all(-1) & ~nan, kind
