"""Forward+backward time of the Euler rollout against torch.nn.RNN, a naive loop and the matmul bound.

All contenders run interleaved in one process on the same (batch, hidden, steps), so the
ratios are robust to the machine's load; absolute times are printed for reference.

* ``RateRNN``   — torchrate's Euler path (one fused ``torch.library`` op, eager).
* ``compiled``  — the same network under ``torch.compile(fullgraph=True, dynamic=True)``: the
  rollout stays one opaque op, so this measures what compile adds or saves around it.
* ``nn.RNN``    — ``torch.nn.RNN(nonlinearity="tanh")``, the reference.
* ``naive``     — the same Euler rollout as a Python loop of ``net.step`` under autograd.
* ``matmuls``   — the bare matrix products any such rollout must do: T recurrent matmuls
  forward, T backward, one weight-gradient matmul over all steps (the bound).

Usage: ``python experiments/benchmarks/rollout.py [--repeats 7] [--out experiments/out]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

import torchrate as tr

SIZES = [(16, 64, 500), (64, 256, 500), (32, 1024, 200)]  # (batch, hidden, steps)
INPUT_SIZE = 16


def fwd_bwd(run, params):
    def call():
        out = run()
        grads = torch.autograd.grad(out.sum(), params)
        return grads

    return call


def contenders(B, N, T):
    u = torch.randn(T, B, INPUT_SIZE)
    net = tr.RateRNN(INPUT_SIZE, N, tau=10.0, dt=1.0, nonlinearity="tanh")
    rnn = torch.nn.RNN(INPUT_SIZE, N, nonlinearity="tanh")
    params = list(net.parameters())

    def naive():
        v, rates = u.new_zeros(B, N), []
        for t in range(T):
            v = net.step(v, u[t])
            rates.append(v)
        return torch.stack(rates)

    M = torch.randn(N, N) / N**0.5
    V = torch.randn(T, B, N)

    def matmuls():
        for t in range(T):
            V[t] @ M  # forward recurrent product
        for t in range(T):
            V[t] @ M  # backward δ M
        return V.reshape(-1, N).T @ V.reshape(-1, N)

    compiled = torch.compile(net, fullgraph=True, dynamic=True)
    return {
        "RateRNN": fwd_bwd(lambda: net(u)[0], params),
        "compiled": fwd_bwd(lambda: compiled(u)[0], params),
        "nn.RNN": fwd_bwd(lambda: rnn(u)[0], list(rnn.parameters())),
        "naive": fwd_bwd(naive, params),
        "matmuls": matmuls,
    }


def measure(calls: dict, repeats: int) -> dict[str, float]:
    for call in calls.values():  # warm-up
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():  # interleaved: the same load for everyone
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main(repeats: int = 7, out: Path = Path("experiments/out")) -> list[dict]:
    torch.manual_seed(0)
    rows = []
    header = (
        f"{'batch':>5} {'hidden':>6} {'steps':>5} | {'RateRNN ms':>10} {'compiled ms':>11} {'nn.RNN ms':>9} "
        f"{'naive ms':>9} {'matmuls ms':>10} | {'RateRNN/nn.RNN':>14} {'compiled/RateRNN':>16} "
        f"{'RateRNN/matmuls':>15} {'naive/RateRNN':>13}"
    )
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, forward+backward, float32 CPU")
    print(header)
    for B, N, T in SIZES:
        t = measure(contenders(B, N, T), repeats)
        row = {
            "batch": B,
            "hidden": N,
            "steps": T,
            **{f"{k} s": v for k, v in t.items()},
            "RateRNN / nn.RNN": t["RateRNN"] / t["nn.RNN"],
            "compiled / RateRNN": t["compiled"] / t["RateRNN"],
            "RateRNN / matmuls": t["RateRNN"] / t["matmuls"],
            "naive / RateRNN": t["naive"] / t["RateRNN"],
        }
        rows.append(row)
        print(
            f"{B:>5} {N:>6} {T:>5} | {1e3 * t['RateRNN']:>10.1f} {1e3 * t['compiled']:>11.1f} "
            f"{1e3 * t['nn.RNN']:>9.1f} {1e3 * t['naive']:>9.1f} {1e3 * t['matmuls']:>10.1f} | "
            f"{row['RateRNN / nn.RNN']:>14.2f} {row['compiled / RateRNN']:>16.2f} "
            f"{row['RateRNN / matmuls']:>15.2f} {row['naive / RateRNN']:>13.2f}"
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmark_rollout.json").write_text(json.dumps(rows, indent=2))
    plot(rows, out / "benchmark_rollout.png")
    return rows


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"B={r['batch']}\nN={r['hidden']}\nT={r['steps']}" for r in rows]
    names = ["RateRNN", "compiled", "nn.RNN", "naive", "matmuls"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.16
    for i, name in enumerate(names):
        ax.bar(
            [k + (i - 2) * width for k in range(len(rows))],
            [r[f"{name} s"] / r["nn.RNN s"] for r in rows],
            width,
            label=name,
        )
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(range(len(rows)), labels)
    ax.set_ylabel("time / nn.RNN (forward+backward)")
    ax.set_title("Euler rollout on CPU: lower is faster")
    ax.legend(ncol=5, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("experiments/out"))
    args = parser.parse_args()
    main(args.repeats, args.out)
