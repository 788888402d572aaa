"""Bad-input cases of tasks written by users (``Task.trial``): what ``trial`` returns, the
subclass contract, and ``numpy_generator``.

Each case is ``(id, call, error type, pattern)`` as in ``tests/test_bad_inputs.py``; the message
must name the method (``MyTask.trial()``) and say what to return instead.
"""

from __future__ import annotations

import numpy as np
import torch

import torchrate as tr
from torchrate.tasks import Task, Trial

NAN = float("nan")


class MyTask(Task):
    """A task whose ``trial`` returns ``self.result`` (built by the cases below)."""

    input_size, output_size, loss = 2, 3, "mse"

    def __init__(self, dt: float = 10.0):
        super().__init__(dt)

    def trial(self, generator):
        return self.result


def _good(T=4, **replace):
    parts = {"inputs": torch.zeros(T, 2), "targets": torch.zeros(T, 3), "mask": torch.ones(T, 3), "conditions": None}
    parts |= replace
    return Trial(**parts)


def draw(result):
    def call():
        task = MyTask()
        task.result = result
        task.sample(2, generator=torch.Generator().manual_seed(0))

    return call


class NoSuper(Task):
    input_size = output_size = 1

    def __init__(self, dt: float = 10.0):
        self.dt_ms = dt

    def trial(self, generator):
        return _good()


class NoSizes(Task):
    def trial(self, generator):
        return _good()


class NoHook(Task):
    input_size = output_size = 1


class Unstored(Task):
    input_size = output_size = 1

    def __init__(self, dt: float = 10.0, delay: float = 100.0):
        super().__init__(dt)

    def trial(self, generator):
        return _good()


class Conditions(MyTask):
    """Trial ``b`` returns ``self.conditions[b % len]``."""

    def trial(self, generator):
        self._k = getattr(self, "_k", -1) + 1
        return _good(conditions=self.conditions[self._k % len(self.conditions)])


def conditions(*per_trial):
    def call():
        task = Conditions()
        task.conditions = per_trial
        task.sample(len(per_trial), generator=torch.Generator().manual_seed(0))

    return call


CASES = [
    (
        "Task.trial returns a list",
        draw([torch.zeros(4, 2)] * 3),
        TypeError,
        r"MyTask\.trial\(\) must return torchrate\.tasks\.Trial\(inputs \(T, I\), targets \(T, O\), mask",
    ),
    (
        "Task.trial returns two arrays",
        draw((torch.zeros(4, 2), torch.zeros(4, 3))),
        TypeError,
        r"MyTask\.trial\(\) must return torchrate\.tasks\.Trial",
    ),
    (
        "Task.trial inputs a list",
        draw(_good(inputs=[[0.0, 0.0]] * 4)),
        TypeError,
        r"MyTask\.trial\(\) returned inputs of type list; return a torch\.Tensor or a NumPy array",
    ),
    (
        "Task.trial inputs complex",
        draw(_good(inputs=torch.zeros(4, 2, dtype=torch.complex64))),
        TypeError,
        r"MyTask\.trial\(\) returned inputs of dtype torch\.complex64; return real numbers",
    ),
    (
        "Task.trial targets NumPy strings",
        draw(_good(targets=np.full((4, 3), "a"))),
        TypeError,
        r"MyTask\.trial\(\) returned targets of dtype <U1; return real numbers",
    ),
    (
        "Task.trial inputs (T,) for I = 2",
        draw(_good(inputs=torch.zeros(4))),
        ValueError,
        r"MyTask\.trial\(\) returned inputs of shape \(4,\); expected \(T, 2\): T ≥ 1 steps of dt = 10 ms",
    ),
    (
        "Task.trial inputs of width 3 for I = 2",
        draw(_good(inputs=torch.zeros(4, 3))),
        ValueError,
        r"returned inputs of shape \(4, 3\); expected \(T, 2\)",
    ),
    (
        "Task.trial inputs with no step",
        draw(_good(T=0)),
        ValueError,
        r"returned inputs of shape \(0, 2\); expected \(T, 2\): T ≥ 1",
    ),
    (
        "Task.trial targets of another length",
        draw(_good(targets=torch.zeros(5, 3))),
        ValueError,
        r"MyTask\.trial\(\) returned targets of shape \(5, 3\); expected \(4, 3\)",
    ),
    (
        "Task.trial targets batch-major (1, T, O)",
        draw(_good(targets=torch.zeros(1, 4, 3))),
        ValueError,
        r"returned targets of shape \(1, 4, 3\); expected \(4, 3\)",
    ),
    (
        "Task.trial mask (T, 2) for O = 3",
        draw(_good(mask=torch.ones(4, 2))),
        ValueError,
        r"MyTask\.trial\(\) returned mask of shape \(4, 2\); expected \(4, 3\) or \(4,\)",
    ),
    (
        "Task.trial inputs NaN",
        draw(_good(inputs=torch.full((4, 2), NAN))),
        ValueError,
        r"MyTask\.trial\(\) returned inputs with non-finite entries \(inputs\[0, 0\] = nan",
    ),
    (
        "Task.trial targets inf",
        draw(_good(targets=torch.full((4, 3), float("inf")))),
        ValueError,
        r"returned targets with non-finite entries",
    ),
    (
        "Task.trial mask negative",
        draw(_good(mask=-torch.ones(4))),
        ValueError,
        r"MyTask\.trial\(\) returned a negative mask \(mask\[0, 0\] = -1.*never < 0",
    ),
    (
        "Task.trial conditions a list",
        draw(_good(conditions=[0.1])),
        TypeError,
        r"MyTask\.trial\(\) returned conditions of type list; return a dict of numbers",
    ),
    (
        "Task.trial conditions a string value",
        conditions({"side": "left"}),
        TypeError,
        r"Conditions\.trial\(\) returned condition 'side' = 'left'.*one real number",
    ),
    (
        "Task.trial conditions a vector value",
        conditions({"c": torch.zeros(2)}),
        TypeError,
        r"condition 'c' = .*each condition must be one real number",
    ),
    (
        "Task.trial conditions different names",
        conditions({"c": 0.1}, {"d": 0.2}),
        ValueError,
        r"Conditions\.trial\(\) must return the same condition names in every trial: trial 0 has \['c'\], trial 1 has",
    ),
    (
        "Task subclass without super().__init__(dt)",
        lambda: NoSuper().sample(2),
        TypeError,
        r"NoSuper\.__init__ must call super\(\)\.__init__\(dt\)",
    ),
    (
        "Task subclass without input_size",
        lambda: NoSizes(10.0).sample(2),
        TypeError,
        r"NoSizes\.input_size must be set to an integer ≥ 1",
    ),
    (
        "Task subclass without trial or _generate",
        lambda: NoHook(10.0).sample(2),
        NotImplementedError,
        r"NoHook must define trial\(self, generator\) -> Trial",
    ),
    (
        "Task subclass not storing an __init__ argument",
        lambda: Unstored().config(),
        AttributeError,
        r"Unstored must store each __init__ argument under its own name.*self\.delay is not set; add "
        r"`self\.delay = delay`",
    ),
    (
        "Task subclass n_steps of a per-trial task",
        lambda: MyTask().n_steps,
        AttributeError,
        r"MyTask has no fixed trial length \(n_steps\): T is the longest trial of each batch",
    ),
    (
        "numpy_generator generator=0",
        lambda: tr.tasks.numpy_generator(0),
        TypeError,
        r"generator must be a torch\.Generator or None",
    ),
    (
        "numpy_generator generator a NumPy Generator",
        lambda: tr.tasks.numpy_generator(np.random.default_rng(0)),
        TypeError,
        r"generator must be a torch\.Generator or None",
    ),
]


def _analyze(*args):
    def call():
        from torchrate.cli import main

        main(["analyze", "x.ckpt", "--out", "o", *args])

    return call


CASES += [
    (
        "allow cls a path that is not dotted",
        lambda: tr.training.allow("SimplePD"),
        ValueError,
        r"allow\(\): 'SimplePD' is not a dotted class path such as 'mymodule\.SimplePD'",
    ),
    (
        "allow cls a path of a module that does not exist",
        lambda: tr.training.allow("no_such_module_xyz.MyTask"),
        ImportError,
        r"allow\('no_such_module_xyz\.MyTask'\): cannot import it .*working directory",
    ),
    (
        "allow cls a path naming a function",
        lambda: tr.training.allow("os.path.join"),
        TypeError,
        r"allow\('os\.path\.join'\): it names a function, not a class",
    ),
    (
        "analyze --allow a module that does not exist",
        _analyze("--allow", "no_such_module_xyz.MyTask"),
        ImportError,
        r"allow\('no_such_module_xyz\.MyTask'\): cannot import it",
    ),
]
