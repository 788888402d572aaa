"""Comparisons of networks (tr.analysis.population) against hand-built cases with known answers
and independent methods (scipy's Procrustes, CCA from covariance matrices)."""

import math

import pytest
import torch
from torch import nn

import torchrate as tr
from torchrate.analysis import population as pop

F64 = torch.float64
DTYPES = [torch.float32, torch.float64]


def _rotation(n: int, seed: int, dtype=F64) -> torch.Tensor:
    return torch.linalg.qr(torch.randn(n, n, generator=torch.Generator().manual_seed(seed), dtype=F64))[0].to(dtype)


def _linear_trajectories(A: torch.Tensor, T: int = 60, B: int = 8, seed: int = 0) -> torch.Tensor:
    """x_{t+1} = A x_t from B random starts: (T, B, N)."""
    x = torch.randn(B, A.shape[0], generator=torch.Generator().manual_seed(seed), dtype=A.dtype)
    out = []
    for _ in range(T):
        x = x @ A.mT
        out.append(x)
    return torch.stack(out)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cca_of_a_rotated_copy_is_one_and_matches_the_covariance_formula(dtype):
    X = _linear_trajectories(0.95 * _rotation(6, 1)).to(dtype)
    Y = X @ _rotation(6, 2, dtype).mT + 3.0
    rho = pop.cca(X, Y)
    assert rho.dtype == dtype and rho.shape == (6,)
    assert torch.allclose(rho, torch.ones_like(rho), atol=1e-5 if dtype == torch.float32 else 1e-12)
    # against ρ² = eig(Σxx⁻¹ Σxy Σyy⁻¹ Σyx) for an unrelated Y
    Z = torch.tanh(X @ torch.randn(6, 5, generator=torch.Generator().manual_seed(3), dtype=dtype))
    x, z = (X.reshape(-1, 6) - X.reshape(-1, 6).mean(0)).double(), (Z.reshape(-1, 5) - Z.reshape(-1, 5).mean(0))
    z = z.double()
    Sxx, Szz, Sxz = x.T @ x, z.T @ z, x.T @ z
    ref = (
        torch.linalg.eigvals(torch.linalg.solve(Sxx, Sxz) @ torch.linalg.solve(Szz, Sxz.T))
        .real.sort(descending=True)
        .values[:5]
        .clamp(min=0)
        .sqrt()
    )
    assert torch.allclose(pop.cca(X, Z).double(), ref, atol=1e-4 if dtype == torch.float32 else 1e-9)


def test_svcca_keeps_the_directions_holding_the_variance():
    X = _linear_trajectories(0.95 * _rotation(6, 1))
    rho = pop.cca(X, X, keep=0.5)
    assert 1 <= len(rho) < 6 and torch.allclose(rho, torch.ones_like(rho))


@pytest.mark.parametrize("dtype", DTYPES)
def test_procrustes_distance_is_zero_for_a_similar_copy_and_equals_scipy(dtype):
    scipy_spatial = pytest.importorskip("scipy.spatial")
    X = _linear_trajectories(0.95 * _rotation(5, 4)).to(dtype)
    similar = 2.5 * X @ _rotation(5, 5, dtype).mT - 1.0
    assert float(pop.procrustes_distance(X, similar)) < (2e-3 if dtype == torch.float32 else 1e-7)
    Y = torch.tanh(X @ torch.randn(5, 5, generator=torch.Generator().manual_seed(6), dtype=dtype))
    _, _, disparity = scipy_spatial.procrustes(X.reshape(-1, 5).double().numpy(), Y.reshape(-1, 5).double().numpy())
    expected = math.acos(math.sqrt(1 - disparity))  # scipy: disparity = 1 − cos²d
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    assert float(pop.procrustes_distance(X, Y)) == pytest.approx(expected, abs=tol)


def test_dmd_recovers_the_operator_of_a_linear_system():
    A = 0.97 * _rotation(4, 7) @ torch.diag(torch.tensor([1.0, 0.9, 0.8, 0.7], dtype=F64))
    X = _linear_trajectories(A, T=40, B=6)
    lam = torch.linalg.eigvals(pop.dmd(X, rank=4))
    ref = torch.linalg.eigvals(A)
    key = lambda z: z[torch.argsort(z.abs() * 1e3 + z.angle())]  # noqa: E731
    assert torch.allclose(key(lam), key(ref), atol=1e-9)
    assert pop.delay_embedding(X, 3, 2).shape == (40 - 4, 6, 12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dsa_is_zero_for_rotated_dynamics_and_positive_for_other_eigenvalues(dtype):
    A = 0.95 * _rotation(6, 1)
    X = _linear_trajectories(A).to(dtype)
    rotated = X @ _rotation(6, 2, dtype).mT  # the same system in other coordinates
    same = pop.dsa(X, rotated, rank=6, generator=torch.Generator().manual_seed(0))
    assert float(same.distance) < (1e-3 if dtype == torch.float32 else 1e-5)
    Ax, Ay = same.operators
    C = same.basis_change
    assert torch.allclose(C @ C.mT, torch.eye(6, dtype=dtype), atol=1e-5)
    assert torch.allclose(Ax, C @ Ay @ C.mT, atol=1e-2 if dtype == torch.float32 else 1e-4)
    slower = A @ torch.diag(torch.tensor([0.9] * 3 + [0.5] * 3, dtype=F64))  # same geometry, other eigenvalues
    other = pop.dsa(X, _linear_trajectories(slower).to(dtype), rank=6, generator=torch.Generator().manual_seed(0))
    assert float(other.distance) > 0.1


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_operator_distance_of_an_operator_and_itself_is_zero_where_the_cosine_is_exactly_one(dtype):
    """⟨A, A⟩ / ‖A‖² rounds to exactly 1 for these: the angle's gradient (arccos' at 1) is
    infinite there, and the distance used to come back NaN (a network against its own copy)."""
    for A in (torch.eye(4, dtype=dtype), torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=dtype))):
        d, C = pop.operator_distance(A, A.clone(), iters=50, generator=torch.Generator().manual_seed(0))
        assert float(d) == 0.0 and torch.isfinite(C).all(), (A, d)


def test_mds_recovers_euclidean_distances():
    pts = torch.randn(7, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    D = torch.cdist(pts, pts)
    Y = pop.mds(D, 2)
    assert torch.allclose(torch.cdist(Y, Y), D, atol=1e-10)
    assert pop.mds(D, 9).shape == (7, 9)


def _flipflop(cell: str, dtype):
    from pathlib import Path

    d = torch.load(Path(__file__).parent / "data" / f"fpf_flipflop_{cell}.pt", weights_only=True)
    module = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[cell](
        d["input_size"], d["hidden_size"], batch_first=d["batch_first"]
    )
    module.load_state_dict(d["state_dict"])
    module = module.to(dtype)
    fps = tr.analysis.find_fixed_points(module, None, d["initial_states"].to(dtype), outlier_scale=None)
    return module, fps[[k != "marginal" for k in fps.kind]]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_flipflop_topology_is_the_cube_in_every_architecture(cell, dtype):
    """FixedPointFinder's 3-bit flip-flop as tanh RNN, GRU and LSTM: 8 stable corners and 12 saddles
    on the cube's edges, each joining two neighbouring corners (one bit apart): one signature."""
    module, fps = _flipflop(cell, dtype)
    top = pop.topology(module, fps)
    assert int(top.connected.sum()) == 12
    joined = top.edges[top.connected]
    degree = torch.bincount(joined.flatten(), minlength=len(fps))[fps.stable]
    assert (degree == 3).all()
    pairs = {tuple(sorted(e)) for e in joined.tolist()}
    assert len(pairs) == 12  # 12 distinct edges, 3 at every corner, two-coloured: the 3-cube
    # (the one connected 3-regular bipartite graph on 4 + 4 vertices)
    colour = {int(torch.nonzero(fps.stable)[0]): 0}
    for _ in range(8):  # breadth-first two-colouring
        for a, b in pairs:
            if (a in colour) != (b in colour):
                colour[b if a in colour else a] = 1 - colour[a if a in colour else b]
    assert len(colour) == 8 and all(colour[a] != colour[b] for a, b in pairs)
    assert top.signature.endswith("| A0×8 S1×12")


def test_bistable_pair_has_one_saddle_joining_its_two_attractors_in_both_times():
    net = tr.RateRNN.from_weights(
        torch.tensor([[0.0, -2.0], [-2.0, 0.0]], dtype=F64), tau=10.0, dt=1.0, nonlinearity="tanh"
    )
    starts = torch.randn(64, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    for time in ("continuous", "discrete"):
        fps = tr.analysis.find_fixed_points(net, None, starts, time=time)
        top = pop.topology(net, fps)
        assert len(top.saddles) == 1 and bool(top.connected.all())
        assert set(top.edges[0].tolist()) == set(torch.nonzero(fps.stable).flatten().tolist())
