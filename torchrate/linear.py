r"""Exact solutions of linear rate networks from their eigenmodes.

.. math::
    \tau \frac{dv}{dt} = -v + h + M v \quad\Longleftrightarrow\quad
    \frac{dv}{dt} = A v + \frac{h}{\tau}, \qquad A = \frac{M - I}{\tau}

With ``A = E diag(μ) E⁻¹`` (for a scalar τ, ``μ_i = −(1 − λ_i)/τ`` with ``λ_i`` the
eigenvalues of ``M`` and ``E`` its eigenvectors) every mode evolves on its own:

.. math::
    c_i(t) = e^{\mu_i t} c_i(0) + t\,\varphi(\mu_i t)\,\frac{(E^{-1}h)_i}{\tau},
    \qquad \varphi(z) = \frac{e^z - 1}{z}, \quad \varphi(0) = 1,

which is the lecture's ``c_i(t) = (h·e_i)/(1−λ_i) (1 − e^{−t(1−λ_i)/τ}) + c_i(0) e^{−t(1−λ_i)/τ}``
written so that it stays exact and continuous through the integrator ``λ_i = 1``
(``c_i = c_i(0) + t (h·e_i)/τ``) and beyond (``λ_i > 1``, growth). ``v(t) = E c(t)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from . import _validate
from .parametrizations import check_positive

__all__ = ["solve", "steady_state", "phi1"]


def phi1(z: Tensor) -> Tensor:
    r"""φ(z) = (eᶻ − 1)/z with φ(0) = 1, accurate to rounding for all z, real or complex.

    For ``|z| < 1`` it is its Taylor series ``Σ zᵏ/(k+1)!`` (20 terms, Horner), so its derivatives
    (``φ'(0) = 1/2``) are exact too. Elsewhere, for complex ``z = a + ib`` the numerator is formed as
    ``expm1(a)·cos b − 2 sin²(b/2) + i eᵃ sin b`` so no digits cancel. For large
    ``Re z`` (where ``eᶻ`` overflows but ``eᶻ/z`` need not) it is ``e^{a/2}·(e^{a/2}/|z|)·e^{i(b − arg z)}``
    (the ``−1/z`` below rounding): finite wherever φ is, ±inf (never NaN) where φ overflows.
    """
    if not isinstance(z, Tensor):
        raise TypeError(
            f"z must be a Tensor (real or complex), got {_validate._show(z)}; e.g. phi1(torch.as_tensor(z))"
        )
    a = z.real if z.is_complex() else z
    big = a > 0.5 * math.log(torch.finfo(a.dtype).max)  # e^{−a} below rounding; e^z may overflow
    near = z.abs() < 1
    zn = torch.where(near, z, torch.zeros_like(z))  # the Taylor series' argument
    series = torch.full_like(zn, _PHI1_TAYLOR[-1])
    for c in reversed(_PHI1_TAYLOR[:-1]):
        series = series * zn + c
    zs = torch.where(big | near, torch.zeros_like(z), z)  # expm1's argument, where it neither overflows nor cancels
    if z.is_complex():
        a_s, b_s = zs.real, zs.imag
        num = torch.complex(
            torch.expm1(a_s) * torch.cos(b_s) - 2 * torch.sin(b_s / 2) ** 2, torch.exp(a_s) * torch.sin(b_s)
        )
    else:
        num = torch.expm1(zs)
    zero = zs == 0
    small = torch.where(zero, torch.ones_like(num), num / torch.where(zero, torch.ones_like(zs), zs))
    half = torch.exp(torch.where(big, a, torch.zeros_like(a)) / 2)
    mag = half * (half / torch.where(big, z.abs(), torch.ones_like(a)))  # e^a/|z|, inf only where it overflows
    if z.is_complex():
        theta = z.imag - torch.angle(z)
        re, im = (torch.where(f == 0, torch.zeros_like(f), mag * f) for f in (torch.cos(theta), torch.sin(theta)))
        large = torch.complex(re, im)  # no inf·0 = NaN where a component is exactly 0
    else:
        large = mag
    return torch.where(near, series, torch.where(big, large, small))


_PHI1_TAYLOR = [1.0 / math.factorial(k + 1) for k in range(21)]  # φ(z) = Σ zᵏ/(k+1)!; the 21st term < 1e-19 at |z| < 1


def _as_tau(tau: float | Tensor, N: int, like: Tensor) -> Tensor:
    if not isinstance(tau, Tensor) or tau.numel() == 1 and tau.ndim == 0:
        return torch.tensor(
            _validate.check_positive("tau", tau, fix="a time constant in ms"), dtype=like.dtype, device=like.device
        )
    tau = _validate.as_real_tensor("tau", tau, dtype=like.dtype, device=like.device)
    if tau.ndim not in (0, 1) or (tau.ndim == 1 and tau.shape[0] != N):
        raise ValueError(f"tau must be a scalar or of shape ({N},), got shape {tuple(tau.shape)}")
    return check_positive("tau", tau)


def _check_matrix(M: Tensor) -> Tensor:
    return _validate.check_square_matrix("M", M)


def _check_rates(name: str, x: object, N: int, M: Tensor) -> Tensor:
    if isinstance(x, Tensor) and x.is_floating_point() and torch.finfo(x.dtype).bits > torch.finfo(M.dtype).bits:
        raise TypeError(
            f"{name} has dtype {x.dtype} but M is {M.dtype}: the solution would be rounded to "
            f"{M.dtype}; pass M.to({x.dtype}) (or {name}.to({M.dtype}))"
        )
    x = _validate.as_real_tensor(name, x, dtype=M.dtype, device=M.device)
    if x.ndim == 0 or x.shape[-1] != N:
        raise ValueError(f"{name} must have shape (*, {N}) to match M ({N}, {N}), got {tuple(x.shape)}")
    return _validate.check_finite_tensor(name, x)


def _modes(A: Tensor, cond_max: float) -> tuple[Tensor, Tensor, Tensor] | None:
    """(μ, E, E⁻¹) of A, real for symmetric A; None if E is too ill-conditioned (defective A)."""
    if torch.equal(A, A.mT):
        mu, E = torch.linalg.eigh(A)
        return mu, E, E.mT
    mu, E = torch.linalg.eig(A)
    cond = torch.linalg.cond(E).item()
    if not cond < cond_max:  # also catches inf / nan for an exactly defective A
        return None
    return mu, E, torch.linalg.inv(E)


def solve(
    M: Tensor,
    h: Tensor,
    t: Tensor | Sequence[float] | float,
    *,
    tau: float | Tensor,
    v0: Tensor | None = None,
    method: str = "auto",
) -> Tensor:
    r"""Exact rates ``v(t)`` of the linear network τ dv/dt = −v + h + Mv, constant input ``h``.

    Parameters
    ----------
    M : Tensor, shape (N, N)
        Recurrent weights; symmetric (real orthonormal modes, ``eigh``) or any diagonalisable
        matrix (complex modes; the result is real).
    h : Tensor, shape (*, N)
        Constant input(s), batched over leading dimensions.
    t : Tensor, shape (T,), or sequence or float
        Times in ms (any order, negative allowed).
    tau : float or Tensor of shape (N,)
        Time constant(s) in ms.
    v0 : Tensor, shape (*, N) broadcastable with ``h``, optional
        Rates at t = 0 (zeros if None).
    method : {"auto", "eig", "expm"}
        ``"eig"``: eigenmodes, raising for a defective (non-diagonalisable) ``M``;
        ``"expm"``: matrix exponential of the block matrix ``[[A, I], [0, 0]]·t`` (Van Loan),
        valid for any ``M``; ``"auto"``: eigenmodes unless the eigenvector matrix is too
        ill-conditioned (``cond(E)·eps > 1e-8``), then ``"expm"``.

    Returns
    -------
    Tensor, shape (T, *, N)
        ``v(t)`` for every time point, real, in the dtype and device of ``M``. Where a growing
        mode (Re λ > 1) takes an entry past the dtype's range (float32 from about
        t = 88 τ/(Re λ − 1)), that entry is ``±inf`` with the sign of the exact solution, never NaN;
        entries the growing modes do not reach keep their finite value.

    Raises
    ------
    OverflowError
        For a defective ``M`` (the matrix-exponential path) whose solution overflows even float64
        at some t, whose sign that path cannot give; the message names the first such t.

    Examples
    --------
    >>> M = torch.tensor([[0.0, 0.8], [0.8, 0.0]], dtype=torch.float64)
    >>> v = solve(M, torch.tensor([1.0, 1.0], dtype=torch.float64), [0.0, 1e4], tau=10.0)
    >>> v[-1]   # steady state: gain 5 along (1, 1)
    tensor([5.0000, 5.0000], dtype=torch.float64)
    """
    M = _check_matrix(M)
    N = M.shape[0]
    h = _check_rates("h", h, N, M)
    t = _validate.check_finite_tensor("t", _validate.as_real_tensor("t", t, dtype=M.dtype, device=M.device).reshape(-1))
    if v0 is not None:
        v0 = _check_rates("v0", v0, N, M)
        h, v0 = torch.broadcast_tensors(h, v0)
    if method not in ("auto", "eig", "expm"):
        raise ValueError(f"method must be 'auto', 'eig' or 'expm', got {method!r}")
    tau = _as_tau(tau, N, M)
    eye = torch.eye(N, dtype=M.dtype, device=M.device)
    A = (M - eye) / (tau[:, None] if tau.ndim else tau)
    g = h / tau  # (*, N): dv/dt = A v + g
    tt = t.reshape(-1, *([1] * h.ndim))  # (T, 1…, 1) against (*, N)

    modes = None
    if method != "expm":
        cond_max = 1e-8 / torch.finfo(M.dtype).eps
        modes = _modes(A, cond_max)
        if modes is None and method == "eig":
            raise ValueError(
                f"M is defective (not diagonalisable): its eigenvector matrix has condition number "
                f"≥ {cond_max:.3g}, so the eigenmode solution would lose all accuracy. "
                "Use method='expm' (or 'auto'), which works for any M"
            )
    if modes is None:
        # exp([[A, I], [0, 0]] t) = [[e^{At}, ∫₀ᵗ e^{As} ds], [0, I]]   (Van Loan 1978)
        Z = torch.zeros(2 * N, 2 * N, dtype=M.dtype, device=M.device)
        Z[:N, :N], Z[:N, N:] = A, eye
        E = torch.linalg.matrix_exp(t[:, None, None] * Z)  # (T, 2N, 2N)
        expA = E[:, :N, :N].reshape(len(t), *([1] * (h.ndim - 1)), N, N)
        intA = E[:, :N, N:].reshape(expA.shape)
        v = (intA @ g.unsqueeze(-1)).squeeze(-1)
        v = v if v0 is None else v + (expA @ v0.unsqueeze(-1)).squeeze(-1)
        bad = ~torch.isfinite(v).reshape(len(t), -1).all(-1)  # (T,): e^{At} overflowed
        if not bool(bad.any()):
            return v
        if M.dtype != torch.float64:  # the rows again in float64: the cast back rounds to ±inf with their sign
            v[bad] = solve(
                M.double(),
                h.double(),
                t[bad].double(),
                tau=tau.double(),
                v0=None if v0 is None else v0.double(),
                method=method,
            ).to(v.dtype)
            return v
        if _modes(A, 1e-8 / torch.finfo(M.dtype).eps) is not None:  # method="expm" asked for, M diagonalisable
            v[bad] = solve(M, h, t[bad], tau=tau, v0=v0, method="eig")
            return v
        first = t[bad][0].item()
        raise OverflowError(
            f"v(t) overflows float64 at t = {first:g} ms (and {int(bad.sum()) - 1} later time(s)): a mode of this "
            f"defective M grows past 1e308 and the matrix exponential cannot give its sign; solve for smaller t "
            f"(the growth rate is max Re μ = {torch.linalg.eigvals(A).real.max().item():.6g} per ms)"
        )

    mu, E, Einv = modes
    cg = g.to(E.dtype) @ Einv.mT  # (*, N) mode coordinates of h/τ
    c0 = None if v0 is None else v0.to(E.dtype) @ Einv.mT  # (*, N) mode coordinates of v0
    z = mu * tt  # (T, 1…, N)
    c = tt * phi1(z) * cg
    if c0 is not None:
        c = c + torch.exp(z) * c0
    v = c @ E.mT
    v = v.real if v.is_complex() else v
    bad = ~torch.isfinite(v).all(-1)  # (T, *): a growing mode overflowed the dtype (inf·0, inf − inf)
    if bool(bad.any()):
        shape = v.shape
        v[bad] = _overflowed(
            z.expand(shape)[bad],
            tt.expand(*shape[:-1], 1)[bad],
            cg.expand(shape)[bad],
            None if c0 is None else c0.expand(shape)[bad],
            E,
        )
    return v


def _overflowed(z: Tensor, tt: Tensor, cg: Tensor, c0: Tensor | None, E: Tensor) -> Tensor:
    r"""``v = E c`` (R, N) for rows where it overflows, each entry the exact value rounded: ±inf
    with the sign of the exact solution, finite where the entry's growing modes cancel exactly
    (a zero eigenvector entry).

    Each mode coordinate is written ``c_i = e^{s_i} ĉ_i`` with ``s_i = Re z_i`` for a growing mode
    (``Re z_i > 1``; else ``s_i = 0``) and ``ĉ_i`` finite: ``e^{z−s}`` and
    ``t (e^{z−s} − e^{−s})/z`` for ``t φ(z) e^{−s}``. Entry j is then
    ``e^{m_j} Σ_i E_ji e^{s_i − m_j} ĉ_i`` with ``m_j`` the largest ``s_i`` among its nonzero terms,
    a finite sum times one exponential: it overflows to the sum's sign and no NaN is formed.
    """
    a = z.real if z.is_complex() else z
    s = torch.where(a > 1, a, torch.zeros_like(a))  # (R, N)
    grows = s > 0
    zs = torch.where(grows, z, torch.ones_like(z))
    scaled = tt * (torch.exp(z - s) - torch.exp(-s)) / zs
    chat = torch.where(grows, scaled, tt * phi1(z)) * cg
    if c0 is not None:
        chat = chat + torch.exp(z - s) * c0
    terms = E[None] * chat[:, None, :]  # (R, N_j, N_i): E_ji ĉ_i
    scale = s[:, None, :].expand(terms.shape)
    m = torch.where(terms != 0, scale, torch.full_like(scale, -math.inf)).amax(-1)  # (R, N_j)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))  # all terms zero: v_j = 0
    weight = torch.exp(torch.where(terms != 0, scale - m[..., None], torch.zeros_like(scale)))
    total = (terms * weight).sum(-1)  # zero terms stay zero (no 0·inf), the largest has weight 1
    total = total.real if total.is_complex() else total
    return torch.exp(m) * total


def steady_state(M: Tensor, h: Tensor) -> Tensor:
    r"""Steady state ``v∞ = (I − M)⁻¹ h = Φ(I − Λ)⁻¹Φᵀ h`` of τ dv/dt = −v + h + Mv.

    Parameters
    ----------
    M : Tensor, shape (N, N)
    h : Tensor, shape (*, N)

    Returns
    -------
    Tensor, shape (*, N)

    Raises
    ------
    ValueError
        If any eigenvalue has Re λ ≥ 1: the rates then grow (λ > 1) or integrate (λ = 1)
        and never settle; the message names the eigenvalue.
    """
    from .analysis.spectrum import spectrum  # local: torchrate.analysis imports torch.func

    M = _check_matrix(M)
    h = _check_rates("h", h, M.shape[0], M)
    lam = spectrum(M).eigenvalues
    re = lam.real if lam.is_complex() else lam
    i = int(re.argmax())
    if not re[i] < 1:
        raise ValueError(
            f"no steady state: M has eigenvalue λ = {lam[i].item():.6g} with Re λ ≥ 1, so mode {i} "
            f"{'integrates its input' if abs(re[i].item() - 1) < 1e-12 else 'grows without bound'}; "
            "use torchrate.linear.solve for v(t)"
        )
    eye = torch.eye(M.shape[0], dtype=M.dtype, device=M.device)
    return torch.linalg.solve(eye - M, h.unsqueeze(-1)).squeeze(-1)
