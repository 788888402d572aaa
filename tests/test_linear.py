"""Exact linear solutions against independent methods: scipy's expm, dopri5, closed forms."""

import decimal
import math

import numpy as np
import pytest
import scipy.linalg
import torch
import torchdiffeq

import torchrate as tr
from torchrate.linear import phi1

F64 = torch.float64


def expm_reference(M, h, t, tau, v0):
    """v(t) from scipy.linalg.expm of the augmented system d/dt [v; 1] = [[A, g], [0, 0]] [v; 1],
    A = (M − I)/τ, g = h/τ: exact for any M (diagonalisable or not, λ = 1 included)."""
    M, h, v0 = (np.asarray(x, dtype=np.float64) for x in (M, h, v0))
    tau = np.broadcast_to(np.asarray(tau, dtype=np.float64), (M.shape[0],))
    N = M.shape[0]
    Z = np.zeros((N + 1, N + 1))
    Z[:N, :N] = (M - np.eye(N)) / tau[:, None]
    Z[:N, N] = h / tau
    return np.stack([(scipy.linalg.expm(Z * float(s)) @ np.append(v0, 1.0))[:N] for s in t])


def random_orthogonal(n, gen):
    Q, R = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=F64))
    return Q * torch.sign(torch.diagonal(R))


def matrices():
    gen = torch.Generator().manual_seed(0)
    Q = random_orthogonal(6, gen)
    lam = torch.tensor([1.2, 0.9, 0.3, -0.5, -1.0, -2.0], dtype=F64)
    symmetric = (Q * lam) @ Q.T
    symmetric = (symmetric + symmetric.T) / 2  # exactly symmetric → the eigh path
    general = torch.randn(6, 6, generator=gen, dtype=F64) * 0.5  # complex pairs
    integrator = (Q * torch.tensor([1.0, 0.5, 0.0, -0.3, -1.0, 0.2], dtype=F64)) @ Q.T
    # λ = 1 exactly (representable): the symmetric "line attractor" and a non-symmetric one
    line = torch.full((4, 4), 0.25, dtype=F64)
    triangular = torch.tensor([[1.0, 0.5, 0.0], [0.0, 0.3, -0.4], [0.0, 0.7, 0.1]], dtype=F64)
    return {
        "symmetric": symmetric,
        "general": general,
        "integrator": integrator,
        "line": line,
        "triangular": triangular,
    }


MATRICES = matrices()


def test_general_matrix_has_complex_modes():
    lam = torch.linalg.eigvals(MATRICES["general"])
    assert (lam.imag.abs() > 0.1).sum() >= 2


@pytest.mark.parametrize("name", list(MATRICES))
@pytest.mark.parametrize("per_neuron_tau", [False, True])
def test_solve_matches_scipy_expm(name, per_neuron_tau):
    M = MATRICES[name]
    N = M.shape[0]
    gen = torch.Generator().manual_seed(1)
    h = torch.randn(3, N, generator=gen, dtype=F64)
    v0 = torch.randn(3, N, generator=gen, dtype=F64)
    tau = torch.linspace(5.0, 20.0, N, dtype=F64) if per_neuron_tau else 10.0
    t = torch.tensor([0.0, 0.1, 1.0, 7.5, 10.0, 25.0], dtype=F64)
    v = tr.linear.solve(M, h, t, tau=tau, v0=v0)
    assert v.shape == (6, 3, N) and v.dtype == F64
    ref = np.stack([expm_reference(M, h[b], t, tau, v0[b]) for b in range(3)], axis=1)
    np.testing.assert_allclose(v.numpy(), ref, rtol=1e-10, atol=1e-10)
    # the Van Loan matrix-exponential path agrees too
    v_expm = tr.linear.solve(M, h, t, tau=tau, v0=v0, method="expm")
    np.testing.assert_allclose(v_expm.numpy(), ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", ["general", "triangular"])
def test_solve_matches_dopri5(name):
    M, tau = MATRICES[name], 10.0
    N = M.shape[0]
    h = torch.linspace(-1.0, 1.0, N, dtype=F64)
    v0 = torch.linspace(0.5, -0.5, N, dtype=F64)
    t = torch.linspace(0.0, 40.0, 9, dtype=F64)
    A = (M - torch.eye(N, dtype=F64)) / tau
    ode = torchdiffeq.odeint(lambda s, v: v @ A.T + h / tau, v0, t, method="dopri5", rtol=1e-13, atol=1e-13)
    v = tr.linear.solve(M, h, t, tau=tau, v0=v0)
    assert (v - ode).abs().max().item() < 1e-9


def test_integrator_mode_grows_linearly():
    """λ = 1: c₁(t) = c₁(0) + t (h·e₁)/τ exactly; the λ = 0 modes of the line attractor relax."""
    M, tau = MATRICES["line"], 10.0
    e1 = torch.full((4,), 0.5, dtype=F64)
    h = 2.0 * e1 + torch.tensor([1.0, -1.0, 0.0, 0.0], dtype=F64)  # second part: λ = 0 mode
    t = torch.tensor([0.0, 1.0, 10.0, 100.0, 1000.0], dtype=F64)
    v = tr.linear.solve(M, h, t, tau=tau, v0=3.0 * e1)
    torch.testing.assert_close(v @ e1, 3.0 + 2.0 * t / tau, rtol=1e-13, atol=1e-13)
    rest = v - (v @ e1)[:, None] * e1  # λ = 0 mode: h(1 − e^{−t/τ})
    expected = -torch.expm1(-t / tau)[:, None] * torch.tensor([1.0, -1.0, 0.0, 0.0], dtype=F64)
    torch.testing.assert_close(rest, expected, rtol=1e-13, atol=1e-13)


def test_seed_mutual_excitation_lecture_formula():
    """c_i(t) = (h·e_i)/(1−λ_i)(1 − e^{−t(1−λ_i)/τ}) with λ = ±0.8, e = (1, ±1)/√2."""
    M = torch.tensor([[0.0, 0.8], [0.8, 0.0]], dtype=F64)
    h = torch.tensor([1.0, 0.2], dtype=F64)
    t = torch.linspace(0.0, 100.0, 11, dtype=F64)
    tau = 10.0
    e1 = torch.tensor([1.0, 1.0], dtype=F64) / math.sqrt(2)
    e2 = torch.tensor([1.0, -1.0], dtype=F64) / math.sqrt(2)
    c1 = (h @ e1) / 0.2 * -torch.expm1(-t * 0.2 / tau)
    c2 = (h @ e2) / 1.8 * -torch.expm1(-t * 1.8 / tau)
    expected = c1[:, None] * e1 + c2[:, None] * e2
    torch.testing.assert_close(tr.linear.solve(M, h, t, tau=tau), expected, rtol=1e-14, atol=1e-14)


def test_defective_matrix():
    """M − I = [[0, 1], [0, 0]] (Jordan block at λ = 1): v₂ = v₂(0) + g₂t,
    v₁ = v₁(0) + (v₂(0)t + g₂t²/2)/τ + g₁t, with g = h/τ."""
    M = torch.tensor([[1.0, 1.0], [0.0, 1.0]], dtype=F64)
    h, v0, tau = torch.tensor([0.3, 0.7], dtype=F64), torch.tensor([1.0, -2.0], dtype=F64), 10.0
    t = torch.tensor([0.0, 1.0, 5.0, 30.0], dtype=F64)
    g = h / tau
    expected = torch.stack([v0[0] + (v0[1] * t + g[1] * t**2 / 2) / tau + g[0] * t, v0[1] + g[1] * t], dim=-1)
    torch.testing.assert_close(tr.linear.solve(M, h, t, tau=tau, v0=v0), expected, rtol=1e-13, atol=1e-13)
    with pytest.raises(ValueError, match="defective.*method='expm'"):
        tr.linear.solve(M, h, t, tau=tau, method="eig")


def test_batched_shapes_and_float32():
    M = MATRICES["general"]
    h = torch.randn(2, 5, 6, generator=torch.Generator().manual_seed(2), dtype=F64)
    t = torch.linspace(0, 30, 4, dtype=F64)
    v64 = tr.linear.solve(M, h, t, tau=10.0)
    assert v64.shape == (4, 2, 5, 6)
    v32 = tr.linear.solve(M.float(), h.float(), t.float(), tau=10.0)
    assert v32.dtype == torch.float32
    # float32 eigen-decomposition: error ~ cond(E)·eps₃₂·|v|
    assert (v32.double() - v64).abs().max().item() < 1e-4 * v64.abs().max().item()


def test_steady_state():
    M = MATRICES["general"] * 0.5
    h = torch.randn(3, 6, generator=torch.Generator().manual_seed(3), dtype=F64)
    v = tr.linear.steady_state(M, h)
    torch.testing.assert_close(v @ (torch.eye(6, dtype=F64) - M).T, h, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(tr.linear.solve(M, h, [1e5], tau=10.0)[0], v, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(tr.analysis.spectrum(M).steady_state(h), v, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("lam, what", [(1.0, "integrates"), (1.5, "grows")])
def test_steady_state_refuses_unstable(lam, what):
    M = torch.diag(torch.tensor([0.2, lam], dtype=F64))
    with pytest.raises(ValueError, match=rf"λ = {lam:g} with Re λ ≥ 1, so mode 0 {what}"):
        tr.linear.steady_state(M, torch.ones(2, dtype=F64))


def test_phi1_finite_where_exp_overflows():
    """φ(z) = eᶻ/z stays finite past eᶻ's overflow (z ≤ 716 in float64, ≤ 93 in float32), was ±inf or
    NaN there; where φ itself overflows it is ±inf, never NaN; gradients stay finite."""

    def exact(z: complex) -> complex:  # eᶻ/z in 40-digit decimal arithmetic (the −1/z is below rounding here)
        D, ctx = decimal.Decimal, decimal.Context(prec=40)
        z = complex(z)
        a, b = D(z.real), D(z.imag)
        c, s, ea = D(math.cos(z.imag)), D(math.sin(z.imag)), ctx.exp(a)
        r2 = a * a + b * b
        return complex(float(ea * (c * a + s * b) / r2), float(ea * (s * a - c * b) / r2))

    x = torch.tensor([700.0, 710.0, 716.0, 717.0, 800.0], dtype=F64)
    ref = torch.tensor([exact(v).real if v < 716.5 else math.inf for v in x.tolist()], dtype=F64)
    torch.testing.assert_close(phi1(x), ref, rtol=4.5e-16, atol=0)
    x32 = torch.tensor([80.0, 89.0, 93.0, 94.0])
    ref32 = torch.tensor([exact(v).real if v < 93.5 else math.inf for v in x32.tolist()])
    torch.testing.assert_close(phi1(x32), ref32, rtol=2.4e-7, atol=0)
    zc = [710 + 1j, 716 - 300j, 400 + 0j, 800 + 1j, 800 + 0j, 800 - 1j]
    got = phi1(torch.tensor(zc, dtype=torch.complex128))
    assert not got.isnan().any()
    for g, z in zip(got.tolist()[:3], zc[:3]):
        ref_z = exact(z)
        assert abs(g - ref_z) <= 1e-13 * abs(ref_z)
    assert got[3].real == math.inf and got[3].imag == math.inf and got[5].imag == -math.inf
    assert got[4].real == math.inf and got[4].imag == 0
    xg = torch.tensor([-3.0, 0.0, 2.0, 710.0, 720.0], dtype=F64, requires_grad=True)
    (grad,) = torch.autograd.grad(phi1(xg)[:4].sum(), xg)
    assert torch.isfinite(grad).all()


def test_phi1_and_solve_derivatives_at_and_near_zero():
    """φ'(z) = 1/2 + z/3 + z²/8 + …: autograd through (eᶻ − 1)/z gave 0 at z = 0 and lost all digits
    near it, so d solve/dM was 0 at an exact integrator λ = 1 (where d v/dλ = t² h/(2τ²))."""
    z = torch.tensor([0.0, 1e-300, -1e-12, 1e-8, 0.3, -0.9], dtype=F64, requires_grad=True)
    (grad,) = torch.autograd.grad(phi1(z).sum(), z)
    zd = z.detach()
    exact = torch.where(zd == 0, 0.5, (torch.exp(zd) * (zd - 1) + 1) / zd**2)  # cancels near 0: used away from it
    series = 1 / 2 + zd / 3 + zd**2 / 8 + zd**3 / 30
    torch.testing.assert_close(grad[:4], series[:4], rtol=1e-15, atol=0)
    torch.testing.assert_close(grad[4:], exact[4:], rtol=1e-14, atol=0)
    zc = torch.tensor([0j, 1e-9 + 1e-9j], dtype=torch.complex128, requires_grad=True)
    (gc,) = torch.autograd.grad(phi1(zc).real.sum(), zc)
    torch.testing.assert_close(gc, (1 / 2 + zc.detach() / 3).conj(), rtol=1e-15, atol=0)
    h, tau, t = torch.tensor([1.0, 1.0], dtype=F64), 2.0, torch.tensor([3.0], dtype=F64)
    for method in ("eig", "expm"):
        M = torch.diag(torch.tensor([1.0, 0.5], dtype=F64)).requires_grad_()
        (dM,) = torch.autograd.grad(tr.linear.solve(M, h, t, tau=tau, method=method)[0, 0], M)
        assert abs(dM[0, 0].item() - 9 / 8) < 1e-14  # t² h/(2τ²)


def test_phi1_no_cancellation():
    """φ(z) = 1 + z/2 + z²/6 + O(z³) for |z| ≪ 1, real and complex; φ(0) = 1 exactly."""
    z = torch.tensor([1e-8, -3e-9, 0.0, 1e-300], dtype=F64)
    torch.testing.assert_close(phi1(z), 1 + z / 2 + z**2 / 6, rtol=4.5e-16, atol=0)  # two ulps
    zc = torch.tensor([1e-8 + 2e-8j, -3e-9j, 0j], dtype=torch.complex128)
    torch.testing.assert_close(phi1(zc), 1 + zc / 2 + zc**2 / 6, rtol=4.5e-16, atol=0)  # two ulps
    torch.testing.assert_close(
        phi1(torch.tensor([1.0 + 2.0j], dtype=torch.complex128)),
        torch.tensor([(np.exp(1 + 2j) - 1) / (1 + 2j)]),
        rtol=1e-15,
        atol=0,
    )


def test_errors():
    with pytest.raises(ValueError, match=r"square matrix \(N, N\), got shape \(2, 3\)"):
        tr.linear.solve(torch.zeros(2, 3), torch.zeros(2), [0.0], tau=1.0)
    with pytest.raises(ValueError, match=r"h must have shape \(\*, 2\) to match M \(2, 2\), got \(3,\)"):
        tr.linear.solve(torch.zeros(2, 2), torch.zeros(3), [0.0], tau=1.0)
    with pytest.raises(ValueError, match=r"tau must be a scalar or of shape \(2,\), got shape \(3,\)"):
        tr.linear.solve(torch.zeros(2, 2), torch.zeros(2), [0.0], tau=torch.ones(3))
    with pytest.raises(ValueError, match="method must be"):
        tr.linear.solve(torch.zeros(2, 2), torch.zeros(2), [0.0], tau=1.0, method="rk4")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_solve_cuda():
    M = MATRICES["general"]
    h = torch.linspace(-1, 1, 6, dtype=F64)
    t = torch.linspace(0, 30, 5, dtype=F64)
    v = tr.linear.solve(M.cuda(), h.cuda(), t.cuda(), tau=10.0)
    assert v.device.type == "cuda"
    torch.testing.assert_close(v.cpu(), tr.linear.solve(M, h, t, tau=10.0), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("method", ["auto", "eig", "expm"])
def test_growing_modes_overflow_to_signed_inf_never_nan(dtype, method):
    # M = diag(2, 0.5), τ = 1: v₁ = e^t − 1 grows past any dtype (float32 from t ≈ 89, float64 from
    # t ≈ 710); v₂ = 2(1 − e^{−t/2}) → 2 stays finite. At t = 1000 τ: (+inf, 2), with −h: (−inf, −2).
    M = torch.diag(torch.tensor([2.0, 0.5], dtype=dtype))
    h = torch.tensor([[1.0, 1.0], [-1.0, -1.0]], dtype=dtype)
    v = tr.linear.solve(M, h, [10.0, 1000.0], tau=1.0, method=method)
    assert not torch.isnan(v).any()
    assert v[1, 0, 0].item() == math.inf and v[1, 1, 0].item() == -math.inf
    torch.testing.assert_close(v[1, :, 1], torch.tensor([2.0, -2.0], dtype=dtype))
    torch.testing.assert_close(v[0, 0], torch.tensor([math.expm1(10.0), 2 * -math.expm1(-5.0)], dtype=dtype))


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_overflow_sign_follows_the_dominant_mode(dtype):
    # non-symmetric M = [[2, 1], [0, 0.5]]: eigenvector (1, 0) grows as e^t, so v₁ → ±inf with the sign
    # of its coefficient and v₂ → 2h₂ (λ = 0.5); a rotation-dominated pair: complex modes overflowing
    M = torch.tensor([[2.0, 1.0], [0.0, 0.5]], dtype=dtype)
    for sign in (1.0, -1.0):
        v = tr.linear.solve(M, sign * torch.ones(2, dtype=dtype), [1000.0], tau=1.0)[0]
        assert v[0].item() == sign * math.inf
        assert v[1].item() == pytest.approx(2 * sign, rel=1e-5)
    # v0 against h: v₁(t) = e^t (v0₁ − v∞₁) + v∞₁, here v0 − v∞ < 0 on the growing mode
    v = tr.linear.solve(
        torch.diag(torch.tensor([2.0, 3.0], dtype=dtype)),
        torch.tensor([1.0, -1.0], dtype=dtype),
        [1000.0],
        tau=1.0,
        v0=torch.tensor([-5.0, 1.0], dtype=dtype),
    )[0]
    assert v.tolist() == [-math.inf, math.inf]  # v∞ = (1, −0.5): (−6, 1.5) along e^{t}, e^{2t}
    R = torch.tensor([[1.1, -3.0], [3.0, 1.1]], dtype=dtype)  # λ = 1.1 ± 3i: growth with rotation
    v = tr.linear.solve(R, torch.ones(2, dtype=dtype), [1e4], tau=1.0)
    assert torch.isinf(v).all()


def test_defective_growth_past_float64_names_t():
    M = torch.tensor([[2.0, 1.0], [0.0, 2.0]], dtype=F64)  # a Jordan block: only the expm path applies
    v = tr.linear.solve(M, torch.ones(2, dtype=F64), [1.0], tau=1.0)
    assert torch.isfinite(v).all()
    with pytest.raises(OverflowError, match=r"v\(t\) overflows float64 at t = 1000 ms"):
        tr.linear.solve(M, torch.ones(2, dtype=F64), [1.0, 1000.0], tau=1.0)
