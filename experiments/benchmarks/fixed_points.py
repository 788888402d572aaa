"""Benchmark: the batched fixed-point finder versus a per-state loop of the same algorithm.

Random tanh networks (N = 64 and 256 units, spectral radius 1.2 and 1.5, small bias; at 1.5
the network is chaotic and many initial states end at slow points rather than fixed points),
1,024 initial states sampled with noise from the network's own trajectories, float64.
The batched search runs all states as one batch; the loop runs the identical algorithm
(``find_fixed_points(..., batch_size=1)``: Adam on q, then damped Newton) one state at a
time, on the first ``--loop-states`` of them (states/s is what is compared; each timing is
the best of ``--repeats``). Both runs also
check that they find the same fixed points from the same states. Both use ``--threads``
torch threads (default 1: on a small shared machine, oversubscribed intra-op threads make
timings meaningless).

    python experiments/benchmarks/fixed_points.py            # table to stdout
    python experiments/benchmarks/fixed_points.py --sizes 64 --loop-states 1024

Writes experiments/out/fixed_points_benchmark.{json,png}.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

import torchrate as tr  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "out"


def make_network(N: int, gain: float, seed: int) -> tr.RateRNN:
    gen = torch.Generator().manual_seed(seed)
    net = tr.RateRNN(1, N, tau=10.0, dt=1.0, gain=gain, nonlinearity="tanh", generator=gen,
                     dtype=torch.float64)
    with torch.no_grad():
        net.bias.normal_(0.0, 0.1, generator=gen)
    return net


def initial_states(net: tr.RateRNN, K: int, seed: int) -> torch.Tensor:
    """K states drawn from 32 trajectories of 400 ms (after 100 ms), plus noise of std 0.05."""
    gen = torch.Generator().manual_seed(seed)
    v0 = torch.randn(32, net.hidden_size, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        rates, _ = net(torch.zeros(500, 32, 1, dtype=torch.float64), v0)
    return tr.analysis.sample_states(rates[100:], K, 0.05, generator=gen)


def timed(fn, repeats: int):
    """Result of ``fn()`` and its best wall time over ``repeats`` runs."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def same_points(a: tr.analysis.FixedPoints, b: tr.analysis.FixedPoints) -> float:
    """Largest distance from a point of one set to the nearest of the other (inf if sizes differ)."""
    if len(a) != len(b):
        return float("inf")
    if len(a) == 0:
        return 0.0
    d = torch.cdist(a.points, b.points)
    return max(d.min(0).values.max().item(), d.min(1).values.max().item())


def run(N: int, gain: float, K: int, loop_states: int, repeats: int, seed: int) -> dict:
    net = make_network(N, gain, seed)
    u = torch.zeros(1, dtype=torch.float64)
    init = initial_states(net, K, seed + 1)
    sub = init[:loop_states]
    fps, t_batch = timed(lambda: tr.analysis.find_fixed_points(net, u, init), repeats)
    sub_batched = tr.analysis.find_fixed_points(net, u, sub)
    sub_looped, t_loop = timed(lambda: tr.analysis.find_fixed_points(net, u, sub, batch_size=1),
                               repeats)
    # the Adam phase alone (newton_steps=0), to split the speed-up between the two phases
    _, t_batch_adam = timed(lambda: tr.analysis.find_fixed_points(net, u, init, newton_steps=0),
                            repeats)
    _, t_loop_adam = timed(lambda: tr.analysis.find_fixed_points(net, u, sub, newton_steps=0,
                                                                 batch_size=1), repeats)
    per_state = {"batched_adam": t_batch_adam / K, "batched_newton": (t_batch - t_batch_adam) / K,
                 "loop_adam": t_loop_adam / loop_states,
                 "loop_newton": (t_loop - t_loop_adam) / loop_states}
    return {
        "N": N, "gain": gain, "K": K, "loop_states": loop_states,
        "batched_s": t_batch, "batched_states_per_s": K / t_batch,
        "loop_s": t_loop, "loop_states_per_s": loop_states / t_loop,
        "speedup": (K / t_batch) / (loop_states / t_loop),
        "seconds_per_state": per_state,
        "speedup_adam": per_state["loop_adam"] / per_state["batched_adam"],
        "speedup_newton": per_state["loop_newton"] / per_state["batched_newton"],
        "fixed_points": len(fps), "kinds": {k: fps.kind.count(k) for k in set(fps.kind)},
        "states_converged": int(fps.counts.sum()),
        "max_residual_q": fps.residuals.max().item() if len(fps) else float("nan"),
        "loop_vs_batched_max_distance": same_points(sub_batched, sub_looped),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--gains", type=float, nargs="+", default=[1.2, 1.5])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--states", type=int, default=1024)
    parser.add_argument("--loop-states", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for both versions (1: reproducible on a shared machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [run(N, g, args.states, min(args.loop_states, args.states), args.repeats, args.seed)
            for N in args.sizes for g in args.gains]

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or 'cpu'}")
    print("| N | gain | states | batched (s) | batched states/s | loop states/s | speed-up "
          "| Adam / Newton speed-up | fixed points | states converged | max q | loop vs batched |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['N']} | {r['gain']:g} | {r['K']} | {r['batched_s']:.2f} | {r['batched_states_per_s']:.0f} | "
              f"{r['loop_states_per_s']:.1f} | {r['speedup']:.0f}× | "
              f"{r['speedup_adam']:.0f}× / {r['speedup_newton']:.1f}× | {r['fixed_points']} | "
              f"{r['states_converged']}/{r['K']} | {r['max_residual_q']:.1e} | "
              f"{r['loop_vs_batched_max_distance']:.0e} |")

    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "fixed_points_benchmark.json").write_text(json.dumps(
        {"torch": torch.__version__, "threads": torch.get_num_threads(), "rows": rows}, indent=2))
    fig, ax = plt.subplots(figsize=(6, 3.8), layout="constrained")
    x = torch.arange(len(rows)).numpy()
    ax.bar(x - 0.2, [r["batched_states_per_s"] for r in rows], 0.4, label="batched (one batch)")
    ax.bar(x + 0.2, [r["loop_states_per_s"] for r in rows], 0.4, label="per-state loop")
    for xi, r in zip(x, rows):
        ax.text(xi, r["batched_states_per_s"] * 1.15, f"{r['speedup']:.0f}×", ha="center")
    ax.set_xticks(x, [f"N = {r['N']}\ngain {r['gain']:g}" for r in rows])
    ax.set_yscale("log")
    ax.set_ylim(top=4 * max(r["batched_states_per_s"] for r in rows))
    ax.set_ylabel("initial states per second")
    ax.set_title(f"fixed points of tanh networks, {rows[0]['K']} states, float64")
    ax.legend(fontsize=8)
    fig.savefig(OUT / "fixed_points_benchmark.png", dpi=120)
    print(f"wrote {OUT / 'fixed_points_benchmark.png'} and .json")


if __name__ == "__main__":
    main()
