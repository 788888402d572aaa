"""spectrum(M): the lecture's two-neuron examples, eigen-identities, regimes and errors."""

import math

import pytest
import torch

import torchrate as tr

F64 = torch.float64
S2 = 1 / math.sqrt(2)


def test_mutual_excitation_seed():
    """M = [[0, .8], [.8, 0]]: λ = ±0.8, e = (1, ±1)/√2, gains 5 and 1/1.8, τ/(1−λ) = 50, 10/1.8 ms."""
    s = tr.analysis.spectrum(torch.tensor([[0.0, 0.8], [0.8, 0.0]], dtype=F64), tau=10.0)
    torch.testing.assert_close(s.eigenvalues, torch.tensor([0.8, -0.8], dtype=F64), rtol=0, atol=1e-15)
    torch.testing.assert_close(s.eigenvectors, torch.tensor([[S2, S2], [S2, -S2]], dtype=F64), rtol=0, atol=1e-15)
    torch.testing.assert_close(s.gains, torch.tensor([5.0, 1 / 1.8], dtype=F64), rtol=1e-14, atol=0)
    torch.testing.assert_close(s.time_constants, torch.tensor([50.0, 10 / 1.8], dtype=F64), rtol=1e-14, atol=0)
    assert s.symmetric and s.stable and s.regimes == ["decay", "decay"]
    # v∞ = Σ (h·e_i)/(1−λ_i) e_i for h = (1, 0): ((5 + 1/1.8)/2, (5 − 1/1.8)/2)
    expected = torch.tensor([(5 + 1 / 1.8) / 2, (5 - 1 / 1.8) / 2], dtype=F64)
    torch.testing.assert_close(s.steady_state(torch.tensor([1.0, 0.0], dtype=F64)), expected, rtol=1e-14, atol=0)


def test_mutual_inhibition_seed():
    """M = [[0, −.8], [−.8, 0]]: the difference mode (1, −1)/√2 has λ = 0.8 (gain 5), the
    sum mode λ = −0.8 (gain 1/1.8): inhibition amplifies differences between the inputs."""
    s = tr.analysis.spectrum(torch.tensor([[0.0, -0.8], [-0.8, 0.0]], dtype=F64), tau=10.0)
    torch.testing.assert_close(s.eigenvalues, torch.tensor([0.8, -0.8], dtype=F64), rtol=0, atol=1e-15)
    torch.testing.assert_close(s.eigenvectors, torch.tensor([[S2, S2], [-S2, S2]], dtype=F64), rtol=0, atol=1e-15)
    torch.testing.assert_close(s.gains, torch.tensor([5.0, 1 / 1.8], dtype=F64), rtol=1e-14, atol=0)
    h = torch.tensor([1.0, 0.6], dtype=F64)
    torch.testing.assert_close(s.project(h), torch.tensor([0.4 * S2, 1.6 * S2], dtype=F64), rtol=1e-14, atol=0)
    v = s.steady_state(h)
    assert v[0] - v[1] == pytest.approx(5 * 0.4, rel=1e-14)
    assert v[0] + v[1] == pytest.approx(1.6 / 1.8, rel=1e-14)


def test_eigen_identities(dtype):
    gen = torch.Generator().manual_seed(0)
    tol = 1e-12 if dtype == F64 else 1e-5
    A = torch.randn(7, 7, generator=gen, dtype=dtype)
    sym = tr.analysis.spectrum((A + A.T) / 2)
    E, lam = sym.eigenvectors, sym.eigenvalues
    assert E.dtype == dtype and not lam.is_complex()
    torch.testing.assert_close(E.T @ E, torch.eye(7, dtype=dtype), rtol=0, atol=tol)
    torch.testing.assert_close(((A + A.T) / 2) @ E, E * lam, rtol=0, atol=10 * tol)
    assert bool((lam[:-1] >= lam[1:]).all())  # decreasing
    gen_ = tr.analysis.spectrum(A)
    E, W, lam = gen_.eigenvectors, gen_.left_eigenvectors, gen_.eigenvalues
    assert lam.is_complex() and bool((lam.real[:-1] >= lam.real[1:]).all())
    Ac = A.to(E.dtype)
    torch.testing.assert_close(Ac @ E, E * lam, rtol=0, atol=10 * tol)
    torch.testing.assert_close(W @ Ac, lam[:, None] * W, rtol=0, atol=10 * tol)
    torch.testing.assert_close(W @ E, torch.eye(7, dtype=E.dtype), rtol=0, atol=10 * tol)
    h = torch.randn(3, 7, generator=gen, dtype=dtype)
    torch.testing.assert_close((gen_.project(h) @ E.T).real, h, rtol=0, atol=10 * tol)


def test_regimes_gains_time_constants():
    s = tr.analysis.spectrum(torch.diag(torch.tensor([0.5, 1.0, 1.5], dtype=F64)), tau=10.0)
    assert s.regimes == ["growth", "integrator", "decay"]
    torch.testing.assert_close(s.gains, torch.tensor([-2.0, math.inf, 2.0], dtype=F64))
    torch.testing.assert_close(s.time_constants, torch.tensor([-20.0, math.inf, 20.0], dtype=F64))
    assert not s.stable
    # Re λ = 1 with Im λ = ±0.5: an undamped rotation
    rot = tr.analysis.spectrum(torch.tensor([[1.0, -0.5], [0.5, 1.0]], dtype=F64))
    assert rot.regimes == ["oscillator", "oscillator"] and not rot.stable
    torch.testing.assert_close(rot.eigenvalues, torch.tensor([1 + 0.5j, 1 - 0.5j], dtype=torch.complex128))


def test_spectrum_errors():
    with pytest.raises(ValueError, match=r"square matrix \(N, N\), got shape \(3,\)"):
        tr.analysis.spectrum(torch.zeros(3))
    with pytest.raises(ValueError, match="one positive time constant.*jacobian"):
        tr.analysis.spectrum(torch.zeros(2, 2), tau=torch.tensor([1.0, 2.0]))


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_steady_state_of_a_non_normal_matrix_is_the_linear_solve(dtype):
    # a Jordan block: one eigenvector, so the mode sum Σ c_i/(1 − λ_i) e_i has no basis to sum in;
    # by hand (I − M)⁻¹ = [[2, 4], [0, 2]], so (I − M)⁻¹h = (2 + 8, 4) = (10, 4)
    M = torch.tensor([[0.5, 1.0], [0.0, 0.5]], dtype=dtype)
    h = torch.tensor([1.0, 2.0], dtype=dtype)
    v = tr.analysis.spectrum(M).steady_state(h)
    eps = torch.finfo(dtype).eps
    torch.testing.assert_close(v, torch.tensor([10.0, 4.0], dtype=dtype), rtol=10 * eps, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("seed", range(5))
def test_steady_state_of_random_non_normal_matrices_agrees_with_numpy(dtype, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    N = 6
    A = np.triu(rng.normal(size=(N, N)), 1) * 2.0 + np.diag(rng.uniform(-0.8, 0.8, N))  # far from normal
    Q, _ = np.linalg.qr(rng.normal(size=(N, N)))
    M, h = Q @ A @ Q.T, rng.normal(size=(N, 3)).T  # three inputs at once, (3, N)
    want = np.linalg.solve(np.eye(N) - M, h.T).T
    s = tr.analysis.spectrum(torch.tensor(M, dtype=dtype))
    got = s.steady_state(torch.tensor(h, dtype=dtype)).double().numpy()
    # a backward-stable solve: error ≤ c·eps·cond(I − M)·‖v‖
    cond = np.linalg.cond(np.eye(N) - M)
    tol = 50 * torch.finfo(dtype).eps * cond * np.abs(want).max()
    assert np.abs(got - want).max() <= tol
    # and, M being diagonalisable, the mode sum over the dual (left) basis gives the same
    lam = s.eigenvalues.to(torch.complex128)
    modes = (
        (s.project(torch.tensor(h, dtype=dtype)).to(torch.complex128) / (1 - lam))
        @ s.eigenvectors.to(torch.complex128).mT
    ).real.numpy()
    assert np.abs(modes - want).max() <= tol * np.linalg.cond(s.eigenvectors.to(torch.complex128).numpy())
