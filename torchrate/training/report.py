"""The end-of-fit analysis of a trained network: figures and ``summary.json``.

:func:`analyze` is what :class:`~torchrate.training.AnalysisCallback` runs at the end of
``torchrate fit`` and what ``torchrate analyze CHECKPOINT --out DIR`` runs on a checkpoint
(:func:`analyze_checkpoint`). It writes

* ``learning_curves.png`` — training and validation loss, and the validation metrics, vs step;
* ``task_metric.png`` — the task's own figure, :meth:`Task.draw <torchrate.tasks.Task.draw>`:
  psychometric curve (PerceptualDecision, NeuroGym), accuracy vs input difference
  (WinnerTakeAll), output vs target traces (Integration, FlipFlop, the default);
* ``spectrum.png`` — the eigenvalues λ of M in the complex plane, with the line Re λ = 1 (a τ
  per neuron, E–I networks: the eigenvalues of diag(1/τ)(M − I), in 1/ms, with the line Re λ = 0;
  a ``torch.nn`` RNN/GRU/LSTM: the eigenvalues μ of its map's Jacobian ∂F/∂v at v = 0, u = 0,
  with the unit circle);
* ``fixed_points.png`` — the fixed points at zero input of the network's system
  (:func:`torchrate.systems.as_system`: dv/dt = 0 of a flow, or F(v) = v of a map — an Euler
  network with dt/τ ≥ 0.5, a ``torch.nn`` RNN/GRU/LSTM, whose state is h, for an LSTM (h, c)),
  marked by stability kind (Re λ < 0 for a flow, |μ| < 1 for a map), over the first two
  principal components of the held-out trajectories of that state;
* ``bifurcation.png`` — decision tasks (those with ``task.evidence_input(c)``): the fixed
  points followed across the signed coherence c ∈ [−1, 1] at the input ``evidence_input(c)``
  (PerceptualDecision: the evidence c·(1, −1)/2 alone, the fixation cue off)
  (:func:`torchrate.analysis.bifurcation`), projected on the readout's choice axis, stable
  solid and unstable dashed, folds marked: where a fold ends a stable branch, that choice's
  attractor disappears (see docs/bifurcation.md);
* several tasks (:class:`~torchrate.tasks.Multitask`; Yang et al. 2019, see docs/multitask.md):
  ``task_metric.png`` is each task's accuracy; ``task_variance.png`` the task variance of each
  active unit normalised by its maximum, units grouped by cluster; ``clusters.png`` the mean
  silhouette against the number of clusters and the chosen clusters; ``ftv.png`` histograms of
  the fractional task variance of the pairs of tasks (:mod:`torchrate.analysis.multitask`);
* ``summary.json`` — the held-out metrics, the spectrum's extremes, the fixed points
  found (counts by kind) and, for decision tasks, a ``bifurcation`` entry: the fixed points
  at c = 0 and the folds, with the choice whose attractor disappears at each; for several
  tasks a ``multitask`` entry: each task's headline metric, the task variances, the clusters
  and the FTV histograms.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import torch
from torch import Tensor

from .. import _validate
from ..tasks import Task
from .data import draw_batch

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..analysis._progress import Progress
    from ..analysis.bifurcation import Bifurcation
    from ..analysis.fixed_points import FixedPoints
    from ..analysis.multitask import UnitClusters
    from .data import Batch
    from .module import TaskModule

__all__ = ["analyze", "analyze_checkpoint", "load_checkpoint"]

# a trained network as the analysis sees it: a torchrate network (float64 copy) or a torch.nn RNN/GRU/LSTM,
# told apart by what it has (hasattr(net, "M"), noise_std)
_Net = Any


# ---------------------------------------------------------------------- pure helpers
def _plain(x: object) -> Any:  # a JSON value
    """Tensors and floats as JSON values (NaN/inf → None)."""
    if isinstance(x, Tensor):
        x = x.tolist()
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


# ---------------------------------------------------------------------- analysis
def analyze(
    module: TaskModule,
    out: str | Path,
    *,
    trials: Batch | None = None,
    n_trials: int = 512,
    seed: int = 0,
    history: list[dict[str, Any]] | None = None,
    n_initial: int = 1024,
    extra: dict[str, Any] | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Analyse a trained :class:`~torchrate.training.TaskModule` and write the figures and
    ``summary.json`` into ``out``.

    Parameters
    ----------
    module : TaskModule
    out : path
        Output folder (created).
    trials : tuple, optional
        ``(inputs, targets, mask, conditions)`` held-out trials; else ``n_trials`` drawn
        with ``seed``.
    history : list of dict, optional
        Rows ``{"step", "train/loss", "val/…"}`` for the learning curves.
    n_initial : int
        Initial states of the fixed-point search, drawn from the held-out trajectories.
    progress : bool, optional
        A progress bar on stderr naming each stage (held-out evaluation, fixed points, spectrum,
        figures, bifurcation, writing): True shown, False never, None once the analysis has
        lasted 5 s. :class:`~torchrate.training.AnalysisCallback` shows it when the Trainer's
        progress bar is enabled and stderr is a terminal.

    Returns
    -------
    dict — the content of ``summary.json``.
    """
    import torchrate as tr

    if not isinstance(getattr(module, "task", None), Task) or not hasattr(module, "network"):
        raise TypeError(f"module must be a TaskModule (with a .task and a .network), got {_validate._show(module)}")
    _validate.check_path("out", out, fix="the folder to write the figures and summary.json into")
    _validate.as_int("n_trials", n_trials, minimum=1)
    _validate.as_seed("seed", seed)
    _validate.as_int("n_initial", n_initial, minimum=1, fix="initial states of the fixed-point search")
    if history is not None and (
        not isinstance(history, (list, tuple)) or not all(isinstance(row, Mapping) for row in history)
    ):
        raise TypeError(
            f"history must be a list of dicts or None (rows {{'step', 'train/loss', 'val/…'}}), got "
            f"{_validate._show(history)}"
        )
    if extra is not None and not isinstance(extra, Mapping):
        raise TypeError(f"extra must be a dict or None (entries added to summary.json), got {_validate._show(extra)}")
    _check_progress(progress)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    task: Task = module.task
    if trials is None:
        trials = draw_batch(task, n_trials, seed)
    meter = _stages(progress, task, len(module.network) if getattr(module, "is_ensemble", False) else 1)
    meter.stage("held-out evaluation")
    if getattr(module, "is_ensemble", False):
        return _analyze_ensemble(module, out, trials, seed, history, n_initial, extra, meter)
    network = module.network
    ref = next(network.parameters())
    inputs, targets, mask = (x.to(device=ref.device, dtype=ref.dtype) for x in trials[:3])
    conditions = {k: v.to(ref.device) for k, v in trials[3].items()}
    was_training = module.training
    module.eval()
    # the network's noise (if any) from a generator seeded with ``seed``: the same analysis at the
    # end of a fit and from ``torchrate analyze``, and the global RNG untouched (torch.nn networks have none)
    noisy = hasattr(network, "generator")
    generator = network.generator if noisy else None
    if noisy:
        network.generator = torch.Generator(ref.device).manual_seed(seed)
    try:
        with torch.no_grad():
            outputs, rates = module(inputs)
    finally:
        if noisy:
            network.generator = generator
        module.train(was_training)
    metrics = task.evaluate(outputs, targets, mask, conditions)

    # fixed points and spectrum on a float64 CPU copy: Newton converges to q ~ 1e-26 and
    # the stability of each point is read off exactly
    net = copy.deepcopy(network).to(device="cpu", dtype=torch.float64)
    for p in net.parameters():
        p.requires_grad_(False)
    R = rates.detach().to("cpu", torch.float64)  # (T, B, N)
    S = _state_trajectories(net, inputs, R)  # (T, B, state size): the rates, or an LSTM's (h, c)
    states = S.reshape(-1, S.shape[-1])
    pick = torch.randperm(states.shape[0], generator=torch.Generator().manual_seed(seed))[:n_initial]
    u0 = torch.zeros(task.input_size, dtype=torch.float64)
    meter.stage("fixed points")
    fps = tr.analysis.find_fixed_points(net, u0, states[pick])
    eigenvalues, linear_stable, bifurcation_entry = _write_figures(
        out,
        task,
        net,
        S,
        fps,
        (metrics, outputs, targets, mask),
        getattr(module, "readout", None),
        states[pick[:256]],
        history,
        conditions=conditions,
        meter=meter,
    )
    multitask_entry = _multitask(out, task, net, inputs, R, conditions, metrics, meter)

    kinds = Counter(list(fps.kind))
    summary = {
        "task": task.config(),
        "network": _plain(dict(module.hparams.get("network", {}))) if hasattr(module, "hparams") else None,
        "metrics": {k: float(v) for k, v in metrics.items() if v.ndim == 0},
        "curves": {k: v for k, v in metrics.items() if v.ndim == 1},
        "n_trials": int(inputs.shape[1]),
        "spectrum": {
            "of": _spectrum_name(net),
            "max_real": float(eigenvalues.real.max()),
            "spectral_radius": float(eigenvalues.abs().max()),
            "linear_stable": linear_stable,
        },
        "fixed_points": {
            "input": "zero",
            "time": fps.time,
            "stability": _STABILITY[fps.time],
            "state": "(h, c)" if S.shape[-1] != R.shape[-1] else "rates",
            "count": int(fps.points.shape[0]),
            "stable": int(fps.stable.sum()),
            "by_kind": dict(sorted(kinds.items())),
            "max_residual": float(fps.residuals.max()) if fps.points.shape[0] else None,
        },
        **({"bifurcation": bifurcation_entry} if bifurcation_entry is not None else {}),
        **({"multitask": multitask_entry} if multitask_entry is not None else {}),
        **(extra or {}),
    }
    summary = _plain(summary)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    meter.close("done")
    return summary


def _check_progress(progress: object) -> None:
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be True, False or None (shown after 5 s), got {_validate._show(progress)}")


def _stages(progress: bool | None, task: Task, members: int) -> Progress:
    """The progress meter of :func:`analyze`: one unit per stage (:meth:`Progress.stage`)."""
    from ..analysis._progress import Progress

    decision = getattr(task, "evidence_input", None) is not None  # + the bifurcation diagram
    multitask = getattr(task, "trial_tasks", None) is not None  # + task variance and clusters
    # held-out evaluation, fixed points (per member), spectrum, figures, [bifurcation], writing,
    # [task variance and unit clusters]
    return Progress(
        progress,
        4 + members + decision + multitask,
        "analysis",
        unit="stage",
        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]",
    )  # stages: no rate


def _choice_axis(readout: object, D: int) -> Tensor | None:
    """Readout row 0 minus row 1 (float64, CPU) as a direction in the state space (D,): the "choice 0
    vs choice 1" direction. The readout reads the state's first N coordinates (:func:`_read_rates`),
    so an LSTM's c coordinates get 0."""
    weight = getattr(readout, "weight", None)
    if not isinstance(weight, Tensor) or weight.ndim != 2 or weight.shape[0] < 2 or weight.shape[1] > D:
        return None
    w = weight.detach().to("cpu", torch.float64)
    return torch.cat([w[0] - w[1], w.new_zeros(D - w.shape[1])])


def _read_rates(state: Tensor, N: int) -> Tensor:
    """What the readout (N inputs) reads of a state (…, D): its first N coordinates, the whole state
    of a rate network, an RNN or a GRU (D = N), an LSTM's h of its (h, c) (D = 2N; see
    :func:`_state_trajectories`)."""
    return state[..., :N]


def _bifurcation(
    net: _Net, evidence: Callable[[float], Tensor], starts: Tensor, readout: object, n_values: int = 101
) -> tuple[Bifurcation, dict[str, Any]]:
    """Fixed points of the float64 copy ``net`` followed across the signed coherence c ∈ [−1, 1]
    at input ``evidence(c)``; returns the Bifurcation and the ``summary.json`` entry."""
    import torchrate as tr

    values = torch.linspace(-1.0, 1.0, n_values, dtype=torch.float64)
    # progress=False: analyze's own meter names this stage
    bif = tr.analysis.bifurcation(lambda c: (net, evidence(c)), values, initial_states=starts, progress=False)
    at_zero = bif.at(0.0)
    weight = getattr(readout, "weight", None)
    bias = getattr(readout, "bias", None)

    def choice(point: Tensor) -> int | None:
        if not isinstance(weight, Tensor) or weight.ndim != 2 or weight.shape[1] > point.shape[-1]:
            return None
        logits = weight.detach().to("cpu", torch.float64) @ _read_rates(point.cpu(), weight.shape[1])
        if isinstance(bias, Tensor):
            logits = logits + bias.detach().to("cpu", torch.float64)
        return int(logits.argmax())

    folds = sorted(bif.folds, key=lambda f: f.value)
    stable_zero = at_zero.points[at_zero.stable]
    entry = {
        "parameter": "signed coherence c (input task.evidence_input(c) = [0, c/2, -c/2]: fixation off)",
        "range": [-1.0, 1.0],
        "branches": len(bif.branches),
        "at_zero_coherence": {
            "points": len(at_zero),
            "stable": int(at_zero.stable.sum()),
            "stable_choices": sorted(c for c in map(choice, stable_zero) if c is not None),
        },
        "folds": [{"coherence": f.value, "choice": choice(f.point), "refined": f.refined} for f in folds],
        "hopf": [{"coherence": h.value, "frequency_per_ms": h.frequency} for h in bif.hopf],
        # a fold where a stable branch meets the saddle: past it that choice's attractor is gone
        "choice_attractor_disappears_at": {str(choice(f.point)): f.value for f in folds if choice(f.point) is not None},
    }
    return bif, entry


def _bifurcation_figure(bif: Bifurcation, readout: object) -> Figure:
    import torchrate as tr

    fig, ax = _subplots(figsize=(5.2, 3.8))
    axis = _choice_axis(readout, bif.branches[0].points.shape[-1]) if bif.branches else None
    tr.plotting.plot_bifurcation(
        bif,
        ax,
        coordinate="norm" if axis is None else axis,
        parameter="signed coherence c (fixation off)",
        ylabel="‖v‖" if axis is None else "readout: choice 0 − choice 1",
        title="fixed points vs coherence",
    )
    fig.tight_layout()
    return fig


_STABILITY = {"discrete": "|μ| < 1 (eigenvalues of the map's Jacobian)", "continuous": "Re λ < 0"}


def _state_trajectories(net: _Net, inputs: Tensor, R: Tensor) -> Tensor:
    """The held-out trajectories of the state the analysis sees (float64, CPU): the rates ``R``
    (T, B, N), or — where the network is a map with a larger state, an LSTM's (h, c) — its map
    run from 0 over ``inputs`` (T, B, I), which gives (T, B, 2N) with ``[..., :N]`` equal to ``R``."""
    import torchrate as tr

    system = tr.systems.as_system(net)
    if system.time != "discrete" or system.state_size in (None, R.shape[-1]):
        return R
    u = inputs.detach().to("cpu", torch.float64)
    v = torch.zeros(u.shape[1], system.state_size, dtype=torch.float64)
    out = []
    with torch.no_grad():
        for u_t in u:
            v = system(v, u_t)
            out.append(v)
    return torch.stack(out)


def _spectrum_name(net: _Net) -> str:
    """What ``spectrum`` in summary.json is of."""
    if hasattr(net, "M"):
        return "M (recurrent weights)"
    return "the Jacobian dF/dv of the network's map at v = 0, u = 0"


class _LinearModes(NamedTuple):
    """The linearisation at rest that summary.json reports and spectrum.png draws."""

    eigenvalues: Tensor  # of M (a network without M: the μ of its map), reported
    stable: bool  # the linear network's (the map's) stability
    shown: Tensor  # the eigenvalues that decide ``stable``, drawn
    kind: str  # "M" (Re λ < 1), "per_ms" (diag(1/τ)(M − I), Re λ < 0) or "map" (|μ| < 1)


def _spectrum_of_M(net: _Net) -> _LinearModes:
    """Eigenvalues λ of M, and whether the linear network τ dv/dt = −v + Mv is stable.

    With one τ that is Re λ < 1 (:func:`torchrate.analysis.spectrum`); with a τ per neuron
    (E–I networks) the modes are those of diag(1/τ)(M − I), whose real parts must be < 0.
    A network without M (``torch.nn`` RNN/GRU/LSTM): the eigenvalues μ of its map's Jacobian at
    v = 0, u = 0, and whether |μ| < 1 there (the map contracts near the origin).
    """
    import torchrate as tr

    if not hasattr(net, "M"):
        system = tr.systems.as_system(net)
        N, I = cast(int, system.state_size), cast(int, system.input_size)  # a torch RNN's map: both known
        zeros = torch.zeros(1, N, dtype=torch.float64)
        J = system.jacobian(zeros, torch.zeros(1, I, dtype=torch.float64))[0].detach()
        mu = torch.linalg.eigvals(J)
        return _LinearModes(mu, bool(mu.abs().max() < 1), mu, "map")
    M, tau = net.M.detach(), net.tau.detach()
    if tau.ndim == 0:
        spec = tr.analysis.spectrum(M, tau)
        return _LinearModes(spec.eigenvalues, bool(spec.stable), spec.eigenvalues, "M")
    eigenvalues = tr.analysis.spectrum(M).eigenvalues
    A = (M - torch.eye(M.shape[0], dtype=M.dtype, device=M.device)) / tau[:, None]
    modes = torch.linalg.eigvals(A)
    return _LinearModes(eigenvalues, bool(modes.real.max() < 0), modes, "per_ms")


# ---------------------------------------------------------------------- checkpoints
def load_checkpoint(path: str | os.PathLike[str], map_location: str = "cpu") -> tuple[TaskModule, dict[str, Any]]:
    """Rebuild the :class:`~torchrate.training.TaskModule` saved in ``path`` from its plain
    hyper-parameters (``torch.load(weights_only=True)``: nothing is unpickled) — the same
    rebuild as ``TaskModule.load_from_checkpoint(path)``, which returns the module alone.

    Returns ``(module, checkpoint)``. Raises ``ValueError`` naming what was found when the
    checkpoint was not written by ``torchrate fit`` or its weights do not fit the network
    class its hyper-parameters name, and :class:`~torchrate.training.checkpoints.CheckpointError`
    (a ``ValueError``) naming the file when it is corrupted (a zip CRC fails), would unpickle
    code (it is always loaded with ``weights_only=True``, whatever the environment says), or
    names a class outside the allow-list (:func:`~torchrate.training.allow`; checked before
    anything is imported).
    """
    from .module import TaskModule

    if not (map_location is None or callable(map_location) or isinstance(map_location, (dict, torch.device))):
        _validate.check_device("map_location", map_location, fix="or a dict or callable as torch.load takes")
    return TaskModule._from_checkpoint(path, map_location=map_location, strict=True)


def analyze_checkpoint(
    path: str | Path, out: str | Path, *, n_trials: int = 512, progress: bool | None = None
) -> dict[str, Any]:
    """``torchrate analyze``: :func:`load_checkpoint`, then :func:`analyze` on held-out
    trials of the run's test split (same seed as the run's data module); ``progress`` as
    :func:`analyze`'s (``torchrate analyze`` shows it when stderr is a terminal)."""
    from .data import TaskDataModule

    _validate.check_path("out", out, fix="the folder to write the analysis into")
    _validate.as_int("n_trials", n_trials, minimum=1, fix="held-out trials to analyse")
    _check_progress(progress)
    module, ckpt = load_checkpoint(path)
    data_hparams = ckpt.get("datamodule_hyper_parameters") or {}
    seed = int(data_hparams.get("seed", 0))
    trials = TaskDataModule(module.task, seed=seed).held_out(n_trials)
    callbacks = ckpt.get("callbacks") or {}
    history: list[dict[str, Any]] = next((s["history"] for k, s in callbacks.items() if "AnalysisCallback" in k), [])
    extra = {"checkpoint": str(path), "epochs": _epochs_run(ckpt), "global_step": ckpt.get("global_step")}
    return analyze(module, out, trials=trials, history=history, extra=extra, progress=progress)


def _epochs_run(ckpt: dict[str, Any]) -> int | None:
    """The epochs a checkpoint's fit had run, counted as the end-of-fit summary counts them
    (``trainer.current_epoch`` then): Lightning's epoch progress, ``processed``. The checkpoint's
    ``epoch`` is the 0-based index of the epoch it was saved in (one fewer at the end of a fit);
    it is the answer only where the loops' state is missing."""
    try:
        return int(ckpt["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"])
    except (KeyError, TypeError):
        epoch = ckpt.get("epoch")
        return epoch if isinstance(epoch, int) else None


# ---------------------------------------------------------------------- figures
def _subplots(nrows: int = 1, ncols: int = 1, **kwargs: Any) -> tuple[Figure, Any]:  # axes: one or an array
    """A matplotlib Figure without pyplot: no global backend or figure registry is touched."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=kwargs.pop("figsize", None))
    return fig, fig.subplots(nrows, ncols, **kwargs)


def _learning_curves(history: list[dict[str, Any]]) -> Figure:
    fig, (ax_loss, ax_metric) = _subplots(1, 2, figsize=(9, 3.4))
    steps = [row["step"] for row in history]
    for key, style in (("train/loss", "-"), ("val/loss", "--")):
        ys = [row.get(key, math.nan) for row in history]
        if any(math.isfinite(y) for y in ys):
            ax_loss.plot(steps, ys, style, marker=".", label=key)
    ax_loss.set(xlabel="optimizer step", ylabel="task loss", title="loss")
    if history:
        ax_loss.set_yscale("log")
    metric_keys = sorted({k for row in history for k in row if k.startswith("val/") and k != "val/loss"})
    for key in metric_keys:
        ax_metric.plot(steps, [row.get(key, math.nan) for row in history], marker=".", label=key)
    ax_metric.set(xlabel="optimizer step", title="validation metrics")
    for ax in (ax_loss, ax_metric):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _spectrum_figure(modes: _LinearModes) -> Figure:
    """spectrum.png: the eigenvalues that decide the linear stability (``modes.shown``) against their
    boundary — M's against Re λ = 1 (with the unit circle of the spectral radius), diag(1/τ)(M − I)'s
    (1/ms) against Re λ = 0, a map's μ inside the unit circle |μ| = 1 (whatever Re μ)."""
    import torchrate as tr

    fig, ax = _subplots(figsize=(4.2, 4))
    shown = modes.shown.detach().cpu()
    if modes.kind == "map":
        tr.plotting._plot_multipliers(ax, shown, "μ of ∂F/∂v at 0")
    elif modes.kind == "per_ms":
        tr.plotting.plot_spectrum(shown, ax, boundary=0.0, title="eigenvalues of diag(1/τ)(M − I)")  # in 1/ms
    else:
        theta = torch.linspace(0, 2 * math.pi, 200)
        ax.plot(theta.cos(), theta.sin(), color="0.8", lw=0.8)  # the spectral radius 1 circle
        tr.plotting.plot_spectrum(shown, ax, boundary=1.0, title="eigenvalues of M")
        ax.set(xlabel="Re λ", ylabel="Im λ", aspect="equal")
    fig.tight_layout()
    return fig


def _fixed_point_figure(
    rates: Tensor,
    fps: FixedPoints,
    targets: Tensor,
    mask: Tensor,
    task: Task,
    conditions: dict[str, Tensor] | None = None,
    n_trials: int = 40,
) -> Figure:
    import torchrate as tr

    fig, ax = _subplots(figsize=(5, 4.4))
    # decision tasks: colour each trial by its correct choice; several tasks: by its task
    trial_tasks = getattr(task, "trial_tasks", None)
    if trial_tasks is not None and conditions is not None:
        groups = trial_tasks(conditions).task.cpu()
    else:
        groups = (targets * mask).sum(0).argmax(-1).cpu() if task.loss == "cross_entropy" else None
    tr.plotting.plot_fixed_points(
        fps, rates, ax, max_trajectories=n_trials, groups=groups, title="fixed points at zero input over trajectories"
    )
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------- several tasks (Yang et al. 2019)
def _multitask(
    out: Path,
    task: Task,
    net: _Net,
    inputs: Tensor,
    R: Tensor,
    conditions: dict[str, Tensor],
    metrics: dict[str, Tensor],
    meter: Progress | None = None,
) -> dict[str, Any] | None:
    """For a task that mixes several (it has ``trial_tasks``, :class:`~torchrate.tasks.Multitask`):
    each task's headline metric, the task variance of every unit, the clusters of units by their
    normalised task-variance profiles and the fractional task variance of every pair of tasks
    (:mod:`torchrate.analysis.multitask`); writes ``task_variance.png``, ``clusters.png`` and
    ``ftv.png`` and returns the ``summary.json`` entry (None for other tasks).

    The variances are those of the network without its private noise (``net``, the float64 CPU
    copy, run again on ``inputs`` with ``noise_std = 0`` when it has noise), as Yang et al. compute
    them: the noise would make every unit vary across trials; the tasks' input noise stays."""
    from ..analysis import multitask as mt

    trial_tasks = getattr(task, "trial_tasks", None)
    if trial_tasks is None:
        return None
    if meter is not None:
        meter.stage("task variance and unit clusters")
    R = _noise_free_rates(net, inputs, R)
    tagged = trial_tasks(conditions)
    names, which = tagged.names, tagged.task.cpu()
    onset, length = tagged.onset.cpu(), tagged.length.cpu()
    headline = task.headline(metrics) if hasattr(task, "headline") else {}
    entry: dict[str, Any] = {
        "tasks": names,
        "performance": {n: {"metric": k, "value": v} for n, (k, v) in headline.items()},
        "threshold": 1e-3,
        "variance_window": "from the end of the initial fixation (the first change of the task's own "
        "input) to the trial's end, trials aligned at the former",
        "network_noise": "off (the tasks' input noise kept)",
    }
    keep = length > onset  # a trial with nothing after its fixation has no window
    counts = torch.bincount(which[keep], minlength=len(names))
    present = [k for k in range(len(names)) if counts[k] >= 2]
    entry["skipped_tasks"] = [names[k] for k in range(len(names)) if counts[k] < 2]
    if len(present) < 2:
        entry["task_variance"] = None
        return entry
    remap = torch.full((len(names),), -1, dtype=torch.long)
    remap[present] = torch.arange(len(present))
    rows = keep & (remap[which] >= 0)
    variance = mt.task_variance(R[:, rows], remap[which[rows]], len(present), start=onset[rows], stop=length[rows])
    kept = [names[k] for k in present]
    active = mt.active_units(variance, entry["threshold"])
    entry["task_variance"] = {
        "tasks": kept,
        "units": variance.shape[0],
        "active_units": int(active.numel()),
        "total_by_task": variance.sum(0).tolist(),
        "values": variance.tolist(),
    }
    clusters = None
    if active.numel() >= 3:
        clusters = mt.cluster_units(variance, threshold=entry["threshold"])
        entry["clusters"] = {
            "n_clusters": clusters.n_clusters,
            "silhouette": dict(zip(map(str, clusters.candidates), clusters.scores.tolist())),
            "sizes": torch.bincount(clusters.labels, minlength=clusters.n_clusters).tolist(),
            "preferred_task": [kept[int(k)] for k in clusters.preferred_task],
            "units": clusters.units.tolist(),
            "labels": clusters.labels.tolist(),
        }
    else:
        entry["clusters"] = None
    pairs = {}
    edges = None
    for a in range(len(kept)):
        for b in range(a + 1, len(kept)):
            ftv = mt.fractional_task_variance(variance, a, b, threshold=entry["threshold"])
            hist, edges = mt.ftv_histogram(ftv)
            pairs[f"{kept[a]}|{kept[b]}"] = {
                "units": int(ftv.numel()),
                "counts": hist.tolist(),
                "median": float(ftv.median()) if ftv.numel() else None,
            }
    edges = cast(Tensor, edges)  # ≥ 2 tasks kept: at least one pair
    entry["ftv"] = {"bins": edges.tolist(), "pairs": pairs}
    figures = {
        "task_variance.png": _task_variance_figure(variance, kept, clusters, entry["threshold"]),
        "ftv.png": _ftv_figure(pairs, kept, edges),
    }
    if clusters is not None:
        figures["clusters.png"] = _clusters_figure(clusters, kept)
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=120, bbox_inches="tight")
    return entry


def _noise_free_rates(net: _Net, inputs: Tensor, R: Tensor) -> Tensor:
    """``R`` — or, for a network with private noise, its rates on ``inputs`` without it (float64, CPU)."""
    if not getattr(net, "noise_std", 0):
        return R
    saved, training = net.noise_std, net.training
    net.noise_std = 0.0
    net.eval()
    try:
        with torch.no_grad():
            rates, _ = net(inputs.to(device="cpu", dtype=torch.float64))
    finally:
        net.noise_std = saved
        net.train(training)
    return rates


def _task_variance_figure(
    variance: Tensor, names: list[str], clusters: UnitClusters | None, threshold: float
) -> Figure:
    """Normalised task variance (task × active unit), units sorted by cluster."""
    from ..analysis import multitask as mt

    if clusters is not None:
        profiles, labels = clusters.profiles, clusters.labels
    else:
        units = mt.active_units(variance, threshold)
        profiles, labels = mt.normalized_variance(variance)[units], None
    K, n = len(names), profiles.shape[0]
    fig, ax = _subplots(figsize=(min(12, 3 + 0.04 * n), 1.2 + 0.28 * K))
    if n == 0:
        ax.text(0.5, 0.5, "no active unit", ha="center", va="center", transform=ax.transAxes)
    else:
        image = ax.imshow(profiles.T.cpu(), aspect="auto", cmap="hot", vmin=0, vmax=1, interpolation="nearest")
        fig.colorbar(image, ax=ax, label="TV / max TV")
    ax.set_yticks(range(K), names, fontsize=7)
    if labels is not None:
        bounds = (torch.nonzero(labels[1:] != labels[:-1])[:, 0] + 0.5).tolist()
        for x in bounds:
            ax.axvline(x, color="tab:cyan", lw=1)
        starts = [-0.5] + bounds
        ends = bounds + [n - 0.5]
        ax.set_xticks([(a + b) / 2 for a, b in zip(starts, ends)], [str(c + 1) for c in range(len(starts))], fontsize=7)
        ax.set_xlabel(f"active units, by cluster ({len(starts)} clusters)")
    else:
        ax.set_xlabel("active units")
    ax.set_title(f"normalised task variance of {n} active units")
    fig.tight_layout()
    return fig


def _clusters_figure(clusters: UnitClusters, names: list[str]) -> Figure:
    """Mean silhouette against the number of clusters, and the units in each chosen cluster."""
    fig, (ax_s, ax_n) = _subplots(1, 2, figsize=(9, 3.4))
    ax_s.plot(clusters.candidates, clusters.scores.cpu(), "o-", ms=3)
    ax_s.axvline(clusters.n_clusters, color="0.6", ls="--", lw=1)
    ax_s.set(xlabel="number of clusters", ylabel="mean silhouette", title=f"chosen: {clusters.n_clusters} clusters")
    sizes = torch.bincount(clusters.labels, minlength=clusters.n_clusters)
    ax_n.bar(range(1, clusters.n_clusters + 1), sizes.cpu())
    ax_n.set_xticks(
        range(1, clusters.n_clusters + 1),
        [f"{c + 1}: {names[int(k)]}" for c, k in enumerate(clusters.preferred_task)],
        fontsize=7,
        rotation=60,
        ha="right",
    )
    ax_n.set(ylabel="units", title="units per cluster (and the task each prefers)")
    fig.tight_layout()
    return fig


def _ftv_figure(pairs: dict[str, dict[str, Any]], names: list[str], edges: Tensor) -> Figure:
    """Histograms of FTV(A, B) over units: one panel per pair of tasks, or, beyond six pairs, a grid
    of small histograms (row A, column B) in one panel, as Yang et al.'s Fig. 3."""
    width = (edges[1:] - edges[:-1]).cpu()
    centres = ((edges[1:] + edges[:-1]) / 2).cpu()
    if len(pairs) <= 6:
        fig, axes = _subplots(1, len(pairs), figsize=(3 * len(pairs), 2.8), squeeze=False)
        for ax, (key, pair) in zip(axes[0], pairs.items()):
            a, b = key.split("|")
            counts = torch.tensor(pair["counts"], dtype=torch.float64)
            ax.bar(centres, counts / max(1.0, float(counts.sum())), width=width, color="tab:blue")
            ax.set(
                xlim=(-1.05, 1.05), xlabel=f"FTV({a}, {b})", ylabel="fraction of units", title=f"{pair['units']} units"
            )
        fig.tight_layout()
        return fig
    K = len(names)
    fig, ax = _subplots(figsize=(1 + 0.5 * K, 0.6 + 0.5 * K))
    x = (edges.cpu() + 1) / 2 * 0.9 + 0.05  # [-1, 1] -> [0.05, 0.95] of a cell
    for i in range(K):
        for j in range(K):
            if i == j:
                continue
            key = f"{names[min(i, j)]}|{names[max(i, j)]}"
            counts = torch.tensor(pairs[key]["counts"], dtype=torch.float64)
            if i > j:  # FTV(names[i], names[j]) = −FTV(names[j], names[i]): the histogram mirrored
                counts = counts.flip(0)
            h = counts / max(1.0, float(counts.max())) * 0.85
            ax.stairs(K - 1 - i + h, j + x, baseline=K - 1 - i, fill=True, color="tab:blue", lw=0)
            ax.plot([j + 0.5] * 2, [K - 1 - i, K - 1 - i + 0.9], color="0.75", lw=0.4)
    ax.set_xticks([j + 0.5 for j in range(K)], names, rotation=90, fontsize=6)
    ax.set_yticks([K - 1 - i + 0.45 for i in range(K)], names, fontsize=6)
    ax.set(xlim=(0, K), ylim=(0, K), title="FTV(row, column) over units, each in [−1, 1]")
    for v in range(1, K):
        ax.axvline(v, color="0.9", lw=0.5)
        ax.axhline(v, color="0.9", lw=0.5)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------- ensembles
def _headline(metrics: dict[str, Tensor]) -> tuple[str, bool]:
    """The metric that ranks members (an accuracy if the task has one) and whether higher is better."""
    keys = [k for k, v in metrics.items() if v.ndim == 0]
    acc = [k for k in keys if "accuracy" in k]
    return (acc[0], True) if acc else (keys[0], False)


def _analyze_ensemble(
    module: TaskModule,
    out: Path,
    trials: Batch,
    seed: int,
    history: list[dict[str, Any]] | None,
    n_initial: int,
    extra: dict[str, Any] | None,
    meter: Progress,
) -> dict[str, Any]:
    """An ensemble's analysis: every member's metrics and fixed points at zero input (a table
    ``members.md`` and a figure ``members.png``), and the usual figures of the best member.

    The rollouts of all members are one batched computation; the fixed-point search runs member
    by member (each on its own float64 CPU copy, from ``n_initial`` of its own states).
    """
    import torchrate as tr

    from .seeding import derive_seed

    task: Task = module.task
    ens = module.network
    ref = next(ens.parameters())
    inputs, targets, mask = (x.to(device=ref.device, dtype=ref.dtype) for x in trials[:3])
    conditions = {k: v.to(ref.device) for k, v in trials[3].items()}
    was_training, generators = module.training, list(ens.generators)
    module.eval()
    ens.generators = [torch.Generator(ref.device).manual_seed(derive_seed(seed, k)) for k in range(len(ens))]
    try:
        with torch.no_grad():
            outputs, rates = module(inputs)  # (K, T, B, O), (K, T, B, N): one batched rollout
    finally:
        ens.generators = generators
        module.train(was_training)
    seeds = module.member_seeds.tolist()
    rows: list[dict[str, Any]] = []
    per_member = []
    u0 = torch.zeros(task.input_size, dtype=torch.float64)
    for k in range(len(ens)):
        meter.stage(f"fixed points, member {k + 1}/{len(ens)}")
        metrics = task.evaluate(outputs[k], targets, mask, conditions)
        net = ens[k].to(device="cpu", dtype=torch.float64)
        for p in net.parameters():
            p.requires_grad_(False)
        R = rates[k].detach().to("cpu", torch.float64)
        states = R.reshape(-1, R.shape[-1])
        pick = torch.randperm(states.shape[0], generator=torch.Generator().manual_seed(seed))[:n_initial]
        fps = tr.analysis.find_fixed_points(net, u0, states[pick])
        kinds = Counter(list(fps.kind))
        rows.append(
            {
                "member": k,
                "seed": seeds[k] if k < len(seeds) else None,
                **{name: float(v) for name, v in metrics.items() if v.ndim == 0},
                "fixed_points": len(fps),
                "stable": int(fps.stable.sum()),
                "saddles": kinds.get("saddle", 0),
            }
        )
        per_member.append((metrics, net, R, fps, kinds, states[pick]))
    key, higher = _headline(per_member[0][0])
    scores = [row[key] for row in rows]
    best = max(range(len(rows)), key=lambda k: scores[k] if higher else -scores[k])
    metrics, net, R, fps, kinds, starts = per_member[best]
    readout = SimpleNamespace(weight=module.readout.weight[best], bias=module.readout.bias[best])  # member best's
    eigenvalues, linear_stable, bifurcation_entry = _write_figures(
        out,
        task,
        net,
        R,
        fps,
        (metrics, outputs[best], targets, mask),
        readout,
        starts[:256],
        history,
        {"members.png": _members_figure(rows, key)},
        conditions=conditions,
        meter=meter,
    )
    multitask_entry = _multitask(out, task, net, inputs, R, conditions, metrics, meter)
    (out / "members.md").write_text(_members_table(rows))
    means = {
        name: sum(row[name] for row in rows) / len(rows)
        for name in rows[0]
        if name not in ("member", "seed", "fixed_points", "stable", "saddles")
    }
    summary = _plain(
        {
            "task": task.config(),
            "network": _plain(dict(module.hparams.get("network", {}))),
            "ensemble": len(ens),
            "metrics": means,
            "members": rows,
            "best_member": best,
            "n_trials": int(inputs.shape[1]),
            "spectrum": {
                "member": best,
                "max_real": float(eigenvalues.real.max()),
                "spectral_radius": float(eigenvalues.abs().max()),
                "linear_stable": linear_stable,
            },
            "fixed_points": {
                "input": "zero",
                "member": best,
                "count": len(fps),
                "stable": int(fps.stable.sum()),
                "by_kind": dict(sorted(kinds.items())),
                "max_residual": float(fps.residuals.max()) if len(fps) else None,
            },
            **({"bifurcation": bifurcation_entry} if bifurcation_entry is not None else {}),
            **({"multitask": dict(multitask_entry, member=best)} if multitask_entry is not None else {}),
            **(extra or {}),
        }
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    meter.close("done")
    return summary


def _write_figures(
    out: Path,
    task: Task,
    net: _Net,
    R: Tensor,
    fps: FixedPoints,
    evaluated: tuple[dict[str, Tensor], Tensor, Tensor, Tensor],
    readout: object,
    starts: Tensor,
    history: list[dict[str, Any]] | None,
    extra: dict[str, Figure] | None = None,
    conditions: dict[str, Tensor] | None = None,
    meter: Progress | None = None,
) -> tuple[Tensor, bool, dict[str, Any] | None]:
    """Save one network's figures in ``out`` (learning curves, the task's own figure, spectrum,
    fixed points, and for decision tasks the bifurcation diagram along the evidence, followed from
    ``starts``); returns M's eigenvalues, their linear stability and the bifurcation entry."""
    metrics, outputs, targets, mask = evaluated
    stage = meter.stage if meter is not None else lambda name: None
    stage("spectrum")
    modes = _spectrum_of_M(net)
    stage("figures")
    figures = {
        "learning_curves.png": _learning_curves(history or []),
        "task_metric.png": task.draw(metrics, outputs, targets, mask),  # each task draws its own
        "spectrum.png": _spectrum_figure(modes),
        "fixed_points.png": _fixed_point_figure(R, fps, targets, mask, task, conditions),
        **(extra or {}),
    }
    bifurcation_entry = None
    evidence = getattr(task, "evidence_input", None)  # decision tasks: the input as a function of c
    if evidence is not None:
        stage("bifurcation")
        bif, bifurcation_entry = _bifurcation(net, evidence, starts, readout)
        figures["bifurcation.png"] = _bifurcation_figure(bif, readout)
    stage("writing")
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=120, bbox_inches="tight")
    return modes.eigenvalues, modes.stable, bifurcation_entry


def _members_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table, one row per member."""
    cols = list(rows[0])

    def fmt(v: object) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(row[c]) for c in cols) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _members_figure(rows: list[dict[str, Any]], key: str) -> Figure:
    """Across members: the headline metric, and the numbers of stable points and saddles."""
    fig, (ax_m, ax_f) = _subplots(1, 2, figsize=(10, 3.4))
    k = [row["member"] for row in rows]
    ax_m.bar(k, [row[key] for row in rows], color="tab:blue")
    ax_m.set(xlabel="member", ylabel=key, title=f"{key} of each member")
    lo = min(row[key] for row in rows)
    if "accuracy" in key:
        ax_m.set_ylim(max(0.0, lo - 0.05), 1.0)
    width = 0.4
    ax_f.bar([x - width / 2 for x in k], [row["stable"] for row in rows], width, label="stable", color="tab:blue")
    ax_f.bar([x + width / 2 for x in k], [row["saddles"] for row in rows], width, label="saddles", color="tab:orange")
    ax_f.set(xlabel="member", ylabel="fixed points at u = 0", title="stable points and saddles")
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_m, ax_f):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_f.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax_f.legend(fontsize=8)
    fig.tight_layout()
    return fig
