"""Benchmark: structured networks — ensembles, low-rank rollouts and latent fixed points.

1. **Ensemble training.** K = 32 3-bit flip-flop networks (RateRNN, N = 64, τ = 20 ms,
   dt = 10 ms, batch 64, T = 50) trained for ``--steps`` steps as one ``TaskModule(ensemble=32)``
   against 32 single ``TaskModule(network_seed=k)`` fits of the same steps on the same batches (each
   member ends equal to its single fit: checked). A step is what Lightning's is: re-seed the
   noise, forward, loss, backward, clip, Adam. Batches are drawn beforehand (each single fit
   would draw its own: the time to draw one is reported apart). Also at batch 8, where a step's
   fixed costs (per-op dispatch, Adam, clipping) weigh more. The rollout alone — ``Ensemble``
   forward + backward against a loop over the same networks over a (K, B, N) grid, with the
   bounds each is measured against — is ``experiments/benchmarks/ensemble.py``.
2. **Low-rank rollout.** ``LowRankRateRNN`` (rank 2) forward+backward against a full-rank
   ``RateRNN`` with the same M = m nᵀ/N, N = 4096, T = 50, batch 8, float32.
3. **Latent fixed points.** ``latent_fixed_points`` against the full-space
   ``find_fixed_points`` on the same network (bistable rank-1 and rank-2 networks, n = m·diag(2, 0.5)),
   N = 512 from 256 starts (the network's own rates plus noise) — and N = 4096 rank 2 from
   1,024 starts (``--full-4096`` also runs the full-space search there: minutes).
4. **Rank fidelity.** A flip-flop network (N = 64) trained 500 steps, and the bit accuracy of its
   rank-r truncated-SVD approximations (``tr.analysis.rank_fidelity``).

One process, warm, one thread (set here only), timings the best of ``--repeats`` with
contenders interleaved. Writes experiments/out/structured.json and
docs/figures/structured/benchmark.png, plus the latent-flow figures of the docs.

    python experiments/benchmarks/structured.py [--steps 20] [--repeats 3] [--full-4096]
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
from torchrate.analysis.lowrank import latent_fixed_points  # noqa: E402
from torchrate.training import TaskModule  # noqa: E402
from torchrate.training.data import draw_batch  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT, FIG = ROOT / "experiments" / "out", ROOT / "docs" / "figures" / "structured"
F64 = torch.float64


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


# ----------------------------------------------------------------------------- 1. ensembles
def train(module: TaskModule, batches) -> None:
    opt = module.configure_optimizers()
    module.on_fit_start()
    for step, (u, y, m, _) in enumerate(batches):
        module._reseed("train", step)
        opt.zero_grad()
        outputs, rates = module(u)
        total, _ = module.loss(outputs, rates, y, m)
        total.backward()
        if module.is_ensemble:
            module.configure_gradient_clipping(opt)
        else:
            torch.nn.utils.clip_grad_norm_(module.parameters(), module.hparams.grad_clip)
        opt.step()


def bench_ensemble(K: int, steps: int, repeats: int, B: int = 64) -> dict:
    task = tr.tasks.FlipFlop(n_bits=3, dt=10.0, duration=500.0, pulse_rate=0.01, grace=20.0)
    spec = {"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": 64, "tau": 20.0, "dt": 10.0}}
    batches = [draw_batch(task, B, 1000 + i) for i in range(steps)]
    draw = best_of(lambda: draw_batch(task, B, 0), 5)
    state = {}

    def ensemble():
        state["ens"] = TaskModule(task, spec, ensemble=K, network_seed=0)
        train(state["ens"], batches)

    def sequential():
        state["singles"] = [TaskModule(task, spec, network_seed=k) for k in range(K)]
        for single in state["singles"]:
            train(single, batches)

    t_ens, t_seq = [], []
    for _ in range(repeats):  # interleaved
        t_ens.append(best_of(ensemble, 1))
        t_seq.append(best_of(sequential, 1))
    dev = max((state["ens"].network[k].M - s.network.M).abs().max().item() for k, s in enumerate(state["singles"]))
    return {
        "K": K,
        "B": B,
        "steps": steps,
        "ensemble_s": min(t_ens),
        "sequential_s": min(t_seq),
        "speedup": min(t_seq) / min(t_ens),
        "draw_batch_ms": 1e3 * draw,
        "speedup_with_data": (min(t_seq) + K * steps * draw) / (min(t_ens) + steps * draw),
        "max_weight_difference_float32": dev,
    }


# ----------------------------------------------------------------------------- 2. low-rank rollout
def bench_lowrank_rollout(N: int, rank: int, T: int, B: int, repeats: int) -> dict:
    low = tr.LowRankRateRNN(2, N, rank, tau=10.0, dt=1.0, generator=torch.Generator().manual_seed(0))
    full = tr.RateRNN.from_weights(
        low.M.detach(), low.W.detach(), low.b.detach(), tau=10.0, dt=1.0, nonlinearity="tanh"
    )
    u = torch.randn(T, B, 2, generator=torch.Generator().manual_seed(1))

    def step(net):
        net.zero_grad()
        net(u)[0].square().sum().backward()

    t_low, t_full = [], []
    for _ in range(repeats):
        t_low.append(best_of(lambda: step(low), 1))
        t_full.append(best_of(lambda: step(full), 1))
    diff = (low(u)[0] - full(u)[0]).abs().max().item()
    return {
        "N": N,
        "rank": rank,
        "T": T,
        "B": B,
        "lowrank_ms": 1e3 * min(t_low),
        "full_ms": 1e3 * min(t_full),
        "speedup": min(t_full) / min(t_low),
        "max_rate_difference_float32": diff,
    }


# ----------------------------------------------------------------------------- 3. fixed points
def bistable(N: int, rank: int) -> tr.LowRankRateRNN:
    m = torch.randn(N, rank, dtype=F64, generator=torch.Generator().manual_seed(rank))
    n = m * torch.tensor([2.0, 0.5][:rank], dtype=F64)
    return tr.LowRankRateRNN.from_factors(m, n, m[:, :1].clone(), tau=10.0, dt=1.0)


def starts(net, K: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(2)
    v0 = 0.8 * torch.randn(1, K, net.hidden_size, dtype=F64, generator=g)
    rates, _ = net(torch.zeros(30, K, 1, dtype=F64), v0)
    v = rates[torch.randint(30, (K,), generator=g), torch.arange(K)]
    return v + 0.05 * torch.randn(v.shape, dtype=F64, generator=g)


def bench_fixed_points(N: int, rank: int, K: int, repeats: int, full: bool) -> dict:
    net = bistable(N, rank)
    u = torch.zeros(1, dtype=F64)
    v0 = starts(net, K)
    full_net = tr.RateRNN.from_weights(net.M.detach(), net.W.detach(), tau=10.0, dt=1.0, nonlinearity="tanh")
    out = {"N": N, "rank": rank, "starts": K}
    lat = latent_fixed_points(net, u, v0)
    out["latent_ms"] = 1e3 * best_of(lambda: latent_fixed_points(net, u, v0), repeats)
    out["latent_grid_ms"] = 1e3 * best_of(lambda: latent_fixed_points(net, u), repeats)
    out["latent_points"] = len(lat)
    out["latent_kinds"] = sorted(lat.kind)
    if full:
        fps = tr.analysis.find_fixed_points(full_net, u, v0)
        out["full_ms"] = 1e3 * best_of(
            lambda: tr.analysis.find_fixed_points(full_net, u, v0), repeats if N <= 1024 else 1
        )
        out["full_points"] = len(fps)
        d = torch.cdist(lat.points, fps.points, compute_mode="donot_use_mm_for_euclid_dist")
        out["max_point_distance"] = max(d.min(1).values.max().item(), d.min(0).values.max().item())
        out["speedup"] = out["full_ms"] / out["latent_ms"]
    return out


# ----------------------------------------------------------------------------- 4. rank fidelity
def fidelity(steps: int = 500) -> dict:
    """A flip-flop network (N = 64, seed 0) trained ``steps`` steps, then its rank-r approximations."""
    task = tr.tasks.FlipFlop(n_bits=3, dt=10.0, duration=500.0, pulse_rate=0.01, grace=20.0)
    spec = {"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": 64, "tau": 20.0, "dt": 10.0}}
    module = TaskModule(task, spec, network_seed=0)
    train(module, [draw_batch(task, 64, 2000 + i) for i in range(steps)])
    u, y, m, _ = draw_batch(task, 1024, 7)
    metric = lambda out: float(task.evaluate(out, y, m)["bit_accuracy"])  # noqa: E731
    fit = tr.analysis.rank_fidelity(
        module.network, u, [1, 2, 3, 4, 6, 8, 16, 64], readout=module.readout, metric=metric
    )
    return {
        "ranks": fit.ranks,
        "rates_error": fit.rates_error.tolist(),
        "outputs_error": fit.outputs_error.tolist(),
        "bit_accuracy": fit.metric.tolist(),
        "full_bit_accuracy": fit.full_metric,
        "singular_values": fit.singular_values[:16].tolist(),
    }


# ----------------------------------------------------------------------------- figures
def flow_figures() -> None:
    FIG.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    net1 = bistable(512, 1)
    tr.plotting.plot_latent_flow(net1, None, axes[0], title="rank 1, u = 0: bistable (n = 2m)")
    net2 = bistable(512, 2)
    with torch.no_grad():
        net2.n[:, 1] *= 3.2  # overlap 1.6 on κ₂ too: two competing bistable directions
    v0 = 0.6 * torch.randn(1, 8, 512, dtype=F64, generator=torch.Generator().manual_seed(3))
    rates, _ = net2(torch.zeros(150, 8, 1, dtype=F64), v0)
    tr.plotting.plot_latent_flow(
        net2, None, axes[1], trajectories=rates, title="rank 2, n = m·diag(2, 1.6): κ-space flow"
    )
    fig.tight_layout()
    fig.savefig(FIG / "latent_flow.png", dpi=120)
    plt.close(fig)


def summary_figure(res: dict) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    cases = [res[k] for k in ("ensemble", "ensemble_batch8") if k in res]
    x = range(len(cases))
    axes[0].bar([i - 0.2 for i in x], [e["sequential_s"] for e in cases], 0.4, color="0.6", label="32 sequential fits")
    axes[0].bar([i + 0.2 for i in x], [e["ensemble_s"] for e in cases], 0.4, color="tab:blue", label="ensemble of 32")
    axes[0].set_xticks(list(x), [f"batch {e['B']}: {e['speedup']:.1f}×" for e in cases])
    axes[0].set(ylabel=f"s for {cases[0]['steps']} steps", title="flip-flop training, N = 64, K = 32")
    axes[0].legend(fontsize=8)
    r = res["lowrank_rollout"]
    axes[1].bar(["full rank", "rank 2"], [r["full_ms"], r["lowrank_ms"]], color=["0.6", "tab:blue"])
    axes[1].set(
        ylabel="ms (forward + backward)",
        yscale="log",
        title=f"N = {r['N']}, T = {r['T']}, B = {r['B']}: {r['speedup']:.0f}×",
    )
    rows = [f for f in res["fixed_points"] if "full_ms" in f]
    x = range(len(rows))
    axes[2].bar([i - 0.2 for i in x], [f["full_ms"] for f in rows], 0.4, color="0.6", label="full space")
    axes[2].bar([i + 0.2 for i in x], [f["latent_ms"] for f in rows], 0.4, color="tab:blue", label="latent (κ)")
    axes[2].set_xticks(list(x), [f"N={f['N']}\nr={f['rank']}, K={f['starts']}" for f in rows])
    axes[2].set(ylabel="ms", yscale="log", title="fixed points")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(FIG / "benchmark.png", dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--full-4096", action="store_true", help="also the full-space search at N = 4096")
    parser.add_argument("--only", choices=["ensemble", "rollout", "fixed_points", "figures", "fidelity"])
    args = parser.parse_args()
    torch.set_num_threads(1)  # a benchmark script: its own process
    res = {"machine": platform.processor() or platform.machine(), "torch": torch.__version__, "threads": 1}
    path = OUT / "structured.json"
    if path.exists():
        res = {**json.loads(path.read_text()), **res}
    if args.only in (None, "figures"):
        flow_figures()
    if args.only in (None, "rollout"):
        res["lowrank_rollout"] = bench_lowrank_rollout(4096, 2, 50, 8, args.repeats)
        print(res["lowrank_rollout"], flush=True)
    if args.only in (None, "fixed_points"):
        res["fixed_points"] = [
            bench_fixed_points(512, 1, 256, args.repeats, True),
            bench_fixed_points(512, 2, 256, args.repeats, True),
            bench_fixed_points(4096, 2, 1024, args.repeats, args.full_4096),
        ]
        for row in res["fixed_points"]:
            print(row, flush=True)
    if args.only in (None, "fidelity"):
        res["fidelity"] = fidelity()
        print(res["fidelity"], flush=True)
    if args.only in (None, "ensemble"):
        res["ensemble"] = bench_ensemble(32, args.steps, args.repeats)
        print(res["ensemble"], flush=True)
        res["ensemble_batch8"] = bench_ensemble(32, args.steps, args.repeats, B=8)
        print(res["ensemble_batch8"], flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=2))
    if all(k in res for k in ("ensemble", "lowrank_rollout", "fixed_points")):
        summary_figure(res)


if __name__ == "__main__":
    main()
