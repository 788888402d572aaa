"""Against FixedPointFinder (Golub & Sussillo) on its own 3-bit flip-flop example, as tanh RNN, GRU
and LSTM: the networks were trained by its example code and analysed by it (its torch version,
float32, 1,024 starts from its ``sample_states``, its example's settings); tests/data holds each
trained module's weights, the starts and FixedPointFinder's returned points and verdicts (data only,
no code of it). Regenerate with ``experiments/benchmarks/fixed_points.py`` (``--only-peer``)."""

from pathlib import Path

import pytest
import torch
from torch import nn

import torchrate as tr

DATA = Path(__file__).parent / "data"
CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


def _load(cell: str, dtype: torch.dtype):
    d = torch.load(DATA / f"fpf_flipflop_{cell}.pt", weights_only=True)
    module = CELLS[cell](d["input_size"], d["hidden_size"], batch_first=d["batch_first"])
    module.load_state_dict(d["state_dict"])
    return module.to(dtype), d


def _their_points(module, d) -> tr.analysis.FixedPoints:
    """FixedPointFinder's returned points, each refined by Newton in float64 and de-duplicated: the
    distinct fixed points it found (its own de-duplication keeps near-copies at 1e-3)."""
    return tr.analysis.find_fixed_points(
        module.double(), None, d["fpf_xstar"].double(), opt_steps=0, outlier_scale=None
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_every_point_fixedpointfinder_finds_with_its_verdict(cell, dtype):
    """From FixedPointFinder's own starts we find every isolated, non-marginal fixed point it found
    (27 for the RNN; 26 for the GRU and the LSTM, whose 27th saddle it misses), with the same stability,
    |μ| < 1 of the map: all 27 of a 3-bit flip-flop (8 stable corners, 19 saddles), each one a fixed
    point of the module itself to rounding."""
    module, d = _load(cell, dtype)
    fps = tr.analysis.find_fixed_points(module, None, d["initial_states"].to(dtype), outlier_scale=None)
    # a GRU start may also end where the update gate saturates (z = 1 to rounding: h' = h there), a
    # marginal point (|μ| = 1) FixedPointFinder returns hundreds of; the flip-flop's own points are the rest
    fps = fps[[k != "marginal" for k in fps.kind]]
    assert fps.time == "discrete" and len(fps) == 27 and int(fps.stable.sum()) == 8
    step = tr.systems.as_system(module)
    moved = (step(fps.points, fps.points.new_zeros(len(fps), 3)) - fps.points).abs().max()
    assert moved < (1e-13 if dtype == torch.float64 else 1e-5)
    theirs = _their_points(module, d)
    isolated = theirs[[k not in ("marginal", "undetermined") for k in theirs.kind]]
    assert len(isolated) == (27 if cell == "rnn" else 26) and int(isolated.stable.sum()) == 8
    tol = 1e-9 if dtype == torch.float64 else 1e-3
    dist = torch.cdist(isolated.points, fps.points.double(), compute_mode="donot_use_mm_for_euclid_dist")
    assert dist.min(1).values.max() < tol  # all of theirs found
    assert (fps.stable[dist.argmin(1)].cpu() == isolated.stable.cpu()).all()
    raw = torch.cdist(d["fpf_xstar"].double(), fps.points.double(), compute_mode="donot_use_mm_for_euclid_dist")
    hit = raw.min(1).values < 1e-3
    assert int(hit.sum()) >= 26  # their raw float32 points, matched to ours
    assert (fps.stable[raw.argmin(1)][hit].cpu() == d["fpf_is_stable"][hit]).all()  # the same verdicts
