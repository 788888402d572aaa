r"""Hand-built networks of the lectures, each an ordinary :class:`~torchrate.RateRNN` or
:class:`~torchrate.EIRateRNN`.

Every constructor returns a network of τ dv/dt = −v + F(h + M v + b) whose weights are
written down, not learned, so that its behaviour follows from the mathematics:

* :func:`autapse` — M = diag(λ₁ … λ_N): N independent neurons, linear F;
* :func:`mutual_excitation`, :func:`mutual_inhibition` — M = [[0, ±w], [±w, 0]], w = 0.8:
  gains 5 and 1/1.8 along (1, 1) and (1, −1), linear F;
* :func:`line_attractor` — M = Φ Λ Φᵀ with λ = 1 along a chosen direction, linear F;
* :func:`saturating_autapse` — M = diag(λ), λ > 1, F = clip: two attractors ±1 per neuron;
* :func:`two_attractor` — M = [[0, −2], [−2, 0]], F = clip: attractors (1, −1), (−1, 1);
* :func:`winner_take_all` — M = αI − β(11ᵀ − I), b = −β(K − 2), F = clip: K one-hot attractors;
* :func:`hopfield` — Hebbian M = (1/N) Σ ξξᵀ with zero diagonal, F = sign (±1);
* :func:`dayan_abbott_ei` — M = [[1.25, −1], [1, 0]], b = (10, −10) Hz, F = relu, τ_I free.

The Hopfield helpers (:func:`hebbian_weights`, :func:`hopfield_energy`,
:func:`recall_synchronous`, :func:`recall_asynchronous`) work on batches of ±1 states.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from . import _validate
from .networks import EIRateRNN, RateRNN
from .nonlinearities import Nonlinearity
from .nonlinearities import nonlinearity as _nonlinearity

__all__ = [
    "SIGN",
    "weights_from_modes",
    "basis_with_direction",
    "autapse",
    "mutual_pair",
    "mutual_excitation",
    "mutual_inhibition",
    "line_attractor",
    "saturating_autapse",
    "winner_take_all",
    "two_attractor",
    "hebbian_weights",
    "hopfield",
    "hopfield_energy",
    "Recall",
    "recall_synchronous",
    "recall_asynchronous",
    "dayan_abbott_ei",
]


def _sign(x: Tensor) -> Tensor:
    # ±1 with sign(0) = +1, so that a rate is always a valid Hopfield state
    if not isinstance(x, Tensor) or x.is_complex():
        raise TypeError(
            f"x must be a real tensor, got {_validate._show(x)}; SIGN acts on a tensor of "
            "pre-activations: SIGN(torch.as_tensor(x))"
        )
    return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)


#: binary ±1 threshold F(x) = sign(x) (F(0) = +1); its derivative is 0 almost everywhere
SIGN = Nonlinearity("sign", _sign, torch.zeros_like)


def _factory(dtype: torch.dtype | None, device: torch.device | str | None) -> dict[str, Any]:
    dtype, device = _validate.check_dtype("dtype", dtype), _validate.check_device("device", device)
    return {"dtype": dtype or torch.get_default_dtype(), "device": device}


def _time_constants(**values: Any) -> None:
    """Refuse a τ or dt (ms) that is not a positive finite number, naming it; a tensor τ (one
    per neuron) is left to the network, which checks its shape and entries."""
    for name, value in values.items():
        if not (isinstance(value, Tensor) and value.numel() > 1):
            _validate.check_positive(name, value, fix=f"{name} is in ms")


def _real_tensor(
    name: str,
    value: object,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    *,
    finite: bool = True,
) -> Tensor:
    """``value`` as a real floating tensor of ``dtype`` and on ``device`` if given (finite unless
    ``finite=False``). A list of numbers is converted straight to ``dtype``, not through the
    default dtype, so ``[0.66]`` in float64 is the double nearest 0.66."""
    t = _validate.as_real_tensor(name, value)  # refuses strings, complex and bool values, naming them
    if dtype is not None and not isinstance(value, Tensor):
        t = torch.as_tensor(value, dtype=dtype)
    t = t.to(dtype=dtype or t.dtype, device=device)
    return _validate.check_finite_tensor(name, t) if finite else t


# ---------------------------------------------------------------------- linear algebra
def weights_from_modes(eigenvectors: Tensor, eigenvalues: Tensor | Sequence[float]) -> Tensor:
    r"""The symmetric weight matrix with given orthonormal modes: M = Φ Λ Φᵀ.

    Parameters
    ----------
    eigenvectors : Tensor, shape (N, N)
        Φ, orthonormal columns f̂_α (ΦᵀΦ = I).
    eigenvalues : Tensor or sequence, shape (N,)
        λ_α; M f̂_α = λ_α f̂_α.

    Returns
    -------
    Tensor, shape (N, N), in Φ's dtype and device.

    Examples
    --------
    >>> Phi = torch.tensor([[1.0, -1.0], [1.0, 1.0]]) / 2 ** 0.5
    >>> weights_from_modes(Phi, [0.8, -0.8])        # mutual excitation, 0.8
    tensor([[0.0000, 0.8000],
            [0.8000, 0.0000]])
    """
    Phi = _validate.as_real_tensor("eigenvectors", eigenvectors)
    if Phi.ndim != 2 or Phi.shape[0] != Phi.shape[1]:
        raise ValueError(f"eigenvectors must be a square (N, N) matrix Φ, got shape {tuple(Phi.shape)}")
    if Phi.shape[0] == 0:
        raise ValueError("eigenvectors must hold at least one mode (N ≥ 1), got shape (0, 0)")
    _validate.check_finite_tensor("eigenvectors", Phi)
    lam = _real_tensor("eigenvalues", eigenvalues, Phi.dtype, Phi.device, finite=False)
    if lam.shape != (Phi.shape[0],):
        raise ValueError(f"eigenvalues must have shape ({Phi.shape[0]},), got {tuple(lam.shape)}")
    _validate.check_finite_tensor("eigenvalues", lam)
    eye = torch.eye(Phi.shape[0], dtype=Phi.dtype, device=Phi.device)
    err = (Phi.T @ Phi - eye).abs().max().item()
    tol = 100 * torch.finfo(Phi.dtype).eps * Phi.shape[0]
    if err > tol:
        raise ValueError(
            f"eigenvectors must be orthonormal (ΦᵀΦ = I); max |ΦᵀΦ − I| = {err:.3g} > {tol:.3g}. "
            "Normalise the columns or build Φ with basis_with_direction"
        )
    M = (Phi * lam) @ Phi.T
    return (M + M.T) / 2  # exactly symmetric in floating point


def basis_with_direction(direction: Tensor | Sequence[float]) -> Tensor:
    r"""An orthonormal basis Φ (N, N) whose first column is ``direction / ‖direction‖``.

    The other columns complete it (Householder reflection, so Φ is exactly orthogonal up to
    rounding). Float input keeps its dtype; integers become the default dtype.
    """
    d = _validate.as_real_tensor("direction", direction)
    if d.ndim != 1 or d.numel() < 1:
        raise ValueError(f"direction must be a non-empty vector (N,), got shape {tuple(d.shape)}")
    _validate.check_finite_tensor("direction", d)
    norm = torch.linalg.vector_norm(d)
    if not norm > 0:
        raise ValueError(
            f"direction must be non-zero, got {_validate._show(d)}; it is normalised, so any "
            "non-zero multiple of the remembered direction will do"
        )
    d = d / norm
    # Householder H = I − 2wwᵀ/‖w‖² with w = d − s e₁ maps e₁ to d/s; choosing s = −sign(d₀)
    # avoids cancellation, and a sign flip of the first column makes it +d
    e1 = torch.zeros_like(d)
    e1[0] = 1.0
    s = -1.0 if d[0] >= 0 else 1.0
    w = d - s * e1
    H = torch.eye(d.numel(), dtype=d.dtype, device=d.device) - 2 * torch.outer(w, w) / (w @ w)
    H[:, 0] = d
    return H


# ---------------------------------------------------------------------- linear networks
def autapse(
    lambdas: Tensor | Sequence[float] | float,
    *,
    tau: float = 10.0,
    dt: float = 0.1,
    nonlinearity: str = "linear",
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> RateRNN:
    r"""N independent neurons, each exciting (λ > 0) or inhibiting (λ < 0) itself: M = diag(λ).

    τ dv_a/dt = −v_a + F(λ_a v_a + h_a). For linear F and λ_a < 1 neuron ``a`` relaxes to
    v_∞ = h_a/(1 − λ_a) with time constant τ/(1 − λ_a); λ_a = 1 integrates, λ_a > 1 grows.

    Parameters
    ----------
    lambdas : float or sequence, shape (N,)
        Self-connection strengths λ_a.
    tau, dt : float
        Time constant and Euler step (ms).
    nonlinearity : str or callable
        F; ``"linear"`` for the lecture's analysis, ``"clip"`` for :func:`saturating_autapse`.

    Examples
    --------
    >>> net = autapse([0.0, 0.5, 0.66], tau=10.0)     # gains 1, 2, 2.94
    """
    f = _factory(dtype, device)
    _time_constants(tau=tau, dt=dt)
    _nonlinearity(nonlinearity)  # refuses an unknown name or a non-callable, naming nonlinearity
    lam = _real_tensor("lambdas", lambdas, **f).reshape(-1)
    if lam.numel() == 0:
        raise ValueError("lambdas must hold at least one value, got an empty sequence")
    return RateRNN.from_weights(torch.diag(lam), tau=tau, dt=dt, nonlinearity=nonlinearity)


def mutual_pair(
    weight: float,
    *,
    tau: float = 10.0,
    dt: float = 0.1,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> RateRNN:
    r"""Two linear neurons coupled symmetrically: M = [[0, w], [w, 0]].

    The modes are f̂₁ = (1, 1)/√2 with λ₁ = w and f̂₂ = (−1, 1)/√2 with λ₂ = −w, so an
    input along f̂_α is amplified by the gain 1/(1 − λ_α) with time constant τ/(1 − λ_α).
    """
    weight = _validate.as_float("weight", weight)
    f = _factory(dtype, device)
    _time_constants(tau=tau, dt=dt)
    M = torch.tensor([[0.0, weight], [weight, 0.0]], **f)
    return RateRNN.from_weights(M, tau=tau, dt=dt, nonlinearity="linear")


def mutual_excitation(weight: float = 0.8, **kwargs: Any) -> RateRNN:
    """Mutual excitation ``mutual_pair(+weight)``: gains 1/(1−0.8) = 5 along (1, 1), 1/1.8 along (−1, 1)."""
    if _validate.as_float("weight", weight) < 0:
        raise ValueError(f"mutual_excitation needs weight ≥ 0, got {weight}; use mutual_inhibition")
    return mutual_pair(weight, **kwargs)


def mutual_inhibition(weight: float = 0.8, **kwargs: Any) -> RateRNN:
    """Mutual inhibition ``mutual_pair(−weight)``: gains 1/1.8 along (1, 1) and 5 along (−1, 1)."""
    if _validate.as_float("weight", weight) < 0:
        raise ValueError(f"mutual_inhibition takes the strength ≥ 0 (M = −weight), got {weight}")
    return mutual_pair(-weight, **kwargs)


def line_attractor(
    direction: Tensor | Sequence[float],
    *,
    eigenvalue: float = 1.0,
    other_eigenvalues: float | Sequence[float] = 0.0,
    tau: float = 10.0,
    dt: float = 0.1,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> RateRNN:
    r"""Linear integrator: M = Φ Λ Φᵀ with eigenvalue 1 along ``direction``.

    With λ₁ = 1 the mode c₁ = f̂₁·v obeys τ dc₁/dt = f̂₁·h: it integrates its input,
    c₁(t) = c₁(0) + (1/τ)∫₀ᵗ f̂₁·h dt', and keeps the value when the input is off (a line of
    fixed points along f̂₁). λ₁ < 1 forgets with time constant τ/(1 − λ₁), λ₁ > 1 explodes.

    Parameters
    ----------
    direction : sequence, shape (N,)
        The remembered direction f̂₁ (normalised here).
    eigenvalue : float
        λ₁ (1 for a perfect integrator).
    other_eigenvalues : float or sequence, shape (N − 1,)
        λ₂ … λ_N, the other modes (keep them < 1).
    """
    f = _factory(dtype, device)
    eigenvalue = _validate.as_float("eigenvalue", eigenvalue)
    _time_constants(tau=tau, dt=dt)
    d = _real_tensor("direction", direction, **f, finite=False)
    Phi = basis_with_direction(d)
    N = Phi.shape[0]
    others = _real_tensor("other_eigenvalues", other_eigenvalues, Phi.dtype, Phi.device, finite=False)
    others = others.expand(N - 1) if others.ndim == 0 else others
    if others.shape != (N - 1,):
        raise ValueError(f"other_eigenvalues must be a float or have shape ({N - 1},), got {tuple(others.shape)}")
    _validate.check_finite_tensor("other_eigenvalues", others)
    lam = torch.cat([others.new_tensor([eigenvalue]), others])
    return RateRNN.from_weights(weights_from_modes(Phi, lam), tau=tau, dt=dt, nonlinearity="linear")


# ---------------------------------------------------------------------- attractor networks
def saturating_autapse(lambdas: Tensor | Sequence[float] | float = 2.0, **kwargs: Any) -> RateRNN:
    r"""Self-exciting neurons with the saturating F = clip(x, −1, 1): M = diag(λ), λ > 1.

    For zero input each neuron has two stable states v = ±1 (``clip(±λ) = ±1``) and an
    unstable one at 0, the extrema of the energy E(v) = −∫₀ᵛ (−s + F(λs)) ds; N such neurons
    have 2ᴺ attractors.
    """
    lam = _real_tensor("lambdas", lambdas, torch.float64)
    if not (lam > 1).all():
        raise ValueError(f"saturating_autapse needs every λ > 1 for two attractors, got {lam.tolist()}")
    return autapse(lambdas, nonlinearity="clip", **kwargs)


def winner_take_all(
    n_units: int = 2,
    *,
    inhibition: float = 2.0,
    self_excitation: float = 0.0,
    tau: float = 10.0,
    dt: float = 0.1,
    noise_std: float = 0.0,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> RateRNN:
    r"""K mutually inhibiting saturating neurons whose attractors are the K one-hot states.

    M = α I − β (11ᵀ − I), b = −β (K − 2) 1, F = clip(x, −1, 1). In the winner state
    (v_w = 1, all others −1) the winner's drive is α + β ≥ 1 and every loser's is
    −(α + β) ≤ −1, so all K winner states are fixed points and stable (F' = 0 there) when
    α + β > 1. States with two or no winners are not: their drives are α − β and β − α.
    For K = 2 this is the lecture's two-attractor network M = [[0, −2], [−2, 0]], b = 0.
    Inputs h: every difference mode has eigenvalue α + β > 1 in the linear range, so the
    unit with the largest input wins.

    Parameters
    ----------
    n_units : int
        K ≥ 2.
    inhibition, self_excitation : float
        β > 0 and α ≥ 0, with α + β > 1.
    noise_std : float
        Private noise σ of each unit (Euler–Maruyama).
    """
    if _validate.as_int("n_units", n_units) < 2:
        raise ValueError(f"n_units must be an int ≥ 2, got {n_units!r}; one unit has no rival to inhibit")
    inhibition = _validate.check_positive("inhibition", inhibition)
    self_excitation = _validate.check_nonnegative("self_excitation", self_excitation)
    noise_std = _validate.check_nonnegative("noise_std", noise_std)
    _time_constants(tau=tau, dt=dt)
    n_units = int(n_units)
    if not inhibition + self_excitation > 1:
        raise ValueError(
            f"winner_take_all needs inhibition β > 0, self_excitation α ≥ 0 and α + β > 1 for "
            f"stable winners; got β = {inhibition}, α = {self_excitation}"
        )
    f = _factory(dtype, device)
    eye = torch.eye(n_units, **f)
    M = self_excitation * eye - inhibition * (torch.ones(n_units, n_units, **f) - eye)
    b = torch.full((n_units,), -inhibition * (n_units - 2), **f)
    return RateRNN.from_weights(
        M, b=b if n_units > 2 else None, tau=tau, dt=dt, nonlinearity="clip", noise_std=noise_std
    )


def two_attractor(weight: float = 2.0, **kwargs: Any) -> RateRNN:
    """The lecture's two-neuron network with two attractors: M = [[0, −w], [−w, 0]], F = clip.

    Stable states (1, −1) and (−1, 1), a saddle at the origin; ``winner_take_all(2)``.
    """
    weight = _validate.check_positive("weight", weight)
    alpha = _validate.check_nonnegative("self_excitation", kwargs.get("self_excitation", 0.0))
    if not weight + alpha > 1:
        raise ValueError(
            f"weight must exceed 1 − self_excitation = {1 - alpha:g} for two stable attractors, got {weight}"
        )
    return winner_take_all(2, inhibition=weight, **kwargs)


# ---------------------------------------------------------------------- Hopfield
def _check_pm1(x: Tensor, name: str) -> None:
    if not ((x == 1) | (x == -1)).all():
        bad = x[(x != 1) & (x != -1)][0].item()
        raise ValueError(f"{name} must contain only ±1, found {bad:g}")


def hebbian_weights(patterns: Tensor) -> Tensor:
    r"""Hebbian outer-product rule M = (1/N) Σ_μ ξ^μ ξ^μᵀ with zero diagonal.

    Parameters
    ----------
    patterns : Tensor, shape (P, N)
        P stored patterns of ±1 (floating dtype).

    Returns
    -------
    Tensor, shape (N, N)
    """
    xi = _validate.as_real_tensor("patterns", patterns)
    if xi.ndim != 2 or xi.shape[1] == 0:
        raise ValueError(f"patterns must have shape (P, N) with N ≥ 1, got {tuple(xi.shape)}")
    _check_pm1(xi, "patterns")
    M = xi.T @ xi / xi.shape[1]
    return M.fill_diagonal_(0.0)


def hopfield(patterns: Tensor, *, tau: float = 1.0) -> RateRNN:
    r"""Hopfield network storing ±1 ``patterns`` (P, N) with Hebbian weights and F = sign.

    The Euler step is ``dt = τ``, so one step of the network is the synchronous update
    v ← sign(M v) (``sign(0) = +1``); :func:`recall_asynchronous` updates one unit at a time.
    """
    _validate.check_positive("tau", tau, fix="tau is in ms (the Euler step dt = tau)")
    M = hebbian_weights(patterns)
    return RateRNN.from_weights(M, tau=tau, dt=tau, nonlinearity=SIGN)


def hopfield_energy(M: Tensor, states: Tensor, b: Tensor | None = None) -> Tensor:
    r"""E(s) = −½ sᵀ M s − bᵀ s for states (*, N); never increases under asynchronous updates.

    Returns
    -------
    Tensor, shape (*)
    """
    M = _validate.check_square_matrix("M", M, fix="M holds the weights (N, N)")
    N = M.shape[0]
    states = _real_tensor("states", states, M.dtype, M.device, finite=False)
    if states.ndim == 0 or states.shape[-1] != N:
        raise ValueError(f"states must have shape (*, {N}), got {tuple(states.shape)}")
    _validate.check_finite_tensor("states", states)
    if b is not None:
        b = _real_tensor("b", b, M.dtype, M.device, finite=False)
        if b.shape != (N,):
            raise ValueError(f"b must have shape ({N},) (one bias per neuron), got {tuple(b.shape)}")
        _validate.check_finite_tensor("b", b)
    E = -0.5 * ((states @ M.T) * states).sum(-1)
    return E if b is None else E - states @ b


class Recall(NamedTuple):
    """Result of a recall: final ``states`` (B, N), ``steps`` (synchronous steps or sweeps
    taken) and ``converged`` (B,) bool — the state is a fixed point of the update."""

    states: Tensor
    steps: int
    converged: Tensor


def _tie_tol(M: Tensor) -> float:
    # a local field is a sum of N weights; within this bound of 0 it is a tie in exact
    # arithmetic (Hebbian weights make exact ties common), whatever order it was summed in
    return 8 * M.shape[0] * torch.finfo(M.dtype).eps * max(M.abs().max().item(), 1e-300)


def _update(field: Tensor, s: Tensor, tol: float) -> Tensor:
    # s_i ← sign(field_i); a tie (|field_i| ≤ tol) keeps the current state
    return torch.where(field > tol, 1.0, torch.where(field < -tol, -1.0, s)).to(s.dtype)


def _check_states(M: Tensor, states: Tensor) -> Tensor:
    s = _real_tensor("states", states, M.dtype, M.device, finite=False)
    if s.ndim != 2 or s.shape[1] != M.shape[0]:
        raise ValueError(f"states must have shape (B, {M.shape[0]}), got {tuple(s.shape)}")
    _check_pm1(s, "states")
    return s


def recall_synchronous(M: Tensor, states: Tensor, *, max_steps: int = 100) -> Recall:
    r"""Update all units at once, s ← sign(M s), until no unit changes or ``max_steps``.

    Batched over B states (B, N); a tie (local field 0 up to rounding) keeps the unit's state.
    Synchronous dynamics can end in a 2-cycle; those states are returned with
    ``converged = False``.
    """
    M = _validate.check_square_matrix("M", M, fix="M holds the weights (N, N)")
    max_steps = _validate.as_int("max_steps", max_steps, minimum=0)
    s = _check_states(M, states)
    tol = _tie_tol(M)
    step = 0
    for step in range(1, max_steps + 1):  # noqa: B007 - the count is returned
        new = _update(s @ M.T, s, tol)
        if torch.equal(new, s):
            return Recall(s, step - 1, torch.ones(s.shape[0], dtype=torch.bool, device=s.device))
        s = new
    return Recall(s, step, (_update(s @ M.T, s, tol) == s).all(-1))


def recall_asynchronous(
    M: Tensor, states: Tensor, *, max_sweeps: int = 50, generator: torch.Generator | None = None
) -> Recall:
    r"""Update one unit at a time, s_i ← sign(Σ_j M_ij s_j), in a fresh random order each sweep.

    Each update lowers or keeps the energy :func:`hopfield_energy` (M symmetric, zero
    diagonal), so the dynamics stop in a fixed point. A tie (local field 0 up to rounding)
    keeps the unit's state. Batched: every state of the batch
    (B, N) updates its own random unit at once; the convergence check is one host sync per
    sweep of N updates.

    Returns
    -------
    Recall
        ``steps`` is the number of sweeps taken.
    """
    M = _validate.check_square_matrix("M", M, fix="M holds the weights (N, N)")
    max_sweeps = _validate.as_int("max_sweeps", max_sweeps, minimum=0)
    generator = _validate.check_generator("generator", generator)
    s = _check_states(M, states).clone()
    B, N = s.shape
    tol = _tie_tol(M)
    rows = torch.arange(B, device=s.device)
    sweep = 0
    for sweep in range(1, max_sweeps + 1):  # noqa: B007 - the count is returned
        field = s @ M.T  # (B, N) local fields, recomputed each sweep, updated after each flip
        # draw where the generator lives (a CPU generator also serves CUDA states)
        draw_on = generator.device if generator is not None else s.device
        order = torch.rand(B, N, generator=generator, device=draw_on).argsort(-1).to(s.device)
        changed = torch.zeros(B, dtype=torch.bool, device=s.device)
        for k in range(N):
            i = order[:, k]
            old = s[rows, i]
            new = _update(field[rows, i], old, tol)
            delta = new - old  # 0 or ±2
            s[rows, i] = new
            field += delta[:, None] * M[:, i].T  # field_j += M_ji δ_i
            changed |= delta != 0
        if not bool(changed.any()):
            return Recall(s, sweep, torch.ones(B, dtype=torch.bool, device=s.device))
    return Recall(s, sweep, (_update(s @ M.T, s, tol) == s).all(-1))


# ---------------------------------------------------------------------- E–I oscillator
def dayan_abbott_ei(
    tau_i: float = 30.0,
    *,
    tau_e: float = 10.0,
    dt: float = 0.1,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> EIRateRNN:
    r"""Dayan & Abbott's excitatory–inhibitory pair (Theoretical Neuroscience, §7.5).

    .. math::
        \tau_E \dot v_E = -v_E + [1.25\,v_E - v_I + 10]^+,\qquad
        \tau_I \dot v_I = -v_I + [v_E - 10]^+

    i.e. M = [[1.25, −1], [1, 0]], b = −γ = (10, −10) Hz, rectification F = [·]⁺. The fixed
    point (v_E, v_I) = (80/3, 50/3) Hz has the Jacobian J = [[0.25/τ_E, −1/τ_E],
    [1/τ_I, −1/τ_I]]: trace 0 at τ_I = 40 ms (τ_E = 10 ms), a Hopf bifurcation — damped
    oscillations below, a limit cycle above.

    Parameters
    ----------
    tau_i : float
        Inhibitory time constant τ_I (ms), the parameter the lecture varies.
    tau_e : float
        Excitatory time constant τ_E (ms).
    """
    f = _factory(dtype, device)
    _time_constants(tau_i=tau_i, tau_e=tau_e, dt=dt)
    M = torch.tensor([[1.25, -1.0], [1.0, 0.0]], **f)
    b = torch.tensor([10.0, -10.0], **f)
    return EIRateRNN.from_weights(M, n_exc=1, tau_e=tau_e, tau_i=tau_i, b=b, dt=dt, nonlinearity="relu")
