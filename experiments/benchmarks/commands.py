"""Wall-clock times of whole commands, as a user runs them: ``import torchrate`` against
``import torch``, and each ``torchrate fit`` the README states a time for.

Each command runs in a fresh process (``subprocess``), ``--repeats`` times, the contenders
interleaved (A, B, A, B, …) so that both see the same machine load; the median and the
range are reported, with the 1-minute load average before and after. The imports run 9
interleaved pairs by default; a fit is one ``torchrate fit --config configs/<name>`` with
its own default settings into a temporary directory (training + end-of-fit analysis).

    python experiments/benchmarks/commands.py [--repeats 3] [--only import|fits] [--out experiments/out]

Writes ``commands.json`` to ``--out`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FITS = [
    "perceptual_decision.yaml",
    "flipflop.yaml",
    "winner_take_all.yaml",
    "integration.yaml",
    "neurogym/perceptual_decision_making.yaml",
]


def wall(argv: list[str], cwd: Path | None = None) -> float:
    """Seconds one command takes, start to exit (it must succeed)."""
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def summary(times: list[float]) -> dict:
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "runs": times}


def bench_import(repeats: int) -> dict:
    python = sys.executable
    torch_t, ours_t = [], []
    for _ in range(repeats):
        torch_t.append(wall([python, "-c", "import torch"]))
        ours_t.append(wall([python, "-c", "import torchrate"]))
    return {
        "import torch": summary(torch_t),
        "import torchrate": summary(ours_t),
        "ratio_of_medians": statistics.median(ours_t) / statistics.median(torch_t),
    }


def bench_fits(repeats: int) -> dict:
    cli = str(Path(sys.executable).with_name("torchrate"))
    out = {}
    for _ in range(repeats):  # interleaved over the configs
        for config in FITS:
            with tempfile.TemporaryDirectory() as root:
                t = wall([cli, "fit", "--config", str(ROOT / "configs" / config), "--trainer.default_root_dir", root])
            out.setdefault(config, []).append(t)
    return {config: summary(times) for config, times in out.items()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each fit (imports: 3 × this)")
    parser.add_argument("--only", choices=("import", "fits"), default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "experiments" / "out")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be ≥ 1, got {args.repeats}")
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "load_before": os.getloadavg()[0],
    }
    if args.only in (None, "import"):
        result["import"] = bench_import(3 * args.repeats)
    if args.only in (None, "fits"):
        result["fits"] = bench_fits(args.repeats)
    result["load_after"] = os.getloadavg()[0]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "commands.json").write_text(json.dumps(result, indent=2))

    print(
        f"machine: {result['machine']}; 1-min load {result['load_before']:.2f} before, "
        f"{result['load_after']:.2f} after\n"
    )
    print("| command | median | range | runs |\n|---|---|---|---|")
    rows = [(k, v) for k, v in result.get("import", {}).items() if k.startswith("import")]
    rows += [(f"torchrate fit --config configs/{k}", v) for k, v in result.get("fits", {}).items()]
    for name, s in rows:
        print(f"| `{name}` | {s['median_s']:.2f} s | {s['min_s']:.2f}–{s['max_s']:.2f} s | {len(s['runs'])} |")
    if "import" in result:
        print(f"\nimport torchrate / import torch: {result['import']['ratio_of_medians']:.2f}× (medians)")
    return result


if __name__ == "__main__":
    main()
