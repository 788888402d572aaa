r"""Structure on a :class:`~torchrate.training.TaskModule`'s weights, as parametrizations.

* ``readout="excitatory"`` — Dale's law for the readout of an :class:`~torchrate.EIRateRNN`:
  the outputs read the excitatory units only, with weights ≥ 0 (``W_out = |R| · mask_E``,
  :class:`~torchrate.parametrizations.DaleSign` and :class:`~torchrate.parametrizations.Mask`);
* ``masks={"network.weight_ih_l0": m_in, "readout.weight": m_out, …}`` — connectivity masks on
  any weight: entries where the mask is False are exactly 0 after any optimiser step
  (:class:`~torchrate.parametrizations.Mask`, composed after the network's own constraints);
* ``fixed={"network.weight_ih_l0": True, "readout.weight": m, …}`` — weights (``True``) or
  entries (a bool mask) that keep their initial value: their gradient is 0
  (:class:`~torchrate.parametrizations.Frozen`).

A key names a weight as ``module.named_parameters()`` shows it before any constraint:
``network.weight_ih_l0`` (W, (N, I)), ``network.weight_hh_l0`` (M, (N, N)), ``network.bias_l0``
(b), ``readout.weight`` (W_out, (O, N)), ``readout.bias`` (b_out); for a ``torch.nn`` RNN, GRU or
LSTM its own parameters: ``network.weight_ih_l0`` ((G·N, I), G = 1, 3, 4 gates stacked),
``network.weight_hh_l0`` ((G·N, N)), ``network.bias_ih_l0``, ``network.bias_hh_l0``. A mask is a
bool tensor (or a nested list of bools, as YAML writes it) of the weight's shape, or
broadcastable to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

if TYPE_CHECKING:
    from .module import TaskModule

from .. import _validate
from ..parametrizations import DaleSign, Frozen, Mask

__all__ = ["READOUTS", "constrain"]

READOUTS = ("all", "excitatory")
_NAMES = ("network.weight_ih_l0", "network.weight_hh_l0", "network.bias_l0", "readout.weight", "readout.bias")


def constrain(module: TaskModule, readout: str, masks: object, fixed: object) -> None:
    """Apply ``readout``, then ``masks``, then ``fixed`` to ``module`` (a TaskModule, built)."""
    if not (isinstance(getattr(module, "network", None), nn.Module) and hasattr(module, "readout")):
        raise TypeError(
            f"module must be a built TaskModule (with .network and .readout), got {_validate._show(module)}"
        )
    _validate.check_choice("readout", readout, READOUTS, fix="'excitatory' reads E units only, with weights ≥ 0")
    masks, fixed = _entries("masks", masks, module), _entries("fixed", fixed, module)
    if (readout != "all" or masks or fixed) and module.is_ensemble:
        raise ValueError(
            "readout='excitatory', masks and fixed apply to one network, not to an ensemble; "
            "train the members one at a time (network_seed s, s + 1, …)"
        )
    if readout == "excitatory":
        sign = getattr(module.network, "sign", None)
        if not isinstance(sign, Tensor):
            raise ValueError(
                f"readout='excitatory' needs an EIRateRNN (excitatory and inhibitory units), got a "
                f"{type(module.network).__name__}; use readout='all'"
            )
        # |R| on every column (a sign of +1), then the inhibitory columns masked to exact (+)0
        ones = torch.ones_like(sign, dtype=module.readout.weight.dtype)
        _add(module.readout, "weight", (sign > 0)[None, :], "readout.weight", sign=ones)
    for name, mask in masks.items():
        owner, attr = _owner(module, name)
        _add(owner, attr, mask, name)
    for name, mask in fixed.items():
        owner, attr = _owner(module, name)
        checks = list(getattr(owner.parametrizations, attr)) if parametrize.is_parametrized(owner, attr) else []
        parametrize.register_parametrization(owner, attr, Frozen(mask, getattr(owner, attr), checks=checks))


def _names(module: TaskModule) -> tuple[str, ...]:
    """The weights ``masks`` and ``fixed`` may name: a torch.nn network's own parameters, or a torchrate one's."""
    if module.is_torch_rnn:
        return tuple(f"network.{n}" for n, _ in module.network.named_parameters()) + _NAMES[-2:]
    return _NAMES


def _owner(module: TaskModule, name: str) -> tuple[nn.Module, str]:
    owner, _, attr = name.rpartition(".")
    return module.get_submodule(owner), attr


def _entries(option: str, value: object, module: TaskModule) -> dict[str, Tensor]:
    """``{name: bool mask broadcastable to the weight}`` from the option's dict (True: every entry)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(
            f"{option} must be a dict {{weight name: bool mask or True}} or None, got "
            f"{_validate._show(value)}; e.g. {{'network.weight_ih_l0': True}}"
        )
    out = {}
    names = _names(module)
    for name, mask in value.items():
        if name not in names:
            raise ValueError(
                f"{option} names {name!r}, which is not a weight of this module (network "
                f"{type(module.network).__name__}); expected one of {list(names)}"
            )
        owner, attr = _owner(module, name)
        weight = getattr(owner, attr, None)
        if weight is None:
            raise ValueError(f"{option}[{name!r}]: this network has no {attr} (bias=False or W = identity)")
        if isinstance(mask, bool):
            mask = torch.tensor(mask)
        elif isinstance(mask, (list, tuple)):
            try:
                mask = torch.tensor(mask)
            except (TypeError, ValueError, RuntimeError):
                mask = None
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
            raise TypeError(
                f"{option}[{name!r}] must be True, or a bool tensor (or nested list of bools) of shape "
                f"{tuple(weight.shape)}, got {_validate._show(value[name])}"
            )
        try:
            ok = torch.broadcast_shapes(mask.shape, weight.shape) == weight.shape
        except RuntimeError:
            ok = False
        if not ok:
            raise ValueError(
                f"{option}[{name!r}] must have the shape of {name} {tuple(weight.shape)} (or broadcast "
                f"to it), got {tuple(mask.shape)}"
            )
        if option == "masks" and not bool(mask.any()):
            raise ValueError(f"masks[{name!r}] is all False: every entry of {name} would be 0")
        out[name] = mask.to(weight.device)
    return out


def _add(owner: nn.Module, attr: str, mask: Tensor, name: str, sign: Tensor | None = None) -> None:
    """Register (DaleSign(sign), then) Mask(mask) on ``owner.attr``, first setting an
    unconstrained weight's masked entries to 0 (and its signs), which the constraints check."""
    weight = getattr(owner, attr)
    if not parametrize.is_parametrized(owner, attr):
        with torch.no_grad():
            value = weight.abs() * sign if sign is not None else weight
            weight.copy_(value * mask)
    if sign is not None:
        parametrize.register_parametrization(owner, attr, DaleSign(sign))
    parametrize.register_parametrization(owner, attr, Mask(mask.expand(weight.shape), name))
