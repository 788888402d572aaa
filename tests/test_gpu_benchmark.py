"""experiments/benchmarks/gpu.py: without CUDA it says so and exits 0; its CPU smoke run goes
through every part (rollout, fixed points without FixedPointFinder, ensemble) and writes its
JSON and table."""

import importlib
import json
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "experiments" / "benchmarks"


@pytest.fixture(scope="module")
def gpu():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("gpu")
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_without_cuda_says_so_and_runs_nothing(gpu, tmp_path, capsys):
    assert gpu.main(["--out", str(tmp_path)]) is None
    assert "needs a CUDA device" in capsys.readouterr().out
    assert not any(tmp_path.iterdir())


def test_cpu_smoke_run_writes_every_part(gpu, tmp_path, capsys):
    result = gpu.main(["--cpu-smoke", "--out", str(tmp_path), "--fpf", ""])
    assert "FixedPointFinder not importable" in capsys.readouterr().out
    written = json.loads((tmp_path / "gpu_cpu_smoke.json").read_text())
    assert written == json.loads(json.dumps(result))
    assert [len(written[k]) for k in ("rollout", "ensemble")] == [1, 1]
    row = written["fixed_points"]["rows"][0]
    assert row["hidden"] == 16 and row["torchrate_points"] >= 1 and "fpf_s" not in row
    assert all(r["RateRNN_s"] > 0 and r["nn.RNN_s"] > 0 for r in written["rollout"])
    table = (tmp_path / "gpu_cpu_smoke.md").read_text()
    assert "RateRNN / nn.RNN" in table and "torchrate alone" in table and "Ensemble" in table
