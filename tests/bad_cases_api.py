"""Bad-input cases of the models, analyses, tasks and training helpers (issue 17's backlog).

Each case is ``(id, call, error type, pattern)`` as in ``tests/test_bad_inputs.py``; the id names
the callable and the option (``tests/test_option_coverage.py`` reads it).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

import torchrate as tr
from torchrate import training

NAN, INF = float("nan"), float("inf")
F64 = torch.float64

NET = tr.RateRNN(3, 4, tau=10.0, dt=1.0)  # float32, 3 inputs, 4 neurons
V = torch.zeros(1, 4)
M1 = torch.linspace(-1, 1, 8, dtype=F64)[:, None]  # a rank-1 factor, N = 8
LOW = tr.LowRankRateRNN.from_factors(M1, 2 * M1, torch.ones(8, 2, dtype=F64), tau=10.0, dt=1.0)  # 2 inputs
Z2 = torch.zeros(2, 2)
EIG = torch.tensor([[-1.0 + 0j, -2.0 + 0j]])  # one point, two eigenvalues
INPUTS = torch.zeros(5, 2, 3)  # (T, B, I) for NET
FLIPFLOP = tr.tasks.FlipFlop(n_bits=2, dt=10.0, duration=100.0)
Y = torch.zeros(4, 2, 3)  # (T, B, O)


def net(*args, **kw):
    return lambda: tr.RateRNN(*(args or (3, 4)), **kw)


def ei(*args, **kw):
    return lambda: tr.EIRateRNN(*(args or (2, 3, 1)), **kw)


def elman(**kw):
    kw = {"input_size": 3, "hidden_size": 4} | kw
    return lambda: tr.RateRNN.elman(**kw)


def low(*args, **kw):
    return lambda: tr.LowRankRateRNN(*(args or (2, 8, 1)), **kw)


def fw(M=Z2, **kw):
    kw = {"tau": 10.0, "dt": 1.0} | kw
    return lambda: tr.RateRNN.from_weights(M, **kw)


def eifw(M=Z2, n_exc=1, **kw):
    kw = {"tau_e": 10.0, "tau_i": 5.0, "dt": 1.0} | kw
    return lambda: tr.EIRateRNN.from_weights(M, n_exc, **kw)


def ff(m=M1, n=None, **kw):
    kw = {"tau": 10.0, "dt": 1.0} | kw
    return lambda: tr.LowRankRateRNN.from_factors(m, 2 * M1 if n is None else n, **kw)


def data(**kw):
    return lambda: training.TaskDataModule(kw.pop("task", FLIPFLOP), **kw)


def module(**kw):
    args = {
        "task": FLIPFLOP,
        "network": {"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": 4, "dt": 10.0}},
    }
    args |= kw
    return lambda: training.TaskModule(args.pop("task"), args.pop("network"), **args)


def _task_with_loss(kind):
    """A flip-flop task that claims outputs of kind ``kind`` (``task.loss``)."""
    task = tr.tasks.FlipFlop(n_bits=2, dt=10.0, duration=100.0)
    task.loss = kind
    return task


_MODULE = None


def _trained():
    """A small TaskModule (built once, on first use)."""
    global _MODULE
    if _MODULE is None:
        _MODULE = module()()
    return _MODULE


def analyze(**kw):
    def call():
        with tempfile.TemporaryDirectory() as d:
            args = {"module": _trained(), "out": Path(d) / "analysis", "n_trials": 4, "n_initial": 4} | kw
            training.analyze(args.pop("module"), args.pop("out"), **args)

    return call


def analyze_checkpoint(**kw):
    def call():
        with tempfile.TemporaryDirectory() as d:
            args = {"path": Path(d) / "missing.ckpt", "out": Path(d) / "analysis"} | kw
            training.analyze_checkpoint(args.pop("path"), args.pop("out"), **args)

    return call


CASES = [
    # ---------------------------------------------------------------- RateRNN, from_weights, from_rnn
    ("RateRNN batch_first='yes'", net(batch_first="yes"), TypeError, r"batch_first must be True or False"),
    ("RateRNN batch_first=1", net(batch_first=1), TypeError, r"batch_first must be True or False"),
    ("RateRNN device='gpu0'", net(device="gpu0"), ValueError, r"device must be a torch.device or a name"),
    ("RateRNN device=3.5", net(device=3.5), TypeError, r"device must be a torch.device, a name"),
    ("RateRNN.from_weights dt=0", fw(dt=0.0), ValueError, r"dt must be a positive finite number, got 0.0"),
    ("RateRNN.from_weights dt='1'", fw(dt="1"), TypeError, r"dt must be a real number"),
    (
        "RateRNN.from_weights nonlinearity='rectify'",
        fw(nonlinearity="rectify"),
        ValueError,
        r"unknown nonlinearity 'rectify'",
    ),
    ("RateRNN.from_weights nonlinearity=3", fw(nonlinearity=3), TypeError, r"nonlinearity must be a name or"),
    (
        "RateRNN.from_rnn rnn=GRU",
        lambda: tr.RateRNN.from_rnn(torch.nn.GRU(2, 3)),
        TypeError,
        r"rnn must be a torch.nn.RNN, got GRU",
    ),
    ("RateRNN.from_rnn rnn=None", lambda: tr.RateRNN.from_rnn(None), TypeError, r"rnn must be a torch.nn.RNN"),
    ("RateRNN.elman input_size=0", elman(input_size=0), ValueError, r"input_size must be an integer ≥ 1, got 0"),
    ("RateRNN.elman hidden_size=2.5", elman(hidden_size=2.5), TypeError, r"hidden_size must be an integer, got 2.5"),
    ("RateRNN.elman num_layers=0", elman(num_layers=0), ValueError, r"num_layers must be an integer ≥ 1, got 0"),
    (
        "RateRNN.elman nonlinearity='rectify'",
        elman(nonlinearity="rectify"),
        ValueError,
        r"unknown nonlinearity 'rectify'",
    ),
    ("RateRNN.elman bias='yes'", elman(bias="yes"), TypeError, r"bias must be True or False, got 'yes'"),
    ("RateRNN.elman batch_first=1", elman(batch_first=1), TypeError, r"batch_first must be True or False, got 1"),
    ("RateRNN.elman dropout=1.5", elman(dropout=1.5), ValueError, r"dropout must be a probability in \[0, 1\)"),
    (
        "RateRNN.elman bidirectional=None",
        elman(bidirectional=None),
        TypeError,
        r"bidirectional must be True or False, got None",
    ),
    ("RateRNN.elman device='gpu0'", elman(device="gpu0"), ValueError, r"device must be a torch.device or a name"),
    (
        "RateRNN.elman dtype=int64",
        elman(dtype=torch.int64),
        TypeError,
        r"dtype must be a real floating-point dtype .*got torch.int64",
    ),
    (
        "RateRNN.elman tau=10 (leaky: not Elman's)",
        elman(tau=10.0),
        TypeError,
        r"RateRNN.elman takes no tau: it is nn.RNN's Elman update, τ = dt = 1",
    ),
    ("RateRNN.elman gain=0.9", elman(gain=0.9), TypeError, r"RateRNN.elman takes no gain"),
    ("RateRNN.elman generator=0", elman(generator=0), TypeError, r"generator must be a torch.Generator or None"),
    # ---------------------------------------------------------------- EIRateRNN
    ("EIRateRNN input_size=0", ei(0, 3, 1), ValueError, r"input_size must be an integer ≥ 1, got 0"),
    ("EIRateRNN input_size=2.5", ei(2.5, 3, 1), TypeError, r"input_size must be an integer, got 2.5"),
    ("EIRateRNN nonlinearity='rectify'", ei(nonlinearity="rectify"), ValueError, r"unknown nonlinearity 'rectify'"),
    ("EIRateRNN nonlinearity=3", ei(nonlinearity=3), TypeError, r"nonlinearity must be a name or a callable"),
    ("EIRateRNN.from_weights dt=-1", eifw(dt=-1.0), ValueError, r"dt must be a positive finite number"),
    (
        "EIRateRNN.from_weights nonlinearity='rectify'",
        eifw(nonlinearity="rectify"),
        ValueError,
        r"unknown nonlinearity 'rectify'",
    ),
    ("EIRateRNN.from_weights tau_e=0", eifw(tau_e=0.0), ValueError, r"tau_e must be a positive finite number"),
    ("EIRateRNN.from_weights tau_e='10'", eifw(tau_e="10"), TypeError, r"tau_e must be a real number"),
    ("EIRateRNN.from_weights tau_i=nan", eifw(tau_i=NAN), ValueError, r"tau_i must be a positive finite number"),
    ("EIRateRNN.from_weights tau_i=-5", eifw(tau_i=-5.0), ValueError, r"tau_i must be a positive finite number"),
    # ---------------------------------------------------------------- LowRankRateRNN
    ("LowRankRateRNN input_size=0", low(0, 8, 1), ValueError, r"input_size must be an integer ≥ 1, got 0"),
    ("LowRankRateRNN hidden_size=0", low(2, 0, 1), ValueError, r"hidden_size must be an integer ≥ 1, got 0"),
    ("LowRankRateRNN hidden_size=8.0", low(2, 8.0, 1), TypeError, r"hidden_size must be an integer, got 8.0"),
    ("LowRankRateRNN rank=0", low(2, 8, 0), ValueError, r"rank must be an integer ≥ 1, got 0"),
    ("LowRankRateRNN rank=9 of 8", low(2, 8, 9), ValueError, r"rank must be ≤ hidden_size = 8, got 9"),
    ("LowRankRateRNN rank=1.5", low(2, 8, 1.5), TypeError, r"rank must be an integer, got 1.5"),
    ("LowRankRateRNN tau=0", low(tau=0.0), ValueError, r"tau must be positive"),
    ("LowRankRateRNN tau='10'", low(tau="10"), TypeError, r"tau must be a number"),
    ("LowRankRateRNN dt=nan", low(dt=NAN), ValueError, r"dt must be a positive finite number"),
    (
        "LowRankRateRNN nonlinearity='rectify'",
        low(nonlinearity="rectify"),
        ValueError,
        r"unknown nonlinearity 'rectify'",
    ),
    ("LowRankRateRNN.from_factors m (8,)", ff(m=torch.zeros(8, dtype=F64)), ValueError, r"\bm must have shape"),
    ("LowRankRateRNN.from_factors m string", ff(m="m"), TypeError, r"\bm must be a real tensor"),
    (
        "LowRankRateRNN.from_factors n (8, 2) for rank 1",
        ff(n=torch.zeros(8, 2, dtype=F64)),
        ValueError,
        r"\bn must have shape \(8, 1\)",
    ),
    ("LowRankRateRNN.from_factors n NaN", ff(n=torch.full((8, 1), NAN, dtype=F64)), ValueError, r"\bn must be finite"),
    (
        "LowRankRateRNN.from_factors W (7, 2)",
        ff(W=torch.zeros(7, 2, dtype=F64)),
        ValueError,
        r"\bW must have shape \(8, I\)",
    ),
    ("LowRankRateRNN.from_factors b (7,)", ff(b=torch.zeros(7, dtype=F64)), ValueError, r"\bb must have shape \(8,\)"),
    ("LowRankRateRNN.from_factors tau=-1", ff(tau=-1.0), ValueError, r"tau must be positive"),
    ("LowRankRateRNN.from_factors dt=0", ff(dt=0.0), ValueError, r"dt must be a positive finite number"),
    (
        "LowRankRateRNN.from_factors nonlinearity=3",
        ff(nonlinearity=3),
        TypeError,
        r"nonlinearity must be a name or a callable",
    ),
    (
        "LowRankRateRNN.from_rnn rnn=nn.RNN (no exact low-rank form)",
        lambda: tr.LowRankRateRNN.from_rnn(torch.nn.RNN(2, 3)),
        TypeError,
        r"LowRankRateRNN.from_rnn: convert with",
    ),
    # ---------------------------------------------------------------- Ensemble, Nonlinearity, nonlinearity
    ("Ensemble nets=[]", lambda: tr.Ensemble([]), TypeError, r"nets must be a non-empty sequence"),
    ("Ensemble nets=3", lambda: tr.Ensemble(3), TypeError, r"nets must be a non-empty sequence"),
    (
        "Ensemble.effective_weights params without buffers",
        lambda: tr.Ensemble([NET]).effective_weights(tr.Ensemble([NET]).stacked()[0]),
        TypeError,
        r"effective_weights needs both params and buffers",
    ),
    (
        "Ensemble nets of a GRU",
        lambda: tr.Ensemble([NET, torch.nn.GRU(3, 4)]),
        TypeError,
        r"nets must be a non-empty sequence of torchrate networks",
    ),
    ("Nonlinearity name=3", lambda: tr.Nonlinearity(3, torch.tanh), TypeError, r"name must be a str"),
    ("Nonlinearity fn='tanh'", lambda: tr.Nonlinearity("mine", "tanh"), TypeError, r"fn must be a callable"),
    (
        "Nonlinearity derivative_from_output=1",
        lambda: tr.Nonlinearity("mine", torch.tanh, 1),
        TypeError,
        r"derivative_from_output must be a callable Tensor -> Tensor or None",
    ),
    (
        "Nonlinearity inplace='tanh_'",
        lambda: tr.Nonlinearity("mine", torch.tanh, None, "tanh_"),
        TypeError,
        r"inplace must be a callable Tensor -> Tensor or None",
    ),
    ("nonlinearity spec=3", lambda: tr.nonlinearity(3), TypeError, r"nonlinearity must be a name or a callable"),
    ("nonlinearity spec='rectify'", lambda: tr.nonlinearity("rectify"), ValueError, r"unknown nonlinearity"),
    # ---------------------------------------------------------------- analysis
    ("classify eigenvalues string", lambda: tr.analysis.classify("λ"), TypeError, r"eigenvalues must be a tensor"),
    (
        "classify eigenvalues (2,)",
        lambda: tr.analysis.classify(EIG[0]),
        ValueError,
        r"eigenvalues must have shape \(P, N\)",
    ),
    ("classify tol=-1", lambda: tr.analysis.classify(EIG, -1.0), ValueError, r"tol must be a finite number ≥ 0"),
    ("classify tol=nan", lambda: tr.analysis.classify(EIG, NAN), ValueError, r"tol must be a finite number ≥ 0"),
    ("classify tol='0'", lambda: tr.analysis.classify(EIG, "0"), TypeError, r"tol must be a real number"),
    (
        "classify time='ode'",
        lambda: tr.analysis.classify(EIG, time="ode"),
        ValueError,
        r"time must be 'continuous' or 'discrete'",
    ),
    (
        "find_fixed_points initial_states string",
        lambda: tr.analysis.find_fixed_points(NET, None, "v"),
        TypeError,
        r"initial_states must be a real tensor",
    ),
    (
        "find_fixed_points initial_states (4,)",
        lambda: tr.analysis.find_fixed_points(NET, None, torch.zeros(4)),
        ValueError,
        r"initial_states must have shape \(K, N\)",
    ),
    (
        "find_fixed_points initial_states (2, 3)",
        lambda: tr.analysis.find_fixed_points(NET, None, torch.zeros(2, 3)),
        ValueError,
        r"initial_states must have shape \(K, 4\)",
    ),
    (
        "find_fixed_points bfloat16 network",
        lambda: tr.analysis.find_fixed_points(
            tr.RateRNN.from_weights(torch.eye(2), tau=10.0, dt=1.0).to(torch.bfloat16), None, torch.zeros(3, 2)
        ),
        TypeError,
        r"searches in float32 or float64 .* got a bfloat16 network",
    ),
    (
        "input_jacobian net a string",
        lambda: tr.analysis.input_jacobian("net", V),
        TypeError,
        r"cannot analyse a str: expected a torchrate network",
    ),
    (
        "input_jacobian time='ode'",
        lambda: tr.analysis.input_jacobian(NET, V, time="ode"),
        ValueError,
        r"time must be 'continuous', 'discrete'",
    ),
    (
        "phase_plane time='ode'",
        lambda: tr.analysis.phase_plane(NET, torch.zeros(3), time="ode"),
        ValueError,
        r"time must be 'continuous', 'discrete'",
    ),
    (
        "latent_fixed_points net full-rank",
        lambda: tr.analysis.latent_fixed_points(NET),
        TypeError,
        r"net must be a torchrate.LowRankRateRNN",
    ),
    (
        "latent_fixed_points u width 3",
        lambda: tr.analysis.latent_fixed_points(LOW, torch.zeros(3, dtype=F64)),
        ValueError,
        r"u must be a constant input of shape \(2,\)",
    ),
    (
        "latent_fixed_points u string",
        lambda: tr.analysis.latent_fixed_points(LOW, "u"),
        TypeError,
        r"\bu must be a real tensor",
    ),
    (
        "latent_velocity net full-rank",
        lambda: tr.analysis.latent_velocity(NET, None, torch.zeros(1)),
        TypeError,
        r"net must be a torchrate.LowRankRateRNN",
    ),
    (
        "latent_velocity u NaN",
        lambda: tr.analysis.latent_velocity(LOW, torch.tensor([NAN, 0.0]), torch.zeros(1)),
        ValueError,
        r"u must be finite",
    ),
    (
        "latent_velocity kappa string",
        lambda: tr.analysis.latent_velocity(LOW, None, "κ"),
        TypeError,
        r"kappa must be a real tensor",
    ),
    (
        "latent_velocity kappa (3, 2) for rank 1",
        lambda: tr.analysis.latent_velocity(LOW, None, torch.zeros(3, 2)),
        ValueError,
        r"kappa must have shape \(\*, 1\)",
    ),
    (
        "low_rank_approximation net a GRU",
        lambda: tr.analysis.low_rank_approximation(torch.nn.GRU(3, 4), 1),
        TypeError,
        r"net must be a torchrate.RateRNN, got GRU",
    ),
    (
        "rank_fidelity net a GRU",
        lambda: tr.analysis.rank_fidelity(torch.nn.GRU(3, 4), INPUTS),
        TypeError,
        r"net must be a torchrate.RateRNN",
    ),
    (
        "rank_fidelity inputs list",
        lambda: tr.analysis.rank_fidelity(NET, [[0.0] * 3]),
        TypeError,
        r"inputs must be a Tensor",
    ),
    (
        "rank_fidelity inputs width 2",
        lambda: tr.analysis.rank_fidelity(NET, torch.zeros(5, 2, 2)),
        ValueError,
        r"inputs must have shape \(T, B, 3\)",
    ),
    (
        "rank_fidelity metric=3",
        lambda: tr.analysis.rank_fidelity(NET, INPUTS, [1], readout=lambda r: r, metric=3),
        TypeError,
        r"metric must be a callable or None",
    ),
    (
        "rank_fidelity metric without readout",
        lambda: tr.analysis.rank_fidelity(NET, INPUTS, [1], metric=len),
        ValueError,
        r"metric needs readout",
    ),
    # ---------------------------------------------------------------- linear
    ("linear.phi1 z list", lambda: tr.linear.phi1([0.0, 1.0]), TypeError, r"z must be a Tensor"),
    ("linear.phi1 z string", lambda: tr.linear.phi1("z"), TypeError, r"z must be a Tensor"),
    # ---------------------------------------------------------------- tasks
    ("Task dt=0", lambda: tr.tasks.Task(0.0), ValueError, r"dt must be a positive finite number"),
    ("Task dt='10'", lambda: tr.tasks.Task("10"), TypeError, r"dt must be a real number"),
    ("WinnerTakeAll dt=0", lambda: tr.tasks.WinnerTakeAll(dt=0.0), ValueError, r"dt must be a positive finite"),
    ("WinnerTakeAll dt=nan", lambda: tr.tasks.WinnerTakeAll(dt=NAN), ValueError, r"dt must be a positive finite"),
    # ---------------------------------------------------------------- training
    ("TaskModule ensemble=0", module(ensemble=0), ValueError, r"ensemble must be an integer ≥ 1, got 0"),
    ("TaskModule ensemble=2.5", module(ensemble=2.5), TypeError, r"ensemble must be an integer, got 2.5"),
    ("TaskModule network_seed=-1", module(network_seed=-1), ValueError, r"network_seed must be an integer ≥ 0"),
    ("TaskModule network_seed='0'", module(network_seed="0"), TypeError, r"network_seed must be an integer"),
    (
        "TaskModule network_seed=2**64",
        module(network_seed=2**64),
        ValueError,
        r"network_seed must be an integer in \[0, 2\*\*63 - 1\] .*got 18446744073709551616",
    ),
    (
        "TaskModule network_seed=2**63 - 2, ensemble=3",
        module(network_seed=2**63 - 2, ensemble=3),
        ValueError,
        r"network_seed must be an integer in \[0, 2\*\*63 - 3\]",
    ),
    (
        "TaskModule task whose loss is not a kind",
        module(task=_task_with_loss("hinge")),
        ValueError,
        r"task.loss must be one of 'mse', 'cross_entropy' .*got 'hinge' \(str\) from FlipFlop",
    ),
    (
        "TaskModule task whose loss is None",
        module(task=_task_with_loss(None)),
        ValueError,
        r"task.loss must be one of .*got None",
    ),
    ("TaskDataModule batch_size=0", data(batch_size=0), ValueError, r"batch_size must be an integer ≥ 1, got 0"),
    ("TaskDataModule batch_size=2.5", data(batch_size=2.5), TypeError, r"batch_size must be an integer, got 2.5"),
    ("TaskDataModule train_batches=0", data(train_batches=0), ValueError, r"train_batches must be an integer ≥ 1"),
    ("TaskDataModule val_trials=-1", data(val_trials=-1), ValueError, r"val_trials must be an integer ≥ 1"),
    ("TaskDataModule test_trials='8'", data(test_trials="8"), TypeError, r"test_trials must be an integer"),
    ("TaskDataModule seed=1.5", data(seed=1.5), TypeError, r"seed must be an integer, got 1.5"),
    ("TaskDataModule seed='0'", data(seed="0"), TypeError, r"seed must be an integer"),
    (
        "TaskDataModule seed=2**64",
        data(seed=2**64),
        ValueError,
        r"seed must be an integer in \[-2\*\*63, 2\*\*64 - 1\] \(a torch seed\), got 18446744073709551616",
    ),
    ("TaskDataModule task='flipflop'", data(task="flipflop"), TypeError, r"task must be a torchrate.tasks.Task"),
    (
        "AnalysisCallback out=3",
        lambda: training.AnalysisCallback(out=3),
        TypeError,
        r"out must be a path \(str or os.PathLike\) or None",
    ),
    (
        "AnalysisCallback n_trials=0",
        lambda: training.AnalysisCallback(n_trials=0),
        ValueError,
        r"n_trials must be an integer ≥ 1, got 0",
    ),
    (
        "AnalysisCallback n_trials=1.5",
        lambda: training.AnalysisCallback(n_trials=1.5),
        TypeError,
        r"n_trials must be an integer",
    ),
    (
        "AnalysisCallback overwrite='yes'",
        lambda: training.AnalysisCallback(overwrite="yes"),
        TypeError,
        r"overwrite must be True or False",
    ),
    (
        "PredictionWriter out=3",
        lambda: training.PredictionWriter(out=3),
        TypeError,
        r"out must be a path \(str or os.PathLike\) or None",
    ),
    (
        "PredictionWriter out='p.csv'",
        lambda: training.PredictionWriter(out="p.csv"),
        ValueError,
        r"out must name a .pt or .npz file, got 'p.csv'",
    ),
    (
        "PredictionWriter overwrite='yes'",
        lambda: training.PredictionWriter(overwrite="yes"),
        TypeError,
        r"overwrite must be True or False",
    ),
    (
        "RunCheckpoint dirpath=3",
        lambda: training.RunCheckpoint(dirpath=3),
        TypeError,
        r"dirpath must be a path \(str or os.PathLike\) or None",
    ),
    (
        "RunCheckpoint save_last='yes'",
        lambda: training.RunCheckpoint(save_last="yes"),
        ValueError,
        r"save_last must be True, False, None or 'link'",
    ),
    (
        "RunCheckpoint save_last=2",
        lambda: training.RunCheckpoint(save_last=2),
        TypeError,
        r"save_last must be True, False, None or 'link'",
    ),
    (
        "default_loggers save_dir=None",
        lambda: training.default_loggers(None),
        TypeError,
        r"save_dir must be a path \(str or os.PathLike\)",
    ),
    ("masked_mse outputs list", lambda: training.masked_mse([0.0], Y, Y), TypeError, r"outputs must be a Tensor"),
    (
        "masked_mse targets (4, 2, 1)",
        lambda: training.masked_mse(Y, Y[..., :1], Y),
        ValueError,
        r"targets must have the shape of outputs \(4, 2, 3\), got \(4, 2, 1\)",
    ),
    (
        "masked_mse mask (4, 3, 3)",
        lambda: training.masked_mse(Y, Y, torch.ones(4, 3, 3)),
        ValueError,
        r"mask must have the shape of outputs \(4, 2, 3\)",
    ),
    (
        "masked_cross_entropy logits None",
        lambda: training.masked_cross_entropy(None, Y, Y),
        TypeError,
        r"logits must be a Tensor",
    ),
    (
        "masked_cross_entropy targets (4, 2, 2)",
        lambda: training.masked_cross_entropy(Y, Y[..., :2], Y),
        ValueError,
        r"targets must have the shape of logits \(4, 2, 3\)",
    ),
    (
        "masked_cross_entropy mask string",
        lambda: training.masked_cross_entropy(Y, Y, "all"),
        TypeError,
        r"mask must be a Tensor",
    ),
    ("analyze module=None", analyze(module=None), TypeError, r"module must be a TaskModule"),
    ("analyze n_trials=0", analyze(n_trials=0), ValueError, r"n_trials must be an integer ≥ 1, got 0"),
    ("analyze n_initial=0", analyze(n_initial=0), ValueError, r"n_initial must be an integer ≥ 1, got 0"),
    ("analyze seed=0.5", analyze(seed=0.5), TypeError, r"seed must be an integer, got 0.5"),
    (
        "analyze seed=2**64",
        analyze(seed=2**64),
        ValueError,
        r"seed must be an integer in \[-2\*\*63, 2\*\*64 - 1\] \(a torch seed\), got 18446744073709551616",
    ),
    ("analyze history='loss'", analyze(history="loss"), TypeError, r"history must be a list of dicts or None"),
    ("analyze extra=3", analyze(extra=3), TypeError, r"extra must be a dict or None"),
    ("analyze out=None", analyze(out=None), TypeError, r"out must be a path \(str or os.PathLike\)"),
    (
        "analyze_checkpoint path=3",
        analyze_checkpoint(path=3),
        TypeError,
        r"checkpoint must be a path, URL or binary file object, got int",
    ),
    ("analyze_checkpoint out=None", analyze_checkpoint(out=None), TypeError, r"out must be a path"),
    (
        "analyze_checkpoint n_trials=0",
        analyze_checkpoint(n_trials=0),
        ValueError,
        r"n_trials must be an integer ≥ 1, got 0",
    ),
    ("analyze progress='yes'", analyze(progress="yes"), TypeError, r"progress must be True, False or None"),
    (
        "analyze_checkpoint progress=1",
        analyze_checkpoint(progress=1),
        TypeError,
        r"progress must be True, False or None .*got 1",
    ),
    (
        "load_checkpoint path=None",
        lambda: training.load_checkpoint(None),
        TypeError,
        r"checkpoint must be a path, URL or binary file object, got NoneType",
    ),
    (
        "load_checkpoint path missing",
        lambda: training.load_checkpoint("/nonexistent/run.ckpt"),
        FileNotFoundError,
        r"run\.ckpt",
    ),
    (
        "load_checkpoint map_location=3.5",
        lambda: training.load_checkpoint("x.ckpt", map_location=3.5),
        TypeError,
        r"map_location must be a torch.device, a name",
    ),
    (
        "load_checkpoint map_location='gpu0'",
        lambda: training.load_checkpoint("x.ckpt", map_location="gpu0"),
        ValueError,
        r"map_location must be a torch.device or a name",
    ),
]

try:
    import neurogym  # noqa: F401 - an optional dependency: its cases only where it is installed
except ImportError:  # pragma: no cover
    pass
else:

    def _ngym(env_id="PerceptualDecisionMaking-v0", **kw):
        return lambda: tr.tasks.NeuroGym(env_id, dt=kw.pop("dt", 100), **kw)

    CASES += [
        ("NeuroGym env_id=3", _ngym(3), TypeError, r"env_id must be a NeuroGym environment id \(str\)"),
        ("NeuroGym env_kwargs=3", _ngym(env_kwargs=3), TypeError, r"env_kwargs must be a dict"),
        ("NeuroGym loss_on='end'", _ngym(loss_on="end"), ValueError, r"loss_on must be one of"),
        (
            "NeuroGym decision_period='choice'",
            _ngym(decision_period="choice"),
            ValueError,
            r"decision_period must name a period of",
        ),
        ("NeuroGym condition=3", _ngym(condition=3), TypeError, r"condition must be a str or None"),
        (
            "NeuroGym decision_period=3",
            _ngym(decision_period=3),
            TypeError,
            r"decision_period must be the name of a period \(str\) or None",
        ),
        (
            "NeuroGym reaction_time='yes'",
            _ngym(reaction_time="yes"),
            TypeError,
            r"reaction_time must be True, False or None",
        ),
        (
            "NeuroGym reaction_time=True, continuous actions",
            _ngym("ReachingDelayResponse-v0", reaction_time=True),
            ValueError,
            r"reaction_time=True needs discrete actions",
        ),
        (
            "NeuroGym env_id of an env without per-trial ground truth",
            _ngym("Bandit-v0"),
            ValueError,
            r"Bandit-v0 does not build its observations and ground truth per trial",
        ),
        (
            "NeuroGym env_id with arguments without a default",
            _ngym("AnnubesEnv-v0"),
            TypeError,
            r"AnnubesEnv-v0 has argument\(s\) without a default, 'session', 'catch_prob': give them in env_kwargs",
        ),
        (
            "NeuroGym env_id whose ground truth is not an action",
            _ngym("Reaching1D-v0"),
            ValueError,
            r"Reaching1D-v0's ground truth is not an action of its action space Discrete\(3\)",
        ),
        (
            "NeuroGym rt_threshold=0.5",
            _ngym(rt_threshold=0.5),
            ValueError,
            r"rt_threshold must be a probability in \(0.5, 1\]",
        ),
        ("NeuroGym rt_threshold='0.8'", _ngym(rt_threshold="0.8"), TypeError, r"rt_threshold must be a real number"),
    ]
