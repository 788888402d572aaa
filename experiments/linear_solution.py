"""The closed-form solution of a linear network against simulation, and where it is stable.

τ dv/dt = −v + Mv + h is solved exactly by its eigenmodes (``tr.linear.solve``):
c_i(t) = (h·e_i)/(1 − λ_i) (1 − e^{−(1−λ_i)t/τ}) + c_i(0) e^{−(1−λ_i)t/τ}, v = Σ c_i e_i
(left/right eigenvectors and complex modes for a non-symmetric M; t h_i/τ for λ = 1).

1. Against simulation, for a symmetric and a non-symmetric M (N = 6): the Euler cell
   converges at first order (the error halves with dt), dopri5 to its tolerance.
2. Stability regions in the plane of the eigenvalues λ of M: the dynamics are stable iff
   every Re λ < 1; the Euler map v ← v + (dt/τ)(−v + Mv + h) iff every λ lies in the disc
   |λ − (1 − τ/dt)| < τ/dt. The lecture's matrices are marked.
3. λ_max < 1 settles, λ_max = 1 integrates (‖v‖ grows linearly), λ_max > 1 explodes.

Run: ``python experiments/linear_solution.py [--out DIR] [--fast]``
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from common import DEFAULT_OUT, DTYPE, cli, save

import torchrate as tr

TAU, N, T_END = 10.0, 6, 100.0
SYMMETRIC_EIGENVALUES = (0.9, 0.5, 0.0, -0.5, -1.0, -2.0)


def example_networks(gen: torch.Generator) -> dict[str, torch.Tensor]:
    """A symmetric M = ΦΛΦᵀ and a non-symmetric M = P B P⁻¹ with λ = 0.8 ± 0.3i, 0.5, −0.5 ± 0.5i, −1."""
    Phi = torch.linalg.qr(torch.randn(N, N, generator=gen, dtype=DTYPE))[0]
    B = torch.zeros(N, N, dtype=DTYPE)
    B[:2, :2] = torch.tensor([[0.8, 0.3], [-0.3, 0.8]], dtype=DTYPE)
    B[2, 2] = 0.5
    B[3:5, 3:5] = torch.tensor([[-0.5, 0.5], [-0.5, -0.5]], dtype=DTYPE)
    B[5, 5] = -1.0
    P = torch.eye(N, dtype=DTYPE) + 0.3 * torch.randn(N, N, generator=gen, dtype=DTYPE)
    return {
        "symmetric": tr.zoo.weights_from_modes(Phi, SYMMETRIC_EIGENVALUES),
        "non-symmetric": P @ B @ torch.linalg.inv(P),
    }


def main(out=DEFAULT_OUT, fast: bool = False) -> dict:
    gen = torch.Generator().manual_seed(0)
    nets = example_networks(gen)
    h = torch.randn(N, generator=gen, dtype=DTYPE)
    v0 = torch.randn(N, generator=gen, dtype=DTYPE)
    dts = (0.4, 0.2, 0.1) if fast else (0.4, 0.2, 0.1, 0.05, 0.025)
    results = {"tau_ms": TAU, "dts_ms": dts}
    fig, axes = plt.subplots(1, 3, figsize=(17, 5), constrained_layout=True)

    # 1. closed form vs Euler (order 1) and dopri5 ----------------------------------------
    for name, M in nets.items():
        spec = tr.analysis.spectrum(M, tau=TAU)
        errors = []
        for dt in dts:
            net = tr.RateRNN.from_weights(M, tau=TAU, dt=dt)
            n = round(T_END / dt)
            t = torch.arange(1, n + 1, dtype=DTYPE) * dt
            with torch.no_grad():
                rates = net(h.expand(n, N), v0[None])[0]
            errors.append((rates - tr.linear.solve(M, h, t, tau=TAU, v0=v0)).abs().max().item())
        order = np.polyfit(np.log(dts), np.log(errors), 1)[0]
        ode = tr.RateRNN.from_weights(M, tau=TAU, dt=1.0, solver="dopri5", rtol=1e-10, atol=1e-12)
        t = torch.arange(1, int(T_END) + 1, dtype=DTYPE)
        with torch.no_grad():
            rates = ode(h.expand(len(t), N), v0[None])[0]
        exact = tr.linear.solve(M, h, t, tau=TAU, v0=v0)
        results[name] = {
            "eigenvalues": torch.view_as_real(spec.eigenvalues.to(torch.complex128)),
            "stable": spec.stable,
            "euler_max_abs_error": errors,
            "euler_order": order,
            "dopri5_max_abs_error": (rates - exact).abs().max(),
            "steady_state_error": (
                tr.linear.solve(M, h, [50 * T_END], tau=TAU, v0=v0)[0] - tr.linear.steady_state(M, h)
            )
            .abs()
            .max(),
        }
        axes[0].loglog(dts, errors, "o-", label=f"{name} M, Euler: slope {order:.3f}")
    axes[0].loglog(dts, [errors[-1] * d / dts[-1] for d in dts], "k:", label="slope 1")
    axes[0].set(
        title=f"max |Euler − tr.linear.solve| over {T_END:g} ms (N = {N}, τ = {TAU:g} ms)",
        xlabel="dt (ms)",
        ylabel="max abs error",
    )
    axes[0].set_xticks(dts, [f"{d:g}" for d in dts])
    axes[0].minorticks_off()
    axes[0].legend(fontsize=8)

    # 2. stability regions ------------------------------------------------------------------
    ax = axes[1]
    ax.axvspan(-4.5, 1, color="C2", alpha=0.12, lw=0)
    ax.axvline(1, color="C2", lw=1.5)
    ax.text(-4.3, 2.1, "stable: every Re λ < 1", color="C2")
    theta = np.linspace(0, 2 * np.pi, 300)
    for ratio, style in ((1.0, "--"), (0.5, ":")):  # dt/τ
        r = 1 / ratio
        ax.plot(
            1 - r + r * np.cos(theta),
            r * np.sin(theta),
            "k" + style,
            lw=1,
            label=f"Euler stable inside, dt/τ = {ratio:g}",
        )
    marks = {
        "mutual excitation ±0.8": torch.tensor([0.8, -0.8]),
        "integrator": torch.tensor([1.0, 0.5]),
        "λ = 2 (attractors with clip)": torch.tensor([2.0, -2.0]),
    }
    marks.update({f"{k} M (above)": torch.linalg.eigvals(M) for k, M in nets.items()})
    for k, (label, lam) in enumerate(marks.items()):
        lam = lam.to(torch.complex128)
        ax.plot(lam.real, lam.imag, "os^Dv"[k], ms=7, mfc="none", mew=1.5, label=label)
    ax.set(
        title="eigenvalues λ of M: stability of the ODE and of its Euler map",
        xlabel="Re λ",
        ylabel="Im λ",
        xlim=(-4.5, 2.6),
        ylim=(-2.4, 2.4),
        aspect="equal",
    )
    ax.legend(fontsize=7, loc="lower left")

    # 3. λ_max < 1, = 1, > 1 ----------------------------------------------------------------
    ax = axes[2]
    t = torch.linspace(0, 500, 1001, dtype=DTYPE)
    f = torch.tensor([1.0, 1.0], dtype=DTYPE) / 2**0.5
    growth = {}
    for lam in (0.9, 1.0, 1.1):
        M = tr.zoo.weights_from_modes(tr.zoo.basis_with_direction(f), [lam, -0.5])
        v = tr.linear.solve(M, f, t, tau=TAU)  # input along the top mode
        c = v @ f
        growth[lam] = c
        regime = tr.analysis.spectrum(M).regimes[0]
        ax.plot(t, c, lw=2, label=f"λ₁ = {lam:g} ({regime})")
    # λ = 1: c₁(t) = t/τ exactly; λ ≠ 1: (1 − e^{−(1−λ)t/τ})/(1 − λ)
    results["integrator_max_abs_error"] = (growth[1.0] - t / TAU).abs().max()
    results["lambda_0.9_max_abs_error"] = (growth[0.9] - (1 - torch.exp(-0.1 * t / TAU)) / 0.1).abs().max()
    results["lambda_1.1_max_abs_error"] = (
        (growth[1.1] - (torch.exp(0.1 * t / TAU) - 1) / 0.1).abs() / (torch.exp(0.1 * t / TAU))
    ).max()
    ax.set(
        title="tr.linear.solve across λ₁ = 1: settle, integrate, explode (h = f₁)",
        xlabel="t (ms)",
        ylabel="c₁ = f₁·v",
        yscale="log",
        ylim=(0.1, 3000),
    )
    ax.legend(fontsize=8)
    fig.suptitle("Linear networks: the eigenmode solution, its stability, and the Euler cell")
    return save(fig, results, out, "linear_solution")


if __name__ == "__main__":
    cli(main, __doc__.splitlines()[0])
