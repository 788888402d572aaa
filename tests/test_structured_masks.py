"""Connectivity masks: exact zeros under training, Dale + mask, multi-area layouts, refusals."""

from __future__ import annotations

import pytest
import torch

import torchrate as tr
from torchrate.connectivity import multi_area, no_autapses, random_mask

F64 = torch.float64


def _adam_steps(net, steps: int, weight_decay: float = 0.0) -> None:
    opt = torch.optim.Adam(net.parameters(), lr=0.05, weight_decay=weight_decay)
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        u = torch.randn(15, 8, net.input_size, generator=g, dtype=net.M.dtype)
        opt.zero_grad()
        (net(u)[0] - 0.5).square().mean().backward()
        opt.step()


def test_random_mask_is_seeded_density_p_without_autapses():
    a = random_mask(400, 0.1, generator=torch.Generator().manual_seed(3))
    b = random_mask(400, 0.1, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and not a.diagonal().any()
    # Binomial(400·399, 0.1): mean 15960, sd 120 — 5 sd
    assert abs(int(a.sum()) - 15960) < 600
    assert random_mask(5, 1.0).sum() == 20 and random_mask(5, 1.0, autapses=True).all()
    assert torch.equal(no_autapses(3), ~torch.eye(3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"density must be a probability in \[0, 1\], got 1.5"):
        random_mask(3, 1.5)


@pytest.mark.parametrize(
    "build",
    [
        lambda mask: tr.RateRNN(3, 40, connectivity=mask, dtype=F64, generator=torch.Generator().manual_seed(0)),
        lambda mask: tr.EIRateRNN(
            3, 30, 10, connectivity=mask, train_tau=True, dtype=F64, generator=torch.Generator().manual_seed(0)
        ),
    ],
    ids=["rate", "ei-dale"],
)
def test_exact_zero_pattern_after_200_adam_steps(build):
    mask = random_mask(40, 0.2, generator=torch.Generator().manual_seed(2))
    net = build(mask)
    M0 = net.M.detach().clone()
    _adam_steps(net, 200, weight_decay=1e-3)
    M = net.M.detach()
    assert (M[~mask] == 0).all()  # exactly zero: the bit pattern, not a tolerance
    assert (M[mask] != M0[mask]).float().mean() > 0.9  # the allowed weights did train
    if isinstance(net, tr.EIRateRNN):  # Dale: E columns ≥ 0, I columns ≤ 0, on top of the mask
        assert (M[:, :30] >= 0).all() and (M[:, 30:] <= 0).all()
    # spectrum, Jacobian and fixed points work unchanged on the masked network
    spec = tr.analysis.spectrum(M)
    assert spec.eigenvalues.shape == (40,)
    J = tr.analysis.jacobian(net, torch.rand(2, 40, dtype=F64), torch.zeros(3, dtype=F64))
    assert (J[:, ~mask & no_autapses(40)] == 0).all()  # J = (−I + diag(F′)M)/τ: M's zeros off the diagonal
    fps = tr.analysis.find_fixed_points(net, torch.zeros(3, dtype=F64), torch.rand(32, 40, dtype=F64))
    assert len(fps) >= 1 and fps.residuals.max() < 1e-20


def test_multi_area_projections_are_respected_after_training():
    areas = multi_area([20, 16, 12], [5, 4, 3], projections=[(0, 1), (1, 2), (2, 0)], long_range="exc")
    N = len(areas.area)
    assert (areas.n_exc, areas.n_inh, N) == (48, 12, 60)
    assert areas.excitatory[:48].all() and not areas.excitatory[48:].any()
    net = tr.EIRateRNN(
        2, areas.n_exc, areas.n_inh, connectivity=areas.mask, dtype=F64, generator=torch.Generator().manual_seed(4)
    )
    _adam_steps(net, 50)
    M, area, exc = net.M.detach(), areas.area, areas.excitatory
    allowed = {(0, 1), (1, 2), (2, 0)}
    for src in range(3):
        for dst in range(3):
            block = M[area == dst][:, area == src]
            if src == dst:
                assert (block != 0).float().mean() > 0.9  # dense locally (no autapses)
            elif (src, dst) in allowed:
                assert (M[area == dst][:, (area == src) & ~exc] == 0).all()  # E-only long range
                assert (M[area == dst][:, (area == src) & exc] != 0).all()
            else:
                assert (block == 0).all()
    assert (M.diagonal() == 0).all()
    everyone = multi_area([3, 3], [1, 1], projections=torch.tensor([[False, True], [False, False]]), long_range="all")
    # P[target=0, source=1]: area 1's E and I neurons project to area 0, nothing the other way
    assert everyone.mask[everyone.area == 0][:, everyone.area == 1].all()
    assert not everyone.mask[everyone.area == 1][:, everyone.area == 0].any()


def test_multi_area_refusals():
    with pytest.raises(ValueError, match=r"pair \(source, target\) of area indices in \[0, 2\)"):
        multi_area([3, 3], projections=[(0, 2)])
    with pytest.raises(ValueError, match="long_range must be 'exc'"):
        multi_area([3], long_range="inh")
    with pytest.raises(ValueError, match=r"n_inh must have one entry per area \(2\), got 1"):
        multi_area([3, 3], [1])


def test_from_weights_refuses_weights_outside_the_mask_and_names_the_entry():
    mask = no_autapses(3)
    M = torch.tensor([[0.0, 0.5, 0.0], [0.2, 0.7, 0.0], [0.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match=r"M\[1, 1\] = 0.7 is outside the connectivity mask"):
        tr.RateRNN.from_weights(M, tau=10.0, dt=1.0, connectivity=mask)
    ok = tr.RateRNN.from_weights(M.fill_diagonal_(0.0), tau=10.0, dt=1.0, connectivity=mask)
    assert torch.equal(ok.M.detach(), M)
    # Dale and the mask together: each refusal names its own rule
    ei = torch.tensor([[0.0, -0.5], [0.3, 0.0]])
    with pytest.raises(ValueError, match=r"M\[0, 0\] = 0.4 is outside the connectivity mask"):
        tr.EIRateRNN.from_weights(
            torch.tensor([[0.4, -0.5], [0.3, 0.0]]), 1, tau_e=10.0, tau_i=5.0, dt=1.0, connectivity=no_autapses(2)
        )
    with pytest.raises(ValueError, match=r"M breaks Dale's law: M\[0, 1\] = 0.5"):
        tr.EIRateRNN.from_weights(ei.abs(), 1, tau_e=10.0, tau_i=5.0, dt=1.0, connectivity=no_autapses(2))
    with pytest.raises(ValueError, match=r"connectivity must have shape \(2, 2\), got \(3, 3\)"):
        tr.RateRNN(1, 2, connectivity=no_autapses(3))
