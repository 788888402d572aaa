"""A line attractor integrates: λ = 1 keeps the integral of a pulse, λ < 1 forgets, λ > 1 explodes.

Three linear networks ``tr.zoo.line_attractor`` (N = 3) share the remembered direction
f₁ = (1, 2, 2)/3 and the other modes λ₂,₃ = 0.5, −0.5, and differ only in λ₁ = 1, 0.9, 1.1.
Two input pulses along f₁ (plus a distractor along f₂) come and go. Along f₁,
τ dc₁/dt = −(1 − λ₁)c₁ + f₁·h, so with λ₁ = 1

    c₁(t) = (1/τ) ∫₀ᵗ f₁·h dt'

— Euler's rectangle rule integrates the piecewise-constant input exactly — and c₁ stays put
once the input is off (drift 0), while λ₁ = 0.9 decays with τ/(1 − λ₁) = 100 ms and
λ₁ = 1.1 grows as e^{(λ₁−1)t/τ}. Checks: c₁ against the integral, the drift, the measured
decay/growth rates against (λ₁ − 1)/τ, the regime reported by ``tr.analysis.spectrum``, and
the whole trajectory against ``tr.linear.solve`` chained over the input pieces.

Run: ``python experiments/integrator.py [--out DIR] [--fast]``
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from common import DEFAULT_OUT, DTYPE, cli, save

import torchrate as tr

TAU = 10.0
DIRECTION = (1.0, 2.0, 2.0)
OTHERS = (0.5, -0.5)
LAMBDA1 = (1.0, 0.9, 1.1)
# (start, stop, amplitude along f₁) in ms; a distractor 0.5 f₂ rides on the first pulse
PULSES = ((20.0, 70.0, 1.0), (150.0, 190.0, -0.5))
T_END = 400.0


def main(out=DEFAULT_OUT, fast: bool = False) -> dict:
    dt = 0.5 if fast else 0.1
    n = round(T_END / dt)
    t = np.arange(1, n + 1) * dt
    nets = [
        tr.zoo.line_attractor(DIRECTION, eigenvalue=l1, other_eigenvalues=OTHERS, tau=TAU, dt=dt, dtype=DTYPE)
        for l1 in LAMBDA1
    ]
    Phi = tr.zoo.basis_with_direction(torch.tensor(DIRECTION, dtype=DTYPE))
    f1, f2 = Phi[:, 0], Phi[:, 1]
    h = torch.zeros(n, 3, dtype=DTYPE)
    edges = [0.0]
    for k, (start, stop, amp) in enumerate(PULSES):
        h[round(start / dt) : round(stop / dt)] = amp * f1 + (0.5 * f2 if k == 0 else 0)
        edges += [start, stop]
    edges.append(T_END)
    integral = np.cumsum((h @ f1).numpy()) * dt / TAU  # (1/τ)∫ f₁·h dt' (rectangle rule, exact here)
    last_off = round(PULSES[-1][1] / dt) - 1  # index of the rate at the end of the last pulse
    results = {"tau_ms": TAU, "dt_ms": dt, "direction": f1, "networks": {}}
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6), constrained_layout=True)
    for net, l1 in zip(nets, LAMBDA1):
        M = net.M.detach()
        regime = tr.analysis.spectrum(M, tau=TAU).regimes[0]
        with torch.no_grad():
            v = net(h)[0]  # (n, 3)
        # exact solution, chained over the pieces of constant input
        exact, v0 = [], torch.zeros(3, dtype=DTYPE)
        for a, b in zip(edges[:-1], edges[1:]):
            ts = torch.arange(round(a / dt) + 1, round(b / dt) + 1, dtype=DTYPE) * dt - a
            piece = tr.linear.solve(M, h[round(a / dt)], ts, tau=TAU, v0=v0)
            exact.append(piece)
            v0 = piece[-1]
        exact = torch.cat(exact)
        c1 = (v @ f1).numpy()
        after = c1[last_off:]
        # rate from the log-slope after the last offset (the other modes have decayed by then)
        tail = slice(last_off + round(50 / dt), None)
        slope = np.polyfit(t[tail], np.log(np.abs(c1[tail])), 1)[0]
        results["networks"][f"lambda1={l1:g}"] = {
            "lambda1": l1,
            "regime": regime,
            "c1_at_last_offset": c1[last_off],
            "c1_final": c1[-1],
            "integral_at_last_offset": integral[last_off],
            "max_abs_c1_minus_integral": np.abs(c1 - integral).max() if l1 == 1 else None,
            "drift_after_offset": np.abs(after - after[0]).max(),
            "rate_measured_per_ms": slope,
            "rate_theory_per_ms": (l1 - 1) / TAU,
            "rate_euler_per_ms": math.log(1 + (l1 - 1) * dt / TAU) / dt,
            "max_abs_error_vs_exact_solution": (v - exact).abs().max(),
            "final_other_modes": (v[-1] @ Phi[:, 1:]),
        }
        for ax in axes[:2]:
            ax.plot(
                t, c1 if ax is axes[0] else np.abs(c1), lw=2, label=f"λ₁ = {l1:g} ({regime}), rate {slope * 1e3:+.3g}/s"
            )
    axes[0].plot(t, integral, "k:", lw=1.5, label="(1/τ)∫f₁·h dt")
    for ax in axes[:2]:
        for start, stop, _ in PULSES:
            ax.axvspan(start, stop, color="0.9", lw=0)
        ax.set(xlabel="t (ms)")
        ax.legend(fontsize=8, loc="upper left")
    grow = results["networks"]["lambda1=1.1"]
    axes[0].text(
        0.98,
        0.6,
        f"λ₁ = 1.1 leaves the axes:\nc₁ = {grow['c1_final']:.0f} at {T_END:g} ms (log panel)",
        transform=axes[0].transAxes,
        ha="right",
        fontsize=8,
        color="C2",
    )
    axes[0].set(title="memory along f₁: c₁ = f₁·v (pulses in grey)", ylabel="c₁", ylim=(-1, 12))
    axes[1].set(title="|c₁| on a log scale: slopes (λ₁ − 1)/τ", ylabel="|c₁|", yscale="log", ylim=(1e-2, 3e2))
    ax = axes[2]
    ax.plot(t, (h @ f1).numpy(), lw=2, label="f₁·h (integrated)")
    ax.plot(t, (h @ f2).numpy(), lw=2, label="f₂·h (distractor, forgotten)")
    with torch.no_grad():
        v = nets[0](h)[0]
    ax.plot(t, (v @ f2).numpy(), lw=1.2, ls="--", label="c₂ = f₂·v for λ₁ = 1 (λ₂ = 0.5)")
    ax.set(title="inputs and the forgetting mode", xlabel="t (ms)", ylabel="input / rate")
    ax.legend(fontsize=8)
    fig.suptitle(
        f"Line attractor τ dv/dt = −v + Mv + h, M = Φ diag(λ₁, 0.5, −0.5) Φᵀ, "
        f"f₁ = (1, 2, 2)/3 (τ = {TAU:g} ms, dt = {dt:g} ms)"
    )
    return save(fig, results, out, "integrator")


if __name__ == "__main__":
    cli(main, __doc__.splitlines()[0])
