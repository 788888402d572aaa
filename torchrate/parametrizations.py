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

import torch
from torch import Tensor, nn

__all__ = ["Positive", "DaleSign", "Mask", "PerGroup", "Frozen", "check_positive"]


def _first_bad(bad: Tensor) -> tuple[int, ...]:
    return tuple(int(k) for k in bad.nonzero()[0])


def _check_fixed_buffer(module: nn.Module, name: str, state_dict: dict, prefix: str, describe) -> None:
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

    def __init__(self, name: str = "tau"):
        super().__init__()
        self.name = name

    def forward(self, raw: Tensor) -> Tensor:
        return raw.exp()

    def right_inverse(self, value: Tensor) -> Tensor:
        """The stored ``log value`` of a positive, finite ``value`` (ValueError naming the first bad entry)."""
        return check_positive(self.name, value).log()


def check_positive(name: str, value: Tensor) -> Tensor:
    """``value`` if every entry is positive and finite, else a ValueError naming the first bad entry."""
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

    def __init__(self, sign: Tensor):
        super().__init__()
        self.register_buffer("sign", sign.clone())

    def forward(self, raw: Tensor) -> Tensor:
        return raw.abs() * self.sign

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        def describe(sign):
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

    def __init__(self, mask: Tensor, name: str = "M"):
        super().__init__()
        self.register_buffer("mask", mask.bool().clone())  # its own memory: loadable, and not the caller's tensor
        self.name = name

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

    def __init__(self, group: Tensor, names: tuple[str, ...]):
        super().__init__()
        self.register_buffer("group", group.clone())
        self.names = names

    def forward(self, raw: Tensor) -> Tensor:
        return raw[self.group]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        def describe(group):
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
    the weight (``module.weight = W``) sets ``value`` to ``W``'s fixed entries.

    Parameters
    ----------
    fixed : bool Tensor, broadcastable to the weight
    value : Tensor, the weight's shape
    """

    def __init__(self, fixed: Tensor, value: Tensor):
        super().__init__()
        self.register_buffer("fixed", fixed.bool().expand(value.shape).clone())
        self.register_buffer("value", value.detach().clone())

    def forward(self, raw: Tensor) -> Tensor:
        return torch.where(self.fixed, self.value, raw)

    def right_inverse(self, value: Tensor) -> Tensor:
        """``value`` itself; assigning a weight also makes it the new fixed value of the frozen entries."""
        with torch.no_grad():
            self.value.copy_(value)
        return value
