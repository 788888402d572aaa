r"""Many tasks, one network: :class:`Multitask` mixes any torchrate tasks into one stream of trials.

Each batch holds trials of every task, in the given proportions, padded to a common length
(mask 0 on padding). The network is told which task a trial belongs to by a one-hot *rule
input* (Yang et al. 2019), appended after the tasks' own inputs and on for the whole trial.

Input layout (``inputs=``):

* ``"separate"`` (default) — each task's inputs in slots of its own, one block per task in the
  order given: ``I = Σ I_k`` (+ K rule inputs). Unrelated tasks never share an input line.
* ``"shared"`` — every task's inputs in the first ``I_k`` slots: ``I = max I_k`` (+ K). For
  tasks written on one input convention, e.g. NeuroGym's ``yang19.*`` environments (fixation,
  then two rings of 16 directions: 33 inputs each), as in Yang et al.'s network.

Output layout (``outputs=``), the same two choices: ``"separate"`` gives each task an output
head of its own (its block of the readout, ``O = Σ O_k``), ``"shared"`` one head whose first
``O_k`` outputs every task reads (``O = max O_k``; Yang et al.'s fixation + ring outputs). A
task's targets and mask live in its own outputs; the others are unscored on its trials.

Loss: each task's own (masked cross-entropy for decision tasks, masked MSE for the others) on
its outputs and trials, weighted by its share of the batch's trials — so a batch of one task is
trained exactly as that task alone. Metrics: each task's own :meth:`~Task.evaluate` on its
trials, reported as ``<name>/<metric>``, and ``accuracy``, the mean of the tasks' ``accuracy``.

Rule inputs and NeuroGym: the ``yang19.*`` environments carry no rule input themselves (NeuroGym
builds them with ``ScheduleEnvs(..., env_input=False)``), so ``rule_inputs=True`` adds the one
the network needs. A task whose observations already say which task it is (a NeuroGym env made
with ``env_input=True``) needs ``rule_inputs=False``, or the rule is given twice.

>>> import torch, torchrate as tr
>>> multi = tr.tasks.Multitask([tr.tasks.PerceptualDecision(dt=20.0), tr.tasks.FlipFlop(n_bits=2, dt=20.0)])
>>> (inputs, targets, mask), conditions = multi.generate(8, generator=torch.Generator().manual_seed(0))
>>> inputs.shape, targets.shape       # 3 + 2 inputs and 2 rule inputs; 2 + 2 outputs
(torch.Size([40, 8, 7]), torch.Size([40, 8, 4]))
>>> conditions["task"].tolist()       # the task of each trial: 4 of each, in a seeded order
[1, 0, 0, 1, 0, 1, 1, 0]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import Tensor

from .. import _validate
from .base import Task, Trials, figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Multitask", "TrialTasks"]

_LAYOUTS = ("separate", "shared")


class TrialTasks(NamedTuple):
    """Which task each trial of a batch belongs to, and the steps that are the trial proper."""

    names: list[str]  # the K task names
    task: Tensor  # (B,) task index of each trial
    onset: Tensor  # (B,) the end of the initial fixation: the first step whose own input differs from the step before
    length: Tensor  # (B,) the trial's end: after its last step with a non-zero input, target or mask weight (> onset)


def _as_task(task: object, where: str) -> Task:
    """A Task, or one built from its ``{"class_path", "init_args"}`` config (checkpoints, YAML)."""
    if isinstance(task, Task):
        return task
    if isinstance(task, Mapping):
        # the allow-list decides which classes a config may name before anything is imported
        from ..training.allowlist import resolve_class

        if "class_path" not in task:
            raise TypeError(
                f"{where} must be a torchrate.tasks.Task or its config {{'class_path': ..., "
                f"'init_args': {{...}}}}, got a dict with keys {sorted(task)}"
            )
        init_args = task.get("init_args") or {}
        if not isinstance(init_args, Mapping):
            raise TypeError(f"{where} init_args must be a dict of keyword arguments, got {init_args!r}")
        return resolve_class(task["class_path"], Task, where)(**init_args)
    raise TypeError(f"{where} must be a torchrate.tasks.Task (or its config dict), got {_validate._show(task)}")


def _default_name(task: Task) -> str:
    env_id = getattr(task, "env_id", None)  # NeuroGym: "yang19.dm1-v0" -> "dm1"
    if isinstance(env_id, str):
        return env_id.split("-v")[0].split(".")[-1]
    return type(task).__name__


class Multitask(Task):
    r"""Trials of several tasks in one batch, with one-hot rule inputs (Yang et al. 2019).

    Parameters
    ----------
    tasks : sequence of Task
        Two or more tasks (built-in, NeuroGym, your own ``Task`` subclasses), or their config
        dicts; all with the same ``dt``.
    names : sequence of str, optional
        A name per task, used in the metrics (``<name>/accuracy``) and the analysis; default:
        the NeuroGym environment without collection and version (``yang19.dm1-v0`` → ``dm1``) or
        the class name, numbered when repeated (``FlipFlop``, ``FlipFlop_2``).
    rule_inputs : bool
        Append K one-hot rule inputs (task k: input ``I_base + k`` is 1 during its trials).
    proportions : sequence of float, optional
        Relative frequency of each task (≥ 0, normalised; default: equal). A batch of B trials
        holds ``B·p_k`` trials of task k, rounded by systematic sampling (never off by one trial
        or more; exact in expectation), in a random order.
    inputs, outputs : {"separate", "shared"}
        Slot layout of the tasks' inputs and outputs (see the module docstring): ``"separate"``
        blocks per task (per-task output heads), or ``"shared"`` first slots.

    Notes
    -----
    ``generate`` returns the conditions ``task`` (B,), ``steps`` (the length of the task's own
    sub-batch), ``onset`` and ``length`` (see :class:`TrialTasks`), and each task's own
    conditions as ``<name>/<key>`` (zero on other tasks' trials). Each task's trials are drawn by
    its own ``generate`` with a generator seeded from the batch's: one seed, the same batch.
    """

    def __init__(
        self,
        tasks: Sequence[Task],
        *,
        names: Sequence[str] | None = None,
        rule_inputs: bool = True,
        proportions: Sequence[float] | None = None,
        inputs: str = "separate",
        outputs: str = "separate",
    ) -> None:
        if isinstance(tasks, (str, bytes, Mapping, Task)) or not isinstance(tasks, Sequence):
            raise TypeError(
                f"tasks must be a list of torchrate.tasks.Task (or their config dicts), got {_validate._show(tasks)}"
            )
        tasks = [_as_task(t, f"tasks[{i}]") for i, t in enumerate(tasks)]
        for i, t in enumerate(tasks):
            if isinstance(t, Multitask):
                raise TypeError(
                    f"tasks[{i}] is a Multitask: list its tasks in this one instead (nested mixtures are not supported)"
                )
        if len(tasks) < 2:
            raise ValueError(f"tasks must hold at least two tasks to mix, got {len(tasks)}")
        dts = [t.dt for t in tasks]
        if any(not math.isclose(d, dts[0], rel_tol=1e-12) for d in dts):
            raise ValueError(
                f"tasks must all have the same dt (one network steps through them all), got dt = "
                f"{dts} ms; set each task's dt to one value"
            )
        super().__init__(dts[0])
        K = len(tasks)
        self._names_given = names  # config() gives them as given: None stays None (as a CLI checkpoint holds it)
        if names is None:
            base = [_default_name(t) for t in tasks]
            names = [n if base.count(n) == 1 else f"{n}_{base[: i + 1].count(n)}" for i, n in enumerate(base)]
            names = [n.replace("/", "_") for n in names]
        else:
            if isinstance(names, (str, bytes)) or not isinstance(names, Sequence):
                raise TypeError(f"names must be a list of {K} strings or None, got {_validate._show(names)}")
            names = list(names)
            if len(names) != K:
                raise ValueError(f"names must give one name per task ({K}), got {len(names)}")
            for i, n in enumerate(names):
                if not isinstance(n, str):
                    raise TypeError(f"names[{i}] must be a str, got {_validate._show(n)}")
                if not n or "/" in n:
                    raise ValueError(f"names[{i}] must be a non-empty name without '/', got {n!r}")
            if len(set(names)) != K:
                raise ValueError(f"names must be distinct, got {names}")
        _validate.check_flag("rule_inputs", rule_inputs)
        if proportions is None:
            weights = [1.0] * K
        else:
            if isinstance(proportions, (str, bytes)) or not isinstance(proportions, Sequence):
                raise TypeError(
                    f"proportions must be a list of {K} numbers ≥ 0 or None, got {_validate._show(proportions)}"
                )
            if len(proportions) != K:
                raise ValueError(f"proportions must give one number per task ({K}), got {len(proportions)}")
            weights = [_validate.check_nonnegative(f"proportions[{i}]", p) for i, p in enumerate(proportions)]
            if sum(weights) <= 0:
                raise ValueError(f"proportions must not all be 0 (some task must be drawn), got {list(proportions)}")
        _validate.check_choice("inputs", inputs, _LAYOUTS, fix="'separate' slots per task or 'shared' first slots")
        _validate.check_choice("outputs", outputs, _LAYOUTS, fix="'separate' heads per task or one 'shared' head")
        self.tasks, self.names, self.rule_inputs = tasks, names, rule_inputs
        self.proportions = None if proportions is None else [float(p) for p in proportions]
        self.inputs, self.outputs = inputs, outputs
        self._weights = torch.tensor(weights, dtype=torch.float64) / sum(weights)
        self._in = _slots([t.input_size for t in tasks], inputs)
        self._out = _slots([t.output_size for t in tasks], outputs)
        self._n_inputs = max(s.stop for s in self._in)
        self.input_size = self._n_inputs + (K if rule_inputs else 0)
        self.output_size = max(s.stop for s in self._out)
        kinds = {t.loss for t in tasks}
        self.loss = kinds.pop() if len(kinds) == 1 else "mixed"  # informative: the loss is compute_loss

    # ------------------------------------------------------------------ config
    def config(self) -> dict[str, Any]:
        cls = type(self)
        return {
            "class_path": f"{cls.__module__}.{cls.__qualname__}",
            "init_args": {
                "tasks": [t.config() for t in self.tasks],
                "names": None if self._names_given is None else list(self.names),
                "rule_inputs": self.rule_inputs,
                "proportions": self.proportions,
                "inputs": self.inputs,
                "outputs": self.outputs,
            },
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config()["init_args"].items() if k != "tasks")
        return f"Multitask([{', '.join(map(repr, self.tasks))}], {args})"

    @property
    def n_steps(self) -> int:
        """T: the longest of the tasks' trials, when each task has a fixed length."""
        return max(t.n_steps for t in self.tasks)  # AttributeError (NeuroGym) when some task varies

    def _fixed_steps(self) -> int | None:
        try:
            return self.n_steps
        except (AttributeError, NotImplementedError):
            return None

    # ------------------------------------------------------------------ trials
    def counts(
        self, batch_size: int, generator: torch.Generator | None = None, device: torch.device | str | None = None
    ) -> Tensor:
        """Trials of each task in a batch of ``batch_size`` (K,): systematic sampling of the
        proportions, ``floor(B·C_k + u) − floor(B·C_{k−1} + u)`` with C the cumulative
        proportions and one ``u ~ U[0, 1)``."""
        batch_size = _validate.as_int("batch_size", batch_size, minimum=1)
        u = torch.rand((), generator=generator, device=device, dtype=torch.float64).cpu()
        edges = torch.floor(batch_size * self._weights.cumsum(0) + u)
        edges[-1] = batch_size  # C_K = 1 (whatever its rounding): the counts sum to B
        return torch.diff(edges, prepend=torch.zeros(1, dtype=torch.float64)).long()

    def _generate(
        self, B: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
    ) -> tuple[Trials, dict[str, Tensor]]:
        K = len(self.tasks)
        counts = self.counts(B, generator, device)
        order = torch.randperm(B, generator=generator, device=device)
        task = torch.repeat_interleave(torch.arange(K, device=device), counts.to(device))[order]  # (B,)
        seeds = torch.randint(2**62, (K,), generator=generator, device=device).tolist()
        parts: list[tuple[Trials, dict[str, Tensor]] | None] = []
        for k, sub in enumerate(self.tasks):
            n = int(counts[k])
            if n == 0:
                parts.append(None)
                continue
            g = torch.Generator(device).manual_seed(seeds[k])  # task k's trials depend on its seed and n only
            parts.append(sub.generate(n, generator=g, device=device, dtype=dtype))
        T = max([p[0].inputs.shape[0] for p in parts if p is not None] + [self._fixed_steps() or 0])
        inputs = torch.zeros(T, B, self.input_size, device=device, dtype=dtype)
        targets = torch.zeros(T, B, self.output_size, device=device, dtype=dtype)
        mask = torch.zeros(T, B, self.output_size, device=device, dtype=dtype)
        steps = torch.zeros(B, dtype=torch.long, device=device)
        onset = torch.zeros(B, dtype=torch.long, device=device)
        length = torch.zeros(B, dtype=torch.long, device=device)
        conditions: dict[str, Tensor] = {}
        for k, part in enumerate(parts):
            if part is None:
                continue
            (x, y, m), c = part
            idx = (task == k).nonzero()[:, 0]
            Tk = x.shape[0]
            inputs[:Tk, idx, self._in[k]] = x
            targets[:Tk, idx, self._out[k]] = y
            mask[:Tk, idx, self._out[k]] = m
            steps[idx] = Tk
            onset[idx] = _onset(x)
            length[idx] = _length(x, y, m, onset[idx])
            if self.rule_inputs:
                live = torch.arange(T, device=device)[:, None] < length[idx]  # (T, n): on during the trial
                inputs[:, idx, self._n_inputs + k] = live.to(dtype)
            for key, value in c.items():
                full = torch.zeros((B, *value.shape[1:]), dtype=value.dtype, device=value.device)
                full[idx] = value
                conditions[f"{self.names[k]}/{key}"] = full
        return Trials(inputs, targets, mask), {
            "task": task,
            "steps": steps,
            "onset": onset,
            "length": length,
            **conditions,
        }

    def trial_tasks(self, conditions: Mapping[str, Tensor]) -> TrialTasks:
        """The task of each trial and its onset and length, from ``generate``'s conditions —
        what the training report's task-variance analysis reads."""
        conditions = self._check_conditions(conditions)
        return TrialTasks(list(self.names), conditions["task"], conditions["onset"], conditions["length"])

    def _check_conditions(self, conditions: object) -> Mapping[str, Tensor]:
        if not isinstance(conditions, Mapping) or not all(k in conditions for k in ("task", "steps")):
            raise ValueError(
                "Multitask needs the conditions of the batch (which task each trial is): pass "
                "multitask.generate(...)[1] as conditions"
            )
        return conditions

    def _split(self, k: int, conditions: Mapping[str, Tensor]) -> tuple[Tensor, int, dict[str, Tensor]]:
        """Trials of task k (indices), its sub-batch length and its own conditions."""
        idx = (conditions["task"] == k).nonzero()[:, 0]
        prefix = f"{self.names[k]}/"
        own = {key[len(prefix) :]: v[idx] for key, v in conditions.items() if key.startswith(prefix)}
        Tk = int(conditions["steps"][idx].max()) if idx.numel() else 0
        return idx, Tk, own

    # ------------------------------------------------------------------ loss and metrics
    def compute_loss(
        self, outputs: Tensor, targets: Tensor, mask: Tensor, conditions: Mapping[str, Tensor] | None = None
    ) -> Tensor:
        r"""``Σ_k (n_k / B) · L_k``: each task's own loss (masked cross-entropy over its outputs,
        or masked MSE) on its trials, weighted by its share of the batch; what
        :class:`~torchrate.training.TaskModule` trains a Multitask with. Works under ``vmap``
        over ``outputs`` (an ensemble)."""
        from ..training.module import _LOSSES  # the very losses single tasks are trained with

        conditions = self._check_conditions(conditions)
        task = conditions["task"]
        B = task.shape[0]
        onehot = torch.nn.functional.one_hot(task, len(self.tasks)).to(mask.dtype)  # (B, K)
        scored = torch.stack([(mask[..., s] * onehot[:, k, None]).sum() for k, s in enumerate(self._out)])
        n, has_scored = onehot.sum(0).tolist(), (scored > 0).tolist()  # one host sync per batch
        total = outputs.new_zeros(())
        for k, (sub, s) in enumerate(zip(self.tasks, self._out)):
            if n[k] == 0 or not has_scored[k]:  # absent, or nothing scored on its trials in this batch
                continue
            m = mask[..., s] * onehot[:, k, None]
            total = total + (n[k] / B) * _LOSSES[sub.loss](outputs[..., s], targets[..., s], m)
        return total

    def evaluate(
        self, outputs: Tensor, targets: Tensor, mask: Tensor, conditions: Mapping[str, Tensor] | None = None
    ) -> dict[str, Tensor]:
        self._check_outputs(outputs, targets, mask)
        conditions = self._check_conditions(conditions)
        metrics: dict[str, Tensor] = {}
        accuracies = []
        for k, sub in enumerate(self.tasks):
            idx, Tk, own = self._split(k, conditions)
            if idx.numel() == 0:
                continue
            s = self._out[k]
            m = mask[:Tk, idx][..., s]
            if not bool(m.sum() > 0):  # e.g. flip-flop trials without a pulse: nothing to score
                continue
            result = sub.evaluate(outputs[:Tk, idx][..., s], targets[:Tk, idx][..., s], m, own)
            metrics |= {f"{self.names[k]}/{key}": v for key, v in result.items()}
            if "accuracy" in result and result["accuracy"].ndim == 0:
                accuracies.append(result["accuracy"])
        if accuracies:
            metrics["accuracy"] = torch.stack(accuracies).mean()
        return metrics

    # ------------------------------------------------------------------ figure
    def headline(self, metrics: Mapping[str, Tensor]) -> dict[str, tuple[str, float]]:
        """Each task's headline metric in ``metrics``: ``{name: (metric, value)}`` — its
        ``accuracy`` if it has one, else its first metric with "accuracy" in the name, else its
        first scalar metric."""
        out = {}
        for name in self.names:
            own = {k[len(name) + 1 :]: v for k, v in metrics.items() if k.startswith(f"{name}/") and v.ndim == 0}
            if not own:
                continue
            key = "accuracy" if "accuracy" in own else next((k for k in own if "accuracy" in k), next(iter(own)))
            out[name] = (key, float(own[key]))
        return out

    def draw(self, metrics: dict[str, Tensor], outputs: Tensor, targets: Tensor, mask: Tensor) -> Figure:
        """Each task's headline metric (its accuracy where it has one), one bar per task."""
        heads = self.headline(metrics)
        fig, ax = figure(figsize=(max(4.5, 0.45 * len(heads) + 1.5), 3.6))
        names = list(heads)
        values = [heads[n][1] for n in names]
        colors = ["tab:blue" if "accuracy" in heads[n][0] else "tab:orange" for n in names]
        ax.bar(range(len(names)), values, color=colors)
        ax.set_xticks(
            range(len(names)),
            [f"{n}\n({heads[n][0]})" if heads[n][0] != "accuracy" else n for n in names],
            rotation=60,
            ha="right",
            fontsize=7,
        )
        mean = metrics.get("accuracy")
        title = "per-task performance" + (f" (mean accuracy {float(mean):.1%})" if mean is not None else "")
        ax.set(ylabel="accuracy (blue) / other metric (orange)", title=title)
        if all("accuracy" in heads[n][0] for n in names):
            ax.set_ylim(0, 1.02)
        fig.tight_layout()
        return fig


def _slots(sizes: list[int], layout: str) -> list[slice]:
    if layout == "shared":
        return [slice(0, n) for n in sizes]
    edges = [0]
    for n in sizes:
        edges.append(edges[-1] + n)
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


def _onset(x: Tensor) -> Tensor:
    """(n,) the first step t ≥ 1 whose input differs from step t − 1 (the end of the initial
    fixation); 0 when the input never changes."""
    change = (x[1:] != x[:-1]).any(-1)  # (T-1, n)
    first = torch.where(change.any(0), change.to(torch.int8).argmax(0) + 1, 0)
    return first.long()


def _length(x: Tensor, y: Tensor, m: Tensor, onset: Tensor) -> Tensor:
    """(n,) one past the last step with a non-zero input, target or mask weight (all T steps for a
    trial of zeros), and past the onset: the window ``onset ≤ t < length`` is never empty."""
    live = (x != 0).any(-1) | (y != 0).any(-1) | (m != 0).any(-1)  # (T, n)
    T = x.shape[0]
    last = torch.where(live, torch.arange(T, device=x.device)[:, None], -1).amax(0)
    return torch.where(last >= 0, last + 1, T).maximum(onset + 1).long()
