"""State-space trajectories of a two-neuron linear network, read through its modes M = ΦΛΦᵀ.

τ dv/dt = −v + Mv + h with symmetric M = ΦΛΦᵀ (eigenvectors f̂₁, f̂₂ at 30°, λ = 0.75 and
−0.5). In the mode coordinates c = Φᵀv the network is two independent autapses,
τ dc_α/dt = −(1 − λ_α)c_α + f̂_α·h, so:

* an input along an eigenvector moves v along that eigenvector only, to g_α h with the
  gain g_α = 1/(1 − λ_α);
* any other input (h = (0.7, −0.7), …) curves towards v∞ = Φ(I − Λ)⁻¹Φᵀh, the fast mode
  settling first.

Checks: v∞ against Φ(I − Λ)⁻¹Φᵀh and ``tr.linear.steady_state`` ((I − M)⁻¹h); the spectrum
of M (``tr.analysis.spectrum``) against Λ; distance of eigenvector-input
trajectories from their line; every mode coordinate against its exact Euler solution.

Run: ``python experiments/state_space.py [--out DIR] [--fast]``
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from common import DEFAULT_OUT, DTYPE, cli, save

import torchrate as tr

TAU, ANGLE = 10.0, math.radians(30.0)
EIGENVALUES = (0.75, -0.5)


def main(out=DEFAULT_OUT, fast: bool = False) -> dict:
    dt = 0.5 if fast else 0.1
    c, s = math.cos(ANGLE), math.sin(ANGLE)
    Phi = torch.tensor([[c, -s], [s, c]], dtype=DTYPE)  # columns f̂₁, f̂₂
    lam = torch.tensor(EIGENVALUES, dtype=DTYPE)
    M = tr.zoo.weights_from_modes(Phi, lam)
    net = tr.RateRNN.from_weights(M, tau=TAU, dt=dt)
    inputs = {
        "h = (0.7, −0.7)": torch.tensor([0.7, -0.7], dtype=DTYPE),
        "h = 0.5 f₁": 0.5 * Phi[:, 0],
        "h = f₂": Phi[:, 1],
        "h = (−0.6, 0.2)": torch.tensor([-0.6, 0.2], dtype=DTYPE),
        "h = (0.1, 0.6)": torch.tensor([0.1, 0.6], dtype=DTYPE),
    }
    H = torch.stack(list(inputs.values()))  # (B, 2)
    T = round(400.0 / dt)  # 10 slow time constants τ/(1 − 0.75) = 40 ms
    with torch.no_grad():
        v = net(H.expand(T, -1, -1))[0]  # (T, B, 2)
    gains = 1 / (1 - lam)
    v_inf_modes = (Phi * gains) @ Phi.T @ H.T  # Φ(I − Λ)⁻¹Φᵀh, (2, B)
    v_inf_direct = tr.linear.steady_state(M, H).T  # (I − M)⁻¹h
    spec = tr.analysis.spectrum(M, tau=TAU)
    modes = v @ Phi  # c = Φᵀv, (T, B, 2)
    k = torch.arange(1, T + 1, dtype=DTYPE)[:, None, None]
    c_inf = (H @ Phi) * gains  # (B, 2)
    c_euler = c_inf * (1 - (1 - (1 - lam) * dt / TAU) ** k)
    # eigenvector inputs: distance from the line through 0 along the input
    along = [1, 2]
    off_line = [((v[:, j] @ Phi[:, 1 - (j - 1)]).abs().max()).item() for j in along]
    results = {
        "tau_ms": TAU,
        "dt_ms": dt,
        "eigenvalues": EIGENVALUES,
        "eigenvectors": Phi,
        "M": M,
        "gains": gains,
        "spectrum_eigenvalues": spec.eigenvalues,
        "spectrum_gains": spec.gains,
        "spectrum_time_constants_ms": spec.time_constants,
        "inputs": {n: h for n, h in inputs.items()},
        "v_final": v[-1],
        "v_inf_theory": v_inf_modes.T,
        "max_abs_v_inf_modes_vs_inverse": (v_inf_modes - v_inf_direct).abs().max(),
        "max_abs_final_minus_theory": (v[-1] - v_inf_modes.T).abs().max(),
        "max_abs_mode_vs_exact_euler": (modes - c_euler).abs().max(),
        "max_distance_from_eigenvector_line": max(off_line),
    }

    fig = plt.figure(figsize=(15, 6.5), constrained_layout=True)
    gs = fig.add_gridspec(2, 7, height_ratios=[1.2, 1])
    ax = fig.add_subplot(gs[:, :3])
    legend = []
    for a, color in enumerate(("k", "0.45")):
        f = Phi[:, a].numpy()
        ax.axline((0, 0), tuple(f), color=color, lw=0.7, ls="--")
        ax.annotate("", xy=tuple(0.6 * f), xytext=(0, 0), arrowprops={"arrowstyle": "->", "lw": 2, "color": color})
        ax.text(*(0.62 * f), f" f{'₁₂'[a]}", color=color, fontsize=11, va="bottom")
        legend.append(
            f"f{'₁₂'[a]} ({'black' if a == 0 else 'grey'}): λ = {EIGENVALUES[a]:g}, "
            f"gain 1/(1−λ) = {gains[a].item():.3g}"
        )
    ax.text(0.02, 0.98, "\n".join(legend), transform=ax.transAxes, va="top", fontsize=9)
    for j, name in enumerate(inputs):
        (line,) = ax.plot(v[:, j, 0], v[:, j, 1], lw=1.8, label=name)
        ax.plot(*v_inf_modes[:, j].numpy(), "o", color=line.get_color(), ms=6)
        ax.plot(*H[j].numpy(), "x", color=line.get_color(), ms=7)
    ax.plot(0, 0, "k.", ms=8)
    ax.set(xlabel="v₁", ylabel="v₂", aspect="equal", title="trajectories from v = 0 (× input h, ● v∞ = Φ(I−Λ)⁻¹Φᵀh)")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
    ax = fig.add_subplot(gs[0, 3:])
    t = np.arange(1, T + 1) * dt
    j = 0
    for a in range(2):
        ax.plot(t[t <= 200], modes[t <= 200, j, a], lw=2, label=f"c{a + 1} = f{'₁₂'[a]}·v (simulated)")
        ax.plot(t[t <= 200], c_euler[t <= 200, j, a], "k:", lw=1.2)
        ax.axhline(c_inf[j, a].item(), color="0.6", lw=0.6)
    ax.set(
        title=f"mode coordinates for {list(inputs)[j]}: each an autapse, τ/(1−λ) = "
        f"{TAU / (1 - EIGENVALUES[0]):.3g} and {TAU / (1 - EIGENVALUES[1]):.3g} ms (dotted: theory)",
        xlabel="t (ms)",
        ylabel="c",
    )
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)
    for col, (name, mat) in enumerate((("M", M), ("Φ", Phi), ("Λ", torch.diag(lam)), ("Φᵀ", Phi.T))):
        ax = fig.add_subplot(gs[1, 3 + col])
        ax.imshow(mat.numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
        for (r, q), x in np.ndenumerate(mat.numpy()):
            ax.text(q, r, f"{x:.3g}", ha="center", va="center", fontsize=10)
        ax.set(xticks=[], yticks=[], title=name + (" = Φ Λ Φᵀ" if col == 0 else ""))
    fig.suptitle(
        f"Two-neuron linear network, τ dv/dt = −v + Mv + h (τ = {TAU:g} ms): "
        "inputs along eigenvectors stay on them, others bend towards the slow mode"
    )
    return save(fig, results, out, "state_space")


if __name__ == "__main__":
    cli(main, __doc__.splitlines()[0])
