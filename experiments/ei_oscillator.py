"""Dayan & Abbott's E–I pair: damped oscillations below τ_I = 40 ms, a limit cycle above (Hopf).

τ_E dv_E/dt = −v_E + [1.25 v_E − v_I + 10]⁺,  τ_I dv_I/dt = −v_I + [v_E − 10]⁺  (τ_E = 10 ms),
``tr.zoo.dayan_abbott_ei(tau_i)``. At the fixed point (80/3, 50/3) Hz both units are above
threshold and the Jacobian is J = [[(M_EE − 1)/τ_E, M_EI/τ_E], [M_IE/τ_I, (M_II − 1)/τ_I]], with

    λ = ½ ( (M_EE−1)/τ_E + (M_II−1)/τ_I ± √( ((M_EE−1)/τ_E − (M_II−1)/τ_I)² + 4 M_EI M_IE/(τ_E τ_I) ) ).

Re λ = ½(0.025 − 1/τ_I) crosses 0 at τ_I = 40 ms, with Im λ ≠ 0: a Hopf bifurcation. Below it
(τ_I = 30 ms) trajectories spiral into the fixed point; above (50 ms) they spiral out until
the rectification bounds them on a limit cycle. ``tr.analysis.sweep`` follows the fixed point
and refines the Hopf point, ``tr.analysis.phase_plane`` gives the nullclines. Checks: the
sweep's eigenvalues against the formula, the Hopf point, the decay at 30 ms (the envelope
shrinks at Euler's rate ln|1 + dt λ|/dt), and the limit cycle at 50 ms (the same amplitude
from every start, constant over time). The Euler map itself oscillates undamped from
|1 + dt λ| = 1, i.e. τ_I = 40 − 3dt ms: keep dt small near the bifurcation.

Run: ``python experiments/ei_oscillator.py [--out DIR] [--fast]``
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from common import DEFAULT_OUT, DTYPE, cli, save

import torchrate as tr
from torchrate import plotting

TAU_E = 10.0
M_EE, M_EI, M_IE, M_II = 1.25, -1.0, 1.0, 0.0
FIXED_POINT = (80 / 3, 50 / 3)


def eigenvalues_closed_form(tau_i: torch.Tensor) -> torch.Tensor:
    """The supplement's λ± (S, 2) complex, ordered as tr.analysis: larger real part, then +Im first."""
    a, d = (M_EE - 1) / TAU_E, (M_II - 1) / tau_i.to(torch.complex128)
    root = torch.sqrt((a - d) ** 2 + 4 * M_EI * M_IE / (TAU_E * tau_i))
    return torch.stack([(a + d + root) / 2, (a + d - root) / 2], -1)


def cycle(v_e: np.ndarray, dt: float) -> tuple[float, float, float]:
    """Period (mean peak-to-peak time, peaks refined by a parabola), min and max of a trace."""
    k = np.nonzero((v_e[1:-1] > v_e[:-2]) & (v_e[1:-1] >= v_e[2:]))[0] + 1
    if len(k) < 3:
        return float("nan"), float(v_e.min()), float(v_e.max())
    y0, y1, y2 = v_e[k - 1], v_e[k], v_e[k + 1]
    peaks = (k + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)) * dt
    return float(np.diff(peaks).mean()), float(v_e.min()), float(v_e.max())


def main(out=DEFAULT_OUT, fast: bool = False) -> dict:
    dt = 0.5 if fast else 0.1
    zero = torch.zeros(2, dtype=DTYPE)
    fp = torch.tensor(FIXED_POINT, dtype=DTYPE)
    make = lambda tau_i: tr.zoo.dayan_abbott_ei(tau_i, tau_e=TAU_E, dt=dt, dtype=DTYPE)  # noqa: E731
    values = torch.arange(12.0, 81.0, 4.0 if fast else 1.0, dtype=DTYPE)
    sw = tr.analysis.sweep(make, values, zero, initial_states=torch.tensor([[20.0, 10.0]], dtype=DTYPE))
    closed = eigenvalues_closed_form(values)
    results = {
        "tau_e_ms": TAU_E,
        "dt_ms": dt,
        "tau_i_ms": values,
        "max_abs_sweep_vs_closed_form": (sw.eigenvalues - closed).abs().max(),
        "max_abs_fixed_point_error": (sw.points - fp).abs().max(),
        "stable": sw.stable,
        "hopf_ms": sw.hopf,
        # the Euler map v ← (I + dt J)v has its own Hopf point where |1 + dt λ| = 1, i.e.
        # tr J + dt det J = 0: 0.025 − 1/τ_I + dt·0.075/τ_I = 0, τ_I = 40 − 3 dt
        "hopf_euler_map_ms": 40 - 3 * dt,
        "period_at_hopf_linear_ms": 2 * math.pi / eigenvalues_closed_form(torch.tensor([40.0]))[0, 0].imag.item(),
    }

    fig, axes = plt.subplots(2, 2, figsize=(13, 10.5), constrained_layout=True)
    plotting.plot_sweep(
        sw, axes[0, 0], parameter="τ_I (ms)", title="eigenvalues of J at the fixed point vs τ_I (dots: closed form)"
    )
    sub = slice(None, None, 4 if not fast else 1)
    for i in range(2):
        axes[0, 0].plot(values[sub], closed[sub, i].real, "o", color=f"C{i}", ms=3)
        axes[0, 0].plot(values[sub], closed[sub, i].imag, "s", color=f"C{i}", ms=3, mfc="none")

    duration = 3000.0
    n = round(duration / dt)
    runs = {}
    for col, tau_i in enumerate((30.0, 50.0)):
        net = make(tau_i)
        starts = torch.tensor([[fp[0] + 8.0, fp[1]], [5.0, 40.0], [68.0, 25.0]], dtype=DTYPE)
        pp = tr.analysis.phase_plane(net, zero, (0, 70), (0, 48), n=21, initial_states=starts, duration=1000.0)
        kind = "damped spiral" if tau_i < 40 else "limit cycle"
        lam = eigenvalues_closed_form(torch.tensor([tau_i]))[0, 0]
        plotting.plot_phase_plane(
            pp, axes[1, col], title=f"τ_I = {tau_i:g} ms: {kind} (nullclines red, blue)", labels=("v_E", "v_I")
        )
        axes[1, col].set(xlabel="v_E (Hz)", ylabel="v_I (Hz)")
        with torch.no_grad():
            v = net(torch.zeros(n, starts.shape[0], 2, dtype=DTYPE), starts[None])[0].numpy()  # (n, 3, 2)
        late = v[n // 2 :]  # the last 1500 ms
        period, lo, hi = cycle(late[:, 0, 0], dt)
        # envelope of v_E − v_E*: peaks of the distance, fitted as e^{rate·t} (where it is > 1e-9)
        dev = np.abs(v[:, 0, 0] - FIXED_POINT[0])
        k = np.nonzero((dev[1:-1] > dev[:-2]) & (dev[1:-1] >= dev[2:]) & (dev[1:-1] > 1e-9))[0] + 1
        k = k[k * dt > 300]  # past the first transient
        envelope_rate = float(np.polyfit(k * dt, np.log(dev[k]), 1)[0]) if tau_i < 40 else float("nan")
        quarter = n // 4
        windows = [float(np.ptp(v[n - (j + 1) * quarter // 2 : n - j * quarter // 2, 0, 0])) for j in (1, 0)]
        runs[tau_i] = v
        results[f"tau_i={tau_i:g}"] = {
            "fixed_point_kind": pp.fixed_points.kind,
            "late_amplitude_v_e_per_start": late[..., 0].max(0) - late[..., 0].min(0),
            "late_amplitude_v_i_per_start": late[..., 1].max(0) - late[..., 1].min(0),
            "period_ms": period,
            "v_e_range": [lo, hi],
            "v_i_range": [float(late[:, 0, 1].min()), float(late[:, 0, 1].max())],
            "decay_rate_theory_per_ms": lam.real.item(),
            "decay_rate_euler_per_ms": math.log(abs(1 + dt * lam.item())) / dt,
            "envelope_rate_measured_per_ms": envelope_rate,
            "v_e_amplitude_last_two_windows": windows,
        }
    ax = axes[0, 1]
    t = np.arange(1, n + 1) * dt
    for tau_i, style in ((30.0, ":"), (50.0, "-")):
        ax.plot(t, runs[tau_i][:, 0, 0], "C0" + style, lw=1.5, label=f"v_E, τ_I = {tau_i:g} ms")
        ax.plot(t, runs[tau_i][:, 0, 1], "C3" + style, lw=1.5, label=f"v_I, τ_I = {tau_i:g} ms")
    lc = results["tau_i=50"]
    ax.set(
        title=f"from (v_E* + 8, v_I*): damped (30 ms); limit cycle (50 ms), period {lc['period_ms']:.1f} ms, "
        f"v_E {lc['v_e_range'][0]:.1f}–{lc['v_e_range'][1]:.1f} Hz",
        xlabel="t (ms)",
        ylabel="rate (Hz)",
        ylim=(-2, 75),
    )
    ax.title.set_fontsize(10)
    ax.legend(fontsize=8, loc="upper left", ncol=2)
    fig.suptitle(
        f"Dayan–Abbott E–I pair (τ_E = {TAU_E:g} ms, dt = {dt:g} ms): Hopf bifurcation at τ_I = {sw.hopf[0]:.6g} ms"
    )
    return save(fig, results, out, "ei_oscillator")


if __name__ == "__main__":
    cli(main, __doc__.splitlines()[0])
