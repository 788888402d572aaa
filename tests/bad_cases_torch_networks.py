"""Bad-input cases of TaskModule with a torch.nn RNN/GRU/LSTM network: the options that need a
torchrate network, and the torch networks it cannot train (stacked, bidirectional, projected).

Each case is ``(id, call, error type, pattern)`` as in ``tests/test_bad_inputs.py``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torchrate as tr
from torchrate.training import TaskModule, export_weights

TASK = tr.tasks.FlipFlop(n_bits=2, dt=10.0, duration=100.0)


def gru(**init_args):
    return {"class_path": "torch.nn.GRU", "init_args": {"hidden_size": 4, **init_args}}


def module(network=None, **kw):
    return lambda: TaskModule(TASK, network or gru(), **kw)


def export():
    with tempfile.TemporaryDirectory() as d:
        export_weights(TaskModule(TASK, gru()), Path(d) / "w.npz")


CASES = [
    (
        "TaskModule ensemble=2 with a torch.nn.GRU network",
        module(ensemble=2),
        ValueError,
        r"ensemble=2 needs a torchrate network .*got a torch.nn.GRU; train the members one at a time",
    ),
    (
        "TaskModule readout='excitatory' with a torch.nn.GRU network",
        module(readout="excitatory"),
        ValueError,
        r"readout='excitatory' needs an EIRateRNN .*got a GRU",
    ),
    (
        "TaskModule masks naming a RateRNN weight of a torch.nn.GRU network",
        module(masks={"network.bias_l0": True}),
        ValueError,
        r"masks names 'network.bias_l0', which is not a weight of this module \(network GRU\); expected one of "
        r"\['network.weight_ih_l0', 'network.weight_hh_l0', 'network.bias_ih_l0', 'network.bias_hh_l0'",
    ),
    (
        "TaskModule fixed naming a RateRNN weight of a torch.nn.GRU network",
        module(fixed={"network.bias_l0": True}),
        ValueError,
        r"fixed names 'network.bias_l0', which is not a weight of this module \(network GRU\)",
    ),
    (
        "TaskModule network torch.nn.GRU num_layers=2",
        module(gru(num_layers=2)),
        ValueError,
        r"network torch.nn.GRU with num_layers=2: a TaskModule trains one recurrent layer .*init_args num_layers: 1",
    ),
    (
        "TaskModule network torch.nn.GRU bidirectional=True",
        module(gru(bidirectional=True)),
        ValueError,
        r"with bidirectional=True: .*set init_args bidirectional: false",
    ),
    (
        "TaskModule network torch.nn.LSTM proj_size=2",
        module({"class_path": "torch.nn.LSTM", "init_args": {"hidden_size": 4, "proj_size": 2}}),
        ValueError,
        r"network torch.nn.LSTM with proj_size=2: .*set init_args proj_size: 0",
    ),
    (
        "TaskModule network torch.nn.Linear",
        module({"class_path": "torch.nn.Linear", "init_args": {"out_features": 4}}),
        TypeError,
        r"class_path 'torch.nn.Linear' is not a torchrate.networks.RateRNN or torch.nn.modules.rnn.RNN",
    ),
    (
        "export_weights source=TaskModule of a torch.nn.GRU",
        export,
        ValueError,
        r"export_weights writes a torchrate rate network .*this TaskModule's network is a torch.nn.GRU, whose "
        r"weights are its state_dict",
    ),
]
