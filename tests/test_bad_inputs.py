"""Adversarial inputs across the public API: every bad input is a clear error, never a silent
result or a hang.

Each case is ``(id, call, error type, pattern)``: ``call()`` must raise ``error type`` (an
exception, not an ``assert``: also under ``python -O``) whose message matches ``pattern``,
which names the argument. A per-case alarm turns a hang into a failure.

``python tests/test_bad_inputs.py`` classifies every case — clear (right type, names the
argument), unclear (raises, but another type or the argument not named), silent (no error)
or hang — and prints the counts quoted in the README's reliability section.

Sections: analysis, linear, plotting, tasks, training, CLI, the network modules
(``# ---- models``: RateRNN, EIRateRNN, from_weights, forward, step, ODE solvers) and
``# ---- reliability`` (ensembles, state loading, callable F, NeuroGym, curriculum).
"""

from __future__ import annotations

import math
import re
import signal
import sys
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import torchrate as tr
from torchrate import _validate

NAN, INF = float("nan"), float("inf")
F64 = torch.float64
HANG_SECONDS = 30


def _ei_pair(tau_i: float = 50.0):
    return tr.EIRateRNN.from_weights(
        torch.tensor([[1.25, -1.0], [1.0, 0.0]], dtype=F64),
        n_exc=1,
        tau_e=10.0,
        tau_i=tau_i,
        b=torch.tensor([10.0, -10.0], dtype=F64),
        dt=0.5,
    )


EI = _ei_pair()
U2 = torch.zeros(2, dtype=F64)
NET3 = tr.RateRNN(3, 4, tau=10.0, dt=1.0)  # float32, 3 inputs, 4 neurons
M2 = torch.tensor([[0.0, 0.8], [0.8, 0.0]])
H2 = torch.tensor([1.0, 0.2])
T = torch.linspace(0, 10, 5)
V = torch.zeros(1, 4)
U3 = torch.zeros(3)


def pp(**kw):
    """phase_plane of the E–I pair, small grids; ``kw`` overrides."""
    args = {"net": EI, "u": U2, "xlim": (0, 60), "ylim": (0, 40), "n": 3, "resolution": 8}
    args |= kw
    return lambda: tr.analysis.phase_plane(args.pop("net"), args.pop("u"), args.pop("xlim"), args.pop("ylim"), **args)


def sweep(**kw):
    args = {
        "make_net": _ei_pair,
        "values": [30.0, 35.0],
        "u": U2,
        "initial_states": torch.tensor([[20.0, 10.0]], dtype=F64),
    }
    args |= kw
    return lambda: tr.analysis.sweep(args.pop("make_net"), args.pop("values"), args.pop("u"), **args)


def bif(**kw):
    args = {"system": lambda p: (EI, U2), "values": [0.0, 1.0]}
    args |= kw
    return lambda: tr.analysis.bifurcation(args.pop("system"), args.pop("values"), **args)


def task_call(cls_name, **kw):
    return lambda: getattr(tr.tasks, cls_name)(**kw)


def _flipflop_eval(mask_value: float):
    task = tr.tasks.FlipFlop(n_bits=2, dt=10.0, duration=100.0)
    x, y, m = task.sample(4, generator=torch.Generator().manual_seed(0))
    return lambda: task.evaluate(y, y, torch.full_like(m, mask_value))


def _decision_eval(mask_value: float, conditions: bool):
    task = tr.tasks.PerceptualDecision()
    (x, y, m), c = task.generate(4, generator=torch.Generator().manual_seed(0))
    return lambda: task.evaluate(y, y, torch.full_like(m, mask_value), c if conditions else None)


def _wta_eval():
    task = tr.tasks.WinnerTakeAll()
    (x, y, m), c = task.generate(4, generator=torch.Generator().manual_seed(0))
    return lambda: task.evaluate(y, y, torch.zeros_like(m), c)


def _integration_eval():
    task = tr.tasks.Integration()
    x, y, m = task.sample(4, generator=torch.Generator().manual_seed(0))
    return lambda: task.evaluate(y, y, torch.zeros_like(m))


def _sample(task_kw=None, **kw):
    task = tr.tasks.FlipFlop(**(task_kw or {}))
    return lambda: task.sample(**kw) if "batch_size" in kw else task.sample(2, **kw)


def _module(**kw):
    from torchrate.training import TaskModule

    args = {
        "task": tr.tasks.FlipFlop(n_bits=2, dt=10.0, duration=100.0),
        "network": {"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": 4, "dt": 10.0}},
    }
    args |= kw
    return lambda: TaskModule(args.pop("task"), args.pop("network"), **args)


def _fig(fn, *args, **kw):
    return lambda: getattr(tr.plotting, fn)(*args, **kw)


def _spectrum_result():
    return tr.analysis.spectrum(M2, tau=10.0)


_FP_NET = tr.RateRNN.from_weights(torch.tensor([[0.0, 2.0], [2.0, 0.0]]), tau=10.0, dt=1.0, nonlinearity="tanh")
_FP_STARTS = torch.linspace(-1, 1, 16).reshape(8, 2)


def fp(**kw):
    """find_fixed_points of a bistable tanh pair (float32) from 8 starts; ``kw`` the options."""
    return lambda: tr.analysis.find_fixed_points(_FP_NET, None, _FP_STARTS, **kw)


def _low_rank_net():
    m = torch.linspace(-1, 1, 16, dtype=F64)[:, None]
    return tr.LowRankRateRNN.from_factors(m, 2 * m, tau=10.0, dt=1.0)


def _bif_result():
    return tr.analysis.bifurcation(lambda p: (EI, torch.tensor([p, 0.0], dtype=F64)), [0.0, 1.0], seeds=1)


CASES = [
    # ---------------------------------------------------------------- analysis.find_fixed_points options
    ("find_fixed_points opt_steps=-1", fp(opt_steps=-1), ValueError, r"opt_steps must be an integer ≥ 0, got -1"),
    ("find_fixed_points opt_steps=2.5", fp(opt_steps=2.5), TypeError, r"opt_steps must be an integer, got 2.5"),
    ("find_fixed_points lr=-0.1", fp(lr=-0.1), ValueError, r"lr must be a positive finite number, got -0.1"),
    ("find_fixed_points lr=0", fp(lr=0.0), ValueError, r"lr must be a positive finite number"),
    ("find_fixed_points lr=nan", fp(lr=NAN), ValueError, r"lr must be a positive finite number, got nan"),
    ("find_fixed_points lr='0.1'", fp(lr="0.1"), TypeError, r"lr must be a real number"),
    (
        "find_fixed_points newton_steps=-1",
        fp(newton_steps=-1),
        ValueError,
        r"newton_steps must be an integer ≥ 0, got -1",
    ),
    ("find_fixed_points newton_steps=1.5", fp(newton_steps=1.5), TypeError, r"newton_steps must be an integer"),
    (
        "find_fixed_points check_every=-2 (was a hang)",
        fp(check_every=-2),
        ValueError,
        r"check_every must be an integer ≥ 1, got -2",
    ),
    ("find_fixed_points check_every=0", fp(check_every=0), ValueError, r"check_every must be an integer ≥ 1"),
    ("find_fixed_points check_every=2.5", fp(check_every=2.5), TypeError, r"check_every must be an integer"),
    ("find_fixed_points tol=-1", fp(tol=-1.0), ValueError, r"tol must be a finite number ≥ 0, got -1.0"),
    ("find_fixed_points tol=nan", fp(tol=NAN), ValueError, r"tol must be a finite number ≥ 0, got nan"),
    ("find_fixed_points tol=inf", fp(tol=INF), ValueError, r"tol must be a finite number ≥ 0, got inf"),
    ("find_fixed_points tol='1e-9'", fp(tol="1e-9"), TypeError, r"tol must be a real number, got '1e-9'"),
    ("find_fixed_points slow_points=nan", fp(slow_points=NAN), ValueError, r"slow_points must be a finite number"),
    ("find_fixed_points slow_points=-1", fp(slow_points=-1.0), ValueError, r"slow_points must be a finite number ≥ 0"),
    ("find_fixed_points dedup_tol=-1", fp(dedup_tol=-1.0), ValueError, r"dedup_tol must be a positive finite"),
    ("find_fixed_points dedup_tol=nan", fp(dedup_tol=NAN), ValueError, r"dedup_tol must be a positive finite"),
    ("find_fixed_points dedup_tol=0", fp(dedup_tol=0.0), ValueError, r"dedup_tol must be a positive finite"),
    ("find_fixed_points outlier_scale=0", fp(outlier_scale=0.0), ValueError, r"outlier_scale must be a positive"),
    ("find_fixed_points outlier_scale=nan", fp(outlier_scale=NAN), ValueError, r"outlier_scale must be a positive"),
    ("find_fixed_points outlier_scale='10'", fp(outlier_scale="10"), TypeError, r"outlier_scale must be a real"),
    ("find_fixed_points batch_size=2.5", fp(batch_size=2.5), TypeError, r"batch_size must be an integer, got 2.5"),
    ("find_fixed_points batch_size=0", fp(batch_size=0), ValueError, r"batch_size must be an integer ≥ 1, got 0"),
    ("find_fixed_points batch_size=True", fp(batch_size=True), TypeError, r"batch_size must be an integer"),
    ("find_fixed_points cluster='no'", fp(cluster="no"), TypeError, r"cluster must be True, False or None"),
    ("find_fixed_points cluster=0", fp(cluster=0), TypeError, r"cluster must be True, False or None"),
    ("find_fixed_points progress=None", fp(progress=None), TypeError, r"progress must be True or False"),
    ("find_fixed_points latent='yes'", fp(latent="yes"), TypeError, r"latent must be True, False or None"),
    ("find_fixed_points latent=True, full-rank net", fp(latent=True), TypeError, r"latent=True needs a low-rank"),
    (
        "find_fixed_points latent=True with slow_points",
        lambda: tr.analysis.find_fixed_points(
            _low_rank_net(), None, torch.randn(4, 16, dtype=F64), latent=True, slow_points=1e-3
        ),
        ValueError,
        r"latent=True .*slow_points=0\.001 would be ignored",
    ),
    ("find_fixed_points eigenvectors=1", fp(eigenvectors=1), TypeError, r"eigenvectors must be True or False"),
    ("find_fixed_points manifold_tol=-1", fp(manifold_tol=-1.0), ValueError, r"manifold_tol must be a finite"),
    ("find_fixed_points manifold_tol=nan", fp(manifold_tol=NAN), ValueError, r"manifold_tol must be a finite"),
    ("find_fixed_points time='ode'", fp(time="ode"), ValueError, r"time must be 'continuous', 'discrete'"),
    (
        "find_fixed_points u width 3",
        lambda: tr.analysis.find_fixed_points(_FP_NET, torch.zeros(3), _FP_STARTS),
        ValueError,
        r"\bu must be a constant input of shape",
    ),
    # ---------------------------------------------------------------- analysis.sample_states
    (
        "sample_states n=-1",
        lambda: tr.analysis.sample_states(_FP_STARTS, -1),
        ValueError,
        r"n must be an integer ≥ 1, got -1",
    ),
    ("sample_states n=0", lambda: tr.analysis.sample_states(_FP_STARTS, 0), ValueError, r"n must be an integer ≥ 1"),
    (
        "sample_states n=2.5",
        lambda: tr.analysis.sample_states(_FP_STARTS, 2.5),
        TypeError,
        r"n must be an integer, got 2.5",
    ),
    (
        "sample_states noise_std=-1",
        lambda: tr.analysis.sample_states(_FP_STARTS, 4, -1.0),
        ValueError,
        r"noise_std must be a finite number ≥ 0",
    ),
    (
        "sample_states noise_std=nan",
        lambda: tr.analysis.sample_states(_FP_STARTS, 4, NAN),
        ValueError,
        r"noise_std must be a finite number ≥ 0",
    ),
    (
        "sample_states noise_std='0.1'",
        lambda: tr.analysis.sample_states(_FP_STARTS, 4, "0.1"),
        TypeError,
        r"noise_std must be a real number",
    ),
    (
        "sample_states generator=0",
        lambda: tr.analysis.sample_states(_FP_STARTS, 4, generator=0),
        TypeError,
        r"generator must be a torch.Generator or None",
    ),
    (
        "sample_states trajectories string",
        lambda: tr.analysis.sample_states("rates", 4),
        TypeError,
        r"trajectories must be a real tensor",
    ),
    (
        "sample_states trajectories 0-D",
        lambda: tr.analysis.sample_states(torch.tensor(1.0), 4),
        ValueError,
        r"trajectories must have at least one dimension",
    ),
    (
        "sample_states trajectories empty",
        lambda: tr.analysis.sample_states(torch.zeros(0, 2), 4),
        ValueError,
        r"trajectories must hold at least one state",
    ),
    # ---------------------------------------------------------------- analysis: more options
    ("jacobian time='ode'", lambda: tr.analysis.jacobian(NET3, V, U3, time="ode"), ValueError, r"time must be"),
    (
        "input_jacobian v NaN",
        lambda: tr.analysis.input_jacobian(NET3, torch.full((1, 4), NAN), U3),
        ValueError,
        r"\bv must be finite",
    ),
    ("input_jacobian u width 2", lambda: tr.analysis.input_jacobian(NET3, V, torch.zeros(2)), ValueError, r"\bu\b"),
    ("spectrum tol=inf", lambda: tr.analysis.spectrum(M2, tol=INF), ValueError, r"tol must be a finite number ≥ 0"),
    (
        "Spectrum.steady_state integrator",
        lambda: tr.analysis.spectrum(torch.eye(2)).steady_state(H2),
        ValueError,
        r"no steady state: mode 0 has λ = 1",
    ),
    ("phase_plane dt='x' (own dt)", pp(dt="x"), TypeError, r"\bdt must be a real number"),
    ("phase_plane dt of a map", pp(dt=0.1, time="discrete"), ValueError, r"dt applies to the trajectories of a flow"),
    ("phase_plane duration=-1 without starts", pp(duration=-1.0), ValueError, r"duration"),
    ("phase_plane find option tol=-1", pp(tol=-1.0), ValueError, r"tol must be a finite number ≥ 0"),
    ("sweep find option opt_steps=-1", sweep(opt_steps=-1), ValueError, r"opt_steps must be an integer ≥ 0"),
    ("sweep find option cluster='no'", sweep(cluster="no"), TypeError, r"cluster must be True, False or None"),
    ("bifurcation progress='yes'", bif(progress="yes"), TypeError, r"progress must be True, False or None"),
    ("bifurcation max_points=2.5", bif(max_points=2.5), TypeError, r"max_points must be an integer"),
    ("bifurcation max_step=nan", bif(max_step=NAN), ValueError, r"max_step must be a positive finite"),
    ("bifurcation find option tol=-1", bif(tol=-1.0), ValueError, r"tol must be a finite number ≥ 0"),
    (
        "Bifurcation.at above the range",
        lambda: _bif_result().at(2.0),
        ValueError,
        r"value must lie within \[min\(values\), max\(values\)\] = \[0, 1\].*got 2",
    ),
    (
        "Bifurcation.at below the range (a list)",
        lambda: _bif_result().at([0.5, -1.0]),
        ValueError,
        r"value must lie within .*got -1",
    ),
    ("Bifurcation.at nan", lambda: _bif_result().at(NAN), ValueError, r"value must be a finite number"),
    ("Bifurcation.at a string", lambda: _bif_result().at("0.5"), TypeError, r"value must be a number"),
    (
        "latent_fixed_points newton_steps=-1",
        lambda: tr.analysis.lowrank.latent_fixed_points(_low_rank_net(), newton_steps=-1),
        ValueError,
        r"newton_steps must be an integer ≥ 0",
    ),
    (
        "latent_fixed_points tol=nan",
        lambda: tr.analysis.lowrank.latent_fixed_points(_low_rank_net(), tol=NAN),
        ValueError,
        r"tol must be a finite number ≥ 0",
    ),
    (
        "latent_fixed_points dedup_tol=-1",
        lambda: tr.analysis.lowrank.latent_fixed_points(_low_rank_net(), dedup_tol=-1.0),
        ValueError,
        r"dedup_tol must be a positive finite",
    ),
    (
        "latent_fixed_points initial_kappas (3, 2)",
        lambda: tr.analysis.lowrank.latent_fixed_points(_low_rank_net(), initial_kappas=torch.zeros(3, 2)),
        ValueError,
        r"initial_kappas must have shape \(K, 1\)",
    ),
    (
        "latent_fixed_points initial_states string",
        lambda: tr.analysis.lowrank.latent_fixed_points(_low_rank_net(), initial_states="v"),
        TypeError,
        r"initial_states must be a real tensor",
    ),
    (
        "low_rank_approximation rank=0",
        lambda: tr.analysis.lowrank.low_rank_approximation(NET3, 0),
        ValueError,
        r"rank must be an integer ≥ 1",
    ),
    (
        "low_rank_approximation rank=5 of 4",
        lambda: tr.analysis.lowrank.low_rank_approximation(NET3, 5),
        ValueError,
        r"rank must be an integer in \[1, 4\]",
    ),
    (
        "low_rank_approximation rank=1.5",
        lambda: tr.analysis.lowrank.low_rank_approximation(NET3, 1.5),
        TypeError,
        r"rank must be an integer, got 1.5",
    ),
    (
        "rank_fidelity ranks=[0]",
        lambda: tr.analysis.lowrank.rank_fidelity(NET3, torch.zeros(3, 1, 3), [0]),
        ValueError,
        r"ranks\[0\] must be an integer ≥ 1",
    ),
    (
        "rank_fidelity ranks=[9] of 4",
        lambda: tr.analysis.lowrank.rank_fidelity(NET3, torch.zeros(3, 1, 3), [9]),
        ValueError,
        r"ranks must lie in \[1, 4\]",
    ),
    (
        "rank_fidelity ranks='12'",
        lambda: tr.analysis.lowrank.rank_fidelity(NET3, torch.zeros(3, 1, 3), "12"),
        TypeError,
        r"ranks must be a sequence of integers",
    ),
    (
        "rank_fidelity readout=3",
        lambda: tr.analysis.lowrank.rank_fidelity(NET3, torch.zeros(3, 1, 3), [1], readout=3),
        TypeError,
        r"readout must be",
    ),
    (
        "rank_fidelity of a GRU",
        lambda: tr.analysis.lowrank.rank_fidelity(torch.nn.GRU(3, 4), torch.zeros(3, 1, 3)),
        TypeError,
        r"net must be a torchrate.RateRNN",
    ),
    ("linear.solve method=1", lambda: tr.linear.solve(M2, H2, T, tau=10.0, method=1), ValueError, r"method"),
    ("linear.steady_state h string", lambda: tr.linear.steady_state(M2, "h"), TypeError, r"\bh\b"),
    # ---------------------------------------------------------------- analysis.phase_plane
    (
        "phase_plane duration=-1",
        pp(initial_states=torch.tensor([[30.0, 20.0]], dtype=F64), duration=-1.0),
        ValueError,
        r"duration",
    ),
    (
        "phase_plane duration=nan",
        pp(initial_states=torch.tensor([[30.0, 20.0]], dtype=F64), duration=NAN),
        ValueError,
        r"duration",
    ),
    (
        "phase_plane duration=inf",
        pp(initial_states=torch.tensor([[30.0, 20.0]], dtype=F64), duration=INF),
        ValueError,
        r"duration",
    ),
    (
        "phase_plane duration=0",
        pp(initial_states=torch.tensor([[30.0, 20.0]], dtype=F64), duration=0.0),
        ValueError,
        r"duration",
    ),
    (
        "phase_plane duration='500'",
        pp(initial_states=torch.tensor([[30.0, 20.0]], dtype=F64), duration="500"),
        TypeError,
        r"duration",
    ),
    ("phase_plane xlim=(0, nan)", pp(xlim=(0.0, NAN)), ValueError, r"xlim"),
    ("phase_plane xlim=(nan, 1)", pp(xlim=(NAN, 1.0)), ValueError, r"xlim"),
    ("phase_plane xlim=(0, inf)", pp(xlim=(0.0, INF)), ValueError, r"xlim"),
    ("phase_plane xlim=(60, 0)", pp(xlim=(60.0, 0.0)), ValueError, r"xlim"),
    ("phase_plane xlim=(5, 5)", pp(xlim=(5.0, 5.0)), ValueError, r"xlim"),
    ("phase_plane xlim 3 values", pp(xlim=(0.0, 30.0, 60.0)), ValueError, r"xlim"),
    ("phase_plane xlim 1 value", pp(xlim=(60.0,)), ValueError, r"xlim"),
    ("phase_plane xlim scalar", pp(xlim=60.0), TypeError, r"xlim"),
    ("phase_plane xlim string", pp(xlim="0,60"), TypeError, r"xlim"),
    ("phase_plane ylim=(0, nan)", pp(ylim=(0.0, NAN)), ValueError, r"ylim"),
    ("phase_plane ylim=(40, -40)", pp(ylim=(40.0, -40.0)), ValueError, r"ylim"),
    ("phase_plane ylim 3 values", pp(ylim=(0.0, 1.0, 2.0)), ValueError, r"ylim"),
    ("phase_plane ylim complex", pp(ylim=(0.0, 1j)), TypeError, r"ylim"),
    ("phase_plane resolution=1", pp(resolution=1), ValueError, r"resolution"),
    ("phase_plane resolution=0", pp(resolution=0), ValueError, r"resolution"),
    ("phase_plane resolution=-5", pp(resolution=-5), ValueError, r"resolution"),
    ("phase_plane resolution=2.5", pp(resolution=2.5), TypeError, r"resolution"),
    ("phase_plane n=0", pp(n=0), ValueError, r"\bn\b"),
    ("phase_plane n=1", pp(n=1), ValueError, r"\bn\b"),
    ("phase_plane n=3.0", pp(n=3.0), TypeError, r"\bn\b"),
    (
        "phase_plane initial_states (2, 4)",
        pp(initial_states=torch.zeros(2, 4, dtype=F64)),
        ValueError,
        r"initial_states",
    ),
    (
        "phase_plane initial_states (2, 2, 2)",
        pp(initial_states=torch.zeros(2, 2, 2, dtype=F64)),
        ValueError,
        r"initial_states",
    ),
    ("phase_plane initial_states (4,)", pp(initial_states=torch.zeros(4, dtype=F64)), ValueError, r"initial_states"),
    (
        "phase_plane initial_states (2, 1)",
        pp(initial_states=torch.zeros(2, 1, dtype=F64)),
        ValueError,
        r"initial_states",
    ),
    (
        "phase_plane initial_states NaN",
        pp(initial_states=torch.tensor([[NAN, 1.0]], dtype=F64)),
        ValueError,
        r"initial_states",
    ),
    (
        "phase_plane initial_states complex",
        pp(initial_states=torch.zeros(1, 2, dtype=torch.complex128)),
        TypeError,
        r"initial_states",
    ),
    ("phase_plane initial_states string", pp(initial_states="start"), TypeError, r"initial_states"),
    ("phase_plane u width 3", pp(u=torch.zeros(3, dtype=F64)), ValueError, r"\bu\b"),
    ("phase_plane u 2-D", pp(u=torch.zeros(2, 2, dtype=F64)), ValueError, r"\bu\b"),
    ("phase_plane u NaN", pp(u=torch.tensor([NAN, 0.0], dtype=F64)), ValueError, r"\bu\b"),
    ("phase_plane u string", pp(u="zero"), TypeError, r"\bu\b"),
    ("phase_plane 4-neuron net", pp(net=NET3, u=U3), ValueError, r"hidden_size"),
    ("phase_plane net=None", pp(net=None), TypeError, r"net"),
    (
        "phase_plane dt=-1 for a callable",
        pp(net=lambda v, h: -v + h, initial_states=torch.zeros(1, 2), dt=-1.0, u=torch.zeros(2)),
        ValueError,
        r"\bdt\b",
    ),
    (
        "phase_plane dt=nan for a callable",
        pp(net=lambda v, h: -v + h, initial_states=torch.zeros(1, 2), dt=NAN, u=torch.zeros(2)),
        ValueError,
        r"\bdt\b",
    ),
    # ---------------------------------------------------------------- analysis.jacobian
    ("jacobian v width 3", lambda: tr.analysis.jacobian(NET3, torch.zeros(1, 3), U3), ValueError, r"\bv\b"),
    ("jacobian v width 5 (1-D)", lambda: tr.analysis.jacobian(NET3, torch.zeros(5), U3), ValueError, r"\bv\b"),
    ("jacobian v 3-D", lambda: tr.analysis.jacobian(NET3, torch.zeros(2, 1, 4), U3), ValueError, r"\bv\b"),
    ("jacobian v 0-D", lambda: tr.analysis.jacobian(NET3, torch.tensor(1.0), U3), ValueError, r"\bv\b"),
    (
        "jacobian v float64 for a float32 net",
        lambda: tr.analysis.jacobian(NET3, torch.zeros(1, 4, dtype=F64), U3),
        TypeError,
        r"\bv\b.*float64",
    ),
    (
        "jacobian v complex",
        lambda: tr.analysis.jacobian(NET3, torch.zeros(1, 4, dtype=torch.complex64), U3),
        TypeError,
        r"\bv\b",
    ),
    (
        "jacobian v bool",
        lambda: tr.analysis.jacobian(NET3, torch.zeros(1, 4, dtype=torch.bool), U3),
        TypeError,
        r"\bv\b",
    ),
    ("jacobian v string", lambda: tr.analysis.jacobian(NET3, "rates", U3), TypeError, r"\bv\b"),
    ("jacobian v None", lambda: tr.analysis.jacobian(NET3, None, U3), TypeError, r"\bv\b"),
    ("jacobian v NaN", lambda: tr.analysis.jacobian(NET3, torch.full((1, 4), NAN), U3), ValueError, r"\bv\b"),
    ("jacobian v inf", lambda: tr.analysis.jacobian(NET3, torch.full((1, 4), INF), U3), ValueError, r"\bv\b"),
    ("jacobian u width 2", lambda: tr.analysis.jacobian(NET3, V, torch.zeros(2)), ValueError, r"\bu\b"),
    ("jacobian u width 4", lambda: tr.analysis.jacobian(NET3, V, torch.zeros(4)), ValueError, r"\bu\b"),
    ("jacobian u batch 3 vs v batch 1", lambda: tr.analysis.jacobian(NET3, V, torch.zeros(3, 3)), ValueError, r"\bu\b"),
    ("jacobian u 3-D", lambda: tr.analysis.jacobian(NET3, V, torch.zeros(1, 1, 3)), ValueError, r"\bu\b"),
    ("jacobian u string", lambda: tr.analysis.jacobian(NET3, V, "zero"), TypeError, r"\bu\b"),
    (
        "jacobian u complex",
        lambda: tr.analysis.jacobian(NET3, V, torch.zeros(3, dtype=torch.complex64)),
        TypeError,
        r"\bu\b",
    ),
    ("jacobian u NaN", lambda: tr.analysis.jacobian(NET3, V, torch.full((3,), NAN)), ValueError, r"\bu\b"),
    ("jacobian net=42", lambda: tr.analysis.jacobian(42, V, U3), TypeError, r"net"),
    ("jacobian net=None", lambda: tr.analysis.jacobian(None, V, U3), TypeError, r"net"),
    # ---------------------------------------------------------------- analysis.spectrum
    ("spectrum complex M", lambda: tr.analysis.spectrum(M2.to(torch.complex64)), TypeError, r"\bM\b"),
    ("spectrum (0, 0) M", lambda: tr.analysis.spectrum(torch.zeros(0, 0)), ValueError, r"\bM\b"),
    ("spectrum NaN M", lambda: tr.analysis.spectrum(torch.tensor([[NAN, 0.0], [0.0, 0.5]])), ValueError, r"\bM\b"),
    (
        "spectrum NaN M (not symmetric)",
        lambda: tr.analysis.spectrum(torch.tensor([[0.1, NAN], [0.0, 0.5]])),
        ValueError,
        r"\bM\b",
    ),
    ("spectrum inf M", lambda: tr.analysis.spectrum(torch.tensor([[INF, 0.0], [0.0, 0.5]])), ValueError, r"\bM\b"),
    ("spectrum 1-D M", lambda: tr.analysis.spectrum(torch.zeros(3)), ValueError, r"\bM\b"),
    ("spectrum (2, 3) M", lambda: tr.analysis.spectrum(torch.zeros(2, 3)), ValueError, r"\bM\b"),
    ("spectrum 0-D M", lambda: tr.analysis.spectrum(torch.tensor(0.5)), ValueError, r"\bM\b"),
    ("spectrum string M", lambda: tr.analysis.spectrum("M"), TypeError, r"\bM\b"),
    ("spectrum bool M", lambda: tr.analysis.spectrum(torch.eye(2, dtype=torch.bool)), TypeError, r"\bM\b"),
    ("spectrum tau=0", lambda: tr.analysis.spectrum(M2, tau=0.0), ValueError, r"tau"),
    ("spectrum tau=-10", lambda: tr.analysis.spectrum(M2, tau=-10.0), ValueError, r"tau"),
    ("spectrum tau=nan", lambda: tr.analysis.spectrum(M2, tau=NAN), ValueError, r"tau"),
    ("spectrum tau=inf", lambda: tr.analysis.spectrum(M2, tau=INF), ValueError, r"tau"),
    ("spectrum tau='10'", lambda: tr.analysis.spectrum(M2, tau="10"), TypeError, r"tau"),
    ("spectrum tau complex", lambda: tr.analysis.spectrum(M2, tau=10j), TypeError, r"tau"),
    ("spectrum tau per neuron", lambda: tr.analysis.spectrum(M2, tau=torch.tensor([10.0, 20.0])), ValueError, r"tau"),
    ("spectrum tol=-1", lambda: tr.analysis.spectrum(M2, tol=-1.0), ValueError, r"tol"),
    ("spectrum tol=nan", lambda: tr.analysis.spectrum(M2, tol=NAN), ValueError, r"tol"),
    ("spectrum tol='x'", lambda: tr.analysis.spectrum(M2, tol="x"), TypeError, r"tol"),
    ("Spectrum.project h width 3", lambda: _spectrum_result().project(torch.zeros(3)), ValueError, r"\bh\b"),
    ("Spectrum.steady_state h width 3", lambda: _spectrum_result().steady_state(torch.zeros(3)), ValueError, r"\bh\b"),
    # ---------------------------------------------------------------- analysis.sweep
    ("sweep make_net returns None", sweep(make_net=lambda p: None), TypeError, r"make_net"),
    ("sweep make_net returns a string", sweep(make_net=lambda p: "net"), TypeError, r"make_net"),
    ("sweep make_net a network", sweep(make_net=EI), TypeError, r"make_net"),
    ("sweep make_net=42", sweep(make_net=42), TypeError, r"make_net"),
    (
        "sweep make_net a function of unknown size",
        sweep(make_net=lambda p: lambda v, h: -v),
        ValueError,
        r"gives a system of unknown size",
    ),
    ("sweep values empty", sweep(values=[]), ValueError, r"values"),
    ("sweep values NaN", sweep(values=[30.0, NAN]), ValueError, r"values"),
    ("sweep values inf", sweep(values=[30.0, INF]), ValueError, r"values"),
    ("sweep values string", sweep(values="30,40"), TypeError, r"values"),
    ("sweep values 2-D", sweep(values=[[30.0, 35.0], [40.0, 45.0]]), ValueError, r"values"),
    ("sweep values complex", sweep(values=[30.0, 35j]), TypeError, r"values"),
    ("sweep u width 3", sweep(u=torch.zeros(3, dtype=F64)), ValueError, r"\bu\b"),
    ("sweep u 2-D", sweep(u=torch.zeros(2, 2, dtype=F64)), ValueError, r"\bu\b"),
    ("sweep u string", sweep(u="zero"), TypeError, r"\bu\b"),
    ("sweep u NaN", sweep(u=torch.tensor([NAN, 0.0], dtype=F64)), ValueError, r"\bu\b"),
    ("sweep initial_states width 3", sweep(initial_states=torch.zeros(1, 3, dtype=F64)), ValueError, r"initial_states"),
    ("sweep initial_states string", sweep(initial_states="here"), TypeError, r"initial_states"),
    ("sweep unknown option xtol", sweep(xtol=1e-9), TypeError, r"xtol"),  # Hopf points are solved by Newton
    ("sweep refine=None", sweep(refine=None), TypeError, r"refine"),
    ("sweep refine='yes'", sweep(refine="yes"), TypeError, r"refine"),
    # ---------------------------------------------------------------- analysis.bifurcation
    ("bifurcation system=None", bif(system=None), TypeError, r"system must be a function"),
    ("bifurcation system returns None", bif(system=lambda p: None), TypeError, r"system\(0\) must return"),
    ("bifurcation system returns a net", bif(system=lambda p: EI), TypeError, r"system\(0\) must return"),
    ("bifurcation one value", bif(values=[1.0]), ValueError, r"values must hold at least two"),
    ("bifurcation values NaN", bif(values=[0.0, NAN]), ValueError, r"values must be finite"),
    ("bifurcation max_step=-1", bif(max_step=-1.0), ValueError, r"max_step"),
    ("bifurcation max_turn=0", bif(max_turn=0.0), ValueError, r"max_turn"),
    ("bifurcation max_points=1", bif(max_points=1), ValueError, r"max_points"),
    ("bifurcation seeds=0", bif(seeds=0), ValueError, r"seeds"),
    ("bifurcation seeds outside values", bif(seeds=[5.0]), ValueError, r"seeds must lie within"),
    (
        "bifurcation initial_states width 3",
        bif(initial_states=torch.zeros(1, 3, dtype=F64)),
        ValueError,
        r"initial_states must have shape \(K, 2\)",
    ),
    ("bifurcation refine='yes'", bif(refine="yes"), TypeError, r"refine"),
    ("bifurcation u width 3", bif(system=lambda p: (EI, torch.zeros(3, dtype=F64))), ValueError, r"\bu must"),
    ("plot_bifurcation of a string", _fig("plot_bifurcation", "bif"), TypeError, r"bif must be a Bifurcation"),
    # ---------------------------------------------------------------- linear
    ("linear.solve complex M", lambda: tr.linear.solve(M2.to(torch.complex64), H2, T, tau=10.0), TypeError, r"\bM\b"),
    (
        "linear.solve NaN M",
        lambda: tr.linear.solve(torch.tensor([[NAN, 0.0], [0.0, 0.1]]), H2, T, tau=10.0),
        ValueError,
        r"\bM\b",
    ),
    (
        "linear.solve (0, 0) M",
        lambda: tr.linear.solve(torch.zeros(0, 0), torch.zeros(0), T, tau=10.0),
        ValueError,
        r"\bM\b",
    ),
    ("linear.solve (2, 3) M", lambda: tr.linear.solve(torch.zeros(2, 3), H2, T, tau=10.0), ValueError, r"\bM\b"),
    ("linear.solve string M", lambda: tr.linear.solve("M", H2, T, tau=10.0), TypeError, r"\bM\b"),
    ("linear.solve h width 3", lambda: tr.linear.solve(M2, torch.zeros(3), T, tau=10.0), ValueError, r"\bh\b"),
    ("linear.solve h 0-D", lambda: tr.linear.solve(M2, torch.tensor(1.0), T, tau=10.0), ValueError, r"\bh\b"),
    ("linear.solve h NaN", lambda: tr.linear.solve(M2, torch.tensor([NAN, 0.0]), T, tau=10.0), ValueError, r"\bh\b"),
    ("linear.solve h complex", lambda: tr.linear.solve(M2, H2.to(torch.complex64), T, tau=10.0), TypeError, r"\bh\b"),
    ("linear.solve h string", lambda: tr.linear.solve(M2, "h", T, tau=10.0), TypeError, r"\bh\b"),
    ("linear.solve t NaN", lambda: tr.linear.solve(M2, H2, [0.0, NAN], tau=10.0), ValueError, r"\bt\b"),
    ("linear.solve t inf", lambda: tr.linear.solve(M2, H2, [0.0, INF], tau=10.0), ValueError, r"\bt\b"),
    ("linear.solve t string", lambda: tr.linear.solve(M2, H2, "0..10", tau=10.0), TypeError, r"\bt\b"),
    ("linear.solve t complex", lambda: tr.linear.solve(M2, H2, [0.0, 1j], tau=10.0), TypeError, r"\bt\b"),
    ("linear.solve tau=0", lambda: tr.linear.solve(M2, H2, T, tau=0.0), ValueError, r"tau"),
    ("linear.solve tau=-1", lambda: tr.linear.solve(M2, H2, T, tau=-1.0), ValueError, r"tau"),
    ("linear.solve tau=nan", lambda: tr.linear.solve(M2, H2, T, tau=NAN), ValueError, r"tau"),
    ("linear.solve tau=inf", lambda: tr.linear.solve(M2, H2, T, tau=INF), ValueError, r"tau"),
    ("linear.solve tau shape (3,)", lambda: tr.linear.solve(M2, H2, T, tau=torch.ones(3)), ValueError, r"tau"),
    ("linear.solve tau='10'", lambda: tr.linear.solve(M2, H2, T, tau="10"), TypeError, r"tau"),
    ("linear.solve v0 width 3", lambda: tr.linear.solve(M2, H2, T, tau=10.0, v0=torch.zeros(3)), ValueError, r"v0"),
    (
        "linear.solve v0 NaN",
        lambda: tr.linear.solve(M2, H2, T, tau=10.0, v0=torch.tensor([NAN, 0.0])),
        ValueError,
        r"v0",
    ),
    ("linear.solve v0 list of strings", lambda: tr.linear.solve(M2, H2, T, tau=10.0, v0=["a", "b"]), TypeError, r"v0"),
    ("linear.solve method='rk4'", lambda: tr.linear.solve(M2, H2, T, tau=10.0, method="rk4"), ValueError, r"method"),
    ("linear.steady_state complex M", lambda: tr.linear.steady_state(M2.to(torch.complex64), H2), TypeError, r"\bM\b"),
    (
        "linear.steady_state NaN M",
        lambda: tr.linear.steady_state(torch.tensor([[NAN, 0.0], [0.0, 0.1]]), H2),
        ValueError,
        r"\bM\b",
    ),
    ("linear.steady_state h width 3", lambda: tr.linear.steady_state(M2, torch.zeros(3)), ValueError, r"\bh\b"),
    ("linear.steady_state h NaN", lambda: tr.linear.steady_state(M2, torch.tensor([NAN, 1.0])), ValueError, r"\bh\b"),
    ("linear.steady_state unstable M", lambda: tr.linear.steady_state(2 * torch.eye(2), H2), ValueError, r"λ"),
    # ---------------------------------------------------------------- plotting
    ("plot_spectrum string", _fig("plot_spectrum", "eigenvalues"), TypeError, r"spectrum"),
    ("plot_spectrum None", _fig("plot_spectrum", None), TypeError, r"spectrum"),
    ("plot_spectrum ax='left'", _fig("plot_spectrum", _spectrum_result(), "left"), TypeError, r"\bax\b"),
    ("plot_phase_plane None", _fig("plot_phase_plane", None), TypeError, r"\bpp\b"),
    ("plot_phase_plane a Spectrum", _fig("plot_phase_plane", _spectrum_result()), TypeError, r"\bpp\b"),
    ("plot_fixed_points None", _fig("plot_fixed_points", None), TypeError, r"fps"),
    ("plot_sweep None", _fig("plot_sweep", None), TypeError, r"\bsw\b"),
    # ---------------------------------------------------------------- tasks: constructors
    (
        "PerceptualDecision input_noise=nan",
        task_call("PerceptualDecision", input_noise=NAN),
        ValueError,
        r"input_noise",
    ),
    (
        "PerceptualDecision input_noise=inf",
        task_call("PerceptualDecision", input_noise=INF),
        ValueError,
        r"input_noise",
    ),
    (
        "PerceptualDecision input_noise=-1",
        task_call("PerceptualDecision", input_noise=-1.0),
        ValueError,
        r"input_noise",
    ),
    (
        "PerceptualDecision input_noise='0.5'",
        task_call("PerceptualDecision", input_noise="0.5"),
        TypeError,
        r"input_noise",
    ),
    ("PerceptualDecision dt=nan", task_call("PerceptualDecision", dt=NAN), ValueError, r"\bdt\b"),
    ("PerceptualDecision dt=inf", task_call("PerceptualDecision", dt=INF), ValueError, r"\bdt\b"),
    ("PerceptualDecision dt=0", task_call("PerceptualDecision", dt=0.0), ValueError, r"\bdt\b"),
    ("PerceptualDecision dt='20'", task_call("PerceptualDecision", dt="20"), TypeError, r"\bdt\b"),
    ("PerceptualDecision dt=True", task_call("PerceptualDecision", dt=True), TypeError, r"\bdt\b"),
    ("PerceptualDecision stimulus=nan", task_call("PerceptualDecision", stimulus=NAN), ValueError, r"stimulus"),
    ("PerceptualDecision stimulus=inf", task_call("PerceptualDecision", stimulus=INF), ValueError, r"stimulus"),
    ("PerceptualDecision stimulus=0", task_call("PerceptualDecision", stimulus=0.0), ValueError, r"stimulus"),
    (
        "PerceptualDecision stimulus=510 (not k·dt)",
        task_call("PerceptualDecision", stimulus=510.0),
        ValueError,
        r"stimulus",
    ),
    ("PerceptualDecision fixation=-20", task_call("PerceptualDecision", fixation=-20.0), ValueError, r"fixation"),
    ("PerceptualDecision delay='0'", task_call("PerceptualDecision", delay="0"), TypeError, r"delay"),
    ("PerceptualDecision decision=0", task_call("PerceptualDecision", decision=0.0), ValueError, r"decision"),
    ("PerceptualDecision coherences=()", task_call("PerceptualDecision", coherences=()), ValueError, r"coherences"),
    (
        "PerceptualDecision coherences=(1.5,)",
        task_call("PerceptualDecision", coherences=(1.5,)),
        ValueError,
        r"coherences",
    ),
    (
        "PerceptualDecision coherences=(nan,)",
        task_call("PerceptualDecision", coherences=(NAN,)),
        ValueError,
        r"coherences",
    ),
    (
        "PerceptualDecision coherences='0.5'",
        task_call("PerceptualDecision", coherences="0.5"),
        TypeError,
        r"coherences",
    ),
    ("PerceptualDecision coherences=0.5", task_call("PerceptualDecision", coherences=0.5), TypeError, r"coherences"),
    ("WinnerTakeAll n_inputs=1", task_call("WinnerTakeAll", n_inputs=1), ValueError, r"n_inputs"),
    ("WinnerTakeAll n_inputs=2.5", task_call("WinnerTakeAll", n_inputs=2.5), TypeError, r"n_inputs"),
    ("WinnerTakeAll n_inputs=True", task_call("WinnerTakeAll", n_inputs=True), TypeError, r"n_inputs"),
    (
        "WinnerTakeAll amplitude_range=(1, 0)",
        task_call("WinnerTakeAll", amplitude_range=(1.0, 0.0)),
        ValueError,
        r"amplitude_range",
    ),
    (
        "WinnerTakeAll amplitude_range=(0, nan)",
        task_call("WinnerTakeAll", amplitude_range=(0.0, NAN)),
        ValueError,
        r"amplitude_range",
    ),
    (
        "WinnerTakeAll amplitude_range=(0, inf)",
        task_call("WinnerTakeAll", amplitude_range=(0.0, INF)),
        ValueError,
        r"amplitude_range",
    ),
    (
        "WinnerTakeAll amplitude_range 3 values",
        task_call("WinnerTakeAll", amplitude_range=(0.0, 0.5, 1.0)),
        ValueError,
        r"amplitude_range",
    ),
    (
        "WinnerTakeAll amplitude_range=0.5",
        task_call("WinnerTakeAll", amplitude_range=0.5),
        TypeError,
        r"amplitude_range",
    ),
    ("WinnerTakeAll input_noise=nan", task_call("WinnerTakeAll", input_noise=NAN), ValueError, r"input_noise"),
    ("WinnerTakeAll memory=0", task_call("WinnerTakeAll", memory=0.0), ValueError, r"memory"),
    ("WinnerTakeAll stimulus=nan", task_call("WinnerTakeAll", stimulus=NAN), ValueError, r"stimulus"),
    ("Integration pulse_rate=nan", task_call("Integration", pulse_rate=NAN), ValueError, r"pulse_rate"),
    ("Integration pulse_rate=-0.01", task_call("Integration", pulse_rate=-0.01), ValueError, r"pulse_rate"),
    ("Integration pulse_rate=1 (p·dt > 1)", task_call("Integration", pulse_rate=1.0), ValueError, r"pulse_rate"),
    ("Integration gain=nan", task_call("Integration", gain=NAN), ValueError, r"gain"),
    ("Integration gain=inf", task_call("Integration", gain=INF), ValueError, r"gain"),
    ("Integration gain='x'", task_call("Integration", gain="x"), TypeError, r"gain"),
    ("Integration input_noise=nan", task_call("Integration", input_noise=NAN), ValueError, r"input_noise"),
    ("Integration input_noise=-1", task_call("Integration", input_noise=-1.0), ValueError, r"input_noise"),
    ("Integration hold=0", task_call("Integration", hold=0.0), ValueError, r"hold"),
    ("Integration stimulus=-10", task_call("Integration", stimulus=-10.0), ValueError, r"stimulus"),
    ("FlipFlop n_bits=0", task_call("FlipFlop", n_bits=0), ValueError, r"n_bits"),
    ("FlipFlop n_bits=2.5", task_call("FlipFlop", n_bits=2.5), TypeError, r"n_bits"),
    ("FlipFlop n_bits='3'", task_call("FlipFlop", n_bits="3"), TypeError, r"n_bits"),
    ("FlipFlop pulse_rate=nan", task_call("FlipFlop", pulse_rate=NAN), ValueError, r"pulse_rate"),
    ("FlipFlop pulse_rate=inf", task_call("FlipFlop", pulse_rate=INF), ValueError, r"pulse_rate"),
    ("FlipFlop duration=nan", task_call("FlipFlop", duration=NAN), ValueError, r"duration"),
    ("FlipFlop duration=0", task_call("FlipFlop", duration=0.0), ValueError, r"duration"),
    ("FlipFlop grace=-10", task_call("FlipFlop", grace=-10.0), ValueError, r"grace"),
    ("FlipFlop grace=nan", task_call("FlipFlop", grace=NAN), ValueError, r"grace"),
    ("FlipFlop dt=-10", task_call("FlipFlop", dt=-10.0), ValueError, r"\bdt\b"),
    # ---------------------------------------------------------------- tasks: sample / evaluate
    ("Task.sample batch_size=0", _sample(batch_size=0), ValueError, r"batch_size"),
    ("Task.sample batch_size=-1", _sample(batch_size=-1), ValueError, r"batch_size"),
    ("Task.sample batch_size=2.5", _sample(batch_size=2.5), TypeError, r"batch_size"),
    ("Task.sample batch_size='4'", _sample(batch_size="4"), TypeError, r"batch_size"),
    ("Task.sample batch_size=True", _sample(batch_size=True), TypeError, r"batch_size"),
    ("Task.sample dtype=int64", _sample(dtype=torch.int64), TypeError, r"dtype"),
    ("Task.sample dtype=complex64", _sample(dtype=torch.complex64), TypeError, r"dtype"),
    ("Task.sample dtype='float32'", _sample(dtype="float32"), TypeError, r"dtype"),
    ("Task.sample generator=0", _sample(generator=0), TypeError, r"generator"),
    ("FlipFlop.evaluate all-zero mask", _flipflop_eval(0.0), ValueError, r"mask"),
    ("FlipFlop.evaluate negative mask", _flipflop_eval(-1.0), ValueError, r"mask"),
    ("FlipFlop.evaluate NaN mask", _flipflop_eval(NAN), ValueError, r"mask"),
    ("PerceptualDecision.evaluate all-zero mask", _decision_eval(0.0, True), ValueError, r"mask"),
    ("PerceptualDecision.evaluate all-zero mask, no conditions", _decision_eval(0.0, False), ValueError, r"mask"),
    ("WinnerTakeAll.evaluate all-zero mask", _wta_eval(), ValueError, r"mask"),
    ("Integration.evaluate all-zero mask", _integration_eval(), ValueError, r"mask"),
    (
        "FlipFlop.evaluate shape mismatch",
        lambda: tr.tasks.FlipFlop(n_bits=2).evaluate(torch.zeros(5, 2, 3), torch.zeros(5, 2, 2), torch.ones(5, 2, 2)),
        ValueError,
        r"outputs",
    ),
    # ---------------------------------------------------------------- training
    ("TaskModule lr=-1", _module(lr=-1.0), ValueError, r"\blr\b"),
    ("TaskModule lr=nan", _module(lr=NAN), ValueError, r"\blr\b"),
    ("TaskModule lr=inf", _module(lr=INF), ValueError, r"\blr\b"),
    ("TaskModule lr='0.1'", _module(lr="0.1"), TypeError, r"\blr\b"),
    ("TaskModule weight_decay=nan", _module(weight_decay=NAN), ValueError, r"weight_decay"),
    ("TaskModule rate_l2=-1", _module(rate_l2=-1.0), ValueError, r"rate_l2"),
    ("TaskModule weight_l2=inf", _module(weight_l2=INF), ValueError, r"weight_l2"),
    ("TaskModule grad_clip=0", _module(grad_clip=0.0), ValueError, r"grad_clip"),
    ("TaskModule grad_clip=nan", _module(grad_clip=NAN), ValueError, r"grad_clip"),
    ("TaskModule grad_clip='1'", _module(grad_clip="1"), TypeError, r"grad_clip"),
    ("TaskModule task='flipflop'", _module(task="flipflop"), TypeError, r"task"),
    ("TaskModule network=None", _module(network=None), TypeError, r"network"),
    (
        "TaskModule network dt mismatch",
        _module(network={"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": 4, "dt": 20.0}}),
        ValueError,
        r"dt",
    ),
    (
        "TaskModule network unknown class",
        _module(network={"class_path": "torchrate.NoSuchNet", "init_args": {}}),
        ImportError,
        r"NoSuchNet",
    ),
    (
        "TaskModule network extra key",
        _module(network={"class_path": "torchrate.RateRNN", "init_args": {}, "args": 1}),
        TypeError,
        r"'args'",
    ),
    (
        "TaskModule network os.system (outside the allow-list)",
        _module(network={"class_path": "os.system", "init_args": {"command": "true"}}),
        ValueError,
        r"'os\.system', which is not allowed",
    ),
    (
        "TaskModule network a torchrate function",
        _module(network={"class_path": "torchrate.training.module.masked_mse", "init_args": {}}),
        TypeError,
        r"'torchrate\.training\.module\.masked_mse' is not a torchrate\.networks\.RateRNN",
    ),
    (
        "TaskModule network class_path not dotted",
        _module(network={"class_path": "RateRNN", "init_args": {}}),
        ValueError,
        r"'RateRNN', which is not allowed",
    ),
    ("allow a function", lambda: tr.training.allow(print), TypeError, r"allow\(\) takes a class"),
    ("allow a bad name", lambda: tr.training.allow(tr.RateRNN, "not a path"), ValueError, r"'not a path'"),
]


def _cli_cases():
    """CLI cases need files: built lazily in tmp directories."""
    import tempfile
    from pathlib import Path

    from torchrate.cli import main

    def run(args):
        return lambda: main(args)

    def with_file(text, args_of):
        def call():
            with tempfile.TemporaryDirectory() as d:
                path = Path(d) / "config.yaml"
                path.write_text(text)
                main(args_of(str(path), d))

        return call

    def checkpoint(content: bytes):
        def call():
            with tempfile.TemporaryDirectory() as d:
                path = Path(d) / "run.ckpt"
                path.write_bytes(content)
                main(["analyze", str(path), "--out", str(Path(d) / "a")])

        return call

    return [
        ("fit empty config", with_file("", lambda p, d: ["fit", "--config", p]), ValueError, r"config.*empty"),
        (
            "fit config of comments only",
            with_file("# nothing\n", lambda p, d: ["fit", "--config", p]),
            ValueError,
            r"config.*empty",
        ),
        (
            "fit config a YAML list",
            with_file("- 1\n- 2\n", lambda p, d: ["fit", "--config", p]),
            ValueError,
            r"config.*mapping",
        ),
        (
            "analyze missing checkpoint",
            run(["analyze", "/nonexistent/x.ckpt", "--out", "/tmp/x"]),
            FileNotFoundError,
            r"x\.ckpt",
        ),
        ("analyze a text file", checkpoint(b"not a checkpoint"), ValueError, r"run\.ckpt"),
        ("analyze an empty file", checkpoint(b""), ValueError, r"run\.ckpt"),
        ("analyze a truncated zip", checkpoint(b"PK\x03\x04" + b"\0" * 40), ValueError, r"run\.ckpt"),
        (
            "fit network os.system",
            with_file(
                "model:\n  network:\n    class_path: os.system\n    init_args: {command: 'true'}\n",
                lambda p, d: ["fit", "--config", p],
            ),
            ValueError,
            r"model\.network\.class_path 'os\.system' is not allowed",
        ),
        (
            "fit network subprocess.Popen",
            with_file(
                "model:\n  network:\n    class_path: subprocess.Popen\n    init_args: {args: 'true'}\n",
                lambda p, d: ["fit", "--config", p],
            ),
            ValueError,
            r"model\.network\.class_path 'subprocess\.Popen'",
        ),
        ("TaskModule.load_from_checkpoint a text file", lambda: _load_text_as_checkpoint(), ValueError, r"junk\.ckpt"),
    ]


def _load_text_as_checkpoint():
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "junk.ckpt"
        path.write_text("not a checkpoint")
        tr.training.TaskModule.load_from_checkpoint(path)


CLI_ARGPARSE = [  # argparse errors: SystemExit(2), the option named on stderr
    ("analyze --trials 0", ["analyze", "x.ckpt", "--out", "o", "--trials", "0"], r"--trials"),
    ("analyze --trials -1", ["analyze", "x.ckpt", "--out", "o", "--trials", "-1"], r"--trials"),
    ("analyze --trials 1.5", ["analyze", "x.ckpt", "--out", "o", "--trials", "1.5"], r"--trials"),
    ("analyze --threads 0", ["analyze", "x.ckpt", "--out", "o", "--threads", "0"], r"--threads"),
    ("analyze --threads -2", ["analyze", "x.ckpt", "--out", "o", "--threads", "-2"], r"--threads"),
    ("analyze without --out", ["analyze", "x.ckpt"], r"--out"),
    ("export without --out", ["export", "x.ckpt"], r"--out"),
    ("export without a checkpoint", ["export", "--out", "w.npz"], r"checkpoint"),
]


# ---- models
def net(*args, **kw):
    return lambda: tr.RateRNN(*(args or (3, 4)), **kw)


def ei(*args, **kw):
    return lambda: tr.EIRateRNN(*(args or (2, 3, 1)), **kw)


def fw(M, **kw):
    kw = {"tau": 10.0, "dt": 1.0} | kw
    return lambda: tr.RateRNN.from_weights(M, **kw)


def eifw(M, n_exc=1, **kw):
    kw = {"tau_e": 10.0, "tau_i": 5.0, "dt": 1.0} | kw
    return lambda: tr.EIRateRNN.from_weights(M, n_exc, **kw)


def call(u, hx=None, network=NET3):
    return lambda: network(u, hx) if hx is not None else network(u)


def _nan_weights_dopri5():
    network = tr.RateRNN(2, 3, solver="dopri5")
    with torch.no_grad():
        network.weight_hh_l0[0, 0] = NAN
    return network(torch.zeros(5, 2, 2))


Z2 = torch.zeros(2, 2)
MODEL_CASES = [
    # ---------------------------------------------------------------- RateRNN(...)
    ("RateRNN tau=inf", net(tau=INF), ValueError, r"tau must be positive and finite"),
    ("RateRNN tau=nan", net(tau=NAN), ValueError, r"tau must be positive and finite"),
    ("RateRNN tau=0", net(tau=0.0), ValueError, r"tau must be positive"),
    ("RateRNN tau=-1", net(tau=-1.0), ValueError, r"tau must be positive"),
    ("RateRNN tau='10'", net(tau="10"), TypeError, r"tau must be a number"),
    ("RateRNN tau list of 2", net(tau=[1.0, 2.0]), TypeError, r"tau must be a number or a tensor"),
    ("RateRNN tau of wrong shape", net(tau=torch.ones(3)), ValueError, r"tau must be a scalar or of shape \(4,\)"),
    ("RateRNN tau (N,) with a zero", net(tau=torch.tensor([1.0, 0.0, 1.0, 1.0])), ValueError, r"tau\[1\] = 0"),
    ("RateRNN tau complex", net(tau=torch.ones(4, dtype=torch.complex64)), TypeError, r"tau must be real"),
    ("RateRNN dt=0", net(dt=0.0), ValueError, r"dt must be a positive finite number, got 0.0"),
    ("RateRNN dt=-1", net(dt=-1.0), ValueError, r"dt must be"),
    ("RateRNN dt=nan", net(dt=NAN), ValueError, r"dt must be"),
    ("RateRNN dt=inf", net(dt=INF), ValueError, r"dt must be"),
    ("RateRNN dt='1'", net(dt="1"), TypeError, r"dt must be a real number"),
    ("RateRNN noise_std=nan", net(noise_std=NAN), ValueError, r"noise_std must be"),
    ("RateRNN noise_std=-1", net(noise_std=-1.0), ValueError, r"noise_std must be"),
    ("RateRNN noise_std=inf", net(noise_std=INF), ValueError, r"noise_std must be"),
    ("RateRNN gain=-1", net(gain=-1.0), ValueError, r"gain must be"),
    ("RateRNN gain=0", net(gain=0.0), ValueError, r"gain must be"),
    ("RateRNN gain=nan", net(gain=NAN), ValueError, r"gain must be"),
    ("RateRNN rtol=-1", net(rtol=-1.0, solver="dopri5"), ValueError, r"rtol must be"),
    ("RateRNN atol=0", net(atol=0.0, solver="dopri5"), ValueError, r"atol must be"),
    ("RateRNN rtol=nan", net(rtol=NAN), ValueError, r"rtol must be"),
    ("RateRNN input_size=0", net(0, 4), ValueError, r"input_size must be an integer ≥ 1, got 0"),
    ("RateRNN input_size=2.5", net(2.5, 4), TypeError, r"input_size must be an integer, got 2.5"),
    ("RateRNN input_size=True", net(True, 4), TypeError, r"input_size must be an integer, got True"),
    ("RateRNN hidden_size=0", net(3, 0), ValueError, r"hidden_size must be an integer ≥ 1"),
    ("RateRNN hidden_size=-2", net(3, -2), ValueError, r"hidden_size must be an integer ≥ 1, got -2"),
    ("RateRNN num_layers=0", net(3, 4, 0), ValueError, r"num_layers must be an integer ≥ 1"),
    ("RateRNN dropout=1", net(3, 4, 2, dropout=1.0), ValueError, r"dropout must be a probability in \[0, 1\)"),
    ("RateRNN dropout=-0.1", net(3, 4, 2, dropout=-0.1), ValueError, r"dropout must be"),
    ("RateRNN dropout=nan", net(3, 4, 2, dropout=NAN), ValueError, r"dropout must be"),
    ("RateRNN bias='yes'", net(bias="yes"), TypeError, r"bias must be True or False"),
    ("RateRNN bidirectional=1", net(bidirectional=1), TypeError, r"bidirectional must be True or False"),
    ("RateRNN train_tau=None", net(train_tau=None), TypeError, r"train_tau must be True or False"),
    ("RateRNN nonlinearity='rectify'", net(nonlinearity="rectify"), ValueError, r"unknown nonlinearity 'rectify'"),
    ("RateRNN nonlinearity=3", net(nonlinearity=3), TypeError, r"nonlinearity must be a name or a callable"),
    ("RateRNN solver='rk45'", net(solver="rk45"), ValueError, r"unknown solver 'rk45'"),
    ("RateRNN noise with dopri5", net(noise_std=0.1, solver="dopri5"), ValueError, r"noise_std=0.1 needs solver"),
    ("RateRNN adjoint with euler", net(adjoint=True), ValueError, r"adjoint=True applies to torchdiffeq"),
    ("RateRNN ode_options='x'", net(solver="rk4", ode_options="x"), TypeError, r"ode_options must be a dict"),
    ("RateRNN dtype=int64", net(dtype=torch.int64), TypeError, r"dtype must be a real floating-point dtype"),
    ("RateRNN dtype=complex64", net(dtype=torch.complex64), TypeError, r"dtype must be a real floating-point"),
    ("RateRNN connectivity float", net(connectivity=torch.ones(4, 4)), TypeError, r"connectivity must be a bool"),
    (
        "RateRNN connectivity (3, 3)",
        net(connectivity=torch.ones(3, 3, dtype=torch.bool)),
        ValueError,
        r"connectivity must have shape \(4, 4\)",
    ),
    # ---------------------------------------------------------------- forward / step
    ("forward input list", call([[0.0] * 3] * 5), TypeError, r"input must be a Tensor or PackedSequence"),
    ("forward input 4-D", call(torch.zeros(5, 2, 1, 3)), ValueError, r"input must be \(T, B, 3\)"),
    ("forward input 1-D", call(torch.zeros(3)), ValueError, r"input must be \(T, B, 3\)"),
    ("forward input width 4", call(torch.zeros(5, 2, 4)), ValueError, r"input.size\(-1\) must be equal to input_size"),
    ("forward input float64", call(torch.zeros(5, 2, 3, dtype=F64)), TypeError, r"input dtype torch.float64"),
    ("forward input int", call(torch.zeros(5, 2, 3, dtype=torch.long)), TypeError, r"input dtype torch.int64"),
    ("forward input NaN", call(torch.full((5, 2, 3), NAN)), tr.NonFiniteRatesError, r"the input contains NaN"),
    ("forward hx list", call(torch.zeros(5, 2, 3), [[0.0] * 4] * 2), TypeError, r"hx must be a Tensor"),
    ("forward hx (B, N)", call(torch.zeros(5, 2, 3), torch.zeros(2, 4)), ValueError, r"hx must have shape"),
    ("forward hx wrong N", call(torch.zeros(5, 2, 3), torch.zeros(1, 2, 5)), ValueError, r"hx must have shape"),
    (
        "forward hx float64",
        call(torch.zeros(5, 2, 3), torch.zeros(1, 2, 4, dtype=F64)),
        TypeError,
        r"hx dtype torch.float64",
    ),
    ("forward hx unbatched wrong", call(torch.zeros(5, 3), torch.zeros(2, 4)), ValueError, r"hx must have shape"),
    ("step v wrong width", lambda: NET3.step(torch.zeros(2, 5), torch.zeros(2, 3)), ValueError, r"v must be"),
    ("step u wrong width", lambda: NET3.step(torch.zeros(2, 4), torch.zeros(2, 2)), ValueError, r"u must be"),
    ("step u list", lambda: NET3.step(torch.zeros(2, 4), [0.0, 0.0, 0.0]), ValueError, r"u must be a Tensor"),
    # ---------------------------------------------------------------- ODE solvers
    ("dopri5 NaN weights", _nan_weights_dopri5, ValueError, r"weight_hh_l0 contains NaN"),
    (
        "dopri5 NaN hx",
        call(torch.zeros(5, 2, 3), torch.full((1, 2, 4), NAN), tr.RateRNN(3, 4, solver="dopri5")),
        ValueError,
        r"hx contains NaN",
    ),
    (
        "dopri5 tau=1e-5",
        call(torch.randn(3, 2, 3), network=tr.RateRNN(3, 4, tau=1e-5, solver="dopri5")),
        tr.solvers.SolverBudgetError,
        r"too stiff .*max_evals",
    ),
    # ---------------------------------------------------------------- from_weights
    ("from_weights M complex", fw(torch.eye(2, dtype=torch.complex64)), TypeError, r"M must be real, got a complex"),
    ("from_weights M 0-d", fw(torch.tensor(1.0)), ValueError, r"M must be a square matrix \(N, N\), got shape \(\)"),
    ("from_weights M (0, 0)", fw(torch.zeros(0, 0)), ValueError, r"M must have at least one neuron"),
    ("from_weights M (2, 3)", fw(torch.zeros(2, 3)), ValueError, r"M must be a square matrix"),
    (
        "from_weights M NaN",
        fw(torch.tensor([[0.0, NAN], [0.0, 0.0]])),
        ValueError,
        r"M must be finite.*M\[0, 1\] = nan",
    ),
    ("from_weights M string", fw("eye"), TypeError, r"M must be a real tensor or array of numbers, got 'eye'"),
    ("from_weights b wrong length", fw(Z2, b=torch.zeros(3)), ValueError, r"b must have shape \(2,\)"),
    ("from_weights b NaN", fw(Z2, b=torch.tensor([0.0, NAN])), ValueError, r"b must be finite"),
    ("from_weights W wrong rows", fw(Z2, W=torch.zeros(3, 1)), ValueError, r"W must have shape \(2, I\), got \(3, 1\)"),
    ("from_weights W NaN", fw(Z2, W=torch.tensor([[NAN], [0.0]])), ValueError, r"W must be finite"),
    ("from_weights tau=0", fw(Z2, tau=0.0), ValueError, r"tau must be positive"),
    ("from_weights unknown kwarg", fw(Z2, speed=2), TypeError, r"speed"),
    ("from_rnn of an LSTM", lambda: tr.RateRNN.from_rnn(torch.nn.LSTM(2, 3)), TypeError, r"rnn must be a torch.nn.RNN"),
    ("layer(5)", lambda: NET3.layer(5), ValueError, r"no layer 5"),
    # ---------------------------------------------------------------- EIRateRNN
    ("EIRateRNN n_exc=2.5", ei(2, 2.5, 1), TypeError, r"n_exc must be an integer, got 2.5"),
    ("EIRateRNN n_exc=-1", ei(2, -1, 1), ValueError, r"n_exc must be an integer ≥ 0, got -1"),
    ("EIRateRNN n_inh=-1", ei(2, 3, -1), ValueError, r"n_inh must be an integer ≥ 0, got -1"),
    ("EIRateRNN no neurons", ei(2, 0, 0), ValueError, r"n_exc \+ n_inh must be ≥ 1"),
    ("EIRateRNN tau_e=0", ei(tau_e=0.0), ValueError, r"tau_e must be"),
    ("EIRateRNN tau_i=nan", ei(tau_i=NAN), ValueError, r"tau_i must be"),
    ("EIRateRNN tau=5", ei(tau=5.0), TypeError, r"pass tau_e and tau_i"),
    ("EIRateRNN num_layers=2", ei(num_layers=2), TypeError, r"one layer in one direction"),
    ("EIRateRNN input_mask='some'", ei(input_mask="some"), ValueError, r"input_mask must be 'all', 'exc'"),
    (
        "EIRateRNN input_mask (3,)",
        ei(input_mask=torch.ones(3, dtype=torch.bool)),
        ValueError,
        r"input_mask must have shape \(4,\)",
    ),
    (
        "EI from_weights breaks Dale",
        eifw(torch.tensor([[0.0, 0.5], [0.0, 0.0]])),
        ValueError,
        r"M\[0, 1\] = 0.5, but neuron 1 is inhibitory",
    ),
    ("EI from_weights NaN in M", eifw(torch.tensor([[0.0, -1.0], [NAN, 0.0]])), ValueError, r"M\[1, 0\] = nan"),
    ("EI from_weights n_exc=3 of 2", eifw(Z2, 3), ValueError, r"n_exc must be an integer in \[0, 2\]"),
    ("EI from_weights n_exc=0.5", eifw(Z2, 0.5), TypeError, r"n_exc must be an integer, got 0.5"),
    (
        "EI from_weights M complex",
        eifw(torch.eye(2, dtype=torch.complex64)),
        TypeError,
        r"M must be real, got a complex",
    ),
    ("EI from_weights M (2, 3)", eifw(torch.zeros(2, 3)), ValueError, r"M must be a square matrix"),
]


# ---- reliability: ensembles, loading, callables, NeuroGym, curriculum
def _ens(layers=1, **kw):
    return tr.Ensemble([tr.RateRNN(3, 4, layers, generator=torch.Generator().manual_seed(k), **kw) for k in range(2)])


def _load_other_split():
    tr.EIRateRNN(3, 2, 2).load_state_dict(tr.EIRateRNN(3, 3, 1).state_dict())


def _as_error(build):
    """``build()`` with warnings raised as errors (a warning is the 'clear error' of a legal but odd call)."""
    import warnings

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            build()

    return run


def _curriculum_stage_dt():
    from types import SimpleNamespace

    from torchrate.training.curriculum import Curriculum

    task = tr.tasks.PerceptualDecision(dt=20.0)
    module = SimpleNamespace(task=task, network=tr.RateRNN(3, 4, tau=100.0, dt=20.0))
    trainer = SimpleNamespace(datamodule=None, loggers=[], global_step=0)
    Curriculum([{"dt": 10.0}, {}]).on_fit_start(trainer, module)


def _ngym(**kw):
    return lambda: tr.tasks.NeuroGym("PerceptualDecisionMaking-v0", dt=kw.pop("dt", 100), **kw)


def _curriculum(**kw):
    from torchrate.training.curriculum import Curriculum

    return lambda: Curriculum([{}, {}], **kw)


_GRU = torch.nn.GRU(2, 3)
_MAP = lambda v, u: v  # noqa: E731

RELIABILITY_CASES = [
    # ---- systems (tr.systems): the objects every analysis consumes
    ("as_system obj a string", lambda: tr.systems.as_system("gru"), TypeError, r"cannot analyse a str"),
    (
        "as_system time='map'",
        lambda: tr.systems.as_system(NET3, time="map"),
        ValueError,
        r"time must be 'continuous', 'discrete' or None",
    ),
    (
        "as_system time='continuous' for a GRU",
        lambda: tr.systems.as_system(_GRU, time="continuous"),
        ValueError,
        r"discrete-time system; time='continuous' needs an Euler network",
    ),
    (
        "as_system of a bidirectional GRU",
        lambda: tr.systems.as_system(torch.nn.GRU(2, 3, bidirectional=True)),
        ValueError,
        r"bidirectional",
    ),
    (
        "TorchRNNMap module an nn.Linear",
        lambda: tr.systems.TorchRNNMap(torch.nn.Linear(2, 2)),
        TypeError,
        r"expected a torch.nn RNN/GRU/LSTM or cell",
    ),
    ("Flow f None", lambda: tr.systems.Flow(None, 2, 2), TypeError, r"f must be a callable"),
    ("Map step 3", lambda: tr.systems.Map(3, 2, 2), TypeError, r"step must be a callable"),
    ("Flow state_size=0", lambda: tr.systems.Flow(_MAP, 0, 2), ValueError, r"state_size must be"),
    ("Map state_size=2.5", lambda: tr.systems.Map(_MAP, 2.5, 2), TypeError, r"state_size must be an integer"),
    ("Flow input_size=-1", lambda: tr.systems.Flow(_MAP, 2, -1), ValueError, r"input_size must be"),
    ("Map input_size='2'", lambda: tr.systems.Map(_MAP, 2, "2"), TypeError, r"input_size must be an integer"),
    (
        "Flow dtype=torch.int64",
        lambda: tr.systems.Flow(_MAP, 2, 2, dtype=torch.int64),
        TypeError,
        r"dtype must be a floating-point torch.dtype",
    ),
    (
        "Map dtype='float64'",
        lambda: tr.systems.Map(_MAP, 2, 2, dtype="float64"),
        TypeError,
        r"dtype must be a floating-point torch.dtype",
    ),
    (
        "Flow device='gpu0'",
        lambda: tr.systems.Flow(_MAP, 2, 2, device="gpu0"),
        ValueError,
        r"device must be a torch.device",
    ),
    ("Map device=3.5", lambda: tr.systems.Map(_MAP, 2, 2, device=3.5), ValueError, r"device must be a torch.device"),
    ("Flow euler_dt=0", lambda: tr.systems.Flow(_MAP, 2, 2, euler_dt=0.0), ValueError, r"euler_dt must be a positive"),
    ("Map euler_dt=nan", lambda: tr.systems.Map(_MAP, 2, 2, euler_dt=NAN), ValueError, r"euler_dt must be a positive"),
    ("System state_size=-3", lambda: tr.systems.System(-3, 1), ValueError, r"state_size must be"),
    ("System input_size=1.5", lambda: tr.systems.System(3, 1.5), TypeError, r"input_size must be an integer"),
    (
        "System dtype=torch.bool",
        lambda: tr.systems.System(3, 1, dtype=torch.bool),
        TypeError,
        r"dtype must be a floating-point torch.dtype",
    ),
    (
        "System device='nowhere'",
        lambda: tr.systems.System(3, 1, device="nowhere"),
        ValueError,
        r"device must be a torch.device",
    ),
    ("System euler_dt=-1", lambda: tr.systems.System(3, 1, euler_dt=-1.0), ValueError, r"euler_dt must be a positive"),
    (
        "Ensemble of two different callables",
        lambda: tr.Ensemble(
            [tr.RateRNN(3, 4, nonlinearity=lambda x: x.tanh()), tr.RateRNN(3, 4, nonlinearity=lambda x: x.relu())]
        ),
        ValueError,
        r"member 1 has nonlinearity '<lambda>'.*pass the same callable",
    ),
    (
        "Ensemble hx of 2 layers for 1",
        lambda: _ens()(torch.zeros(5, 2, 3), torch.zeros(2, 2, 2, 4)),
        ValueError,
        r"hx must have shape \(K, L·D, B, N\) = \(2, 1, 2, 4\), got \(2, 2, 2, 4\)",
    ),
    (
        "Ensemble hx of 1 layer for 2",
        lambda: _ens(2)(torch.zeros(5, 2, 3), torch.zeros(2, 1, 2, 4)),
        ValueError,
        r"hx must have shape \(K, L·D, B, N\) = \(2, 2, 2, 4\)",
    ),
    (
        "Ensemble input width 4",
        lambda: _ens()(torch.zeros(5, 2, 4)),
        ValueError,
        r"input.size\(-1\) must be equal to input_size. Expected 3, got 4",
    ),
    (
        "Ensemble input float64",
        lambda: _ens()(torch.zeros(5, 2, 3, dtype=F64)),
        TypeError,
        r"input dtype torch.float64 does not match",
    ),
    ("Ensemble hx list", lambda: _ens()(torch.zeros(5, 2, 3), [[0.0]]), TypeError, r"hx must be a Tensor"),
    (
        "EIRateRNN loads another E/I split",
        _load_other_split,
        ValueError,
        r"sign .*3 excitatory \+ 1 inhibitory.*2 excitatory \+ 2 inhibitory",
    ),
    ("RateRNN generator=3", net(generator=3), TypeError, r"generator must be a torch.Generator or None"),
    ("from_weights generator='0'", fw(Z2, generator="0"), TypeError, r"generator must be a torch.Generator"),
    (
        "RateRNN F couples units",
        net(nonlinearity=lambda x: x.sum(-1, keepdim=True).expand_as(x)),
        ValueError,
        r"nonlinearity '<lambda>' must be elementwise",
    ),
    (
        "RateRNN F changes shape",
        net(nonlinearity=lambda x: x.mean(-1)),
        ValueError,
        r"nonlinearity '<lambda>' must map a tensor of shape \(B, N\) to the same shape",
    ),
    (
        "RateRNN F fails",
        net(nonlinearity=lambda x: x @ torch.ones(3, 3)),
        ValueError,
        r"nonlinearity '<lambda>' failed on a probe",
    ),
    (
        "RateRNN one layer, dropout 0.2",
        _as_error(net(dropout=0.2)),
        UserWarning,
        r"non-zero dropout expects num_layers greater than 1, but got dropout=0.2 and num_layers=1",
    ),
    ("Curriculum threshold=nan", _curriculum(threshold=NAN), ValueError, r"threshold must be a finite number"),
    ("Curriculum threshold=[inf]", _curriculum(threshold=[INF]), ValueError, r"threshold\[0\] must be a finite"),
    (
        "Curriculum stage changes dt",
        _curriculum_stage_dt,
        ValueError,
        r"curriculum stage 0 .*must keep the task's dt equal to the network's dt = 20 ms, got 10 ms",
    ),
]
try:
    import neurogym  # noqa: F401 - an optional dependency: its cases only where it is installed
except ImportError:  # pragma: no cover
    pass
else:
    RELIABILITY_CASES += [
        (
            "NeuroGym sigma=nan",
            _ngym(env_kwargs={"sigma": NAN}),
            ValueError,
            r"env_kwargs\['sigma'\] must be a finite number",
        ),
        (
            "NeuroGym cohs with inf",
            _ngym(env_kwargs={"cohs": np.array([6.4, INF])}),
            ValueError,
            r"env_kwargs\['cohs'\]\[1\] must be a finite number",
        ),
        (
            "NeuroGym timing decision=0",
            _ngym(env_kwargs={"timing": {"decision": 0}}),
            ValueError,
            r"timing\['decision'\] must last at least one step",
        ),
        (
            "NeuroGym timing fixation=-500",
            _ngym(env_kwargs={"timing": {"fixation": -500}}),
            ValueError,
            r"env_kwargs\['timing'\]\['fixation'\] must be a duration ≥ 0 ms",
        ),
        ("NeuroGym dt=inf", _ngym(dt=INF), ValueError, r"dt must be a positive finite number"),
    ]


def _area_cases() -> list:
    """The cases of ``tests/bad_cases_*.py`` (one file per area of the API, each a ``CASES`` list)."""
    import importlib
    from pathlib import Path

    out = []
    for path in sorted(Path(__file__).parent.glob("bad_cases_*.py")):
        out += importlib.import_module(path.stem).CASES
    return out


ALL_CASES = CASES + MODEL_CASES + RELIABILITY_CASES + _cli_cases() + _area_cases()


# ---------------------------------------------------------------------- the tests
@contextmanager
def _no_hang(seconds: int = HANG_SECONDS):
    """Turn a hang into an error (SIGALRM; POSIX main thread only, else no limit)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def timeout(signum, frame):
        raise TimeoutError(f"no answer in {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True)
def _quiet_plots():
    import matplotlib

    matplotlib.use("Agg")
    yield


@pytest.mark.parametrize("call, error, pattern", [c[1:] for c in ALL_CASES], ids=[c[0] for c in ALL_CASES])
def test_bad_input_is_a_clear_error(call, error, pattern):
    with _no_hang(), pytest.raises(error) as info:
        call()
    assert re.search(pattern, str(info.value)), f"the message does not name the argument: {info.value}"


@pytest.mark.parametrize("args, option", [c[1:] for c in CLI_ARGPARSE], ids=[c[0] for c in CLI_ARGPARSE])
def test_bad_cli_option_is_refused_naming_it(args, option, capsys):
    from torchrate.cli import main

    with _no_hang(), pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    assert re.search(option, capsys.readouterr().err)


@pytest.mark.parametrize("threads", ["0", "-1"])
def test_fit_threads_below_one_is_refused_before_training(tmp_path, threads):
    from test_cli import tiny_config  # tests/ is on sys.path (pytest's rootdir conftest)

    from torchrate.cli import main

    with _no_hang(), pytest.raises(ValueError, match=rf"--threads must be an integer ≥ 1 .*got {threads}"):
        main(["fit", "--config", tiny_config(tmp_path), "--threads", threads])
    assert not (tmp_path / "run").exists()


def test_case_count_meets_the_target():
    assert len(ALL_CASES) + len(CLI_ARGPARSE) >= 150


# ---------------------------------------------------------------------- properties (hypothesis)
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# weights on a 0.01 grid in [-10, 10]: LAPACK's balanced eig loses the eigenvectors of matrices that mix
# entries of 1 and 1e-118 (found by hypothesis: M = [[0, 3e-118], [1, 1]]), a limit of eig, not of spectrum
finite = st.integers(-1000, 1000).map(lambda k: k / 100)
bad_positive = st.one_of(st.just(NAN), st.just(INF), st.just(-INF), st.floats(-1e6, 0.0))


@FAST
@given(value=bad_positive)
def test_check_positive_refuses_every_non_positive_or_non_finite_number(value):
    with pytest.raises(ValueError, match=r"^tau must be a positive finite number, got"):
        _validate.check_positive("tau", value)


@FAST
@given(n=st.integers(1, 5), data=st.data())
def test_spectrum_of_random_real_matrices_reconstructs_M(n, data):
    entries = data.draw(st.lists(finite, min_size=n * n, max_size=n * n))
    M = torch.tensor(entries, dtype=F64).reshape(n, n)
    s = tr.analysis.spectrum(M, tau=10.0)
    assert torch.isfinite(s.eigenvalues).all()
    E, lam = s.eigenvectors.to(torch.complex128), s.eigenvalues.to(torch.complex128)
    scale = max(1.0, M.abs().max().item())
    cond = torch.linalg.cond(E).item()
    if math.isfinite(cond) and cond < 1e6:  # diagonalisable to working precision: M E = E Λ
        torch.testing.assert_close(M.to(torch.complex128) @ E, E * lam, rtol=0, atol=1e-9 * scale * cond)


@FAST
@given(
    noise=st.floats(0.0, 2.0), coherence=st.one_of(st.just(0.0), st.floats(1e-3, 1.0)), seed=st.integers(0, 2**31 - 1)
)
def test_random_valid_decision_tasks_give_finite_trials_and_bounded_metrics(noise, coherence, seed):
    task = tr.tasks.PerceptualDecision(dt=20.0, coherences=(coherence,), input_noise=noise)
    (x, y, m), c = task.generate(8, generator=torch.Generator().manual_seed(seed))
    assert torch.isfinite(x).all() and torch.isfinite(y).all() and bool(((m == 0) | (m == 1)).all())
    metrics = task.evaluate(y, y, m, c)
    if coherence > 0:  # the targets themselves choose right on every informative trial
        assert metrics["accuracy"].item() == 1.0


@FAST
@given(
    lo=st.floats(-100, 100), width=st.floats(1e-3, 100), bad=st.sampled_from([NAN, INF, -INF]), side=st.integers(0, 1)
)
def test_phase_plane_refuses_any_non_finite_limit(lo, width, bad, side):
    lim = [lo, lo + width]
    lim[side] = bad
    with pytest.raises(ValueError, match=r"xlim must be"):
        tr.analysis.phase_plane(EI, U2, tuple(lim), (0, 40), n=2, resolution=2)


@FAST
@given(tau=st.floats(0.1, 100.0), n=st.integers(1, 4), seed=st.integers(0, 1000))
def test_linear_solve_of_random_stable_networks_is_finite_and_settles(tau, n, seed):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, n, generator=g, dtype=F64)
    M = 0.5 * A / max(torch.linalg.matrix_norm(A, 2).item(), 1e-12)  # ‖M‖ ≤ 0.5: every Re λ ≤ 0.5
    h = torch.randn(n, generator=g, dtype=F64)
    v = tr.linear.solve(M, h, [0.0, 200 * tau], tau=tau)
    assert torch.isfinite(v).all()
    # after 200 τ the slowest mode (rate ≥ 0.5/τ) has decayed by e^{-100}
    torch.testing.assert_close(v[-1], tr.linear.steady_state(M, h), rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------------- counting
def classify(call, error, pattern, seconds: int = HANG_SECONDS) -> str:
    """``"clear"``, ``"unnamed"`` (raised, but the argument is not named or the type is not the
    expected one), ``"silent"`` (no error) or ``"hang"``."""
    try:
        with _no_hang(seconds):
            call()
    except TimeoutError:
        return "hang"
    except SystemExit as err:  # argparse / jsonargparse: the message went to stderr
        return "clear" if error is SystemExit or err.code == 2 else "unnamed"
    except BaseException as err:  # noqa: BLE001 - counting every outcome
        return "clear" if isinstance(err, error) and re.search(pattern, str(err)) else "unnamed"
    return "silent"


def count(cases=None) -> dict[str, list[str]]:
    import contextlib
    import io

    outcomes: dict[str, list[str]] = {"clear": [], "unnamed": [], "silent": [], "hang": []}
    for name, call, error, pattern in cases or ALL_CASES:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            outcomes[classify(call, error, pattern)].append(name)
    for name, args, option in CLI_ARGPARSE:
        from torchrate.cli import main

        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                main(args)
                outcomes["silent"].append(name)
                continue
            except SystemExit:
                pass
        outcomes["clear" if re.search(option, err.getvalue()) else "unnamed"].append(name)
    return outcomes


if __name__ == "__main__":  # pragma: no cover
    np.seterr(all="ignore")
    result = count()
    total = sum(len(v) for v in result.values())
    print(f"cases tried: {total}")
    for k, v in result.items():
        print(f"{k}: {len(v)}" + ("" if k == "clear" or not v else "\n  " + "\n  ".join(v)))
    sys.exit(0 if not (result["silent"] or result["hang"]) else 1)
