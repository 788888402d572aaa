"""Bad-input cases of TaskModule's readout, masks and fixed options (PsychRNN users' features).

Each case is ``(id, call, error type, pattern)`` as in ``tests/test_bad_inputs.py``.
"""

from __future__ import annotations

import torch

import torchrate as tr
from torchrate.training import TaskModule

TASK = tr.tasks.FlipFlop(n_bits=2, dt=10.0, duration=100.0)
RNN = {"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": 4, "dt": 10.0}}
EI = {"class_path": "torchrate.EIRateRNN", "init_args": {"n_exc": 3, "n_inh": 1, "dt": 10.0}}


def module(network=RNN, **kw):
    return lambda: TaskModule(TASK, network, **kw)


CASES = [
    ("TaskModule readout='exc'", module(readout="exc"), ValueError, r"readout must be one of"),
    ("TaskModule readout=None", module(readout=None), ValueError, r"readout must be one of"),
    (
        "TaskModule readout='excitatory' for a RateRNN",
        module(readout="excitatory"),
        ValueError,
        r"readout='excitatory' needs an EIRateRNN .*got a RateRNN",
    ),
    (
        "TaskModule readout='excitatory' with an ensemble",
        module(EI, readout="excitatory", ensemble=2, network_seed=0),
        ValueError,
        r"readout='excitatory', masks and fixed apply to one network, not to an ensemble",
    ),
    (
        "TaskModule masks a list",
        module(masks=[torch.ones(4, 2, dtype=torch.bool)]),
        TypeError,
        r"masks must be a dict \{weight name: bool mask or True\} or None",
    ),
    (
        "TaskModule masks an unknown weight name",
        module(masks={"network.M": torch.ones(4, 4, dtype=torch.bool)}),
        ValueError,
        r"masks names 'network\.M', which is not a weight of this module \(network RateRNN\); expected one of",
    ),
    (
        "TaskModule masks a float mask",
        module(masks={"readout.weight": torch.ones(2, 4)}),
        TypeError,
        r"masks\['readout\.weight'\] must be True, or a bool tensor .* of shape \(2, 4\)",
    ),
    (
        "TaskModule masks of the wrong shape",
        module(masks={"readout.weight": torch.ones(4, 2, dtype=torch.bool)}),
        ValueError,
        r"masks\['readout\.weight'\] must have the shape of readout\.weight \(2, 4\)",
    ),
    (
        "TaskModule masks all False",
        module(masks={"network.weight_ih_l0": torch.zeros(4, 2, dtype=torch.bool)}),
        ValueError,
        r"masks\['network\.weight_ih_l0'\] is all False",
    ),
    (
        "TaskModule masks a ragged nested list",
        module(masks={"readout.weight": [[True], [True, False]]}),
        TypeError,
        r"masks\['readout\.weight'\] must be True, or a bool tensor",
    ),
    ("TaskModule fixed=True", module(fixed=True), TypeError, r"fixed must be a dict \{weight name"),
    (
        "TaskModule fixed a weight as 1",
        module(fixed={"network.weight_ih_l0": 1}),
        TypeError,
        r"fixed\['network\.weight_ih_l0'\] must be True, or a bool tensor",
    ),
    (
        "TaskModule fixed the bias of a network without one",
        module(
            {"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": 4, "dt": 10.0, "bias": False}},
            fixed={"network.bias_l0": True},
        ),
        ValueError,
        r"fixed\['network\.bias_l0'\]: this network has no bias_l0",
    ),
    (
        "TaskModule fixed with an ensemble",
        module(fixed={"readout.bias": True}, ensemble=2, network_seed=0),
        ValueError,
        r"not to an ensemble",
    ),
]

_NET2 = tr.RateRNN(2, 4, num_layers=2, tau=10.0, dt=10.0)


def _export(source, path="w.npz"):
    return lambda: tr.training.export_weights(source, path)


def _cli_export(*args):
    def call():
        from torchrate.cli import main

        main(["export", *args])

    return call


CASES += [
    (
        "export_weights source=3",
        _export(3),
        TypeError,
        r"source must be a TaskModule, a torchrate network or a checkpoint path, got 3",
    ),
    ("export_weights source an nn.RNN", _export(torch.nn.RNN(2, 3)), TypeError, r"source must be a TaskModule"),
    ("export_weights source a missing checkpoint", _export("/nonexistent/run.ckpt"), FileNotFoundError, r"run\.ckpt"),
    (
        "export_weights source a 2-layer network",
        _export(_NET2),
        ValueError,
        r"export_weights writes one layer in one direction; this network has num_layers = 2",
    ),
    (
        "export_weights source an ensemble module",
        lambda: tr.training.export_weights(TaskModule(TASK, RNN, ensemble=2, network_seed=0), "w.npz"),
        ValueError,
        r"export_weights takes one network, got an ensemble of 2",
    ),
    ("export_weights path=None", _export(tr.RateRNN(2, 3), None), TypeError, r"path must be a path"),
    (
        "export a missing checkpoint",
        _cli_export("/nonexistent/x.ckpt", "--out", "w.npz"),
        FileNotFoundError,
        r"x\.ckpt",
    ),
    (
        "export --allow a module that does not exist",
        _cli_export("x.ckpt", "--out", "w.npz", "--allow", "nosuchmod.T"),
        ImportError,
        r"allow\('nosuchmod\.T'\): cannot import it",
    ),
]
