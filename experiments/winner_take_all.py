"""Winner-take-all: mutual inhibition with a saturating F keeps the larger input's attractor.

``tr.zoo.winner_take_all(K)`` (M = −2(11ᵀ − I), F = clip, private noise σ) receives
h = h̄ + Δ on unit 0 and h̄ on the others for 100 ms, then nothing for 100 ms: the network
falls into a one-hot attractor and stays there after the input is gone. Accuracy (unit 0
wins) vs Δ, over many noisy trials, for K = 2 and K = 4.

For K = 2 the difference mode d = (v₁ − v₂)/√2 has λ = β = 2: in the linear range
τ ḋ = (β − 1)d + Δ/√2 + noise, and d's fate is sealed by the input and the noise it has
integrated while it grows, which is Gaussian with mean Δ/(√2(β − 1)) and variance
σ²/(β − 1). So P(correct) = Φ(Δ / (σ √(2(β − 1)))) — drawn as the theory curve. Checks:
accuracy 100 % for Δ above a threshold, ≈ 1/K at Δ = 0, the K = 2 curve against Φ within
the binomial error, and every trial ends in a one-hot state.

Run: ``python experiments/winner_take_all.py [--out DIR] [--fast]``
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from common import DEFAULT_OUT, DTYPE, cli, save

import torchrate as tr

TAU, BETA, SIGMA, H_BAR = 10.0, 2.0, 0.05, 0.2
T_INPUT, T_HOLD = 100.0, 100.0


def run_trials(K: int, deltas: torch.Tensor, trials: int, dt: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Rates (T, D·trials, K) of noisy WTA trials: unit 0 gets h̄ + Δ, the others h̄."""
    net = tr.zoo.winner_take_all(K, inhibition=BETA, tau=TAU, dt=dt, noise_std=SIGMA, dtype=DTYPE)
    n_in, n_hold = round(T_INPUT / dt), round(T_HOLD / dt)
    h = torch.zeros(n_in + n_hold, len(deltas) * trials, K, dtype=DTYPE)
    h[:n_in] = H_BAR
    h[:n_in, :, 0] += deltas.repeat_interleave(trials)
    with torch.no_grad():
        v = net(h)[0]
    return v, h


def main(out=DEFAULT_OUT, fast: bool = False) -> dict:
    dt = 0.5 if fast else 0.2
    trials = 100 if fast else 300
    deltas = torch.tensor([0.0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.4], dtype=DTYPE)
    results = {
        "tau_ms": TAU,
        "dt_ms": dt,
        "sigma": SIGMA,
        "beta": BETA,
        "h_bar": H_BAR,
        "trials": trials,
        "deltas": deltas,
    }
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8), constrained_layout=True)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        for K in (2, 4):
            v, h = run_trials(K, deltas, trials, dt)
            final = v[-1].reshape(len(deltas), trials, K)
            winner = final.argmax(-1)
            # one-hot: the winner near +1, all others near −1 (noise σ jitters them around ±1)
            one_hot = ((final.max(-1).values > 0.7) & ((final < -0.7).sum(-1) == K - 1)).double().mean()
            acc = (winner == 0).double().mean(1)
            results[f"K={K}"] = {"accuracy": acc, "fraction_one_hot": one_hot}
            if K == 2:
                z = deltas / (SIGMA * math.sqrt(2 * (BETA - 1)))
                theory = 0.5 * (1 + torch.erf(z / math.sqrt(2)))
                se = torch.sqrt(theory * (1 - theory) / trials)
                z_score = ((acc - theory).abs() / se.clamp_min(1e-12))[theory < 1 - 1e-9]
                results["K=2"].update(accuracy_theory=theory, max_abs_z_score=z_score.max())
                t = np.arange(1, v.shape[0] + 1) * dt
                j0 = int((deltas - 0.04).abs().argmin()) * trials
                ax = axes[0]
                ax.axvspan(0, T_INPUT, color="0.92", lw=0)
                for j in range(j0, j0 + 8):
                    color = "C0" if v[-1, j, 0] > 0 else "C3"
                    ax.plot(t, v[:, j, 0], color=color, lw=1)
                    ax.plot(t, v[:, j, 1], color=color, lw=1, ls=":")
                ax.set(
                    title=f"K = 2, Δ = {deltas[j0 // trials]:g}: v₁ (solid), v₂ (dotted); blue: unit 1 wins",
                    xlabel="t (ms)",
                    ylabel="v",
                    ylim=(-1.3, 1.3),
                )
                ax.text(T_INPUT / 2, 1.2, "input on", ha="center", fontsize=9)
                ax = axes[2]
                for j in range(j0, j0 + 40):
                    ax.plot(v[:, j, 0], v[:, j, 1], color="C0" if v[-1, j, 0] > 0 else "C3", lw=0.6)
                ax.plot([1, -1], [-1, 1], "ko", mfc="w", ms=9, mew=2)
                ax.set(
                    title=f"K = 2 state space, Δ = {deltas[j0 // trials]:g}, 40 trials",
                    xlabel="v₁",
                    ylabel="v₂",
                    aspect="equal",
                    xlim=(-1.3, 1.3),
                    ylim=(-1.3, 1.3),
                )
                fine = torch.linspace(0, deltas.max(), 200, dtype=DTYPE)
                z = fine / (SIGMA * math.sqrt(2 * (BETA - 1)))
                axes[1].plot(
                    fine, 0.5 * (1 + torch.erf(z / math.sqrt(2))), "k-", lw=1, label="K = 2 theory Φ(Δ / σ√(2(β−1)))"
                )
            axes[1].errorbar(
                deltas,
                acc,
                yerr=torch.sqrt(acc * (1 - acc) / trials),
                fmt="o",
                ms=5,
                capsize=2,
                label=f"K = {K} simulated ({trials} trials per Δ)",
            )
            axes[1].axhline(1 / K, color=f"C{K // 2 - 1}", lw=0.7, ls=":")
    axes[1].set(
        title=f"accuracy vs input difference Δ (σ = {SIGMA:g}, chance 1/K dotted)",
        xlabel="Δ = h_winner − h_other",
        ylabel="P(largest input wins)",
        ylim=(0, 1.05),
    )
    axes[1].legend(fontsize=8, loc="lower right")
    fig.suptitle(
        f"Winner-take-all, M = −{BETA:g}(11ᵀ − I), F = clip, input {T_INPUT:g} ms then "
        f"{T_HOLD:g} ms of memory (τ = {TAU:g} ms, dt = {dt:g} ms)"
    )
    return save(fig, results, out, "winner_take_all")


if __name__ == "__main__":
    cli(main, __doc__.splitlines()[0])
