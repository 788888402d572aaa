"""torchrate.parametrizations: the constraint modules refuse bad constructor arguments by name
(before, a float mask was cast to bool and a sign of 0.5 silently scaled the weights)."""

import torch

from torchrate import parametrizations as P

_W = torch.zeros(2, 3)

CASES = [
    ("Positive name=3", lambda: P.Positive(3), TypeError, r"\bname must be a str"),
    ("check_positive name=None", lambda: P.check_positive(None, torch.ones(2)), TypeError, r"\bname must be a str"),
    (
        "check_positive value a list",
        lambda: P.check_positive("tau", [1.0]),
        TypeError,
        r"\bvalue must be a floating-point Tensor",
    ),
    (
        "check_positive value with -1",
        lambda: P.check_positive("tau", torch.tensor([1.0, -1.0])),
        ValueError,
        r"tau must be positive and finite \(ms\), got tau\[1\] = -1",
    ),
    ("DaleSign sign a list", lambda: P.DaleSign([1.0, -1.0]), TypeError, r"\bsign must be a floating-point Tensor"),
    (
        "DaleSign sign of 0.5",
        lambda: P.DaleSign(torch.tensor([1.0, 0.5])),
        ValueError,
        r"sign must hold only \+1 \(excitatory\) and -1 \(inhibitory\), got sign\[1\] = 0.5",
    ),
    ("DaleSign sign (2, 2)", lambda: P.DaleSign(torch.ones(2, 2)), ValueError, r"sign must have shape \(N,\)"),
    ("DaleSign sign empty", lambda: P.DaleSign(torch.ones(0)), ValueError, r"sign must have shape \(N,\) with N ≥ 1"),
    ("DaleSign sign int", lambda: P.DaleSign(torch.tensor([1, -1])), TypeError, r"\bsign must be a floating-point"),
    ("Mask mask float", lambda: P.Mask(torch.full((2, 3), 0.5)), TypeError, r"\bmask must be a bool Tensor"),
    ("Mask mask a list", lambda: P.Mask([[True]]), TypeError, r"\bmask must be a bool Tensor"),
    ("Mask name=0", lambda: P.Mask(torch.ones(2, dtype=torch.bool), 0), TypeError, r"\bname must be a str"),
    (
        "PerGroup group float",
        lambda: P.PerGroup(torch.tensor([0.0, 1.0]), ("tau_e", "tau_i")),
        TypeError,
        r"\bgroup must be a LongTensor",
    ),
    (
        "PerGroup group index 2 of 2 names",
        lambda: P.PerGroup(torch.tensor([0, 2]), ("tau_e", "tau_i")),
        ValueError,
        r"\bgroup must have shape \(N,\) with entries in 0 … 1",
    ),
    (
        "PerGroup group negative",
        lambda: P.PerGroup(torch.tensor([-1, 0]), ("tau_e", "tau_i")),
        ValueError,
        r"\bgroup must have shape \(N,\) with entries in 0 … 1",
    ),
    (
        "PerGroup names a str",
        lambda: P.PerGroup(torch.tensor([0, 1]), "tau_e"),
        TypeError,
        r"\bnames must be a non-empty tuple of str",
    ),
    ("PerGroup names empty", lambda: P.PerGroup(torch.tensor([0]), ()), TypeError, r"\bnames must be a non-empty"),
    ("Frozen fixed float", lambda: P.Frozen(torch.ones(2, 3), _W), TypeError, r"\bfixed must be a bool Tensor"),
    (
        "Frozen fixed of shape (4,) for (2, 3)",
        lambda: P.Frozen(torch.ones(4, dtype=torch.bool), _W),
        ValueError,
        r"\bfixed must be broadcastable to the weight's shape \(2, 3\), got \(4,\)",
    ),
    (
        "Frozen value a list",
        lambda: P.Frozen(torch.ones(1, dtype=torch.bool), [[0.0]]),
        TypeError,
        r"\bvalue must be a floating-point Tensor",
    ),
    (
        "Frozen value int",
        lambda: P.Frozen(torch.ones(1, dtype=torch.bool), torch.zeros(2, dtype=torch.long)),
        TypeError,
        r"\bvalue must be a floating-point Tensor",
    ),
    (
        "Frozen checks a module",
        lambda: P.Frozen(torch.ones(1, dtype=torch.bool), _W, checks=torch.nn.Identity()),
        TypeError,
        r"\bchecks must be a sequence of parametrizations",
    ),
    (
        "Frozen checks [3]",
        lambda: P.Frozen(torch.ones(1, dtype=torch.bool), _W, checks=[3]),
        TypeError,
        r"\bchecks must be a sequence of parametrizations",
    ),
]
