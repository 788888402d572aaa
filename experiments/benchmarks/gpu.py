"""GPU benchmarks: the Euler rollout against cuDNN, fixed points against FixedPointFinder, the
ensemble against a loop, and the CUDA tests — one JSON and one markdown table.

Run on any machine with a CUDA device; without one it says so and exits 0.

1. ``rollout``      — forward+backward of ``tr.RateRNN`` (tanh, Euler, the fused op) against
   ``torch.nn.RNN(nonlinearity="tanh")`` (cuDNN) on a batch × hidden × steps grid, interleaved.
2. ``fixed_points`` — ``tr.analysis.find_fixed_points`` against FixedPointFinder (Golub &
   Sussillo, its PyTorch class) on a 3-bit flip-flop network at N = 512…4096, both on the GPU from
   the same 1,024 starts. The network is a tanh ``RateRNN`` trained on ``tr.tasks.FlipFlop`` here,
   on the GPU (FixedPointFinder receives a batch-first copy: it takes any module called like
   ``nn.RNN``). FixedPointFinder is looked for in the checkout named by ``--fpf`` or
   ``TORCHRATE_FPF_PATH`` (its code is not part of torchrate); when it cannot be imported,
   torchrate runs alone and the output says so.
3. ``ensemble``     — ``tr.Ensemble`` of K networks (one batched computation) against a Python
   loop over the same K networks, forward+backward.
4. ``tests``        — ``pytest -m cuda``: every test marked ``cuda`` (skipped on machines without CUDA).

Timing: CUDA events around each call, after warm-up calls, contenders interleaved, the median
of ``--repeats``. Results: ``<out>/gpu.json`` (every number, the device, versions and TF32 flags)
and ``<out>/gpu.md`` (the tables).

Usage: ``python experiments/benchmarks/gpu.py [--out experiments/out] [--repeats 10]
[--parts rollout fixed_points ensemble tests] [--fpf PATH]``; ``--cpu-smoke`` runs every part
at tiny sizes on the CPU (wall-clock timing) to check the script itself on a machine without a GPU.
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
import subprocess
import sys
import time
from pathlib import Path

import torch

import torchrate as tr

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("rollout", "fixed_points", "ensemble", "tests")
INPUT_SIZE = 16


# ----------------------------------------------------------------------------- timing
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn, device: torch.device) -> float:
    """Seconds of one ``fn()``: CUDA events on a GPU (the device's time from the first kernel
    queued to the last one finished), the wall clock on the CPU."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved(contenders: dict, device: torch.device, repeats: int, warmup: int = 2) -> dict[str, float]:
    """Median seconds of each contender, called in turn ``repeats`` times after ``warmup`` calls each."""
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    sync(device)
    times = {k: [] for k in contenders}
    for _ in range(repeats):
        for k, fn in contenders.items():
            times[k].append(time_call(fn, device))
    return {k: statistics.median(v) for k, v in times.items()}


# ----------------------------------------------------------------------------- 1. rollout
def rollout(grid, device: torch.device, repeats: int) -> list[dict]:
    rows = []
    for B, N, T in grid:
        torch.manual_seed(0)
        u = torch.randn(T, B, INPUT_SIZE, device=device)
        net = tr.RateRNN(INPUT_SIZE, N, tau=10.0, dt=1.0, nonlinearity="tanh").to(device)
        rnn = torch.nn.RNN(INPUT_SIZE, N, nonlinearity="tanh").to(device)

        def fwd_bwd(module, u=u):
            params = list(module.parameters())
            return lambda: torch.autograd.grad(module(u)[0].sum(), params)

        t = interleaved({"RateRNN": fwd_bwd(net), "nn.RNN": fwd_bwd(rnn)}, device, repeats)
        rows.append(
            {
                "batch": B,
                "hidden": N,
                "steps": T,
                "RateRNN_s": t["RateRNN"],
                "nn.RNN_s": t["nn.RNN"],
                "ratio": t["RateRNN"] / t["nn.RNN"],
            }
        )
        print(
            f"rollout B={B:<4} N={N:<5} T={T:<5} RateRNN {1e3 * t['RateRNN']:9.2f} ms  "
            f"nn.RNN {1e3 * t['nn.RNN']:9.2f} ms  ratio {rows[-1]['ratio']:.2f}",
            flush=True,
        )
        del u, net, rnn
    return rows


# ----------------------------------------------------------------------------- 2. fixed points
def load_fpf(path: str | None):
    """FixedPointFinder's PyTorch class from a checkout, or ``(None, why)``."""
    if not path:
        return None, "no checkout given (--fpf PATH or TORCHRATE_FPF_PATH)"
    if not Path(path).is_dir():
        return None, f"{path} is not a directory"
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        from fixed_points import load_fpf as load  # noqa: PLC0415 (the CPU benchmark's loader)

        return load(path), None
    except Exception as err:  # noqa: BLE001 - any import failure of the optional peer, reported
        return None, f"FixedPointFinder could not be imported from {path} ({type(err).__name__}: {err})"


def train_flip_flop(N: int, device: torch.device, steps: int, lr: float):
    """A tanh rate network (τ = 20 ms, dt = 10 ms) trained on the 3-bit flip-flop on ``device``;
    ``(network, rates of 256 held-out trials, bit accuracy, seconds)``."""
    from torchrate.training import TaskModule
    from torchrate.training.data import draw_batch

    task = tr.tasks.FlipFlop(n_bits=3, dt=10.0, duration=500.0)
    module = TaskModule(
        task,
        {"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": N, "tau": 20.0, "dt": 10.0}},
        lr=lr,
        network_seed=0,
    ).to(device)
    optimizer = module.configure_optimizers()
    sync(device)
    t0 = time.perf_counter()
    for step in range(steps):
        inputs, targets, mask = (x.to(device) for x in draw_batch(task, 64, step)[:3])
        outputs, rates = module(inputs)
        loss, _ = module.loss(outputs, rates, targets, mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), module.hparams.grad_clip)
        optimizer.step()
    sync(device)
    seconds = time.perf_counter() - t0
    inputs, targets, mask, conditions = draw_batch(task, 256, 10**9)
    with torch.no_grad():
        outputs, rates = module(inputs.to(device))
    metrics = task.evaluate(outputs.cpu(), targets, mask, conditions)
    accuracy = float(metrics.get("bit_accuracy", float("nan")))
    return module.network.requires_grad_(False), rates, accuracy, seconds


def fixed_points(
    sizes,
    device: torch.device,
    repeats: int,
    states: int,
    steps: int,
    lr: float,
    fpf_path: str | None,
    fpf_max_iters: int,
) -> tuple[list[dict], str | None]:
    fpf_cls, why = load_fpf(fpf_path)
    if fpf_cls is None:
        print(f"fixed points: FixedPointFinder not importable — {why}; torchrate alone", flush=True)
    rows = []
    for N in sizes:
        net, rates, accuracy, train_s = train_flip_flop(N, device, steps, lr)
        starts = tr.analysis.sample_states(rates, states, noise_std=0.5, generator=torch.Generator().manual_seed(0))
        u = torch.zeros(3, device=device)
        contenders = {"torchrate": lambda net=net, u=u, starts=starts: tr.analysis.find_fixed_points(net, u, starts)}
        if fpf_cls is not None:
            rnn = copy.deepcopy(net)
            rnn.batch_first = True  # FixedPointFinder calls rnn(inputs (B, 1, I), h (1, B, N))
            fpf = fpf_cls(
                rnn,
                max_iters=fpf_max_iters,
                lr_init=1.0,
                outlier_distance_scale=10.0,
                verbose=False,
                super_verbose=False,
            )
            starts_np, inputs_np = starts.cpu().numpy(), torch.zeros(1, 3).numpy()
            contenders["FixedPointFinder"] = lambda fpf=fpf, x=starts_np, i=inputs_np: _quiet(
                lambda: fpf.find_fixed_points(x, i)
            )[0]
        times = {k: [] for k in contenders}
        results = {}
        for rep in range(repeats + 1):  # round 0 warms up and is not counted
            for k, fn in contenders.items():
                sync(device)
                t0 = time.perf_counter()
                results[k] = fn()
                sync(device)
                if rep:
                    times[k].append(time.perf_counter() - t0)
        fps = results["torchrate"]
        row = {
            "hidden": N,
            "states": states,
            "train_steps": steps,
            "train_s": train_s,
            "bit_accuracy": accuracy,
            "torchrate_s": statistics.median(times["torchrate"]),
            "torchrate_points": len(fps),
            "torchrate_kinds": {k: fps.kind.count(k) for k in sorted(set(fps.kind))},
        }
        if fpf_cls is not None:
            theirs = results["FixedPointFinder"]
            row |= {
                "fpf_s": statistics.median(times["FixedPointFinder"]),
                "fpf_points": int(theirs.n),
                "fpf_stable": int(sum(bool(s) for s in theirs.is_stable)),
                "speedup": statistics.median(times["FixedPointFinder"]) / row["torchrate_s"],
            }
        rows.append(row)
        print(
            f"fixed points N={N:<5} torchrate {row['torchrate_s']:.3f} s ({len(fps)} points: "
            f"{row['torchrate_kinds']})"
            + (
                f"  FixedPointFinder {row['fpf_s']:.3f} s ({row['fpf_points']} points,"
                f" {row['fpf_stable']} stable)  speed-up {row['speedup']:.1f}×"
                if fpf_cls is not None
                else ""
            )
            + f"  [trained {steps} steps, bit accuracy {accuracy:.3f}]",
            flush=True,
        )
        del net, rates, starts
    return rows, why


def _quiet(fn):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn()


# ----------------------------------------------------------------------------- 3. ensemble
def ensemble(configs, device: torch.device, repeats: int) -> list[dict]:
    rows = []
    for K, B, N, T in configs:
        torch.manual_seed(0)
        nets = [tr.RateRNN(INPUT_SIZE, N, tau=10.0, dt=1.0, nonlinearity="tanh").to(device) for _ in range(K)]
        ens = tr.Ensemble(nets).to(device)
        u = torch.randn(T, B, INPUT_SIZE, device=device)

        def loop(nets=nets, u=u):
            for net in nets:
                torch.autograd.grad(net(u)[0].sum(), list(net.parameters()))

        def batched(ens=ens, u=u):
            torch.autograd.grad(ens(u)[0].sum(), list(ens.parameters()))

        t = interleaved({"Ensemble": batched, "loop": loop}, device, repeats)
        rows.append(
            {
                "members": K,
                "batch": B,
                "hidden": N,
                "steps": T,
                "Ensemble_s": t["Ensemble"],
                "loop_s": t["loop"],
                "speedup": t["loop"] / t["Ensemble"],
            }
        )
        print(
            f"ensemble K={K:<3} B={B:<4} N={N:<5} T={T:<5} Ensemble {1e3 * t['Ensemble']:9.2f} ms  "
            f"loop {1e3 * t['loop']:9.2f} ms  speed-up {rows[-1]['speedup']:.1f}×",
            flush=True,
        )
        del nets, ens, u
    return rows


# ----------------------------------------------------------------------------- 4. tests
def cuda_tests(timeout: int) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "cuda", str(ROOT / "tests")]
    t0 = time.perf_counter()
    try:
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"command": " ".join(cmd[1:]), "returncode": None, "summary": f"timed out after {timeout} s"}
    lines = [line for line in done.stdout.strip().splitlines() if line.strip()]
    summary = lines[-1] if lines else done.stderr.strip()[-300:]
    failures = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
    print(f"pytest -m cuda: {summary}", flush=True)
    return {
        "command": "python " + " ".join(cmd[1:]),
        "returncode": done.returncode,
        "summary": summary,
        "failures": failures,
        "seconds": time.perf_counter() - t0,
    }


# ----------------------------------------------------------------------------- report
def environment(device: torch.device) -> dict:
    env = {
        "torch": torch.__version__,
        "torchrate": tr.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        env |= {
            "gpu": torch.cuda.get_device_name(device),
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
            "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        }
    return env


def markdown(result: dict) -> str:
    env, lines = result["environment"], []
    lines.append(f"# GPU benchmarks — {env.get('gpu', env['device'])}\n")
    lines.append(
        f"torch {env['torch']}, CUDA {env.get('cuda')}, cuDNN {env.get('cudnn')}, torchrate "
        f"{env['torchrate']}; TF32 matmul {env.get('tf32_matmul')}, TF32 cuDNN {env.get('tf32_cudnn')}; "
        f"median of {result['repeats']} ({'CUDA events' if env.get('gpu') else 'wall clock, CPU smoke run'}, "
        "after warm-up, interleaved)\n"
    )
    if "rollout" in result:
        lines += [
            "## Rollout forward+backward: RateRNN (Euler, fused op) / nn.RNN (cuDNN, tanh)\n",
            "| batch | hidden | steps | RateRNN (ms) | nn.RNN (ms) | RateRNN / nn.RNN |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {r['batch']} | {r['hidden']} | {r['steps']} | {1e3 * r['RateRNN_s']:.2f} | "
            f"{1e3 * r['nn.RNN_s']:.2f} | **{r['ratio']:.2f}** |"
            for r in result["rollout"]
        ]
        lines.append("")
    if "fixed_points" in result:
        fp = result["fixed_points"]
        lines.append("## find_fixed_points / FixedPointFinder: 3-bit flip-flop, tanh RateRNN trained here\n")
        if fp["fpf_missing"]:
            lines.append(f"FixedPointFinder not importable ({fp['fpf_missing']}): torchrate alone.\n")
        lines += [
            "| hidden | starts | bit accuracy | torchrate (s) | points (kinds) | FixedPointFinder (s) "
            "| its points (stable) | speed-up |",
            "|---:|---:|---:|---:|---|---:|---:|---:|",
        ]
        for r in fp["rows"]:
            kinds = ", ".join(f"{n} {k}" for k, n in r["torchrate_kinds"].items())
            theirs = (
                f"{r['fpf_s']:.3f} | {r['fpf_points']} ({r['fpf_stable']}) | {r['speedup']:.1f}×"
                if "fpf_s" in r
                else "– | – | –"
            )
            lines.append(
                f"| {r['hidden']} | {r['states']} | {r['bit_accuracy']:.3f} | {r['torchrate_s']:.3f} | "
                f"{r['torchrate_points']} ({kinds}) | {theirs} |"
            )
        lines.append("")
    if "ensemble" in result:
        lines += [
            "## Ensemble of K networks (one batched computation) against a loop, forward+backward\n",
            "| K | batch | hidden | steps | Ensemble (ms) | loop (ms) | speed-up |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {r['members']} | {r['batch']} | {r['hidden']} | {r['steps']} | {1e3 * r['Ensemble_s']:.2f} | "
            f"{1e3 * r['loop_s']:.2f} | **{r['speedup']:.1f}×** |"
            for r in result["ensemble"]
        ]
        lines.append("")
    if "tests" in result:
        t = result["tests"]
        lines += ["## CUDA tests\n", f"`{t['command']}`: {t['summary']}"]
        lines += [f"- {f}" for f in t.get("failures", [])]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("experiments/out"))
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--batch", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--hidden", type=int, nargs="+", default=[64, 256, 1024, 4096])
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--fp-hidden", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    parser.add_argument("--fp-states", type=int, default=1024)
    parser.add_argument("--fp-repeats", type=int, default=3)
    parser.add_argument("--train-steps", type=int, default=500, help="Adam steps training each flip-flop network")
    parser.add_argument("--train-lr", type=float, default=1e-3)
    parser.add_argument(
        "--fpf",
        default=os.environ.get("TORCHRATE_FPF_PATH"),
        help="a FixedPointFinder checkout (default: $TORCHRATE_FPF_PATH)",
    )
    parser.add_argument("--fpf-max-iters", type=int, default=10000, help="its example's setting")
    parser.add_argument("--members", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--tests-timeout", type=int, default=1800)
    parser.add_argument(
        "--cpu-smoke",
        action="store_true",
        help="every part at tiny sizes on the CPU (wall clock): checks this script, measures nothing",
    )
    args = parser.parse_args(argv)
    if args.cpu_smoke:
        device = torch.device("cpu")
        args.batch, args.hidden, args.steps, args.fp_hidden = [4], [16], [10], [16]
        args.fp_states, args.fp_repeats, args.train_steps, args.members = 32, 1, 5, [2]
        args.repeats, args.fpf_max_iters = 2, 50
        args.parts = [p for p in args.parts if p != "tests"]  # it would run the test suite that runs this
    elif not torch.cuda.is_available():
        print(
            "experiments/benchmarks/gpu.py needs a CUDA device: none is available here (torch "
            f"{torch.__version__}, CUDA build {torch.version.cuda}); nothing was run."
        )
        return None
    else:
        device = torch.device("cuda")
    result = {"environment": environment(device), "repeats": args.repeats}
    print(json.dumps(result["environment"]), flush=True)
    if "rollout" in args.parts:
        grid = [(B, N, T) for N in args.hidden for B in args.batch for T in args.steps]
        result["rollout"] = rollout(grid, device, args.repeats)
    if "fixed_points" in args.parts:
        rows, why = fixed_points(
            args.fp_hidden,
            device,
            args.fp_repeats,
            args.fp_states,
            args.train_steps,
            args.train_lr,
            args.fpf,
            args.fpf_max_iters,
        )
        result["fixed_points"] = {"rows": rows, "fpf_missing": why}
    if "ensemble" in args.parts:
        configs = (
            [(K, 8, N, 20) for K in args.members for N in args.hidden]
            if args.cpu_smoke
            else [(K, 64, N, 200) for K in args.members for N in (256, 1024)]
        )
        result["ensemble"] = ensemble(configs, device, args.repeats)
    if "tests" in args.parts:
        result["tests"] = cuda_tests(args.tests_timeout)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "gpu_cpu_smoke" if args.cpu_smoke else "gpu"
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2))
    (args.out / f"{stem}.md").write_text(markdown(result))
    print(f"written: {args.out / f'{stem}.json'}, {args.out / f'{stem}.md'}")
    return result


if __name__ == "__main__":
    main()
