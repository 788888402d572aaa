r"""Constraints as small ``nn.Module`` parametrizations (``torch.nn.utils.parametrize``).

Each maps an unconstrained tensor (what the optimiser steps) to a valid one, and back with
``right_inverse`` (what ``module.weight = value`` and ``from_weights`` go through, checking
the value first). They compose: ``register_parametrization`` stacks them in order.

==================  ==================================  ==========================================
class               forward (raw → constrained)         right_inverse (constrained → raw)
==================  ==================================  ==========================================
:class:`Positive`   ``exp(raw)`` (τ > 0)                ``log(τ)``, refusing τ ≤ 0, NaN or ∞
:class:`DaleSign`   ``|R| · s`` (column j has sign s_j)  ``|M|``, refusing an entry of wrong sign
:class:`Mask`       ``R · mask`` (exact zeros)           ``M``, refusing non-zero masked entries
:class:`PerGroup`   ``raw[group]`` (one value a group)   one value a group, refusing mixed groups
:class:`Frozen`     ``where(fixed, value, raw)``        the weight (``value`` takes its fixed entries)
==================  ==================================  ==========================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ._validate import _show

__all__ = ["Positive", "DaleSign", "Mask", "PerGroup", "Frozen", "check_positive"]


def _name(option: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{option} must be a str (named in errors), got {_show(value)}")
    return value


def _bool_tensor(option: str, value: object, what: str) -> Tensor:
    if not isinstance(value, Tensor) or value.dtype != torch.bool:
        raise TypeError(f"{option} must be a bool Tensor ({what}), got {_show(value)}")
    return value


def _first_bad(bad: Tensor) -> tuple[int, ...]:
    return tuple(int(k) for k in bad.nonzero()[0])


def _check_fixed_buffer(
    module: nn.Module, name: str, state_dict: dict[str, Any], prefix: str, describe: Callable[[Tensor], str]
) -> None:
    """Refuse to load a structural buffer (Dale's signs, the τ groups) that differs from the module's
    own: it is fixed at construction, and loading another would silently change the network's kind.
    ``describe(t)`` says what a buffer value means ("3 excitatory + 1 inhibitory")."""
    key = prefix + name
    own = getattr(module, name)
    incoming = state_dict.get(key)
    if not isinstance(incoming, Tensor) or incoming.shape != own.shape:
        return  # missing or of another shape: load_state_dict reports it (missing key, size mismatch)
    if not torch.equal(incoming.to(device=own.device, dtype=own.dtype), own):
        j = _first_bad(incoming.to(device=own.device, dtype=own.dtype) != own)[0]
        raise ValueError(
            f"state_dict[{key!r}] must equal this network's {name} (fixed at construction), got "
            f"{describe(incoming)} where this network has {describe(own)} (first difference: "
            f"neuron {j}); build the network with the state's populations (e.g. EIRateRNN(input_size, "
            f"n_exc, n_inh) with its n_exc and n_inh) to load it"
        )


class Positive(nn.Module):
    """τ = exp(raw): a time constant that stays positive under any optimiser step.

    Parameters
    ----------
    name : str
        Named in errors (``"tau"``).
    """

    def __init__(self, name: str = "tau") -> None:
        super().__init__()
        self.name = _name("name", name)

    def forward(self, raw: Tensor) -> Tensor:
        return raw.exp()

    def right_inverse(self, value: Tensor) -> Tensor:
        """The stored ``log value`` of a positive, finite ``value`` (ValueError naming the first bad entry)."""
        return check_positive(self.name, value).log()


def check_positive(name: str, value: Tensor) -> Tensor:
    """``value`` if every entry is positive and finite, else a ValueError naming the first bad entry."""
    _name("name", name)
    if not isinstance(value, Tensor) or not value.is_floating_point():
        raise TypeError(f"value must be a floating-point Tensor (the {name} to check), got {_show(value)}")
    bad = ~(torch.isfinite(value) & (value > 0))
    if bad.any():
        index = _first_bad(bad) if value.ndim else ()
        raise ValueError(
            f"{name} must be positive and finite (ms), got {name}"
            f"{list(index) if index else ''} = {value[index].item():g}"
        )
    return value


class DaleSign(nn.Module):
    """Dale's law, ``M = |R| · s``: column ``j`` (neuron ``j``'s outgoing weights) has sign ``s_j``.

    Parameters
    ----------
    sign : Tensor, shape (N,)
        +1 for excitatory, −1 for inhibitory neurons.
    """

    sign: Tensor

    def __init__(self, sign: Tensor) -> None:
        super().__init__()
        if not isinstance(sign, Tensor) or not sign.is_floating_point():
            raise TypeError(
                f"sign must be a floating-point Tensor of +1 and -1 (the weight's dtype), got {_show(sign)}"
            )
        if sign.ndim != 1 or not sign.numel():
            raise ValueError(f"sign must have shape (N,) with N ≥ 1 (one sign per neuron), got {tuple(sign.shape)}")
        if not bool(((sign == 1) | (sign == -1)).all()):
            j = _first_bad((sign != 1) & (sign != -1))[0]
            raise ValueError(
                f"sign must hold only +1 (excitatory) and -1 (inhibitory), got sign[{j}] = {sign[j].item():g}"
            )
        self.register_buffer("sign", sign.clone())

    def forward(self, raw: Tensor) -> Tensor:
        return raw.abs() * self.sign

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        def describe(sign: Tensor) -> str:
            return (
                f"{int((sign > 0).sum())} excitatory + {int((sign < 0).sum())} inhibitory neurons "
                f"{[int(x) for x in sign.tolist()] if sign.numel() <= 8 else ''}".rstrip()
            )

        _check_fixed_buffer(self, "sign", state_dict, prefix, describe)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def right_inverse(self, M: Tensor) -> Tensor:
        """The stored ``|M|`` of an ``M`` that keeps Dale's law (ValueError naming the first entry that breaks it)."""
        bad = ~torch.isfinite(M) | (M * self.sign < 0)
        if bad.any():
            i, j = _first_bad(bad)
            kind = "excitatory" if self.sign[j] > 0 else "inhibitory"
            rule = "≥ 0" if self.sign[j] > 0 else "≤ 0"
            raise ValueError(
                f"M breaks Dale's law: M[{i}, {j}] = {M[i, j].item():g}, but neuron {j} is {kind}, "
                f"so column {j} (its outgoing weights) must be finite and {rule}"
            )
        return M.abs()


class Mask(nn.Module):
    """Fixed zeros, ``M = R · mask``: masked-out entries are exactly 0 after any optimiser step.

    Parameters
    ----------
    mask : bool Tensor, same shape as the weight
    name : str
        Named in errors (``"M"``, ``"W"``).
    """

    mask: Tensor

    def __init__(self, mask: Tensor, name: str = "M") -> None:
        super().__init__()
        self.name = _name("name", name)
        _bool_tensor("mask", mask, "True where the weight may be non-zero")
        self.register_buffer("mask", mask.clone())  # its own memory: loadable, and not the caller's tensor

    def forward(self, raw: Tensor) -> Tensor:
        return raw * self.mask

    def right_inverse(self, value: Tensor) -> Tensor:
        """``value`` itself, if it is 0 wherever the mask is False (ValueError naming the first entry that is not)."""
        bad = (value != 0) & ~self.mask
        if bad.any():
            index = _first_bad(bad)
            raise ValueError(
                f"{self.name}{list(index)} = {value[index].item():g} is outside the connectivity "
                f"mask, where {self.name} must be exactly 0"
            )
        return value


class PerGroup(nn.Module):
    """One value per group broadcast to its members, ``τ_i = raw[group_i]`` (τ_E, τ_I).

    Parameters
    ----------
    group : LongTensor, shape (N,)
        Group index of each neuron (0 = E, 1 = I).
    names : tuple of str
        The group values' names, for errors (``("tau_e", "tau_i")``).
    """

    group: Tensor

    def __init__(self, group: Tensor, names: tuple[str, ...]) -> None:
        super().__init__()
        if not isinstance(names, tuple) or not names or not all(isinstance(n, str) for n in names):
            raise TypeError(f"names must be a non-empty tuple of str (one name a group), got {_show(names)}")
        if not isinstance(group, Tensor) or group.dtype != torch.long:
            raise TypeError(f"group must be a LongTensor (the group index of each neuron), got {_show(group)}")
        if group.ndim != 1 or not bool(((group >= 0) & (group < len(names))).all()):
            raise ValueError(
                f"group must have shape (N,) with entries in 0 … {len(names) - 1} (one per name in names), got "
                f"shape {tuple(group.shape)}, entries {sorted(set(group.flatten().tolist()))}"
            )
        self.register_buffer("group", group.clone())
        self.names = names

    def forward(self, raw: Tensor) -> Tensor:
        return raw[self.group]

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        def describe(group: Tensor) -> str:
            return "groups " + ", ".join(f"{int((group == g).sum())} × {n}" for g, n in enumerate(self.names))

        _check_fixed_buffer(self, "group", state_dict, prefix, describe)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def right_inverse(self, value: Tensor) -> Tensor:
        """One stored value per group from a per-neuron ``value`` (ValueError if a group has two values)."""
        value = value.expand(self.group.shape)
        raw = value.new_zeros(len(self.names)).index_copy(0, self.group, value)  # one member's value a group
        if not torch.equal(raw[self.group], value):
            i = _first_bad(raw[self.group] != value)[0]
            raise ValueError(
                f"{self.names[int(self.group[i])]} is one value for its whole population; "
                f"neuron {i} has {value[i].item():g}, another member {raw[self.group[i]].item():g}"
            )
        return raw


class Frozen(nn.Module):
    """Fixed entries, ``W = where(fixed, value, R)``: entries where ``fixed`` is True keep ``value``
    (their value when the constraint was added) under any optimiser step; the others train.

    Their gradient is exactly 0, so no optimiser (weight decay included) moves them. Assigning
    the weight (``module.weight = W``) sets ``value`` to ``W``'s fixed entries, once ``W`` has
    passed the checks of ``checks``.

    Parameters
    ----------
    fixed : bool Tensor, broadcastable to the weight
    value : Tensor, the weight's shape
    checks : sequence of nn.Module, optional
        The parametrizations registered on the weight before this one (torch runs an assignment
        through the last one first): their ``right_inverse`` checks an assigned weight before the
        fixed values change, so that a weight they refuse (breaking Dale's law, outside a mask)
        leaves ``value`` as it was.
    """

    fixed: Tensor
    value: Tensor

    def __init__(self, fixed: Tensor, value: Tensor, *, checks: Sequence[nn.Module] = ()) -> None:
        super().__init__()
        if not isinstance(value, Tensor) or not value.is_floating_point():
            raise TypeError(f"value must be a floating-point Tensor (the weight), got {_show(value)}")
        _bool_tensor("fixed", fixed, "True on the entries to freeze")
        try:
            fixed = fixed.expand(value.shape)
        except RuntimeError:
            raise ValueError(
                f"fixed must be broadcastable to the weight's shape {tuple(value.shape)}, got {tuple(fixed.shape)}"
            ) from None
        if isinstance(checks, (nn.Module, str, bytes)) or not all(
            isinstance(c, nn.Module) and callable(getattr(c, "right_inverse", None)) for c in checks
        ):
            raise TypeError(
                "checks must be a sequence of parametrizations with a right_inverse (those registered on the "
                f"weight before this one), got {_show(checks)}"
            )
        self.register_buffer("fixed", fixed.clone())
        self.register_buffer("value", value.detach().clone())
        # a plain list, not submodules: they belong to the weight's ParametrizationList (its state_dict,
        # device moves); a deepcopy of the module maps them to their copies
        self._checks: list[Any] = list(checks)  # modules with a right_inverse (checked above)

    def forward(self, raw: Tensor) -> Tensor:
        return torch.where(self.fixed, self.value, raw)

    def right_inverse(self, value: Tensor) -> Tensor:
        """``value`` itself; assigning a weight also makes it the new fixed value of the frozen entries
        (after the ``checks`` have passed it: a refused weight changes nothing)."""
        checked = value
        for p in reversed(self._checks):
            checked = p.right_inverse(checked)
        with torch.no_grad():
            self.value.copy_(value)
        return value
