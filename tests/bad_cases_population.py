"""Bad inputs of the population comparisons (tr.analysis.population)."""

import torch

import torchrate as tr

pop = tr.analysis.population
F64 = torch.float64
_X = torch.randn(20, 3, 4, generator=torch.Generator().manual_seed(0), dtype=F64)
_A = torch.eye(3, dtype=F64) * 0.5
_NET = tr.RateRNN.from_weights(torch.tensor([[0.0, 2.0], [2.0, 0.0]], dtype=F64), tau=10.0, dt=1.0, nonlinearity="tanh")
_FPS = tr.analysis.find_fixed_points(
    _NET, None, torch.randn(16, 2, dtype=F64, generator=torch.Generator().manual_seed(1))
)

CASES = [
    ("cca X a list", lambda: pop.cca([[1.0]], _X), TypeError, r"X must be a Tensor"),
    ("cca Y of other trials", lambda: pop.cca(_X, _X[:10]), ValueError, r"X and Y must hold the same steps and trials"),
    ("cca keep 0", lambda: pop.cca(_X, _X, keep=0.0), ValueError, r"keep must be a share of variance in \(0, 1\]"),
    ("cca keep 1.5", lambda: pop.cca(_X, _X, keep=1.5), ValueError, r"keep must be a probability"),
    (
        "cca X constant",
        lambda: pop.cca(torch.ones(5, 2, dtype=F64), torch.ones(5, 2, dtype=F64)),
        ValueError,
        r"the states do not vary",
    ),
    (
        "procrustes_distance X NaN",
        lambda: pop.procrustes_distance(torch.full((5, 2), float("nan")), torch.ones(5, 2)),
        ValueError,
        r"X must be finite, got 10 non-finite entries of 10 \(first: X\[0, 0\] = nan\); compare finite",
    ),
    (
        "procrustes_distance Y integer",
        lambda: pop.procrustes_distance(_X, torch.ones(20, 3, 4, dtype=torch.long)),
        TypeError,
        r"Y must be a floating point tensor",
    ),
    ("delay_embedding n_delays 0", lambda: pop.delay_embedding(_X, 0), ValueError, r"n_delays must be"),
    ("delay_embedding interval 0", lambda: pop.delay_embedding(_X, 2, 0), ValueError, r"interval must be"),
    ("delay_embedding X 4-d", lambda: pop.delay_embedding(_X[None], 2), ValueError, r"X must have shape \(T, B, N\)"),
    (
        "delay_embedding n_delays longer than the trials",
        lambda: pop.delay_embedding(_X, 30),
        ValueError,
        r"more than the trajectories' 20",
    ),
    ("dmd rank 0", lambda: pop.dmd(_X, rank=0), ValueError, r"rank must be"),
    ("dmd rank above the dimensions", lambda: pop.dmd(_X, rank=9), ValueError, r"rank must be at most"),
    ("dmd n_delays 1.5", lambda: pop.dmd(_X, rank=2, n_delays=1.5), TypeError, r"n_delays must be"),
    ("dmd interval -1", lambda: pop.dmd(_X, rank=2, n_delays=2, interval=-1), ValueError, r"interval must be"),
    ("dmd X None", lambda: pop.dmd(None, rank=2), TypeError, r"X must be a Tensor"),
    (
        "operator_distance A not square",
        lambda: pop.operator_distance(torch.ones(2, 3), _A),
        ValueError,
        r"A must be a square",
    ),
    (
        "operator_distance B of another size",
        lambda: pop.operator_distance(_A, torch.eye(2, dtype=F64)),
        ValueError,
        r"A and B must have the same shape",
    ),
    ("operator_distance iters 0", lambda: pop.operator_distance(_A, _A, iters=0), ValueError, r"iters must be"),
    ("operator_distance lr 0", lambda: pop.operator_distance(_A, _A, lr=0.0), ValueError, r"lr must be"),
    (
        "operator_distance restarts -1",
        lambda: pop.operator_distance(_A, _A, restarts=-1),
        ValueError,
        r"restarts must be",
    ),
    (
        "operator_distance generator 0",
        lambda: pop.operator_distance(_A, _A, generator=0),
        TypeError,
        r"generator must be a torch.Generator",
    ),
    ("dsa X too short for a step", lambda: pop.dsa(_X[:1], _X, rank=2), ValueError, r"at least two"),
    ("dsa Y NaN", lambda: pop.dsa(_X, torch.full_like(_X, float("nan")), rank=2), ValueError, r"^Y must be finite"),
    ("dsa rank 0", lambda: pop.dsa(_X, _X, rank=0), ValueError, r"rank must be"),
    ("dsa n_delays 0", lambda: pop.dsa(_X, _X, rank=2, n_delays=0), ValueError, r"n_delays must be"),
    ("dsa interval 0", lambda: pop.dsa(_X, _X, rank=2, n_delays=2, interval=0), ValueError, r"interval must be"),
    ("dsa iters 0", lambda: pop.dsa(_X, _X, rank=2, iters=0), ValueError, r"iters must be"),
    ("dsa lr -1", lambda: pop.dsa(_X, _X, rank=2, lr=-1.0), ValueError, r"lr must be"),
    ("dsa restarts 1.5", lambda: pop.dsa(_X, _X, rank=2, restarts=1.5), TypeError, r"restarts must be"),
    ("dsa generator a seed", lambda: pop.dsa(_X, _X, rank=2, generator=3), TypeError, r"generator must be"),
    (
        "mds D not symmetric",
        lambda: pop.mds(torch.tensor([[0.0, 1.0], [2.0, 0.0]])),
        ValueError,
        r"D must be a finite symmetric",
    ),
    ("mds D 1-d", lambda: pop.mds(torch.ones(3)), ValueError, r"D must be a square"),
    ("mds dim 0", lambda: pop.mds(torch.zeros(2, 2), dim=0), ValueError, r"dim must be"),
    (
        "topology fixed_points a tensor",
        lambda: pop.topology(_NET, torch.zeros(2, 2)),
        TypeError,
        r"fixed_points must be a FixedPoints",
    ),
    ("topology obj a string", lambda: pop.topology("net", _FPS), TypeError, r"obj|system|network"),
    (
        "topology u of the wrong size",
        lambda: pop.topology(_NET, _FPS, torch.zeros(5)),
        ValueError,
        r"u must be a constant input of shape \(2,\)",
    ),
    (
        "topology time discrete for flow points",
        lambda: pop.topology(_NET, _FPS, time="discrete"),
        ValueError,
        r"fixed_points are of the continuous system",
    ),
    ("topology steps 0", lambda: pop.topology(_NET, _FPS, steps=0), ValueError, r"steps must be"),
    ("topology step_size 0", lambda: pop.topology(_NET, _FPS, step_size=0.0), ValueError, r"step_size must be"),
    ("topology eps -1", lambda: pop.topology(_NET, _FPS, eps=-1.0), ValueError, r"eps must be"),
]
