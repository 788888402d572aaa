"""The trial-generator contract shared by every task.

A task draws a batch of trials ``(inputs (T, B, I), targets (T, B, O), mask (T, B, O))``
on a grid of ``T`` steps of ``dt`` ms. Step ``t`` holds the input on ``[t·dt, (t+1)·dt)``;
``targets[t]`` is what the network's output should be after that step, at ``(t+1)·dt`` —
the time of ``rates[t]`` returned by :class:`torchrate.RateRNN`. ``mask`` weighs each
output in the loss and the metrics (1 = scored, 0 = free).

A task of your own writes one trial at a time (:meth:`Task.trial`, returning a
:class:`Trial`); the base class checks it, batches and pads it. The built-in tasks draw a
whole batch at once, vectorised (:meth:`Task._generate`). Guide: ``docs/tasks.md``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import Tensor

from .. import _validate

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Task", "Trials", "Trial", "numpy_generator"]


class Trials(NamedTuple):
    """A batch of trials, time-major."""

    inputs: Tensor  # (T, B, I)
    targets: Tensor  # (T, B, O)
    mask: Tensor  # (T, B, O)


class Trial(NamedTuple):
    """One trial, what :meth:`Task.trial` returns: time-major, no batch dimension.

    Attributes
    ----------
    inputs : Tensor or NumPy array, shape (T, I)
        Row ``t`` is the input on ``[t·dt, (t+1)·dt)``.
    targets : Tensor or NumPy array, shape (T, O)
        Row ``t`` is the output wanted at ``(t+1)·dt``; for ``loss = "cross_entropy"`` the
        class probabilities (one-hot) of the correct choice.
    mask : Tensor or NumPy array, shape (T, O) or (T,)
        Weight ≥ 0 of each output in the loss and the metrics (1 = scored, 0 = free); a (T,)
        mask weighs every output of a step alike (what ``cross_entropy`` tasks want).
    conditions : dict, optional
        Per-trial values (numbers or one-element tensors), e.g. ``{"coherence": 0.128}``;
        batched into (B,) tensors that :meth:`Task.evaluate` receives.
    """

    inputs: Any
    targets: Any
    mask: Any
    conditions: Mapping[str, Any] | None = None


def numpy_generator(generator: torch.Generator | None) -> Any:
    """A NumPy ``np.random.Generator`` seeded by one draw from ``generator``.

    For a :meth:`Task.trial` written with NumPy: ``rng = numpy_generator(generator)`` at the
    top of ``trial``, then ``rng.uniform(...)``, ``rng.normal(...)`` — the torch generator
    still decides everything, so one seed gives one batch. ``None`` draws the seed from
    torch's global RNG.

    >>> import torch
    >>> a = numpy_generator(torch.Generator().manual_seed(0)).normal()
    >>> a == numpy_generator(torch.Generator().manual_seed(0)).normal()
    True
    """
    import numpy as np

    _validate.check_generator("generator", generator)
    device = generator.device if generator is not None else "cpu"
    seed = int(torch.randint(2**63 - 1, (1,), generator=generator, device=device))
    return np.random.default_rng(seed)


class Task:
    """Base class of the trial generators.

    A subclass

    * calls ``super().__init__(dt)`` and stores each ``__init__`` argument as an attribute of
      the same name (what :meth:`config` reads back: configs, checkpoints and curricula
      rebuild the task from it);
    * sets ``input_size`` (I), ``output_size`` (O) and ``loss``: ``"mse"`` or
      ``"cross_entropy"`` (the outputs are then logits over O classes and the mask is the
      same for every class);
    * writes **one** of the two hooks:

      - :meth:`trial` ``(generator) -> Trial(inputs (T, I), targets (T, O), mask)``: one
        trial. The base class checks what it returns (shapes, dtypes, finite values, a
        mask ≥ 0), stacks B trials into a batch and pads trials of different lengths at the
        end (zero input and target, mask 0). No :attr:`n_steps` is needed;
      - :meth:`_generate` ``(batch_size, generator, device, dtype) -> (Trials, conditions)``:
        a whole batch at once, vectorised — what the built-in tasks do (faster, unchecked).

    :meth:`evaluate` has a default (masked MSE, or the masked accuracy of the choices for
    ``cross_entropy``), and so has :meth:`draw` (output and target traces); override them
    for the task's own metrics and figure. See ``docs/tasks.md``.

    Parameters
    ----------
    dt : float
        Step in ms; every period of the task must be a whole number of steps.
    """

    input_size: int
    output_size: int
    loss: str = "mse"

    def __init__(self, dt: float) -> None:
        self.dt = _validate.check_positive("dt", dt, fix="the step in ms")

    # ------------------------------------------------------------------ time grid
    def steps(self, duration: float, name: str) -> int:
        """Number of ``dt`` steps in ``duration`` ms; raises if it is not a whole number."""
        duration = _validate.check_nonnegative(name, duration, fix=f"a duration in ms, a multiple of dt = {self.dt:g}")
        n = duration / self.dt
        if not math.isclose(n, round(n), rel_tol=0, abs_tol=1e-9):
            raise ValueError(f"{name} must be a non-negative multiple of dt = {self.dt:g} ms, got {duration:g} ms")
        return round(n)

    @property
    def n_steps(self) -> int:
        """T, the number of steps of a trial (tasks whose trials all last T steps)."""
        raise AttributeError(
            f"{type(self).__name__} has no fixed trial length (n_steps): T is the longest trial of "
            "each batch, inputs.shape[0]; a task whose trials all last T steps may define n_steps"
        )

    def times(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Tensor:
        """Times (ms) of the targets, ``dt, 2dt, …, T·dt``, shape (T,)."""
        dtype = dtype or torch.get_default_dtype()
        return torch.arange(1, self.n_steps + 1, device=device, dtype=dtype) * self.dt

    # ------------------------------------------------------------------ sampling
    def sample(
        self,
        batch_size: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> Trials:
        """Draw ``batch_size`` trials: ``(inputs (T, B, I), targets (T, B, O), mask (T, B, O))``.

        Random numbers are drawn in float64 on ``generator``'s device (CPU by default), then
        cast to ``dtype`` and moved to ``device``: one seed gives the same trials everywhere.
        """
        return self.generate(batch_size, generator=generator, device=device, dtype=dtype)[0]

    def generate(
        self,
        batch_size: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> tuple[Trials, dict[str, Tensor]]:
        """Like :meth:`sample`, also returning the per-trial conditions (each of shape (B,), or
        (B, K) for K values per trial), e.g. the signed coherence, that :meth:`evaluate` uses
        for its curves."""
        batch_size = _validate.as_int("batch_size", batch_size, minimum=1)
        dtype = dtype or torch.get_default_dtype()
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating point torch.dtype (torch.float32, torch.float64), got {dtype!r}")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(
                f"generator must be a torch.Generator or None, got {type(generator).__name__}; "
                "e.g. torch.Generator().manual_seed(0)"
            )
        # drawn in float64 on the generator's device, then cast and moved: one seed, the same
        # trials in every dtype and on every device
        gen_device = generator.device if generator is not None else torch.device("cpu")
        self._check_contract()
        trials, conditions = self._generate(batch_size, generator, gen_device, torch.float64)

        def cast(x: Tensor) -> Tensor:
            return x.to(device=device, dtype=dtype if x.is_floating_point() else x.dtype)

        return Trials(*map(cast, trials)), {k: cast(v) for k, v in conditions.items()}

    def trial(self, generator: torch.Generator | None) -> Trial:
        """One trial: ``Trial(inputs (T, I), targets (T, O), mask (T, O) or (T,), conditions)``.

        The per-trial hook for tasks of your own (override it, or :meth:`_generate`). Draw
        every random number from ``generator`` (``torch.rand(..., generator=generator)``; for
        NumPy, ``rng = numpy_generator(generator)``): then one seed gives one batch. Tensors
        or NumPy arrays of real numbers, on any device; T may differ from trial to trial.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must define trial(self, generator) -> Trial(inputs (T, I), targets (T, O), "
            "mask), one trial (batched and padded by torchrate.tasks.Task), or _generate(self, batch_size, "
            "generator, device, dtype), a whole batch; see docs/tasks.md"
        )

    def _generate(
        self, batch_size: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
    ) -> tuple[Trials, dict[str, Tensor]]:
        """The batched hook: draw ``batch_size`` trials at once, ``(Trials, conditions)``, in
        ``dtype`` (float64) on the generator's ``device``; :meth:`generate` casts and moves them.

        The built-in tasks override it with vectorised code. This default calls :meth:`trial`
        ``batch_size`` times, checks each result and pads them to the longest (zero inputs and
        targets, mask 0 after a trial's end); conditions become (B,) tensors.
        """
        if type(self).trial is Task.trial:
            self.trial(generator)  # raises, saying what to define
        name = type(self).__name__
        trials = [self._checked_trial(self.trial(generator), b, name, device, dtype) for b in range(batch_size)]
        # pad at the end: zero inputs and targets, mask 0 (one call per field, not per trial)
        pad = torch.nn.utils.rnn.pad_sequence
        inputs, targets, mask = (
            pad([t.inputs for t in trials]),
            pad([t.targets for t in trials]),
            pad([t.mask for t in trials]),
        )
        for field, t in (("inputs", inputs), ("targets", targets), ("mask", mask)):  # checked once, batched
            if not bool(torch.isfinite(t).all()):
                k, b, o = (int(i) for i in (~torch.isfinite(t)).nonzero()[0])
                raise ValueError(
                    f"{name}.trial() returned {field} with non-finite entries ({field}[{k}, {o}] = "
                    f"{t[k, b, o].item()}, trial {b} of the batch); every value must be finite"
                )
        if bool((mask < 0).any()):
            k, b, o = (int(i) for i in (mask < 0).nonzero()[0])
            raise ValueError(
                f"{name}.trial() returned a negative mask (mask[{k}, {o}] = {mask[k, b, o].item():g}, "
                f"trial {b} of the batch); the mask weighs the loss: 1 = scored, 0 = free, never < 0"
            )
        return Trials(inputs, targets, mask), _batch_conditions(
            [dict(t.conditions or {}) for t in trials], name, device
        )

    def _check_contract(self) -> None:
        """What every subclass must set, checked before drawing (named, with the fix)."""
        name = type(self).__name__
        if not isinstance(getattr(self, "dt", None), float):
            raise TypeError(f"{name}.__init__ must call super().__init__(dt) (the step in ms) before trials are drawn")
        for attr in ("input_size", "output_size"):
            value = getattr(self, attr, None)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TypeError(
                    f"{name}.{attr} must be set to an integer ≥ 1 (a class attribute, or self.{attr} "
                    f"in __init__), got {value!r}"
                )

    def _checked_trial(
        self, trial: object, b: int, name: str, device: torch.device | str | None, dtype: torch.dtype | None
    ) -> Trial:
        """``trial`` (what :meth:`trial` returned for trial ``b``) as float64 tensors, mask (T, O),
        conditions a dict; anything else is a clear error naming ``{name}.trial()`` and the fix."""
        import numpy as np

        where = f"{name}.trial()"
        if not isinstance(trial, tuple) or len(trial) not in (3, 4):
            raise TypeError(
                f"{where} must return torchrate.tasks.Trial(inputs (T, I), targets (T, O), mask (T, O), "
                f"conditions=None), got {_validate._show(trial)}"
            )
        arrays = []
        for field, value in zip(("inputs", "targets", "mask"), trial[:3]):
            if not isinstance(value, (Tensor, np.ndarray)):
                raise TypeError(
                    f"{where} returned {field} of type {type(value).__name__}; return a torch.Tensor or "
                    f"a NumPy array (trial {b} of the batch)"
                )
            try:
                t = torch.as_tensor(value)
            except (TypeError, ValueError, RuntimeError):  # a NumPy array of objects or strings
                t = None
            if t is None or t.is_complex():
                raise TypeError(
                    f"{where} returned {field} of dtype {value.dtype}; return real numbers (float, int or "
                    f"bool), e.g. {field}.real or {field}.float()"
                )
            arrays.append(t.to(device=device, dtype=dtype))
        inputs, targets, mask = arrays
        I, O = self.input_size, self.output_size
        if inputs.ndim != 2 or inputs.shape[1] != I or inputs.shape[0] < 1:
            raise ValueError(
                f"{where} returned inputs of shape {tuple(inputs.shape)}; expected (T, {I}): T ≥ 1 steps "
                f"of dt = {self.dt:g} ms by input_size = {I} (trial {b} of the batch)"
            )
        T = inputs.shape[0]
        if tuple(targets.shape) != (T, O):
            raise ValueError(
                f"{where} returned targets of shape {tuple(targets.shape)}; expected ({T}, {O}): the "
                f"T = {T} steps of its inputs by output_size = {O} (trial {b} of the batch)"
            )
        if mask.ndim == 1 and mask.shape[0] == T:
            mask = mask[:, None].expand(T, O)
        if tuple(mask.shape) != (T, O):
            raise ValueError(
                f"{where} returned mask of shape {tuple(mask.shape)}; expected ({T}, {O}) or ({T},) (one "
                f"weight per step for every output) (trial {b} of the batch)"
            )
        conditions = trial[3] if len(trial) == 4 else None
        if conditions is not None and not isinstance(conditions, Mapping):
            raise TypeError(
                f"{where} returned conditions of type {type(conditions).__name__}; return a dict of "
                "numbers, e.g. {'coherence': 0.128}, or None"
            )
        return Trial(inputs, targets, mask, dict(conditions or {}))

    def evaluate(
        self, outputs: Tensor, targets: Tensor, mask: Tensor, conditions: dict[str, Tensor] | None = None
    ) -> dict[str, Tensor]:
        """The task's own metrics of network ``outputs`` (T, B, O), as 0-d or 1-d tensors.

        This default gives ``{"accuracy": …}`` for ``loss = "cross_entropy"`` — the fraction of
        trials (with a scored step) whose choice ``argmax_k Σ_t mask·outputs`` is the target's —
        and ``{"mse": Σ mask (y − ŷ)² / Σ mask}`` otherwise. Override it for the task's own.
        """
        self._check_outputs(outputs, targets, mask)
        if self.loss == "cross_entropy":
            scored = mask.sum((0, 2)) > 0  # (B,): a padded-away or unscored trial has no choice
            chosen, wanted = (outputs * mask).sum(0).argmax(-1), (targets * mask).sum(0).argmax(-1)
            correct = ((chosen == wanted) & scored).to(outputs.dtype)
            return {"accuracy": correct.sum() / scored.to(outputs.dtype).sum()}
        return {"mse": masked_mean((outputs - targets) ** 2, mask)}

    # ------------------------------------------------------------------ figure
    def draw(self, metrics: dict[str, Tensor], outputs: Tensor, targets: Tensor, mask: Tensor) -> Figure:
        """The task's own figure of a trained network (a matplotlib ``Figure``, made without
        pyplot): what ``torchrate fit``'s analysis saves as ``task_metric.png``.

        ``metrics`` is :meth:`evaluate`'s result on ``outputs`` (T, B, O). This default draws
        the outputs (solid) against the targets (dashed, where scored) of three trials;
        tasks with curves (psychometric, chronometric, …) override it.
        """
        fig = self._draw_traces(outputs, targets, mask)
        fig.tight_layout()
        return fig

    def _draw_traces(
        self, outputs: Tensor, targets: Tensor, mask: Tensor, n_trials: int = 3, title: str | None = None
    ) -> Figure:
        O = outputs.shape[-1]
        fig, axes = figure(O, 1, figsize=(7, 1.6 * O + 0.6), sharex=True, squeeze=False)
        t = (torch.arange(outputs.shape[0], dtype=torch.float64) + 1) * self.dt
        for k, ax in enumerate(axes[:, 0]):
            for b in range(min(n_trials, outputs.shape[1])):
                (line,) = ax.plot(t, outputs[:, b, k].detach().cpu(), lw=1)
                target = targets[:, b, k].detach().cpu().clone()
                target[mask[:, b, k].cpu() == 0] = math.nan
                ax.plot(t, target, "--", color=line.get_color(), lw=1)
            ax.set_ylabel(f"output {k}")
        name = title or type(self).__name__
        axes[0, 0].set_title(f"{name}: outputs (solid) and targets (dashed, where scored)")
        axes[-1, 0].set_xlabel("time (ms)")
        return fig

    # ------------------------------------------------------------------ curricula
    def update(self, **init_args: Any) -> None:
        """Re-initialise this task in place with some ``__init__`` arguments changed (a
        curriculum stage), e.g. ``task.update(coherences=[0.512])``. The arguments are
        checked by ``__init__``; the object (shared by the data and the model) stays the same.
        """
        current = self.config()["init_args"]
        unknown = sorted(set(init_args) - set(current))
        if unknown:
            raise TypeError(f"{type(self).__name__} has no argument(s) {unknown}; expected some of {sorted(current)}")
        fresh = type(self)(**{**current, **init_args})
        self.__dict__.clear()
        self.__dict__.update(fresh.__dict__)

    # ------------------------------------------------------------------ helpers
    def _check_outputs(self, outputs: Tensor, targets: Tensor, mask: Tensor) -> None:
        if outputs.shape != targets.shape or mask.shape != targets.shape:
            raise ValueError(
                f"outputs, targets and mask must all have shape (T, B, {self.output_size}); got "
                f"{tuple(outputs.shape)}, {tuple(targets.shape)} and {tuple(mask.shape)}"
            )
        if not bool(torch.isfinite(outputs).all()):  # NaN reads as some choice: an accuracy of nothing
            raise ValueError(
                f"outputs must be finite, got {int((~torch.isfinite(outputs)).sum())} NaN/Inf entries; "
                "the network diverged or was given non-finite input"
            )
        # an empty mask scores nothing: accuracies would be argmax(0) == argmax(0), i.e. 1.0
        if not bool(torch.isfinite(mask).all() & (mask >= 0).all()):
            raise ValueError(
                "mask must hold finite weights ≥ 0 (1 = scored, 0 = free), got negative or non-finite entries"
            )
        if not bool(mask.sum() > 0):
            raise ValueError(
                "mask scores no output (all zero): the metrics of no scored entries are undefined; "
                "evaluate trials whose mask is 1 somewhere (e.g. from task.sample)"
            )

    def config(self) -> dict[str, Any]:
        """``{"class_path": …, "init_args": {…}}`` of plain Python values: what rebuilds this
        task (``torchrate fit`` YAML, checkpoints loadable with ``weights_only=True``)."""
        cls = type(self)
        parameters = inspect.signature(cls.__init__).parameters.values()
        names = [p.name for p in parameters if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        missing = [name for name in names if not hasattr(self, name)]
        if missing:
            raise AttributeError(
                f"{cls.__name__} must store each __init__ argument under its own name (configs, checkpoints and "
                f"curricula rebuild the task from them): self.{missing[0]} is not set; add "
                f"`self.{missing[0]} = {missing[0]}` to {cls.__name__}.__init__"
            )
        init_args = {name: _plain(getattr(self, name)) for name in names}
        return {"class_path": f"{cls.__module__}.{cls.__qualname__}", "init_args": init_args}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config()["init_args"].items())
        return f"{type(self).__name__}({args})"


def _plain(value: object) -> object:
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def _batch_conditions(
    conditions: list[dict[str, Any]], name: str, device: torch.device | str | None
) -> dict[str, Tensor]:
    """Per-trial condition dicts (numbers or one-element tensors) as (B,) tensors: float64 for
    floats, int64 for integers, bool for booleans (promoted when trials mix them)."""
    keys = list(conditions[0])
    out = {}
    for b, c in enumerate(conditions):
        if set(c) != set(keys):
            raise ValueError(
                f"{name}.trial() must return the same condition names in every trial: trial 0 has "
                f"{sorted(keys)}, trial {b} has {sorted(c)}"
            )
    for key in keys:
        raw = [c[key] for c in conditions]
        kinds = {
            bool if isinstance(v, bool) else int if isinstance(v, int) else float if isinstance(v, float) else None
            for v in raw
        }
        if None not in kinds:  # plain Python numbers: one tensor at once
            dtype = torch.float64 if float in kinds else torch.int64 if int in kinds else torch.bool
            out[key] = torch.tensor(raw, dtype=dtype, device=device)
            continue
        values = []
        for b, v in enumerate(raw):
            if isinstance(v, float):
                v = torch.tensor(v, dtype=torch.float64)
            elif isinstance(v, (bool, int)):
                v = torch.tensor(v)
            elif hasattr(v, "dtype") and hasattr(v, "shape") and not isinstance(v, Tensor):
                v = torch.as_tensor(v)  # a NumPy scalar or array
            if not isinstance(v, Tensor) or v.numel() != 1 or v.is_complex():
                raise TypeError(
                    f"{name}.trial() returned condition {key!r} = {_validate._show(raw[b])} in trial {b}; "
                    "each condition must be one real number (or a one-element tensor) per trial"
                )
            values.append(v.reshape(()).to(device))
        dtype = values[0].dtype
        for v in values[1:]:
            dtype = torch.promote_types(dtype, v.dtype)
        out[key] = torch.stack([v.to(dtype) for v in values])
    return out


def figure(nrows: int = 1, ncols: int = 1, **kwargs: Any) -> tuple[Figure, Any]:  # axes: one Axes or an array
    """``(fig, axes)``: a matplotlib ``Figure`` without pyplot (no global backend or figure
    registry is touched); ``kwargs`` go to ``Figure.subplots`` (``figsize`` to ``Figure``)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=kwargs.pop("figsize", None))
    return fig, fig.subplots(nrows, ncols, **kwargs)


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Σ mask·x / Σ mask (NaN when the mask is empty)."""
    return (x * mask).sum() / mask.sum()


def period_mask(
    n_steps: int, start: int, stop: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
) -> Tensor:
    """(T,) indicator of steps ``start ≤ t < stop``."""
    t = torch.arange(n_steps, device=device)
    return ((t >= start) & (t < stop)).to(dtype or torch.get_default_dtype())


def white_noise(
    shape: tuple[int, ...],
    std_per_sqrt_ms: float,
    dt: float,
    generator: torch.Generator | None,
    device: torch.device | str | None,
    dtype: torch.dtype | None,
) -> Tensor:
    r"""Gaussian white noise sampled on the ``dt`` grid: per-step std ``σ/√dt``, so that its
    integral over a window of ``D`` ms has std ``σ√D`` whatever ``dt``."""
    std = std_per_sqrt_ms / math.sqrt(dt)
    return torch.randn(shape, generator=generator, device=device, dtype=dtype) * std
