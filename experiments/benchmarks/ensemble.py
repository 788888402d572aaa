"""Benchmark: ``tr.Ensemble`` against a Python loop over the same K networks, forward + backward.

For every (K, B, N) of the grid (T = 50, tanh, float32, one thread, set here only), the same K
``RateRNN``s (input size 3, τ = 20 ms, dt = 10 ms) on one shared input u (T, B, 3):

* ``ensemble`` — ``Ensemble(nets)(u)[0].sum().backward()``: one batched rollout;
* ``loop``     — ``for net in nets: net(u)[0].sum().backward()``: each member on its own fused
  single-network path;
* ``one × K``  — one network's forward + backward times K: the loop without its loop;
* ``bmm floor``, ``mm floor`` — the bare matrix products any such rollout does, at the same shapes:
  T recurrent products forward, T backward and one weight-gradient product over all steps, as
  K-batched ``torch.baddbmm``/``torch.bmm`` or as K separate ``torch.addmm``/``torch.mm``.
  GFLOP/s = 6·K·T·B·N² (those three products; the input projection is left out) over a time.

Contenders run warm and interleaved in one process; each sample makes one untimed call (its first
after the other contenders ran, see ``timer``; ``--cold`` times it too), then repeats a call until
it has used ``--min-ms`` of CPU time, and a time is the median of ``--repeats`` samples. Times are the
process's CPU time (what a one-thread run costs, and what a shared machine's other jobs do not
add to by descheduling it); wall-clock times are recorded too (``*_wall_ms``, ``speedup_wall``).
Gradients are set to None inside each call. Writes experiments/out/ensemble.json.

    python experiments/benchmarks/ensemble.py [--K 8 32] [--B 1 16 64 256] [--N 64 256] [--T 50]
                                              [--repeats 7] [--min-ms 30] [--cold]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

import torchrate as tr

OUT = Path(__file__).resolve().parents[2] / "experiments" / "out"
INPUT = 3


def timer(fn, min_s: float, cold: bool = False):
    """A sample: ``fn`` once untimed, then repeated until ``min_s`` of CPU time has passed (at least
    once); (CPU, wall) seconds per call. The untimed call is each sample's first after the other
    contenders ran, whose data then fill the caches: both contenders are timed warm, as a training
    loop calls them (the ensemble streams ~13 MB a call at K = 32, B = 16, N = 64, and its first
    call after the loop's was 2-4 ms slower; ``--cold`` times that call too)."""

    def sample() -> tuple[float, float]:
        if not cold:
            fn()
        n, cpu, wall = 0, time.process_time(), time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.process_time() - cpu
            if elapsed >= min_s:
                return elapsed / n, (time.perf_counter() - wall) / n

    return sample


def contenders(K: int, B: int, N: int, T: int) -> dict:
    nets = [
        tr.RateRNN(INPUT, N, tau=20.0, dt=10.0, nonlinearity="tanh", generator=torch.Generator().manual_seed(k))
        for k in range(K)
    ]
    ens = tr.Ensemble(nets)
    u = torch.randn(T, B, INPUT, generator=torch.Generator().manual_seed(K + B + N))

    def ensemble():
        ens.zero_grad(set_to_none=True)
        ens(u)[0].sum().backward()

    def loop():
        for net in nets:
            net.zero_grad(set_to_none=True)
            net(u)[0].sum().backward()

    def one():
        nets[0].zero_grad(set_to_none=True)
        nets[0](u)[0].sum().backward()

    g = torch.Generator().manual_seed(1)
    Mk = torch.randn(K, N, N, generator=g) / N**0.5
    Vk = torch.randn(T, K, B, N, generator=g)
    Vs = [Vk[:, k].contiguous() for k in range(K)]
    Ms = list(Mk.unbind(0))

    def bmm_floor():
        out = torch.empty(K, B, N)
        for t in range(T):
            torch.baddbmm(Vk[t], Vk[t], Mk, out=out)  # forward: X_t + v_t Mᵀ
        for t in range(T):
            torch.baddbmm(Vk[t], Vk[t], Mk)  # backward: (1 − a) g + δ_t M
        Z = Vk.transpose(0, 1).reshape(K, T * B, N)
        return Z.mT @ Z  # the weight gradient over all steps

    def mm_floor():
        out = torch.empty(B, N)
        for V, M in zip(Vs, Ms):
            for t in range(T):
                torch.addmm(V[t], V[t], M, out=out)
            for t in range(T):
                torch.addmm(V[t], V[t], M)
            Z = V.reshape(T * B, N)
            Z.T @ Z

    return {"ensemble": ensemble, "loop": loop, "one": one, "bmm_floor": bmm_floor, "mm_floor": mm_floor}


def measure(calls: dict, repeats: int, min_s: float, cold: bool = False) -> tuple[dict[str, float], dict[str, float]]:
    """Median CPU and wall seconds per call of each contender."""
    samples = {name: timer(fn, min_s, cold) for name, fn in calls.items()}
    for s in samples.values():  # warm-up
        s()
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, s in samples.items():  # interleaved: the same load for everyone
            times[name].append(s())
    return (
        {name: statistics.median(c for c, _ in ts) for name, ts in times.items()},
        {name: statistics.median(w for _, w in ts) for name, ts in times.items()},
    )


def main() -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--K", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--B", type=int, nargs="+", default=[1, 16, 64, 256])
    parser.add_argument("--N", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--T", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--min-ms", type=float, default=30.0, help="the least duration of one sample")
    parser.add_argument("--cold", action="store_true", help="time each sample's first call too (see timer)")
    parser.add_argument("--out", type=Path, default=OUT / "ensemble.json")
    args = parser.parse_args()
    torch.set_num_threads(1)  # a benchmark script: its own process
    torch.manual_seed(0)
    T = args.T
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread, T = {T}, tanh, float32, forward+backward; "
        f"median of {args.repeats} interleaved samples{' (first calls timed: --cold)' if args.cold else ''}, "
        f"CPU time (ms per call); load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{'K':>3} {'B':>4} {'N':>4} | {'ensemble ms':>11} {'loop ms':>9} {'loop/ens':>8} | {'one×K ms':>9} "
        f"{'bmm floor':>9} {'mm floor':>9} | {'ens GF/s':>8} {'loop GF/s':>9} {'bmm GF/s':>8} {'mm GF/s':>8} | "
        f"{'wall loop/ens':>13}"
    )
    rows = []
    for K in args.K:
        for N in args.N:
            for B in args.B:
                t, wall = measure(contenders(K, B, N, T), args.repeats, args.min_ms / 1e3, args.cold)
                gflop = 6 * K * T * B * N * N / 1e9
                row = {
                    "K": K,
                    "B": B,
                    "N": N,
                    "T": T,
                    **{f"{k}_ms": 1e3 * v for k, v in t.items()},
                    "one_times_K_ms": 1e3 * K * t["one"],
                    "speedup": t["loop"] / t["ensemble"],
                    **{f"{k}_gflops": gflop / t[k] for k in ("ensemble", "loop", "bmm_floor", "mm_floor")},
                    **{f"{k}_wall_ms": 1e3 * v for k, v in wall.items()},
                    "speedup_wall": wall["loop"] / wall["ensemble"],
                }
                rows.append(row)
                print(
                    f"{K:>3} {B:>4} {N:>4} | {row['ensemble_ms']:>11.2f} {row['loop_ms']:>9.2f} "
                    f"{row['speedup']:>8.2f} | {row['one_times_K_ms']:>9.2f} {row['bmm_floor_ms']:>9.2f} "
                    f"{row['mm_floor_ms']:>9.2f} | {row['ensemble_gflops']:>8.1f} {row['loop_gflops']:>9.1f} "
                    f"{row['bmm_floor_gflops']:>8.1f} {row['mm_floor_gflops']:>8.1f} | {row['speedup_wall']:>13.2f}",
                    flush=True,
                )
    load_after = os.getloadavg()[0]
    print(f"load average after: {load_after:.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": platform.processor() or platform.machine(),
                "torch": torch.__version__,
                "threads": 1,
                "T": T,
                "repeats": args.repeats,
                "cold": args.cold,
                "load_after": load_after,
                "rows": rows,
            },
            indent=2,
        )
    )
    return rows


if __name__ == "__main__":
    main()
