r"""Eigenmodes of the recurrent weights of a linear network, τ dv/dt = −v + h + Mv.

Mode ``i`` (eigenvalue ``λ_i``, eigenvector ``e_i``) has gain ``1/(1 − λ_i)`` (steady-state
amplification of the input's projection onto it) and time constant ``τ/(1 − λ_i)``. It decays
for Re λ < 1, integrates for λ = 1 and grows for Re λ > 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .. import _validate

__all__ = ["Spectrum", "spectrum"]


@dataclass(frozen=True)
class Spectrum:
    """Eigen-decomposition of ``M`` with the lecture's per-mode quantities.

    Attributes
    ----------
    eigenvalues : Tensor, shape (N,)
        λ, sorted by decreasing real part (then imaginary part); real for a symmetric ``M``,
        complex otherwise.
    eigenvectors : Tensor, shape (N, N)
        Right eigenvectors as columns, ``M E = E diag(λ)``, unit norm, phase fixed so the
        largest-magnitude entry is real and positive. Real orthonormal for a symmetric ``M``.
    left_eigenvectors : Tensor, shape (N, N)
        Rows ``w_i`` with ``w_i M = λ_i w_i`` and ``w_i · e_j = δ_ij`` (``E⁻¹``; ``Eᵀ`` if symmetric).
    tau : Tensor, shape ()
        Time constant in ms.
    tol : float
        Tolerance on |λ − 1| (and Re λ − 1) for the integrator / marginal regime.
    symmetric : bool
    matrix : Tensor, shape (N, N)
        ``M`` itself (for :meth:`steady_state`).
    """

    eigenvalues: Tensor
    eigenvectors: Tensor
    left_eigenvectors: Tensor
    tau: Tensor
    tol: float
    symmetric: bool
    matrix: Tensor | None = None

    @property
    def _integrator(self) -> Tensor:
        return (self.eigenvalues - 1).abs() <= self.tol

    @property
    def gains(self) -> Tensor:
        """1/(1 − λ), shape (N,); ``inf`` for integrator modes (λ = 1 within ``tol``)."""
        g = 1 / (1 - self.eigenvalues)
        return torch.where(self._integrator, torch.full_like(g, float("inf")), g)

    @property
    def time_constants(self) -> Tensor:
        """τ/(1 − λ) in ms, shape (N,); negative real part: growth; ``inf`` for integrators."""
        return self.tau * self.gains

    @property
    def regimes(self) -> list[str]:
        """Per mode: ``"decay"`` (Re λ < 1), ``"integrator"`` (λ = 1), ``"oscillator"``
        (Re λ = 1, Im λ ≠ 0: undamped oscillation) or ``"growth"`` (Re λ > 1)."""
        lam = self.eigenvalues
        re = (lam.real if lam.is_complex() else lam).tolist()
        out = []
        for r, integ in zip(re, self._integrator.tolist()):
            if integ:
                out.append("integrator")
            elif abs(r - 1) <= self.tol:
                out.append("oscillator")
            else:
                out.append("decay" if r < 1 else "growth")
        return out

    @property
    def stable(self) -> bool:
        """All modes decay: Re λ < 1 − tol."""
        lam = self.eigenvalues
        re = lam.real if lam.is_complex() else lam
        return bool((re < 1 - self.tol).all())

    def project(self, h: Tensor) -> Tensor:
        r"""Mode coordinates of ``h`` (*, N): ``h · e_i`` for a symmetric ``M``, ``w_i · h``
        (left eigenvectors) otherwise, so that ``h = Σ_i c_i e_i`` either way."""
        N = self.eigenvectors.shape[0]
        h = _validate.as_real_tensor("h", h, device=self.eigenvectors.device)
        if h.ndim == 0 or h.shape[-1] != N:
            raise ValueError(f"h must have shape (*, {N}) to match M ({N}, {N}), got {tuple(h.shape)}")
        W = self.left_eigenvectors
        return (h.to(W.dtype) if W.is_complex() else h) @ W.mT

    def steady_state(self, h: Tensor) -> Tensor:
        r"""v∞ = ``(I − M)⁻¹h`` (*, N): for a diagonalisable ``M`` the mode-by-mode sum
        Σ_i (c_i / (1 − λ_i)) e_i with c_i = w_i · h (:meth:`project`, the dual basis).

        Computed by a linear solve with ``I − M``, not from the modes: for a non-normal ``M``
        near a defective one (``[[.5, 1], [0, .5]]``: one eigenvector, ``E`` singular) the mode
        sum loses every digit, while ``I − M`` stays well conditioned. For an unstable ``M`` this is
        the unstable fixed point; with an integrator mode (λ = 1 within ``tol``) there is none
        (``ValueError``).
        """
        N = self.eigenvectors.shape[0]
        h = _validate.as_real_tensor("h", h, device=self.eigenvectors.device)
        if h.ndim == 0 or h.shape[-1] != N:
            raise ValueError(f"h must have shape (*, {N}) to match M ({N}, {N}), got {tuple(h.shape)}")
        h = _validate.check_finite_tensor("h", h)
        integ = self._integrator
        if bool(integ.any()):
            i = int(integ.nonzero()[0, 0])
            raise ValueError(
                f"no steady state: mode {i} has λ = {self.eigenvalues[i].item():.6g} = 1 within "
                f"tol = {self.tol:.3g} (an integrator); use torchrate.linear.solve for v(t)"
            )
        if self.matrix is None:  # built by hand from modes only
            v = (self.project(h) / (1 - self.eigenvalues)) @ self.eigenvectors.mT
            return v.real if v.is_complex() else v
        M = self.matrix
        eye = torch.eye(N, dtype=M.dtype, device=M.device)
        return torch.linalg.solve(eye - M, h.to(M.dtype).unsqueeze(-1)).squeeze(-1)


def _fix_phase(E: Tensor) -> Tensor:
    """Scale each column so that its largest-magnitude entry is real and positive."""
    idx = E.abs().argmax(0, keepdim=True)
    pivot = E.gather(0, idx)
    return E * (pivot.abs() / pivot)


def spectrum(M: Tensor, tau: float | Tensor = 1.0, *, tol: float | None = None) -> Spectrum:
    r"""Eigenvalues, eigenvectors, gains 1/(1−λ) and time constants τ/(1−λ) of ``M``.

    Parameters
    ----------
    M : Tensor, shape (N, N)
        Recurrent weights. An exactly symmetric ``M`` uses ``torch.linalg.eigh`` (real
        orthonormal modes); any other uses ``torch.linalg.eig`` (complex modes).
    tau : float
        Time constant in ms (a single one: with one τ per neuron the eigenmodes of ``M`` are
        not those of the dynamics — analyse the Jacobian, :func:`torchrate.analysis.jacobian`).
    tol : float, optional
        |λ − 1| below which a mode counts as an integrator; default ``sqrt(eps)·max(1, ρ(M))``.

    Returns
    -------
    Spectrum

    Examples
    --------
    >>> s = spectrum(torch.tensor([[0.0, 0.8], [0.8, 0.0]]), tau=10.0)
    >>> s.eigenvalues, s.gains      # mutual excitation: gains 5 and 1/1.8
    (tensor([ 0.8000, -0.8000]), tensor([5.0000, 0.5556]))
    """
    M = _validate.check_square_matrix("M", M)
    if isinstance(tau, Tensor) and tau.numel() != 1 or isinstance(tau, (list, tuple)):
        raise ValueError(
            f"tau must be one positive time constant (ms), got shape {tuple(torch.as_tensor(tau).shape)}; with a τ "
            "per neuron the modes of M are not those of the dynamics: use "
            "torchrate.analysis.jacobian(net, v, u) and its eigenvalues"
        )
    tau = torch.tensor(
        _validate.check_positive("tau", tau, fix="one time constant in ms"), dtype=M.dtype, device=M.device
    )
    if tol is not None:
        tol = _validate.check_nonnegative("tol", tol, fix="|λ − 1| below which a mode is an integrator")
    symmetric = torch.equal(M, M.mT)
    if symmetric:
        lam, E = torch.linalg.eigh(M)
        lam, E = lam.flip(0), _fix_phase(E.flip(1))
        left = E.mT
    else:
        lam, E = torch.linalg.eig(M)
        # descending real part, ties (conjugate pairs) by descending imaginary part
        key = torch.stack([lam.real, lam.imag]).double().cpu().numpy()
        order = torch.as_tensor(sorted(range(len(lam)), key=lambda i: (-key[0, i], -key[1, i])), device=M.device)
        lam, E = lam[order], _fix_phase(E[:, order])
        left = torch.linalg.inv(E)
    if tol is None:
        tol = torch.finfo(M.dtype).eps ** 0.5 * max(1.0, lam.abs().max().item() if len(lam) else 1.0)
    return Spectrum(lam, E, left, tau.reshape(()), float(tol), symmetric, M)
