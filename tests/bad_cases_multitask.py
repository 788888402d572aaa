"""Bad-input cases for ``torchrate.tasks.Multitask``, gathered by ``tests/test_bad_inputs.py``.

Each case is ``(id, call, error type, pattern)``; the id names the callable and the option.
"""

from __future__ import annotations

import torch

import torchrate as tr

NAN = float("nan")
PD, FF = tr.tasks.PerceptualDecision(dt=20.0), tr.tasks.FlipFlop(n_bits=2, dt=20.0)
MULTI = tr.tasks.Multitask([PD, FF])
_, Y, MASK = MULTI.sample(4, generator=torch.Generator().manual_seed(0))


def _multi(tasks=(PD, FF), **kw):
    return lambda: tr.tasks.Multitask(list(tasks) if isinstance(tasks, tuple) else tasks, **kw)


CASES = [
    # ---------------------------------------------------------------- tasks.Multitask
    ("Multitask tasks=one task", _multi((PD,)), ValueError, r"tasks must hold at least two tasks"),
    ("Multitask tasks=a Task", _multi(PD), TypeError, r"tasks must be a list of torchrate.tasks.Task"),
    ("Multitask tasks=[3, ...]", _multi((3, FF)), TypeError, r"tasks\[0\] must be a torchrate.tasks.Task"),
    (
        "Multitask tasks with two dt",
        _multi((PD, tr.tasks.FlipFlop(dt=10.0))),
        ValueError,
        r"tasks must all have the same dt .* \[20.0, 10.0\]",
    ),
    (
        "Multitask tasks=[{'class_path': 'os.system'}, ...]",
        _multi(({"class_path": "os.system"}, FF)),
        ValueError,
        r"names class_path 'os.system', which is not allowed",
    ),
    ("Multitask tasks nested", _multi((tr.tasks.Multitask([PD, FF]), FF)), TypeError, r"tasks\[0\] is a Multitask"),
    ("Multitask names=['a']", _multi(names=["a"]), ValueError, r"names must give one name per task \(2\), got 1"),
    ("Multitask names=['a', 'a']", _multi(names=["a", "a"]), ValueError, r"names must be distinct"),
    ("Multitask names=['a/b', 'c']", _multi(names=["a/b", "c"]), ValueError, r"names\[0\] must be a non-empty name"),
    ("Multitask names='ab'", _multi(names="ab"), TypeError, r"names must be a list of 2 strings"),
    ("Multitask rule_inputs=1", _multi(rule_inputs=1), TypeError, r"rule_inputs must be True or False"),
    (
        "Multitask proportions=[1]",
        _multi(proportions=[1.0]),
        ValueError,
        r"proportions must give one number per task \(2\), got 1",
    ),
    (
        "Multitask proportions=[1, -1]",
        _multi(proportions=[1.0, -1.0]),
        ValueError,
        r"proportions\[1\] must be a finite number ≥ 0",
    ),
    ("Multitask proportions=[0, 0]", _multi(proportions=[0.0, 0.0]), ValueError, r"proportions must not all be 0"),
    (
        "Multitask proportions=[1, nan]",
        _multi(proportions=[1.0, NAN]),
        ValueError,
        r"proportions\[1\] must be a finite",
    ),
    ("Multitask inputs='mixed'", _multi(inputs="mixed"), ValueError, r"inputs must be one of 'separate', 'shared'"),
    ("Multitask outputs='heads'", _multi(outputs="heads"), ValueError, r"outputs must be one of 'separate', 'shared'"),
    (
        "Multitask evaluate without conditions",
        lambda: MULTI.evaluate(Y, Y, MASK),
        ValueError,
        r"Multitask needs the conditions of the batch",
    ),
    (
        "Multitask compute_loss without conditions",
        lambda: MULTI.compute_loss(Y, Y, MASK),
        ValueError,
        r"Multitask needs the conditions of the batch",
    ),
]
