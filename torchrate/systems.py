r"""Dynamical systems: the one object every analysis in torchrate consumes.

A recurrent network is analysed as one of two kinds of system, with state ``v`` (B, N) and
input ``u`` (B, I):

* a :class:`Flow`, continuous time: ``dv/dt = f(v, u)``; a fixed point is stable when every
  eigenvalue λ of ∂f/∂v has Re λ < 0;
* a :class:`Map`, discrete time: ``v' = F(v, u)``; a fixed point is stable when every
  eigenvalue μ of ∂F/∂v has |μ| < 1.

Both share their fixed points' equation through the **residual** ``g`` (``f`` for a flow,
``F(v) − v`` for a map) and expose ``__call__``, the Jacobians with respect to the state and
the input (analytic where known, ``torch.func`` otherwise), and :meth:`System.at`, the residual at
one constant input, with ``q = ½‖g‖²`` and its gradient, that the fixed-point finder iterates.

:func:`as_system` turns into a system: every torchrate network (its ``system(time)`` method;
an Euler network is both its ODE and the map it runs at its ``dt``), ``torch.nn.RNN``, ``GRU``,
``LSTM`` (any ``num_layers``) and their cells, a module with ``vector_field(v, h)``, or a system.
A trained ``nn.RNN`` *is* the map ``h ← tanh(W_ih u + b + W_hh h)``: its points are judged with
|μ| < 1, as FixedPointFinder does. For an LSTM the state is ``(h, c)`` concatenated.

Examples
--------
>>> import torch, torchrate as tr
>>> rnn = torch.nn.RNN(1, 1, bias=False)
>>> with torch.no_grad():
...     _ = rnn.weight_hh_l0.fill_(-1.5)
>>> system = tr.systems.as_system(rnn)
>>> system.time, system.state_size, system.input_size
('discrete', 1, 1)
>>> system.jacobian(torch.zeros(1, 1), torch.zeros(1, 1))   # μ = −1.5: unstable (period 2)
tensor([[[-1.5000]]], grad_fn=<...>)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import Tensor, nn
from torch.func import jacrev, jvp, vjp, vmap

from . import _validate
from .dynamics import _jacobian_of_vector_field, _pre_activation, _vector_field
from .nonlinearities import NONLINEARITIES, Nonlinearity

# RateSystem and Residual are built by the networks and by System.at, not by users
__all__ = ["System", "Flow", "Map", "TorchRNNMap", "as_system", "TIMES"]

TIMES = ("continuous", "discrete")


# ============================================================================ the residual at one input
class Residual:
    r"""g(v) at one constant input: ``f(v, u)`` of a flow or ``F(v, u) − v`` of a map.

    What the fixed-point finder and continuation iterate: ``g`` (K, N), ``q = ½‖g‖²`` (K,), its
    gradient ``∇q = (∂g/∂v)ᵀ g`` (K, N) and ``∂g/∂v`` (K, N, N), all without building a graph
    through the system's parameters. This generic version differentiates ``g`` with
    ``torch.func``; :class:`RateSystem` gives the analytic one.

    ``scale`` is the size of g per unit error in v near a fixed point (1/τ_min for a rate flow,
    dt/τ_min for its Euler map, 1 otherwise): default tolerances are rounding errors times it.
    """

    #: whether g and its derivatives are torch arithmetic on the residual's own tensors only (no user
    #: code runs): the fixed-point search may then run them under ``torch.inference_mode``
    pure: bool = False
    #: γ with ‖∂g/∂v(x) − ∂g/∂v(y)‖∞ ≤ γ ‖x − y‖∞ for all states (a 0-dim tensor), where known: the
    #: fixed-point search then knows, around each point found, a ball from which Newton's iteration
    #: converges to it (see ``analysis._search._Basins``). None: not known.
    lipschitz: Tensor | None = None

    def __init__(self, g: Callable[[Tensor], Tensor], scale: float = 1.0) -> None:
        self._g = g
        self.scale = scale

    def g(self, v: Tensor) -> Tensor:
        """g(v) (K, N), differentiable (``torch.func`` transforms apply)."""
        return self._g(v)

    def __call__(self, v: Tensor) -> Tensor:
        with torch.no_grad():
            return self.g(v)

    def q(self, v: Tensor) -> Tensor:
        """q = ½‖g‖², shape (*,)."""
        g = self(v)
        return 0.5 * torch.linalg.vecdot(g, g)

    def grad_q(self, v: Tensor) -> Tensor:
        """∇q = (∂g/∂v)ᵀ g (K, N)."""
        g, pullback = vjp(self.g, v)  # type: ignore[misc]  # the stub's union includes has_aux's 3-tuple
        return pullback(g)[0].detach()

    def jacobian(self, v: Tensor) -> Tensor:
        """∂g/∂v at states ``v`` (K, N) → (K, N, N)."""
        with torch.no_grad():
            return vmap(jacrev(lambda x: self.g(x[None])[0]))(v)

    def linear(self, v: Tensor) -> Callable[[Tensor], Tensor]:
        """z ↦ (∂g/∂v) z at the states ``v`` (K, N), row by row, for directions z (K, N): the
        product with each state's Jacobian without forming it (``torch.func.jvp``)."""
        v = v.detach()

        def product(z: Tensor) -> Tensor:
            with torch.no_grad():
                return jvp(self.g, (v,), (z,))[1]

        return product

    def lowered(self, dtype: torch.dtype) -> Residual | None:
        """The same residual computed in ``dtype`` (for the fixed-point finder's warm-up, which only
        steers), or None where it cannot be rebuilt so (here: a closure over the system)."""
        return None


# ============================================================================ systems
class System:
    r"""Base of :class:`Flow` and :class:`Map`: sizes, dtype/device, Jacobians and the residual.

    Subclasses define ``__call__(v, u)`` (batched: v (B, N), u (B, I)); the Jacobians default
    to ``torch.func`` (exact, differentiable with respect to whatever ``__call__`` reads).

    Attributes
    ----------
    time : {"continuous", "discrete"}
    state_size, input_size : int or None
        N and I (None: taken from the first states and inputs given).
    dtype, device
        Of the system's parameters (None: whatever the states are).
    euler_dt : float or None
        Set when the system is one view of an Euler network, whose map is ``v + dt·f(v)``: the
        flow's eigenvalues λ and the map's μ are then related by μ = 1 + dt·λ, and the analysis
        can say where the two stability verdicts differ.
    """

    time: str = "continuous"

    def __init__(
        self,
        state_size: int | None,
        input_size: int | None,
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        euler_dt: float | None = None,
    ) -> None:
        self.state_size = None if state_size is None else _validate.as_int("state_size", state_size, minimum=1)
        self.input_size = None if input_size is None else _validate.as_int("input_size", input_size, minimum=0)
        self.dtype = _validate.check_dtype("dtype", dtype)
        try:
            self.device = None if device is None else torch.device(device)
        except (RuntimeError, TypeError):
            raise ValueError(
                f"device must be a torch.device or a name like 'cpu' or 'cuda:0', got {device!r}"
            ) from None
        self.euler_dt = (
            None
            if euler_dt is None
            else _validate.check_positive(
                "euler_dt", euler_dt, fix="the Euler step the map runs (v' = v + dt·f), or None"
            )
        )

    # ---------------------------------------------------------------- to be defined
    def __call__(self, v: Tensor, u: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    # ---------------------------------------------------------------- derived
    def residual(self, v: Tensor, u: Tensor) -> Tensor:
        """g(v, u): dv/dt for a flow, F(v, u) − v for a map; zero exactly at fixed points."""
        out = self(v, u)
        return out - v if self.time == "discrete" else out

    def jacobian(self, v: Tensor, u: Tensor) -> Tensor:
        """∂(dv/dt)/∂v (flow) or ∂v'/∂v (map) at states v (B, N), inputs u (B, I) → (B, N, N)."""
        return vmap(jacrev(lambda x, w: self(x[None], w[None])[0]))(v, u)

    def input_jacobian(self, v: Tensor, u: Tensor) -> Tensor:
        """∂(dv/dt)/∂u (flow) or ∂v'/∂u (map) at v (B, N), u (B, I) → (B, N, I)."""
        return vmap(jacrev(lambda w, x: self(x[None], w[None])[0]))(u, v)

    def at(self, u: Tensor) -> Residual:
        """The residual at the constant input ``u`` (I,) (see :class:`Residual`)."""
        u = u.detach()

        def g(v: Tensor) -> Tensor:  # any leading dimensions (*, N)
            flat = v.reshape(-1, v.shape[-1])
            return self.residual(flat, u.expand(flat.shape[0], -1)).reshape(v.shape)

        return Residual(g)

    @property
    def other_time(self) -> str:
        """The time this system is not analysed in: ``"discrete"`` for a flow, ``"continuous"`` for a map."""
        return TIMES[1 - TIMES.index(self.time)]

    def _sizes(self) -> str:
        return f"state_size={self.state_size}, input_size={self.input_size}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._sizes()}, time={self.time!r})"


class Flow(System):
    r"""A continuous-time system ``dv/dt = f(v, u)``.

    Parameters
    ----------
    f : callable ``(v (B, N), u (B, I)) -> dv/dt (B, N)``
        Batched over the leading dimension; made of torch operations (its Jacobians come
        from ``torch.func``, so it must work under ``vmap``).
    state_size, input_size : int
        N and I.
    dtype, device : optional
        Of ``f``'s parameters (states and inputs are moved there).

    Examples
    --------
    >>> flow = Flow(lambda v, u: u - v, state_size=2, input_size=2)
    >>> (flow.jacobian(torch.zeros(1, 2), torch.ones(1, 2))[0] + 0.0).tolist()   # + 0.0: no signed zeros
    [[-1.0, 0.0], [0.0, -1.0]]
    """

    time = "continuous"

    def __init__(
        self,
        f: Callable[[Tensor, Tensor], Tensor],
        state_size: int | None,
        input_size: int | None,
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        euler_dt: float | None = None,
    ) -> None:
        if not callable(f):
            raise TypeError(f"f must be a callable f(v, u) -> dv/dt, got {type(f).__name__}")
        super().__init__(state_size, input_size, dtype=dtype, device=device, euler_dt=euler_dt)
        self.f = f

    def __call__(self, v: Tensor, u: Tensor) -> Tensor:
        return self.f(v, u)


class Map(System):
    r"""A discrete-time system ``v' = F(v, u)`` (one step of a recurrent network).

    Parameters
    ----------
    step : callable ``(v (B, N), u (B, I)) -> v' (B, N)``
        Batched over the leading dimension; made of torch operations (``vmap``-compatible).
    state_size, input_size : int
        N and I.
    dtype, device : optional

    Examples
    --------
    >>> m = Map(lambda v, u: torch.tanh(-1.5 * v + u), state_size=1, input_size=1)
    >>> m.jacobian(torch.zeros(1, 1), torch.zeros(1, 1))
    tensor([[[-1.5000]]])
    """

    time = "discrete"

    def __init__(
        self,
        step: Callable[[Tensor, Tensor], Tensor],
        state_size: int | None,
        input_size: int | None,
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        euler_dt: float | None = None,
    ) -> None:
        if not callable(step):
            raise TypeError(f"step must be a callable step(v, u) -> next v, got {type(step).__name__}")
        super().__init__(state_size, input_size, dtype=dtype, device=device, euler_dt=euler_dt)
        self.step = step

    def __call__(self, v: Tensor, u: Tensor) -> Tensor:
        return self.step(v, u)


# ============================================================================ rate networks
# sup |F″| of the named nonlinearities whose F′ is Lipschitz: tanh 4/(3√3), σ √3/18, softplus 1/4
_CURVATURE = {"tanh": 4 / (3 * 3**0.5), "sigmoid": 3**0.5 / 18, "softplus": 0.25, "linear": 0.0}


def _jacobian_lipschitz(curvature: float, M: Tensor, tau: Tensor | float = 1.0) -> Tensor:
    """γ with ‖J(x) − J(y)‖∞ ≤ γ ‖x − y‖∞ for J = (diag F′(Mv + c) M − I)/τ′: row i changes by
    |F′(aᵢ) − F′(bᵢ)| ‖Mᵢ‖₁/τ′ᵢ ≤ sup|F″| ‖Mᵢ‖₁² ‖x − y‖∞/τ′ᵢ. From detached weights: a bound the
    fixed-point search uses, never differentiated, so no graph is built for it."""
    row = M.detach().abs().sum(-1)
    tau = tau.detach().expand_as(row) if isinstance(tau, Tensor) else tau
    return curvature * (row.square() / tau).amax()


class _RateResidual(Residual):
    r"""The analytic residual of a rate network at one input: g = (F(x) − v)/τ′, x = h + Mv + b.

    τ′ = τ for the flow and τ/dt for the Euler map (whose residual is dt·f), so one set of
    formulas serves both. ∇q = (F′ ⊙ w) M − w with w = g/τ′; J = (diag(F′) M − I)/τ′.
    """

    def __init__(self, h: Tensor, M: Tensor, b: Tensor | None, tau: Tensor, F: Nonlinearity) -> None:
        self.h, self.M, self.b, self.tau, self.F = h, M, b, tau, F
        self.pure = any(F is n for n in NONLINEARITIES.values())  # a named nonlinearity, no user callable
        if F.derivative_from_output is None:  # pragma: no cover - RateSystem.at builds this only for an analytic F
            raise TypeError(f"the analytic residual needs {F.name!r} to have derivative_from_output")
        self._slope = F.derivative_from_output  # F′ from F's output y = F(x)
        self.scale = float(tau.reciprocal().max())
        self._hb = (h if b is None else h + b).expand(1, -1)
        self._MT = M.T
        self._MtauT = (M / (tau[:, None] if tau.ndim else tau)).T.contiguous()  # [j, i] = M_ij/τ_i
        self._c = tau.square().reciprocal()
        # Jᵀ = slope ⊙ (M/τ′)ᵀ + C is one fused multiply-add onto a constant C = −diag(1/τ′) (for
        # tanh, slope = 1 − y²: Jᵀ = −y² ⊙ (M/τ′)ᵀ + C with C = (M/τ′)ᵀ − diag(1/τ′))
        self._jt_offset = -torch.diag(tau.reciprocal().expand(M.shape[0]))
        # τ′ = 1 (an Euler map with dt = τ): g = F(x) − v, no division (checked on a CPU only: no
        # host synchronisation for an accelerator's τ)
        self._unit_tau = tau.device.type == "cpu" and bool((tau == 1).all())
        if F is NONLINEARITIES["tanh"]:
            self.grad_q = self._grad_q_tanh  # type: ignore[method-assign]  # per instance: no branch per call
            self.jacobian = self._jacobian_tanh  # type: ignore[method-assign]
            self._jt_offset = self._jt_offset + self._MtauT
        curvature = next((c for name, c in _CURVATURE.items() if F is NONLINEARITIES[name]), None)
        if curvature is not None:
            self.lipschitz = _jacobian_lipschitz(curvature, M, tau)

    def g(self, v: Tensor) -> Tensor:
        return _vector_field(v, self.h, self.M, self.b, self.tau, self.F)

    def __call__(self, v: Tensor) -> Tensor:
        """g(v) (*, N) with x = (h + b) + v Mᵀ as one fused product (what the search iterates)."""
        if v.dim() == 2:  # the search's (K, N): no reshapes
            x = torch.addmm(self._hb, v, self._MT)
        else:
            x = torch.addmm(self._hb, v.reshape(-1, v.shape[-1]), self._MT).view(v.shape)
        g = self.F(x) - v
        return g if self._unit_tau else g / self.tau

    def grad_q(self, v: Tensor) -> Tensor:
        y = self.F(torch.addmm(self._hb, v, self._MT))
        w = (y - v).mul_(self._c)
        return torch.addmm(w, self._slope(y).mul_(w), self.M, beta=-1)

    def _grad_q_tanh(self, v: Tensor) -> Tensor:
        """∇q for tanh, with F′ ⊙ w = (1 − y²) ⊙ w in one kernel, ATen's backward of tanh from its
        output (where τ′ = 1, w = y − v needs no scaling)."""
        y = torch.addmm(self._hb, v, self._MT).tanh_()
        w = y - v if self._unit_tau else (y - v).mul_(self._c)
        return torch.addmm(w, torch.ops.aten.tanh_backward(w, y), self.M, beta=-1)

    def linear(self, v: Tensor) -> Callable[[Tensor], Tensor]:
        """z ↦ J z = (F′ ⊙ M z − z)/τ′ at the states ``v``: one matrix product for all of them."""
        slope = self._slope(self.F(torch.addmm(self._hb, v, self._MT)))
        inv_tau = self.tau.reciprocal()

        def product(z: Tensor) -> Tensor:
            return torch.addcmul(-inv_tau * z, slope, z @ self._MtauT)

        return product

    def lowered(self, dtype: torch.dtype) -> _RateResidual | None:
        """This residual with its weights in ``dtype``; None if one of them is not finite there."""
        h, M, tau = (t.to(dtype) for t in (self.h, self.M, self.tau))
        b = None if self.b is None else self.b.to(dtype)
        if not all(t is None or bool(torch.isfinite(t).all()) for t in (h, M, b, tau)):
            return None
        return _RateResidual(h, M, b, tau, self.F)

    def jacobian(self, v: Tensor) -> Tensor:
        """J (K, N, N) stored column by column (``J.mT`` contiguous): LAPACK factorises that layout
        without a transposing copy."""
        slope = self._slope(self.F(torch.addmm(self._hb, v, self._MT)))
        return torch.addcmul(self._jt_offset, slope.unsqueeze(1), self._MtauT).mT

    def _jacobian_tanh(self, v: Tensor) -> Tensor:
        """J for tanh: F′ = 1 − y², so Jᵀ = ((M/τ′)ᵀ − diag(1/τ′)) − y² ⊙ (M/τ′)ᵀ (four operations)."""
        y = torch.addmm(self._hb, v, self._MT).tanh_()
        return torch.addcmul(self._jt_offset, (y * y).unsqueeze(1), self._MtauT, value=-1).mT


class RateSystem(System):
    r"""A rate network τ dv/dt = −v + F(W u + M v + b), as its flow or as its Euler map.

    * ``time="continuous"``: ``f(v, u) = (−v + F(Wu + Mv + b))/τ`` (1/ms);
    * ``time="discrete"``: ``v' = v + dt·f(v, u)``, the step the Euler network runs
      (``dt = τ``: ``v' = F(Wu + Mv + b)``, the Elman update of ``nn.RNN``).

    Jacobians are analytic for a named F: ``∂f/∂v = (diag F′ M − I)/τ``, ``∂f/∂u = diag(F′) W/τ``
    (times dt, plus I for the state, for the map). Built by ``RateRNN.system(time)``; tensors are
    read as given (not detached), so Jacobians are differentiable in the weights.

    Parameters
    ----------
    M : Tensor (N, N), or None with ``factors``
    W : Tensor (N, I) or None (identity: u is h)
    b : Tensor (N,) or None
    tau : Tensor, shape () or (N,), ms
    F : Nonlinearity
    time : {"continuous", "discrete"}
    dt : float or None
        The Euler step (ms) the network runs; None for networks solved as ODEs (then only the
        flow exists).
    factors : (m, n), optional
        For a low-rank network M = m nᵀ/N: the fixed-point finder then searches exactly in the
        r latent dimensions, and M is formed only when needed.
    """

    state_size: int  # N, always known for a rate network
    input_size: int

    def __init__(
        self,
        M: Tensor | None,
        W: Tensor | None,
        b: Tensor | None,
        tau: Tensor,
        F: Nonlinearity,
        *,
        time: str,
        dt: float | None,
        factors: tuple[Tensor, Tensor] | None = None,
    ) -> None:
        if M is None and factors is None:
            raise ValueError("RateSystem needs the recurrent weights M, or factors=(m, n) of a low-rank M = m nᵀ/N")
        if time == "discrete" and dt is None:
            raise ValueError("time='discrete' needs dt (the Euler step); an ODE network has only its flow")
        ref = M if M is not None else cast("tuple[Tensor, Tensor]", factors)[0]
        N = ref.shape[0]
        super().__init__(N, N if W is None else W.shape[1], dtype=ref.dtype, device=ref.device, euler_dt=dt)
        self.time = time
        self._M, self.W, self.b, self.F, self.factors = M, W, b, F, factors
        self.tau = torch.as_tensor(tau, dtype=ref.dtype, device=ref.device)
        self.dt = dt
        self.analytic = F.derivative_from_output is not None

    @property
    def M(self) -> Tensor:
        """Recurrent weights (N, N) (formed from the factors on first use for a low-rank network)."""
        if self._M is None:
            m, n = cast("tuple[Tensor, Tensor]", self.factors)  # not None: __init__ has M or the factors
            self._M = m @ n.T / m.shape[0]
        return self._M

    def drive(self, u: Tensor) -> Tensor:
        """h = W u (*, N)."""
        return u if self.W is None else u @ self.W.T

    def residual_tau(self) -> Tensor:
        """τ′ of the residual g = (F(x) − v)/τ′: τ for the flow, τ/dt for the map (g = dt·f)."""
        return self.tau if self.time == "continuous" else self.tau / self._map_dt

    def __call__(self, v: Tensor, u: Tensor) -> Tensor:
        f = _vector_field(v, self.drive(u), self.M, self.b, self.tau, self.F)
        return f if self.time == "continuous" else v + self._map_dt * f

    @property
    def _map_dt(self) -> float:
        """dt of the Euler map (``time="discrete"``, which :func:`rate_system` gives only an Euler network)."""
        if self.dt is None:
            raise ValueError("time='discrete' needs dt (the Euler step); an ODE network has only its flow")
        return self.dt

    def residual(self, v: Tensor, u: Tensor) -> Tensor:
        return _vector_field(v, self.drive(u), self.M, self.b, self.residual_tau(), self.F)

    def jacobian(self, v: Tensor, u: Tensor) -> Tensor:
        if not self.analytic:
            return super().jacobian(v, u)
        J = _jacobian_of_vector_field(v, self.drive(u), self.M, self.b, self.residual_tau(), self.F)
        if self.time == "discrete":
            J = J + torch.eye(J.shape[-1], dtype=J.dtype, device=J.device)
        return J

    def input_jacobian(self, v: Tensor, u: Tensor) -> Tensor:
        slope_of = self.F.derivative_from_output  # None: not analytic
        if slope_of is None:
            return super().input_jacobian(v, u)
        slope = slope_of(self.F(_pre_activation(v, self.drive(u), self.M, self.b)))
        tau = self.residual_tau()
        gain = slope / tau  # (B, N)
        if self.W is None:
            return torch.diag_embed(gain)
        return gain.unsqueeze(-1) * self.W

    def at(self, u: Tensor) -> Residual:
        with torch.no_grad():
            h = self.drive(u.detach()).detach()
            M = self.M.detach()
            b = None if self.b is None else self.b.detach()
            tau = self.residual_tau().detach()
        if not self.analytic:
            return Residual(lambda v: _vector_field(v, h, M, b, tau, self.F), float(tau.reciprocal().max()))
        return _RateResidual(h, M, b, tau, self.F)

    def __repr__(self) -> str:
        dt = "" if self.dt is None else f", dt={self.dt:g}"
        return f"RateSystem({self._sizes()}, time={self.time!r}{dt}, nonlinearity={self.F.name!r})"


def rate_system(
    M: Tensor | None,
    W: Tensor | None,
    b: Tensor | None,
    tau: Tensor,
    F: Nonlinearity,
    *,
    dt: float | None,
    time: str | None,
    factors: tuple[Tensor, Tensor] | None = None,
) -> RateSystem:
    r"""The :class:`RateSystem` of an Euler network (``dt``) or an ODE network (``dt=None``), with
    the default time: the map when dt/τ ≥ 0.5 (the network that was trained is the map; from_rnn's
    τ = dt included), the flow otherwise."""
    time = _check_time(time)
    if dt is None:
        if time == "discrete":
            raise ValueError(
                "time='discrete' needs an Euler network (solver='euler'): this network is solved as "
                "an ODE, so only its flow (time='continuous') is the system it runs"
            )
        time = "continuous"
    elif time is None:
        tau_min = float(torch.as_tensor(tau).detach().min())
        time = "discrete" if dt / tau_min >= 0.5 else "continuous"
    return RateSystem(M, W, b, tau, F, time=time, dt=dt, factors=factors)


def _check_time(time: str | None) -> str | None:
    if time is not None and time not in TIMES:
        raise ValueError(f"time must be 'continuous', 'discrete' or None (the system's own), got {time!r}")
    return time


# ============================================================================ torch.nn recurrent modules
_TORCH_CELLS = {
    nn.RNN: "rnn",
    nn.GRU: "gru",
    nn.LSTM: "lstm",
    nn.RNNCell: "rnn",
    nn.GRUCell: "gru",
    nn.LSTMCell: "lstm",
}


def _cell_kind(module: object) -> str | None:
    for cls, kind in _TORCH_CELLS.items():
        if isinstance(module, cls):
            return kind
    return None


def _check_own_forward(module: nn.Module) -> None:
    """Refuse a subclass of a torch RNN/GRU/LSTM (or cell) whose ``forward`` is its own: its step is
    not the torch formulas that :class:`TorchRNNMap` writes out (a parametrized module, whose class
    inherits ``forward``, is fine: its weights are read through the parametrization)."""
    base: type[nn.Module] = next(cls for cls in _TORCH_CELLS if isinstance(module, cls))
    if type(module).forward is not base.forward:
        raise TypeError(
            f"{type(module).__name__} overrides torch.nn.{base.__name__}.forward, so its step is not torch's "
            f"{base.__name__} update that as_system would analyse; wrap its step v' = F(v, u) as "
            "torchrate.systems.Map(step, state_size, input_size) (e.g. step = lambda v, u: cell(u, v) for an "
            "RNN or GRU cell)"
        )


def _input_drive(x: Tensor, w_ih: Tensor, b_ih: Tensor | None) -> Tensor:
    """W_ih x + b_ih (*, G·H): every gate block's input term."""
    return x @ w_ih.T if b_ih is None else torch.addmm(b_ih, x, w_ih.T)


def _scaled_rows(coef: tuple[Tensor, ...], w: Tensor, gates: range) -> Tensor:
    """Σ_gate diag(coef[gate]) W_gate (B, H, C) over the ``gates``, for a cell's stacked gate blocks
    ``w`` (G·H, C) and row scales ``coef`` (B, H) each."""
    blocks = w.reshape(-1, coef[0].shape[-1], w.shape[-1])
    # broadcast products summed in place: 2-3× faster than one einsum contraction at B ≤ 180
    first, *rest = gates
    out = coef[first].unsqueeze(-1) * blocks[first]
    for k in rest:
        out.addcmul_(coef[k].unsqueeze(-1), blocks[k])
    return out


# a cell's (W_ih, W_hh, b_ih, b_hh) (biases None without bias=True)
_CellWeights = tuple[Tensor, Tensor, Tensor | None, Tensor | None]


@dataclass
class _Cell:
    """One step of a torch RNN/GRU/LSTM cell at states v (B, N), inputs x (B, I): the next state and
    the gate values its derivatives are written in (computed once, shared by the step, ∂v'/∂v and
    (∂v'/∂v)ᵀ s)."""

    kind: str
    nonlinearity: str
    w_hh: Tensor
    next: Tensor
    parts: tuple[Tensor, ...]

    @classmethod
    def at(
        cls,
        kind: str,
        nonlinearity: str,
        x: Tensor,
        v: Tensor,
        w_ih: Tensor,
        w_hh: Tensor,
        b_ih: Tensor | None,
        b_hh: Tensor | None,
        gi: Tensor | None = None,
        derivatives: bool = True,
        folded: bool = False,
    ) -> _Cell:
        """The step at states ``v`` and inputs ``x``; ``gi`` (1, G·H), if given, is W_ih x + b_ih of
        a constant input, computed once (``x`` is then not read); ``folded``: it holds b_hh too
        (an RNN's or LSTM's, whose gates add W_hh h + b_hh to it; ``b_hh`` is then not read), and
        the pre-activation is one operation. ``derivatives=False``: only ``next`` is read (the
        RNN's F′ is not formed: two of its six operations)."""
        H = w_hh.shape[1]
        h = v if v.shape[-1] == H else v[..., :H]  # an RNN's or GRU's state is h: no slicing op
        if gi is None:
            gi = _input_drive(x, w_ih, b_ih)
        if kind == "gru":  # gates (r, z, n); n = tanh(i_n + r ⊙ (W_hn h + b_hn)), h' = n + z ⊙ (h − n)
            gh = h @ w_hh.T if b_hh is None else torch.addmm(b_hh, h, w_hh.T)
            i_r, i_z, i_n = gi.chunk(3, -1)
            h_r, h_z, h_n = gh.chunk(3, -1)
            r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
            n = torch.tanh(i_n + r * h_n)
            return cls(kind, nonlinearity, w_hh, n + z * (h - n), (h, r, z, n, h_n))
        if folded:
            pre = torch.addmm(gi, h, w_hh.T)
        else:
            pre = gi + (h @ w_hh.T if b_hh is None else torch.addmm(b_hh, h, w_hh.T))
        if kind == "rnn":  # h' = F(W_ih x + b_ih + W_hh h + b_hh)
            y = torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)
            if not derivatives:
                return cls(kind, nonlinearity, w_hh, y, ())
            slope = 1 - y * y if nonlinearity == "tanh" else (y > 0).to(y.dtype)
            return cls(kind, nonlinearity, w_hh, y, (slope,))
        c = v[..., H:]  # gates (i, f, g, o); c' = f c + i g, h' = o tanh(c')
        # σ of all four gates at once and tanh of a contiguous copy of g: σ and tanh of a column
        # slice take the strided path, several times slower per element than the contiguous one
        gates = torch.sigmoid(pre)
        i, f, o = gates[..., :H], gates[..., H : 2 * H], gates[..., 3 * H :]
        g = torch.tanh(pre[..., 2 * H : 3 * H].contiguous())
        c1 = f * c + i * g
        t = torch.tanh(c1)
        return cls(kind, nonlinearity, w_hh, torch.cat([o * t, c1], -1), (c, i, f, g, o, t))

    def _coefficients(self) -> tuple[Tensor, ...]:
        """Row scales of W_hh's gate blocks in ∂v'/∂v (see :meth:`jacobian`)."""
        if self.kind == "rnn":
            return self.parts
        if self.kind == "gru":
            h, r, z, n, h_n = self.parts
            a = (1 - z) * (1 - n * n)
            return a * h_n * r * (1 - r), (h - n) * z * (1 - z), a * r  # blocks r, z, n
        c, i, f, g, o, t = self.parts
        return g * i * (1 - i), c * f * (1 - f), i * (1 - g * g), t * o * (1 - o)  # i, f, g into c'; o into h'

    def jacobian(self) -> Tensor:
        r"""∂v'/∂v (B, N, N), written out (rows of W_hh's gate blocks scaled by gate derivatives):

        * RNN: ``diag(F′) W_hh``;
        * GRU: ``diag(z) + diag(a r) W_hn + diag(a h_n r(1−r)) W_hr + diag((h − n) z(1−z)) W_hz``,
          a = (1 − z)(1 − n²), h_n = W_hn h + b_hn;
        * LSTM, state (h, c): ``∂c′/∂h = diag(g σ′_i) W_hi + diag(c σ′_f) W_hf + diag(i (1−g²)) W_hg``,
          ``∂c′/∂c = diag(f)``, ``∂h′/∂h = diag(tanh(c′) σ′_o) W_ho + diag(o (1−tanh²c′)) ∂c′/∂h``,
          ``∂h′/∂c = diag(o (1−tanh²c′) f)``.
        """
        coef = self._coefficients()
        if self.kind == "rnn":
            return coef[0].unsqueeze(-1) * self.w_hh
        H = self.w_hh.shape[1]
        if self.kind == "gru":
            J = _scaled_rows(coef, self.w_hh, range(3))
            J.diagonal(dim1=-2, dim2=-1).add_(self.parts[2])
            return J
        c, i, f, g, o, t = self.parts
        e = o * (1 - t * t)
        J = c.new_empty(c.shape[0], 2 * H, 2 * H)  # blocks written in place: no concatenated copies
        dc_dh = _scaled_rows(coef, self.w_hh, range(3))
        J[:, H:, :H].copy_(dc_dh)
        J[:, :H, :H].copy_(_scaled_rows(coef, self.w_hh, range(3, 4)).addcmul_(e.unsqueeze(-1), dc_dh))
        J[:, :H, H:].zero_().diagonal(dim1=-2, dim2=-1).copy_(e * f)
        J[:, H:, H:].zero_().diagonal(dim1=-2, dim2=-1).copy_(f)
        return J

    def input_jacobian(self, w_ih: Tensor) -> Tensor:
        r"""∂v'/∂x (B, N, I): W_ih's gate blocks scaled as W_hh's in :meth:`jacobian` (every gate is
        affine in x as in h), except the GRU's n block: a = (1 − z)(1 − n²), not a r (r gates only
        W_hn h + b_hn). Written out: torch.func's vmap of jacrev cost ~1 ms at 27 points (N = 16)."""
        coef = self._coefficients()
        if self.kind == "rnn":
            return coef[0].unsqueeze(-1) * w_ih
        if self.kind == "gru":
            h, r, z, n, h_n = self.parts
            return _scaled_rows((coef[0], coef[1], (1 - z) * (1 - n * n)), w_ih, range(3))
        c, i, f, g, o, t = self.parts
        dc = _scaled_rows(coef, w_ih, range(3))
        dh = _scaled_rows(coef, w_ih, range(3, 4)).addcmul_((o * (1 - t * t)).unsqueeze(-1), dc)
        return torch.cat([dh, dc], -2)

    def jvp(self, z: Tensor) -> Tensor:
        """(∂v'/∂v) z (B, N) for tangents z (B, N): one product with W_hhᵀ, no (B, N, N) matrix."""
        coef = self._coefficients()
        H = self.w_hh.shape[1]
        zw = z[..., :H] @ self.w_hh.T  # every gate block's W_g z_h, side by side
        if self.kind == "rnn":
            return coef[0] * zw
        if self.kind == "gru":
            return sum(k * b for k, b in zip(coef, zw.chunk(3, -1))) + self.parts[2] * z
        c, i, f, g, o, t = self.parts
        zi, zf, zg, zo = zw.chunk(4, -1)
        dc = coef[0] * zi + coef[1] * zf + coef[2] * zg + f * z[..., H:]
        return torch.cat([coef[3] * zo + o * (1 - t * t) * dc, dc], -1)

    def vjp(self, s: Tensor) -> Tensor:
        """(∂v'/∂v)ᵀ s (B, N) for cotangents s (B, N): one product with W_hh, no (B, N, N) matrix."""
        coef = self._coefficients()
        if self.kind == "rnn":
            return (coef[0] * s) @ self.w_hh
        if self.kind == "gru":
            return torch.cat([k * s for k in coef], -1) @ self.w_hh + self.parts[2] * s
        c, i, f, g, o, t = self.parts
        H = self.w_hh.shape[1]
        s_h, s_c = s[..., :H], s[..., H:]
        e = o * (1 - t * t) * s_h + s_c  # the cotangent reaching c'
        back_h = torch.cat([coef[0] * e, coef[1] * e, coef[2] * e, coef[3] * s_h], -1) @ self.w_hh
        return torch.cat([back_h, f * e], -1)


class _CellResidual(Residual):
    r"""The analytic residual g = F(v) − v of a one-layer torch RNN/GRU/LSTM cell at one input:
    ∂g/∂v, ∇q, products with ∂g/∂v and the float32 twin, all from :class:`_Cell`'s formulas."""

    def __init__(self, kind: str, nonlinearity: str, u: Tensor, weights: _CellWeights) -> None:
        super().__init__(self._residual)
        self.pure = True  # the cell's formulas on its weights (see _Cell)
        self.kind, self.nonlinearity, self.u, self.weights = kind, nonlinearity, u, weights
        gi = _input_drive(u.reshape(1, -1), weights[0], weights[2])  # constant: formed once
        # an RNN's and LSTM's gates take W_hh h + (W_ih u + b_ih + b_hh): the constant summed once
        self._folded = kind != "gru"
        self._gi = gi if not self._folded or weights[3] is None else gi + weights[3]
        if kind == "rnn" and nonlinearity in _CURVATURE:  # g = F(W_hh v + c) − v: a rate map, τ′ = 1
            self.lipschitz = _jacobian_lipschitz(_CURVATURE[nonlinearity], weights[1])

    def _cell(self, v: Tensor, derivatives: bool = True) -> _Cell:
        return _Cell.at(
            self.kind,
            self.nonlinearity,
            self.u,
            v,
            *self.weights,
            gi=self._gi,
            derivatives=derivatives,
            folded=self._folded,
        )

    def _residual(self, v: Tensor) -> Tensor:
        if v.dim() == 2:  # the search's (K, N): no reshapes (two torch operations)
            return self._cell(v, derivatives=False).next - v
        flat = v.reshape(-1, v.shape[-1])
        return (self._cell(flat, derivatives=False).next - flat).reshape(v.shape)

    def jacobian(self, v: Tensor) -> Tensor:
        """∂(F(v) − v)/∂v (K, N, N)."""
        J = self._cell(v).jacobian()
        J.diagonal(dim1=-2, dim2=-1).sub_(1)
        return J

    def grad_q(self, v: Tensor) -> Tensor:
        """(∂F/∂v − I)ᵀ (F(v) − v)."""
        step = self._cell(v)
        g = step.next - v
        return step.vjp(g) - g

    def linear(self, v: Tensor) -> Callable[[Tensor], Tensor]:
        """z ↦ (∂F/∂v − I) z at the states ``v``."""
        step = self._cell(v)
        return lambda z: step.jvp(z) - z

    def lowered(self, dtype: torch.dtype) -> _CellResidual | None:
        """This residual with its input and weights in ``dtype``; None if one is not finite there."""
        u, w_ih, w_hh = (t.to(dtype) for t in (self.u, self.weights[0], self.weights[1]))
        b_ih, b_hh = (None if t is None else t.to(dtype) for t in self.weights[2:])
        if not all(t is None or bool(torch.isfinite(t).all()) for t in (u, w_ih, w_hh, b_ih, b_hh)):
            return None
        return _CellResidual(self.kind, self.nonlinearity, u, (w_ih, w_hh, b_ih, b_hh))


class TorchRNNMap(Map):
    r"""A ``torch.nn`` RNN, GRU or LSTM (or cell) as the map it runs: one step of every layer.

    The state is the stacked hidden state ``(h_0, …, h_{L−1})`` (L·H), for an LSTM followed by
    the stacked cell state: ``(h_0, …, h_{L−1}, c_0, …, c_{L−1})`` (2·L·H), the layout of
    ``torch.cat([h_n, c_n]).flatten()`` per batch entry (FixedPointFinder's (h, c) for one
    layer). Layer ℓ > 0 is driven by layer ℓ − 1's new state, as in the module's forward.
    Weights are read at each call (Jacobians are differentiable in them); dropout between layers
    is an inference-time identity and is not applied. One layer has analytic Jacobians
    (:class:`_Cell`); stacked layers use ``torch.func``.
    """

    def __init__(self, module: nn.RNNBase | nn.RNNCellBase) -> None:
        kind = _cell_kind(module)
        if kind is None:  # pragma: no cover - as_system checks first
            raise TypeError(f"expected a torch.nn RNN/GRU/LSTM or cell, got {type(module).__name__}")
        _check_own_forward(module)
        self.module, self.kind = module, kind
        self.cell = not isinstance(module, nn.RNNBase)
        if isinstance(module, nn.RNNBase):
            if module.bidirectional:
                raise ValueError(
                    f"a bidirectional {type(module).__name__} is not a dynamical system (its backward "
                    "direction runs from the end of the sequence); analyse one direction, e.g. a "
                    "unidirectional copy of its forward weights"
                )
            if getattr(module, "proj_size", 0):
                raise ValueError(
                    f"an LSTM with proj_size={module.proj_size} is not supported: its h and c have "
                    "different sizes; analyse a network with proj_size=0"
                )
        self.layers = module.num_layers if isinstance(module, nn.RNNBase) else 1
        self.H = module.hidden_size
        self.nonlinearity: str = getattr(module, "nonlinearity", "tanh")
        ref = self._weights(0)[1]  # W_hh of the first layer
        N = self.layers * self.H * (2 if kind == "lstm" else 1)
        super().__init__(self._step, N, module.input_size, dtype=ref.dtype, device=ref.device)

    def _weights(self, k: int) -> _CellWeights:
        m = self.module
        sfx = "" if self.cell else f"_l{k}"
        w_ih, w_hh = (getattr(m, name + sfx) for name in ("weight_ih", "weight_hh"))
        b_ih, b_hh = (getattr(m, name + sfx, None) for name in ("bias_ih", "bias_hh"))  # None: bias=False
        return w_ih, w_hh, b_ih, b_hh

    def _step(self, v: Tensor, u: Tensor) -> Tensor:
        L, H = self.layers, self.H
        lstm = self.kind == "lstm"
        hs = v[..., : L * H].split(H, -1)
        cs = v[..., L * H :].split(H, -1) if lstm else ()
        x, new_h, new_c = u, [], []
        for k in range(L):
            state = torch.cat([hs[k], cs[k]], -1) if lstm else hs[k]
            out = _Cell.at(self.kind, self.nonlinearity, x, state, *self._weights(k), derivatives=False).next
            x = out[..., :H]
            new_h.append(x)
            new_c.append(out[..., H:])
        return torch.cat(new_h + (new_c if lstm else []), -1)

    def jacobian(self, v: Tensor, u: Tensor) -> Tensor:
        """∂v'/∂v (B, N, N): analytic for one layer, ``torch.func`` for stacked layers."""
        if self.layers > 1:
            return super().jacobian(v, u)
        return _Cell.at(self.kind, self.nonlinearity, u, v, *self._weights(0)).jacobian()

    def input_jacobian(self, v: Tensor, u: Tensor) -> Tensor:
        """∂v'/∂u (B, N, I): analytic for one layer, ``torch.func`` for stacked layers."""
        if self.layers > 1:
            return super().input_jacobian(v, u)
        weights = self._weights(0)
        return _Cell.at(self.kind, self.nonlinearity, u, v, *weights).input_jacobian(weights[0])

    def at(self, u: Tensor) -> Residual:
        if self.layers > 1:
            return super().at(u)
        w_ih, w_hh, b_ih, b_hh = self._weights(0)
        b_ih, b_hh = (None if b is None else b.detach() for b in (b_ih, b_hh))
        return _CellResidual(self.kind, self.nonlinearity, u.detach(), (w_ih.detach(), w_hh.detach(), b_ih, b_hh))

    def __repr__(self) -> str:
        return f"TorchRNNMap({type(self.module).__name__}, {self._sizes()}, time='discrete')"


# ============================================================================ as_system
def as_system(obj: object, *, time: str | None = None) -> System:
    r"""The dynamical system of ``obj``, for every analysis.

    Parameters
    ----------
    obj : torchrate network, torch.nn.RNN/GRU/LSTM/RNNCell/GRUCell/LSTMCell, System, or module
        * a torchrate network (``RateRNN``, ``EIRateRNN``, ``LowRankRateRNN``, one member
          ``ens[k]`` of an ``Ensemble``): its ``system(time)``. An Euler network is both its ODE
          (``"continuous"``) and the map it runs at its dt (``"discrete"``); default: the map
          when dt/τ ≥ 0.5 (``from_rnn``'s τ = dt included), the flow otherwise. A stacked
          network's state is every layer's rates (N·L).
        * ``torch.nn.RNN``, ``GRU``, ``LSTM`` (any ``num_layers``, one direction) and their cells:
          the map of one step (:class:`TorchRNNMap`); LSTM state ``(h, c)``.
        * a :class:`Flow` or :class:`Map`: itself.
        * a module with ``vector_field(v, h)`` (and optionally ``project_input(u)``, else u is
          h): a :class:`Flow`; a plain callable ``f(v, h) -> dv/dt`` likewise (sizes taken from
          the states given).
    time : {"continuous", "discrete"}, optional
        Which view of an Euler network; for any other system it must match the system's own
        time (a map has no flow, and the reverse).

    Returns
    -------
    System
    """
    time = _check_time(time)
    if isinstance(obj, System):
        system = obj
    elif isinstance(obj, (nn.RNNBase, nn.RNNCellBase)) and _cell_kind(obj) is not None:
        system = TorchRNNMap(obj)
    elif callable(system_of := getattr(obj, "system", None)):
        return system_of(time=time)
    elif hasattr(obj, "vector_field") and callable(obj.vector_field):
        system = _module_flow(obj)
    elif callable(obj) and not isinstance(obj, (nn.Module, str, bytes, type)):
        system = Flow(obj, None, None)
    else:
        raise TypeError(
            f"cannot analyse a {type(obj).__name__}: expected a torchrate network, a torch.nn RNN/GRU/LSTM (or "
            "cell), a torchrate.systems.Flow(f, state_size, input_size) / Map(step, state_size, input_size), or a "
            "module with vector_field(v, h)"
        )
    if time is not None and time != system.time:
        raise ValueError(
            f"this {type(obj).__name__} is a {system.time}-time system; time={time!r} needs an Euler "
            "network (which is both), or wrap your function as a "
            f"torchrate.systems.{'Map' if time == 'discrete' else 'Flow'}"
        )
    return system


def _module_flow(module: Any) -> Flow:  # any object with vector_field(v, h) (duck-typed)
    """A module with ``vector_field(v, h)`` (and ``project_input(u)``) as a Flow of its own dtype."""
    ref = (
        next((t for t in (*module.parameters(), *module.buffers()) if t.is_floating_point()), None)
        if isinstance(module, nn.Module)
        else None
    )
    project = getattr(module, "project_input", None)
    f = (lambda v, u: module.vector_field(v, project(u))) if callable(project) else module.vector_field
    return Flow(
        f,
        getattr(module, "hidden_size", None),
        getattr(module, "input_size", None),
        dtype=None if ref is None else ref.dtype,
        device=None if ref is None else ref.device,
    )


def stacked(layers: list[RateSystem]) -> System:
    r"""Layers ``ℓ = 0 … L−1`` of a stacked rate network as one system on their joint state (L·N).

    Layer ℓ > 0 is driven by layer ℓ − 1's rates: as a map by its new rates (the order of the
    network's forward), as a flow by its current ones. Jacobians by ``torch.func``.
    """
    first = layers[0]
    N = first.state_size

    def parts(v: Tensor) -> tuple[Tensor, ...]:
        return v.split(N, -1)

    if first.time == "discrete":

        def step(v: Tensor, u: Tensor) -> Tensor:
            x, out = u, []
            for layer, vk in zip(layers, parts(v)):
                x = layer(vk, x)
                out.append(x)
            return torch.cat(out, -1)

        return Map(
            step, N * len(layers), first.input_size, dtype=first.dtype, device=first.device, euler_dt=first.euler_dt
        )

    def f(v: Tensor, u: Tensor) -> Tensor:
        vs = parts(v)
        return torch.cat([layer(vk, u if k == 0 else vs[k - 1]) for k, (layer, vk) in enumerate(zip(layers, vs))], -1)

    return Flow(f, N * len(layers), first.input_size, dtype=first.dtype, device=first.device, euler_dt=first.euler_dt)
