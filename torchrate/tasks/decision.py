"""Decision tasks: :class:`PerceptualDecision` (random-dot motion style) and
:class:`WinnerTakeAll` (pick the larger of K inputs and remember it).

Both are categorical: the outputs are logits over the choices, trained with cross-entropy
in the response period, and the network's choice on a trial is the argmax of its outputs
summed over that period.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .. import _validate
from .base import Task, Trials, figure, period_mask, white_noise

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["PerceptualDecision", "WinnerTakeAll", "choices"]


def _broadcasts(a: Tensor, b: Tensor) -> bool:
    try:
        torch.broadcast_shapes(a.shape, b.shape)
    except RuntimeError:
        return False
    return True


def choices(outputs: Tensor, mask: Tensor) -> Tensor:
    """The choice of each trial, ``argmax_k Σ_t mask[t, b, k] · outputs[t, b, k]``, shape (B,).

    ``outputs`` (T, B, K) a floating tensor, ``mask`` a tensor broadcastable to it (``TypeError``/
    ``ValueError`` naming the argument otherwise; no host sync)."""
    if not isinstance(outputs, Tensor) or not outputs.is_floating_point():
        raise TypeError(f"outputs must be a floating tensor of shape (T, B, K), got {_validate._show(outputs)}")
    if outputs.ndim != 3:
        raise ValueError(f"outputs must have shape (T, B, K), got {tuple(outputs.shape)}")
    if not isinstance(mask, Tensor):
        raise TypeError(f"mask must be a tensor of shape (T, B, K) (or broadcastable), got {_validate._show(mask)}")
    if not (_broadcasts(mask, outputs) and torch.broadcast_shapes(mask.shape, outputs.shape) == outputs.shape):
        raise ValueError(
            f"mask must have shape (T, B, K) = {tuple(outputs.shape)} (or broadcast to it), got {tuple(mask.shape)}"
        )
    return (outputs * mask).sum(0).argmax(-1)


class PerceptualDecision(Task):
    r"""Two-choice perceptual decision on noisy evidence (random-dot motion).

    Periods: fixation → stimulus → delay (optional) → decision. Inputs (I = 3):

    * ``u[0]``: fixation cue, 1 until the decision period starts (the go signal), then 0;
    * ``u[1], u[2]``: evidence for choice 0 ("right") and 1 ("left"), during the stimulus
      ``(1 + c)/2`` and ``(1 − c)/2`` plus independent white noise (per-step std
      ``input_noise/√dt``), 0 elsewhere. ``c`` is the signed coherence, drawn uniformly from
      ``±coherences``.

    Outputs (O = 2): logits of choice 0 (c > 0) and 1 (c < 0), scored by cross-entropy in the
    decision period only. A trial with ``c = 0`` has a random (fair coin) target.

    Metrics: ``accuracy`` (trials with c ≠ 0; all trials when ``evaluate`` is not given the
    conditions), ``coherence`` (the signed levels) and ``p_right`` (fraction of choice 0 at
    each level: the psychometric curve).

    Parameters
    ----------
    dt : float
        Step (ms).
    fixation, stimulus, delay, decision : float
        Period durations (ms), multiples of ``dt``.
    coherences : sequence of float
        Unsigned coherence levels in [0, 1]; each trial draws one level and a sign.
    input_noise : float
        σ of the evidence noise, per √ms.
    """

    input_size = 3
    output_size = 2
    loss = "cross_entropy"

    def __init__(
        self,
        dt: float = 20.0,
        fixation: float = 100.0,
        stimulus: float = 500.0,
        delay: float = 0.0,
        decision: float = 200.0,
        coherences: Sequence[float] = (0.0, 0.032, 0.064, 0.128, 0.256, 0.512),
        input_noise: float = 0.5,
    ) -> None:
        super().__init__(dt)
        self.fixation, self.stimulus, self.delay, self.decision = fixation, stimulus, delay, decision
        self._edges = [0]
        for name in ("fixation", "stimulus", "delay", "decision"):
            self._edges.append(self._edges[-1] + self.steps(getattr(self, name), name))
        if self._edges[4] == self._edges[3] or self._edges[2] == self._edges[1]:
            raise ValueError(
                f"stimulus and decision must last at least dt = {self.dt:g} ms, got {stimulus:g} and {decision:g} ms"
            )
        if isinstance(coherences, (str, bytes)) or not isinstance(coherences, Sequence):
            raise TypeError(f"coherences must be a sequence of values in [0, 1], got {coherences!r}")
        coherences = tuple(_validate.as_float(f"coherences[{i}]", c, finite=False) for i, c in enumerate(coherences))
        if not coherences or not all(0.0 <= c <= 1.0 for c in coherences):
            raise ValueError(f"coherences must be a non-empty sequence of values in [0, 1], got {coherences}")
        input_noise = _validate.check_nonnegative("input_noise", input_noise, fix="σ of the evidence noise per √ms")
        self.coherences, self.input_noise = coherences, input_noise

    @property
    def n_steps(self) -> int:
        return self._edges[-1]

    def signed_coherences(self) -> Tensor:
        """The sorted signed levels ``−c_max … c_max`` of the psychometric curve (float64)."""
        c = torch.tensor(self.coherences, dtype=torch.float64)
        return torch.unique(torch.cat([-c, c])) + 0.0  # + 0.0: no −0

    def evidence_input(self, coherence: float) -> Tensor:
        """The signed evidence of coherence c alone, fixation cue off: ``[0, c/2, −c/2]`` (float64,
        shape (3,)) — the stimulus mean ``[(1 + c)/2, (1 − c)/2]`` less its coherence-free common
        drive ``[½, ½]``. The training report's bifurcation diagram follows the network's fixed
        points in c at this input: at c = 0 it is the decision period's input, where the choice
        attractors live, and it shows how much sustained evidence removes each of them."""
        c = float(coherence)
        return torch.tensor([0.0, c / 2, -c / 2], dtype=torch.float64)

    def _generate(
        self, B: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
    ) -> tuple[Trials, dict[str, Tensor]]:
        T, (_, s0, s1, d0, _) = self.n_steps, self._edges
        level = torch.randint(len(self.coherences), (B,), generator=generator, device=device)
        sign = torch.randint(2, (B,), generator=generator, device=device) * 2 - 1
        coin = torch.randint(2, (B,), generator=generator, device=device)
        c = torch.tensor(self.coherences, device=device, dtype=torch.float64)[level] * sign + 0.0
        choice = torch.where(c > 0, 0, torch.where(c < 0, 1, coin))
        on = period_mask(T, s0, s1, device, dtype)[:, None, None]  # (T, 1, 1)
        mean = torch.stack([(1 + c) / 2, (1 - c) / 2], -1).to(dtype)  # (B, 2)
        noise = white_noise((T, B, 2), self.input_noise, self.dt, generator, device, dtype)
        fixation = (1 - period_mask(T, d0, T, device, dtype))[:, None, None].expand(T, B, 1)
        inputs = torch.cat([fixation, on * (mean + noise)], -1)
        respond = period_mask(T, d0, T, device, dtype)[:, None, None]
        targets = respond * torch.nn.functional.one_hot(choice, 2).to(dtype)
        mask = respond.expand(T, B, 2).clone()
        return Trials(inputs, targets, mask), {"coherence": c.to(dtype), "choice": choice}

    def evaluate(
        self, outputs: Tensor, targets: Tensor, mask: Tensor, conditions: dict[str, Tensor] | None = None
    ) -> dict[str, Tensor]:
        self._check_outputs(outputs, targets, mask)
        choice, target = choices(outputs, mask), choices(targets, mask)
        metrics = {}
        if conditions is None:
            metrics["accuracy"] = (choice == target).to(outputs.dtype).mean()
            return metrics
        c = conditions["coherence"]
        informative = (c != 0).to(outputs.dtype)
        metrics["accuracy"] = ((choice == target).to(outputs.dtype) * informative).sum() / informative.sum()
        levels = self.signed_coherences().to(device=c.device, dtype=c.dtype)
        at_level = (c[:, None] == levels).to(outputs.dtype)  # (B, K)
        right = (choice == 0).to(outputs.dtype)
        metrics["coherence"] = levels
        metrics["p_right"] = (at_level * right[:, None]).sum(0) / at_level.sum(0)
        return metrics

    def draw(self, metrics: dict[str, Tensor], outputs: Tensor, targets: Tensor, mask: Tensor) -> Figure:
        """The psychometric curve (fraction of "right" choices vs signed coherence)."""
        if "p_right" not in metrics:
            return super().draw(metrics, outputs, targets, mask)
        fig, ax = figure(figsize=(4.2, 3.4))
        ax.plot(metrics["coherence"].cpu() * 100, metrics["p_right"].cpu(), "o-")
        ax.axhline(0.5, color="0.7", lw=0.8)
        ax.axvline(0, color="0.7", lw=0.8)
        ax.set(
            xlabel="signed coherence (%)",
            ylabel='fraction of "right" choices',
            ylim=(-0.02, 1.02),
            title=f"psychometric curve (accuracy {float(metrics['accuracy']):.1%})",
        )
        fig.tight_layout()
        return fig


class WinnerTakeAll(Task):
    r"""Signal which of K inputs is largest, and keep signalling it after they are removed.

    Inputs (I = K): during the stimulus, constant amplitudes ``a_k ~ U(a_min, a_max)`` plus
    white noise (per-step std ``input_noise/√dt``); 0 during the memory period that follows.
    Outputs (O = K): logits of the winner ``argmax_k a_k``, scored by cross-entropy over the
    memory period only — the choice must be held without input.

    Metrics: ``accuracy``, ``accuracy_above_10pct`` (trials whose relative difference
    ``(a_(1) − a_(2)) / a_(1)`` between the two largest amplitudes exceeds 10 %), and the
    curve ``difference_bins`` (bin edges, K+1 values) / ``accuracy_by_difference``.

    Parameters
    ----------
    n_inputs : int
        K ≥ 2.
    dt, stimulus, memory : float
        Step and period durations (ms).
    amplitude_range : (float, float)
        ``(a_min, a_max)``, 0 ≤ a_min < a_max.
    input_noise : float
        σ per √ms.
    """

    loss = "cross_entropy"
    difference_edges = (0.0, 0.05, 0.1, 0.2, 0.4, 1.0)

    def __init__(
        self,
        n_inputs: int = 2,
        dt: float = 10.0,
        stimulus: float = 200.0,
        memory: float = 200.0,
        amplitude_range: Sequence[float] = (0.2, 1.0),
        input_noise: float = 0.05,
    ) -> None:
        super().__init__(dt)
        n_inputs = _validate.as_int("n_inputs", n_inputs, minimum=2)
        if isinstance(amplitude_range, (str, bytes)) or not isinstance(amplitude_range, Sequence):
            raise TypeError(f"amplitude_range must be a pair (a_min, a_max), got {amplitude_range!r}")
        if len(amplitude_range) != 2:
            raise ValueError(f"amplitude_range must be a pair (a_min, a_max), got {len(amplitude_range)} values")
        lo, hi = (_validate.as_float(f"amplitude_range[{i}]", a, finite=False) for i, a in enumerate(amplitude_range))
        if not (0 <= lo < hi < float("inf")):
            raise ValueError(f"amplitude_range must be (a_min, a_max) with 0 ≤ a_min < a_max, got {amplitude_range}")
        input_noise = _validate.check_nonnegative("input_noise", input_noise, fix="σ of the input noise per √ms")
        self.n_inputs, self.stimulus, self.memory = n_inputs, stimulus, memory
        self.amplitude_range, self.input_noise = (lo, hi), input_noise
        self._stim = self.steps(stimulus, "stimulus")
        self._mem = self.steps(memory, "memory")
        if self._stim == 0 or self._mem == 0:
            raise ValueError(f"stimulus and memory must last at least dt = {self.dt:g} ms")
        self.input_size = self.output_size = n_inputs

    @property
    def n_steps(self) -> int:
        return self._stim + self._mem

    def _generate(
        self, B: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
    ) -> tuple[Trials, dict[str, Tensor]]:
        T, K, (lo, hi) = self.n_steps, self.n_inputs, self.amplitude_range
        a = lo + (hi - lo) * torch.rand((B, K), generator=generator, device=device, dtype=dtype)
        noise = white_noise((T, B, K), self.input_noise, self.dt, generator, device, dtype)
        on = period_mask(T, 0, self._stim, device, dtype)[:, None, None]
        inputs = on * (a + noise)
        top2 = a.topk(2, dim=-1).values
        winner = a.argmax(-1)
        memory = 1 - on
        targets = memory * torch.nn.functional.one_hot(winner, K).to(dtype)
        mask = memory.expand(T, B, K).clone()
        conditions = {"amplitudes": a, "difference": (top2[:, 0] - top2[:, 1]) / top2[:, 0]}
        return Trials(inputs, targets, mask), conditions

    def evaluate(
        self, outputs: Tensor, targets: Tensor, mask: Tensor, conditions: dict[str, Tensor] | None = None
    ) -> dict[str, Tensor]:
        self._check_outputs(outputs, targets, mask)
        correct = (choices(outputs, mask) == choices(targets, mask)).to(outputs.dtype)
        metrics = {"accuracy": correct.mean()}
        if conditions is not None:
            d = conditions["difference"]
            above = (d > 0.1).to(outputs.dtype)
            metrics["accuracy_above_10pct"] = (correct * above).sum() / above.sum()
            edges = torch.tensor(self.difference_edges, device=d.device, dtype=d.dtype)
            in_bin = ((d[:, None] >= edges[:-1]) & (d[:, None] < edges[1:])).to(outputs.dtype)
            metrics["difference_bins"] = edges
            metrics["accuracy_by_difference"] = (in_bin * correct[:, None]).sum(0) / in_bin.sum(0)
        return metrics

    def draw(self, metrics: dict[str, Tensor], outputs: Tensor, targets: Tensor, mask: Tensor) -> Figure:
        """Accuracy vs the relative difference of the two largest inputs."""
        if "accuracy_by_difference" not in metrics:
            return super().draw(metrics, outputs, targets, mask)
        fig, ax = figure(figsize=(4.2, 3.4))
        edges = metrics["difference_bins"].cpu() * 100
        ax.plot((edges[:-1] + edges[1:]) / 2, metrics["accuracy_by_difference"].cpu(), "o-")
        ax.axhline(1 / self.n_inputs, color="0.7", lw=0.8)
        ax.set(
            xlabel="relative difference of the two largest inputs (%)",
            ylabel="accuracy",
            ylim=(0, 1.02),
            title=f"winner-take-all (>10 %: {float(metrics['accuracy_above_10pct']):.1%})",
        )
        fig.tight_layout()
        return fig
