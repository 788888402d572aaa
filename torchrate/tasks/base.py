"""The trial-generator contract shared by every task.

A task draws a batch of trials ``(inputs (T, B, I), targets (T, B, O), mask (T, B, O))``
on a grid of ``T`` steps of ``dt`` ms. Step ``t`` holds the input on ``[t·dt, (t+1)·dt)``;
``targets[t]`` is what the network's output should be after that step, at ``(t+1)·dt`` —
the time of ``rates[t]`` returned by :class:`torchrate.RateRNN`. ``mask`` weighs each
output in the loss and the metrics (1 = scored, 0 = free).
"""

from __future__ import annotations

import inspect
import math
from typing import NamedTuple

import torch
from torch import Tensor

from .. import _validate

__all__ = ["Task", "Trials"]


class Trials(NamedTuple):
    """A batch of trials, time-major."""

    inputs: Tensor  # (T, B, I)
    targets: Tensor  # (T, B, O)
    mask: Tensor  # (T, B, O)


class Task:
    """Base class of the trial generators.

    Subclasses set ``input_size``, ``output_size`` and ``loss`` (``"mse"`` or
    ``"cross_entropy"``: the outputs are then logits over ``O`` classes and the mask is the
    same for every class), store each ``__init__`` argument as an attribute of the same name
    (that is what :meth:`config` reads back) and implement :meth:`_generate` and
    :meth:`evaluate`.

    Parameters
    ----------
    dt : float
        Step in ms; every period of the task must be a whole number of steps.
    """

    input_size: int
    output_size: int
    loss: str = "mse"

    def __init__(self, dt: float):
        self.dt = _validate.check_positive("dt", dt, fix="the step in ms")

    # ------------------------------------------------------------------ time grid
    def steps(self, duration: float, name: str) -> int:
        """Number of ``dt`` steps in ``duration`` ms; raises if it is not a whole number."""
        duration = _validate.check_nonnegative(name, duration, fix=f"a duration in ms, a multiple of dt = {self.dt:g}")
        n = duration / self.dt
        if not math.isclose(n, round(n), rel_tol=0, abs_tol=1e-9):
            raise ValueError(
                f"{name} must be a non-negative multiple of dt = {self.dt:g} ms, got {duration:g} ms"
            )
        return round(n)

    @property
    def n_steps(self) -> int:
        """T, the number of steps of a trial."""
        raise NotImplementedError

    def times(self, device=None, dtype=None) -> Tensor:
        """Times (ms) of the targets, ``dt, 2dt, …, T·dt``, shape (T,)."""
        dtype = dtype or torch.get_default_dtype()
        return torch.arange(1, self.n_steps + 1, device=device, dtype=dtype) * self.dt

    # ------------------------------------------------------------------ sampling
    def sample(self, batch_size: int, *, generator: torch.Generator | None = None,
               device=None, dtype=None) -> Trials:
        """Draw ``batch_size`` trials: ``(inputs (T, B, I), targets (T, B, O), mask (T, B, O))``.

        Random numbers are drawn in float64 on ``generator``'s device (CPU by default), then
        cast to ``dtype`` and moved to ``device``: one seed gives the same trials everywhere.
        """
        return self.generate(batch_size, generator=generator, device=device, dtype=dtype)[0]

    def generate(self, batch_size: int, *, generator: torch.Generator | None = None,
                 device=None, dtype=None) -> tuple[Trials, dict[str, Tensor]]:
        """Like :meth:`sample`, also returning the per-trial conditions (each of shape (B,), or
        (B, K) for K values per trial), e.g. the signed coherence, that :meth:`evaluate` uses
        for its curves."""
        batch_size = _validate.as_int("batch_size", batch_size, minimum=1)
        dtype = dtype or torch.get_default_dtype()
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating point torch.dtype (torch.float32, torch.float64), got {dtype!r}")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}; "
                            "e.g. torch.Generator().manual_seed(0)")
        # drawn in float64 on the generator's device, then cast and moved: one seed, the same
        # trials in every dtype and on every device
        gen_device = generator.device if generator is not None else torch.device("cpu")
        trials, conditions = self._generate(batch_size, generator, gen_device, torch.float64)

        def cast(x: Tensor) -> Tensor:
            return x.to(device=device, dtype=dtype if x.is_floating_point() else x.dtype)

        return Trials(*map(cast, trials)), {k: cast(v) for k, v in conditions.items()}

    def _generate(self, batch_size: int, generator: torch.Generator | None, device: torch.device,
                  dtype: torch.dtype) -> tuple[Trials, dict[str, Tensor]]:
        """Draw the trials (float64, on the generator's ``device``); see :meth:`generate`."""
        raise NotImplementedError

    def evaluate(self, outputs: Tensor, targets: Tensor, mask: Tensor,
                 conditions: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
        """The task's own metrics of network ``outputs`` (T, B, O), as 0-d or 1-d tensors."""
        raise NotImplementedError

    # ------------------------------------------------------------------ figure
    def draw(self, metrics: dict[str, Tensor], outputs: Tensor, targets: Tensor, mask: Tensor):
        """The task's own figure of a trained network (a matplotlib ``Figure``, made without
        pyplot): what ``torchrate fit``'s analysis saves as ``task_metric.png``.

        ``metrics`` is :meth:`evaluate`'s result on ``outputs`` (T, B, O). This default draws
        the outputs (solid) against the targets (dashed, where scored) of three trials;
        tasks with curves (psychometric, chronometric, …) override it.
        """
        fig = self._draw_traces(outputs, targets, mask)
        fig.tight_layout()
        return fig

    def _draw_traces(self, outputs: Tensor, targets: Tensor, mask: Tensor, n_trials: int = 3,
                     title: str | None = None):
        O = outputs.shape[-1]
        fig, axes = figure(O, 1, figsize=(7, 1.6 * O + 0.6), sharex=True, squeeze=False)
        t = (torch.arange(outputs.shape[0], dtype=torch.float64) + 1) * self.dt
        for k, ax in enumerate(axes[:, 0]):
            for b in range(min(n_trials, outputs.shape[1])):
                line, = ax.plot(t, outputs[:, b, k].detach().cpu(), lw=1)
                target = targets[:, b, k].detach().cpu().clone()
                target[mask[:, b, k].cpu() == 0] = math.nan
                ax.plot(t, target, "--", color=line.get_color(), lw=1)
            ax.set_ylabel(f"output {k}")
        name = title or type(self).__name__
        axes[0, 0].set_title(f"{name}: outputs (solid) and targets (dashed, where scored)")
        axes[-1, 0].set_xlabel("time (ms)")
        return fig

    # ------------------------------------------------------------------ curricula
    def update(self, **init_args) -> None:
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
            raise ValueError(f"outputs must be finite, got {int((~torch.isfinite(outputs)).sum())} NaN/Inf entries; "
                             "the network diverged or was given non-finite input")
        # an empty mask scores nothing: accuracies would be argmax(0) == argmax(0), i.e. 1.0
        if not bool(torch.isfinite(mask).all() & (mask >= 0).all()):
            raise ValueError("mask must hold finite weights ≥ 0 (1 = scored, 0 = free), got negative or non-finite "
                             "entries")
        if not bool(mask.sum() > 0):
            raise ValueError("mask scores no output (all zero): the metrics of no scored entries are undefined; "
                             "evaluate trials whose mask is 1 somewhere (e.g. from task.sample)")

    def config(self) -> dict:
        """``{"class_path": …, "init_args": {…}}`` of plain Python values: what rebuilds this
        task (``torchrate fit`` YAML, checkpoints loadable with ``weights_only=True``)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        init_args = {name: _plain(getattr(self, name)) for name in names}
        cls = type(self)
        return {"class_path": f"{cls.__module__}.{cls.__qualname__}", "init_args": init_args}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config()["init_args"].items())
        return f"{type(self).__name__}({args})"


def _plain(value):
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def figure(nrows: int = 1, ncols: int = 1, **kwargs):
    """``(fig, axes)``: a matplotlib ``Figure`` without pyplot (no global backend or figure
    registry is touched); ``kwargs`` go to ``Figure.subplots`` (``figsize`` to ``Figure``)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=kwargs.pop("figsize", None))
    return fig, fig.subplots(nrows, ncols, **kwargs)


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Σ mask·x / Σ mask (NaN when the mask is empty)."""
    return (x * mask).sum() / mask.sum()


def period_mask(n_steps: int, start: int, stop: int, device=None, dtype=None) -> Tensor:
    """(T,) indicator of steps ``start ≤ t < stop``."""
    t = torch.arange(n_steps, device=device)
    return ((t >= start) & (t < stop)).to(dtype or torch.get_default_dtype())


def white_noise(shape, std_per_sqrt_ms: float, dt: float, generator, device, dtype) -> Tensor:
    r"""Gaussian white noise sampled on the ``dt`` grid: per-step std ``σ/√dt``, so that its
    integral over a window of ``D`` ms has std ``σ√D`` whatever ``dt``."""
    std = std_per_sqrt_ms / math.sqrt(dt)
    return torch.randn(shape, generator=generator, device=device, dtype=dtype) * std
