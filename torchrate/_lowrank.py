r"""Low-rank recurrent weights, M = m nᵀ / N: the parametrization and the O(N r) Euler rollout.

.. math::
    M = \frac{m n^\top}{N}, \qquad m, n \in \mathbb{R}^{N \times r}

(the convention of Mastrogiuseppe & Ostojic 2018 and Valente et al. 2022: entries of m and n
are O(1), and the overlap nᵀm/N is O(1) for correlated factors). ``M v = m κ`` with
``κ = nᵀ v / N`` (r numbers), so a step costs O(N r), never O(N²).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .nonlinearities import Nonlinearity

__all__ = ["LowRankFactors", "lowrank_rollout", "factors_of"]


def factors_of(M: Tensor, rank: int, *, check: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    r"""Factors ``m, n`` (N, r) with ``m nᵀ/N`` the best rank-``r`` approximation of ``M`` (N, N).

    Truncated SVD ``M = U S Vᵀ``: ``m = √N U_r S_r^{1/2}``, ``n = √N V_r S_r^{1/2}`` (balanced
    factors, so ``m nᵀ / N = U_r S_r V_rᵀ``). Also returns all singular values ``S`` (N,).

    With ``check``, a ValueError if ``M`` has rank > r: its (r+1)-th singular value above
    ``N · eps · S_1`` (the rounding level of the SVD), so the factors would not reproduce ``M``.
    """
    N = M.shape[0]
    U, S, Vh = torch.linalg.svd(M)
    if check and rank < N:
        limit = N * torch.finfo(M.dtype).eps * S[0].item()
        if S[rank].item() > limit:
            raise ValueError(
                f"M has rank > {rank}: its singular value {rank + 1} is {S[rank].item():.3g} (largest "
                f"{S[0].item():.3g}, rounding level {limit:.3g}); a LowRankRateRNN of rank {rank} cannot hold it. "
                "Use torchrate.analysis.low_rank_approximation for the best rank-r approximation"
            )
    root = S[:rank].sqrt() * math.sqrt(N)
    return U[:, :rank] * root, Vh[:rank].T * root, S


class LowRankFactors(nn.Module):
    r"""``M = m nᵀ / N`` from two trainable factors ``m, n`` (N, r) (a multi-tensor parametrization).

    ``right_inverse(M)`` gives the balanced factors of a rank-≤ r ``M`` by SVD and refuses one
    of higher rank (:func:`factors_of`); the zero matrix gives zero factors (no SVD).

    Parameters
    ----------
    rank : int
        r.
    """

    def __init__(self, rank: int) -> None:
        super().__init__()
        self.rank = rank

    def forward(self, m: Tensor, n: Tensor) -> Tensor:
        return m @ n.T / m.shape[0]

    def right_inverse(self, M: Tensor) -> tuple[Tensor, Tensor]:
        if not bool(M.any()):  # at construction: no O(N³) SVD of zeros
            zeros = M.new_zeros(M.shape[0], self.rank)
            return zeros, zeros.clone()
        m, n, _ = factors_of(M, self.rank)
        return m, n


def lowrank_rollout(
    X: Tensor, v0: Tensor, m: Tensor, n: Tensor, a: Tensor, F: Nonlinearity, eta: Tensor | None = None
) -> Tensor:
    r"""Euler rollout with ``M = m nᵀ/N``, O(N r) a step.

    .. math::
        \kappa_t = n^\top v_t / N, \qquad v_{t+1} = v_t + a\,(F(X_t + m\,\kappa_t) - v_t) + \eta_t

    Equal to :func:`torchrate._rollout.euler_rollout` with ``M = m nᵀ/N`` (to rounding). Plain
    differentiable ops: exact derivatives of every order, and every ``torch.func`` transform.

    Parameters
    ----------
    X : Tensor, shape (T, B, N)
        ``W u_t + b``.
    v0 : Tensor, shape (B, N)
    m, n : Tensor, shape (N, r)
    a : Tensor, shape () or (N,)
        ``dt / τ``.
    F : Nonlinearity
    eta : Tensor, shape (T, B, N), optional

    Returns
    -------
    Tensor, shape (T, B, N): ``v_1 … v_T``.
    """
    N = m.shape[0]
    nN, mT = n / N, m.T  # κ = v (n/N): (B, r); the drive m κ: κ mᵀ
    v, rates = v0, []
    for t in range(X.shape[0]):
        v = torch.lerp(v, F(torch.addmm(X[t], v @ nN, mT)), a)
        if eta is not None:
            v = v + eta[t]
        rates.append(v)
    return torch.stack(rates) if rates else X.new_empty((0, *v0.shape))
