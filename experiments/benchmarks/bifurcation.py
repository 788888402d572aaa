"""Benchmark: following every branch by continuation versus find_fixed_points afresh at each value.

A rank-one tanh network M = m nᵀ/N (N = 512, n = 2m, input weights w = m/2 + x, float64) has an
S-shaped branch in the input u ∈ [−1, 1]: one fixed point outside the two folds (u ≈ ±0.55),
three between them. Both methods must give the fixed points at each of 200 values of u:

* **continuation** — ``tr.analysis.bifurcation`` (defaults: 5 seed searches, folds refined),
  then ``bif.at(values)`` for the points at the 200 values (stability from the branch);
* **afresh** — ``tr.analysis.find_fixed_points`` at each value, from 64 starts spread along
  the branch's direction (v = tanh(κ m + u w) + noise, κ ∈ [−3, 3]): starts that know the
  answer's shape, so the baseline finds all points (random starts find only the saddle).

Same points: the counts agree at every value and the largest distance between matched points
is reported. One process, warm (each method run once untimed first), best of ``--repeats``
interleaved, one torch thread (set here and restored at the end).

    python experiments/benchmarks/bifurcation.py [--repeats 2] [--values 200]

Writes experiments/out/bifurcation_benchmark.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import torchrate as tr

F64 = torch.float64
OUT = Path(__file__).resolve().parents[1] / "out"


def rank_one(N: int = 512, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    m = torch.randn(N, generator=g, dtype=F64)
    w = 0.5 * m + torch.randn(N, generator=g, dtype=F64)
    net = tr.RateRNN.from_weights(torch.outer(m, 2 * m) / N, w[:, None], tau=10.0, dt=1.0, nonlinearity="tanh")
    return net, m, w


def continuation(net, values):
    bif = tr.analysis.bifurcation(lambda u: (net, torch.tensor([u], dtype=F64)), values, progress=False)
    return bif, [s.points for s in bif.at(values)]


def afresh(net, values, m, w, n_starts: int = 64):
    g = torch.Generator().manual_seed(0)
    kappa = torch.linspace(-3, 3, n_starts, dtype=F64)[:, None]
    out = []
    for u in values.tolist():
        starts = torch.tanh(kappa * m + u * w) + 0.05 * torch.randn(n_starts, m.shape[0], generator=g, dtype=F64)
        fps = tr.analysis.find_fixed_points(net, torch.tensor([u], dtype=F64), starts, outlier_scale=None)
        out.append(fps.points)
    return out


def compare(a: list, b: list) -> tuple[int, float]:
    """Values where the counts differ, and the largest distance between matched points."""
    mismatched, worst = 0, 0.0
    for pa, pb in zip(a, b):
        if pa.shape[0] != pb.shape[0]:
            mismatched += 1
            continue
        if pa.shape[0]:
            worst = max(worst, torch.cdist(pa, pb).min(1).values.max().item())
    return mismatched, worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--values", type=int, default=200)
    args = parser.parse_args()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        net, m, w = rank_one()
        values = torch.linspace(-1, 1, args.values, dtype=F64)
        few = values[:: max(1, args.values // 8)]
        continuation(net, few), afresh(net, few, m, w)  # warm-up
        times = {"continuation": [], "afresh": []}
        for _ in range(args.repeats):
            t = time.perf_counter()
            bif, pts_c = continuation(net, values)
            times["continuation"].append(time.perf_counter() - t)
            t = time.perf_counter()
            pts_a = afresh(net, values, m, w)
            times["afresh"].append(time.perf_counter() - t)
        mismatched, worst = compare(pts_c, pts_a)
        best = {k: min(v) for k, v in times.items()}
        result = {
            "N": 512,
            "values": args.values,
            "threads": 1,
            "seconds": best,
            "all_seconds": times,
            "speedup": best["afresh"] / best["continuation"],
            "branch_points": [len(br) for br in bif.branches],
            "folds": [f.value for f in bif.folds],
            "points_per_value": sorted({p.shape[0] for p in pts_c}),
            "values_with_different_counts": mismatched,
            "max_distance_between_matched_points": worst,
        }
    finally:
        torch.set_num_threads(threads)
    print(f"{args.values} values, N = 512, 1 thread, best of {args.repeats}:")
    print(
        f"  continuation + at(values): {best['continuation']:7.2f} s "
        f"({sum(result['branch_points'])} branch points, folds {[round(f, 6) for f in result['folds']]})"
    )
    print(f"  find_fixed_points afresh:  {best['afresh']:7.2f} s")
    print(
        f"  speed-up {result['speedup']:.1f}x; counts differ at {mismatched} values; "
        f"max distance between matched points {worst:.1e}"
    )
    OUT.mkdir(exist_ok=True)
    (OUT / "bifurcation_benchmark.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
