"""Autapses: positive feedback amplifies and slows, negative feedback suppresses and speeds.

τ dv/dt = −v + λv + h has v∞ = h/(1 − λ) and time constant τ/(1 − λ) (λ < 1), and
relaxes back to 0 when the input goes off. One network ``tr.zoo.autapse`` holds the
lecture's λ = 0, 0.5, 0.66 (amplification) and λ = −1, −2 (suppression) side by side.
Checks, for every λ:

* the simulation equals the exact Euler solution v_k = v∞ (1 − (1 − (1−λ)dt/τ)^k), and is
  within the Euler error of the exact solution ``tr.linear.solve``;
* the rate at the end of the input is h/(1 − λ);
* the time to 1 − 1/e of it is τ/(1 − λ) (Euler: −dt / ln(1 − (1−λ)dt/τ)), within Euler error.

Run: ``python experiments/autapse.py [--out DIR] [--fast]``
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from common import DEFAULT_OUT, DTYPE, cli, crossing_time, save

import torchrate as tr

TAU, H = 10.0, 1.0
LAMBDAS = (0.0, 0.5, 0.66, -1.0, -2.0)


def main(out=DEFAULT_OUT, fast: bool = False) -> dict:
    dt = 0.5 if fast else 0.1
    lam = torch.tensor(LAMBDAS, dtype=DTYPE)
    net = tr.zoo.autapse(lam, tau=TAU, dt=dt, dtype=DTYPE)
    n_pre, n_on, n_off = (round(x / dt) for x in (20.0, 400.0, 150.0))  # on ≈ 13.6 τ/(1−0.66)
    h = torch.zeros(n_pre + n_on + n_off, len(LAMBDAS), dtype=DTYPE)
    h[n_pre : n_pre + n_on] = H
    with torch.no_grad():
        v = net(h)[0].numpy()  # (T, N), unbatched input
    t = np.arange(1, h.shape[0] + 1) * dt
    k = np.arange(1, n_on + 1)[:, None]
    on = v[n_pre : n_pre + n_on]
    lam_np = lam.numpy()
    rate = (1 - lam_np) * dt / TAU  # per-step decay of the distance to v∞
    gain, tau_a = 1 / (1 - lam_np), TAU / (1 - lam_np)
    v_inf = H * gain
    euler = v_inf * (1 - (1 - rate) ** k)
    exact = tr.linear.solve(
        net.M.detach(), torch.full((len(LAMBDAS),), H, dtype=DTYPE), torch.as_tensor(k[:, 0] * dt), tau=TAU
    ).numpy()  # (n_on, N)
    tau_meas = np.array([crossing_time(on[:, j] / v_inf[j], 1 - 1 / math.e, k[:, 0] * dt) for j in range(len(LAMBDAS))])
    tau_euler = -dt / np.log(1 - rate)
    results = {
        "tau_ms": TAU,
        "dt_ms": dt,
        "h": H,
        "lambdas": LAMBDAS,
        "steady_state_theory": v_inf,
        "steady_state_measured": on[-1],
        "time_constant_theory_ms": tau_a,
        "time_constant_euler_ms": tau_euler,
        "time_constant_measured_ms": tau_meas,
        "max_abs_error_vs_exact_euler": np.abs(on - euler).max(),
        "max_abs_error_vs_exact_solution": np.abs(on - exact).max(0),
        "rate_after_offset": v[-1],
    }

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3), constrained_layout=True)
    for ax, group, title in (
        (axes[0], (0, 1, 2), "amplification, 0 ≤ λ < 1"),
        (axes[1], (0, 3, 4), "suppression, λ < 0"),
    ):
        ax.axvspan(n_pre * dt, (n_pre + n_on) * dt, color="0.92", lw=0)
        for j in group:
            (line,) = ax.plot(t, v[:, j], label=f"λ = {LAMBDAS[j]:g}: v∞ = {v_inf[j]:.3g}, τ/(1−λ) = {tau_a[j]:.3g} ms")
            ax.axhline(v_inf[j], color=line.get_color(), lw=0.6, ls=":")
            ax.plot(n_pre * dt + tau_meas[j], v_inf[j] * (1 - 1 / math.e), "o", color=line.get_color(), ms=4)
        ax.set(
            title=f"{title} (h = {H:g} on in grey)",
            xlabel="t (ms)",
            ylabel="v",
            ylim=(-0.05 * v_inf[list(group)].max(), 1.4 * v_inf[list(group)].max()),
        )
        ax.legend(fontsize=8, loc="upper right")
    ax = axes[2]
    grid = np.linspace(-2.2, 0.8, 200)
    ax.plot(grid, 1 / (1 - grid), "k-", lw=1, label="gain 1/(1 − λ)")
    ax.plot(lam_np, on[-1] / H, "o", color="C3", label="measured v∞ / h")
    ax.plot(lam_np, tau_meas / TAU, "s", mfc="none", color="C0", ms=8, label="measured time constant / τ")
    ax.set(title="gain and slowing are the same factor 1/(1 − λ)", xlabel="λ", ylabel="factor")
    ax.legend(fontsize=8)
    fig.suptitle(f"Autapse τ dv/dt = −v + λv + h (τ = {TAU:g} ms, dt = {dt:g} ms)")
    return save(fig, results, out, "autapse")


if __name__ == "__main__":
    cli(main, __doc__.splitlines()[0])
