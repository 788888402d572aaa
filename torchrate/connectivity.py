r"""Connectivity masks for ``RateRNN(..., connectivity=mask)`` and ``EIRateRNN(..., connectivity=mask)``.

A mask is a bool tensor (N, N) with ``mask[i, j]`` True where neuron ``j`` may project to
neuron ``i`` (the convention of ``M[i, j]``). Masked-out entries of ``M`` are exactly 0 before
and after any optimiser step (:class:`~torchrate.parametrizations.Mask`, composed with Dale's
sign in :class:`~torchrate.EIRateRNN`).

* :func:`random_mask` — each connection present with probability ``density``, from a
  ``torch.Generator`` (no global RNG);
* :func:`no_autapses` — all connections but the self-connections;
* :func:`multi_area` — areas with dense (or sparse) local connectivity and the allowed
  area-to-area projections, optionally from excitatory neurons only (long-range projections
  in cortex are excitatory); neurons ordered as :class:`~torchrate.EIRateRNN` wants them
  (every area's E neurons first, then every area's I neurons).

Examples
--------
>>> import torch, torchrate as tr
>>> areas = multi_area(n_exc=[40, 40], n_inh=[10, 10], projections=[(0, 1)], long_range="exc")
>>> net = tr.EIRateRNN(2, 80, 20, connectivity=areas.mask)
>>> bool((net.M[areas.area == 0][:, areas.area == 1] == 0).all())   # nothing from area 1 to area 0
True
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from . import _validate

__all__ = ["random_mask", "no_autapses", "multi_area", "Areas"]


def _count(name: str, value: object) -> int:
    return _validate.as_int(name, value, minimum=0)


def _density(density: object, name: str = "density") -> float:
    return _validate.check_probability(name, density)


def _counts(name: str, values: object) -> list[int]:
    """A sequence of neuron counts per area, each an int ≥ 0."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable) or getattr(values, "ndim", 1) != 1:
        raise TypeError(
            f"{name} must be a sequence of neuron counts per area (ints ≥ 0), "
            f"got {_validate._show(values)}; e.g. {name}=[40, 40] for two areas"
        )
    return [_count(f"{name}[{a}]", n) for a, n in enumerate(values)]


def no_autapses(N: int, *, device: torch.device | str | None = None) -> Tensor:
    """All connections except ``i → i``: bool (N, N), False on the diagonal."""
    N, device = _count("N", N), _validate.check_device("device", device)
    return ~torch.eye(N, dtype=torch.bool, device=device)


def random_mask(
    N: int,
    density: float,
    *,
    generator: torch.Generator | None = None,
    autapses: bool = False,
    device: torch.device | str | None = None,
) -> Tensor:
    r"""A random mask (N, N): each connection independently present with probability ``density``.

    Drawn on the CPU from ``generator`` (the global RNG without one), then moved: one seed, the
    same mask on every device. Self-connections are excluded unless ``autapses``.

    Examples
    --------
    >>> mask = random_mask(100, 0.1, generator=torch.Generator().manual_seed(0))
    >>> mask.shape, bool(mask.diagonal().any())
    (torch.Size([100, 100]), False)
    """
    N, density = _count("N", N), _density(density)
    generator = _validate.check_generator("generator", generator)
    autapses = _validate.check_flag("autapses", autapses)
    device = _validate.check_device("device", device)
    draw = torch.rand(
        N, N, generator=generator, dtype=torch.float64, device=generator.device if generator is not None else "cpu"
    )
    mask = draw < density
    if not autapses:
        mask &= no_autapses(N, device=mask.device)
    return mask.to(device) if device is not None else mask.cpu()


class Areas(NamedTuple):
    """A multi-area layout (:func:`multi_area`).

    Attributes
    ----------
    mask : bool Tensor (N, N)
    area : long Tensor (N,)
        Area of each neuron.
    excitatory : bool Tensor (N,)
        True for E neurons (the first ``n_exc`` neurons).
    n_exc, n_inh : int
        Totals, for ``EIRateRNN(input_size, n_exc, n_inh, connectivity=mask)``.
    """

    mask: Tensor
    area: Tensor
    excitatory: Tensor
    n_exc: int
    n_inh: int


def multi_area(
    n_exc: Sequence[int],
    n_inh: Sequence[int] | None = None,
    *,
    projections: Sequence[tuple[int, int]] | Tensor = (),
    long_range: str = "exc",
    local_density: float = 1.0,
    long_range_density: float = 1.0,
    autapses: bool = False,
    generator: torch.Generator | None = None,
) -> Areas:
    r"""A block mask of A areas with local connectivity and the allowed area-to-area projections.

    Neurons are ordered E of area 0, E of area 1, …, then I of area 0, I of area 1, … (so the
    first ``sum(n_exc)`` are excitatory, as :class:`~torchrate.EIRateRNN` numbers them).

    Parameters
    ----------
    n_exc : sequence of int
        Excitatory neurons per area (for a network without E/I, the neurons per area).
    n_inh : sequence of int, optional
        Inhibitory neurons per area (default none).
    projections : sequence of (source, target), or bool Tensor (A, A)
        Allowed projections between different areas; as a tensor ``P[target, source]`` (the
        convention of ``M``). Within-area connections are always allowed.
    long_range : "exc" or "all"
        Which neurons of the source area project to another area: excitatory only (cortical
        long-range projections) or all.
    local_density, long_range_density : float
        Probability of each allowed connection within an area and between areas (1: dense).
    autapses : bool
        Allow self-connections.
    generator : torch.Generator, optional
        For densities below 1.

    Returns
    -------
    Areas
        ``mask`` (N, N), ``area`` (N,), ``excitatory`` (N,), ``n_exc``, ``n_inh``.
    """
    n_exc = _counts("n_exc", n_exc)
    A = len(n_exc)
    if A == 0:
        raise ValueError("n_exc must name at least one area, got an empty sequence")
    n_inh = [0] * A if n_inh is None else _counts("n_inh", n_inh)
    if len(n_inh) != A:
        raise ValueError(f"n_inh must have one entry per area ({A}), got {len(n_inh)}")
    if not isinstance(long_range, str) or long_range not in ("exc", "all"):
        raise ValueError(f"long_range must be 'exc' (excitatory projections only) or 'all', got {long_range!r}")
    local_density = _density(local_density, "local_density")
    long_range_density = _density(long_range_density, "long_range_density")
    autapses = _validate.check_flag("autapses", autapses)
    generator = _validate.check_generator("generator", generator)
    P = torch.zeros(A, A, dtype=torch.bool)  # P[target, source]
    if isinstance(projections, Tensor):
        if projections.dtype != torch.bool:
            raise TypeError(
                f"projections as a tensor must be bool (P[target, source]), got {projections.dtype}; "
                "or pass a list of (source, target) pairs"
            )
        if tuple(projections.shape) != (A, A):
            raise ValueError(
                f"projections as a tensor must be bool of shape ({A}, {A}) (P[target, source]), got "
                f"{projections.dtype} {tuple(projections.shape)}"
            )
        P |= projections.cpu()
    else:
        if isinstance(projections, (str, bytes)) or not isinstance(projections, Iterable):
            raise TypeError(
                f"projections must be a sequence of (source, target) pairs or a bool tensor ({A}, {A}), "
                f"got {_validate._show(projections)}"
            )
        for pair in projections:
            if (
                not isinstance(pair, (tuple, list))
                or len(pair) != 2
                or not all(isinstance(x, numbers.Integral) and not isinstance(x, bool) for x in pair)
            ):
                raise TypeError(
                    f"each of projections must be a pair (source, target) of area indices in [0, {A}), "
                    f"got {_validate._show(pair)}"
                )
            if not all(0 <= x < A for x in pair):
                raise ValueError(
                    f"each of projections must be a pair (source, target) of area indices in [0, {A}), got {pair!r}"
                )
            P[pair[1], pair[0]] = True
    area = torch.cat(
        [torch.full((n,), a) for a, n in enumerate(n_exc)] + [torch.full((n,), a) for a, n in enumerate(n_inh)]
    ).long()
    excitatory = torch.arange(len(area)) < sum(n_exc)
    same = area[:, None] == area[None, :]
    allowed_source = excitatory[None, :] if long_range == "exc" else torch.ones_like(excitatory)[None, :]
    between = P[area[:, None], area[None, :]] & ~same & allowed_source
    N = len(area)
    draw = torch.rand(
        N, N, generator=generator, dtype=torch.float64, device=generator.device if generator is not None else "cpu"
    ).cpu()
    mask = (same & (draw < local_density)) | (between & (draw < long_range_density))
    if local_density == 1.0:
        mask |= same
    if long_range_density == 1.0:
        mask |= between
    if not autapses:
        mask &= no_autapses(N)
    return Areas(mask, area, excitatory, sum(n_exc), sum(n_inh))
