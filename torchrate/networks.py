r"""Firing-rate recurrent networks as ``nn.Module``: :class:`RateRNN` and :class:`EIRateRNN`.

.. math::
    \tau \frac{dv}{dt} = -v + F(W u + M v + b)

The state is the vector of firing rates ``v``, ``F`` sits inside. Models that put ``F`` on
the state (PsychRNN, pycog: ``τ dx/dt = −x + M F(x) + W u + b``, rates ``r = F(x)``) are the
same network in another coordinate: with invertible ``M``, ``x = M v + W u + b`` maps one
onto the other for constant input, and both have the same fixed points ``v* = F(x*)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from . import dynamics
from .nonlinearities import Nonlinearity, nonlinearity
from .solvers import ADAPTIVE_METHODS, FIXED_GRID_METHODS, euler_rollout, ode_rollout

__all__ = ["RateRNN", "EIRateRNN", "NonFiniteRatesError"]

_ODE_METHODS = ADAPTIVE_METHODS | FIXED_GRID_METHODS


class NonFiniteRatesError(FloatingPointError):
    """Rates became NaN or infinite during a rollout."""


def _all_finite(x: Tensor) -> bool:
    """No NaN or Inf in ``x``, with one host sync: a NaN or Inf anywhere makes the sum non-finite
    (one reduction, ~20× cheaper than ``isfinite(x).all()``); only a sum that overflows is
    checked elementwise."""
    x = x.detach()
    return bool(torch.isfinite(x.sum())) or bool(torch.isfinite(x).all())


def _spectral_radius_init(n: int, gain: float, generator=None, **factory) -> Tensor:
    """Gaussian N×N matrix rescaled so its spectral radius is exactly ``gain``."""
    R = torch.randn(n, n, generator=generator, dtype=torch.float64)
    radius = torch.linalg.eigvals(R).abs().max()
    return (R * (gain / radius)).to(**factory)


class RateRNN(nn.Module):
    r"""Firing-rate RNN, τ dv/dt = −v + F(W u + M v + b), as an Euler cell or an ODE.

    .. math::
        v_{t+1} = v_t + \frac{dt}{\tau}\left(-v_t + F(W u_t + M v_t + b)\right)
        \;[+\; \sigma\sqrt{2\,dt/\tau}\;\xi_t]

    with ``solver="euler"``; with a ``torchdiffeq`` method the ODE is solved with ``u_t``
    held constant on ``[t·dt, (t+1)·dt)``. Time is in ms.

    Parameters
    ----------
    input_size : int
        I, features of ``u``.
    hidden_size : int
        N, number of neurons.
    tau : float or Tensor of shape (N,)
        Time constant(s) in ms.
    dt : float
        Step in ms.
    nonlinearity : str or callable
        ``"linear"``, ``"relu"``, ``"tanh"``, ``"sigmoid"``, ``"softplus"``, ``"clip"``,
        ``"step"`` or any callable Tensor → Tensor.
    bias : bool
        Learn a bias ``b``.
    noise_std : float
        σ of the private noise; per step the rates get ``σ·sqrt(2·dt/τ)·ξ``, ξ ~ N(0, 1).
        Euler only.
    batch_first : bool
        Input (B, T, I) and rates (B, T, N) instead of (T, B, ·).
    solver : str
        ``"euler"`` or a torchdiffeq method (``"dopri5"``, ``"rk4"``, …).
    rtol, atol : float
        Tolerances of adaptive ODE methods.
    adjoint : bool
        Back-propagate through the ODE with ``torchdiffeq.odeint_adjoint``.
    ode_options : dict, optional
        Extra ``options`` for ``torchdiffeq.odeint`` (e.g. ``{"step_size": 0.1}`` for rk4).
    gain : float
        Spectral radius of the initial ``M`` (Gaussian, rescaled exactly). Near 1 the
        network has slow modes; above 1 a tanh network is chaotic at initialisation.
    train_tau : bool
        Learn τ (parametrised as log τ so it stays positive).
    generator : torch.Generator, optional
        CPU generator for the initial weights (reproducible initialisation).
    device, dtype
        Factory arguments, as in ``torch.nn``.

    Inputs: ``input, v0``
        * **input** (T, B, I), (B, T, I) with ``batch_first``, or unbatched (T, I).
        * **v0** (B, N) or (N,), the initial rates; zeros if ``None``.

    Outputs: ``rates, v_last``
        * **rates** (T, B, N): v at t = dt, 2dt, …, T·dt.
        * **v_last** (B, N): the rates at T·dt.

    Examples
    --------
    >>> net = RateRNN(3, 64, tau=10.0, dt=1.0)
    >>> rates, v_last = net(torch.randn(100, 8, 3))
    >>> rates.shape
    torch.Size([100, 8, 64])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        tau: float | Tensor = 10.0,
        dt: float = 1.0,
        nonlinearity: str | Callable[[Tensor], Tensor] = "tanh",
        bias: bool = True,
        noise_std: float = 0.0,
        batch_first: bool = False,
        solver: str = "euler",
        rtol: float = 1e-6,
        atol: float = 1e-8,
        adjoint: bool = False,
        ode_options: dict | None = None,
        gain: float = 0.9,
        train_tau: bool = False,
        generator: torch.Generator | None = None,
        device=None,
        dtype=None,
    ):
        super().__init__()
        factory = {"device": device, "dtype": dtype or torch.get_default_dtype()}
        self._configure(input_size, hidden_size, nonlinearity, dt, noise_std, batch_first,
                        solver, rtol, atol, adjoint, ode_options)
        self.weight_hh = nn.Parameter(_spectral_radius_init(hidden_size, gain, generator, **factory))
        # drawn on the CPU (where the generator lives), then moved: the same weights on any device
        W = torch.randn(hidden_size, input_size, generator=generator, dtype=factory["dtype"])
        self.weight_ih = nn.Parameter((W / math.sqrt(input_size)).to(factory["device"]))
        self.bias = nn.Parameter(torch.zeros(hidden_size, **factory)) if bias else None
        self._set_tau(tau, train_tau, **factory)

    # ------------------------------------------------------------------ construction
    def _configure(self, input_size, hidden_size, nonlinearity_, dt, noise_std, batch_first,
                   solver, rtol, atol, adjoint, ode_options=None):
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not dt > 0:
            raise ValueError(f"dt must be positive (ms), got {dt}")
        if noise_std < 0:
            raise ValueError(f"noise_std must be ≥ 0, got {noise_std}")
        if solver != "euler" and solver not in _ODE_METHODS:
            raise ValueError(
                f"unknown solver {solver!r}; use 'euler' or a torchdiffeq method: {sorted(_ODE_METHODS)}"
            )
        if noise_std > 0 and solver != "euler":
            raise ValueError(
                f"noise_std={noise_std} needs solver='euler' (Euler–Maruyama); the ODE solver "
                f"{solver!r} integrates deterministic dynamics. Set noise_std=0 or solver='euler'"
            )
        if adjoint and solver == "euler":
            raise ValueError("adjoint=True applies to torchdiffeq solvers; the Euler path has its own fast backward")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.F: Nonlinearity = nonlinearity(nonlinearity_)
        self.dt, self.noise_std, self.batch_first = float(dt), float(noise_std), batch_first
        self.solver, self.rtol, self.atol, self.adjoint = solver, rtol, atol, adjoint
        self.ode_options = dict(ode_options or {})

    def _set_tau(self, tau, train_tau: bool, **factory):
        tau = torch.as_tensor(tau, **factory).clone()
        if tau.ndim not in (0, 1) or (tau.ndim == 1 and tau.shape[0] != self.hidden_size):
            raise ValueError(f"tau must be a scalar or of shape ({self.hidden_size},), got shape {tuple(tau.shape)}")
        if not (tau > 0).all():
            raise ValueError(f"tau must be positive (ms), got {tau}")
        if train_tau:
            self.log_tau = nn.Parameter(tau.log())
        else:
            self.register_buffer("_tau", tau)

    @classmethod
    def from_weights(cls, M: Tensor, W: Tensor | None = None, b: Tensor | None = None, *,
                     tau: float | Tensor, dt: float, nonlinearity="linear", **kwargs) -> RateRNN:
        """A hand-built network with recurrent weights ``M`` (N, N), input weights ``W`` (N, I)
        and bias ``b`` (N,). ``W=None`` means identity input: ``input_size = N`` and ``u`` is ``h``.

        Tensors are copied into parameters of ``M``'s dtype and device.

        Examples
        --------
        >>> autapse = RateRNN.from_weights(torch.diag(torch.tensor([0.5, -1.0])), tau=10.0, dt=0.1)
        """
        M = torch.as_tensor(M)
        if not M.is_floating_point():
            M = M.to(torch.get_default_dtype())
        N = M.shape[0]
        if M.shape != (N, N):
            raise ValueError(f"M must be square (N, N), got shape {tuple(M.shape)}")
        factory = {"dtype": M.dtype, "device": M.device}
        W = None if W is None else torch.as_tensor(W, **factory)
        if W is not None and (W.ndim != 2 or W.shape[0] != N):
            raise ValueError(f"W must have shape ({N}, input_size), got {tuple(W.shape)}")
        net = cls.__new__(cls)
        nn.Module.__init__(net)
        net._configure(N if W is None else W.shape[1], N, nonlinearity, dt,
                       kwargs.pop("noise_std", 0.0), kwargs.pop("batch_first", False),
                       kwargs.pop("solver", "euler"), kwargs.pop("rtol", 1e-6),
                       kwargs.pop("atol", 1e-8), kwargs.pop("adjoint", False),
                       kwargs.pop("ode_options", None))
        train_tau = kwargs.pop("train_tau", False)
        if kwargs:
            raise TypeError(f"from_weights got unexpected arguments {sorted(kwargs)}")
        net.weight_hh = nn.Parameter(M.clone())
        net.weight_ih = None if W is None else nn.Parameter(W.clone())
        net.bias = None if b is None else nn.Parameter(torch.as_tensor(b, **factory).clone().reshape(N))
        net._set_tau(tau, train_tau, **factory)
        return net

    # ------------------------------------------------------------------ parameters
    @property
    def M(self) -> Tensor:
        """Effective recurrent weights (N, N); ``M[i, j]`` is the weight from ``j`` to ``i``."""
        return self.weight_hh

    @property
    def W(self) -> Tensor:
        """Input weights (N, I); the identity for ``from_weights(..., W=None)``."""
        if self.weight_ih is None:
            return torch.eye(self.hidden_size, dtype=self.M.dtype, device=self.M.device)
        return self.weight_ih

    @property
    def b(self) -> Tensor | None:
        """Bias (N,) or None."""
        return self.bias

    @property
    def tau(self) -> Tensor:
        """Time constant(s) in ms, shape () or (N,)."""
        return self.log_tau.exp() if hasattr(self, "log_tau") else self._tau

    @property
    def nonlinearity(self) -> Nonlinearity:
        return self.F

    def extra_repr(self) -> str:
        tau = self.tau
        tau_s = f"{tau.item():g}" if tau.ndim == 0 else f"({tau.numel()},)"
        s = (f"{self.input_size}, {self.hidden_size}, tau={tau_s}, dt={self.dt:g}, "
             f"nonlinearity={self.F.name!r}, solver={self.solver!r}")
        return s + (f", noise_std={self.noise_std:g}" if self.noise_std else "")

    # ------------------------------------------------------------------ dynamics
    def project_input(self, u: Tensor) -> Tensor:
        """h = W u, shape (*, N)."""
        return u if self.weight_ih is None else u @ self.W.T

    def vector_field(self, v: Tensor, h: Tensor) -> Tensor:
        """dv/dt = (−v + F(h + Mv + b))/τ for rates ``v`` and projected input ``h`` (*, N)."""
        return dynamics.vector_field(v, h, self.M, self.b, self.tau, self.F)

    def step(self, v: Tensor, u: Tensor) -> Tensor:
        """One Euler step from rates ``v`` (B, N) with input ``u`` (B, I): the cell."""
        return v + self.dt * self.vector_field(v, self.project_input(u))

    # ------------------------------------------------------------------ forward
    def _check_input(self, u: Tensor, v0: Tensor | None) -> tuple[Tensor, Tensor | None, bool]:
        ref = self.M
        if not isinstance(u, Tensor):
            raise TypeError(f"input must be a Tensor, got {type(u).__name__}")
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
        if u.dtype != ref.dtype:
            raise TypeError(f"input dtype {u.dtype} does not match the network's {ref.dtype}; "
                            f"use net.to({u.dtype}) or input.to({ref.dtype})")
        if u.device != ref.device:
            raise ValueError(f"input is on {u.device} but the network is on {ref.device}")
        if not _all_finite(u):
            raise ValueError("input contains NaN or Inf")
        batched = u.ndim == 3
        if not batched:
            u = u.unsqueeze(1)
        elif self.batch_first:
            u = u.transpose(0, 1)
        if v0 is not None:
            expected = (u.shape[1], self.hidden_size) if batched else (self.hidden_size,)
            if tuple(v0.shape) != expected:
                raise ValueError(f"v0 must have shape {expected}, got {tuple(v0.shape)}")
            if v0.dtype != ref.dtype or v0.device != ref.device:
                raise TypeError(f"v0 must be {ref.dtype} on {ref.device}, got {v0.dtype} on {v0.device}")
            v0 = v0 if batched else v0.unsqueeze(0)
        return u, v0, batched

    def forward(self, input: Tensor, v0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        u, v0, batched = self._check_input(input, v0)
        T, B = u.shape[:2]
        M, tau = self.M, self.tau
        if v0 is None:
            v0 = u.new_zeros(B, self.hidden_size)
        if self.solver == "euler":
            # W u_t + b for all steps in one matmul
            if self.weight_ih is None:
                X = u if self.bias is None else u + self.bias
            elif self.bias is None:
                X = u @ self.W.T
            else:
                X = torch.addmm(self.bias, u.reshape(T * B, -1), self.W.T).reshape(T, B, -1)
            a = (self.dt / tau).expand(self.hidden_size) if tau.ndim else self.dt / tau
            eta = None
            if self.noise_std > 0:
                eta = torch.randn_like(X) * (self.noise_std * torch.sqrt(2 * a))
            rates = euler_rollout(X, v0, M, a, self.F, eta)
        else:
            params = tuple(p for p in self.parameters() if p.requires_grad)
            rates = ode_rollout(lambda v, u_k: self.vector_field(v, self.project_input(u_k)), u, v0,
                                self.dt, method=self.solver, rtol=self.rtol, atol=self.atol,
                                adjoint=self.adjoint, adjoint_params=params, options=self.ode_options)
        self._check_finite(rates)
        if not batched:
            rates = rates.squeeze(1)
        elif self.batch_first:
            rates = rates.transpose(0, 1)
        return rates, (rates[-1] if not self.batch_first or not batched else rates[:, -1])

    def _check_finite(self, rates: Tensor) -> None:
        if _all_finite(rates):
            return
        finite = torch.isfinite(rates.detach()).flatten(1).all(1)  # (T,)
        step = int((~finite).nonzero()[0]) + 1
        eig = torch.linalg.eigvals(self.M.detach().double().cpu())
        top = eig.real.max().item()
        # the Euler map multiplies mode λ by 1 + (dt/τ)(λ − 1) per step (linear regime)
        euler_factor = (1 + (self.dt / self.tau.detach().double().cpu().min()) * (eig - 1)).abs().max().item()
        hint = f"the largest real part of M's spectrum is {top:.4g}"
        if top > 1:
            hint += (" > 1: linear dynamics grow like exp((Re λ − 1)·t/τ); reduce the recurrent gain or use"
                     " a saturating nonlinearity")
        elif self.solver == "euler" and euler_factor > 1:
            hint += (f", but the Euler step amplifies a mode by {euler_factor:.3g} per step: dt/τ is too"
                     " large for this spectrum, reduce dt")
        elif top > 1 - 1e-9:
            hint += ": a λ = 1 mode integrates its input without decay, so a long or large input grows"
            hint += " without bound"
        else:
            hint += ": the dynamics are stable, so the inputs, weights or bias exceed the floating-point range"
        raise NonFiniteRatesError(
            f"rates became non-finite at step {step} (t = {step * self.dt:g} ms); {hint}"
        )


def _refuse_shared_tau(kwargs: dict) -> None:
    if "tau" in kwargs:
        raise TypeError("EIRateRNN has one time constant per population: pass tau_e and tau_i (ms), not tau")


class EIRateRNN(RateRNN):
    r"""Excitatory–inhibitory rate RNN obeying Dale's law, with per-population τ.

    Neurons ``0 … n_exc−1`` are excitatory, the next ``n_inh`` inhibitory. Dale's law is a
    parametrisation: ``M = |R| · S`` with ``S[:, j] = +1`` for E and ``−1`` for I, so column
    ``j`` (the outgoing weights of neuron ``j``) is ≥ 0 for E and ≤ 0 for I after any
    optimiser step. τ is ``tau_e`` for E neurons and ``tau_i`` for I neurons.

    Parameters
    ----------
    input_size : int
    n_exc, n_inh : int
        Population sizes; N = n_exc + n_inh.
    tau_e, tau_i : float
        Time constants (ms) of E and I neurons.
    input_mask : "exc", "all" or bool Tensor (N,)
        Which neurons receive input (default: all).
    **kwargs
        As :class:`RateRNN` (``dt``, ``nonlinearity="relu"``, ``gain``, ``noise_std``, …).
        At initialisation the inhibitory weights are scaled by n_exc/n_inh so that the mean
        input to each neuron is balanced, then ``M`` is rescaled to spectral radius ``gain``.
    """

    def __init__(self, input_size: int, n_exc: int, n_inh: int, *, tau_e: float = 10.0,
                 tau_i: float = 10.0, nonlinearity="relu", input_mask="all",
                 train_tau: bool = False, gain: float = 0.9, generator=None, device=None,
                 dtype=None, **kwargs):
        if n_exc < 0 or n_inh < 0 or n_exc + n_inh < 1:
            raise ValueError(f"n_exc and n_inh must be ≥ 0 with at least one neuron, got {n_exc}, {n_inh}")
        _refuse_shared_tau(kwargs)
        super().__init__(input_size, n_exc + n_inh, nonlinearity=nonlinearity, gain=gain,
                         generator=generator, device=device, dtype=dtype, **kwargs)
        factory = {"device": self.weight_hh.device, "dtype": self.weight_hh.dtype}
        self._set_populations(n_exc, n_inh, input_mask, **factory)
        raw = torch.randn(self.hidden_size, self.hidden_size, generator=generator,
                          dtype=torch.float64).abs()
        raw[:, n_exc:] *= n_exc / max(n_inh, 1)
        M = raw * self.sign.double().cpu()
        radius = torch.linalg.eigvals(M).abs().max()
        with torch.no_grad():
            self.weight_hh.copy_((raw * (gain / radius)).to(**factory))
        self._set_ei_tau(tau_e, tau_i, train_tau, **factory)

    def _set_populations(self, n_exc, n_inh, input_mask, **factory):
        self.n_exc, self.n_inh = n_exc, n_inh
        N = n_exc + n_inh
        sign = torch.ones(N, **factory)
        sign[n_exc:] = -1
        self.register_buffer("sign", sign)  # sign of each neuron's outgoing weights
        if isinstance(input_mask, str):
            if input_mask not in ("all", "exc"):
                raise ValueError(f"input_mask must be 'all', 'exc' or a bool tensor ({N},), got {input_mask!r}")
            input_mask = sign > 0 if input_mask == "exc" else torch.ones(N, dtype=torch.bool, device=sign.device)
        input_mask = torch.as_tensor(input_mask, device=sign.device)
        if input_mask.shape != (N,):
            raise ValueError(f"input_mask must have shape ({N},), got {tuple(input_mask.shape)}")
        self.register_buffer("input_mask", input_mask.to(factory["dtype"]))

    def _set_ei_tau(self, tau_e, tau_i, train_tau, **factory):
        for name, value in (("tau_e", tau_e), ("tau_i", tau_i)):
            if not value > 0:
                raise ValueError(f"{name} must be positive (ms), got {value}")
        for attr in ("log_tau", "_tau"):
            if hasattr(self, attr):
                delattr(self, attr)
        populations = torch.tensor([tau_e, tau_i], **factory)
        if train_tau:
            self.log_tau_ei = nn.Parameter(populations.log())
        else:
            self.register_buffer("_tau_ei", populations)
        self.register_buffer("population", (self.sign < 0).long())  # 0 = E, 1 = I

    @property
    def tau(self) -> Tensor:
        """Per-neuron τ (N,): ``tau_e`` for E neurons, ``tau_i`` for I neurons."""
        ei = self.log_tau_ei.exp() if hasattr(self, "log_tau_ei") else self._tau_ei
        return ei[self.population]

    @property
    def M(self) -> Tensor:
        """Dale-constrained recurrent weights ``|R| · sign`` (column j has the sign of neuron j)."""
        return self.weight_hh.abs() * self.sign

    @property
    def W(self) -> Tensor:
        """Input weights (N, I), rows of neurons outside ``input_mask`` zero."""
        return super().W * self.input_mask[:, None]

    def project_input(self, u: Tensor) -> Tensor:
        return u @ self.W.T

    def extra_repr(self) -> str:
        tau = self.tau
        return (f"{self.input_size}, n_exc={self.n_exc}, n_inh={self.n_inh}, "
                f"tau_e={tau[0].item() if self.n_exc else float('nan'):g}, "
                f"tau_i={tau[-1].item() if self.n_inh else float('nan'):g}, dt={self.dt:g}, "
                f"nonlinearity={self.F.name!r}, solver={self.solver!r}")

    @classmethod
    def from_weights(cls, M: Tensor, n_exc: int, *, tau_e: float, tau_i: float,
                     b: Tensor | None = None, W: Tensor | None = None, dt: float,
                     nonlinearity="relu", input_mask="all", **kwargs) -> EIRateRNN:
        """A hand-built E–I network; ``M`` must obey Dale's law for E neurons ``0…n_exc−1``.

        Raises
        ------
        ValueError
            Naming the first entry ``M[i, j]`` whose sign breaks Dale's law.
        """
        _refuse_shared_tau(kwargs)
        M = torch.as_tensor(M)
        if not M.is_floating_point():
            M = M.to(torch.get_default_dtype())
        N = M.shape[0]
        if not 0 <= n_exc <= N:
            raise ValueError(f"n_exc must be in [0, {N}], got {n_exc}")
        sign = torch.ones(N, dtype=M.dtype, device=M.device)
        sign[n_exc:] = -1
        bad = (M * sign) < 0
        if bad.any():
            i, j = (int(k) for k in bad.nonzero()[0])
            kind = "excitatory" if j < n_exc else "inhibitory"
            raise ValueError(
                f"M breaks Dale's law: M[{i}, {j}] = {M[i, j].item():g}, but neuron {j} is {kind} "
                f"(neurons 0..{n_exc - 1} are excitatory), so column {j} must be "
                f"{'≥ 0' if j < n_exc else '≤ 0'}"
            )
        net = super().from_weights(M.abs(), W, b, tau=1.0, dt=dt, nonlinearity=nonlinearity, **{
            k: v for k, v in kwargs.items() if k != "train_tau"})
        factory = {"dtype": M.dtype, "device": M.device}
        if W is None:
            net.weight_ih = nn.Parameter(torch.eye(N, **factory))
        net._set_populations(n_exc, N - n_exc, input_mask, **factory)
        net._set_ei_tau(tau_e, tau_i, kwargs.get("train_tau", False), **factory)
        return net
