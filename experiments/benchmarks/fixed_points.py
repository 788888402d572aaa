"""Benchmark: the batched fixed-point search against the same search one start at a time (part 1),
and against FixedPointFinder (part 2). One process, one torch thread (``--threads``), every
contender run once to warm up and then in interleaved rounds (A, B, A, B, …); each time is the
median of ``--repeats`` rounds, as wall-clock and as CPU time of this process (the second is
what a shared machine disturbs least). The machine's load average is printed before and after.

Part 1, the per-state loop.

Networks, float64: random tanh rate networks (M with i.i.d. N(0, g²/N) entries, bias N(0, 0.1²),
τ = 10 ms, dt = 1 ms: analysed as their flow) at N = 256 (g = 1.2 and 1.5), 512 and 1024
(g = 1.2), with starts drawn from their own trajectories (noise 0.05); and a trained network: a
256-unit tanh ``torch.nn.RNN`` trained here on torchrate's 3-bit flip-flop task (600 Adam steps,
seeded, ~15 s; analysed as the map it runs), with starts drawn from its hidden states.

The per-state loop is ``find_fixed_points(net, u, starts, batch_size=1)``: the same search, run on
each start alone (its own warm-up, Newton, nothing shared between starts), on the same K starts as
the batched call ``find_fixed_points(net, u, starts)``. Both calls end with the same summary
(Jacobians, eigenvalues, the midpoints between the points found) of the same points, so the
speed-up is the ratio of the two calls' times. K = min(1024, 2¹⁸/N): 1,024 starts at N = 256, 512
at N = 512, 256 at N = 1024. Both calls must find the same points (last column: the largest
distance from a point of one to the nearest point of the other).

Part 2, FixedPointFinder (Golub & Sussillo, github.com/mattgolub/fixed-point-finder, its torch
version), run only when ``TORCHRATE_FPF_PATH`` points to a checkout of it (never copied here). Both
find the fixed points of the same map: FixedPointFinder those of a ``torch.nn.RNN``,
h = tanh(W_ih u + b + W_hh h), torchrate those of the rate network with M = W_hh, W = W_ih,
b = b_ih + b_hh, whose fixed points v = tanh(Mv + Wu + b) are the same (a GRU or LSTM is analysed
directly).

* its 3-bit flip-flop example: the 16-unit tanh RNN, GRU and LSTM trained by its ``examples/torch``
  code (seeded), 1,024 starts sampled by its ``sample_states`` with noise 0.5, its example's
  settings (``max_iters=10000, lr_init=1, outlier_distance_scale=10``);
* with ``--n256`` (or only them, ``--only-n256``), the same example at N = 256 units, tanh and
  GRU, trained by the same code at a smaller learning rate (its default diverges there);
* rank-one networks M = m nᵀ/N (N = 512, n = 2m, input weights w = m + x), 256 starts from the
  network's own trajectories, at inputs with three roots and with one root of the exact scalar
  equation κ = ⟨n, tanh(κm + uw)⟩/N (brentq): every root must be found; FixedPointFinder
  with its defaults.

FixedPointFinder computes in float32 (its default); torchrate is timed in float32 and float64.

    python experiments/benchmarks/fixed_points.py --only-loop          # part 1 (minutes)
    TORCHRATE_FPF_PATH=/work/peers/fixed-point-finder python experiments/benchmarks/fixed_points.py --only-peer
    TORCHRATE_FPF_PATH=/work/peers/fixed-point-finder python experiments/benchmarks/fixed_points.py  # both
    TORCHRATE_FPF_PATH=... python experiments/benchmarks/fixed_points.py --only-n256 --repeats 1  # N = 256 rows

Writes experiments/out/fixed_points_benchmark.{json,png} (part 1) and fixed_points_vs_fpf.json
(part 2; fixed_points_vs_fpf_n256.json with ``--only-n256``).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import torchrate as tr  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "out"


def load() -> str:
    """The machine's load averages (1, 5, 15 min) and its CPU count, for the record."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def interleaved(contenders: dict, repeats: int) -> tuple[dict, dict, dict]:
    """Run every contender once (warm-up, not timed), then ``repeats`` rounds in turn; returns
    each one's last result and its median wall-clock and CPU (this process) seconds."""
    result = {key: fn() for key, fn in contenders.items()}
    wall, cpu = {key: [] for key in contenders}, {key: [] for key in contenders}
    for _ in range(repeats):
        for key, fn in contenders.items():
            w0, c0 = time.perf_counter(), time.process_time()
            result[key] = fn()
            cpu[key].append(time.process_time() - c0)
            wall[key].append(time.perf_counter() - w0)
    return result, {k: statistics.median(t) for k, t in wall.items()}, {k: statistics.median(t) for k, t in cpu.items()}


# ----------------------------------------------------------------------------- part 1: the per-state loop
def make_network(N: int, gain: float, seed: int) -> tr.RateRNN:
    """tanh network, M with i.i.d. N(0, gain²/N) entries, bias N(0, 0.1²), τ = 10 ms."""
    gen = torch.Generator().manual_seed(seed)
    M = gain * torch.randn(N, N, generator=gen, dtype=torch.float64) / N**0.5
    b = 0.1 * torch.randn(N, generator=gen, dtype=torch.float64)
    return tr.RateRNN.from_weights(M, torch.ones(N, 1, dtype=torch.float64), b, tau=10.0, dt=1.0, nonlinearity="tanh")


def trajectories(net: tr.RateRNN, u: torch.Tensor, v0: torch.Tensor, steps: int) -> torch.Tensor:
    """Euler trajectories (steps, B, N) of ``net`` at constant input ``u`` from rates ``v0``."""
    h = net.project_input(u).detach()
    M, b, tau = net.M.detach(), None if net.b is None else net.b.detach(), net.tau.detach()
    out, v = [], v0
    for _ in range(steps):
        v = tr.dynamics.euler_step(v, h, M, b, tau, net.F, net.dt)
        out.append(v)
    return torch.stack(out)


def initial_states(net: tr.RateRNN, K: int, seed: int) -> torch.Tensor:
    """K states drawn from 32 trajectories of 400 ms (after 100 ms), plus noise of std 0.05."""
    gen = torch.Generator().manual_seed(seed)
    v0 = torch.randn(32, net.hidden_size, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        rates = trajectories(net, torch.zeros(1, dtype=torch.float64), v0, 500)
    return tr.analysis.sample_states(rates[100:], K, 0.05, generator=gen)


def trained_flip_flop(N: int, steps: int, seed: int):
    """A tanh ``torch.nn.RNN`` with a linear readout trained by plain Adam (lr 1e-3, batches of 64)
    on torchrate's 3-bit flip-flop (dt = 10 ms, 500 ms trials): the network in float64, 1,024
    starts from its hidden states (noise 0.05) and the training record."""
    gen = torch.Generator().manual_seed(seed)
    task = tr.tasks.FlipFlop(n_bits=3, dt=10.0, duration=500.0)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        rnn, readout = torch.nn.RNN(3, N), torch.nn.Linear(N, 3)
    opt = torch.optim.Adam([*rnn.parameters(), *readout.parameters()], lr=1e-3)
    t0 = time.perf_counter()
    for _ in range(steps):
        x, y, mask = task.sample(64, generator=gen)
        h, _ = rnn(x)
        loss = (((readout(h) - y) ** 2) * mask).sum() / mask.sum().clamp_min(1) / 3
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y, mask = task.sample(256, generator=gen)
    with torch.no_grad():
        h, _ = rnn(x)
        metrics = task.evaluate(readout(h), y, mask)
    record = {
        "steps": steps,
        "train_s": time.perf_counter() - t0,
        "bit_accuracy": float(metrics["bit_accuracy"]),
        "mse": float(metrics["mse"]),
    }
    rnn = rnn.double().requires_grad_(False)
    starts = tr.analysis.sample_states(h.double(), 1024, 0.05, generator=gen)
    return rnn, starts, record


def same_points(a: tr.analysis.FixedPoints, b: tr.analysis.FixedPoints) -> float:
    """Largest distance from a point of one set to the nearest of the other (inf if sizes differ)."""
    if len(a) != len(b):
        return float("inf")
    if len(a) == 0:
        return 0.0
    d = torch.cdist(a.points, b.points, compute_mode="donot_use_mm_for_euclid_dist")
    return max(d.min(0).values.max().item(), d.min(1).values.max().item())


def loop_row(name: str, net, u, starts: torch.Tensor, repeats: int) -> dict:
    """Part 1: the batched call against ``batch_size=1`` on the same starts, interleaved."""
    K, N = starts.shape
    result, wall, cpu = interleaved(
        {
            "batched": lambda: tr.analysis.find_fixed_points(net, u, starts),
            "loop": lambda: tr.analysis.find_fixed_points(net, u, starts, batch_size=1),
        },
        repeats,
    )
    fps = result["batched"]
    return {
        "network": name,
        "N": N,
        "K": K,
        "batched_s": wall["batched"],
        "loop_s": wall["loop"],
        "speedup": wall["loop"] / wall["batched"],
        "batched_cpu_s": cpu["batched"],
        "loop_cpu_s": cpu["loop"],
        "speedup_cpu": cpu["loop"] / cpu["batched"],
        "fixed_points": len(fps),
        "kinds": {k: fps.kind.count(k) for k in sorted(set(fps.kind))},
        "states_converged": int(fps.counts.sum()),
        "loop_states_converged": int(result["loop"].counts.sum()),
        "max_residual_q": fps.residuals.max().item() if len(fps) else float("nan"),
        "loop_vs_batched_max_distance": same_points(fps, result["loop"]),
    }


def loop_rows(repeats: int, seed: int, trained_steps: int) -> list[dict]:
    rows = []
    u = torch.zeros(1, dtype=torch.float64)
    for N, gain in ((256, 1.2), (256, 1.5), (512, 1.2), (1024, 1.2)):
        net = make_network(N, gain, seed)
        starts = initial_states(net, min(1024, 2**18 // N), seed + 1)
        rows.append(loop_row(f"random, gain {gain:g}", net, u, starts, repeats))
        print_loop(rows[-1:], header=len(rows) == 1)
    rnn, starts, record = trained_flip_flop(256, trained_steps, seed)
    rows.append(loop_row("trained flip-flop (nn.RNN)", rnn, None, starts, repeats))
    rows[-1]["training"] = record
    print_loop(rows[-1:], header=False)
    return rows


def print_loop(rows: list[dict], header: bool = True) -> None:
    if header:
        print(
            "| network | N | starts | batched (s) | per-state loop (s) | speed-up | CPU: batched / loop (s) "
            "| speed-up (CPU) | fixed points | states converged (batched / loop) | max q | loop vs batched |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['network']} | {r['N']} | {r['K']} | {r['batched_s']:.2f} | {r['loop_s']:.2f} | "
            f"{r['speedup']:.1f}× | {r['batched_cpu_s']:.2f} / {r['loop_cpu_s']:.2f} | {r['speedup_cpu']:.1f}× | "
            f"{r['fixed_points']} | {r['states_converged']} / {r['loop_states_converged']} | "
            f"{r['max_residual_q']:.1e} | {r['loop_vs_batched_max_distance']:.0e} |",
            flush=True,
        )


def plot_loop(rows: list[dict]) -> None:
    fig, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r["K"] / r["batched_s"] for r in rows], 0.4, label="batched (one call)")
    ax.bar(x + 0.2, [r["K"] / r["loop_s"] for r in rows], 0.4, label="per-state loop (batch_size=1)")
    for xi, r in zip(x, rows):
        ax.text(xi, r["K"] / r["batched_s"] * 1.15, f"{r['speedup']:.1f}×", ha="center")
    ax.set_xticks(x, [f"N = {r['N']}\n{r['network'].replace(', ', chr(10))}" for r in rows], fontsize=7)
    ax.set_yscale("log")
    ax.set_ylim(top=4 * max(r["K"] / r["batched_s"] for r in rows))
    ax.set_ylabel("starts per second")
    ax.set_title("fixed points, float64, the same starts both ways")
    ax.legend(fontsize=8)
    fig.savefig(OUT / "fixed_points_benchmark.png", dpi=120)


# ----------------------------------------------------------------------------- part 2: FixedPointFinder
def load_fpf(path: str):
    """FixedPointFinder's torch class and its flip-flop example modules, from a checkout."""
    for sub in ("", "examples/helper", "examples/torch"):
        sys.path.insert(0, str(Path(path) / sub))
    from FixedPointFinderTorch import FixedPointFinderTorch  # noqa: PLC0415 (optional peer)

    return FixedPointFinderTorch


def quiet(fn):
    """``fn()`` with its prints swallowed (FixedPointFinder prints even when not verbose)."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn()


def rate_network(rnn: torch.nn.RNN, dtype: torch.dtype) -> tr.RateRNN:
    """The rate network with the fixed points of a one-layer tanh ``nn.RNN``: v = tanh(Mv + Wu + b)."""
    sd = {k: t.detach().to(dtype) for k, t in rnn.state_dict().items()}
    b = sd["bias_ih_l0"] + sd["bias_hh_l0"] if "bias_ih_l0" in sd else None
    return tr.RateRNN.from_weights(sd["weight_hh_l0"], sd["weight_ih_l0"], b, tau=1.0, dt=1.0, nonlinearity="tanh")


def flip_flop(
    path: str, rnn_type: str = "tanh", n_hidden: int = 16, learning_rate: float = 1 / 128**0.5, max_epochs: int = 2000
):
    """FixedPointFinder's 3-bit flip-flop example, trained by its own code (seeded) with its
    ``rnn_type`` ("tanh", "gru" or "lstm"), ``n_hidden`` units and Adam ``learning_rate`` (its
    default 1/√128 ≈ 0.088; at N = 256 that diverges): the torch module, its 1,024 starts (its
    ``sample_states``, noise 0.5; an LSTM's state is (h, c), as FixedPointFinder concatenates it),
    the input, and the training record (epochs, seconds, validation MSE). Its ``train`` runs
    until the epoch's training loss < 1e-4 and has no epoch limit: past ``max_epochs`` the
    epoch is reported as loss 0 so that it stops (the record then says so)."""
    fpf_cls = load_fpf(path)
    import FlipFlopData as ffd  # noqa: PLC0415 (from the peer checkout)
    from FlipFlop import FlipFlop  # noqa: PLC0415

    ffd.FlipFlopData.plot_trials = staticmethod(lambda *a, **k: None)  # no figures while training
    with torch.random.fork_rng():
        torch.manual_seed(0)
        data = ffd.FlipFlopData(random_seed=0)
        train, valid = data.generate_data(512), data.generate_data(128)
        model = FlipFlop(3, n_hidden, 3, rnn_type=rnn_type)
        epochs, train_epoch = [0], model._train_epoch

        def capped_epoch(*args, **kwargs):  # its epoch, or a stop signal past max_epochs
            epochs[0] += 1
            return train_epoch(*args, **kwargs) if epochs[0] <= max_epochs else (0.0, 0.0)

        model._train_epoch = capped_epoch
        t0 = time.perf_counter()
        quiet(lambda: model.train(train, valid, learning_rate=learning_rate, batch_size=128))
        seconds = time.perf_counter() - t0
    pred = model.predict(valid)
    record = {
        "n_hidden": n_hidden,
        "learning_rate": learning_rate,
        "epochs": min(epochs[0], max_epochs),
        "capped": epochs[0] > max_epochs,
        "train_s": seconds,
        "valid_mse": float(np.mean((pred["output"] - valid["targets"]) ** 2)),
    }
    hidden = pred["hidden"]
    if rnn_type == "lstm":  # its predict gives h only: the (h, c) states, from the module itself
        hidden = lstm_states(model, torch.as_tensor(valid["inputs"]))
    driven = LSTMState(model.rnn) if rnn_type == "lstm" else model.rnn
    fpf = fpf_cls(driven, max_iters=10000, lr_init=1.0, outlier_distance_scale=10.0, verbose=False, super_verbose=False)
    starts = fpf.sample_states(hidden, n_inits=1024, noise_scale=0.5)
    return model.rnn, fpf, starts, np.zeros((1, 3)), record


@torch.no_grad()
def lstm_states(model, inputs: torch.Tensor) -> np.ndarray:
    """(h, c) concatenated (B, T, 2H) of the flip-flop LSTM along ``inputs`` (B, T, I)."""
    B, T, _ = inputs.shape
    H = model.rnn.hidden_size
    h = model.initial_hiddens_1xd.expand(1, B, H).contiguous()
    c = model.initial_cell_1xd.expand(1, B, H).contiguous()
    out = []
    for t in range(T):
        _, (h, c) = model.rnn(inputs[:, t : t + 1], (h, c))
        out.append(torch.cat([h[0], c[0]], -1))
    return torch.stack(out, 1).numpy()


class LSTMState(torch.nn.Module):
    """An ``nn.LSTM`` whose state is one tensor, (h, c) concatenated: FixedPointFinder's torch
    version drives ``_, state = rnn(input, state)`` with one state tensor (its TF version
    concatenates LSTM states the same way)."""

    def __init__(self, lstm: torch.nn.LSTM):
        super().__init__()
        self.lstm, self.batch_first = lstm, lstm.batch_first

    def forward(self, x, state):
        h, c = state.chunk(2, -1)
        out, (h, c) = self.lstm(x, (h.contiguous(), c.contiguous()))
        return out, torch.cat([h, c], -1)


def rank_one(N: int, seed: int):
    """M = m nᵀ/N with n = 2m, input weights w = m + x (m, x ~ N(0, 1)), as an ``nn.RNN``."""
    gen = torch.Generator().manual_seed(seed)
    m, x = torch.randn(N, generator=gen, dtype=torch.float64), torch.randn(N, generator=gen, dtype=torch.float64)
    n, w = 2 * m, m + x
    rnn = torch.nn.RNN(1, N, bias=False, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(torch.outer(m, n) / N)
        rnn.weight_ih_l0.copy_(w[:, None])
    return rnn, m, n, w


def kappa_roots(m, n, w, u: float) -> list[float]:
    """Every root of g(κ) = ⟨n, tanh(κm + uw)⟩/N − κ: sign changes on a fine grid, then brentq."""
    from scipy.optimize import brentq  # noqa: PLC0415

    m, n, w = (t.numpy() for t in (m, n, w))
    g = lambda k: float(n @ np.tanh(k * m + u * w)) / len(m) - k  # noqa: E731
    bound = np.abs(n).mean() + 1  # |κ| ≤ ⟨|n|⟩ since |tanh| ≤ 1
    grid = np.linspace(-bound, bound, 40001)
    vals = np.array([g(k) for k in grid])
    return [brentq(g, grid[i], grid[i + 1], xtol=1e-15) for i in np.nonzero(np.diff(np.sign(vals)))[0]]


def rank_one_starts(rnn, m, w, u: float, K: int, seed: int) -> torch.Tensor:
    """K states from 32 trajectories (200 ms, τ = 10 ms) of the rate network started at
    tanh(c m + u w) + noise, c evenly in [−2, 2]: they pass near every fixed point."""
    gen = torch.Generator().manual_seed(seed)
    net = tr.RateRNN.from_weights(
        rnn.weight_hh_l0.detach(), rnn.weight_ih_l0.detach(), tau=10.0, dt=1.0, nonlinearity="tanh"
    )
    c = torch.linspace(-2, 2, 32, dtype=torch.float64)[:, None]
    v0 = torch.tanh(c * m + u * w) + 0.1 * torch.randn(32, len(m), generator=gen, dtype=torch.float64)
    rates = trajectories(net, torch.tensor([u], dtype=torch.float64), v0, 200)
    return tr.analysis.sample_states(rates, K, generator=gen)


def matched(ours: torch.Tensor, theirs: torch.Tensor, tol: float = 1e-3) -> tuple[int, int]:
    """(points of theirs with one of ours within tol, points of ours with one of theirs within tol)."""
    if not len(ours) or not len(theirs):
        return 0, 0
    d = torch.cdist(theirs.double(), ours.double(), compute_mode="donot_use_mm_for_euclid_dist")
    return int((d.min(1).values <= tol).sum()), int((d.min(0).values <= tol).sum())


def distinct(rnn, u: torch.Tensor, theirs: torch.Tensor) -> int:
    """How many distinct fixed points FixedPointFinder's returned points are: each refined by Newton
    in float64 (no warm-up) and de-duplicated (its own de-duplication keeps near-copies)."""
    if not len(theirs):
        return 0
    net = rate_network(rnn, torch.float64) if isinstance(rnn, torch.nn.RNN) else copy.deepcopy(rnn).double()
    fps = tr.analysis.find_fixed_points(net, u.double(), theirs.double(), opt_steps=0, outlier_scale=None)
    return len(fps) + sum(m.points.shape[0] for m in fps.manifolds)


def versus_fpf(
    name: str,
    rnn,
    fpf,
    starts: np.ndarray,
    inputs: np.ndarray,
    repeats: int,
    roots: list[float] | None = None,
    n_vec=None,
) -> dict:
    """Time FixedPointFinder and torchrate (float32, float64) interleaved; medians of ``repeats``.

    FixedPointFinder optimises the array of initial states it is given in place (its torch version
    wraps it with ``torch.from_numpy``), so every call gets a fresh copy of ``starts``: otherwise
    each round after the first would start where the previous one ended, for both finders."""
    u = torch.as_tensor(inputs[0])
    starts = np.array(starts, copy=True)
    contenders = {"fpf": lambda: quiet(lambda: fpf.find_fixed_points(starts.copy(), inputs))[0]}
    for dtype in (torch.float32, torch.float64):
        # a tanh nn.RNN as the rate network with τ = dt (the same map); a GRU/LSTM analysed directly
        net = rate_network(rnn, dtype) if isinstance(rnn, torch.nn.RNN) else copy.deepcopy(rnn).to(dtype)
        contenders[str(dtype)[6:]] = lambda net=net, dtype=dtype: tr.analysis.find_fixed_points(
            net, u.to(dtype), torch.tensor(starts, dtype=dtype)
        )
    result, wall, cpu = interleaved(contenders, repeats)
    theirs = torch.as_tensor(result["fpf"].xstar)
    their_stable = torch.as_tensor(np.asarray(result["fpf"].is_stable)).reshape(-1).bool()
    row = {
        "case": name,
        "fpf_s": wall["fpf"],
        "fpf_cpu_s": cpu["fpf"],
        "fpf_points": len(theirs),
        "fpf_distinct": distinct(rnn, u, theirs),
    }
    for key in ("float32", "float64"):
        fps = result[key]
        found, extra = matched(fps.points, theirs)
        if len(theirs) and len(fps):
            d = torch.cdist(theirs.double(), fps.points.double(), compute_mode="donot_use_mm_for_euclid_dist")
            hit = d.min(1).values <= 1e-3
            row.setdefault("verdicts", {})[key] = int((fps.stable[d.argmin(1)].cpu() == their_stable)[hit].sum())
        row[key] = {
            "s": wall[key],
            "speedup": wall["fpf"] / wall[key],
            "cpu_s": cpu[key],
            "speedup_cpu": cpu["fpf"] / cpu[key],
            "points": len(fps),
            "fpf_points_found": found,
            "points_fpf_found": extra,
            "kinds": {k: fps.kind.count(k) for k in set(fps.kind)},
        }
        if roots is not None:
            kappa = fps.points.double() @ n_vec / len(n_vec)
            row[key]["roots"] = len(roots)
            row[key]["roots_found"] = sum(bool(((kappa - r).abs() < 1e-4).any()) for r in roots)
    if roots is not None:
        kappa = theirs.double() @ n_vec / len(n_vec)
        row["fpf_roots_found"] = sum(bool(((kappa - r).abs() < 1e-3).any()) for r in roots)
        row["roots"] = [round(r, 6) for r in roots]
    return row


# N = 256: FixedPointFinder's default learning rate diverges; these train to a training loss < 1e-4
# (validation MSE ≈ 1e-4) in ~130 epochs (tanh, ~40 s) and ~90 epochs (GRU, ~2.5 min; at 1e-2
# and 3e-3 the GRU stalls at the loss 0.32 plateau). FixedPointFinder takes minutes on these.
N256_LEARNING_RATES = {"tanh": 1e-2, "gru": 3e-2}


def flip_flop_row(path: str, kind: str, repeats: int, n_hidden: int = 16, **train) -> dict:
    rnn, fpf, starts, inputs, record = flip_flop(path, kind, n_hidden, **train)
    row = versus_fpf(f"3-bit flip-flop, {kind}, N = {n_hidden}, 1,024 starts", rnn, fpf, starts, inputs, repeats)
    row["training"] = record
    return row


def peer_rows(path: str, repeats: int, n256: bool = False, only_n256: bool = False) -> list[dict]:
    fpf_cls = load_fpf(path)
    rows = []
    if not only_n256:
        rows += [flip_flop_row(path, kind, repeats) for kind in ("tanh", "gru", "lstm")]
    if n256 or only_n256:
        rows += [flip_flop_row(path, kind, repeats, 256, learning_rate=lr) for kind, lr in N256_LEARNING_RATES.items()]
    if only_n256:
        return rows
    for u in (0.2, 0.4):
        rnn, m, n, w = rank_one(512, seed=0)
        starts = rank_one_starts(rnn, m, w, u, 256, seed=1)
        fpf = fpf_cls(copy.deepcopy(rnn).float(), verbose=False, super_verbose=False)
        roots = kappa_roots(m, n, w, u)
        rows.append(
            versus_fpf(
                f"rank one, N = 512, u = {u:g}, 256 trajectory starts",
                rnn,
                fpf,
                starts.numpy(),
                np.array([[u]]),
                repeats,
                roots,
                n,
            )
        )
    return rows


def print_peer(rows: list[dict]) -> None:
    print(
        "| network | FixedPointFinder (s) | torchrate float32 (s) | speed-up | torchrate float64 (s) "
        "| speed-up | speed-up, CPU time (f32 / f64) | FPF's points found (f32 / f64) | same verdicts (f32 / f64) "
        "| points (FPF distinct) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        a, b = r["float32"], r["float64"]
        extra = (
            f" (roots {a['roots_found']}/{a['roots']} / {b['roots_found']}/{b['roots']}; "
            f"FPF {r['fpf_roots_found']}/{a['roots']})"
            if "roots" in a
            else ""
        )
        print(
            f"| {r['case']} | {r['fpf_s']:.3f} | {a['s']:.3f} | {a['speedup']:.1f}× | {b['s']:.3f} | "
            f"{b['speedup']:.1f}× | {a['speedup_cpu']:.1f}× / {b['speedup_cpu']:.1f}× | "
            f"{a['fpf_points_found']}/{r['fpf_points']} / "
            f"{b['fpf_points_found']}/{r['fpf_points']}{extra} | {r.get('verdicts', {}).get('float32', '–')} / "
            f"{r.get('verdicts', {}).get('float64', '–')} | {a['points']} / {b['points']} ({r['fpf_distinct']}) |",
            flush=True,
        )
    for r in rows:
        if "training" in r:
            t = r["training"]
            print(
                f"{r['case']}: trained by FixedPointFinder's FlipFlop.train at learning rate "
                f"{t['learning_rate']:.3g}, {t['epochs']} epochs{' (capped)' if t['capped'] else ''}, "
                f"{t['train_s']:.0f} s, validation MSE {t['valid_mse']:.1e}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds after the warm-up one (median)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trained-steps", type=int, default=600, help="Adam steps of the trained flip-flop")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads for every contender (1: reproducible on a shared machine)"
    )
    parser.add_argument("--only-loop", action="store_true", help="part 1 only")
    parser.add_argument("--only-peer", action="store_true", help="part 2 only")
    parser.add_argument(
        "--n256",
        action="store_true",
        help="part 2 also on the flip-flop at N = 256 (tanh, GRU; FixedPointFinder takes minutes)",
    )
    parser.add_argument(
        "--only-n256", action="store_true", help="part 2 on the N = 256 flip-flop rows only (implies --only-peer)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {platform.processor() or 'cpu'}; {load()}",
        flush=True,
    )
    OUT.mkdir(parents=True, exist_ok=True)
    record = {"torch": torch.__version__, "threads": torch.get_num_threads(), "repeats": args.repeats}
    if not (args.only_peer or args.only_n256):
        before = load()
        rows = loop_rows(args.repeats, args.seed, args.trained_steps)
        print(f"part 1: {before} before, {load()} after")
        t = rows[-1]["training"]
        print(
            f"trained flip-flop: {t['steps']} Adam steps, {t['train_s']:.0f} s, bit accuracy "
            f"{t['bit_accuracy']:.4f}, MSE {t['mse']:.1e}"
        )
        (OUT / "fixed_points_benchmark.json").write_text(
            json.dumps({**record, "load_before": before, "load_after": load(), "rows": rows}, indent=2)
        )
        plot_loop(rows)
        print(f"wrote {OUT / 'fixed_points_benchmark.png'} and .json")
    if args.only_loop:
        return
    peer = os.environ.get("TORCHRATE_FPF_PATH")
    if not (peer and Path(peer).is_dir()):
        print("TORCHRATE_FPF_PATH is not set to a FixedPointFinder checkout: part 2 skipped")
        return
    before = load()
    p_rows = peer_rows(peer, args.repeats, args.n256, args.only_n256)
    print_peer(p_rows)
    print(f"part 2: {before} before, {load()} after")
    name = "fixed_points_vs_fpf_n256.json" if args.only_n256 else "fixed_points_vs_fpf.json"
    (OUT / name).write_text(
        json.dumps({**record, "load_before": before, "load_after": load(), "rows": p_rows}, indent=2)
    )


if __name__ == "__main__":
    main()
