"""λ > 1 with a saturating F: stable states other than zero, and their energy landscape.

A self-exciting neuron ``tr.zoo.saturating_autapse(2.0)``, τ dv/dt = −v + F(2v + h) with
F = clip(·, −1, 1), has an unstable fixed point at 0 and two attractors v = ±1: a brief
pulse of either sign, however small, is amplified and then remembered. As a 1-D gradient
system τ dv/dt = −dE/dv with

    E(v) = −∫₀ᵛ (−s + F(λs)) ds,   E(±1) = −[(λ − 1)/(2λ²) + (1 − 1/λ)²/2] = −1/4 (λ = 2),

the attractors are the minima of E and 0 its maximum. The two-neuron network
``tr.zoo.two_attractor()`` (M = [[0, −2], [−2, 0]]) has the attractors (1, −1) and (−1, 1)
and a saddle at 0: the sign of v₁ − v₂ at the start decides. Checks: final states, the
energy's extrema against the closed form, the two-neuron outcomes, and the fixed points
and their kinds found by ``tr.analysis.find_fixed_points``.

Run: ``python experiments/attractors.py [--out DIR] [--fast]``
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from common import DEFAULT_OUT, DTYPE, cli, save

import torchrate as tr

TAU, LAMBDA = 10.0, 2.0
PULSES = (0.5, 0.1, 0.01, -0.01, -0.1, -0.5)  # h during the pulse


def energy(net: tr.RateRNN, v: torch.Tensor, h: float = 0.0) -> torch.Tensor:
    """E(v) = −∫₀ᵛ τ dv/dt ds on a sorted grid ``v`` containing 0 (trapezoid rule)."""
    field = net.tau * net.vector_field(v[:, None], torch.full_like(v[:, None], h))[:, 0]
    E = torch.cat([v.new_zeros(1), torch.cumulative_trapezoid(-field, v)])
    return E - E[torch.argmin(v.abs())]


def main(out=DEFAULT_OUT, fast: bool = False) -> dict:
    dt = 0.5 if fast else 0.1
    net = tr.zoo.saturating_autapse(LAMBDA, tau=TAU, dt=dt, dtype=DTYPE)
    n_pre, n_pulse, n_post = (round(x / dt) for x in (10.0, 5.0, 250.0))
    h = torch.zeros(n_pre + n_pulse + n_post, len(PULSES), 1, dtype=DTYPE)
    h[n_pre : n_pre + n_pulse, :, 0] = torch.tensor(PULSES, dtype=DTYPE)
    t = np.arange(1, h.shape[0] + 1) * dt
    with torch.no_grad():
        v = net(h)[0][..., 0]  # (T, B)
        grid = torch.linspace(-1.5, 1.5, 3001, dtype=DTYPE)
        E = energy(net, grid)
        E_tilted = energy(net, grid, 0.3)
    interior = grid.abs() < 1.4
    minima = grid[1:-1][(E[1:-1] < E[:-2]) & (E[1:-1] < E[2:]) & interior[1:-1]]
    E_theory = -((LAMBDA - 1) / (2 * LAMBDA**2) + (1 - 1 / LAMBDA) ** 2 / 2)

    pair = tr.zoo.two_attractor(tau=TAU, dt=dt, dtype=DTYPE)
    gen = torch.Generator().manual_seed(0)
    v0 = (torch.rand(24 if fast else 60, 2, generator=gen, dtype=DTYPE) * 2 - 1) * 0.9
    n2 = round(150.0 / dt)
    with torch.no_grad():
        traj = pair(torch.zeros(n2, v0.shape[0], 2, dtype=DTYPE), v0[None])[0]  # (T, B, 2)
    final = traj[-1]
    expected = torch.stack([torch.sign(v0[:, 0] - v0[:, 1]), -torch.sign(v0[:, 0] - v0[:, 1])], 1)
    spec = tr.analysis.spectrum(pair.M.detach(), tau=TAU)
    axis = torch.linspace(-1.2, 1.2, 9, dtype=DTYPE)
    grid_starts = torch.cartesian_prod(axis, axis)
    fps = tr.analysis.find_fixed_points(pair, torch.zeros(2, dtype=DTYPE), grid_starts)
    fps_1d = tr.analysis.find_fixed_points(net, torch.zeros(1, dtype=DTYPE), grid[::100, None])
    results = {
        "tau_ms": TAU,
        "dt_ms": dt,
        "lambda": LAMBDA,
        "pulses": PULSES,
        "final_states": v[-1],
        "energy_minima": minima,
        "energy_at_minima": [E[torch.argmin((grid - m).abs())] for m in minima],
        "energy_at_minima_theory": E_theory,
        "energy_argmax_inner": grid[interior][E[interior].argmax()],
        "fixed_points_1d": fps_1d.points[:, 0],
        "fixed_point_kinds_1d": fps_1d.kind,
        "two_neuron_fixed_points": fps.points,
        "two_neuron_fixed_point_kinds": fps.kind,
        "two_neuron_eigenvalues": spec.eigenvalues,
        "two_neuron_max_abs_final_minus_expected": (final - expected).abs().max(),
        "two_neuron_fraction_attractor_1": (final[:, 0] > 0).double().mean(),
    }

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8), constrained_layout=True)
    ax = axes[0]
    ax.axvspan(n_pre * dt, (n_pre + n_pulse) * dt, color="0.9", lw=0)
    for j, p in enumerate(PULSES):
        ax.plot(t, v[:, j], lw=2, label=f"pulse h = {p:+g}")
    ax.set(title=f"λ = {LAMBDA:g}, F = clip: a 5 ms pulse (grey) picks an attractor", xlabel="t (ms)", ylabel="v")
    ax.legend(fontsize=8, loc="center right")
    ax = axes[1]
    ax.plot(grid, E, lw=2, label="h = 0")
    ax.plot(grid, E_tilted, lw=1.5, ls="--", label="h = 0.3 (tilted)")
    ax.plot(minima, [E_theory] * len(minima), "ko", ms=6, label=f"closed form E(±1) = {E_theory:g}")
    ax.set(title="energy landscape E(v) = −∫ (−v + F(λv + h)) dv", xlabel="v", ylabel="E")
    ax.annotate("unstable fixed point", (0, 0), (0.3, -0.06), arrowprops={"arrowstyle": "->"}, fontsize=8)
    ax.legend(fontsize=8, loc="lower left")
    ax = axes[2]
    g = torch.linspace(-1.2, 1.2, 25, dtype=DTYPE)
    V1, V2 = torch.meshgrid(g, g, indexing="xy")
    with torch.no_grad():
        dV = pair.vector_field(torch.stack([V1, V2], -1), torch.zeros(*V1.shape, 2, dtype=DTYPE))
    ax.streamplot(
        V1.numpy(), V2.numpy(), dV[..., 0].numpy(), dV[..., 1].numpy(), color="0.75", density=1.0, linewidth=0.7
    )
    for j in range(v0.shape[0]):
        color = "C0" if final[j, 0] > 0 else "C3"
        ax.plot(traj[:, j, 0], traj[:, j, 1], color=color, lw=0.8, alpha=0.8)
        ax.plot(*v0[j].numpy(), ".", color=color, ms=4)
    for kind, style in (("stable node", {"marker": "o", "mfc": "w"}), ("saddle", {"marker": "x"})):
        pts = fps.points[[k == kind for k in fps.kind]]
        ax.plot(
            pts[:, 0], pts[:, 1], "k", ls="none", ms=9, mew=2, **style, label=f"{kind} (tr.analysis.find_fixed_points)"
        )
    ax.axline((0, 0), (1, 1), color="k", lw=0.8, ls=":")
    ax.set(
        title="two neurons, M = [[0, −2], [−2, 0]], F = clip",
        xlabel="v₁",
        ylabel="v₂",
        aspect="equal",
        xlim=(-1.2, 1.2),
        ylim=(-1.2, 1.2),
    )
    ax.legend(fontsize=8, loc="upper right")
    fig.suptitle(f"Positive feedback λ > 1 with a saturating F makes attractors (τ = {TAU:g} ms, dt = {dt:g} ms)")
    return save(fig, results, out, "attractors")


if __name__ == "__main__":
    cli(main, __doc__.splitlines()[0])
