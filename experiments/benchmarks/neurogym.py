"""Batch generation: tr.tasks.NeuroGym against NeuroGym's own Dataset, side by side.

For each environment, both contenders make batches of B whole trials:

* ``torchrate`` — ``task.sample(B, generator=...)``, a fresh seeded generator per batch (as
  ``TaskDataModule`` does): a fresh seeded environment, B trials, padded to the longest,
  targets one-hot, loss mask, torch tensors;
* ``Dataset`` — ``neurogym.Dataset(env_id, batch_size=B, seq_len=T_max)`` with ``T_max`` the
  longest trial (so that a window can hold a whole trial; NeuroGym cuts its trial stream into
  windows), warm (the first cache fill is not timed, later refills are), numpy out, no mask.

They run interleaved in one process, repeated, and the medians are compared, so the ratio
is robust to the machine's load. Writes ``neurogym_benchmark.json`` and ``.png`` to ``--out``.

Usage: ``python experiments/benchmarks/neurogym.py [--batches 200] [--repeats 5] [--out experiments/out]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

# this file is named neurogym.py: run as a script, its folder must not shadow the neurogym package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import torch  # noqa: E402

import torchrate as tr  # noqa: E402

ENVS = ["PerceptualDecisionMaking-v0", "ContextDecisionMaking-v0", "GoNogo-v0", "DelayMatchSample-v0", "ReadySetGo-v0"]
KWARGS = {"ReadySetGo-v0": {"decision_period": "production"}}
BATCH = 64


def longest_trial(task, n_batches: int = 20) -> int:
    return max(task.sample(BATCH, generator=torch.Generator().manual_seed(i)).inputs.shape[0] for i in range(n_batches))


def time_per_batch(make_batch, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        make_batch(i)
    return (time.perf_counter() - start) / n


def main(batches: int = 200, repeats: int = 5, out: Path = Path("experiments/out")) -> list[dict]:
    import neurogym as ngym

    rows = []
    for env_id in ENVS:
        task = tr.tasks.NeuroGym(env_id, **KWARGS.get(env_id, {}))
        T = longest_trial(task)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = ngym.Dataset(env_id, batch_size=BATCH, seq_len=T)
        dataset.seed(0)
        for _ in range(3):  # warm both
            next(dataset)
            task.sample(BATCH, generator=torch.Generator().manual_seed(0))
        ours, theirs = [], []
        for r in range(repeats):
            ours.append(
                time_per_batch(
                    lambda i, r=r, t=task: t.sample(BATCH, generator=torch.Generator().manual_seed(r * batches + i)),
                    batches,
                )
            )
            theirs.append(time_per_batch(lambda i, d=dataset: next(d), batches))
        row = {
            "env": env_id,
            "batch": BATCH,
            "T_max": T,
            "torchrate_ms": 1e3 * statistics.median(ours),
            "dataset_ms": 1e3 * statistics.median(theirs),
        }
        row["speedup"] = row["dataset_ms"] / row["torchrate_ms"]
        rows.append(row)
        print(
            f"{env_id:30s} T_max {T:3d}  torchrate {row['torchrate_ms']:6.2f} ms  Dataset {row['dataset_ms']:6.2f} ms"
            f"  Dataset/torchrate = {row['speedup']:.2f}x"
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "neurogym_benchmark.json").write_text(json.dumps(rows, indent=2))

    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.2))
    ax = fig.subplots()
    x = torch.arange(len(rows), dtype=torch.float64)
    ax.bar(x - 0.2, [r["torchrate_ms"] for r in rows], 0.4, label="tr.tasks.NeuroGym.sample")
    ax.bar(x + 0.2, [r["dataset_ms"] for r in rows], 0.4, label="neurogym.Dataset (warm)")
    ax.set_xticks(x.tolist(), [r["env"].removesuffix("-v0") for r in rows], rotation=20, fontsize=7)
    ax.set(ylabel=f"ms per batch of {BATCH} trials", title="batch generation")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "neurogym_benchmark.png", dpi=100)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("experiments/out"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    main(args.batches, args.repeats, args.out)
