"""The helpers other torchrate modules export in their ``__all__`` (stability of eigenvalues, a
decision task's choices, the training plumbing: class allowlist, batches, specs, constraints, run
folders): their options refused by name too."""

import functools

import torch

import torchrate as tr
from torchrate.analysis import stability
from torchrate.tasks.decision import choices
from torchrate.training import allowlist
from torchrate.training.callbacks import versioned_directory
from torchrate.training.constraints import constrain
from torchrate.training.data import draw_batch
from torchrate.training.module import as_task, instantiate

_LAM = torch.tensor([[-1.0 + 1j, -1.0 - 1j]])
_Y = torch.zeros(5, 2, 3)
_TASK = tr.tasks.FlipFlop(n_bits=2, dt=10.0, duration=100.0)
_SPEC = {"class_path": "torchrate.RateRNN", "init_args": {"input_size": 2, "hidden_size": 4}}


@functools.cache
def _module():
    return tr.training.TaskModule(
        _TASK, {"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": 4, "dt": 10.0}}
    )


def _constrain(**kw):
    args = {"readout": "all", "masks": None, "fixed": None} | kw
    return lambda: constrain(args.pop("module", None) or _module(), **args)


_STABILITY = [
    ("distance_to_marginal", "eigenvalues"),
    ("is_stable", "eigenvalues"),
    ("boundary_tol", "eigenvalues"),
    ("eigen_order", "lam"),
    ("sort_eigenvalues", "lam"),
]

CASES = [
    case
    for fn, arg in _STABILITY
    for case in (
        (
            f"{fn} time='ode'",
            lambda fn=fn: getattr(stability, fn)(_LAM, time="ode"),
            ValueError,
            r"time must be one of 'continuous', 'discrete', got 'ode'",
        ),
        (
            f"{fn} {arg} a list",
            lambda fn=fn: getattr(stability, fn)([[-1.0]]),
            TypeError,
            rf"{arg} must be a floating or complex tensor of eigenvalues",
        ),
        (
            f"{fn} {arg} int",
            lambda fn=fn: getattr(stability, fn)(torch.tensor([[1, 2]])),
            TypeError,
            rf"{arg} must be a floating or complex tensor",
        ),
        (
            f"{fn} {arg} 0-D",
            lambda fn=fn: getattr(stability, fn)(torch.tensor(1.0)),
            ValueError,
            rf"{arg} must have shape \(…, N\)",
        ),
    )
] + [
    ("choices outputs a list", lambda: choices([[[0.0]]], _Y), TypeError, r"outputs must be a floating tensor"),
    ("choices outputs 2-D", lambda: choices(torch.zeros(5, 3), _Y), ValueError, r"outputs must have shape \(T, B, K\)"),
    ("choices mask None", lambda: choices(_Y, None), TypeError, r"mask must be a tensor of shape \(T, B, K\)"),
    (
        "choices mask of another shape",
        lambda: choices(_Y, torch.ones(4, 2, 3)),
        ValueError,
        r"mask must have shape \(T, B, K\) = \(5, 2, 3\) \(or broadcast to it\), got \(4, 2, 3\)",
    ),
    ("allowed path=3", lambda: allowlist.allowed(3), TypeError, r"path must be a dotted class path str"),
    (
        "resolve_class path os.system",
        lambda: allowlist.resolve_class("os.system", object),
        allowlist.DisallowedClassError,
        r"names class_path 'os.system', which is not allowed",
    ),
    (
        "resolve_class path=None",
        lambda: allowlist.resolve_class(None, object),
        allowlist.DisallowedClassError,
        r"names class_path None, which is not allowed",
    ),
    (
        "resolve_class base='Module'",
        lambda: allowlist.resolve_class("torchrate.RateRNN", "Module"),
        TypeError,
        r"base must be a class or a tuple of classes, got 'Module'",
    ),
    (
        "resolve_class base of another class",
        lambda: allowlist.resolve_class("torchrate.RateRNN", tr.tasks.Task),
        TypeError,
        r"class_path 'torchrate.RateRNN' is not a torchrate.tasks.base.Task",
    ),
    (
        "resolve_class where=1",
        lambda: allowlist.resolve_class("torchrate.RateRNN", object, 1),
        TypeError,
        r"where must be a str",
    ),
    (
        "check_class_paths tree naming os.system",
        lambda: allowlist.check_class_paths({"model": [{"class_path": "os.system"}]}, "config.yaml"),
        allowlist.DisallowedClassError,
        r"config.yaml names class_path 'os.system', which is not allowed",
    ),
    (
        "check_class_paths tree with class_path=3",
        lambda: allowlist.check_class_paths({"class_path": 3}, "config.yaml"),
        allowlist.DisallowedClassError,
        r"names class_path 3, which is not allowed",
    ),
    (
        "check_class_paths where=None",
        lambda: allowlist.check_class_paths({}, None),
        TypeError,
        r"where must be a str",
    ),
    ("versioned_directory path=None", lambda: versioned_directory(None), TypeError, r"path must be a path"),
    ("versioned_directory path=3", lambda: versioned_directory(3), TypeError, r"path must be a path"),
    ("draw_batch task a dict", lambda: draw_batch({}, 4, 0), TypeError, r"task must be a torchrate.tasks.Task"),
    ("draw_batch batch_size=0", lambda: draw_batch(_TASK, 0, 0), ValueError, r"batch_size must be an integer ≥ 1"),
    ("draw_batch batch_size=2.5", lambda: draw_batch(_TASK, 2.5, 0), TypeError, r"batch_size must be an integer"),
    ("draw_batch seed='0'", lambda: draw_batch(_TASK, 4, "0"), TypeError, r"seed must be an integer, got '0'"),
    ("draw_batch seed=1.5", lambda: draw_batch(_TASK, 4, 1.5), TypeError, r"seed must be an integer, got 1.5"),
    (
        "draw_batch seed=2**64",
        lambda: draw_batch(_TASK, 4, 2**64),
        ValueError,
        r"seed must be an integer in \[-2\*\*63, 2\*\*64 - 1\] \(a torch seed\), got 18446744073709551616",
    ),
    ("as_task task=3", lambda: as_task(3), TypeError, r"task must be a torchrate.tasks.Task or its config dict"),
    (
        "as_task task spec of a network",
        lambda: as_task(_SPEC),
        TypeError,
        r"class_path 'torchrate.RateRNN' is not a torchrate.tasks.base.Task",
    ),
    ("instantiate spec a str", lambda: instantiate("torchrate.RateRNN", torch.nn.Module), TypeError, r"expected a"),
    (
        "instantiate spec with an unknown key",
        lambda: instantiate({**_SPEC, "args": []}, torch.nn.Module),
        TypeError,
        r"unknown keys \['args'\] in the Module spec",
    ),
    ("instantiate base=None", lambda: instantiate(_SPEC, None), TypeError, r"base must be a class or a tuple"),
    ("constrain module=3", lambda: constrain(3, "all", None, None), TypeError, r"module must be a built TaskModule"),
    ("constrain readout='e'", _constrain(readout="e"), ValueError, r"readout must be one of 'all', 'excitatory'"),
    ("constrain masks a list", _constrain(masks=[1]), TypeError, r"masks must be a dict"),
    (
        "constrain fixed of an unknown weight",
        _constrain(fixed={"network.W": True}),
        ValueError,
        r"fixed names 'network.W', which is not a weight",
    ),
]
