r"""A trained network's weights as a NumPy ``.npz`` file, for use without torch.

:func:`export_weights` writes the *effective* weights — what the network computes with, after
its constraints (Dale's law, connectivity masks, fixed entries, low rank) — with the masks and
the time constants, so that one Euler step in NumPy is

.. code-block:: python

    z = np.load("weights.npz")
    F = {"tanh": np.tanh, "relu": lambda x: np.maximum(x, 0)}[str(z["nonlinearity"])]
    v = v + z["dt"] / z["tau"] * (-v + F(u @ z["W_in"].T + v @ z["W_rec"].T + z["b"]))
    y = v @ z["W_out"].T + z["b_out"]

(``v`` (B, N) rates, ``u`` (B, I) inputs, time in ms). PsychRNN writes its state ``x`` with
F outside, ``τ ẋ = −x + W_rec F(x) + W_in u + b``; at a fixed input the two have the same fixed
points through ``x = W_in u + W_rec v + b`` and ``v = F(x)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from .. import _validate
from ..networks import RateRNN
from ..parametrizations import Frozen, Mask

if TYPE_CHECKING:
    import numpy as np

__all__ = ["export_weights", "EQUATION"]

EQUATION = "tau dv/dt = -v + F(W_in u + W_rec v + b); y = W_out v + b_out; time in ms"


def export_weights(source: object, path: str | os.PathLike[str]) -> Path:
    """Write the effective weights of ``source`` to the ``.npz`` file ``path``; return its path.

    Parameters
    ----------
    source : TaskModule, RateRNN or path
        A trained :class:`~torchrate.training.TaskModule`, a network alone (no readout), or a
        checkpoint of ``torchrate fit`` (loaded with :func:`~torchrate.training.load_checkpoint`:
        verified, ``weights_only=True``, class paths allowed first).
    path : str or PathLike
        The file to write; ``.npz`` is appended if it has another suffix.

    Raises
    ------
    TypeError
        ``source`` is none of the above, or ``path`` is not a path.
    ValueError
        A stacked (``num_layers > 1``) or bidirectional network, an ensemble (export its
        members one by one), or a TaskModule of a ``torch.nn`` RNN/GRU/LSTM (not a rate network).

    Notes
    -----
    The file holds (N units, I inputs, O outputs; arrays in the network's dtype):

    * ``W_in`` (N, I): input weights (the identity for ``W = None``);
    * ``W_rec`` (N, N): recurrent weights M, ``W_rec[i, j]`` from unit j to unit i;
    * ``b`` (N,): bias (zeros without one);
    * ``tau`` (N,), ``dt`` (): time constants and step (ms);
    * ``nonlinearity``, ``solver``: F's name (``"tanh"``, ``"relu"``, …) and the solver;
    * ``noise_std`` (): σ of the private noise (per step ``σ·√(2·dt/τ)``);
    * ``W_out`` (O, N), ``b_out`` (O,): the readout (a TaskModule only);
    * ``input_mask`` (N, I), ``rec_mask`` (N, N), ``b_mask`` (N,), ``output_mask`` (O, N),
      ``b_out_mask`` (O,): the entries allowed to be non-zero (True where no mask; ``b_mask`` all
      False for a network without a bias);
    * ``dale_sign`` (N,): +1 excitatory, −1 inhibitory, 0 without Dale's law;
    * ``W_in_fixed``, ``W_rec_fixed``, ``b_fixed``, ``W_out_fixed``, ``b_out_fixed``: entries that
      did not train (``fixed=``);
    * ``equation``: :data:`EQUATION`.
    """
    import numpy as np

    from .module import TaskModule, _class_path

    path = _validate.check_path("path", path, fix="the .npz file to write, e.g. 'weights.npz'")
    if isinstance(source, (str, os.PathLike)):
        from .report import load_checkpoint

        source, _ = load_checkpoint(source)
    if isinstance(source, TaskModule):
        if source.is_ensemble:
            raise ValueError(
                "export_weights takes one network, got an ensemble of "
                f"{len(source.network)}; export each member (module.network[k] with its readout)"
            )
        if source.is_torch_rnn:
            raise ValueError(
                f"export_weights writes a torchrate rate network (tau dv/dt = -v + F(W_in u + W_rec v + b)); this "
                f"TaskModule's network is a {_class_path(source.network)}, "
                "whose weights are its state_dict: save module.state_dict() (or use the checkpoint) instead"
            )
        net, readout = source.network, source.readout
    elif isinstance(source, RateRNN):
        net, readout = source, None
    else:
        raise TypeError(
            f"source must be a TaskModule, a torchrate network or a checkpoint path, got {_validate._show(source)}"
        )
    if net.num_layers != 1 or net.bidirectional:
        raise ValueError(
            f"export_weights writes one layer in one direction; this network has num_layers = "
            f"{net.num_layers}{' and is bidirectional' if net.bidirectional else ''}: export "
            "net.layer(k) for each layer"
        )
    N, I = net.hidden_size, net.input_size
    with torch.no_grad():
        W_in = net.W
        arrays = {
            "W_in": W_in,
            "W_rec": net.M,
            "b": net.b if net.b is not None else torch.zeros_like(net.M[0]),
            "tau": net.tau.expand(N),
            "dt": torch.tensor(net.dt),
            "noise_std": torch.tensor(net.noise_std),
            "input_mask": _mask(net, "weight_ih_l0", (N, I)),
            "rec_mask": _mask(net, "weight_hh_l0", (N, N)),
            "b_mask": _mask(net, "bias_l0", (N,)) if net.b is not None else torch.zeros(N, dtype=torch.bool),
            "dale_sign": getattr(net, "sign", torch.zeros(N)).to(torch.int8),
            "W_in_fixed": _fixed(net, "weight_ih_l0", (N, I)),
            "W_rec_fixed": _fixed(net, "weight_hh_l0", (N, N)),
            "b_fixed": _fixed(net, "bias_l0", (N,)),
        }
        if readout is not None:
            O = readout.weight.shape[0]
            arrays |= {
                "W_out": readout.weight,
                "b_out": readout.bias,
                "output_mask": _mask(readout, "weight", (O, N)),
                "b_out_mask": _mask(readout, "bias", (O,)),
                "W_out_fixed": _fixed(readout, "weight", (O, N)),
                "b_out_fixed": _fixed(readout, "bias", (O,)),
            }
        out: dict[str, Any] = {k: _numpy(v) for k, v in arrays.items()}
    out |= {"nonlinearity": np.array(net.F.name), "solver": np.array(net.solver), "equation": np.array(EQUATION)}
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **out)
    return path


def _numpy(t: Tensor) -> np.ndarray[Any, Any]:
    t = t.detach().cpu()
    if t.is_floating_point() and t.dtype not in (torch.float16, torch.float32, torch.float64):
        t = t.float()  # bfloat16 has no NumPy dtype
    return t.clone().numpy()


def _constraints(owner: nn.Module, name: str) -> list[nn.Module]:
    return list(getattr(owner.parametrizations, name)) if parametrize.is_parametrized(owner, name) else []


def _mask(owner: nn.Module, name: str, shape: tuple[int, ...]) -> Tensor:
    """Where ``owner.name`` may be non-zero: the product of its Mask constraints (all True: none)."""
    mask = torch.ones(shape, dtype=torch.bool)
    for p in _constraints(owner, name):
        if isinstance(p, Mask):
            mask = mask & p.mask.cpu()
    return mask


def _fixed(owner: nn.Module, name: str, shape: tuple[int, ...]) -> Tensor:
    """Which entries of ``owner.name`` are fixed (Frozen constraints; all False: none)."""
    fixed = torch.zeros(shape, dtype=torch.bool)
    for p in _constraints(owner, name):
        if isinstance(p, Frozen):
            fixed = fixed | p.fixed.cpu()
    return fixed
