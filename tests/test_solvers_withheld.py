"""Methods of torchdiffeq that torchrate withholds (``tr.solvers.WITHHELD_METHODS``) because they
return wrong solutions without an error, and the guard that notices a torchdiffeq that fixed them."""

from __future__ import annotations

import math

import pytest
import torch

import torchrate as tr
from torchrate import solvers

torchdiffeq = pytest.importorskip("torchdiffeq")


def _decay_error(method: str, step: float, dtype: torch.dtype) -> float:
    """|y(1) − e⁻¹| for dy/dt = −y, y(0) = 1, solved by torchdiffeq's ``method`` at ``step``."""
    y0 = torch.ones(1, dtype=dtype)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    y = torchdiffeq.odeint(lambda t, y: -y, y0, t, method=method, options={"step_size": step})
    return abs(float(y[-1]) - math.exp(-1))


@pytest.mark.parametrize("method", sorted(solvers.WITHHELD_METHODS))
def test_a_withheld_method_is_still_wrong_in_the_installed_torchdiffeq(method):
    # the reason it is withheld: a smaller step gives a *larger* error. When this fails, torchdiffeq
    # has fixed the method: take it out of WITHHELD_METHODS
    coarse, fine = _decay_error(method, 1 / 4, torch.float64), _decay_error(method, 1 / 64, torch.float64)
    assert coarse < 1e-3
    assert fine > 0.1, f"torchdiffeq {torchdiffeq.__version__} solves with {method!r} now: offer it again"


@pytest.mark.parametrize("method", sorted(solvers.WITHHELD_METHODS))
def test_a_withheld_method_is_refused_with_the_reason(method):
    assert method not in solvers.ODE_METHODS
    with pytest.raises(ValueError, match=rf"solver '{method}' is not offered: torchdiffeq's"):
        tr.RateRNN(2, 3, solver=method)


@pytest.mark.filterwarnings("ignore:Functional iteration did not converge")  # implicit Adams' own, at rtol 1e-3
@pytest.mark.parametrize("method", sorted(solvers.FIXED_GRID_METHODS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_offered_fixed_grid_method_gets_better_as_the_step_shrinks(method, dtype):
    errors = [_decay_error(method, step, dtype) for step in (1 / 4, 1 / 16, 1 / 64)]
    floor = 1e-6 if dtype == torch.float32 else 1e-13
    assert errors[2] <= max(errors[0], floor) and errors[2] < 1e-3, errors
