r"""NeuroGym environments as torchrate tasks: seeded, masked, whole trials.

`NeuroGym <https://github.com/neurogym/neurogym>`_ is a suite of about 30 cognitive tasks
written as gymnasium environments. Each of its trial-based environments builds a trial at
once — observations ``env.ob`` (T_b, I) and ground-truth actions ``env.gt`` (T_b,) — and
:class:`NeuroGym` turns B of them into a torchrate batch::

    inputs  (T, B, I)   the observations, zero after a trial's end
    targets (T, B, O)   one-hot of the ground-truth action (O = number of actions)
    mask    (T, B, O)   1 where scored: the response period (``loss_on="decision"``) or every
                        step of the trial (``loss_on="all"``); 0 on padding

with T the longest trial of the batch. The outputs are logits over the actions (action 0 is
"fixate"), trained by cross-entropy.

Seeding: each batch builds a fresh environment, seeds its ``np_random``-style generators
(``env.seed``) with one integer drawn from the torch generator, then draws its B trials:
the same torch seed gives bit-identical batches in every process, and no global RNG is
touched.

``neurogym`` is an optional dependency (``pip install "torchrate[neurogym]"``), imported on
first use.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .. import _validate
from .base import Task, Trials

__all__ = ["NeuroGym", "import_neurogym"]

_LOSS_ON = ("decision", "all")
_MAX_LEVELS = 16  # a condition with more distinct values draws no curve


def import_neurogym():
    """``import neurogym``, or an ``ImportError`` that says how to install it."""
    try:
        import neurogym
    except ImportError as err:
        raise ImportError(
            "torchrate.tasks.NeuroGym needs the optional dependency neurogym, which is not installed "
            f"({err}); install it with: pip install 'torchrate[neurogym]'"
        ) from None
    return neurogym


def _env_class(env_id: str):
    """The environment class registered under ``env_id`` and the keyword arguments of its spec."""
    import_neurogym()  # registers the environments
    import gymnasium as gym

    try:
        spec = gym.spec(env_id)
    except gym.error.Error:
        import neurogym.envs.registration as registry

        known = ", ".join(sorted(registry.ALL_NATIVE_ENVS))
        raise ValueError(f"env_id must name a NeuroGym environment, got {env_id!r}; known: {known}") from None
    creator = spec.entry_point
    if isinstance(creator, str):
        creator = gym.envs.registration.load_env_creator(creator)
    return creator, dict(spec.kwargs or {})


def _plain_kwargs(value, where: str):
    """``value`` (an ``env_kwargs`` entry) as plain Python — NumPy scalars and arrays and tensors become
    floats, ints, bools and lists, so the task's config is saved and loaded with ``weights_only=True`` —
    with every number finite (a NaN ``sigma`` would give NaN inputs)."""
    if isinstance(value, Mapping):
        return {k: _plain_kwargs(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain_kwargs(v, f"{where}[{i}]") for i, v in enumerate(value))
    if isinstance(value, (np.ndarray, Tensor)):
        return [_plain_kwargs(v, f"{where}[{i}]") for i, v in enumerate(value.tolist())] if value.ndim else \
            _plain_kwargs(value.item(), where)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} must be a finite number, got {value!r}")
    return value


def _check_timing(timing, where: str) -> None:
    """Every number in a ``timing`` spec (a duration in ms, or the bounds of a distribution of
    durations) must be ≥ 0: NeuroGym turns a negative period into a trial of one step."""
    if isinstance(timing, Mapping):
        for k, v in timing.items():
            _check_timing(v, f"{where}[{k!r}]")
    elif isinstance(timing, (list, tuple)):
        for i, v in enumerate(timing):
            _check_timing(v, f"{where}[{i}]")
    elif isinstance(timing, numbers.Real) and not isinstance(timing, bool) and timing < 0:
        raise ValueError(f"{where} must be a duration ≥ 0 ms, got {timing!r}")


def _is_number(value) -> bool:
    return isinstance(value, (numbers.Real, np.number, np.bool_)) and not isinstance(value, (str, np.str_))


class NeuroGym(Task):
    r"""A NeuroGym environment as a :class:`~torchrate.tasks.Task`.

    Parameters
    ----------
    env_id : str
        A registered NeuroGym id, e.g. ``"PerceptualDecisionMaking-v0"``.
    dt : float, optional
        Step (ms) given to the environment; default: the environment's own (mostly 100 ms).
        NeuroGym floors every period to a whole number of steps.
    env_kwargs : dict, optional
        Other keyword arguments of the environment (``timing``, ``cohs``, ``sigma``, …);
        not ``dt``. Numbers must be finite and durations in ``timing`` ≥ 0 ms, with a
        response period of at least one step; NumPy values are stored as Python numbers.
    loss_on : {"decision", "all"}
        Steps scored by the loss: the response period (every output, the fixation output
        included) or every step of the trial. Padding is never scored.
    decision_period : str
        Name of the environment's response period (ReadySetGo: ``"production"``).
    condition : str or None
        Trial entry for the psychometric curve: a key of the environment's trial dict, or
        ``"auto"``: ``coh`` if the trials have it, else, for trials with a ``context`` and
        ``coh_1, coh_2, …``, the coherence of the relevant modality ``coh_{context+1}``
        (ContextDecisionMaking), else none. ``None``: no curve.
    reaction_time : bool
        Reaction-time variant (as NeuroGym's ``ReactionTime`` wrapper): the response window
        opens one step after the stimulus onset (period ``"stimulus"``), the target choice
        is shown from there on, and :meth:`evaluate` reports reaction times.
    rt_threshold : float
        A reaction-time trial's response is the first step of the response window at which
        the softmax probability of a choice reaches this value.

    Notes
    -----
    :meth:`evaluate` returns

    * ``accuracy`` — NeuroGym's decision accuracy: the choice (argmax of the outputs) at the
      last step of the response period compared with the ground truth there. In timing
      tasks, whose ground truth is one "go" step inside the response period (ReadySetGo),
      the response is the step where the probability of "go" peaks, correct within
      NeuroGym's reward tolerance ``prod_margin · interval + 25`` ms (``dt`` for other
      environments);
    * ``condition``, ``accuracy_by_condition`` — the psychometric curve in per-cent-correct
      form, when the trials expose a condition; with two choices also ``signed_condition``
      and ``p_choice1`` (the fraction of choices of action 1 at condition × (+1 if action 1
      is correct, −1 if not));
    * ``mean_rt`` and ``rt_by_condition`` (ms from stimulus onset, correct trials) — the
      chronometric curve, with ``reaction_time=True``.

    Examples
    --------
    >>> import torchrate as tr
    >>> task = tr.tasks.NeuroGym("GoNogo-v0", dt=100)
    >>> inputs, targets, mask = task.sample(32, generator=torch.Generator().manual_seed(0))
    >>> inputs.shape, targets.shape
    (torch.Size([15, 32, 3]), torch.Size([15, 32, 2]))
    """

    loss = "cross_entropy"

    def __init__(self, env_id: str, *, dt: float | None = None, env_kwargs: dict[str, Any] | None = None,
                 loss_on: str = "decision", decision_period: str = "decision", condition: str | None = "auto",
                 reaction_time: bool = False, rt_threshold: float = 0.8):
        if not isinstance(env_id, str):
            raise TypeError(f"env_id must be a NeuroGym environment id (str), got {type(env_id).__name__}")
        if env_kwargs is not None and not isinstance(env_kwargs, Mapping):
            raise TypeError(f"env_kwargs must be a dict of the environment's arguments or None, got {env_kwargs!r}")
        env_kwargs = dict(env_kwargs or {})
        if "dt" in env_kwargs:
            raise ValueError(f"give the step as NeuroGym({env_id!r}, dt=...), not in env_kwargs "
                             f"(got env_kwargs dt = {env_kwargs['dt']!r})")
        env_kwargs = _plain_kwargs(env_kwargs, "env_kwargs")
        if "timing" in env_kwargs:
            _check_timing(env_kwargs["timing"], "env_kwargs['timing']")
        if dt is not None:
            dt = _validate.check_positive("dt", dt, fix="a step in ms, or None (the environment's own)")
        if loss_on not in _LOSS_ON:
            raise ValueError(f"loss_on must be one of {_LOSS_ON}, got {loss_on!r}")
        if condition is not None and not isinstance(condition, str):
            raise TypeError(f"condition must be a str or None (the entry of each trial that is the psychometric "
                            f"variable, 'auto', or None for none), got {_validate._show(condition)}")
        _validate.check_flag("reaction_time", reaction_time)
        rt_threshold = _validate.as_float("rt_threshold", rt_threshold, finite=False)
        if not 0.5 < rt_threshold <= 1:
            raise ValueError(f"rt_threshold must be a probability in (0.5, 1], got {rt_threshold!r}")
        self.env_id, self.env_kwargs, self.loss_on = env_id, env_kwargs, loss_on
        self.decision_period, self.condition = decision_period, condition
        self.reaction_time, self.rt_threshold = bool(reaction_time), float(rt_threshold)
        self._cls, spec_kwargs = _env_class(env_id)
        self._kwargs = {**spec_kwargs, **env_kwargs}
        if dt is not None:
            self._kwargs["dt"] = int(dt) if float(dt).is_integer() else float(dt)
        env = self._make_env()
        super().__init__(float(env.dt))
        self._check_env(env)
        self.input_size = int(env.observation_space.shape[0])
        self.output_size = int(env.action_space.n)

    # ------------------------------------------------------------------ the environment
    def _make_env(self):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # gymnasium's metadata notes
                return self._cls(**self._kwargs)
        except TypeError as err:
            raise TypeError(f"env_kwargs {self.env_kwargs!r} do not fit {self.env_id}: {err}") from None

    def _check_env(self, env) -> None:
        from neurogym.core import TrialEnv

        name = self.env_id
        if not isinstance(env, TrialEnv):
            raise ValueError(f"{name} is not a trial-based NeuroGym environment (TrialEnv), got {type(env).__name__}")
        obs, act = env.observation_space, env.action_space
        if obs.shape is None or len(obs.shape) != 1 or not hasattr(act, "n"):
            raise ValueError(f"{name} must have a 1-d Box observation space and a Discrete action space for "
                             f"supervised training; got {obs} and {act}")
        env.seed(0)
        env.new_trial()
        if getattr(env, "ob", None) is None or getattr(env, "gt", None) is None or not env._gt_built:
            raise ValueError(f"{name} does not build its observations and ground truth per trial (env.ob, env.gt): "
                             "it can only be used step by step (reinforcement learning), not as a supervised task")
        periods = sorted(env.start_ind)
        if self.decision_period not in env.start_ind:
            raise ValueError(f"decision_period must name a period of {name}; expected one of {periods}, "
                             f"got {self.decision_period!r}")
        if self.reaction_time and "stimulus" not in env.start_ind:
            raise ValueError(f"reaction_time=True needs a 'stimulus' period; {name} has {periods}")
        n = env.ob.shape[0]
        steps = min(env.end_ind[self.decision_period], n) - min(env.start_ind[self.decision_period], n)
        if steps < 1:
            raise ValueError(f"timing[{self.decision_period!r}] must last at least one step (dt = {env.dt:g} ms); "
                             f"{name}'s first trial has a {self.decision_period!r} period of {steps} steps, so "
                             f"nothing would be scored (an all-zero loss mask); lengthen it in "
                             f"env_kwargs={{'timing': {{{self.decision_period!r}: ...}}}}")

    # ------------------------------------------------------------------ trials
    @property
    def n_steps(self) -> int:
        raise AttributeError("NeuroGym trials vary in length: T is the longest trial of each batch "
                             "(inputs.shape[0])")

    def _condition_of(self, trial: dict) -> float:
        """The psychometric variable of one trial (NaN: none)."""
        key = self.condition
        if key is None:
            return math.nan
        if key != "auto":
            if key not in trial:
                raise KeyError(f"condition {key!r} is not an entry of {self.env_id}'s trials; "
                               f"they have {sorted(trial)}")
            return float(trial[key])
        if "coh" in trial and _is_number(trial["coh"]):
            return float(trial["coh"])
        context = trial.get("context")
        if context is not None and f"coh_{int(context) + 1}" in trial:
            return float(trial[f"coh_{int(context) + 1}"])
        return math.nan

    def _tolerance(self, env, trial: dict) -> float:
        """Timing tolerance (ms): NeuroGym's reward rule ``prod_margin · interval + 25``, else dt."""
        margin, interval = getattr(env, "prod_margin", None), trial.get("production")
        if margin is not None and interval is not None:
            return float(margin) * float(interval) + 25.0
        return self.dt

    def _generate(self, B, generator, device, dtype):
        seed = int(torch.randint(2**32, (1,), generator=generator, device=device, dtype=torch.int64))
        env = self._make_env()  # fresh: a batch depends on its seed only, not on earlier trials
        env.seed(seed)
        period = self.decision_period
        obs, gts = [], []
        start = np.empty(B, np.int64)
        stop = np.empty(B, np.int64)
        onset = np.zeros(B, np.int64)
        length = np.empty(B, np.int64)
        condition = np.empty(B, np.float64)
        tolerance = np.empty(B, np.float64)
        for b in range(B):
            trial = env.new_trial()
            ob, gt = env.ob, np.array(env.gt, dtype=np.int64)
            n = ob.shape[0]
            gt = gt[:n]
            s, e = min(env.start_ind[period], n), min(env.end_ind[period], n)
            if self.reaction_time:  # NeuroGym's ReactionTime wrapper: respond from stimulus onset + 1
                onset[b] = env.start_ind["stimulus"]
                s = min(onset[b] + 1, e - 1)
                gt[s:e] = gt[e - 1]
            obs.append(ob)
            gts.append(gt)
            start[b], stop[b], length[b] = s, e, n
            condition[b] = self._condition_of(trial)
            tolerance[b] = self._tolerance(env, trial)
        T = int(length.max())
        inputs = np.zeros((T, B, self.input_size), np.float64)
        actions = np.full((T, B), -1, np.int64)  # −1: padding
        for b in range(B):
            inputs[: length[b], b] = obs[b]
            actions[: length[b], b] = gts[b]
        t = np.arange(T)[:, None]
        if self.loss_on == "decision":
            scored = (t >= start) & (t < stop)
        else:
            scored = t < length
        if not scored.any():
            raise ValueError(f"timing[{period!r}] must last at least one step (dt = {self.dt:g} ms): no trial of "
                             f"this batch of {B} has a {period!r} step, so the loss mask is all zero; lengthen it "
                             f"in env_kwargs={{'timing': {{{period!r}: ...}}}}")
        cols = np.arange(B)
        last = actions[np.clip(stop - 1, 0, T - 1), cols]  # the ground truth at the response's end
        in_window = (t >= start) & (t < stop)
        varies = ((actions != last) & in_window).any(0)  # it changes inside: a timing trial
        event = np.where(varies, np.argmax((actions > 0) & in_window, 0), -1)  # its go step
        target = np.where(varies, actions[np.maximum(event, 0), cols], last)
        inputs_t = torch.from_numpy(inputs).to(device=device, dtype=dtype)
        actions_t = torch.from_numpy(actions).to(device)
        targets = torch.nn.functional.one_hot(actions_t.clamp(min=0), self.output_size).to(dtype)
        targets = targets * (actions_t >= 0)[..., None]
        mask = torch.from_numpy(scored).to(device=device, dtype=dtype)[..., None].expand(T, B, self.output_size)
        conditions = {
            "target": torch.from_numpy(target).to(device),
            "decision_start": torch.from_numpy(start).to(device),
            "decision_stop": torch.from_numpy(stop).to(device),
            "length": torch.from_numpy(length).to(device),
            "event": torch.from_numpy(event).to(device),
            "tolerance": torch.from_numpy(tolerance).to(device=device, dtype=dtype),
            "condition": torch.from_numpy(condition).to(device=device, dtype=dtype),
        }
        if self.reaction_time:
            conditions["stimulus_start"] = torch.from_numpy(onset).to(device)
        return Trials(inputs_t, targets, mask.contiguous()), conditions

    # ------------------------------------------------------------------ metrics
    def evaluate(self, outputs, targets, mask, conditions=None):
        self._check_outputs(outputs, targets, mask)
        T, B, _ = outputs.shape
        f = outputs.dtype
        cols = torch.arange(B, device=outputs.device)
        if conditions is None:  # the last scored step of each trial, its target there
            scored = mask.amax(-1) > 0  # (T, B)
            last = (torch.arange(T, device=outputs.device)[:, None] * scored).amax(0)
            choice = outputs[last, cols].argmax(-1)
            correct = choice == targets[last, cols].argmax(-1)
            return {"accuracy": correct.to(f).mean()}
        last = conditions["decision_stop"] - 1
        target = conditions["target"]
        choice = outputs[last, cols].argmax(-1)
        rt = None
        if self.reaction_time:
            choice, rt = self._reaction_times(outputs, conditions, choice)
        correct = choice == target
        timing = conditions["event"] >= 0
        if bool(timing.any()):
            correct = torch.where(timing, self._timing_correct(outputs, conditions), correct)
        metrics = {"accuracy": correct.to(f).mean()}
        c = conditions["condition"].to(f)
        metrics |= self._psychometric(c, choice, target, correct.to(f), ~timing)
        if rt is not None:
            responded = torch.isfinite(rt)
            metrics["mean_rt"] = rt[responded].mean() if bool(responded.any()) else rt.new_tensor(math.nan)
            metrics |= self._chronometric(c, rt, correct & responded)
        return metrics

    def _reaction_times(self, outputs, conditions, choice):
        """``(choice, rt)``: the first choice whose probability reaches ``rt_threshold`` in the
        response window and its time (ms from stimulus onset; NaN and the last-step choice
        when none does)."""
        T = outputs.shape[0]
        t = torch.arange(T, device=outputs.device)[:, None]
        window = (t >= conditions["decision_start"]) & (t < conditions["decision_stop"])
        p, a = outputs.softmax(-1)[..., 1:].max(-1)  # best choice (actions ≥ 1) at each step
        hit = (p >= self.rt_threshold) & window
        first = torch.where(hit, t, T).amin(0)  # (B,)
        any_hit = first < T
        cols = torch.arange(outputs.shape[1], device=outputs.device)
        picked = a[first.clamp(max=T - 1), cols] + 1
        choice = torch.where(any_hit, picked, choice)
        rt = (first - conditions["stimulus_start"] + 1).to(outputs.dtype) * self.dt
        return choice, torch.where(any_hit, rt, torch.full_like(rt, math.nan))

    def _timing_correct(self, outputs, conditions):
        """Timing trials: the step where the probability of the "go" action peaks in the
        response window, within ``tolerance`` ms of the ground truth's go step."""
        T, B, _ = outputs.shape
        t = torch.arange(T, device=outputs.device)[:, None]
        window = (t >= conditions["decision_start"]) & (t < conditions["decision_stop"])
        go = conditions["target"].expand(T, B)[..., None]  # the action of the go step
        p = outputs.softmax(-1).gather(-1, go)[..., 0]  # (T, B)
        response = torch.where(window, p, -1.0).argmax(0)
        error_ms = (response - conditions["event"]).abs().to(outputs.dtype) * self.dt
        return error_ms <= conditions["tolerance"]

    def _psychometric(self, c, choice, target, correct, informative) -> dict[str, Tensor]:
        has = torch.isfinite(c) & informative
        if not bool(has.any()):
            return {}
        levels = torch.unique(c[has])
        if levels.numel() > _MAX_LEVELS:
            return {}
        at = (c[:, None] == levels) & has[:, None]  # (B, K)
        atf = at.to(correct.dtype)
        out = {"condition": levels, "accuracy_by_condition": (atf * correct[:, None]).sum(0) / atf.sum(0)}
        if self.output_size == 3:  # fixation + two choices: the signed (p(choice 1)) form
            sign = torch.where(target == 1, 1.0, -1.0).to(c.dtype)
            signed = c * sign + 0.0  # + 0.0: no −0
            s_levels = torch.unique(signed[has])
            at = ((signed[:, None] == s_levels) & has[:, None]).to(correct.dtype)
            first = (choice == 1).to(correct.dtype)
            out["signed_condition"] = s_levels
            out["p_choice1"] = (at * first[:, None]).sum(0) / at.sum(0)
        return out

    def _chronometric(self, c, rt, keep) -> dict[str, Tensor]:
        has = torch.isfinite(c)
        if not bool(has.any()):
            return {}
        levels = torch.unique(c[has])
        if levels.numel() > _MAX_LEVELS:
            return {}
        at = ((c[:, None] == levels) & keep[:, None]).to(rt.dtype)
        return {"rt_condition": levels,
                "rt_by_condition": (at * torch.nan_to_num(rt)[:, None]).sum(0) / at.sum(0)}

    # ------------------------------------------------------------------ figure
    def draw(self, metrics, outputs, targets, mask):
        """Psychometric (and chronometric) curves when the trials expose a condition, and one
        trial's action probabilities against its targets."""
        from .base import figure

        curves = [k for k in ("p_choice1", "accuracy_by_condition", "rt_by_condition") if k in metrics]
        curves = curves[:1] + (["rt_by_condition"] if "rt_by_condition" in curves[1:] else [])
        fig, axes = figure(1, len(curves) + 1, figsize=(4.2 * (len(curves) + 1), 3.4), squeeze=False)
        axes = list(axes[0])
        acc = float(metrics["accuracy"])
        for ax, key in zip(axes, curves):
            x = {"p_choice1": "signed_condition", "accuracy_by_condition": "condition",
                 "rt_by_condition": "rt_condition"}[key]
            ax.plot(metrics[x].cpu(), metrics[key].cpu(), "o-")
            label = {"p_choice1": "fraction of choice 1", "accuracy_by_condition": "accuracy",
                     "rt_by_condition": "reaction time (ms)"}[key]
            kind = "chronometric" if key == "rt_by_condition" else "psychometric"
            ax.set(xlabel=f"{'signed ' if key == 'p_choice1' else ''}condition", ylabel=label,
                   title=f"{kind} curve")
            if key != "rt_by_condition":
                ax.set_ylim(-0.02, 1.02)
                ax.axhline(0.5 if key == "p_choice1" else 1 / (self.output_size - 1 or 1), color="0.7", lw=0.8)
        ax = axes[-1]
        scored = mask[:, 0].amax(-1) > 0 if mask.shape[1] else None
        t = (torch.arange(outputs.shape[0]) + 1) * self.dt
        p = outputs[:, 0].softmax(-1).detach().cpu()
        for k in range(self.output_size):
            line, = ax.plot(t, p[:, k], lw=1.2, label=f"action {k}")
            y = targets[:, 0, k].detach().cpu().clone()
            if scored is not None:
                y[~scored.cpu()] = math.nan
            ax.plot(t, y, "--", color=line.get_color(), lw=1)
        ax.set(xlabel="time (ms)", ylabel="probability", ylim=(-0.02, 1.02),
               title=f"{self.env_id}: accuracy {acc:.1%}")
        ax.legend(fontsize=7)
        fig.tight_layout()
        return fig
