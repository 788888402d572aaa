r"""Firing-rate recurrent networks as ``nn.Module``: :class:`RateRNN` and :class:`EIRateRNN`.

.. math::
    \tau \frac{dv}{dt} = -v + F(W u + M v + b)

The state is the vector of firing rates ``v``, ``F`` sits inside. Models that put ``F`` on
the state (PsychRNN, pycog: ``τ dx/dt = −x + M F(x) + W u + b``, rates ``r = F(x)``) are the
same network in another coordinate: with invertible ``M``, ``x = M v + W u + b`` maps one
onto the other for constant input, and both have the same fixed points ``v* = F(x*)``.

With ``τ = dt`` the Euler step is ``v_{t+1} = F(W u_t + M v_t + b)``: exactly the Elman
network of ``torch.nn.RNN`` (:meth:`RateRNN.from_rnn` converts one, every layer and direction).
"""

from __future__ import annotations

import copy
import math
import numbers
import warnings
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NoReturn, SupportsIndex, TypedDict

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from . import _validate, dynamics, solvers
from ._private import transforms_active
from ._rollout import euler_rollout, euler_rollout_input
from .nonlinearities import NONLINEARITIES, Nonlinearity
from .nonlinearities import nonlinearity as as_nonlinearity
from .parametrizations import DaleSign, Mask, PerGroup, Positive, check_positive
from .solvers import _ode_rollout

if TYPE_CHECKING:
    from .systems import System

__all__ = ["RateRNN", "EIRateRNN", "LowRankRateRNN", "Ensemble", "NonFiniteRatesError"]


class _Factory(TypedDict):
    """Where a network's tensors are made (``torch.zeros(..., **factory)``)."""

    device: torch.device | None
    dtype: torch.dtype


class NonFiniteRatesError(FloatingPointError):
    """Rates became NaN or infinite during a rollout."""


def _weights(name: str, value: object, shape: tuple[int | str, ...], like: Tensor | None = None) -> Tensor:
    """``value`` as a finite real floating tensor of ``shape`` (a str: any size), in ``like``'s dtype/device."""
    t = _validate.as_real_tensor(
        name, value, dtype=None if like is None else like.dtype, device=None if like is None else like.device
    )
    return _validate.check_finite_tensor(name, _validate.check_shape(name, t, shape))


def _check_generator(generator: torch.Generator | None) -> torch.Generator | None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None (the global RNG), got "
            f"{type(generator).__name__}; e.g. torch.Generator().manual_seed(0)"
        )
    return generator


def _init_generator() -> torch.Generator:
    """The throwaway stream that draws a hand-built network's placeholder weights before its given
    weights replace them: the global RNG is not advanced by building one."""
    return torch.Generator().manual_seed(0)


def _spectral_radius_init(M: Tensor, gain: float | None) -> Tensor:
    """``M`` rescaled so that its spectral radius is exactly ``gain`` (unchanged for ``None`` or radius 0)."""
    if gain is None:
        return M
    radius = torch.linalg.eigvals(M).abs().max()
    return M * (gain / radius) if radius > 0 else M


def _check_elementwise(
    F: Nonlinearity, N: int, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None
) -> None:
    """Refuse a callable ``F`` that is not elementwise: it must map a (2, N) probe to a (2, N) result,
    and changing one entry must change no other (F acts on each neuron's drive alone).

    The probe is deterministic and runs with the global RNG state restored afterwards."""
    probe = torch.linspace(-2.0, 2.0, 2 * N, dtype=torch.float64).reshape(2, N).to(device=device, dtype=dtype)
    fix = (
        "F must be elementwise (each rate depends on its own neuron's drive only): a function Tensor → Tensor "
        "of the same shape, such as torch.tanh or lambda x: torch.relu(x) ** 2"
    )
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        try:
            y = F(probe)
        except Exception as err:  # noqa: BLE001 - any failure of a user's callable, named
            raise ValueError(
                f"nonlinearity {F.name!r} failed on a probe of shape (2, {N}) ({type(err).__name__}: {err}); {fix}"
            ) from None
        if not isinstance(y, Tensor) or tuple(y.shape) != (2, N):
            got = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
            raise ValueError(
                f"nonlinearity {F.name!r} must map a tensor of shape (B, N) to the same shape, "
                f"got (2, {N}) → {got}; {fix}"
            )
        for i, j in ((0, 0), (1, N - 1)):  # one entry of each row, the first and the last neuron
            moved = probe.clone()
            moved[i, j] += 0.5
            out = F(moved)
            changed = (out != y) & ~(out.isnan() & y.isnan())
            changed[i, j] = False
            if bool(changed.any()):
                a, b = (int(k) for k in changed.nonzero()[0])
                raise ValueError(
                    f"nonlinearity {F.name!r} must be elementwise: changing its input at [{i}, {j}] "
                    f"changed its output at [{a}, {b}]; {fix}"
                )


# --------------------------------------------------------------------------- RateRNN


def _check_noise_solver(noise_std: float, solver: str) -> None:
    """Private noise is an Euler–Maruyama term: an ODE solver would integrate without it."""
    if noise_std > 0 and solver != "euler":
        raise ValueError(
            f"noise_std={noise_std} needs solver='euler' (Euler–Maruyama); the ODE solver {solver!r} "
            "integrates deterministic dynamics. Set noise_std=0 or solver='euler'"
        )


class RateRNN(nn.Module):
    r"""Firing-rate RNN, τ dv/dt = −v + F(W u + M v + b), as an Euler cell or an ODE.

    .. math::
        v_{t+1} = v_t + \frac{dt}{\tau}\left(-v_t + F(W u_t + M v_t + b)\right)
        \;[+\; \sigma\sqrt{2\,dt/\tau}\;\xi_t]

    with ``solver="euler"``; with a ``torchdiffeq`` method the ODE is solved with ``u_t``
    held constant on ``[t·dt, (t+1)·dt)``. Time is in ms. The signature is ``torch.nn.RNN``'s,
    plus the rate-model arguments after ``*``; the defaults (τ = 10, dt = 1) make a *leaky*
    network, not the Elman update: a model written for ``nn.RNN`` keeps its behaviour with
    :meth:`elman` (τ = dt = 1, ``nn.RNN``'s initial weights) as its constructor. Layers are
    stacked rate networks (layer ``k > 0`` is driven by the rates of layer ``k − 1``);
    ``bidirectional`` adds a network running backwards in time. With ``τ = dt`` it is exactly
    ``nn.RNN`` (see :meth:`elman`, :meth:`from_rnn`). Called as ``nn.RNN``:
    ``output, h_n = net(input, hx=None)`` (:meth:`forward`).

    Parameters
    ----------
    input_size : int
        I, features of ``u``.
    hidden_size : int
        N, neurons per layer and direction.
    num_layers : int
        L, stacked rate networks.
    nonlinearity : str or callable
        ``"linear"``, ``"relu"``, ``"tanh"``, ``"sigmoid"``, ``"softplus"``, ``"clip"``,
        ``"step"`` or any elementwise callable Tensor → Tensor (each output entry a function of
        its own input entry; checked on a probe at construction, ``ValueError`` otherwise).
    bias : bool
        Learn a bias ``b`` (one per layer and direction: ``nn.RNN``'s two biases summed).
    batch_first : bool
        Input and output (B, T, ·) instead of (T, B, ·); ``h_n`` keeps (L·D, B, N).
    dropout : float
        Dropout on the rates between layers during training, as ``nn.RNN`` (which warns, as
        torchrate does, when ``dropout > 0`` with one layer: there is no layer to drop between).
    bidirectional : bool
        D = 2 directions; outputs concatenated to D·N features.
    tau : float or Tensor of shape (N,)
        Time constant(s) in ms (shared by every layer), positive (a parametrization: ``exp`` of
        the stored ``log τ``).
    dt : float
        Step in ms.
    noise_std : float
        σ of the private noise; per step the rates get ``σ·sqrt(2·dt/τ)·ξ``, ξ ~ N(0, 1), drawn
        from ``generator``. Euler only.
    solver : str
        ``"euler"`` or a torchdiffeq method (``"dopri5"``, ``"rk4"``, …; :data:`~torchrate.solvers.ODE_METHODS`).
    rtol, atol : float
        Tolerances of adaptive ODE methods.
    adjoint : bool
        Back-propagate through the ODE with ``torchdiffeq.odeint_adjoint``.
    ode_options : dict, optional
        Extra ``options`` for ``torchdiffeq.odeint`` (``{"step_size": 0.1}`` for rk4;
        ``{"max_evals": n}`` bounds the vector-field evaluations).
    gain : float or None
        Spectral radius of the initial ``M`` (Gaussian, rescaled exactly); ``None``: no
        rescaling (entries of variance 1/N). Near 1 the network has slow modes.
    train_tau : bool
        Learn τ.
    connectivity : bool Tensor (N, N), optional
        Allowed connections: masked-out entries of ``M`` are exactly 0, always (a parametrization).
    generator : torch.Generator, optional
        The network's own random stream: initial weights (:meth:`reset_parameters`), noise and
        dropout. ``None`` uses PyTorch's global RNG, as ``torch.nn`` does.
    device, dtype
        Factory arguments, as in ``torch.nn``.

    Attributes
    ----------
    weight_ih_l[k], weight_hh_l[k], bias_l[k] (``_reverse`` for the backward direction)
        ``W`` (N, I or D·N), ``M`` (N, N) and ``b`` (N,) of layer ``k``.
    check_finite : bool
        Raise :class:`NonFiniteRatesError` when rates become NaN/Inf (one check after the
        rollout, in eager mode; skipped under compile, export and ``torch.func``). The check is
        one host read of a summed tensor per forward (on a GPU, one device sync per forward,
        never one per step); set ``net.check_finite = False`` for none.

    Examples
    --------
    >>> net = RateRNN(3, 64, tau=10.0, dt=1.0)
    >>> rates, h_n = net(torch.randn(100, 8, 3))
    >>> rates.shape, h_n.shape
    (torch.Size([100, 8, 64]), torch.Size([1, 8, 64]))
    """

    check_finite: bool = True
    # tensors reached by attribute (parameters, buffers, parametrized weights): their types
    connectivity: Tensor | None
    tau: Tensor
    weight_hh_l0: Tensor
    weight_ih_l0: Tensor | None  # None: identity input (from_weights(..., W=None))
    bias_l0: Tensor | None
    parametrizations: Any  # torch's ModuleDict of ParametrizationLists, entries reached by attribute

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str | Callable[[Tensor], Tensor] = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        tau: float | Tensor = 10.0,
        dt: float = 1.0,
        noise_std: float = 0.0,
        solver: str = "euler",
        rtol: float = 1e-6,
        atol: float = 1e-8,
        adjoint: bool = False,
        ode_options: dict[str, Any] | None = None,
        gain: float | None = 0.9,
        train_tau: bool = False,
        connectivity: Tensor | None = None,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.input_size = _validate.as_int("input_size", input_size, minimum=1)
        self.hidden_size = N = _validate.as_int("hidden_size", hidden_size, minimum=1)
        self.num_layers = _validate.as_int("num_layers", num_layers, minimum=1)
        for name, flag in (
            ("bias", bias),
            ("batch_first", batch_first),
            ("bidirectional", bidirectional),
            ("adjoint", adjoint),
            ("train_tau", train_tau),
        ):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False, got {flag!r}")
        self.batch_first, self.bidirectional = batch_first, bidirectional
        self.dropout = _validate.check_nonnegative("dropout", dropout)
        if self.dropout >= 1:
            raise ValueError(f"dropout must be a probability in [0, 1), got {self.dropout!r}")
        self.F: Nonlinearity = as_nonlinearity(nonlinearity)
        self.dt = _validate.check_positive("dt", dt, fix="the Euler step in ms")
        self.noise_std = _validate.check_nonnegative("noise_std", noise_std)
        self.gain = None if gain is None else _validate.check_positive("gain", gain, fix="a spectral radius, or None")
        self._configure_solver(solver, rtol, atol, adjoint, ode_options)
        device = _validate.check_device("device", device)
        dtype = dtype if dtype is not None else torch.get_default_dtype()
        if not dtype.is_floating_point:
            raise TypeError(f"dtype must be a real floating-point dtype (float32, float64, …), got {dtype}")
        factory: _Factory = {"device": device, "dtype": dtype}
        if NONLINEARITIES.get(self.F.name) is not self.F:
            _check_elementwise(self.F, N, **factory)
        if self.dropout > 0 and self.num_layers == 1:  # as torch.nn.RNN: dropout acts between layers only
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                f"expects num_layers greater than 1, but got dropout={dropout} and "
                f"num_layers={self.num_layers}",
                stacklevel=2,
            )
        self.generator = _check_generator(generator)
        self._directions = ("", "_reverse") if bidirectional else ("",)
        self.register_buffer(
            "connectivity",
            None if connectivity is None else self._mask("connectivity", connectivity, (N, N)).to(device),
            persistent=False,
        )
        for k in range(self.num_layers):
            width = self.input_size if k == 0 else N * len(self._directions)
            for d in self._directions:
                # zeros, valid under every constraint; reset_parameters draws the weights
                self.register_parameter(f"weight_ih_l{k}{d}", nn.Parameter(torch.zeros(N, width, **factory)))
                self.register_parameter(f"weight_hh_l{k}{d}", nn.Parameter(torch.zeros(N, N, **factory)))
                self.register_parameter(f"bias_l{k}{d}", nn.Parameter(torch.zeros(N, **factory)) if bias else None)
                for name in (f"weight_ih_l{k}{d}", f"weight_hh_l{k}{d}"):
                    for p in self._weight_constraints(name):
                        parametrize.register_parametrization(self, name, p)
        self._set_tau(tau, train_tau, **factory)
        self._warn_unstable_step()
        self.reset_parameters(generator)

    def __reduce_ex__(
        self, protocol: SupportsIndex
    ) -> tuple[Callable[..., RateRNN], tuple[type[RateRNN], dict[str, Any]]]:
        # torch.nn.utils.parametrize refuses to pickle parametrized modules; a network's state is
        # plain tensors and its parametrizations small modules, so it pickles as its base class and
        # __dict__, and the parametrized class is rebuilt on load (torch.save(net), multiprocessing)
        return _unpickle_network, (parametrize.type_before_parametrizations(self), self.__dict__)

    # ------------------------------------------------------------------ construction hooks
    def _configure_solver(
        self, solver: str, rtol: float, atol: float, adjoint: bool, ode_options: dict[str, Any] | None
    ) -> None:
        if solver in solvers.WITHHELD_METHODS:
            raise ValueError(f"solver {solver!r} is not offered: {solvers.WITHHELD_METHODS[solver]}")
        if solver != "euler" and solver not in solvers.ODE_METHODS:  # torchdiffeq is imported only here
            raise ValueError(
                f"unknown solver {solver!r}; use 'euler' or a torchdiffeq method: {sorted(solvers.ODE_METHODS)}"
            )
        _check_noise_solver(self.noise_std, solver)
        if adjoint and solver == "euler":
            raise ValueError("adjoint=True applies to torchdiffeq solvers; the Euler path has its own fast backward")
        if ode_options is not None and not isinstance(ode_options, dict):
            raise TypeError(f"ode_options must be a dict of torchdiffeq options or None, got {ode_options!r}")
        self.solver, self.adjoint, self.ode_options = solver, adjoint, dict(ode_options or {})
        self.rtol, self.atol = _validate.check_positive("rtol", rtol), _validate.check_positive("atol", atol)

    def _mask(self, name: str, mask: object, shape: tuple[int, ...]) -> Tensor:
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
            raise TypeError(
                f"{name} must be a bool Tensor of shape {shape}, got "
                f"{mask.dtype if isinstance(mask, Tensor) else type(mask).__name__}"
            )
        if tuple(mask.shape) != shape:
            raise ValueError(f"{name} must have shape {shape}, got {tuple(mask.shape)}")
        return mask

    def _weight_constraints(self, name: str) -> list[nn.Module]:
        """Parametrizations of weight ``name``, applied in order (subclasses add theirs)."""
        if name.startswith("weight_hh") and self.connectivity is not None:
            return [Mask(self.connectivity, "M")]
        return []

    def _tau_constraints(self) -> list[nn.Module]:
        """Parametrizations of a trainable ``tau``, raw → τ, applied in order (a fixed τ is stored as is)."""
        return [Positive("tau")]

    def _set_tau(self, value: float | Tensor, train_tau: bool, **factory: Any) -> None:
        if isinstance(value, Tensor):
            if value.is_complex() or value.dtype == torch.bool:
                raise TypeError(f"tau must be real (ms), got a {value.dtype} tensor")
            tau = value.detach().to(**factory).clone()
        elif isinstance(value, numbers.Real) and not isinstance(value, bool):
            tau = torch.tensor(float(value), **factory)
        else:
            raise TypeError(
                f"tau must be a number or a tensor of shape ({self.hidden_size},) (ms), "
                f"got {type(value).__name__} {value!r}"
            )
        if tau.ndim not in (0, 1) or (tau.ndim == 1 and tau.shape[0] != self.hidden_size):
            raise ValueError(f"tau must be a scalar or of shape ({self.hidden_size},), got shape {tuple(tau.shape)}")
        check_positive("tau", tau)
        if not train_tau:  # stored exactly (exp ∘ log would move it by an ulp)
            self.register_buffer("tau", tau)
            return
        self.tau = nn.Parameter(torch.ones_like(tau))
        for p in self._tau_constraints():
            parametrize.register_parametrization(self, "tau", p, unsafe=True)
        self.tau = tau  # through the parametrizations' right_inverse: log τ, one value per group

    def _warn_unstable_step(self) -> None:
        ratio = self.dt / self.tau.detach().min().item()
        if self.solver == "euler" and ratio > 1:
            warnings.warn(
                f"dt/τ = {ratio:g} > 1 (dt = {self.dt:g} ms, smallest τ = {self.dt / ratio:g} ms): the Euler step "
                "overshoots and can diverge; use dt ≤ τ (dt = τ is nn.RNN's Elman update)",
                stacklevel=3,
            )

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Draw the initial weights: ``M`` Gaussian rescaled to spectral radius ``gain`` (masked by
        ``connectivity``), ``W`` with entries N(0, 1/I), ``b = 0``.

        Drawn on the CPU in float64 from ``generator`` (default: the network's own, else the
        global RNG), then cast and moved: the same weights on every device and dtype.
        """
        generator = generator if generator is not None else self.generator
        with torch.no_grad():
            for k, d in self._layer_keys():
                M = torch.randn(self.hidden_size, self.hidden_size, generator=generator, dtype=torch.float64)
                M = M / math.sqrt(self.hidden_size)
                if self.connectivity is not None:
                    M = M * self.connectivity.cpu()
                self._assign(f"weight_hh_l{k}{d}", _spectral_radius_init(M, self.gain))
                W = getattr(self, f"weight_ih_l{k}{d}")
                if W is not None:  # None: identity input (from_weights(..., W=None)), nothing to draw
                    self._assign(
                        f"weight_ih_l{k}{d}",
                        torch.randn(W.shape, generator=generator, dtype=torch.float64) / math.sqrt(W.shape[1]),
                    )
                if getattr(self, f"bias_l{k}{d}") is not None:
                    getattr(self, f"bias_l{k}{d}").zero_()

    def _assign(self, name: str, value: Tensor) -> None:
        """Set weight ``name`` to ``value`` (its constrained form), through its parametrizations."""
        ref = getattr(self, name)
        value = value.to(dtype=ref.dtype, device=ref.device)
        with torch.no_grad():
            if parametrize.is_parametrized(self, name):
                setattr(self, name, value)
            else:
                ref.copy_(value)

    def _layer_keys(self) -> list[tuple[int, str]]:
        return [(k, d) for k in range(self.num_layers) for d in self._directions]

    # ------------------------------------------------------------------ alternative constructors
    @classmethod
    def from_weights(
        cls,
        M: Tensor,
        W: Tensor | None = None,
        b: Tensor | None = None,
        *,
        tau: float | Tensor,
        dt: float,
        nonlinearity: str | Callable[[Tensor], Tensor] = "linear",
        **kwargs: Any,
    ) -> RateRNN:
        """A hand-built network with recurrent weights ``M`` (N, N), input weights ``W`` (N, I)
        and bias ``b`` (N,). ``W=None`` means identity input: ``input_size = N`` and ``u`` is ``h``.

        Tensors are copied into parameters of ``M``'s dtype and device; ``kwargs`` as the
        constructor's (``solver``, ``noise_std``, ``train_tau``, ``connectivity``, ``generator``, …):
        the noise is drawn from ``generator``, or from the global RNG without one, as the
        constructor's (building the network does not advance the global RNG).

        Examples
        --------
        >>> autapse = RateRNN.from_weights(torch.diag(torch.tensor([0.5, -1.0])), tau=10.0, dt=0.1)
        """
        M = _validate.check_square_matrix("M", M)
        N = M.shape[0]
        W = None if W is None else _weights("W", W, (N, "I"), like=M)
        generator = _check_generator(kwargs.pop("generator", None))
        net = cls(
            N if W is None else W.shape[1],
            N,
            nonlinearity=nonlinearity,
            bias=b is not None,
            tau=tau,
            dt=dt,
            gain=None,
            generator=_init_generator(),
            dtype=M.dtype,
            device=M.device,
            **kwargs,
        )
        net.generator = generator
        net._load_weights(M, W, b)
        if W is None:
            net.weight_ih_l0 = None  # identity input: u is h
        return net

    def _load_weights(self, M: Tensor, W: Tensor | None, b: Tensor | None, suffix: str = "_l0") -> None:
        self._assign("weight_hh" + suffix, M)
        if W is not None:
            self._assign("weight_ih" + suffix, W)
        if b is not None:
            self._assign("bias" + suffix, _weights("b", b, (self.hidden_size,), like=M))

    @classmethod
    def from_rnn(cls, rnn: nn.RNN, **kwargs: Any) -> RateRNN:
        r"""The rate network equal to a trained ``torch.nn.RNN`` (tanh or relu, any layers, bidirectional).

        With τ = dt the Euler step is ``v_{t+1} = F(W u_t + M v_t + b)``, the Elman update
        ``h_t = F(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})``: so ``M = W_hh``, ``W = W_ih``,
        ``b = b_ih + b_hh``, and the outputs equal ``nn.RNN``'s to rounding. Every analysis in
        torchrate then applies to the ``nn.RNN`` model (time in steps: τ = dt = 1).

        Examples
        --------
        >>> rnn = torch.nn.RNN(3, 16, num_layers=2)
        >>> net = RateRNN.from_rnn(rnn)
        >>> x = torch.randn(20, 4, 3)
        >>> torch.allclose(net(x)[0], rnn(x)[0], atol=1e-6)
        True
        """
        if not isinstance(rnn, nn.RNN):
            raise TypeError(f"rnn must be a torch.nn.RNN, got {type(rnn).__name__}")
        if getattr(rnn, "proj_size", 0):
            raise ValueError(f"rnn has proj_size={rnn.proj_size}; a rate network has no output projection")
        ref = rnn.all_weights[0][1]  # W_hh of layer 0
        generator = _check_generator(kwargs.pop("generator", None))
        net = cls(
            rnn.input_size,
            rnn.hidden_size,
            rnn.num_layers,
            rnn.nonlinearity,
            rnn.bias,
            rnn.batch_first,
            rnn.dropout,
            rnn.bidirectional,
            tau=1.0,
            dt=1.0,
            gain=None,
            generator=_init_generator(),
            dtype=ref.dtype,
            device=ref.device,
            **kwargs,
        )
        net.generator = generator
        for k, d in net._layer_keys():
            sfx = f"_l{k}{d}"
            b = (getattr(rnn, "bias_ih" + sfx) + getattr(rnn, "bias_hh" + sfx)) if rnn.bias else None
            net._load_weights(
                getattr(rnn, "weight_hh" + sfx).detach(),
                getattr(rnn, "weight_ih" + sfx).detach(),
                None if b is None else b.detach(),
                sfx,
            )
        return net

    @classmethod
    def elman(
        cls,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str | Callable[[Tensor], Tensor] = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        **kwargs: Any,
    ) -> RateRNN:
        r"""The drop-in for ``torch.nn.RNN``: its signature, its update and its initial weights.

        ``RateRNN(...)`` shares ``nn.RNN``'s signature but is a *leaky* network by default
        (τ = 10, dt = 1: each step moves the rates a tenth of the way to ``F(Wu + Mv + b)``).
        ``RateRNN.elman(...)`` fixes τ = dt = 1 (time in steps), so the Euler step is exactly
        the Elman update of ``nn.RNN``:

        .. math::
            v_{t+1} = F(W u_t + M v_t + b), \qquad b = b_{ih} + b_{hh}

        and draws the initial weights as ``nn.RNN`` does — every entry of ``W``, ``M``,
        ``b_ih`` and ``b_hh`` from U(−1/√N, 1/√N), in ``nn.RNN``'s order, on ``device`` in
        ``dtype``, from ``generator`` or else the global RNG; ``b`` is the sum of the two
        biases. After the same ``torch.manual_seed`` it is the same network as
        ``nn.RNN(input_size, hidden_size, …)``, with one bias ``bias_l{k}`` where ``nn.RNN``
        has two. ``net.reset_parameters()`` draws torchrate's initialisation instead.

        Its system is the discrete map (dt/τ = 1 ≥ 0.5: :func:`~torchrate.systems.as_system`),
        whose fixed points are judged by |μ| < 1, as for ``nn.RNN``.

        Parameters
        ----------
        input_size, hidden_size, num_layers, nonlinearity, bias, batch_first, dropout, bidirectional, device, dtype
            As ``torch.nn.RNN`` (``nonlinearity`` also takes torchrate's other names and callables).
        **kwargs
            Rate-model keywords of :class:`RateRNN` (``noise_std``, ``connectivity``,
            ``generator``, …), not ``tau``, ``dt``, ``train_tau`` or ``gain`` (the network is
            Elman's; for a leaky one use ``RateRNN(..., tau=…, dt=…)``). ``generator`` draws the
            initial weights, then the noise and dropout.

        Examples
        --------
        >>> _ = torch.manual_seed(0)
        >>> rnn = torch.nn.RNN(3, 16)
        >>> _ = torch.manual_seed(0)
        >>> net = RateRNN.elman(3, 16)            # the same network, now analysable
        >>> x = torch.randn(20, 4, 3)
        >>> torch.allclose(net(x)[0], rnn(x)[0], atol=1e-6)
        True
        """
        if cls.__init__ is not RateRNN.__init__:
            raise TypeError(
                f"{cls.__name__}.elman: the Elman update is a plain RateRNN's; use "
                f"torchrate.RateRNN.elman, or {cls.__name__}(...) with tau equal to dt"
            )
        fixed = sorted(set(kwargs) & {"tau", "dt", "train_tau", "gain"})
        if fixed:
            raise TypeError(
                f"RateRNN.elman takes no {', '.join(fixed)}: it is nn.RNN's Elman update, τ = dt = 1 "
                "(time in steps) with nn.RNN's initial weights; for a leaky rate network use "
                "RateRNN(input_size, hidden_size, ..., tau=..., dt=...)"
            )
        generator = _check_generator(kwargs.pop("generator", None))
        net = cls(
            input_size,
            hidden_size,
            num_layers,
            nonlinearity,
            bias,
            batch_first,
            dropout,
            bidirectional,
            tau=1.0,
            dt=1.0,
            gain=None,
            generator=_init_generator(),
            device=device,
            dtype=dtype,
            **kwargs,
        )
        net.generator = generator
        bound = 1.0 / math.sqrt(net.hidden_size)
        with torch.no_grad():
            for k, d in net._layer_keys():  # nn.RNN's reset_parameters: w_ih, w_hh, b_ih, b_hh per layer and direction
                sfx = f"_l{k}{d}"
                ref = getattr(net, "weight_hh" + sfx)
                shapes = [getattr(net, "weight_ih" + sfx).shape, ref.shape] + ([(net.hidden_size,)] * 2 if bias else [])
                W, M, *b = (
                    torch.empty(s, dtype=ref.dtype, device=ref.device).uniform_(-bound, bound, generator=generator)
                    for s in shapes
                )
                if net.connectivity is not None:
                    M = M * net.connectivity
                net._load_weights(M, W, b[0] + b[1] if b else None, sfx)
        return net

    def layer(self, k: int = 0, reverse: bool = False) -> RateRNN:
        """Layer ``k`` (its backward direction with ``reverse``) as a single-layer network (a copy),
        driven by its own input: to analyse one layer of a stacked network.

        The copy keeps τ, dt, F, ``batch_first``, the noise (``noise_std`` and the same
        ``generator`` object: its draws advance this network's stream) and the solver settings
        (``solver``, ``rtol``, ``atol``, ``adjoint``, ``ode_options``)."""
        if not 0 <= k < self.num_layers or (reverse and not self.bidirectional):
            raise ValueError(
                f"no layer {k}{' (reverse)' if reverse else ''} in a {self.num_layers}-layer "
                f"{'bi' if self.bidirectional else 'uni'}directional network"
            )
        sfx = f"_l{k}{'_reverse' if reverse else ''}"
        M, W, b = (getattr(self, n + sfx) for n in ("weight_hh", "weight_ih", "bias"))
        W, b = (None if t is None else t.detach() for t in (W, b))
        return RateRNN.from_weights(M.detach(), W, b, **self._run_settings(), generator=self.generator)

    def _run_settings(self) -> dict[str, Any]:
        """What a copy of this network with other weights needs to run as it does (the keyword
        arguments of :meth:`from_weights`): τ, dt, F, ``batch_first``, ``noise_std`` and the solver's
        settings (``solver``, ``rtol``, ``atol``, ``adjoint``, ``ode_options``)."""
        return {
            "tau": self.tau.detach(),
            "dt": self.dt,
            "nonlinearity": self.F,
            "batch_first": self.batch_first,
            "noise_std": self.noise_std,
            "solver": self.solver,
            "rtol": self.rtol,
            "atol": self.atol,
            "adjoint": self.adjoint,
            "ode_options": copy.deepcopy(self.ode_options),
        }

    # ------------------------------------------------------------------ parameters (layer 0)
    @property
    def M(self) -> Tensor:
        """Effective recurrent weights (N, N) of layer 0; ``M[i, j]`` is the weight from ``j`` to ``i``."""
        return self.weight_hh_l0

    @property
    def W(self) -> Tensor:
        """Input weights (N, I) of layer 0; the identity for ``from_weights(..., W=None)``."""
        if self.weight_ih_l0 is None:
            return torch.eye(self.hidden_size, dtype=self.M.dtype, device=self.M.device)
        return self.weight_ih_l0

    @property
    def b(self) -> Tensor | None:
        """Bias (N,) of layer 0, or None."""
        return self.bias_l0

    @property
    def nonlinearity(self) -> Nonlinearity:
        """The rate nonlinearity F (a :class:`~torchrate.Nonlinearity`; ``net.F`` too)."""
        return self.F

    def flatten_parameters(self) -> None:
        """No-op, for code written for ``nn.RNN`` (the weights need no cuDNN layout)."""

    def extra_repr(self) -> str:
        tau = self.tau.detach()
        tau_s = f"{tau.item():g}" if tau.ndim == 0 else f"({tau.numel()},)"
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers > 1:
            s += f", num_layers={self.num_layers}"
        s += f", tau={tau_s}, dt={self.dt:g}, nonlinearity={self.F.name!r}, solver={self.solver!r}"
        for name in ("batch_first", "bidirectional"):
            if getattr(self, name):
                s += f", {name}=True"
        s += f", dropout={self.dropout:g}" if self.dropout else ""
        return s + (f", noise_std={self.noise_std:g}" if self.noise_std else "")

    # ------------------------------------------------------------------ dynamics (layer 0)
    def project_input(self, u: Tensor) -> Tensor:
        """h = W u of layer 0, shape (*, N)."""
        return u if self.weight_ih_l0 is None else u @ self.W.T

    def vector_field(self, v: Tensor, h: Tensor) -> Tensor:
        """dv/dt = (−v + F(h + Mv + b))/τ of layer 0 for rates ``v`` and projected input ``h`` (*, N)."""
        return dynamics._vector_field(v, h, self.M, self.b, self.tau, self.F)

    def system(self, time: str | None = None) -> System:
        r"""The dynamical system this network runs (:mod:`torchrate.systems`), for every analysis.

        An Euler network is both its ODE, ``dv/dt = f(v, u)`` (``time="continuous"``), and the map
        ``v' = v + dt·f(v, u)`` it runs (``time="discrete"``); default (None): the map when
        dt/τ ≥ 0.5 (``from_rnn``'s τ = dt included), the flow otherwise. A network solved as an
        ODE is its flow. A stacked network's state is every layer's rates (L·N); a
        bidirectional one is refused (its backward direction is not a causal system).
        """
        from .systems import rate_system, stacked

        if self.bidirectional:
            raise ValueError(
                "a bidirectional network is not a dynamical system (its backward direction runs from "
                "the end of the sequence); analyse one direction: net.layer(k) or "
                "net.layer(k, reverse=True)"
            )
        dt = self.dt if self.solver == "euler" else None
        layers = [
            rate_system(
                getattr(self, f"weight_hh_l{k}"),
                getattr(self, f"weight_ih_l{k}"),
                getattr(self, f"bias_l{k}"),
                self.tau,
                self.F,
                dt=dt,
                time=time,
            )
            for k in range(self.num_layers)
        ]
        return layers[0] if len(layers) == 1 else stacked(layers)

    def step(self, v: Tensor, u: Tensor) -> Tensor:
        """One Euler step of layer 0 from rates ``v`` (B, N) with input ``u`` (B, I): the cell."""
        for name, x, width in (("v", v, self.hidden_size), ("u", u, self.input_size)):
            if not isinstance(x, Tensor) or x.ndim == 0 or x.shape[-1] != width:
                got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
                raise ValueError(f"{name} must be a Tensor of shape (B, {width}) or ({width},), got {got}")
        if v.ndim > 1 and u.ndim > 1 and v.shape[:-1] != u.shape[:-1]:
            raise ValueError(f"v and u must have the same batch shape, got v {tuple(v.shape)} and u {tuple(u.shape)}")
        return v + self.dt * self.vector_field(v, self.project_input(u))

    # ------------------------------------------------------------------ forward
    def forward(
        self, input: Tensor | PackedSequence, hx: Tensor | None = None
    ) -> tuple[Tensor | PackedSequence, Tensor]:
        """Run the network over a sequence: ``output, h_n = net(input, hx)``, as ``nn.RNN``.

        Parameters
        ----------
        input : Tensor or PackedSequence
            (T, B, I), (B, T, I) with ``batch_first``, unbatched (T, I), or a ``PackedSequence``.
        hx : Tensor, optional
            (L·D, B, N) or unbatched (L·D, N): initial rates; zeros if ``None``.

        Returns
        -------
        output : Tensor or PackedSequence
            (T, B, D·N): the last layer's rates at t = dt, 2dt, …, T·dt (a ``PackedSequence``
            for packed input).
        h_n : Tensor
            (L·D, B, N): every layer's rates at each sequence's last step.
        """
        packed = input if isinstance(input, PackedSequence) else None
        if packed is not None:
            u, lengths = pad_packed_sequence(packed)  # (T, B, I), original batch order
            lengths = lengths.to(u.device)
            batched = True
        else:
            u = self._check_input(input)
            batched = u.ndim == 3
            lengths = None
            u = u.unsqueeze(1) if not batched else (u.transpose(0, 1) if self.batch_first else u)
        v0 = self._check_hx(hx, u, batched)
        out, last, layer_outputs = u, [], []
        for k in range(self.num_layers):
            if k > 0 and self.dropout and self.training:
                out = self._dropout(out)
            rates = []
            for i, d in enumerate(self._directions):
                x = out if not d else _reverse_time(out, lengths)
                r = self._run_layer(f"_l{k}{d}", x, v0[len(self._directions) * k + i])
                last.append(_last_step(r, lengths, v0[len(self._directions) * k + i]))
                rates.append(r if not d else _reverse_time(r, lengths))
            out = torch.cat(rates, -1) if len(rates) > 1 else rates[0]
            layer_outputs.append(out)
        h_n = torch.stack(last) if last else v0
        if self.check_finite and not torch.compiler.is_compiling() and not transforms_active():
            self._check_finite(layer_outputs, u)
        if packed is not None and lengths is not None:
            return _repack(out, lengths, packed), h_n
        if not batched:
            return out.squeeze(1), h_n.squeeze(1)
        return (out.transpose(0, 1) if self.batch_first else out), h_n

    def _reference(self) -> Tensor:
        """A parameter in the network's dtype and on its device, for checks (cheap to read: no
        parametrization evaluated where a subclass's ``M`` is costly to form)."""
        return self.M

    def _check_input(self, u: object) -> Tensor:
        ref = self._reference()
        if not isinstance(u, Tensor):
            raise TypeError(f"input must be a Tensor or PackedSequence, got {type(u).__name__}")
        if u.ndim not in (2, 3):
            batched_shape = "(B, T, {0}) (batch_first)" if self.batch_first else "(T, B, {0})"
            raise ValueError(
                f"input must be {batched_shape.format(self.input_size)} or unbatched "
                f"(T, {self.input_size}); got shape {tuple(u.shape)}"
            )
        if u.shape[-1] != self.input_size:
            raise ValueError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got {u.shape[-1]}"
            )
        autocast = torch.is_autocast_enabled(u.device.type) and u.dtype == torch.get_autocast_dtype(u.device.type)
        if u.dtype != ref.dtype and not autocast:
            raise TypeError(
                f"input dtype {u.dtype} does not match the network's {ref.dtype}; "
                f"use net.to({u.dtype}) or input.to({ref.dtype}) (or run under torch.autocast)"
            )
        if u.device != ref.device:
            raise ValueError(f"input is on {u.device} but the network is on {ref.device}")
        return u

    def _check_hx(self, hx: object, u: Tensor, batched: bool) -> Tensor:
        LD, B, N = self.num_layers * len(self._directions), u.shape[1], self.hidden_size
        ref = self._reference()
        if hx is None:
            return u.new_zeros(LD, B, N, dtype=ref.dtype)
        expected = (LD, B, N) if batched else (LD, N)
        hx = _check_state(
            hx, expected, "(num_layers·D, B, N)" if batched else "(num_layers·D, N)", ref, u.dtype, "network"
        )
        return hx if batched else hx.unsqueeze(1)

    def _run_layer(self, sfx: str, x: Tensor, v0: Tensor) -> Tensor:
        """Rates (T, B, N) of the layer/direction ``sfx`` driven by ``x`` (T, B, I_k) from ``v0`` (B, N)."""
        if self.solver != "euler":
            _check_noise_solver(self.noise_std, self.solver)  # also where either was set after construction
            # torchdiffeq guards its inputs with asserts (gone under python -O, where NaN then hangs)
            for name, t in (("hx", v0), ("input", x), *self.named_parameters()):
                if not torch.isfinite(t).all():
                    raise ValueError(f"{name} contains NaN or Inf: the ODE solver {self.solver!r} cannot step it")
            params = tuple(p for p in self.parameters() if p.requires_grad)

            def field(
                v: Tensor, u: Tensor
            ) -> Tensor:  # weights read at every evaluation: the adjoint reaches each parameter once
                W, M, b = (getattr(self, n + sfx) for n in ("weight_ih", "weight_hh", "bias"))
                return dynamics._vector_field(v, u if W is None else u @ W.T, M, b, self.tau, self.F)

            return _ode_rollout(
                field,
                x,
                v0,
                self.dt,
                method=self.solver,
                rtol=self.rtol,
                atol=self.atol,
                adjoint=self.adjoint,
                adjoint_params=params,
                options=self.ode_options,
            )
        W, M, b = (getattr(self, n + sfx) for n in ("weight_ih", "weight_hh", "bias"))
        T, B = x.shape[:2]
        if W is None:
            X = x if b is None else x + b
        elif b is None:
            X = x @ W.T
        else:  # W u_t + b for all steps in one matmul
            X = torch.addmm(b, x.reshape(T * B, x.shape[-1]), W.T).reshape(T, B, W.shape[0])
        tau = self.tau
        a = self.dt / tau
        eta = None
        if self.noise_std > 0:
            eta = self._randn(X) * (self.noise_std * torch.sqrt(2 * a))
        return euler_rollout(X, v0, M, a, self.F, eta)

    def _randn(self, like: Tensor) -> Tensor:
        """ξ ~ N(0, 1) shaped like ``like``, from the network's generator (the global RNG without one)."""
        if self.generator is None:
            return torch.randn_like(like)
        return _draw(torch.randn, like, self.generator)

    def _dropout(self, x: Tensor) -> Tensor:
        if self.generator is None:
            return nn.functional.dropout(x, self.dropout, training=True)
        return x * (_draw(torch.rand, x, self.generator) >= self.dropout) / (1 - self.dropout)

    def _check_finite(self, layer_outputs: list[Tensor], u: Tensor) -> None:
        # one reduction and one host sync for the whole rollout: any NaN/Inf makes the sum
        # non-finite; only a sum that overflows is checked elementwise
        total = torch.stack([r.detach().sum() for r in layer_outputs]).sum()
        if bool(torch.isfinite(total)) or all(bool(torch.isfinite(r).all()) for r in layer_outputs):
            return
        k = next(i for i, r in enumerate(layer_outputs) if not torch.isfinite(r).all())
        finite = torch.isfinite(layer_outputs[k].detach()).flatten(1).all(1)  # (T,)
        step = int((~finite).nonzero()[0]) + 1
        where = f" in layer {k}" if self.num_layers > 1 else ""
        raise NonFiniteRatesError(
            f"rates became non-finite{where} at step {step} (t = {step * self.dt:g} ms); {self._blow_up_hint(k, u)}"
        )

    def _blow_up_hint(self, k: int, u: Tensor) -> str:
        if not torch.isfinite(u).all():
            return "the input contains NaN or Inf"
        M = getattr(self, f"weight_hh_l{k}").detach()
        if not torch.isfinite(M).all():
            return "the recurrent weights M contain NaN or Inf"
        eig = torch.linalg.eigvals(M.double().cpu())
        top = eig.real.max().item()
        # the Euler map multiplies mode λ by 1 + (dt/τ)(λ − 1) per step (linear regime)
        euler_factor = (1 + (self.dt / self.tau.detach().double().cpu().min()) * (eig - 1)).abs().max().item()
        hint = f"the largest real part of M's spectrum is {top:.4g}"
        if top > 1:
            return hint + (
                " > 1: linear dynamics grow like exp((Re λ − 1)·t/τ); reduce the recurrent gain or use"
                " a saturating nonlinearity"
            )
        if self.solver == "euler" and euler_factor > 1:
            return hint + (
                f", but the Euler step amplifies a mode by {euler_factor:.3g} per step: dt/τ is too"
                " large for this spectrum, reduce dt"
            )
        if top > 1 - 1e-9:
            return hint + (
                ": a λ = 1 mode integrates its input without decay, so a long or large input grows without bound"
            )
        return hint + ": the dynamics are stable, so the inputs, weights or bias exceed the floating-point range"


def _check_state(
    hx: object, expected: tuple[int, ...], label: str, ref: Tensor, input_dtype: torch.dtype, owner: str
) -> Tensor:
    """A given initial state ``hx``: a Tensor of shape ``expected`` (named by ``label``), on ``ref``'s
    device, in its dtype (or the input's, under autocast)."""
    if not isinstance(hx, Tensor):
        raise TypeError(f"hx must be a Tensor of shape {label} = {expected}, got {type(hx).__name__}")
    if tuple(hx.shape) != expected:
        raise ValueError(f"hx must have shape {label} = {expected}, got {tuple(hx.shape)}")
    if hx.device != ref.device:
        raise ValueError(f"hx is on {hx.device} but the {owner} is on {ref.device}")
    if hx.dtype != ref.dtype and hx.dtype != input_dtype:
        raise TypeError(f"hx dtype {hx.dtype} does not match the {owner}'s {ref.dtype}")
    return hx


def _unpickle_network(base: type[RateRNN], state: dict[str, Any]) -> RateRNN:
    """A network from its class before parametrizations and its ``__dict__`` (``RateRNN.__reduce_ex__``):
    the state exactly as pickled (the same tensors, parametrizations and module order), in the
    parametrized class torch makes for the tensors it parametrizes."""
    names = list(state["_modules"].get("parametrizations", ()))
    cls = _parametrized_class(base, names) if names else base
    net = cls.__new__(cls)
    net.__dict__.update(state)
    return net


def _parametrized_class(base: type[RateRNN], names: list[str]) -> type[RateRNN]:
    """The class ``register_parametrization`` gives a ``base`` module when it parametrizes ``names``:
    a subclass of ``base`` (one per instance) with a property per name that evaluates
    ``self.parametrizations[name]``. Made by torch itself, on a bare instance with empty placeholder
    buffers and identity parametrizations; only the class is kept."""
    bare = base.__new__(base)
    nn.Module.__init__(bare)
    for name in names:
        bare.register_buffer(name, torch.empty(0))
        parametrize.register_parametrization(bare, name, nn.Identity(), unsafe=True)
    return type(bare)


def _draw(sample: Callable[..., Tensor], like: Tensor, generator: torch.Generator) -> Tensor:
    """``sample`` (torch.randn, torch.rand) shaped like ``like``, drawn on the generator's device,
    outside any compiled graph: dynamo cannot trace a torch.Generator (one graph break; none
    without a generator)."""
    global _EAGER_DRAW
    if _EAGER_DRAW is None:  # made on first use: torch.compiler.disable imports torch._dynamo (~0.9 s)
        _EAGER_DRAW = torch.compiler.disable(_draw_now)
    return _EAGER_DRAW(sample, like, generator)


def _draw_now(sample: Callable[..., Tensor], like: Tensor, generator: torch.Generator) -> Tensor:
    out = sample(like.shape, generator=generator, dtype=like.dtype, device=generator.device)
    return out.to(like.device)


_EAGER_DRAW: Callable[[Callable[..., Tensor], Tensor, torch.Generator], Tensor] | None = None


def _reverse_time(x: Tensor, lengths: Tensor | None) -> Tensor:
    """``x`` (T, B, ·) with each sequence's first ``lengths[b]`` steps reversed (all T without lengths)."""
    if lengths is None:
        return x.flip(0)
    T = x.shape[0]
    t = torch.arange(T, device=x.device).unsqueeze(1)  # (T, 1)
    index = torch.where(t < lengths, lengths - 1 - t, t)  # (T, B); padding stays in place
    return x.gather(0, index.unsqueeze(-1).expand_as(x))


def _last_step(rates: Tensor, lengths: Tensor | None, v0: Tensor) -> Tensor:
    """Rates (B, N) at each sequence's last valid step (``v0`` for T = 0): a new tensor, never a view."""
    if lengths is None:
        return rates[-1].clone() if rates.shape[0] else v0.clone()
    index = (lengths - 1).clamp(min=0).view(1, -1, 1).expand(1, *rates.shape[1:])
    return rates.gather(0, index).squeeze(0)


def _repack(out: Tensor, lengths: Tensor, like: PackedSequence) -> PackedSequence:
    """``out`` (T, B, ·), in the original batch order, packed with ``like``'s batch sizes and sort order."""
    order = like.sorted_indices
    sorted_out = out if order is None else out.index_select(1, order)
    sorted_lengths = lengths if order is None else lengths.index_select(0, order)
    data = pack_padded_sequence(sorted_out, sorted_lengths.cpu(), enforce_sorted=True).data
    return PackedSequence(data, like.batch_sizes, like.sorted_indices, like.unsorted_indices)


# --------------------------------------------------------------------------- EIRateRNN
class EIRateRNN(RateRNN):
    r"""Excitatory–inhibitory rate RNN obeying Dale's law, with per-population τ.

    Neurons ``0 … n_exc−1`` are excitatory, the next ``n_inh`` inhibitory. Dale's law is a
    parametrization (:class:`~torchrate.parametrizations.DaleSign`): ``M = |R| · S`` with
    ``S[:, j] = +1`` for E and ``−1`` for I, so column ``j`` (the outgoing weights of neuron
    ``j``) is ≥ 0 for E and ≤ 0 for I after any optimiser step. τ is ``tau_e`` for E neurons
    and ``tau_i`` for I neurons (:class:`~torchrate.parametrizations.PerGroup`).

    Parameters
    ----------
    input_size : int
    n_exc, n_inh : int
        Population sizes; N = n_exc + n_inh.
    tau_e, tau_i : float
        Time constants (ms) of E and I neurons.
    input_mask : "exc", "all" or bool Tensor (N,)
        Which neurons receive input (default: all); the other rows of ``W`` are exactly 0.
    **kwargs
        As :class:`RateRNN` (``dt``, ``bias``, ``gain``, ``noise_std``, ``solver``, ``generator``, …);
        ``connectivity`` (bool (N, N), allowed connections) is composed with Dale's sign.
        At initialisation the inhibitory weights are scaled by n_exc/n_inh so that the mean
        input to each neuron is balanced, then ``M`` is rescaled to spectral radius ``gain``.
        One layer, one direction.
    """

    def __init__(
        self,
        input_size: int,
        n_exc: int,
        n_inh: int,
        *,
        tau_e: float = 10.0,
        tau_i: float = 10.0,
        nonlinearity: str | Callable[[Tensor], Tensor] = "relu",
        input_mask: str | Tensor = "all",
        **kwargs: Any,
    ) -> None:
        n_exc, n_inh = _validate.as_int("n_exc", n_exc, minimum=0), _validate.as_int("n_inh", n_inh, minimum=0)
        if n_exc + n_inh < 1:
            raise ValueError(f"n_exc + n_inh must be ≥ 1 neuron, got {n_exc} + {n_inh}")
        for name in ("tau", "num_layers", "bidirectional", "dropout"):
            if name in kwargs:
                raise TypeError(
                    f"EIRateRNN got {name!r}: it is one layer in one direction with one time constant "
                    "per population (pass tau_e and tau_i, in ms)"
                )
        tau_e, tau_i = _validate.check_positive("tau_e", tau_e), _validate.check_positive("tau_i", tau_i)
        self.n_exc, self.n_inh = int(n_exc), int(n_inh)
        N = self.n_exc + self.n_inh
        self._population = (torch.arange(N) >= self.n_exc).long()  # 0 = E, 1 = I
        self._input_mask = input_mask
        tau = torch.tensor([tau_e, tau_i], dtype=torch.float64)[self._population]
        # one layer, one direction, τ from tau_e/tau_i: passed explicitly, so that LightningCLI (jsonargparse)
        # does not offer them as arguments of EIRateRNN
        super().__init__(
            input_size, N, num_layers=1, nonlinearity=nonlinearity, dropout=0.0, bidirectional=False, tau=tau, **kwargs
        )

    def _weight_constraints(self, name: str) -> list[nn.Module]:
        N, sign = self.hidden_size, 1.0 - 2.0 * self._population
        if name.startswith("weight_hh"):
            return [DaleSign(sign.to(self.weight_hh_l0.dtype)), *super()._weight_constraints(name)]
        mask: str | Tensor = self._input_mask
        if isinstance(mask, str):
            if mask not in ("all", "exc"):
                raise ValueError(f"input_mask must be 'all', 'exc' or a bool tensor ({N},), got {mask!r}")
            mask = self._population == 0 if mask == "exc" else torch.ones(N, dtype=torch.bool)
        mask = self._mask("input_mask", mask, (N,))
        W = getattr(self, name)
        return [Mask(mask[:, None].expand(W.shape).to(W.device), "W")]

    def _tau_constraints(self) -> list[nn.Module]:
        return [PerGroup(self._population, ("log tau_e", "log tau_i")), Positive("tau")]

    @property
    def input_mask(self) -> Tensor:
        """Which neurons receive input, bool (N,)."""
        return self.parametrizations.weight_ih_l0[0].mask[:, 0]

    @property
    def sign(self) -> Tensor:
        """Sign (N,) of each neuron's outgoing weights: +1 excitatory, −1 inhibitory."""
        return self.parametrizations.weight_hh_l0[0].sign

    @property
    def tau_e(self) -> Tensor | None:
        """τ_E (ms) of the excitatory neurons; None without one."""
        return self.tau[0] if self.n_exc else None  # no excitatory neuron: no τ_E (not a NaN)

    @property
    def tau_i(self) -> Tensor | None:
        """τ_I (ms) of the inhibitory neurons; None without one."""
        return self.tau[-1] if self.n_inh else None  # no inhibitory neuron: no τ_I

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Balanced Dale init: ``|R|`` half-normal with inhibitory columns scaled by n_exc/n_inh,
        signed, masked, rescaled to spectral radius ``gain``; ``W`` N(0, 1/I) on ``input_mask`` rows; ``b = 0``."""
        generator = generator if generator is not None else self.generator
        N = self.hidden_size
        raw = torch.randn(N, N, generator=generator, dtype=torch.float64).abs() / math.sqrt(N)
        raw[:, self.n_exc :] *= self.n_exc / max(self.n_inh, 1)
        M = raw * (1.0 - 2.0 * self._population).double()
        if self.connectivity is not None:
            M = M * self.connectivity.cpu()
        self._assign("weight_hh_l0", _spectral_radius_init(M, self.gain))
        W = torch.randn(N, self.input_size, generator=generator, dtype=torch.float64) / math.sqrt(self.input_size)
        self._assign("weight_ih_l0", W * self.input_mask.cpu()[:, None])
        if self.bias_l0 is not None:
            with torch.no_grad():
                self.bias_l0.zero_()

    def extra_repr(self) -> str:
        taus = "".join(
            f", {name}={t.item():g}" for name, t in (("tau_e", self.tau_e), ("tau_i", self.tau_i)) if t is not None
        )
        return (
            f"{self.input_size}, n_exc={self.n_exc}, n_inh={self.n_inh}{taus}, dt={self.dt:g}, "
            f"nonlinearity={self.F.name!r}, solver={self.solver!r}"
        )

    @classmethod
    def from_weights(  # type: ignore[override]  # built from (M, n_exc), not RateRNN's (M, W, b)
        cls,
        M: Tensor,
        n_exc: int,
        *,
        tau_e: float,
        tau_i: float,
        b: Tensor | None = None,
        W: Tensor | None = None,
        dt: float,
        nonlinearity: str | Callable[[Tensor], Tensor] = "relu",
        **kwargs: Any,
    ) -> EIRateRNN:
        """A hand-built E–I network; ``M`` must obey Dale's law for E neurons ``0…n_exc−1``.
        ``W=None`` means identity input (``input_size = N``).

        Raises
        ------
        ValueError
            Naming the first entry ``M[i, j]`` whose sign breaks Dale's law (or that is NaN/Inf).
        """
        M = _validate.check_square_matrix("M", M)
        N = M.shape[0]
        if _validate.as_int("n_exc", n_exc, minimum=0) > N:
            raise ValueError(f"n_exc must be an integer in [0, {N}] (the neurons of M), got {n_exc}")
        W = torch.eye(N, dtype=M.dtype, device=M.device) if W is None else _weights("W", W, (N, "I"), like=M)
        generator = _check_generator(kwargs.pop("generator", None))
        net = cls(
            W.shape[1],
            n_exc,
            N - n_exc,
            tau_e=tau_e,
            tau_i=tau_i,
            dt=dt,
            nonlinearity=nonlinearity,
            bias=b is not None,
            gain=None,
            generator=_init_generator(),
            dtype=M.dtype,
            device=M.device,
            **kwargs,
        )
        net.generator = generator
        net._load_weights(M, W, b)  # Dale's law checked by DaleSign.right_inverse
        return net


# --------------------------------------------------------------------------- LowRankRateRNN
class LowRankRateRNN(RateRNN):
    r"""Rate RNN with low-rank recurrent weights ``M = m nᵀ / N``, trainable factors m, n (N, r).

    .. math::
        \tau \frac{dv}{dt} = -v + F(W u + m\,\kappa + b), \qquad \kappa = \frac{n^\top v}{N} \in \mathbb{R}^r

    The convention of the low-rank literature (Mastrogiuseppe & Ostojic 2018; Valente et al.
    2022). The recurrent drive ``M v = m κ`` costs O(N r) a step: the Euler rollout never forms
    ``M`` (:func:`torchrate._lowrank.lowrank_rollout`). ``net.M`` forms it on request (N, N),
    so every analysis of :class:`RateRNN` applies; :mod:`torchrate.analysis.lowrank` does the
    exact latent analysis in r dimensions (fixed points, stability, flow fields).

    ``M`` is ``weight_hh_l0`` under the parametrization
    :class:`~torchrate._lowrank.LowRankFactors`; ``net.m`` and ``net.n`` are its two trainable
    tensors (``parametrizations.weight_hh_l0.original0`` / ``original1`` in the state dict).
    Initialisation: m, n with entries N(0, 1) (so ``nᵀm/N`` is O(1/√N)), ``W`` N(0, 1/I), ``b = 0``.

    Parameters
    ----------
    input_size : int
        I.
    hidden_size : int
        N.
    rank : int
        r, 1 ≤ r ≤ N.
    tau, dt, nonlinearity
        As :class:`RateRNN` (ms; default ``"tanh"``).
    **kwargs
        As :class:`RateRNN` (``bias``, ``batch_first``, ``noise_std``, ``solver``, ``train_tau``,
        ``generator``, ``device``, ``dtype``, …). One layer, one direction, no connectivity mask.

    Examples
    --------
    >>> net = LowRankRateRNN(3, 512, rank=2, tau=10.0, dt=1.0)
    >>> rates, h_n = net(torch.randn(50, 4, 3))
    >>> rates.shape, net.m.shape
    (torch.Size([50, 4, 512]), torch.Size([512, 2]))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        rank: int,
        *,
        tau: float | Tensor = 10.0,
        dt: float = 1.0,
        nonlinearity: str | Callable[[Tensor], Tensor] = "tanh",
        **kwargs: Any,
    ) -> None:
        for name in ("num_layers", "bidirectional", "dropout", "connectivity", "gain"):
            if name in kwargs:
                raise TypeError(
                    f"LowRankRateRNN got {name!r}: it is one layer in one direction with M = m nᵀ/N "
                    "(no connectivity mask; the factors' scale sets the gain)"
                )
        N = _validate.as_int("hidden_size", hidden_size, minimum=1)
        self.rank = _validate.as_int("rank", rank, minimum=1)
        if self.rank > N:
            raise ValueError(f"rank must be ≤ hidden_size = {N}, got {rank}")
        super().__init__(input_size, N, nonlinearity=nonlinearity, tau=tau, dt=dt, gain=None, **kwargs)

    def _weight_constraints(self, name: str) -> list[nn.Module]:
        from ._lowrank import LowRankFactors

        return [LowRankFactors(self.rank)] if name.startswith("weight_hh") else []

    def system(self, time: str | None = None) -> System:
        """As :meth:`RateRNN.system`, with the factors m, n: the finder searches in κ-space."""
        from .systems import rate_system

        dt = self.dt if self.solver == "euler" else None
        return rate_system(
            None, self.weight_ih_l0, self.bias_l0, self.tau, self.F, dt=dt, time=time, factors=(self.m, self.n)
        )

    def _reference(self) -> Tensor:
        return self.m  # forming M (N, N) just to read its dtype would cost O(N² r)

    @property
    def m(self) -> Tensor:
        """Left factor m (N, r): the output directions of the recurrent drive (a Parameter)."""
        return self.parametrizations.weight_hh_l0.original0

    @property
    def n(self) -> Tensor:
        """Right factor n (N, r): the input-selection vectors, κ = nᵀv/N (a Parameter)."""
        return self.parametrizations.weight_hh_l0.original1

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """m, n with entries N(0, 1), ``W`` N(0, 1/I), ``b = 0``; drawn on the CPU in float64 from
        ``generator`` (default: the network's own, else the global RNG), then cast and moved."""
        generator = generator if generator is not None else self.generator
        N, r = self.hidden_size, self.rank
        with torch.no_grad():
            for p in (self.m, self.n):
                p.copy_(torch.randn(N, r, generator=generator, dtype=torch.float64))
            W = self.weight_ih_l0
            if W is not None:  # None: identity input (from_factors(..., W=None)), nothing to draw
                W.copy_(torch.randn(W.shape, generator=generator, dtype=torch.float64) / math.sqrt(W.shape[1]))
            if self.bias_l0 is not None:
                self.bias_l0.zero_()

    def extra_repr(self) -> str:
        return super().extra_repr().replace(f"{self.hidden_size}, ", f"{self.hidden_size}, rank={self.rank}, ", 1)

    def _run_layer(self, sfx: str, x: Tensor, v0: Tensor) -> Tensor:
        from ._lowrank import lowrank_rollout

        W, b, F, N = self.weight_ih_l0, self.bias_l0, self.F, self.hidden_size
        if self.solver != "euler":
            _check_noise_solver(self.noise_std, self.solver)  # also where either was set after construction
            params = tuple(p for p in self.parameters() if p.requires_grad)

            def field(v: Tensor, u: Tensor) -> Tensor:  # O(N r): M v = m (nᵀ v / N)
                Wt = self.weight_ih_l0
                x = (u if Wt is None else u @ Wt.T) + (v @ self.n) @ self.m.T / N
                return (F(x if self.bias_l0 is None else x + self.bias_l0) - v) / self.tau

            return _ode_rollout(
                field,
                x,
                v0,
                self.dt,
                method=self.solver,
                rtol=self.rtol,
                atol=self.atol,
                adjoint=self.adjoint,
                adjoint_params=params,
                options=self.ode_options,
            )
        T, B = x.shape[:2]
        if W is None:
            X = x if b is None else x + b
        elif b is None:
            X = x @ W.T
        else:
            X = torch.addmm(b, x.reshape(T * B, -1), W.T).reshape(T, B, -1)
        a = self.dt / self.tau
        eta = None if self.noise_std == 0 else self._randn(X) * (self.noise_std * torch.sqrt(2 * a))
        return lowrank_rollout(X, v0, self.m, self.n, a, F, eta)

    @classmethod
    def from_factors(
        cls,
        m: Tensor,
        n: Tensor,
        W: Tensor | None = None,
        b: Tensor | None = None,
        *,
        tau: float | Tensor,
        dt: float,
        nonlinearity: str | Callable[[Tensor], Tensor] = "tanh",
        **kwargs: Any,
    ) -> LowRankRateRNN:
        r"""A hand-built low-rank network, ``M = m nᵀ/N`` with ``m, n`` (N, r).

        ``W`` (N, I) input weights (``None``: identity, ``input_size = N``); ``b`` (N,). Tensors are
        copied into parameters of ``m``'s dtype and device; ``kwargs`` as the constructor's.

        Examples
        --------
        >>> m = torch.randn(200, 1, dtype=torch.float64)
        >>> net = LowRankRateRNN.from_factors(m, 2 * m, tau=10.0, dt=1.0)
        >>> net.rank, net.M.shape
        (1, torch.Size([200, 200]))
        """
        m = _weights("m", m, ("N", "r"))
        N, r = m.shape
        n = _weights("n", n, (N, r), like=m)
        W = None if W is None else _weights("W", W, (N, "I"), like=m)
        generator = _check_generator(kwargs.pop("generator", None))
        net = cls(
            N if W is None else W.shape[1],
            N,
            r,
            tau=tau,
            dt=dt,
            nonlinearity=nonlinearity,
            bias=b is not None,
            generator=_init_generator(),
            dtype=m.dtype,
            device=m.device,
            **kwargs,
        )
        net.generator = generator
        with torch.no_grad():
            net.m.copy_(m)
            net.n.copy_(n)
        if W is not None:
            net._assign("weight_ih_l0", W)
        if b is not None:
            net._assign("bias_l0", _weights("b", b, (N,), like=m))
        if W is None:
            net.weight_ih_l0 = None  # identity input: u is h
        return net

    @classmethod
    def from_weights(cls, M: Tensor, *args: Any, **kwargs: Any) -> NoReturn:
        """Refused: a low-rank network is built from its factors (:meth:`from_factors`)."""
        raise TypeError(
            "LowRankRateRNN.from_weights: build a low-rank network from its factors with "
            "LowRankRateRNN.from_factors(m, n, ...), M = m nᵀ/N; for the best rank-r approximation "
            "of a full M use torchrate.analysis.low_rank_approximation(net, rank)"
        )

    @classmethod
    def from_rnn(cls, rnn: nn.RNN, **kwargs: Any) -> NoReturn:
        """Refused: an ``nn.RNN``'s full-rank weights have no exact low-rank form."""
        raise TypeError(
            "LowRankRateRNN.from_rnn: convert with RateRNN.from_rnn(rnn), then "
            "torchrate.analysis.low_rank_approximation(net, rank)"
        )


# --------------------------------------------------------------------------- Ensemble
def _same_nonlinearity(a: Nonlinearity, b: Nonlinearity) -> bool:
    """Whether two members' F are one function: the same named F, the same callable object, or
    (members copied with ``copy.deepcopy``) ``nn.Module`` callables of one class and equal state."""
    if a == b:  # a frozen dataclass: equal names and the very same functions
        return True
    fa, fb = a.fn, b.fn
    if (
        not (isinstance(fa, nn.Module) and isinstance(fb, nn.Module))
        or type(fa) is not type(fb)
        or a.name != b.name
        or repr(fa) != repr(fb)
    ):
        return False
    sa, sb = fa.state_dict(), fb.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _describe_F(F: Nonlinearity) -> str:
    return repr(F.name) if NONLINEARITIES.get(F.name) is F else f"{F.name!r} ({F.fn!r})"


class _LayerZeroWeights(nn.Module):
    """A network's layer-0 weights after their constraints as a forward, for ``functional_call``:
    ``"M"``, ``"tau"``, and where present ``"W"`` and ``"b"``."""

    def __init__(self, net: RateRNN) -> None:
        super().__init__()
        self.net = net

    def forward(self) -> dict[str, Tensor]:
        net = self.net
        out = {"M": net.weight_hh_l0, "tau": net.tau}
        if net.weight_ih_l0 is not None:
            out["W"] = net.weight_ih_l0
        if net.bias_l0 is not None:
            out["b"] = net.bias_l0
        return out


class Ensemble(nn.Module):
    r"""K networks of the same shape run as one batched computation (``vmap`` over stacked weights).

    Member k's parameters and buffers are the k-th slices of stacked tensors (K, …) held by
    the ensemble, so one optimiser steps all K, and a loss that is a sum of member losses gives
    each member exactly its own gradient. The forward pass is ``torch.func.vmap`` of the
    members' own forward over those slices (``functional_call``): every operation runs once,
    batched over K — no Python loop over members. Called as ``output, h_n = ens(input, hx=None)``
    (:meth:`forward`).

    Noise: member k draws its noise from its own generator, exactly the draws its own forward
    would make, so ``ens(u)[0][k]`` equals ``ens[k](u)[0]`` also with ``noise_std > 0``.

    Parameters
    ----------
    nets : sequence of RateRNN
        K ≥ 1 networks of one class and one configuration (sizes, τ, dt, F, solver, noise)
        — different weights, masks or seeds. A callable F must be one object shared by the
        members (or an ``nn.Module`` of equal state), not merely of one name. Copied: later
        changes to ``nets`` do not reach the ensemble. Each member's ``generator`` is kept for
        its private noise.

    Examples
    --------
    >>> nets = [RateRNN(3, 16, generator=torch.Generator().manual_seed(k)) for k in range(4)]
    >>> ens = Ensemble(nets)
    >>> rates, h_n = ens(torch.randn(20, 8, 3))
    >>> rates.shape, h_n.shape, ens[2].hidden_size
    (torch.Size([4, 20, 8, 16]), torch.Size([4, 1, 8, 16]), 16)
    """

    def __init__(self, nets: Iterable[RateRNN]) -> None:
        super().__init__()
        if isinstance(nets, (str, bytes)) or not hasattr(nets, "__iter__"):
            raise TypeError(
                "nets must be a non-empty sequence of torchrate networks (RateRNN, EIRateRNN, "
                f"LowRankRateRNN), got {_validate._show(nets)}"
            )
        nets = list(nets)
        if not nets or not all(isinstance(n, RateRNN) for n in nets):
            raise TypeError(
                "nets must be a non-empty sequence of torchrate networks (RateRNN, EIRateRNN, "
                f"LowRankRateRNN), got {[type(n).__name__ for n in nets] or 'nothing'}"
            )
        first = nets[0]
        for k, net in enumerate(nets[1:], 1):
            self._check_same(first, net, k)
        if first.dropout > 0:
            raise ValueError(f"Ensemble runs networks without dropout between layers; got dropout={first.dropout:g}")
        if first.solver != "euler":
            raise ValueError(
                f"Ensemble needs solver='euler', got {first.solver!r}: adaptive ODE solvers choose "
                "their steps per member (data-dependent control flow), which cannot be batched"
            )
        # stacked copies (K, …) under the members' names (torch.func.stack_module_state wants one
        # class, and each parametrized module has a class of its own)
        each = [(dict(n.named_parameters()), dict(n.named_buffers())) for n in nets]
        params = {
            name: torch.stack([p[name].detach() for p, _ in each]).requires_grad_(t.requires_grad)
            for name, t in each[0][0].items()
        }
        buffers = {name: torch.stack([b[name] for _, b in each]) for name in each[0][1]}
        # nn.Module names cannot hold '.': stacked tensors are registered under '__'-joined names
        self._param_names = {name: name.replace(".", "__") for name in params}
        self._buffer_names = {name: name.replace(".", "__") for name in buffers}
        for name, flat in self._param_names.items():
            self.register_parameter(flat, nn.Parameter(params[name], requires_grad=params[name].requires_grad))
        for name, flat in self._buffer_names.items():
            self.register_buffer(flat, buffers[name])
        template = copy.deepcopy(first)
        template.generator = None
        self._template = [template]  # in a list: its own tensors are placeholders, not the ensemble's
        self.generators = [net.generator for net in nets]

    @staticmethod
    def _check_same(first: RateRNN, net: RateRNN, k: int) -> None:
        cls = parametrize.type_before_parametrizations  # parametrized modules get a class of their own

        if cls(net) is not cls(first):
            raise TypeError(f"every member must be a {cls(first).__name__}; member {k} is a {cls(net).__name__}")
        keys = (
            "input_size",
            "hidden_size",
            "num_layers",
            "bidirectional",
            "batch_first",
            "dt",
            "noise_std",
            "solver",
            "rtol",
            "atol",
            "adjoint",
            "dropout",
            "rank",
            # an EIRateRNN's populations: a member is rebuilt from member 0's structure (ens[k])
            "n_exc",
            "n_inh",
        )
        for key in keys:
            if getattr(net, key, None) != getattr(first, key, None):
                raise ValueError(
                    f"member {k} has {key}={getattr(net, key)!r} but member 0 has "
                    f"{getattr(first, key)!r}: an ensemble's members share their configuration"
                )
        if not _same_nonlinearity(net.F, first.F):
            raise ValueError(
                f"member {k} has nonlinearity {_describe_F(net.F)} but member 0 has "
                f"{_describe_F(first.F)}: an ensemble runs one F for all members (names are not "
                "enough for callables); pass the same callable object to every member"
            )
        a = {n: (t.shape, t.dtype, t.device) for n, t in (*first.named_parameters(), *first.named_buffers())}
        b = {n: (t.shape, t.dtype, t.device) for n, t in (*net.named_parameters(), *net.named_buffers())}
        if a != b:
            diff = sorted(n for n in set(a) | set(b) if a.get(n) != b.get(n))
            raise ValueError(f"member {k}'s parameters differ from member 0's in shape, dtype or device: {diff}")

    # ------------------------------------------------------------------ members
    def __len__(self) -> int:
        return len(self.generators)

    @property
    def template(self) -> RateRNN:
        """The members' common structure (its own weights are member 0's at construction)."""
        return self._template[0]

    def __getattr__(self, name: str) -> Any:  # the template's structure (input_size, …): any type
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name in (
                "input_size",
                "hidden_size",
                "num_layers",
                "bidirectional",
                "batch_first",
                "dt",
                "noise_std",
                "solver",
                "F",
                "rank",
                "dropout",
            ):
                return getattr(self._template[0], name)
            raise

    def stacked(self) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """The stacked parameters and buffers (K, …), under the members' own names."""
        return (
            {name: getattr(self, flat) for name, flat in self._param_names.items()},
            {name: getattr(self, flat) for name, flat in self._buffer_names.items()},
        )

    def __getitem__(self, k: int) -> RateRNN:
        """Member ``k`` as an ordinary network: a copy with its weights, buffers and generator."""
        K = len(self)
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not -K <= k < K:
            raise IndexError(f"member index must be an int in [-{K}, {K}), got {k!r}")
        params, buffers = self.stacked()
        net = copy.deepcopy(self.template)
        ref = next(iter(params.values()))
        # the ensemble's device and dtype (after ens.to(...), .float(), .double()): the template
        # keeps those of construction, and copy_ would cast the member's weights back to them
        net.to(device=ref.device, dtype=ref.dtype)
        with torch.no_grad():
            for name, t in net.named_parameters():
                t.copy_(params[name][k])
            for name in dict(net.named_buffers()):
                owner, _, attr = name.rpartition(".")
                setattr(net.get_submodule(owner), attr, buffers[name][k].clone())  # buffers may be views
        net.generator = self.generators[k]
        return net

    def members(self) -> list[RateRNN]:
        """Every member as an ordinary network (copies)."""
        return [self[k] for k in range(len(self))]

    def extra_repr(self) -> str:
        net = self.template
        name = parametrize.type_before_parametrizations(net).__name__
        return f"{len(self)} × {name}({net.extra_repr()})"

    # ------------------------------------------------------------------ forward
    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Run every member over a sequence: ``output, h_n = ens(input, hx)``.

        Parameters
        ----------
        input : Tensor
            (T, B, I) shared by all members, or (K, T, B, I) one per member (``batch_first``:
            (B, T, I) / (K, B, T, I)).
        hx : Tensor, optional
            (K, L·D, B, N): each member's initial rates; zeros if ``None``.

        Returns
        -------
        output : Tensor
            (K, T, B, D·N): each member's rates.
        h_n : Tensor
            (K, L·D, B, N).
        """
        K, net = len(self), self.template
        if not isinstance(input, Tensor):
            raise TypeError(f"input must be a Tensor (T, B, I) or (K, T, B, I), got {type(input).__name__}")
        if input.ndim == 4:
            if input.shape[0] != K:
                raise ValueError(
                    f"per-member input must have shape (K, T, B, I) with K = {K}, got {tuple(input.shape)}"
                )
            u_dim = 0
        elif input.ndim == 3:
            u_dim = None
        else:
            raise ValueError(
                f"input must be (T, B, I) shared by the members or (K, T, B, I) one per member, "
                f"got shape {tuple(input.shape)}"
            )
        if input.shape[-1] != net.input_size:
            raise ValueError(
                f"input.size(-1) must be equal to input_size. Expected {net.input_size}, got {input.shape[-1]}"
            )
        ref = next(iter(self.stacked()[0].values()))
        autocast = torch.is_autocast_enabled(input.device.type) and input.dtype == torch.get_autocast_dtype(
            input.device.type
        )
        if input.dtype != ref.dtype and not autocast:
            raise TypeError(
                f"input dtype {input.dtype} does not match the ensemble's {ref.dtype}; "
                f"use ensemble.to({input.dtype}) or input.to({ref.dtype})"
            )
        if input.device != ref.device:
            raise ValueError(f"input is on {input.device} but the ensemble is on {ref.device}")
        if hx is not None:
            B = input.shape[-3] if net.batch_first else input.shape[-2]
            expected = (K, net.num_layers * len(net._directions), B, net.hidden_size)
            _check_state(hx, expected, "(K, L·D, B, N)", ref, input.dtype, "ensemble")
        params, buffers = self.stacked()
        etas = self._noise(input if u_dim is None else input[0]) if net.noise_std > 0 else None
        if self._fusable(input):  # with a number per member that is finite where its rates are
            rates, h_n, sums = self._fused(params, buffers, input, hx, etas)
        else:
            rates, h_n = self._vmapped(params, buffers, input, u_dim, hx, etas)
            sums = None
        if net.check_finite and not torch.compiler.is_compiling() and not transforms_active():
            finite = torch.isfinite(rates.detach().flatten(1).sum(1) if sums is None else sums)
            if not bool(finite.all()):
                bad = (~finite).nonzero()[:, 0].tolist()
                raise NonFiniteRatesError(
                    f"rates of member(s) {bad} became non-finite; run ensemble[{bad[0]}] alone for the step and a hint"
                )
        return rates, h_n

    def _fusable(self, u: Tensor) -> bool:
        """One Euler layer of RateRNN's own rollout with a named F, outside transforms/compile/autocast."""
        net = self.template
        return (
            net.solver == "euler"
            and net.num_layers == 1
            and not net.bidirectional
            and type(net)._run_layer is RateRNN._run_layer
            and net.F.derivative_from_output is not None
            and not transforms_active()
            and not torch.compiler.is_compiling()
            and not torch.is_autocast_enabled(u.device.type)
        )

    def _fused(
        self,
        params: dict[str, Tensor],
        buffers: dict[str, Tensor],
        u: Tensor,
        hx: Tensor | None,
        etas: Tensor | None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Every member's weights formed at once (vmap over the parametrizations), then one
        batched Euler loop (:func:`torchrate._rollout.euler_rollout_input` with a leading member
        dimension, member-major: (K, T, B, N) out, no transpose)."""
        net = self.template
        w = self.effective_weights(params, buffers)
        M, K, N = w["M"], len(self), net.hidden_size
        if net.batch_first:
            u = u.transpose(-3, -2)
        T, B = u.shape[-3:-1]
        if hx is not None:
            hx = hx.to(M.dtype)
        v0 = hx[:, 0] if hx is not None else M.new_zeros(K, B, N)
        a = (net.dt / w["tau"]).reshape(K, 1, -1)  # (K, 1, 1) or (K, 1, N)
        eta = None
        if etas is not None:
            eta = etas[:, 0] * (net.noise_std * torch.sqrt(2 * a)).unsqueeze(1)
        # X = W u + b is formed inside, a block of steps at a time; u (T, B, I) shared or (K, T, B, I)
        rates, sums = euler_rollout_input(u, w.get("W"), w.get("b"), v0, M, a, net.F, eta, with_sums=True)
        h_n = (rates[:, -1] if T else v0).unsqueeze(1).clone()
        return (rates.transpose(1, 2) if net.batch_first else rates), h_n, sums

    def effective_weights(
        self, params: dict[str, Tensor] | None = None, buffers: dict[str, Tensor] | None = None
    ) -> dict[str, Tensor]:
        """Every member's layer-0 weights after their constraints, stacked: ``"M"`` (K, N, N),
        ``"tau"`` (K,) or (K, N), and where present ``"W"`` (K, N, I) and ``"b"`` (K, N)."""
        from torch.func import functional_call, vmap

        layer = _LayerZeroWeights(self.template)
        if params is None and buffers is None:
            params, buffers = self.stacked()
        if params is None or buffers is None:
            raise TypeError(
                "effective_weights needs both params and buffers (as Ensemble.stacked() returns them), or neither"
            )
        stored = self._stored_weights(params, buffers)
        if stored is not None:
            return stored

        def weights(p: dict[str, Tensor], b: dict[str, Tensor]) -> dict[str, Tensor]:
            # the template's tensors named as the wrapper's ("net." + name)
            return functional_call(layer, {f"net.{k}": v for k, v in {**p, **b}.items()}, ())

        return vmap(weights)(params, buffers)

    def _stored_weights(self, params: dict[str, Tensor], buffers: dict[str, Tensor]) -> dict[str, Tensor] | None:
        """:meth:`effective_weights` without vmap where the members compute none of their layer-0
        weights (no parametrizations, each a registered parameter or buffer, or None): the
        stacked tensors themselves, which is what vmap of ``_LayerZeroWeights`` returns; None
        otherwise. vmap and ``functional_call`` cost ~0.2 ms a call (K = 32, N = 64)."""
        net = self.template
        if parametrize.is_parametrized(net):
            return None
        out = {}
        for key, name in (("M", "weight_hh_l0"), ("tau", "tau"), ("W", "weight_ih_l0"), ("b", "bias_l0")):
            if hasattr(type(net), name):  # a property or other computed attribute
                return None
            if name in net._parameters or name in net._buffers:
                stored = net._parameters[name] if name in net._parameters else net._buffers[name]
                if stored is not None:
                    out[key] = params[name] if name in params else buffers[name]
            elif key in ("M", "tau") or net.__dict__.get(name, 0) is not None:
                return None
        return out

    def _vmapped(
        self,
        params: dict[str, Tensor],
        buffers: dict[str, Tensor],
        input: Tensor,
        u_dim: int | None,
        hx: Tensor | None,
        etas: Tensor | None,
    ) -> tuple[Tensor, Tensor]:
        """vmap of the members' own forward over their stacked weights (any network, solver, layers)."""
        from torch.func import functional_call, vmap

        net = self.template

        def member(
            p: dict[str, Tensor], b: dict[str, Tensor], u: Tensor, h: Tensor | None, eta: Tensor | None
        ) -> tuple[Tensor, Tensor]:
            if eta is not None:  # this member's pre-drawn noise, consumed in the network's draw order
                queue = list(eta.unbind(0))
                net._randn = lambda like: queue.pop(0)  # type: ignore[method-assign]  # for this call only, popped below
            try:
                return functional_call(net, (p, b), (u, h))
            finally:
                net.__dict__.pop("_randn", None)

        return vmap(
            member, in_dims=(0, 0, u_dim, None if hx is None else 0, None if etas is None else 0), randomness="error"
        )(params, buffers, input, hx, etas)

    def _noise(self, u: Tensor) -> Tensor:
        """(K, L·D, T, B, N): each member's noise draws of one forward, from its own generator."""
        net, ref = self.template, next(iter(self.stacked()[0].values()))
        T, B = (u.shape[1], u.shape[0]) if net.batch_first else u.shape[:2]
        shape = (net.num_layers * len(net._directions), T, B, net.hidden_size)
        out = []
        for g in self.generators:
            if g is None:
                out.append(torch.randn(shape, dtype=ref.dtype, device=ref.device))
            else:
                out.append(
                    torch.stack(
                        [torch.randn(shape[1:], generator=g, dtype=ref.dtype, device=g.device) for _ in range(shape[0])]
                    ).to(ref.device)
                )
        return torch.stack(out)
