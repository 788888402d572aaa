r"""Jacobians of any recurrent system with respect to its state and its input.

For a flow (continuous time) J = ∂(dv/dt)/∂v; for a map (discrete time) J = ∂v'/∂v. For
torchrate's rate networks they are analytic, ``(diag(F′(x)) M − I)/τ`` (and ``I + dt·`` that for
the Euler map), x = Wu + Mv + b; for every other system (``torch.nn.GRU``, a
:class:`~torchrate.systems.Map` of your own …) they come from ``torch.func``. Both are
differentiable with respect to the network's parameters.
"""

from __future__ import annotations

from torch import Tensor

from .. import _validate
from ..systems import System, as_system

__all__ = ["jacobian", "input_jacobian"]


def _state_and_input(system: System, v: object, u: object) -> tuple[Tensor, Tensor, bool]:
    """``v`` as (B, N) and ``u`` as (B, I) on the system's dtype/device, and whether v was (N,)."""
    v = _validate.as_real_tensor("v", v, device=system.device)
    if system.dtype is not None and v.dtype != system.dtype:
        raise TypeError(
            f"v has dtype {v.dtype} but the network's parameters are {system.dtype}; "
            f"pass v.to({system.dtype}) (or convert the network with net.to({v.dtype}))"
        )
    N = system.state_size
    if v.ndim not in (1, 2) or (N is not None and v.shape[-1] != N):
        n = "N" if N is None else N
        raise ValueError(f"v must have shape (B, {n}) or ({n},) (one rate per neuron), got {tuple(v.shape)}")
    _validate.check_finite_tensor("v", v)
    single = v.ndim == 1
    v = v.reshape(-1, v.shape[-1])
    I = system.input_size if system.input_size is not None else v.shape[-1]
    if u is None:
        u = v.new_zeros(I)
    u = _validate.check_vector("u", u, I, dtype=v.dtype, device=v.device, batch=True, what="input")
    if u.ndim == 2 and u.shape[0] != v.shape[0]:
        raise ValueError(f"u must have shape ({I},) or (B, {I}) with the B = {v.shape[0]} of v, got {tuple(u.shape)}")
    return v, u.expand(v.shape[0], -1), single


def jacobian(net: object, v: Tensor, u: Tensor | None = None, *, time: str | None = None) -> Tensor:
    r"""Jacobian of the system's step with respect to the state, at states ``v`` and input ``u``.

    ∂(dv/dt)/∂v for a flow (1/ms for a rate network), ∂v'/∂v for a map; see
    :func:`torchrate.systems.as_system` for what ``net`` may be and which time it has.

    Parameters
    ----------
    net : anything :func:`~torchrate.systems.as_system` takes
        A torchrate network, ``torch.nn.RNN``/``GRU``/``LSTM`` (or cell), a Flow/Map, a module with
        ``vector_field(v, h)`` or a callable ``f(v, h)``.
    v : Tensor, shape (B, N) or (N,)
        States.
    u : Tensor, shape (I,) or (B, I), optional
        Input (zeros if None).
    time : {"continuous", "discrete"}, optional
        For an Euler network: its ODE or the map it runs (default: the map when dt/τ ≥ 0.5).

    Returns
    -------
    Tensor, shape (B, N, N) or (N, N): ``J[b, i, j] = ∂(step_i)/∂v_j``.

    Examples
    --------
    >>> import torch, torchrate as tr
    >>> net = tr.RateRNN.from_weights(torch.tensor([[0.5]], dtype=torch.float64), tau=10.0, dt=1.0,
    ...                               nonlinearity="linear")
    >>> v = torch.zeros(1, dtype=torch.float64)
    >>> jacobian(net, v).tolist(), jacobian(net, v, time="discrete").tolist()
    ([[-0.05]], [[0.95]])
    """
    system = as_system(net, time=time)
    v, u, single = _state_and_input(system, v, u)
    J = system.jacobian(v, u)
    return J[0] if single else J


def input_jacobian(net: object, v: Tensor, u: Tensor | None = None, *, time: str | None = None) -> Tensor:
    r"""Jacobian of the system's step with respect to the input, ∂(dv/dt)/∂u or ∂v'/∂u.

    How a small change of input moves the state: at a fixed point v* of a rate flow,
    ``diag(F′(x*)) W / τ``. Arguments as :func:`jacobian`.

    Returns
    -------
    Tensor, shape (B, N, I) or (N, I).

    Examples
    --------
    >>> import torch, torchrate as tr
    >>> net = tr.RateRNN.from_weights(torch.zeros(2, 2, dtype=torch.float64), torch.ones(2, 1, dtype=torch.float64),
    ...                               tau=10.0, dt=1.0, nonlinearity="linear")
    >>> input_jacobian(net, torch.zeros(2, dtype=torch.float64)).tolist()
    [[0.1], [0.1]]
    """
    system = as_system(net, time=time)
    v, u, single = _state_and_input(system, v, u)
    B = system.input_jacobian(v, u)
    return B[0] if single else B
