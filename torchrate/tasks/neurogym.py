r"""NeuroGym environments as torchrate tasks: seeded, masked, whole trials.

`NeuroGym <https://github.com/neurogym/neurogym>`_ is a suite of about 30 cognitive tasks written
as gymnasium environments. Each of its trial-based environments builds a trial at once —
observations ``env.ob`` (T_b, I) and ground truth ``env.gt`` (T_b,) or (T_b, O) — and
:class:`NeuroGym` turns B of them into a torchrate batch::

    inputs  (T, B, I)   the observations, zero after a trial's end
    targets (T, B, O)   discrete actions: one-hot of the ground-truth action (O = number of
                        actions); continuous actions: the ground truth itself (O = its size)
    mask    (T, B, O)   1 where scored: the response periods (``loss_on="decision"``) or every
                        step of the trial (``loss_on="all"``); 0 on padding

with T the longest trial of the batch. Discrete outputs are logits over the actions (action 0
is "fixate"), trained by cross-entropy; continuous ones are trained by MSE (a regression task).

The response periods are read off the ground truth, not off period names: at construction
64 trials (seed 0) are drawn, and every period of ``env.timing`` in which the target differs
from fixation in some trial — action 0 for discrete actions, the trial's first target for
continuous ones — is a response period; all its steps are scored, in every trial.

Seeding: each batch builds a fresh environment, seeds its ``np_random``-style generators
(``env.seed``) with one integer drawn from the torch generator, then draws its B trials:
the same torch seed gives bit-identical batches in every process, and no global RNG is
touched. Wrapped environments are driven trial by trial (``new_trial`` of the outermost
trial wrapper): ``ScheduleEnvs`` (yang19's ``go``, ``anti``, ``dms``, …) has each of its
sub-environments seeded with a seed of its own (NeuroGym's own ``seed`` gives them all the
same one, so that consecutive trials of two sub-environments repeat each other's draws);
``ScheduleAttr`` (``perceptualdecisionmaking.ibl20``) starts each batch at a seeded random
point of its block schedule; ``ReactionTime`` (``perceptualdecisionmaking.roitman02``) is
applied as ``reaction_time=True``.

``neurogym`` is an optional dependency (``pip install "torchrate[neurogym]"``), imported on
first use.
"""

from __future__ import annotations

import inspect
import math
import numbers
import warnings
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any, NamedTuple, overload

import numpy as np
import torch
from torch import Tensor

from .. import _validate
from .base import Task, Trials, masked_mean

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["NeuroGym", "import_neurogym"]

_LOSS_ON = ("decision", "all")
_MAX_LEVELS = 16  # a condition with more distinct values draws no curve
_PROBE_TRIALS = 64  # trials drawn (seed 0) at construction to find the response periods
# gymnasium < 1.0 warns whenever a wrapper forwards an attribute (``rng``, ``new_trial``) to the
# environment it wraps, which NeuroGym's own wrappers do on every trial
_FORWARDING_WARNING = ".*to get variables from other wrappers is deprecated"


def import_neurogym() -> ModuleType:
    """``import neurogym``, or an ``ImportError`` that says how to install it."""
    try:
        import neurogym
    except ImportError as err:
        raise ImportError(
            "torchrate.tasks.NeuroGym needs the optional dependency neurogym, which is not installed "
            f"({err}); install it with: pip install 'torchrate[neurogym]'"
        ) from None
    return neurogym


def _env_class(env_id: str) -> tuple[Any, dict[str, Any]]:  # neurogym/gymnasium ship no types: Any
    """The environment class (or factory) registered under ``env_id`` and the keyword arguments of its spec."""
    import_neurogym()  # registers the environments
    import gymnasium as gym

    try:
        spec = gym.spec(env_id)
    except gym.error.Error:
        import neurogym.envs.registration as registry

        known = ", ".join(sorted(registry.ALL_EXTENDED_ENVS))
        raise ValueError(f"env_id must name a NeuroGym environment, got {env_id!r}; known: {known}") from None
    creator = spec.entry_point
    if isinstance(creator, str):
        creator = gym.envs.registration.load_env_creator(creator)
    return creator, dict(spec.kwargs or {})


def _parameters(creator: Any) -> dict[str, inspect.Parameter]:
    """The named parameters of an environment class's ``__init__`` (NeuroGym's metaclass hides
    them from ``inspect.signature(cls)``) or of a factory function."""
    fn = getattr(creator, "__init__", creator) if isinstance(creator, type) else creator
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # pragma: no cover - a builtin
        return {}
    return {n: p for n, p in params.items() if n != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _trial_source(env: Any, env_id: str) -> tuple[Any, Any]:
    """``(top, reaction_time)``: the object whose ``new_trial()`` draws one whole trial (the
    environment, or the outermost NeuroGym ``TrialWrapper`` — ``ScheduleEnvs``, ``ScheduleAttr``,
    … — around it), and NeuroGym's ``ReactionTime`` wrapper if the environment came in one.

    Gymnasium's bookkeeping wrappers are dropped; any other wrapper acts in ``step()`` only, so
    whole trials drawn by ``new_trial`` would silently miss it: refused."""
    import gymnasium as gym
    from gymnasium.wrappers import OrderEnforcing, PassiveEnvChecker
    from neurogym.core import TrialEnv, TrialWrapper
    from neurogym.wrappers import ReactionTime

    reaction_time = None
    while not isinstance(env, (TrialEnv, TrialWrapper)):
        if isinstance(env, ReactionTime):
            reaction_time = env
        elif not isinstance(env, (OrderEnforcing, PassiveEnvChecker)):
            if isinstance(env, gym.Wrapper):
                raise ValueError(
                    f"{env_id} comes in a {type(env).__name__} wrapper, which changes the environment "
                    "step by step (in step()), not trial by trial: whole trials drawn with new_trial() "
                    "would miss it, so it cannot be a supervised task"
                )
            raise ValueError(
                f"{env_id} is not a trial-based NeuroGym environment (TrialEnv, or a TrialWrapper around "
                f"one), got {type(env).__name__}"
            )
        env = env.env
    return env, reaction_time


def _seed(env: Any, seed: int) -> None:
    """Seed every random generator behind ``env`` (a trial source, see :func:`_trial_source`) from ``seed``.

    A plain environment gets ``env.seed(seed)``. ``ScheduleEnvs`` gets one seed per
    sub-environment and one for its schedule, spawned from ``seed`` (its own ``seed`` gives them
    all ``seed``: sub-environments would draw the same numbers, trial for trial). ``ScheduleAttr``
    gets seeds for its environment and schedule, and its schedule is advanced by a seeded number
    of trials within one cycle of its blocks: a fresh schedule always starts in its first block,
    so every batch shorter than a block would come from that block alone. An environment with
    blocks of its own (HierarchicalReasoning's ``new_block``) starts a block from the seed.
    """
    import gymnasium as gym
    from neurogym.core import TrialEnv
    from neurogym.wrappers import ScheduleAttr, ScheduleEnvs

    if isinstance(env, TrialEnv):
        env.seed(seed)
        if callable(getattr(env, "new_block", None)):
            # HierarchicalReasoning draws its first block's length in __init__, before any seed:
            # draw it again from the seeded generator
            env.new_block()
    elif isinstance(env, ScheduleEnvs):
        *subs, schedule = (int(s) for s in np.random.SeedSequence(seed).generate_state(len(env.envs) + 1))
        for sub, s in zip(env.envs, subs):
            _seed(sub, s)
        env.schedule.seed(schedule)
    elif isinstance(env, ScheduleAttr):
        inner, schedule, phase = (int(s) for s in np.random.SeedSequence(seed).generate_state(3))
        _seed(env.env, inner)
        env.schedule.seed(schedule)
        cycle = int(sum(getattr(env.schedule, "block_lens", ()) or ())) or int(env.schedule.n)
        for _ in range(phase % cycle):
            env.schedule()
    elif isinstance(env, gym.Wrapper):  # a wrapper without random state of its own
        _seed(env.env, seed)
    else:  # pragma: no cover - _trial_source accepts nothing else
        env.seed(seed)


@overload
def _plain_kwargs(value: Mapping[str, Any], where: str) -> dict[str, Any]: ...
@overload
def _plain_kwargs(value: object, where: str) -> object: ...
def _plain_kwargs(value: object, where: str) -> object:
    """``value`` (an ``env_kwargs`` entry) as plain Python — NumPy scalars and arrays and tensors become
    floats, ints, bools and lists, so the task's config is saved and loaded with ``weights_only=True`` —
    with every number finite (a NaN ``sigma`` would give NaN inputs)."""
    if isinstance(value, Mapping):
        return {k: _plain_kwargs(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain_kwargs(v, f"{where}[{i}]") for i, v in enumerate(value))
    if isinstance(value, (np.ndarray, Tensor)):
        return (
            [_plain_kwargs(v, f"{where}[{i}]") for i, v in enumerate(value.tolist())]
            if value.ndim
            else _plain_kwargs(value.item(), where)
        )
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} must be a finite number, got {value!r}")
    return value


def _check_timing(timing: object, where: str) -> None:
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


def _leaf_envs(top: Any) -> list[Any]:
    """The environments behind a trial source: ``ScheduleEnvs``'s sub-environments, or the one it wraps."""
    subs = getattr(top, "envs", None)
    return [leaf for sub in subs for leaf in _leaf_envs(sub)] if subs else [top.unwrapped]


def _check_timing_reached(top: Any, timing: object, env_id: str) -> None:
    """Every entry of ``env_kwargs['timing']`` must be in the timing of every environment built:
    a registered factory may replace the ``timing`` it is given by its own (yang19's ``dlygo``
    and ``dlyanti`` set ``{"delay": 500}``), and the trials would silently keep the defaults."""
    if not isinstance(timing, Mapping):
        return
    for leaf in _leaf_envs(top):
        have = getattr(leaf, "timing", None) or {}
        lost = {k: v for k, v in timing.items() if k not in have or have[k] != v}
        if lost:
            shown = {k: have.get(k, "absent") for k in lost}
            raise ValueError(
                f"{env_id} does not take env_kwargs['timing'] {lost!r}: the environment it builds has "
                f"{shown!r} there (its registered factory sets a timing of its own), so these trials "
                "would silently keep that timing"
            )


class _Drawn(NamedTuple):
    """One trial as drawn: its dict, the environment that drew it, ``ob`` (T_b, I), ``gt``
    (T_b,) or (T_b, O), and each period's first and end step."""

    trial: dict[str, Any]
    env: Any
    ob: np.ndarray[Any, Any]
    gt: np.ndarray[Any, Any]
    start: dict[str, int]
    end: dict[str, int]


def _is_number(value: object) -> bool:
    return isinstance(value, (numbers.Real, np.number, np.bool_)) and not isinstance(value, (str, np.str_))


class NeuroGym(Task):
    r"""A NeuroGym environment as a :class:`~torchrate.tasks.Task`.

    Parameters
    ----------
    env_id : str
        A registered NeuroGym id, e.g. ``"PerceptualDecisionMaking-v0"`` or ``"yang19.dms-v0"``.
    dt : float, optional
        Step (ms) given to the environment; default: the environment's own (mostly 100 ms).
        NeuroGym floors every period to a whole number of steps.
    env_kwargs : dict, optional
        Other keyword arguments of the environment (``timing``, ``cohs``, ``sigma``, …);
        not ``dt``. Numbers must be finite and durations in ``timing`` ≥ 0 ms, with a
        response period of at least one step; NumPy values are stored as Python numbers.
        Arguments without a default (AnnubesEnv's ``session``, ``catch_prob``) must be given here.
    loss_on : {"decision", "all"}
        Steps scored by the loss: the response periods (every output, the fixation output
        included) or every step of the trial. Padding is never scored.
    decision_period : str or None
        ``None``: the response periods are read off the ground truth — every period in which
        the target differs from fixation in some of 64 trials drawn at construction.
        A name (``"production"``, ``"test1"``, …): that period alone.
    condition : str or None
        Trial entry for the psychometric curve: a key of the environment's trial dict, or
        ``"auto"``: ``coh`` if the trials have it, else, for trials with a ``context`` and
        ``coh_1, coh_2, …``, the coherence of the relevant modality ``coh_{context+1}``
        (ContextDecisionMaking), else none. ``None``: no curve.
    reaction_time : bool or None
        Reaction-time variant (as NeuroGym's ``ReactionTime`` wrapper): the last response
        window opens one step after the stimulus onset (period ``"stimulus"``), the target
        choice is shown from there on, and :meth:`evaluate` reports reaction times. ``None``:
        as registered — on for an environment that comes in ``ReactionTime``
        (``perceptualdecisionmaking.roitman02``, whose trials then end with the stimulus, as
        the wrapper's ``end_on_stimulus``), off otherwise. Discrete actions only.
    rt_threshold : float
        A reaction-time trial's response is the first step of the response window at which
        the softmax probability of a choice reaches this value.

    Notes
    -----
    Environments with discrete actions are classification tasks (``loss = "cross_entropy"``);
    :meth:`evaluate` returns

    * ``accuracy`` — NeuroGym's decision accuracy: the choice (argmax of the outputs) at the
      last step of each response period compared with the ground truth there; a trial with
      several (DualDelayMatchSample's two tests) is correct when all are. In timing tasks,
      whose ground truth is one "go" step inside the response period (ReadySetGo,
      MotorTiming), the response is the step where the probability of "go" peaks, correct
      within NeuroGym's reward tolerance ``prod_margin · interval + 25`` ms (``dt`` for other
      environments); in OneTwoThreeGo, whose ground truth is "go" over the whole response
      period, the first step whose choice is "go" (from ``interval3`` on) must be within that
      tolerance of the response onset, as NeuroGym rewards it;
    * ``condition``, ``accuracy_by_condition`` — the psychometric curve in per-cent-correct
      form, when the trials expose a condition; with two choices also ``signed_condition``
      and ``p_choice1`` (the fraction of choices of action 1 at condition × (+1 if action 1
      is correct, −1 if not));
    * ``mean_rt`` and ``rt_by_condition`` (ms from stimulus onset, correct trials) — the
      chronometric curve, with ``reaction_time=True``.

    Environments with continuous actions (a 1-d Box: ReachingDelayResponse,
    SpatialSuppressMotion) are regression tasks (``loss = "mse"``): the targets are the
    ground truth, and :meth:`evaluate` returns the masked ``mse``.

    Refused, each with its reason: environments that build no per-trial ground truth
    (reinforcement-learning only: Bandit, DawTwoStep, EconomicDecisionMaking, Null), whose
    ground truth is not an action (Reaching1D: a reach angle, while the actions move the
    hand), whose trials the seed does not fix, and those with arguments without a default
    unless ``env_kwargs`` gives them.

    Examples
    --------
    >>> import torchrate as tr
    >>> task = tr.tasks.NeuroGym("GoNogo-v0", dt=100)
    >>> inputs, targets, mask = task.sample(32, generator=torch.Generator().manual_seed(0))
    >>> inputs.shape, targets.shape
    (torch.Size([15, 32, 3]), torch.Size([15, 32, 2]))
    >>> tr.tasks.NeuroGym("DualDelayMatchSample-v0").response_periods
    ('test1', 'test2')
    """

    loss = "cross_entropy"

    def __init__(
        self,
        env_id: str,
        *,
        dt: float | None = None,
        env_kwargs: dict[str, Any] | None = None,
        loss_on: str = "decision",
        decision_period: str | None = None,
        condition: str | None = "auto",
        reaction_time: bool | None = None,
        rt_threshold: float = 0.8,
    ) -> None:
        if not isinstance(env_id, str):
            raise TypeError(f"env_id must be a NeuroGym environment id (str), got {type(env_id).__name__}")
        if env_kwargs is not None and not isinstance(env_kwargs, Mapping):
            raise TypeError(f"env_kwargs must be a dict of the environment's arguments or None, got {env_kwargs!r}")
        env_kwargs = dict(env_kwargs or {})
        if "dt" in env_kwargs:
            raise ValueError(
                f"give the step as NeuroGym({env_id!r}, dt=...), not in env_kwargs "
                f"(got env_kwargs dt = {env_kwargs['dt']!r})"
            )
        env_kwargs = _plain_kwargs(env_kwargs, "env_kwargs")
        if "timing" in env_kwargs:
            _check_timing(env_kwargs["timing"], "env_kwargs['timing']")
        if dt is not None:
            dt = _validate.check_positive("dt", dt, fix="a step in ms, or None (the environment's own)")
        if loss_on not in _LOSS_ON:
            raise ValueError(f"loss_on must be one of {_LOSS_ON}, got {loss_on!r}")
        if decision_period is not None and not isinstance(decision_period, str):
            raise TypeError(
                f"decision_period must be the name of a period (str) or None (the response periods read "
                f"off the ground truth), got {_validate._show(decision_period)}"
            )
        if condition is not None and not isinstance(condition, str):
            raise TypeError(
                f"condition must be a str or None (the entry of each trial that is the psychometric "
                f"variable, 'auto', or None for none), got {_validate._show(condition)}"
            )
        if reaction_time is not None and not isinstance(reaction_time, bool):
            raise TypeError(
                f"reaction_time must be True, False or None (as the environment is registered), got "
                f"{_validate._show(reaction_time)}"
            )
        rt_threshold = _validate.as_float("rt_threshold", rt_threshold, finite=False)
        if not 0.5 < rt_threshold <= 1:
            raise ValueError(f"rt_threshold must be a probability in (0.5, 1], got {rt_threshold!r}")
        self.env_id, self.env_kwargs, self.loss_on = env_id, env_kwargs, loss_on
        self.decision_period, self.condition = decision_period, condition
        self.reaction_time, self.rt_threshold = reaction_time, float(rt_threshold)
        self._cls, spec_kwargs = _env_class(env_id)
        self._kwargs = {**spec_kwargs, **env_kwargs}
        if dt is not None:
            self._kwargs["dt"] = int(dt) if float(dt).is_integer() else float(dt)
        params = _parameters(self._cls)
        missing = [n for n, p in params.items() if p.default is p.empty and n not in self._kwargs]
        if missing:
            names = ", ".join(map(repr, missing))
            raise TypeError(
                f"{env_id} has argument(s) without a default, {names}: give them in env_kwargs, e.g. "
                f"NeuroGym({env_id!r}, env_kwargs={{{', '.join(f'{n!r}: ...' for n in missing)}}})"
            )
        # an environment that draws from a generator of its own, seeded by a constructor argument
        # (AnnubesEnv's random_seed) rather than by env.seed(), gets the batch's seed there too
        self._seed_argument = "random_seed" in params and "random_seed" not in self._kwargs
        top, wrapper = _trial_source(self._build(), env_id)
        env = top.unwrapped
        _check_timing_reached(top, env_kwargs.get("timing"), env_id)
        super().__init__(float(env.dt))
        self._check_spaces(top)
        if self.reaction_time is None:
            self._reaction_time = wrapper is not None
        else:
            self._reaction_time = self.reaction_time
        # the ReactionTime wrapper ends a trial with its stimulus (end_on_stimulus, its default)
        self._end_on_stimulus = self._reaction_time and wrapper is not None and bool(wrapper.end_on_stimulus)
        if self._reaction_time and self.loss == "mse":
            raise ValueError(
                f"reaction_time=True needs discrete actions (a choice to time); {env_id} has continuous "
                f"ones ({top.action_space})"
            )
        self._response = self._find_response_periods()

    # ------------------------------------------------------------------ the environment
    def _build(self, seed: int | None = None) -> Any:
        """A fresh environment, as the registry builds it (wrappers included)."""
        kwargs = dict(self._kwargs)
        if self._seed_argument and seed is not None:
            kwargs["random_seed"] = seed
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # gymnasium's metadata notes
                return self._cls(**kwargs)
        except TypeError as err:
            raise TypeError(f"env_kwargs {self.env_kwargs!r} do not fit {self.env_id}: {err}") from None

    def _make_env(self, seed: int) -> Any:
        """The trial source (:func:`_trial_source`) of a fresh environment, seeded with ``seed``."""
        top, _ = _trial_source(self._build(seed), self.env_id)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_FORWARDING_WARNING)
            _seed(top, seed)
        return top

    def _check_spaces(self, top: Any) -> None:
        name = self.env_id
        obs, act = top.observation_space, top.action_space
        if obs.shape is None or len(obs.shape) != 1:
            raise ValueError(f"{name} must have a 1-d Box observation space for supervised training; got {obs}")
        if hasattr(act, "n"):
            self.loss, self.output_size = "cross_entropy", int(act.n)
        elif act.shape is not None and len(act.shape) == 1 and np.issubdtype(act.dtype, np.floating):
            self.loss, self.output_size = "mse", int(act.shape[0])  # continuous actions: a regression task
        else:
            raise ValueError(
                f"{name} must have a Discrete or a 1-d Box action space for supervised training; got {act}"
            )
        self.input_size = int(obs.shape[0])

    def _draw_trials(self, top: Any, n: int) -> list[_Drawn]:
        """``n`` trials of ``top``, each with its periods (copied: the environment reuses its dicts)."""
        out = []
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_FORWARDING_WARNING)
            for _ in range(n):
                trial = top.new_trial()
                env = top.unwrapped
                ob, gt = getattr(env, "ob", None), getattr(env, "gt", None)
                if ob is None or gt is None or not getattr(env, "_gt_built", False):
                    raise ValueError(
                        f"{self.env_id} does not build its observations and ground truth per trial "
                        "(env.ob, env.gt): it can only be used step by step (reinforcement learning), "
                        "not as a supervised task"
                    )
                n_steps = ob.shape[0]
                gt = np.array(gt[:n_steps], dtype=np.int64 if self.loss == "cross_entropy" else np.float64)
                out.append(_Drawn(trial, env, ob, gt, dict(env.start_ind), dict(env.end_ind)))
        return out

    def _find_response_periods(self) -> tuple[str, ...]:
        """The periods scored with ``loss_on="decision"``, from :data:`_PROBE_TRIALS` trials drawn
        with seed 0; checks on the way that those trials are fit for supervised training."""
        name = self.env_id
        probe = self._draw_trials(self._make_env(0), _PROBE_TRIALS)
        for _, _, ob, gt, _, _ in probe:
            if self.loss == "cross_entropy" and (gt.min() < 0 or gt.max() >= self.output_size):
                values = np.unique(np.concatenate([d.gt for d in probe]))
                raise ValueError(
                    f"{name}'s ground truth is not an action of its action space "
                    f"Discrete({self.output_size}): it holds {values.tolist()}, values no output can "
                    "be trained to choose (NeuroGym's Reaching1D tasks store a reach angle there, while "
                    "their actions move the hand step by step: a task for reinforcement learning)"
                )
            if not (np.isfinite(ob).all() and np.isfinite(gt).all()):
                raise ValueError(
                    f"{name} gives non-finite observations or ground truth (env_kwargs "
                    f"{self.env_kwargs!r}); NaN or inf inputs cannot be trained on"
                )
        again = self._draw_trials(self._make_env(0), _PROBE_TRIALS)
        if not all(np.array_equal(a.ob, b.ob) and np.array_equal(a.gt, b.gt) for a, b in zip(probe, again)):
            raise ValueError(
                f"{name} gives different trials for the same seed: it draws from a random generator "
                "that env.seed() does not set (or draws before it, when it is built), so its batches "
                "could not be reproduced"
            )
        # each period's (start, end) in the first trial that has it (sub-environments may differ)
        where: dict[str, tuple[int, int]] = {}
        for d in probe:
            for p in d.start:
                where.setdefault(p, (d.start[p], d.end[p]))
        periods = sorted(where, key=lambda p: where[p])
        _, env, ob, _, starts, ends = probe[0]
        if self._reaction_time and "stimulus" not in starts:
            raise ValueError(f"reaction_time=True needs a 'stimulus' period; {name} has {sorted(periods)}")
        if self.decision_period is not None:
            period = self.decision_period
            if period not in where:
                raise ValueError(
                    f"decision_period must name a period of {name}; expected one of {sorted(periods)}, got {period!r}"
                )
            n = ob.shape[0]
            steps = min(ends.get(period, 0), n) - min(starts.get(period, 0), n)
            if period in starts and steps < 1:
                raise ValueError(
                    f"timing[{period!r}] must last at least one step (dt = {env.dt:g} ms); "
                    f"{name}'s first trial has a {period!r} period of {steps} steps, so nothing would "
                    f"be scored (an all-zero loss mask); lengthen it in "
                    f"env_kwargs={{'timing': {{{period!r}: ...}}}}"
                )
            return (period,)
        found = set()
        for d in probe:
            n = d.ob.shape[0]
            fixation = 0 if self.loss == "cross_entropy" else d.gt[0]  # action 0 is NeuroGym's "fixate"
            for p in d.start:
                s, e = min(d.start[p], n), min(d.end[p], n)
                if (d.gt[s:e] != fixation).any():
                    found.add(p)
        if not found:
            n = ob.shape[0]
            empty = [p for p in periods if p in starts and min(ends[p], n) <= min(starts[p], n)]
            shortened = self.env_kwargs.get("timing") or {}  # those the caller set first: the likely culprits
            empty.sort(key=lambda p: p not in shortened)
            if empty:
                raise ValueError(
                    f"timing[{empty[0]!r}] must last at least one step (dt = {env.dt:g} ms); {name}'s "
                    f"ground truth never differs from fixation in {_PROBE_TRIALS} trials and its "
                    f"{empty!r} period(s) have 0 steps, so nothing would be scored (an all-zero loss "
                    f"mask); lengthen it in env_kwargs={{'timing': {{{empty[0]!r}: ...}}}}"
                )
            raise ValueError(
                f"{name}'s ground truth never differs from fixation in {_PROBE_TRIALS} trials: there is "
                f"no response period to score (an all-zero loss mask); name one with decision_period= "
                f"(one of {sorted(periods)}) or score every step with loss_on='all'"
            )
        return tuple(p for p in periods if p in found)

    @property
    def response_periods(self) -> tuple[str, ...]:
        """The periods scored with ``loss_on="decision"``, in the order of the first trial."""
        return self._response

    # ------------------------------------------------------------------ trials
    @property
    def n_steps(self) -> int:
        raise AttributeError("NeuroGym trials vary in length: T is the longest trial of each batch (inputs.shape[0])")

    def _condition_of(self, trial: dict[str, Any]) -> float:
        """The psychometric variable of one trial (NaN: none)."""
        key = self.condition
        if key is None:
            return math.nan
        if key != "auto":
            if key not in trial:
                raise KeyError(
                    f"condition {key!r} is not an entry of {self.env_id}'s trials; they have {sorted(trial)}"
                )
            return float(trial[key])
        if "coh" in trial and _is_number(trial["coh"]):
            return float(trial["coh"])
        context = trial.get("context")
        if context is not None and f"coh_{int(context) + 1}" in trial:
            return float(trial[f"coh_{int(context) + 1}"])
        return math.nan

    def _tolerance(self, env: Any, trial: dict[str, Any]) -> float:
        """Timing tolerance (ms): NeuroGym's reward rule ``prod_margin · interval + 25``, else dt."""
        margin, interval = getattr(env, "prod_margin", None), trial.get("production", trial.get("interval"))
        if margin is not None and interval is not None:
            return float(margin) * float(interval) + 25.0
        return self.dt

    def _generate(
        self, B: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
    ) -> tuple[Trials, dict[str, Tensor]]:
        seed = int(torch.randint(2**32, (1,), generator=generator, device=device, dtype=torch.int64))
        top = self._make_env(seed)  # fresh: a batch depends on its seed only, not on earlier trials
        names, K = self._response, len(self._response)
        classes = self.loss == "cross_entropy"
        obs, gts = [], []
        start = np.zeros((B, K), np.int64)  # each response period of each trial: [start, stop) in steps
        stop = np.zeros((B, K), np.int64)
        final = np.empty(B, np.int64)  # which of them ends the trial's response (the last to end)
        onset = np.zeros(B, np.int64)
        length = np.empty(B, np.int64)
        condition = np.empty(B, np.float64)
        tolerance = np.empty(B, np.float64)
        timed = np.zeros(B, bool)  # from a NeuroGym timing task (one with a prod_margin)
        lead = np.zeros(B, np.int64)  # first step of the period before the final response window
        for b, (trial, env, ob, gt, starts, ends) in enumerate(self._draw_trials(top, B)):
            n = ob.shape[0]
            for k, p in enumerate(names):  # a period this trial lacks stays empty (0, 0)
                if p in starts:
                    start[b, k], stop[b, k] = min(starts[p], n), min(ends[p], n)
            f = max(range(K), key=lambda k: (stop[b, k], start[b, k]))
            if self._reaction_time:  # NeuroGym's ReactionTime wrapper: respond from stimulus onset + 1
                choice = gt[max(stop[b, f] - 1, 0)]
                if self._end_on_stimulus:  # and the trial ends with the stimulus
                    n = min(n, ends["stimulus"])
                    ob, gt = ob[:n], gt[:n]
                    start[b], stop[b] = np.minimum(start[b], n), np.minimum(stop[b], n)
                    stop[b, f] = n
                onset[b] = starts["stimulus"]
                start[b, f] = min(onset[b] + 1, stop[b, f] - 1)
                gt[start[b, f] : stop[b, f]] = choice
            obs.append(ob)
            gts.append(gt)
            final[b], length[b] = f, n
            condition[b] = self._condition_of(trial)
            tolerance[b] = self._tolerance(env, trial)
            timed[b] = getattr(env, "prod_margin", None) is not None
            opens = start[b, f]
            lead[b] = min((starts[p] for p in starts if starts[p] < ends[p] == opens), default=opens)
        T = int(length.max())
        inputs = np.zeros((T, B, self.input_size), np.float64)
        for b in range(B):
            inputs[: length[b], b] = obs[b]
        t = np.arange(T)[:, None]
        if self.loss_on == "decision":
            scored = ((t[..., None] >= start) & (t[..., None] < stop)).any(-1)  # (T, B)
        else:
            scored = t < length
        if not scored.any():
            which = " or ".join(map(repr, names))
            raise ValueError(
                f"timing[{names[0]!r}] must last at least one step (dt = {self.dt:g} ms): no trial of "
                f"this batch of {B} has a {which} step, so the loss mask is all zero; lengthen it in "
                f"env_kwargs={{'timing': {{{names[0]!r}: ...}}}}"
            )
        cols = np.arange(B)
        first, last = start[cols, final], stop[cols, final]  # the final response window
        inputs_t = torch.from_numpy(inputs).to(device=device, dtype=dtype)
        mask = torch.from_numpy(scored).to(device=device, dtype=dtype)[..., None].expand(T, B, self.output_size)
        conditions = {
            "decision_start": torch.from_numpy(first).to(device),
            "decision_stop": torch.from_numpy(last).to(device),
            "response_start": torch.from_numpy(start).to(device),
            "response_stop": torch.from_numpy(stop).to(device),
            "length": torch.from_numpy(length).to(device),
            "condition": torch.from_numpy(condition).to(device=device, dtype=dtype),
        }
        if not classes:  # continuous actions: the ground truth is the target
            values = np.zeros((T, B, self.output_size), np.float64)
            for b in range(B):
                values[: length[b], b] = gts[b].reshape(length[b], self.output_size)
            targets = torch.from_numpy(values).to(device=device, dtype=dtype)
            return Trials(inputs_t, targets, mask.contiguous()), conditions
        actions = np.full((T, B), -1, np.int64)  # −1: padding
        for b in range(B):
            actions[: length[b], b] = gts[b]
        target_last = actions[np.clip(last - 1, 0, T - 1), cols]  # the ground truth at the response's end
        in_window = (t >= first) & (t < last)
        varies = ((actions != target_last) & in_window).any(0)  # it changes inside: a timing trial
        # a timing trial whose ground truth is "go" from the window's onset on (OneTwoThreeGo):
        # timed from that onset, by the first "go" from the period before it, as NeuroGym rewards
        sustained = ~varies & timed & (target_last > 0)
        event = np.where(varies, np.argmax((actions > 0) & in_window, 0), np.where(sustained, first, -1))  # go step
        target = np.where(varies, actions[np.maximum(event, 0), cols], target_last)
        actions_t = torch.from_numpy(actions).to(device)
        targets = torch.nn.functional.one_hot(actions_t.clamp(min=0), self.output_size).to(dtype)
        targets = targets * (actions_t >= 0)[..., None]
        conditions |= {
            "target": torch.from_numpy(target).to(device),
            "event": torch.from_numpy(event).to(device),
            "tolerance": torch.from_numpy(tolerance).to(device=device, dtype=dtype),
            "first_go": torch.from_numpy(sustained).to(device),
            "search_start": torch.from_numpy(np.where(sustained, lead, first)).to(device),
        }
        if self._reaction_time:
            conditions["stimulus_start"] = torch.from_numpy(onset).to(device)
        return Trials(inputs_t, targets, mask.contiguous()), conditions

    # ------------------------------------------------------------------ metrics
    def evaluate(
        self, outputs: Tensor, targets: Tensor, mask: Tensor, conditions: dict[str, Tensor] | None = None
    ) -> dict[str, Tensor]:
        self._check_outputs(outputs, targets, mask)
        if self.loss == "mse":  # continuous actions
            return {"mse": masked_mean((outputs - targets) ** 2, mask)}
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
        if self._reaction_time:
            choice, rt = self._reaction_times(outputs, conditions, choice)
        correct = choice == target
        timing = conditions["event"] >= 0
        if bool(timing.any()):
            correct = torch.where(timing, self._timing_correct(outputs, conditions), correct)
        correct = correct & self._earlier_responses_correct(outputs, targets, conditions)
        metrics = {"accuracy": correct.to(f).mean()}
        c = conditions["condition"].to(f)
        metrics |= self._psychometric(c, choice, target, correct.to(f), ~timing)
        if rt is not None:
            responded = torch.isfinite(rt)
            metrics["mean_rt"] = rt[responded].mean() if bool(responded.any()) else rt.new_tensor(math.nan)
            metrics |= self._chronometric(c, rt, correct & responded)
        return metrics

    @staticmethod
    def _earlier_responses_correct(outputs: Tensor, targets: Tensor, conditions: Mapping[str, Tensor]) -> Tensor:
        """(B,) whether the choice at the last step of every response period but the final one
        (DualDelayMatchSample's first test, HierarchicalReasoning's rule) is the ground truth there."""
        start, stop = conditions.get("response_start"), conditions.get("response_stop")
        if start is None or stop is None or start.shape[-1] < 2:
            return torch.ones_like(conditions["decision_stop"], dtype=torch.bool)
        check = (stop > start) & (stop != conditions["decision_stop"][:, None])  # (B, K)
        ends = (stop - 1).clamp(min=0).T  # (K, B)
        right = outputs.argmax(-1).gather(0, ends) == targets.argmax(-1).gather(0, ends)
        return (right | ~check.T).all(0)

    def _reaction_times(
        self, outputs: Tensor, conditions: Mapping[str, Tensor], choice: Tensor
    ) -> tuple[Tensor, Tensor]:
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

    def _timing_correct(self, outputs: Tensor, conditions: Mapping[str, Tensor]) -> Tensor:
        """Timing trials: the step where the probability of the "go" action peaks in the
        response window, within ``tolerance`` ms of the ground truth's go step; where the ground
        truth is "go" from the window's onset on (OneTwoThreeGo), the first step whose choice is
        "go", from the period before the window on, within ``tolerance`` of that onset."""
        T, B, _ = outputs.shape
        t = torch.arange(T, device=outputs.device)[:, None]
        window = (t >= conditions["decision_start"]) & (t < conditions["decision_stop"])
        go = conditions["target"].expand(T, B)[..., None]  # the action of the go step
        p = outputs.softmax(-1).gather(-1, go)[..., 0]  # (T, B)
        response = torch.where(window, p, -1.0).argmax(0)
        never = torch.zeros_like(response, dtype=torch.bool)  # no "go" at all where one is timed
        first_go = conditions.get("first_go")
        if first_go is not None:
            searched = (t >= conditions["search_start"]) & (t < conditions["decision_stop"])
            said_go = (outputs.argmax(-1) == go[..., 0]) & searched
            first = torch.where(said_go, t, T).amin(0)
            response = torch.where(first_go, first, response)
            never = first_go & (first == T)
        error_ms = (response - conditions["event"]).abs().to(outputs.dtype) * self.dt
        return (error_ms <= conditions["tolerance"]) & ~never

    def _psychometric(
        self, c: Tensor, choice: Tensor, target: Tensor, correct: Tensor, informative: Tensor
    ) -> dict[str, Tensor]:
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

    def _chronometric(self, c: Tensor, rt: Tensor, keep: Tensor) -> dict[str, Tensor]:
        has = torch.isfinite(c)
        if not bool(has.any()):
            return {}
        levels = torch.unique(c[has])
        if levels.numel() > _MAX_LEVELS:
            return {}
        at = ((c[:, None] == levels) & keep[:, None]).to(rt.dtype)
        return {"rt_condition": levels, "rt_by_condition": (at * torch.nan_to_num(rt)[:, None]).sum(0) / at.sum(0)}

    # ------------------------------------------------------------------ figure
    def draw(self, metrics: dict[str, Tensor], outputs: Tensor, targets: Tensor, mask: Tensor) -> Figure:
        """Psychometric (and chronometric) curves when the trials expose a condition, and one
        trial's action probabilities against its targets; continuous actions: outputs against
        targets of three trials."""
        from .base import figure

        if self.loss == "mse":
            fig = self._draw_traces(outputs, targets, mask, title=self.env_id)
            fig.tight_layout()
            return fig

        curves = [k for k in ("p_choice1", "accuracy_by_condition", "rt_by_condition") if k in metrics]
        curves = curves[:1] + (["rt_by_condition"] if "rt_by_condition" in curves[1:] else [])
        fig, axes = figure(1, len(curves) + 1, figsize=(4.2 * (len(curves) + 1), 3.4), squeeze=False)
        axes = list(axes[0])
        acc = float(metrics["accuracy"])
        for ax, key in zip(axes, curves):
            x = {
                "p_choice1": "signed_condition",
                "accuracy_by_condition": "condition",
                "rt_by_condition": "rt_condition",
            }[key]
            ax.plot(metrics[x].cpu(), metrics[key].cpu(), "o-")
            label = {
                "p_choice1": "fraction of choice 1",
                "accuracy_by_condition": "accuracy",
                "rt_by_condition": "reaction time (ms)",
            }[key]
            kind = "chronometric" if key == "rt_by_condition" else "psychometric"
            ax.set(xlabel=f"{'signed ' if key == 'p_choice1' else ''}condition", ylabel=label, title=f"{kind} curve")
            if key != "rt_by_condition":
                ax.set_ylim(-0.02, 1.02)
                ax.axhline(0.5 if key == "p_choice1" else 1 / (self.output_size - 1 or 1), color="0.7", lw=0.8)
        ax = axes[-1]
        scored = mask[:, 0].amax(-1) > 0 if mask.shape[1] else None
        t = (torch.arange(outputs.shape[0]) + 1) * self.dt
        p = outputs[:, 0].softmax(-1).detach().cpu()
        for k in range(self.output_size):
            (line,) = ax.plot(t, p[:, k], lw=1.2, label=f"action {k}")
            y = targets[:, 0, k].detach().cpu().clone()
            if scored is not None:
                y[~scored.cpu()] = math.nan
            ax.plot(t, y, "--", color=line.get_color(), lw=1)
        ax.set(xlabel="time (ms)", ylabel="probability", ylim=(-0.02, 1.02), title=f"{self.env_id}: accuracy {acc:.1%}")
        ax.legend(fontsize=7)
        fig.tight_layout()
        return fig
