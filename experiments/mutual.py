"""Mutual excitation and mutual inhibition: gains 5 and 1/1.8 along the two eigenvectors.

M = [[0, ±0.8], [±0.8, 0]] has eigenvectors f₁ = (1, 1)/√2 and f₂ = (−1, 1)/√2 with
λ = ±0.8 and ∓0.8. An input along f_α is answered along f_α, amplified by the gain
g_α = 1/(1 − λ_α) — 5 for λ = 0.8, 1/1.8 for λ = −0.8 — with time constant τ/(1 − λ_α)
(50 ms and 5.56 ms for τ = 10 ms). Mutual excitation amplifies the common input, mutual
inhibition amplifies the difference. Checks: measured gains and time constants, and the
steady state of an input across both modes, v∞ = Σ (h·f_α)/(1 − λ_α) f_α.

Run: ``python experiments/mutual.py [--out DIR] [--fast]``
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from common import DEFAULT_OUT, DTYPE, cli, crossing_time, save

import torchrate as tr

TAU, WEIGHT = 10.0, 0.8


def main(out=DEFAULT_OUT, fast: bool = False) -> dict:
    dt = 0.5 if fast else 0.1
    T = round(800.0 / dt)  # 16 slow time constants τ/(1 − 0.8) = 50 ms
    t = np.arange(1, T + 1) * dt
    fig, axes = plt.subplots(2, 2, figsize=(12, 9), constrained_layout=True)
    results = {"tau_ms": TAU, "dt_ms": dt}
    for row, (label, make) in enumerate(
        (("mutual excitation", tr.zoo.mutual_excitation), ("mutual inhibition", tr.zoo.mutual_inhibition))
    ):
        net = make(WEIGHT, tau=TAU, dt=dt, dtype=DTYPE)
        M = net.M.detach()
        s = tr.analysis.spectrum(M, tau=TAU)  # modes sorted by λ: 0.8 first
        lam, Phi = s.eigenvalues, s.eigenvectors
        H = torch.cat([Phi.T, torch.tensor([[1.0, 0.0]], dtype=DTYPE)])  # inputs f₁, f₂, (1, 0)
        names = [f"h = f{'₁₂'[a]} = ({Phi[0, a]:.2g}, {Phi[1, a]:.2g})" for a in range(2)] + ["h = (1, 0)"]
        with torch.no_grad():
            v = net(H.expand(T, -1, -1))[0]  # (T, 3, 2)
        exact = tr.linear.solve(M, H, torch.as_tensor(t), tau=TAU)  # (T, 3, 2)
        along = torch.stack([v[:, a] @ Phi[:, a] for a in range(2)], 1)  # response along its input, (T, 2)
        gain = along[-1]  # unit inputs
        tau_meas = [crossing_time((along[:, a] / gain[a]).numpy(), 1 - 1 / math.e, t) for a in range(2)]
        v_inf = tr.linear.steady_state(M, H[2])
        results[label] = {
            "M": M,
            "eigenvalues": lam,
            "eigenvectors": Phi,
            "gain_theory": s.gains,
            "gain_measured": gain,
            "time_constant_theory_ms": s.time_constants,
            "time_constant_measured_ms": tau_meas,
            "time_constant_euler_ms": -dt / torch.log(1 - (1 - lam) * dt / TAU),
            "orthogonal_leak": max(float((v[:, a] @ Phi[:, 1 - a]).abs().max()) for a in range(2)),
            "mixed_input_v_inf_theory": v_inf,
            "mixed_input_v_inf_modes": s.steady_state(H[2]),
            "mixed_input_v_final": v[-1, 2],
            "max_abs_error_vs_exact_solution": (v - exact).abs().max(),
        }
        ax = axes[row, 0]
        for a in range(2):
            ax.plot(
                t,
                along[:, a],
                lw=2,
                label=f"{names[a]}: λ = {lam[a].item():+.1f}, gain "
                f"{gain[a].item():.4g}, time constant {tau_meas[a]:.3g} ms",
            )
            ax.plot(t, exact[:, a] @ Phi[:, a], "k:", lw=1)
        ax.set(
            title=f"{label}, M = [[0, {net.M[0, 1].item():+.1f}], [{net.M[1, 0].item():+.1f}, 0]]: "
            "response along the input (dotted: tr.linear.solve)",
            xlabel="t (ms)",
            ylabel="f_α · v",
            ylim=(0, 6.2),
            xlim=(0, 300),
        )
        ax.legend(fontsize=8, loc="center right")
        ax.title.set_fontsize(10)
        ax = axes[row, 1]
        for a, color in enumerate(("k", "0.5")):
            ax.axline((0, 0), tuple(Phi[:, a].numpy()), color=color, lw=0.7, ls="--")
        for j, name in enumerate(names):
            (line,) = ax.plot(v[:, j, 0], v[:, j, 1], lw=2, label=name)
            ax.plot(*H[j].numpy(), "x", color=line.get_color(), ms=8)
            ax.plot(*v[-1, j].numpy(), "o", color=line.get_color(), ms=6)
        ax.set(
            title=f"{label}: state space (× input, ● steady state)",
            xlabel="v₁",
            ylabel="v₂",
            aspect="equal",
            xlim=(-4.2, 4.2),
            ylim=(-4.2, 4.2),
        )
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(
        f"Two neurons coupled by ±{WEIGHT:g} (τ = {TAU:g} ms, dt = {dt:g} ms): "
        "gains 1/(1 − λ) = 5 and 1/1.8 along the eigenvectors"
    )
    return save(fig, results, out, "mutual")


if __name__ == "__main__":
    cli(main, __doc__.splitlines()[0])
