"""Bad inputs of ``torchrate.plotting``: every option of every figure function is checked by name
before a figure is made (so a refused call leaves no figure behind).

Cases are ``(id, call, error type, pattern)``, collected by ``tests/test_bad_inputs.py``; each id
names the function and the option. The valid objects below are small (2 neurons, a 16-neuron
low-rank network) and built once, at import.
"""

from __future__ import annotations

import torch

import torchrate as tr

NAN, INF = float("nan"), float("inf")
F64 = torch.float64

_EI = tr.EIRateRNN.from_weights(
    torch.tensor([[1.25, -1.0], [1.0, 0.0]], dtype=F64),
    n_exc=1,
    tau_e=10.0,
    tau_i=50.0,
    b=torch.tensor([10.0, -10.0], dtype=F64),
    dt=0.5,
)
_U2 = torch.zeros(2, dtype=F64)
_NET = tr.RateRNN.from_weights(torch.tensor([[0.0, 2.0], [2.0, 0.0]]), tau=10.0, dt=1.0, nonlinearity="tanh")

SPEC = tr.analysis.spectrum(torch.tensor([[0.0, 0.8], [0.8, 0.0]]), tau=10.0)
FPS = tr.analysis.find_fixed_points(_NET, None, torch.linspace(-1, 1, 16).reshape(8, 2))  # 3 points, N = 2
RATES = torch.zeros(5, 3, 2)  # (T, B, N) for FPS
PP = tr.analysis.phase_plane(_EI, _U2, (0, 60), (0, 40), n=3, resolution=8)
SW = tr.analysis.sweep(
    lambda tau_i: tr.EIRateRNN.from_weights(
        torch.tensor([[1.25, -1.0], [1.0, 0.0]], dtype=F64),
        n_exc=1,
        tau_e=10.0,
        tau_i=tau_i,
        b=torch.tensor([10.0, -10.0], dtype=F64),
        dt=0.5,
    ),
    [30.0, 35.0],
    _U2,
    initial_states=torch.tensor([[20.0, 10.0]], dtype=F64),
)
BIF = tr.analysis.bifurcation(lambda p: (_EI, torch.tensor([p, 0.0], dtype=F64)), [0.0, 1.0], seeds=1)


def _low_rank(rank: int):
    m = torch.linspace(-1, 1, 16, dtype=F64)[:, None].repeat(1, rank)
    m[:, -1] = m[:, -1].abs() - 0.5 if rank == 2 else m[:, -1]
    return tr.LowRankRateRNN.from_factors(m, 2 * m, tau=10.0, dt=1.0)


LOW1, LOW2 = _low_rank(1), _low_rank(2)
LFP2 = tr.analysis.lowrank.latent_fixed_points(LOW2)


def _fig(fn, *args, **kw):
    return lambda: getattr(tr.plotting, fn)(*args, **kw)


CASES = [
    # ---------------------------------------------------------------- plot_spectrum
    (
        "plot_spectrum spectrum='eigenvalues'",
        _fig("plot_spectrum", "eigenvalues"),
        TypeError,
        r"spectrum must be a Spectrum, FixedPoints or a tensor of eigenvalues",
    ),
    ("plot_spectrum spectrum=42", _fig("plot_spectrum", 42), TypeError, r"spectrum must be"),
    (
        "plot_spectrum spectrum bool tensor",
        _fig("plot_spectrum", torch.tensor([True, False])),
        TypeError,
        r"spectrum must be a tensor of eigenvalues",
    ),
    (
        "plot_spectrum spectrum list of strings",
        _fig("plot_spectrum", ["a", "b"]),
        TypeError,
        r"spectrum must be a tensor of eigenvalues",
    ),
    (
        "plot_spectrum spectrum NaN",
        _fig("plot_spectrum", torch.tensor([0.5, NAN])),
        ValueError,
        r"spectrum must be finite",
    ),
    (
        "plot_spectrum spectrum complex inf",
        _fig("plot_spectrum", torch.tensor([complex(INF, 1.0)])),
        ValueError,
        r"spectrum must be finite",
    ),
    (
        "plot_spectrum boundary='one'",
        _fig("plot_spectrum", SPEC, boundary="one"),
        TypeError,
        r"boundary must be a real number",
    ),
    (
        "plot_spectrum boundary=nan",
        _fig("plot_spectrum", SPEC, boundary=NAN),
        ValueError,
        r"boundary must be a finite number",
    ),
    ("plot_spectrum boundary=1j", _fig("plot_spectrum", FPS, boundary=1j), TypeError, r"boundary must be a real"),
    ("plot_spectrum title=3", _fig("plot_spectrum", SPEC, title=3), TypeError, r"title must be a string or None"),
    # ---------------------------------------------------------------- plot_phase_plane
    ("plot_phase_plane pp=None", _fig("plot_phase_plane", None), TypeError, r"pp must be a PhasePlane"),
    ("plot_phase_plane pp a Spectrum", _fig("plot_phase_plane", SPEC), TypeError, r"pp must be a PhasePlane"),
    ("plot_phase_plane ax='left'", _fig("plot_phase_plane", PP, "left"), TypeError, r"ax must be a matplotlib Axes"),
    (
        "plot_phase_plane title=['a']",
        _fig("plot_phase_plane", PP, title=["a"]),
        TypeError,
        r"title must be a string or None",
    ),
    (
        "plot_phase_plane labels='xy'",
        _fig("plot_phase_plane", PP, labels="xy"),
        TypeError,
        r"labels must be a pair of strings",
    ),
    (
        "plot_phase_plane labels of 3",
        _fig("plot_phase_plane", PP, labels=("a", "b", "c")),
        ValueError,
        r"labels must be a pair of strings .*got 3",
    ),
    (
        "plot_phase_plane labels (1, 2)",
        _fig("plot_phase_plane", PP, labels=(1, 2)),
        TypeError,
        r"labels\[0\] must be a string",
    ),
    (
        "plot_phase_plane labels with None",
        _fig("plot_phase_plane", PP, labels=("E", None)),
        TypeError,
        r"labels must be a pair of strings",
    ),
    # ---------------------------------------------------------------- plot_fixed_points
    ("plot_fixed_points fps=None", _fig("plot_fixed_points", None), TypeError, r"fps must be FixedPoints"),
    (
        "plot_fixed_points fps a tensor",
        _fig("plot_fixed_points", torch.zeros(3, 2)),
        TypeError,
        r"fps must be FixedPoints",
    ),
    (
        "plot_fixed_points ax='left'",
        _fig("plot_fixed_points", FPS, None, "left"),
        TypeError,
        r"ax must be a matplotlib Axes",
    ),
    (
        "plot_fixed_points title=1",
        _fig("plot_fixed_points", FPS, title=1),
        TypeError,
        r"title must be a string or None",
    ),
    (
        "plot_fixed_points trajectories='rates'",
        _fig("plot_fixed_points", FPS, "rates"),
        TypeError,
        r"trajectories must be a real tensor",
    ),
    (
        "plot_fixed_points trajectories (T, B, 3)",
        _fig("plot_fixed_points", FPS, torch.zeros(5, 3, 3)),
        ValueError,
        r"trajectories must have shape \(T, B, 2\), got \(5, 3, 3\)",
    ),
    (
        "plot_fixed_points trajectories 2-D",
        _fig("plot_fixed_points", FPS, torch.zeros(5, 2)),
        ValueError,
        r"trajectories must have shape \(T, B, 2\)",
    ),
    (
        "plot_fixed_points trajectories NaN",
        _fig("plot_fixed_points", FPS, torch.full((5, 3, 2), NAN)),
        ValueError,
        r"trajectories must be finite",
    ),
    (
        "plot_fixed_points trajectories complex",
        _fig("plot_fixed_points", FPS, torch.zeros(5, 3, 2, dtype=torch.complex64)),
        TypeError,
        r"trajectories must be real",
    ),
    (
        "plot_fixed_points max_trajectories=0",
        _fig("plot_fixed_points", FPS, RATES, max_trajectories=0),
        ValueError,
        r"max_trajectories must be an integer ≥ 1, got 0",
    ),
    (
        "plot_fixed_points max_trajectories=2.5",
        _fig("plot_fixed_points", FPS, RATES, max_trajectories=2.5),
        TypeError,
        r"max_trajectories must be an integer",
    ),
    (
        "plot_fixed_points max_trajectories=None",
        _fig("plot_fixed_points", FPS, RATES, max_trajectories=None),
        TypeError,
        r"max_trajectories must be an integer",
    ),
    (
        "plot_fixed_points groups without trajectories",
        _fig("plot_fixed_points", FPS, groups=torch.zeros(3, dtype=int)),
        ValueError,
        r"groups must come with trajectories",
    ),
    (
        "plot_fixed_points groups float",
        _fig("plot_fixed_points", FPS, RATES, groups=torch.zeros(3)),
        TypeError,
        r"groups must be a tensor of integers",
    ),
    (
        "plot_fixed_points groups='ab'",
        _fig("plot_fixed_points", FPS, RATES, groups="abc"),
        TypeError,
        r"groups must be a tensor of integers",
    ),
    (
        "plot_fixed_points groups of 2 for B = 3",
        _fig("plot_fixed_points", FPS, RATES, groups=torch.zeros(2, dtype=torch.long)),
        ValueError,
        r"groups must have shape \(3,\), got \(2,\)",
    ),
    # ---------------------------------------------------------------- plot_sweep
    ("plot_sweep sw=None", _fig("plot_sweep", None), TypeError, r"sw must be a Sweep"),
    ("plot_sweep sw a Bifurcation", _fig("plot_sweep", BIF), TypeError, r"sw must be a Sweep"),
    ("plot_sweep ax=1", _fig("plot_sweep", SW, 1), TypeError, r"ax must be a matplotlib Axes"),
    ("plot_sweep parameter=3", _fig("plot_sweep", SW, parameter=3), TypeError, r"parameter must be a string"),
    ("plot_sweep title=b'x'", _fig("plot_sweep", SW, title=b"x"), TypeError, r"title must be a string or None"),
    # ---------------------------------------------------------------- plot_bifurcation
    ("plot_bifurcation bif a Sweep", _fig("plot_bifurcation", SW), TypeError, r"bif must be a Bifurcation"),
    ("plot_bifurcation bif=None", _fig("plot_bifurcation", None), TypeError, r"bif must be a Bifurcation"),
    ("plot_bifurcation ax='top'", _fig("plot_bifurcation", BIF, "top"), TypeError, r"ax must be a matplotlib Axes"),
    (
        "plot_bifurcation coordinate='mean'",
        _fig("plot_bifurcation", BIF, coordinate="mean"),
        ValueError,
        r'coordinate must be "norm"',
    ),
    (
        "plot_bifurcation coordinate=2 of N = 2",
        _fig("plot_bifurcation", BIF, coordinate=2),
        ValueError,
        r"coordinate must be a neuron index in \[0, 2\), got 2",
    ),
    (
        "plot_bifurcation coordinate=1.5",
        _fig("plot_bifurcation", BIF, coordinate=1.5),
        TypeError,
        r"coordinate must be",
    ),
    (
        "plot_bifurcation coordinate=True",
        _fig("plot_bifurcation", BIF, coordinate=True),
        TypeError,
        r"coordinate must be",
    ),
    (
        "plot_bifurcation coordinate direction (3,)",
        _fig("plot_bifurcation", BIF, coordinate=torch.ones(3)),
        ValueError,
        r"coordinate must have shape \(2,\), got \(3,\)",
    ),
    (
        "plot_bifurcation coordinate direction NaN",
        _fig("plot_bifurcation", BIF, coordinate=torch.tensor([1.0, NAN])),
        ValueError,
        r"coordinate must be finite",
    ),
    (
        "plot_bifurcation coordinate direction complex",
        _fig("plot_bifurcation", BIF, coordinate=torch.ones(2, dtype=torch.complex64)),
        TypeError,
        r"coordinate must be a real direction",
    ),
    (
        "plot_bifurcation parameter=1",
        _fig("plot_bifurcation", BIF, parameter=1),
        TypeError,
        r"parameter must be a string",
    ),
    ("plot_bifurcation ylabel=0", _fig("plot_bifurcation", BIF, ylabel=0), TypeError, r"ylabel must be a string"),
    ("plot_bifurcation title=2", _fig("plot_bifurcation", BIF, title=2), TypeError, r"title must be a string"),
    # ---------------------------------------------------------------- plot_latent_flow
    (
        "plot_latent_flow net full-rank RateRNN",
        _fig("plot_latent_flow", _NET),
        TypeError,
        r"net must be a rank-1 or rank-2 torchrate.LowRankRateRNN",
    ),
    ("plot_latent_flow net=None", _fig("plot_latent_flow", None), TypeError, r"net must be a rank-1 or rank-2"),
    (
        "plot_latent_flow net of rank 3",
        _fig("plot_latent_flow", tr.LowRankRateRNN(1, 8, 3)),
        ValueError,
        r"net must be of rank 1 or 2",
    ),
    (
        "plot_latent_flow u of 3 for 16 inputs",
        _fig("plot_latent_flow", LOW1, torch.zeros(3, dtype=F64)),
        ValueError,
        r"u must have shape \(16,\)",
    ),
    ("plot_latent_flow u='zero'", _fig("plot_latent_flow", LOW1, "zero"), TypeError, r"u must be a real tensor"),
    (
        "plot_latent_flow u NaN",
        _fig("plot_latent_flow", LOW1, torch.full((16,), NAN, dtype=F64)),
        ValueError,
        r"u must be finite",
    ),
    (
        "plot_latent_flow ax='left'",
        _fig("plot_latent_flow", LOW1, None, "left"),
        TypeError,
        r"ax must be a matplotlib Axes",
    ),
    ("plot_latent_flow title=1", _fig("plot_latent_flow", LOW1, title=1), TypeError, r"title must be a string"),
    (
        "plot_latent_flow resolution=1",
        _fig("plot_latent_flow", LOW1, resolution=1),
        ValueError,
        r"resolution must be an integer ≥ 2, got 1",
    ),
    (
        "plot_latent_flow resolution=10.0",
        _fig("plot_latent_flow", LOW1, resolution=10.0),
        TypeError,
        r"resolution must be an integer",
    ),
    (
        "plot_latent_flow extent of 4 for rank 1",
        _fig("plot_latent_flow", LOW1, extent=(-1, 1, -1, 1)),
        ValueError,
        r"extent must have 2 numbers \(lo, hi\) for rank 1, got 4",
    ),
    ("plot_latent_flow extent=1.0", _fig("plot_latent_flow", LOW1, extent=1.0), TypeError, r"extent must be"),
    (
        "plot_latent_flow extent lo > hi",
        _fig("plot_latent_flow", LOW1, extent=(1.0, -1.0)),
        ValueError,
        r"extent must have lo < hi",
    ),
    (
        "plot_latent_flow extent with NaN",
        _fig("plot_latent_flow", LOW2, extent=(-1, 1, NAN, 1)),
        ValueError,
        r"extent\[2\] must be a finite number",
    ),
    (
        "plot_latent_flow extent with a string",
        _fig("plot_latent_flow", LOW1, extent=("-1", 1)),
        TypeError,
        r"extent\[0\] must be a real number",
    ),
    (
        "plot_latent_flow trajectories (T, B, 3)",
        _fig("plot_latent_flow", LOW2, trajectories=torch.zeros(5, 2, 3)),
        ValueError,
        r"trajectories must have shape \(T, B, 16\), got \(5, 2, 3\)",
    ),
    (
        "plot_latent_flow trajectories='rates'",
        _fig("plot_latent_flow", LOW2, trajectories="rates"),
        TypeError,
        r"trajectories must be a real tensor",
    ),
    (
        "plot_latent_flow trajectories NaN",
        _fig("plot_latent_flow", LOW2, trajectories=torch.full((5, 2, 16), NAN, dtype=F64)),
        ValueError,
        r"trajectories must be finite",
    ),
    (
        "plot_latent_flow fixed_points of the full space",
        _fig("plot_latent_flow", LOW1, fixed_points=FPS),
        TypeError,
        r"fixed_points must be LatentFixedPoints",
    ),
    (
        "plot_latent_flow fixed_points of rank 2 for rank 1",
        _fig("plot_latent_flow", LOW1, fixed_points=LFP2),
        ValueError,
        r"fixed_points must be of a rank-1 network",
    ),
]
