"""Memory tasks: :class:`Integration` (a line attractor) and :class:`FlipFlop`
(Sussillo & Barak's n-bit memory, 2^n point attractors)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .. import _validate
from .base import Task, Trials, masked_mean, period_mask, white_noise

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Integration", "FlipFlop"]


def _pulses(
    shape: tuple[int, ...],
    probability: float,
    generator: torch.Generator | None,
    device: torch.device | str | None,
    dtype: torch.dtype | None,
) -> Tensor:
    """±1 pulses, each entry independently with ``probability`` (random sign), else 0."""
    hit = torch.rand(shape, generator=generator, device=device) < probability
    sign = torch.randint(2, shape, generator=generator, device=device) * 2 - 1
    return (hit * sign).to(dtype)


class Integration(Task):
    r"""Integrate a noisy pulse train and hold the integral once the input stops.

    Input (I = 1): during the stimulus, ±1 pulses of one step, each step with probability
    ``pulse_rate·dt`` (random sign), plus white noise (per-step std ``input_noise/√dt``);
    then 0 for the ``hold`` period. Target (O = 1): the running integral of the input,

    .. math::
        y_t = g \sum_{k \le t} u_k\,dt  \qquad (g = \text{gain}, \text{per ms}),

    which stays constant once the input stops: the λ = 1 integrator of the lectures,
    ``τ dv/dt = W u`` along its line attractor. Scored by MSE at every step.

    Metrics: ``mse``, and ``drift``, the mean |ŷ(end) − ŷ(offset)| of the output over the
    hold period (the target does not move).

    Parameters
    ----------
    dt, stimulus, hold : float
        Step and period durations (ms).
    pulse_rate : float
        Pulses per ms during the stimulus (0.02 = 20 Hz); ``pulse_rate·dt ≤ 1``.
    gain : float
        g (per ms): a pulse moves the target by ``g·dt``.
    input_noise : float
        σ per √ms.
    """

    input_size = output_size = 1
    loss = "mse"

    def __init__(
        self,
        dt: float = 10.0,
        stimulus: float = 500.0,
        hold: float = 500.0,
        pulse_rate: float = 0.02,
        gain: float = 0.01,
        input_noise: float = 0.1,
    ) -> None:
        super().__init__(dt)
        self.stimulus, self.hold = stimulus, hold
        self.pulse_rate = _validate.check_nonnegative("pulse_rate", pulse_rate, fix="pulses per ms")
        self.gain = _validate.as_float("gain", gain, fix="the target's change per pulse and ms")
        self.input_noise = _validate.check_nonnegative("input_noise", input_noise, fix="σ of the input noise per √ms")
        self._stim, self._hold = self.steps(stimulus, "stimulus"), self.steps(hold, "hold")
        if self._stim == 0 or self._hold == 0:
            raise ValueError(f"stimulus and hold must last at least dt = {self.dt:g} ms")
        if not 0 <= self.pulse_rate * self.dt <= 1:
            raise ValueError(
                f"pulse_rate·dt must be a probability in [0, 1], got "
                f"{self.pulse_rate:g}/ms × {self.dt:g} ms = {self.pulse_rate * self.dt:g}"
            )

    @property
    def n_steps(self) -> int:
        return self._stim + self._hold

    def _generate(
        self, B: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
    ) -> tuple[Trials, dict[str, Tensor]]:
        T = self.n_steps
        pulses = _pulses((T, B, 1), self.pulse_rate * self.dt, generator, device, dtype)
        noise = white_noise((T, B, 1), self.input_noise, self.dt, generator, device, dtype)
        inputs = period_mask(T, 0, self._stim, device, dtype)[:, None, None] * (pulses + noise)
        targets = (self.gain * self.dt) * inputs.cumsum(0)
        return Trials(inputs, targets, torch.ones_like(targets)), {}

    def evaluate(
        self, outputs: Tensor, targets: Tensor, mask: Tensor, conditions: dict[str, Tensor] | None = None
    ) -> dict[str, Tensor]:
        self._check_outputs(outputs, targets, mask)
        # rates[t] is the state after step t: offset = after the last stimulus step
        drift = (outputs[-1] - outputs[self._stim - 1]).abs().mean()
        return {"mse": masked_mean((outputs - targets) ** 2, mask), "drift": drift}

    def draw(self, metrics: dict[str, Tensor], outputs: Tensor, targets: Tensor, mask: Tensor) -> Figure:
        """Output vs target traces, with the input offset marked (the hold starts there)."""
        fig = self._draw_traces(outputs, targets, mask, title="integration")
        for ax in fig.axes:
            ax.axvline(self.stimulus, color="0.6", ls=":", lw=1)
        fig.tight_layout()
        return fig


class FlipFlop(Task):
    r"""n-bit flip-flop memory (Sussillo & Barak 2013).

    Inputs (I = n): on each channel, independently at each step with probability
    ``pulse_rate·dt``, a one-step pulse of ±1 (random sign). Targets (O = n): each output
    holds the sign of the last pulse on its channel. Scored by MSE; the mask is 0 before a
    channel's first pulse (nothing to remember yet) and for ``grace`` ms from each pulse
    onset (time to flip).

    Metrics: ``mse`` and ``bit_accuracy``, the fraction of scored (t, b, k) with
    ``sign(output) = target``. A trained network stores the 2^n memories as 2^n stable
    fixed points.

    Parameters
    ----------
    n_bits : int
    dt, duration, grace : float
        Step, trial length and post-pulse grace (ms).
    pulse_rate : float
        Pulses per ms on each channel; ``pulse_rate·dt ≤ 1``.
    """

    loss = "mse"

    def __init__(
        self, n_bits: int = 3, dt: float = 10.0, duration: float = 500.0, pulse_rate: float = 0.01, grace: float = 20.0
    ) -> None:
        super().__init__(dt)
        n_bits = _validate.as_int("n_bits", n_bits, minimum=1)
        self.n_bits, self.duration, self.grace = n_bits, duration, grace
        self.pulse_rate = _validate.check_nonnegative("pulse_rate", pulse_rate, fix="pulses per ms")
        self._T = self.steps(duration, "duration")
        self._grace = self.steps(grace, "grace")
        if self._T == 0:
            raise ValueError(f"duration must last at least dt = {self.dt:g} ms")
        if not 0 <= self.pulse_rate * self.dt <= 1:
            raise ValueError(
                f"pulse_rate·dt must be a probability in [0, 1], got "
                f"{self.pulse_rate:g}/ms × {self.dt:g} ms = {self.pulse_rate * self.dt:g}"
            )
        self.input_size = self.output_size = n_bits

    @property
    def n_steps(self) -> int:
        return self._T

    def _generate(
        self, B: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
    ) -> tuple[Trials, dict[str, Tensor]]:
        T = self.n_steps
        inputs = _pulses((T, B, self.n_bits), self.pulse_rate * self.dt, generator, device, dtype)
        # index of the last pulse at or before t on each channel (−1: none yet)
        t = torch.arange(T, device=device)[:, None, None].expand_as(inputs)
        last = torch.where(inputs != 0, t, -1).cummax(0).values
        targets = inputs.gather(0, last.clamp(min=0)) * (last >= 0)
        mask = ((last >= 0) & (t - last >= self._grace)).to(dtype)
        return Trials(inputs, targets, mask), {}

    def evaluate(
        self, outputs: Tensor, targets: Tensor, mask: Tensor, conditions: dict[str, Tensor] | None = None
    ) -> dict[str, Tensor]:
        self._check_outputs(outputs, targets, mask)
        correct = (torch.sign(outputs) == targets).to(outputs.dtype)
        mse = masked_mean((outputs - targets) ** 2, mask)
        return {"mse": mse, "bit_accuracy": masked_mean(correct, mask)}

    def draw(self, metrics: dict[str, Tensor], outputs: Tensor, targets: Tensor, mask: Tensor) -> Figure:
        """Output vs target traces of each bit."""
        fig = self._draw_traces(outputs, targets, mask, title=f"{self.n_bits}-bit flip-flop")
        fig.tight_layout()
        return fig
