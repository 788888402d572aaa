"""Plumbing shared by the experiment scripts: ``--out`` / ``--fast``, saving the figure and
the JSON of checked numbers, and reading a time off a sampled trace."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "out"
DTYPE = torch.float64  # experiments check numbers against closed forms to many digits


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, torch.Tensor):
        return _jsonable(x.detach().cpu().tolist())
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        return None if math.isnan(float(x)) else float(x)
    if isinstance(x, (np.integer, np.bool_)):
        return x.item()
    return x


def save(fig: plt.Figure, results: dict, out: str | Path, name: str) -> dict:
    """Write ``<out>/<name>.png`` (dpi 100) and ``<out>/<name>.json``; return ``results``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / f"{name}.png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    results = _jsonable(results)
    (out / f"{name}.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return results


def cli(main: Callable[..., dict], description: str) -> None:
    """Run ``main(out=..., fast=...)`` from the command line and print what it checked."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="output folder (default: %(default)s)")
    parser.add_argument("--fast", action="store_true", help="coarser, quicker run (used by the tests)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # these networks are tiny: one thread beats thread overhead
    print(json.dumps(main(out=args.out, fast=args.fast), indent=2, ensure_ascii=False))


def crossing_time(trace: np.ndarray, level: float, times: np.ndarray) -> float:
    """First time at which a sampled, rising ``trace`` reaches ``level`` (linear interpolation)."""
    trace, times = np.asarray(trace), np.asarray(times)
    k = int(np.argmax(trace >= level))
    if trace[k] < level:
        return float("nan")
    if k == 0:
        return float(times[0])
    frac = (level - trace[k - 1]) / (trace[k] - trace[k - 1])
    return float(times[k - 1] + frac * (times[k] - times[k - 1]))
