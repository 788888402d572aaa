"""A rate neuron's step response: τ dv/dt = −v + F(wu(t)) relaxes to v∞ = F(wu) with time constant τ.

One neuron, input weight w, input u(t) a step switched on for 15τ and off again, for
four rate functions F: linear, binary threshold, threshold-linear and saturating (tanh).
Checks, for every step amplitude:

* the simulation equals the exact Euler solution v_k = v∞ (1 − (1 − dt/τ)^k);
* it is within the Euler error (≤ |v∞| · (dt/τ)/(2e)) of the continuous solution
  v(t) = v∞ (1 − e^{−t/τ});
* the rate at the end of the step is F(wu), and the time to reach 1 − 1/e of it is τ
  (Euler: −dt / ln(1 − dt/τ)).

Run: ``python experiments/step_response.py [--out DIR] [--fast]``
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from common import DEFAULT_OUT, DTYPE, cli, crossing_time, save

import torchrate as tr

TAU, W = 10.0, 1.0
# name, nonlinearity, threshold θ (bias −θ): F(wu) is evaluated as F(wu − θ)
NEURONS = (
    ("linear", "linear", 0.0),
    ("binary threshold", "step", 0.5),
    ("threshold-linear", "relu", 0.5),
    ("saturating (tanh)", "tanh", 0.0),
)


def main(out=DEFAULT_OUT, fast: bool = False) -> dict:
    dt = 0.5 if fast else 0.1
    n_on, n_off = round(15 * TAU / dt), round(5 * TAU / dt)  # 15τ on, 5τ off
    n_pre = round(2 * TAU / dt)
    amplitudes = torch.linspace(-2.0, 3.0, 11 if fast else 51, dtype=DTYPE)
    u = torch.zeros(n_pre + n_on + n_off, amplitudes.numel(), 1, dtype=DTYPE)
    u[n_pre : n_pre + n_on, :, 0] = amplitudes
    t = np.arange(1, u.shape[0] + 1) * dt  # rates[k] is v at (k + 1) dt
    a = dt / TAU
    k = np.arange(1, n_on + 1)  # steps since the input came on

    fig, axes = plt.subplots(2, len(NEURONS), figsize=(15, 6.5), constrained_layout=True)
    results = {"tau_ms": TAU, "dt_ms": dt, "w": W, "neurons": {}}
    shown = [-1.0, 0.5, 1.0, 2.0]
    for col, (label, F, theta) in enumerate(NEURONS):
        net = tr.RateRNN.from_weights(
            torch.zeros(1, 1, dtype=DTYPE),
            W=torch.tensor([[W]], dtype=DTYPE),
            b=torch.tensor([-theta], dtype=DTYPE),
            tau=TAU,
            dt=dt,
            nonlinearity=F,
        )
        with torch.no_grad():
            rates, _ = net(u)
            v_inf = net.F(W * amplitudes - theta).numpy()  # theory: v∞ = F(wu − θ)
        v = rates[..., 0].numpy()  # (T, B)
        on = v[n_pre : n_pre + n_on]  # response during the step, from v = 0
        euler = v_inf * (1 - (1 - a) ** k)[:, None]
        continuous = v_inf * (1 - np.exp(-k * dt / TAU))[:, None]
        err_euler = np.abs(on - euler).max()
        err_cont = np.abs(on - continuous).max(0)
        bound = np.abs(v_inf) * a / (2 * math.e) * (1 + a)  # max_k |(1−a)^k − e^{−ak}| ≈ a/(2e)
        tau_fit = [
            crossing_time(on[:, j] / v_inf[j], 1 - 1 / math.e, k * dt)
            for j in range(len(v_inf))
            if abs(v_inf[j]) > 1e-3
        ]
        results["neurons"][label] = {
            "nonlinearity": F,
            "threshold": theta,
            "max_abs_error_vs_exact_euler": err_euler,
            "max_abs_error_vs_continuous": err_cont.max(),
            "within_euler_bound": bool((err_cont <= bound + 1e-12).all()),
            "max_abs_error_steady_state": np.abs(on[-1] - v_inf).max(),
            "tau_measured_ms": [min(tau_fit), max(tau_fit)],
            "tau_euler_ms": -dt / math.log(1 - a),
        }
        ax = axes[0, col]
        ax.axvspan(n_pre * dt, (n_pre + n_on) * dt, color="0.92", lw=0)
        for amp in shown:
            j = int(torch.argmin((amplitudes - amp).abs()))
            ax.plot(t, v[:, j], label=f"u = {amplitudes[j].item():g}")
            ax.axhline(v_inf[j], color="0.5", lw=0.6, ls=":")
        ax.set(title=f"{label}: τ dv/dt = −v + F(wu)", xlabel="t (ms)", ylabel="v")
        ax.legend(fontsize=7, loc="upper right")
        grid = torch.linspace(-2, 3, 501, dtype=DTYPE)
        ax = axes[1, col]
        ax.plot(grid, net.F(W * grid - theta), color="k", lw=1, label=f"F(wu − {theta:g})" if theta else "F(wu)")
        ax.plot(amplitudes, on[-1], "o", ms=3.5, color="C3", label="v at end of step")
        ax.set(xlabel="wu", ylabel="v∞")
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(
        f"Step response of a rate neuron (τ = {TAU:g} ms, dt = {dt:g} ms): v relaxes to v∞ = F(wu) with time constant τ"
    )
    return save(fig, results, out, "step_response")


if __name__ == "__main__":
    cli(main, __doc__.splitlines()[0])
