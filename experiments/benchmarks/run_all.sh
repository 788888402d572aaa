#!/usr/bin/env bash
# Every benchmark, one after another, each writing its JSON to experiments/out/ and its table to
# stdout (see experiments/benchmarks/README.md). --quick: fewer repeats, to check that they run.
set -euo pipefail
cd "$(dirname "$0")/../.."
quick=0
[[ "${1:-}" == "--quick" ]] && quick=1
run() { echo; echo "=== python $*  (load: $(cut -d' ' -f1 /proc/loadavg))"; python "$@"; }
if (( quick )); then
  run experiments/benchmarks/rollout.py --repeats 2
  run experiments/benchmarks/ensemble.py --K 8 --B 1 16 --N 64 --repeats 2
  run experiments/benchmarks/fixed_points.py --sizes 64 --repeats 1 --loop-states 64
  run experiments/benchmarks/bifurcation.py --repeats 1 --values 20
  run experiments/benchmarks/structured.py --steps 3 --repeats 1 --only ensemble
  run experiments/benchmarks/training.py --repeats 2 --epochs 2
  run experiments/benchmarks/neurogym.py --batches 20 --repeats 2
  run experiments/benchmarks/commands.py --repeats 1
else
  run experiments/benchmarks/rollout.py
  run experiments/benchmarks/ensemble.py
  run experiments/benchmarks/fixed_points.py
  run experiments/benchmarks/bifurcation.py
  run experiments/benchmarks/structured.py
  run experiments/benchmarks/training.py
  run experiments/benchmarks/neurogym.py
  run experiments/benchmarks/commands.py
fi
[[ -f experiments/benchmarks/gpu.py ]] && run experiments/benchmarks/gpu.py
echo; echo "done (load: $(cut -d' ' -f1 /proc/loadavg))"
