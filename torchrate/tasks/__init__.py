"""Cognitive tasks as seedable trial generators.

Every task returns ``(inputs (T, B, I), targets (T, B, O), mask (T, B, O))`` on a grid of
``dt`` ms (see :class:`Task`), and ``task.evaluate(outputs, targets, mask)`` gives its own
metrics. A task of your own subclasses :class:`Task` and writes one :meth:`Task.trial`
(a :class:`Trial`); batching, padding and checks are done for it (``docs/tasks.md``).
:class:`NeuroGym` wraps any trial-based NeuroGym environment (optional extra
``torchrate[neurogym]``); :class:`Multitask` mixes any of them, with one-hot rule inputs.

>>> import torch, torchrate as tr
>>> task = tr.tasks.FlipFlop(n_bits=3, dt=10.0)
>>> inputs, targets, mask = task.sample(16, generator=torch.Generator().manual_seed(0))
>>> inputs.shape
torch.Size([50, 16, 3])
"""

from .base import Task, Trial, Trials, numpy_generator
from .decision import PerceptualDecision, WinnerTakeAll
from .memory import FlipFlop, Integration
from .multitask import Multitask
from .neurogym import NeuroGym  # neurogym itself is imported when a NeuroGym task is built

__all__ = [
    "Task",
    "Trial",
    "Trials",
    "numpy_generator",
    "PerceptualDecision",
    "Integration",
    "WinnerTakeAll",
    "FlipFlop",
    "NeuroGym",
    "Multitask",
]
