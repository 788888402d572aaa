r"""The LightningModule: a torchrate network, a linear readout and a task.

.. math::
    \tau \dot v = -v + F(W u + M v + b), \qquad y = W_{out} v + b_{out}

trained on ``task`` with the task's loss (masked MSE or masked cross-entropy), optional L2
penalties on rates and weights, Adam and gradient-norm clipping.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any, Literal, TypedDict, cast

import lightning as L
import torch
import torch.nn.functional as nnf
from torch import Tensor, nn
from torch.nn.utils import parametrize

from .. import _validate
from ..networks import Ensemble, RateRNN
from ..tasks import Task
from .constraints import constrain
from .seeding import derive_seed

if TYPE_CHECKING:
    from .data import Batch

__all__ = ["TaskModule", "masked_mse", "masked_cross_entropy", "instantiate", "as_task"]

#: ``network`` argument: ``{"class_path": "torchrate.RateRNN", "init_args": {...}}`` (no
#: ``input_size``: it comes from the task), or a callable ``input_size -> network``
NetworkSpec = Callable[[int], RateRNN]


class TorchNetworkSpec(TypedDict, total=False):
    """The network slot's YAML for a ``torch.nn`` RNN, GRU or LSTM, passed to the module as the
    dict it is: LightningCLI reads their signatures from ``RNNBase`` (no ``nonlinearity``; a
    ``proj_size`` that RNN and GRU refuse), so they are not parsed as callables."""

    class_path: Literal["torch.nn.RNN", "torch.nn.GRU", "torch.nn.LSTM"]
    init_args: dict[str, Any]


#: the torch.nn recurrent networks the network slot takes besides torchrate's (one layer, one direction)
_TORCH_RNNS = (nn.RNN, nn.GRU, nn.LSTM)
_NETWORKS = (RateRNN, *_TORCH_RNNS)


def _check_loss_args(name: str, outputs: Tensor, targets: Tensor, mask: Tensor) -> None:
    """Tensors, ``targets`` of the shape of ``outputs``, ``mask`` broadcasting to it (shapes only:
    no host sync, so the check also runs under ``vmap``)."""
    for n, t in ((name, outputs), ("targets", targets), ("mask", mask)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{n} must be a Tensor (T, B, O), got {_validate._show(t)}")
    shape = outputs.shape
    if targets.shape != shape:
        raise ValueError(f"targets must have the shape of {name} {tuple(shape)}, got {tuple(targets.shape)}")
    if mask.shape == shape:  # the tasks' case: torch.broadcast_shapes costs ~30 µs a call
        return
    try:
        ok = torch.broadcast_shapes(mask.shape, shape) == shape
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(
            f"mask must have the shape of {name} {tuple(shape)} (or broadcast to it), got {tuple(mask.shape)}"
        )


def masked_mse(outputs: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """Σ m (y − ŷ)² / Σ m over all (t, b, o)."""
    _check_loss_args("outputs", outputs, targets, mask)
    return (mask * (outputs - targets) ** 2).sum() / mask.sum()


def masked_cross_entropy(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    r"""Σ_tb w_tb · (−Σ_o y_tbo log softmax(z_tb)_o) / Σ_tb w_tb, with w_tb the mean of
    ``mask[t, b, :]`` (the tasks give every class the same mask) and ``targets`` class
    probabilities (one-hot) along the last dimension."""
    _check_loss_args("logits", logits, targets, mask)
    w = mask.mean(-1)
    ce = -(targets * nnf.log_softmax(logits, dim=-1)).sum(-1)
    return (w * ce).sum() / w.sum()


_LOSSES = {"mse": masked_mse, "cross_entropy": masked_cross_entropy}


def instantiate(spec: Mapping[str, Any], base: type | tuple[type, ...], *args: Any) -> Any:
    """Build ``class_path(*args, **init_args)`` from a ``{"class_path", "init_args"}`` dict,
    checking that the class is a ``base`` (one class or a tuple) — and, before anything is
    imported, that it is torchrate's, ``torch.nn``'s or registered with
    :func:`~torchrate.training.allow` (:mod:`~torchrate.training.allowlist`). ``TypeError``
    naming ``spec`` or ``base`` when either is not of that form."""
    cls = _spec_class(spec, base)
    return cls(*args, **dict(spec.get("init_args") or {}), **dict(spec.get("dict_kwargs") or {}))


def _spec_class(spec: object, base: type | tuple[type, ...]) -> type:
    """The class of a ``{"class_path", "init_args"}`` dict, the dict checked (see :func:`instantiate`)."""
    from .allowlist import resolve_class

    label = base.__name__ if isinstance(base, type) else "network"
    if not isinstance(spec, Mapping) or "class_path" not in spec:
        raise TypeError(f"expected a {{'class_path': ..., 'init_args': {{...}}}} dict for a {label}, got {spec!r}")
    extra = set(spec) - {"class_path", "init_args", "dict_kwargs"}
    if extra:
        raise TypeError(f"unknown keys {sorted(extra)} in the {label} spec; expected 'class_path' and 'init_args'")
    for key in ("init_args", "dict_kwargs"):
        if spec.get(key) is not None and not isinstance(spec[key], Mapping):
            raise TypeError(f"{key} of the {label} spec must be a dict of keyword arguments, got {spec[key]!r}")
    return resolve_class(spec["class_path"], base, f"the {label} spec")


def as_task(task: Task | Mapping[str, Any]) -> Task:
    """A :class:`~torchrate.tasks.Task` from itself or its ``config()`` dict."""
    task = instantiate(task, Task) if isinstance(task, Mapping) else task
    if not isinstance(task, Task):
        raise TypeError(f"task must be a torchrate.tasks.Task or its config dict, got {type(task).__name__}")
    return task


class TaskModule(L.LightningModule):
    r"""Train a torchrate network with a linear readout on a :class:`~torchrate.tasks.Task`.

    Parameters
    ----------
    task : Task or dict
        The task, or its :meth:`~torchrate.tasks.Task.config` dict.
    network : dict or callable
        ``{"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": 64, ...}}`` — any
        :class:`~torchrate.RateRNN` subclass (:class:`~torchrate.EIRateRNN` too); the
        ``input_size`` comes from the task and its ``dt`` must equal the task's. Or a
        ``torch.nn.RNN`` (tanh or relu), ``GRU`` or ``LSTM`` with one layer in one direction
        (``{"class_path": "torch.nn.GRU", "init_args": {"hidden_size": 64}}``): a discrete map
        ``h_t = F(h_{t−1}, u_t)`` taking one step per time bin of the task; the readout reads
        its hidden state h (an LSTM's h, not c) and the end-of-fit analysis finds the fixed
        points of that map (:func:`torchrate.systems.as_system`). ``batch_first`` is handled here.
        ``ensemble``, ``readout="excitatory"`` and :func:`~torchrate.training.export_weights`
        need a torchrate network; ``masks`` and ``fixed`` name the torch network's own
        parameters (``"network.weight_hh_l0"``, ``"network.bias_ih_l0"``, …). On the
        command line this is the YAML block ``model.network``. Given as a dict, it is stored
        as is in the checkpoint's hyper-parameters, which therefore load with
        ``torch.load(weights_only=True)``.
    lr, weight_decay : float
        Adam's learning rate and (L2) weight decay.
    rate_l2 : float
        Coefficient of the penalty ``mean(v²)`` on the rates.
    weight_l2 : float
        Coefficient of ``mean(M²) + mean(W²)``.
    grad_clip : float or None
        Clip the gradient's global 2-norm to this value (the Trainer's
        ``gradient_clip_val``, when set, takes precedence). In an ensemble each member's
        gradient is clipped by its own norm.
    ensemble : int, optional
        Train K networks at once (:class:`~torchrate.Ensemble`, one batched computation), each
        with its own readout, initialisation and noise seed ``network_seed + k``. The loss is the
        sum of the member losses, so each member's gradient (and Adam step) is its own: member k
        ends as the single network trained with ``network_seed + k`` would. Outputs and rates
        get a leading member dimension K; logged losses and metrics are member means; the seeds
        are stored in the checkpoint (buffer ``member_seeds``).
    network_seed : int, optional
        Seed of the initial weights (network and readout) and of the network's noise; ``None``:
        the single network is drawn from the global RNG (seeded by ``seed_everything``) and an
        ensemble's seeds start at ``torch.initial_seed()`` (``seed_everything``'s seed).
    readout : {"all", "excitatory"}
        ``"all"``: outputs read every unit. ``"excitatory"`` (an :class:`~torchrate.EIRateRNN`):
        Dale's law for the readout — outputs read the excitatory units only, with weights ≥ 0.
    masks : dict, optional
        Connectivity masks, ``{weight name: bool mask}``: masked-out entries are exactly 0
        always — e.g. ``{"network.weight_ih_l0": m_in (N, I), "readout.weight": m_out (O, N)}``.
    fixed : dict, optional
        Weights that do not train, ``{weight name: True or bool mask}``: those entries keep their
        initial value (e.g. ``{"network.weight_ih_l0": True}``: fixed input weights). Names and
        masks: :mod:`~torchrate.training.constraints`.

    Examples
    --------
    >>> import torch, torchrate as tr
    >>> module = TaskModule(tr.tasks.FlipFlop(n_bits=3, dt=10.0),
    ...                     {"class_path": "torchrate.RateRNN",
    ...                      "init_args": {"hidden_size": 64, "tau": 20.0, "dt": 10.0}})
    >>> outputs, rates = module(torch.zeros(50, 8, 3))
    >>> outputs.shape, rates.shape
    (torch.Size([50, 8, 3]), torch.Size([50, 8, 64]))
    """

    # the network is a RateRNN (or subclass), an Ensemble or a torch.nn.RNN/GRU/LSTM, told apart by
    # is_ensemble / is_torch_rnn (properties a type checker cannot follow): Any to it
    network: Any
    readout: nn.Linear | StackedLinear
    member_seeds: Tensor

    def __init__(
        self,
        task: Task,
        network: NetworkSpec | TorchNetworkSpec,
        *,
        lr: float = 1e-2,
        weight_decay: float = 0.0,
        rate_l2: float = 0.0,
        weight_l2: float = 0.0,
        grad_clip: float | None = 1.0,
        ensemble: int | None = None,
        network_seed: int | None = None,
        readout: str = "all",
        masks: dict[str, Any] | None = None,
        fixed: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.task = as_task(task)
        kind = getattr(self.task, "loss", None)
        # a task may bring its own loss (Multitask: each task's loss on its own trials and outputs), which
        # also receives the batch's conditions; the others are trained with the loss they name
        self._task_loss_fn = getattr(self.task, "compute_loss", None)
        if self._task_loss_fn is None and (not isinstance(kind, str) or kind not in _LOSSES):
            raise ValueError(
                f"task.loss must be one of {', '.join(map(repr, _LOSSES))} (the kind of the task's "
                "outputs: values scored by masked MSE, or logits over classes scored by masked "
                f"cross-entropy), got {_validate._show(kind)} from {type(self.task).__name__}"
            )
        task = self.task.config()  # type: ignore[assignment]  # save_hyperparameters reads the locals: plain
        self.save_hyperparameters()
        if not isinstance(network, Mapping) and not isinstance(self.hparams["network"], Mapping):
            raise TypeError(
                "network must be given as {'class_path': ..., 'init_args': {...}} so that checkpoints "
                f"hold plain types (loadable with weights_only=True); got {type(network).__name__}"
            )
        if ensemble is not None:
            _validate.as_int("ensemble", ensemble, minimum=1)
        # not "seed": Lightning refuses a hyper-parameter that the data module also has with another value
        seed = network_seed
        if seed is not None:
            seed = _validate.as_int("network_seed", seed, minimum=0)
            if seed > 2**63 - (ensemble or 1):  # the members' seeds network_seed + k are int64 (buffer member_seeds)
                raise ValueError(
                    f"network_seed must be an integer in [0, 2**63 - {ensemble or 1}] (the members' seeds "
                    f"network_seed + k are 64-bit signed integers), got {seed}"
                )
        # an unseeded process's initial seed is any 64-bit number: folded so that base + k fits the
        # int64 buffer member_seeds (a seed_everything seed, < 2³², is unchanged)
        unseeded = torch.initial_seed() % (2**63 - (ensemble or 1))
        if ensemble is not None:
            base = unseeded if seed is None else seed
            seeds = [base + k for k in range(ensemble)]
        else:
            seeds = [] if seed is None else [seed]
        generators: list[torch.Generator | None] = [torch.Generator().manual_seed(s) for s in seeds] or [None]
        nets = [self._build_network(network, g) for g in generators]
        if ensemble is not None and isinstance(nets[0], _TORCH_RNNS):
            raise ValueError(
                f"ensemble={ensemble} needs a torchrate network (torchrate.Ensemble batches RateRNNs), got a "
                f"{_class_path(nets[0])}; train the members one at a time (network_seed s, s + 1, …)"
            )
        self.network = nets[0] if ensemble is None else Ensemble(cast("list[RateRNN]", nets))  # checked above
        self.register_buffer("member_seeds", torch.tensor(seeds, dtype=torch.long))
        if not self.is_torch_rnn and self.network.dt != self.task.dt:
            raise ValueError(
                f"the network's dt ({self.network.dt:g} ms) must equal the task's dt ({self.task.dt:g} ms): "
                f"set network init_args dt: {self.task.dt:g}"
            )
        for name, value in (("lr", lr), ("weight_decay", weight_decay), ("rate_l2", rate_l2), ("weight_l2", weight_l2)):
            _validate.check_nonnegative(name, value)
        if grad_clip is not None:
            _validate.check_positive("grad_clip", grad_clip, fix="a gradient norm, or None for no clipping")
        ref = next(nets[0].parameters())  # the network's dtype and device
        if ensemble is None:
            self.readout = nn.Linear(nets[0].hidden_size, self.task.output_size, dtype=ref.dtype, device=ref.device)
            if seed is not None:
                _seeded_linear_init(self.readout.weight, self.readout.bias, generators[0])
        else:
            self.readout = StackedLinear(
                ensemble, nets[0].hidden_size, self.task.output_size, generators, dtype=ref.dtype, device=ref.device
            )
        constrain(self, readout, masks, fixed)  # readout Dale's law, masks, fixed weights (parametrizations)
        self.loss_fn = _LOSSES.get(kind) if isinstance(kind, str) else None  # None: the task's compute_loss

    def _build_network(
        self, network: Mapping[str, Any] | Callable[..., nn.Module], generator: torch.Generator | None
    ) -> RateRNN | nn.RNNBase:
        """One network from the spec (dict) or LightningCLI's callable, with ``generator`` for its
        initial weights (None: the network's default, the global RNG)."""
        # LightningCLI: a callable built from the YAML, whose config (a dict) the hparams hold
        spec = network if isinstance(network, Mapping) else self.hparams["network"]
        torch_rnn = issubclass(_spec_class(spec, _NETWORKS), _TORCH_RNNS)
        extra = {} if generator is None or torch_rnn else {"generator": generator}
        if isinstance(network, Mapping):
            init_args = network.get("init_args") or {}
            if not isinstance(init_args, Mapping):
                raise TypeError(f"init_args of the network spec must be a dict of keyword arguments, got {init_args!r}")
            net = instantiate({**network, "init_args": {**init_args, **extra}}, _NETWORKS, self.task.input_size)
        else:
            net = network(self.task.input_size, **extra)
        if not isinstance(net, _NETWORKS):
            raise TypeError(
                "network must build a torchrate.RateRNN (or subclass) or a torch.nn.RNN, GRU or LSTM, got "
                f"{type(net).__name__}"
            )
        if torch_rnn:
            _check_torch_rnn(net)
            if generator is not None:
                _seeded_uniform_(list(net.parameters()), 1 / net.hidden_size**0.5, generator)  # torch's init
        return net

    @property
    def is_ensemble(self) -> bool:
        """Whether the network is an :class:`~torchrate.Ensemble` (``ensemble=K``)."""
        return isinstance(self.network, Ensemble)

    @property
    def is_torch_rnn(self) -> bool:
        """Whether the network is a ``torch.nn.RNN``, ``GRU`` or ``LSTM`` (not a torchrate network)."""
        return isinstance(self.network, _TORCH_RNNS)

    # ------------------------------------------------------------------ Lightning's per-step cost
    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning sets _current_fx_name twice around every hook it calls (~40 times a training
        # step); nn.Module.__setattr__ looks the name up in the parameter, buffer and module
        # tables first (~1 µs each). A string is none of those: store it directly.
        if name == "_current_fx_name" and (value is None or isinstance(value, str)):
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    # ------------------------------------------------------------------ model
    def forward(self, inputs: Tensor, hx: Tensor | tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """``inputs`` (T, B, I), initial rates ``hx`` (1, B, N) → ``(outputs (T, B, O), rates (T, B, N))``.

        For a ``torch.nn`` network the rates are its hidden state h; an LSTM's ``hx`` is ``(h_0, c_0)``.
        A network built with ``batch_first=True`` is run batch first; inputs and outputs stay (T, B, ·)."""
        if getattr(self.network, "batch_first", False):
            rates, _ = self.network(inputs.transpose(0, 1), hx)
            rates = rates.transpose(0, 1)
        else:
            rates, _ = self.network(inputs, hx)
        return self.readout(rates), rates

    def loss(
        self,
        outputs: Tensor,
        rates: Tensor,
        targets: Tensor,
        mask: Tensor,
        conditions: Mapping[str, Tensor] | None = None,
    ) -> tuple[Tensor, Tensor]:
        """``(total, task_loss)``: the task loss plus the L2 penalties (an ensemble: the sum of the
        member totals, and the member mean of the task losses). ``conditions`` (the batch's) are
        what a task with its own ``compute_loss`` (:class:`~torchrate.tasks.Multitask`) needs."""
        if self.is_ensemble:
            return self._ensemble_loss(outputs, rates, targets, mask, conditions)
        task_loss = self._task_loss(outputs, targets, mask, conditions)
        total = task_loss
        if self.hparams["rate_l2"]:
            total = total + self.hparams["rate_l2"] * rates.pow(2).mean()
        if self.hparams["weight_l2"]:
            net = self.network
            M, W = (net.weight_hh_l0, net.weight_ih_l0) if self.is_torch_rnn else (net.M, net.W)
            total = total + self.hparams["weight_l2"] * (M.pow(2).mean() + W.pow(2).mean())
        return total, task_loss

    def _task_loss(
        self, outputs: Tensor, targets: Tensor, mask: Tensor, conditions: Mapping[str, Tensor] | None
    ) -> Tensor:
        if self._task_loss_fn is not None:
            return self._task_loss_fn(outputs, targets, mask, conditions)
        if self.loss_fn is None:  # pragma: no cover - __init__ refuses a task with neither
            raise TypeError(f"{type(self.task).__name__} has neither a known loss nor compute_loss")
        return self.loss_fn(outputs, targets, mask)

    def _ensemble_loss(
        self,
        outputs: Tensor,
        rates: Tensor,
        targets: Tensor,
        mask: Tensor,
        conditions: Mapping[str, Tensor] | None = None,
    ) -> tuple[Tensor, Tensor]:
        task_losses = self._member_task_losses(outputs, targets, mask, conditions)
        total = task_losses
        if self.hparams["rate_l2"]:
            total = total + self.hparams["rate_l2"] * rates.pow(2).mean((1, 2, 3))
        if self.hparams["weight_l2"]:
            w = self.network.effective_weights()
            W = w.get("W")
            penalty = w["M"].pow(2).mean((1, 2)) + (W.pow(2).mean((1, 2)) if W is not None else 0.0)
            total = total + self.hparams["weight_l2"] * penalty
        return total.sum(), task_losses.mean()

    def _member_task_losses(
        self, outputs: Tensor, targets: Tensor, mask: Tensor, conditions: Mapping[str, Tensor] | None
    ) -> Tensor:
        """Each member's task loss (K,), of an ensemble's outputs (K, T, B, O)."""
        from torch.func import vmap

        return vmap(lambda o: self._task_loss(o, targets, mask, conditions))(outputs)

    # ------------------------------------------------------------------ steps
    def training_step(self, batch: Batch, batch_idx: int) -> dict[str, Tensor]:
        inputs, targets, mask, conditions = batch
        outputs, rates = self(inputs)
        total, task_loss = self.loss(outputs, rates, targets, mask, conditions)
        every = self.trainer.log_every_n_steps  # type: ignore[attr-defined]  # set by Lightning, not declared
        if (self.global_step + 1) % every == 0:
            # only on the steps the loggers write: each self.log costs ~1 ms of Python, as much
            # as a forward pass of a small network (AnalysisCallback keeps the epoch means)
            self.log("train/loss", task_loss, prog_bar=True, batch_size=inputs.shape[1])
        return {"loss": total, "task_loss": task_loss.detach()}

    # validation and test: the outputs of every batch are kept, and the task loss and metrics logged
    # once, of the whole set (a ratio such as the accuracy over trials with coherence ≠ 0 is not the
    # mean of the batches' ratios, and a batch with no trial to count would give 0/0)
    def _evaluate(self, batch: Batch) -> None:
        inputs, targets, mask, conditions = batch
        outputs, _ = self(inputs)
        self.__dict__.setdefault("_evaluated", []).append((outputs.detach(), targets, mask, conditions))

    def _log_evaluation(self, stage: str) -> None:
        parts: list[Batch] = self.__dict__.pop("_evaluated", None) or []
        if not parts:
            return
        outputs, targets, mask, conditions = _joined(parts)
        if self.is_ensemble:  # member means of the task loss and of the task's metrics
            task_loss = self._member_task_losses(outputs, targets, mask, conditions).mean()
            each = [self.task.evaluate(o, targets, mask, conditions) for o in outputs]
            metrics = {k: torch.stack([m[k] for m in each]).mean(0) for k in each[0] if each[0][k].ndim == 0}
        else:
            task_loss = self._task_loss(outputs, targets, mask, conditions)
            metrics = self.task.evaluate(outputs, targets, mask, conditions)
        scalars = {f"{stage}/{k}": v for k, v in metrics.items() if v.ndim == 0}
        self.log(f"{stage}/loss", task_loss, prog_bar=True, sync_dist=True)  # several ranks: their mean
        self.log_dict(scalars, prog_bar=stage == "val", sync_dist=True)

    def on_validation_epoch_start(self) -> None:
        self.__dict__.pop("_evaluated", None)  # nothing left from an interrupted run

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluate(batch)

    def on_validation_epoch_end(self) -> None:
        self._log_evaluation("val")

    def on_test_epoch_start(self) -> None:
        self.__dict__.pop("_evaluated", None)

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluate(batch)

    def on_test_epoch_end(self) -> None:
        self._log_evaluation("test")

    def predict_step(self, batch: Batch | Tensor, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        """A batch of trials ``(inputs, targets, mask, conditions)`` — or inputs (T, B, I) alone —
        and what the network makes of it: ``{"inputs", "targets", "mask", "conditions", "outputs",
        "rates"}``, written to a file by :class:`~torchrate.training.PredictionWriter`
        (``torchrate predict``). The network's noise comes from a generator seeded from
        ``(seed, rank, "predict", batch_idx)``, as validation's: the same predictions every run."""
        if isinstance(batch, Tensor):
            inputs, trials = batch, {}
        else:
            inputs, targets, mask, conditions = batch
            trials = {"targets": targets, "mask": mask, "conditions": conditions}
        outputs, rates = self(inputs)
        return {"inputs": inputs, **trials, "outputs": outputs, "rates": rates}

    # ------------------------------------------------------------------ reproducibility
    def _set_noise_seed(self) -> None:
        """The root of the network's noise seeds: seed_everything's (``torch.initial_seed()``),
        unless the module has its own ``network_seed``; set as fit, validate, test or predict starts."""
        seed = self.hparams.get("network_seed")
        self._noise_seed = torch.initial_seed() if seed is None else seed

    def _fitting(self) -> bool:
        return self._trainer is not None and self._trainer.state.fn == "fit"

    def on_fit_start(self) -> None:
        self._set_noise_seed()
        # after a checkpoint's restore: an ensemble's member seeds, read once for the per-step re-seeding
        self._member_seed_list: list[int] | None = self.member_seeds.tolist()

    def on_fit_end(self) -> None:
        self._member_seed_list = None  # later validate/test runs read the buffer as it is then

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # the network's noise and dropout come from a generator of this module's, re-seeded per
        # batch from (seed, rank, step[, the batch's place in a step of accumulated gradients]): a
        # resumed run draws what an uninterrupted one would, each accumulated batch its own noise
        # (the step alone gave them all the same), and the global RNG is never touched
        micro = batch_idx % self.trainer.accumulate_grad_batches
        self._reseed("train", self.global_step, *((micro,) if micro else ()))

    def on_validation_start(self) -> None:
        if not self._fitting():  # a fit's validation uses the fit's seed; validate on its own sets it
            self._set_noise_seed()

    def on_validation_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._reseed("val", batch_idx)

    def on_test_start(self) -> None:
        self._set_noise_seed()

    def on_test_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._reseed("test", batch_idx)

    def on_predict_start(self) -> None:
        self._set_noise_seed()

    def on_predict_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._reseed("predict", batch_idx)

    def _reseed(self, *keys: int | str) -> None:
        net = self.network
        if self.is_torch_rnn:  # no private noise; one layer has no dropout
            return
        if self.is_ensemble:  # member k: the stream a single network with seed_k would draw
            if net.noise_std > 0:
                device = self.member_seeds.device
                # the seeds as read at fit start (no device-to-host read per step on a GPU)
                seeds = self.__dict__.get("_member_seed_list") or self.member_seeds.tolist()
                net.generators = [
                    torch.Generator(device).manual_seed(derive_seed(s, self.global_rank, *keys)) for s in seeds
                ]
            return
        if net.noise_std > 0 or getattr(net, "dropout", 0) > 0:
            device = self.member_seeds.device  # a buffer: on the module's (and the network's) device
            generator = self.__dict__.get("_generator")
            if generator is None or generator.device != device:
                generator = self._generator = torch.Generator(device)
            generator.manual_seed(derive_seed(getattr(self, "_noise_seed", 0), self.global_rank, *keys))
            if net.generator is not generator:
                net.generator = generator

    def configure_optimizers(self) -> torch.optim.Adam:
        return torch.optim.Adam(self.parameters(), lr=self.hparams["lr"], weight_decay=self.hparams["weight_decay"])

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        if gradient_clip_val is None and self.hparams["grad_clip"]:
            gradient_clip_val, gradient_clip_algorithm = self.hparams["grad_clip"], "norm"
        if self.is_ensemble and gradient_clip_val and gradient_clip_algorithm in (None, "norm"):
            clip_members_(self.parameters(), len(self.network), gradient_clip_val)
            return
        self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # what ``torchrate analyze`` checks before rebuilding the model
        checkpoint["torchrate"] = {"module": f"{type(self).__module__}.{type(self).__qualname__}"}
        if self.member_seeds.numel():  # also in the state dict (buffer member_seeds)
            checkpoint["torchrate"]["member_seeds"] = self.member_seeds.tolist()

    # ------------------------------------------------------------------ checkpoints
    def setup(self, stage: str) -> None:
        # Lightning restores ``ckpt_path`` after setup: from here on every Trainer of a TaskModule,
        # a bare L.Trainer() too, loads it CRC-verified with weights_only=True (SafeCheckpointIO)
        from .checkpoints import install_safe_checkpoint_io

        if self._trainer is not None:
            install_safe_checkpoint_io(self._trainer)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # the dict arrives already loaded (through SafeCheckpointIO when a Trainer of this module
        # restores it): refuse class paths outside the allow-list before comparing them (which
        # may import), then a model that differs from this module's (built from the config) — a
        # network, task, members, readout, masks or fixed weights of its own; the checkpoint's
        # mask buffers would silently replace the config's — naming the keys. On a resumed fit the
        # optimiser's too: Adam's saved state would override a new lr / weight_decay
        from .allowlist import check_class_paths
        from .checkpoints import _hparams_disagreement

        saved = checkpoint.get("hyper_parameters") or {}
        check_class_paths(saved, "the checkpoint's hyper-parameters")
        diff = _hparams_disagreement(saved, dict(self.hparams), fit=self._fitting())
        if diff:
            raise ValueError(
                "the checkpoint's hyper-parameters disagree with the configuration: "
                + "; ".join(diff)
                + ". Use the checkpoint's values in the config, or start a new run (no --ckpt_path)"
            )

    @classmethod
    def load_from_checkpoint(
        cls,
        checkpoint_path: str | os.PathLike[str] | IO[bytes],
        map_location: Any = None,
        hparams_file: str | os.PathLike[str] | None = None,
        strict: bool | None = None,
        weights_only: bool | None = None,
        **kwargs: Any,
    ) -> TaskModule:
        """The module saved in ``checkpoint_path`` (any checkpoint ``torchrate fit`` or a Trainer of
        this module wrote), rebuilt from its plain hyper-parameters, with its weights.

        Lightning's signature, through torchrate's loader
        (:func:`~torchrate.training.checkpoints.load_checkpoint_file`): the archive's CRCs are
        verified and it loads with ``weights_only=True`` always — ``weights_only=False`` is ignored
        with a warning, as is ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` — and the class paths in its
        hyper-parameters must be allowed (:func:`~torchrate.training.allow`) before anything is
        imported. ``kwargs`` override hyper-parameters: the task and the training settings (e.g.
        ``lr=1e-3``), not what the weights define (network, ensemble, network_seed, readout, masks,
        fixed: refused where they differ from the checkpoint's, whose state dict would overwrite
        them); ``hparams_file`` (YAML, read with ``yaml.safe_load``) replaces them.

        Raises
        ------
        CheckpointError
            A corrupted file, one that would unpickle objects, or one naming a class outside the
            allow-list (all ``ValueError``).
        ValueError
            Not a checkpoint of ``cls``, (``strict``) weights that do not fit the network, or an
            override of what the weights define.
        """
        import warnings

        if weights_only is False:
            warnings.warn(
                "weights_only=False is ignored: torchrate checkpoints hold only tensors and plain "
                "values and always load with weights_only=True",
                UserWarning,
                stacklevel=2,
            )
        if map_location is None:
            from lightning.pytorch.core.saving import _default_map_location as map_location
        module, _ = cls._from_checkpoint(
            checkpoint_path, map_location, hparams_file=hparams_file, strict=strict, overrides=kwargs
        )
        return module

    @classmethod
    def _from_checkpoint(
        cls,
        path: str | os.PathLike[str] | IO[bytes],
        map_location: Any = "cpu",
        *,
        hparams_file: str | os.PathLike[str] | None = None,
        strict: bool | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> tuple[TaskModule, dict[str, Any]]:
        """``(module, checkpoint)``: the one rebuild behind :meth:`load_from_checkpoint` and
        :func:`~torchrate.training.load_checkpoint`."""
        from .allowlist import DisallowedClassError, check_class_paths
        from .checkpoints import CheckpointError, load_checkpoint_file

        ckpt = load_checkpoint_file(path, map_location=map_location)
        name = path if isinstance(path, (str, bytes)) or hasattr(path, "__fspath__") else getattr(path, "name", path)
        expected = f"{cls.__module__}.{cls.__qualname__}"
        written_by = (ckpt.get("torchrate") or {}).get("module")
        if written_by is None:
            keys = sorted(ckpt.get("hyper_parameters", {}) or {})
            raise ValueError(
                f"{name} was not written by {expected} (`torchrate fit`): it has no 'torchrate' entry "
                f"(hyper-parameters: {keys}); `torchrate analyze` reads checkpoints of torchrate TaskModules"
            )
        if written_by != expected:
            raise ValueError(f"{name} holds a {written_by}, not a {expected}")
        hparams = dict(ckpt.get("hyper_parameters") or {})
        if hparams_file is not None:
            import yaml

            with open(hparams_file) as f:
                hparams = dict(yaml.safe_load(f) or {})
        hparams = {k: v for k, v in hparams.items() if not str(k).startswith("_")}
        _check_overrides(hparams, dict(overrides or {}), name)
        hparams |= dict(overrides or {})
        ckpt["hyper_parameters"] = hparams  # what on_load_checkpoint compares with the rebuilt module
        try:
            check_class_paths(hparams, f"checkpoint {str(name)!r}")  # before anything is imported
        except DisallowedClassError as err:
            raise CheckpointError(str(err)) from None
        with torch.random.fork_rng(devices=[]):  # the initial weights are overwritten: leave the RNG as it was
            module = cls(**hparams)
        module.on_load_checkpoint(ckpt)
        state_dict = ckpt["state_dict"]
        strict = module.strict_loading if strict is None else strict
        missing, unexpected = _state_mismatch(module, state_dict)
        if strict and (missing or unexpected):
            network = hparams["network"].get("class_path") if isinstance(hparams.get("network"), Mapping) else None
            raise ValueError(
                f"the weights in {name} do not fit {network} rebuilt from its hyper-parameters "
                f"(a checkpoint of a different model class?): missing {missing}, unexpected {unexpected}"
            )
        module.load_state_dict(state_dict, strict=strict)
        device = next((t.device for t in state_dict.values() if isinstance(t, Tensor)), None)
        return (module.to(device) if device is not None else module), ckpt


def _side_by_side(tensors: Sequence[Tensor], fill: float = 0.0) -> Tensor:
    """Batches (…, T, B, ·) as one, trials side by side along B; a shorter batch is padded at the end
    of its T with ``fill``."""
    steps = max(x.shape[-3] for x in tensors)
    return torch.cat(
        [
            x
            if x.shape[-3] == steps
            else torch.cat([x, x.new_full((*x.shape[:-3], steps - x.shape[-3], *x.shape[-2:]), fill)], -3)
            for x in tensors
        ],
        -2,
    )


def _conditions_side_by_side(conditions: Sequence[Mapping[str, Tensor]], sizes: Sequence[int]) -> dict[str, Tensor]:
    """Batches' conditions (B_i, …) as one dict along B, with every key any batch has: a batch
    without one (a Multitask's ``<task>/<key>`` where that task drew no trial) gives zeros for its
    ``sizes[i]`` trials, as the Multitask gives its other tasks' trials in a batch that has it."""
    keys = list(dict.fromkeys(k for c in conditions for k in c))
    out = {}
    for k in keys:
        like = next(c[k] for c in conditions if k in c)
        out[k] = torch.cat(
            [c[k] if k in c else like.new_zeros((n, *like.shape[1:])) for c, n in zip(conditions, sizes)]
        )
    return out


def _joined(parts: Sequence[Batch]) -> Batch:
    """Batches ``(outputs, targets, mask, conditions)`` as one, trials side by side: outputs (…, T, B,
    O) (an ensemble's (K, T, B, O)), targets and masks (T, B, O), conditions (B, …) each. Batches of
    other lengths are padded with zeros at their end: steps with mask 0, scored nowhere, as a batch
    pads its own shorter trials."""
    outputs, targets, mask = (_side_by_side(list(each)) for each in zip(*(p[:3] for p in parts)))
    return outputs, targets, mask, _conditions_side_by_side([p[3] for p in parts], [p[1].shape[-2] for p in parts])


def _check_overrides(saved: Mapping[str, Any], overrides: Mapping[str, Any], name: object) -> None:
    """Refuse ``load_from_checkpoint`` overrides of what the checkpoint's weights define (the
    network, members, readout, masks, fixed weights: their tensors and buffers are in the state
    dict, which would overwrite them, or not fit): a module whose hyper-parameters name one model
    but whose state is another's. The task and the training settings (``lr``, …) may be overridden."""
    from .checkpoints import _MODEL_HPARAMS, hparams_differences

    changed = hparams_differences(saved, overrides, tuple(k for k in _MODEL_HPARAMS if k != "task"))
    if changed:
        raise ValueError(
            f"load_from_checkpoint({str(name)!r}, ...) overrides what its weights define: "
            + "; ".join(changed)
            + ". The checkpoint's state dict would replace or not fit them; override only the task or the "
            "training settings (lr, weight_decay, rate_l2, weight_l2, grad_clip), or build a TaskModule with "
            "these arguments and load the weights you want into it"
        )


def _state_mismatch(module: nn.Module, state_dict: Mapping[str, Tensor]) -> tuple[list[str], list[str]]:
    own = module.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = [k for k in set(own) & set(state_dict) if own[k].shape != state_dict[k].shape]
    return missing + [f"{k} (shape)" for k in sorted(shapes)], unexpected


# ---------------------------------------------------------------------- ensembles
def _seeded_linear_init(weight: Tensor, bias: Tensor | None, generator: torch.Generator | None) -> None:
    """``nn.Linear``'s default initialisation, U(−1/√fan_in, 1/√fan_in), drawn from ``generator``
    (CPU, float64, then cast): the same weights on every device and dtype."""
    _seeded_uniform_([t for t in (weight, bias) if t is not None], 1 / weight.shape[-1] ** 0.5, generator)


def _seeded_uniform_(tensors: list[Tensor], bound: float, generator: torch.Generator | None) -> None:
    """Fill each tensor with U(−bound, bound) drawn from ``generator`` (CPU, float64, then cast)."""
    with torch.no_grad():
        for t in tensors:
            t.copy_(torch.rand(t.shape, generator=generator, dtype=torch.float64) * (2 * bound) - bound)


# ---------------------------------------------------------------------- torch.nn networks
def _class_path(net: nn.Module) -> str:
    """``torch.nn.GRU`` for torch's modules (where configs name them), else ``module.QualName``."""
    cls = parametrize.type_before_parametrizations(net)
    return f"torch.nn.{cls.__name__}" if isinstance(net, _TORCH_RNNS) else f"{cls.__module__}.{cls.__qualname__}"


def _check_torch_rnn(net: nn.Module) -> None:
    """A ``torch.nn`` RNN/GRU/LSTM for a TaskModule: one layer, one direction, no projection (the
    end-of-fit analysis is of one layer's map ``h_t = F(h_{t−1}, u_t)``)."""
    fixes = (
        ("num_layers", net.num_layers, net.num_layers != 1, "num_layers: 1"),
        ("bidirectional", net.bidirectional, net.bidirectional, "bidirectional: false"),
        ("proj_size", getattr(net, "proj_size", 0), getattr(net, "proj_size", 0) != 0, "proj_size: 0"),
    )
    for option, value, refused, fix in fixes:
        if refused:
            raise ValueError(
                f"network {_class_path(net)} with {option}={value!r}: a TaskModule trains one recurrent layer "
                f"in one direction without projection (its analysis is the map of one layer, h_t = F(h_t-1, u_t)); "
                f"set init_args {fix}"
            )


class StackedLinear(nn.Module):
    """K linear readouts at once: ``y_k = W_k v_k + b_k``, weight (K, O, N), bias (K, O).

    Member k is initialised as ``nn.Linear(N, O)`` with :func:`_seeded_linear_init` from
    ``generators[k]``; ``self[k]`` is member k as an ``nn.Linear`` (a copy).
    """

    def __init__(
        self,
        K: int,
        in_features: int,
        out_features: int,
        generators: Sequence[torch.Generator | None],
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(K, out_features, in_features, dtype=dtype, device=device))
        self.bias = nn.Parameter(torch.empty(K, out_features, dtype=dtype, device=device))
        for k, g in enumerate(generators):
            _seeded_linear_init(self.weight[k], self.bias[k], g)

    def forward(self, rates: Tensor) -> Tensor:
        """rates (K, T, B, N) → outputs (K, T, B, O)."""
        K, *lead, N = rates.shape
        out = torch.baddbmm(self.bias.unsqueeze(1), rates.reshape(K, -1, N), self.weight.transpose(1, 2))
        return out.reshape(K, *lead, -1)

    def __getitem__(self, k: int) -> nn.Linear:
        lin = nn.Linear(self.weight.shape[2], self.weight.shape[1], dtype=self.weight.dtype, device=self.weight.device)
        with torch.no_grad():
            lin.weight.copy_(self.weight[k])
            lin.bias.copy_(self.bias[k])
        return lin


def clip_members_(parameters: Iterable[Tensor], K: int, max_norm: float) -> Tensor:
    r"""Clip each member's gradient by its own 2-norm, as ``clip_grad_norm_`` would clip it alone.

    Every parameter's leading dimension is the member (K, …). Member k's norm is over its slices
    of all gradients; they are scaled by ``min(1, max_norm / (norm_k + 1e-6))``. Returns the K norms.
    """
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(K)
    norms = torch.stack([g.reshape(K, -1).square().sum(1) for g in grads]).sum(0).sqrt()
    coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.reshape(K, *[1] * (g.ndim - 1)))
    return norms
