"""Cases from the third round's fresh adversarial set (inputs no earlier case covered) that were
accepted silently before: each is now a clear error naming the argument."""

import torch

import torchrate as tr

F64 = torch.float64
_LR = tr.LowRankRateRNN.from_factors(torch.ones(8, 1, dtype=F64), 2 * torch.ones(8, 1, dtype=F64), tau=10.0, dt=1.0)
_NET = tr.RateRNN.from_weights(torch.tensor([[0.0, 2.0], [2.0, 0.0]], dtype=F64), tau=10.0, dt=1.0, nonlinearity="tanh")
_TASK = tr.tasks.PerceptualDecision()
_TRIALS = _TASK.sample(4, generator=torch.Generator().manual_seed(0))

CASES = [
    (
        "evaluate outputs NaN",
        lambda: _TASK.evaluate(torch.full_like(_TRIALS[1], float("nan")), _TRIALS[1], _TRIALS[2]),
        ValueError,
        r"outputs must be finite",
    ),
    (
        "sample_states trajectories NaN",
        lambda: tr.analysis.sample_states(torch.full((5, 3), float("nan")), 4),
        ValueError,
        r"trajectories must be finite|trajectories .*NaN",
    ),
    (
        "latent_fixed_points initial_kappas all NaN",
        lambda: tr.analysis.latent_fixed_points(_LR, initial_kappas=torch.full((3, 1), float("nan"), dtype=F64)),
        ValueError,
        r"all 3 starts contain NaN or Inf",
    ),
    (
        "latent_fixed_points initial_states and initial_kappas both given",
        lambda: tr.analysis.latent_fixed_points(
            _LR, initial_states=torch.zeros(2, 8, dtype=F64), initial_kappas=torch.zeros(2, 1, dtype=F64)
        ),
        ValueError,
        r"give initial_states \(K, N\) or initial_kappas \(K, r\), not both",
    ),
    (
        "find_fixed_points initial_states with no row",
        lambda: tr.analysis.find_fixed_points(_NET, None, torch.zeros(0, 2)),
        ValueError,
        r"initial_states must hold at least one start",
    ),
    (
        "find_fixed_points Map step dropping the batch",
        lambda: tr.analysis.find_fixed_points(
            tr.systems.Map(lambda v, u: torch.tanh(v).sum(0), 2, 1), None, torch.zeros(3, 2)
        ),
        ValueError,
        r"step must return states of the shape it was given",
    ),
    (
        "linear solve h float64 for a float32 M",
        lambda: tr.linear.solve(torch.eye(2) * 0.5, torch.ones(2, dtype=F64), [0.0, 1.0], tau=10.0),
        TypeError,
        r"h has dtype torch.float64 but M is torch.float32",
    ),
]

_GRU = torch.nn.GRU(1, 2)
CASES += [
    (
        "step u batch 2 for v batch 3",
        lambda: _NET.step(torch.zeros(3, 2, dtype=F64), torch.zeros(2, 2, dtype=F64)),
        ValueError,
        r"v and u must have the same batch shape",
    ),
    (
        "find_fixed_points Map step returning int",
        lambda: tr.analysis.find_fixed_points(
            tr.systems.Map(lambda v, u: (v > 0).long(), 2, 1), None, torch.zeros(3, 2)
        ),
        TypeError,
        r"step must return a floating-point tensor",
    ),
    (
        "bifurcation system changing its size with p",
        lambda: tr.analysis.bifurcation(
            lambda p: (tr.RateRNN(1, 2 if p < 0.5 else 3, tau=10.0, dt=1.0), None),
            [0.0, 1.0],
            initial_states=torch.zeros(1, 2),
        ),
        ValueError,
        r"the state size must not change with the parameter",
    ),
    (
        "TaskModule network init_args a list",
        lambda: __import__("torchrate.training", fromlist=["TaskModule"]).TaskModule(
            tr.tasks.FlipFlop(n_bits=1, dt=10.0, duration=100.0), {"class_path": "torchrate.RateRNN", "init_args": [4]}
        ),
        TypeError,
        r"init_args of the network spec must be a dict",
    ),
]
