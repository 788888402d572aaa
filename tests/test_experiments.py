"""Every experiment script, run in its fast mode, checked against the lecture's mathematics.

Each ``experiments/<name>.py`` exposes ``main(out, fast)`` returning the numbers it wrote to
``<out>/<name>.json``; the tests import it, run it into a temporary folder and compare the
numbers with closed forms. Tolerances come from the numerics: the Euler error of a mode
relaxing at rate a = (1 − λ)dt/τ per step is at most |c∞|·a/(2e)·(1 + a) (max over k of
(1 − a)^k − e^{−ak}), and Euler's own discrete solution is met to rounding.
"""

import importlib
import json
import math
import sys
from pathlib import Path

import pytest
import torch

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
E = math.e


@pytest.fixture(scope="module", autouse=True)
def _scripts_on_path():
    sys.path.insert(0, str(EXPERIMENTS))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: threads only add overhead
    yield
    torch.set_num_threads(threads)
    sys.path.remove(str(EXPERIMENTS))


def run(name: str, out: Path) -> dict:
    results = importlib.import_module(name).main(out=out, fast=True)
    png = out / f"{name}.png"
    assert png.stat().st_size > 20_000  # a real figure, not an empty canvas
    assert json.loads((out / f"{name}.json").read_text()) == results
    return results


def euler_bound(c_inf: float, a: float) -> float:
    """max_k |c∞((1 − a)^k − e^{−ak})| ≤ |c∞| a/(2e) (1 + a)."""
    return abs(c_inf) * a / (2 * E) * (1 + a)


def test_step_response(tmp_path):
    r = run("step_response", tmp_path)
    tau, dt = r["tau_ms"], r["dt_ms"]
    a = dt / tau
    tau_euler = -dt / math.log(1 - a)
    assert r["neurons"].keys() == {"linear", "binary threshold", "threshold-linear", "saturating (tanh)"}
    for n in r["neurons"].values():
        assert n["max_abs_error_vs_exact_euler"] < 1e-13
        assert n["within_euler_bound"]
        assert n["max_abs_error_vs_continuous"] <= euler_bound(3.0, a)  # |v∞| ≤ 3 over the amplitudes
        assert n["max_abs_error_steady_state"] <= 3.0 * (1 - a) ** round(15 * tau / dt) * (1 + 1e-9)
        lo, hi = n["tau_measured_ms"]
        # 1 − 1/e crossing: Euler's −dt/ln(1 − dt/τ), read by linear interpolation (error < dt²/τ)
        assert abs(lo - tau_euler) < dt**2 / tau and abs(hi - tau_euler) < dt**2 / tau
        assert abs(hi - tau) / tau <= a / 2 + a**2


def test_autapse(tmp_path):
    r = run("autapse", tmp_path)
    tau, dt, h = r["tau_ms"], r["dt_ms"], r["h"]
    assert r["lambdas"] == [0.0, 0.5, 0.66, -1.0, -2.0]
    assert r["max_abs_error_vs_exact_euler"] < 1e-13
    for j, lam in enumerate(r["lambdas"]):
        a = (1 - lam) * dt / tau
        v_inf, tau_a = h / (1 - lam), tau / (1 - lam)
        assert r["steady_state_measured"][j] == pytest.approx(v_inf, rel=1e-5)
        assert abs(r["time_constant_measured_ms"][j] - r["time_constant_euler_ms"][j]) < dt**2 / tau
        assert abs(r["time_constant_measured_ms"][j] - tau_a) / tau_a <= a / 2 + a**2
        assert r["max_abs_error_vs_exact_solution"][j] <= euler_bound(v_inf, a)
        # input off for 150 ms: relaxes back to 0 at least as fast as e^{−(1−λ)t/τ}
        assert 0 <= r["rate_after_offset"][j] <= v_inf * math.exp(-150 * (1 - lam) / tau) * (1 + 1e-9)


def test_state_space(tmp_path):
    r = run("state_space", tmp_path)
    lam = torch.tensor([0.75, -0.5], dtype=torch.float64)
    assert r["spectrum_eigenvalues"] == pytest.approx(lam.tolist(), abs=1e-15)
    assert r["spectrum_gains"] == pytest.approx((1 / (1 - lam)).tolist(), rel=1e-14)
    assert r["spectrum_time_constants_ms"] == pytest.approx((r["tau_ms"] / (1 - lam)).tolist(), rel=1e-14)
    assert r["max_abs_v_inf_modes_vs_inverse"] < 1e-14
    assert r["max_abs_mode_vs_exact_euler"] < 1e-13
    assert r["max_distance_from_eigenvector_line"] < 1e-14  # eigen-inputs never leave their line
    # 400 ms = 10 slow time constants: |c∞| e^{−10} left, |c∞| ≤ 4·‖h‖ ≤ 4
    assert r["max_abs_final_minus_theory"] < 4 * math.exp(-10)


def test_mutual(tmp_path):
    r = run("mutual", tmp_path)
    tau, dt = r["tau_ms"], r["dt_ms"]
    for label, sign in (("mutual excitation", 1), ("mutual inhibition", -1)):
        n = r[label]
        assert n["gain_theory"] == pytest.approx([5.0, 1 / 1.8], rel=1e-14)
        assert n["gain_measured"] == pytest.approx([5.0, 1 / 1.8], rel=1e-5)
        assert n["time_constant_theory_ms"] == pytest.approx([50.0, tau / 1.8], rel=1e-14)
        for measured, euler in zip(n["time_constant_measured_ms"], n["time_constant_euler_ms"]):
            assert abs(measured - euler) < dt**2 / tau
        assert n["orthogonal_leak"] < 1e-14
        # h = (1, 0): v∞ = ((5 + 1/1.8)/2, ±(5 − 1/1.8)/2)
        expected = [(5 + 1 / 1.8) / 2, sign * (5 - 1 / 1.8) / 2]
        assert n["mixed_input_v_inf_theory"] == pytest.approx(expected, rel=1e-14)
        assert n["mixed_input_v_inf_modes"] == pytest.approx(expected, rel=1e-14)
        assert n["mixed_input_v_final"] == pytest.approx(expected, rel=1e-5)
        bound = euler_bound(5.0, 0.2 * dt / tau) + euler_bound(1 / 1.8, 1.8 * dt / tau)
        assert n["max_abs_error_vs_exact_solution"] <= bound


def test_integrator(tmp_path):
    r = run("integrator", tmp_path)
    tau, dt = r["tau_ms"], r["dt_ms"]
    nets = r["networks"]
    perfect = nets["lambda1=1"]
    assert perfect["regime"] == "integrator"
    assert perfect["integral_at_last_offset"] == pytest.approx((50 * 1.0 - 40 * 0.5) / tau, abs=1e-12)
    assert perfect["max_abs_c1_minus_integral"] < 1e-12  # Euler integrates piecewise-constant h exactly
    assert perfect["drift_after_offset"] < 1e-12
    # only the forgetting modes carry Euler error: the distractor 0.5 f₂ into λ₂ = 0.5
    assert perfect["max_abs_error_vs_exact_solution"] <= euler_bound(0.5 / 0.5, 0.5 * dt / tau)
    assert abs(perfect["rate_measured_per_ms"]) < 1e-12
    for key, regime in (("lambda1=0.9", "decay"), ("lambda1=1.1", "growth")):
        n = nets[key]
        assert n["regime"] == regime
        assert n["rate_measured_per_ms"] == pytest.approx(n["rate_euler_per_ms"], rel=1e-8)
        a = abs(n["lambda1"] - 1) * dt / tau
        assert abs(n["rate_euler_per_ms"] - n["rate_theory_per_ms"]) <= abs(n["rate_theory_per_ms"]) * a
    assert nets["lambda1=0.9"]["drift_after_offset"] > 0.1 and nets["lambda1=1.1"]["c1_final"] > 100


def test_attractors(tmp_path):
    r = run("attractors", tmp_path)
    for pulse, final in zip(r["pulses"], r["final_states"]):
        assert final == pytest.approx(math.copysign(1.0, pulse), abs=1e-4)
    lam = r["lambda"]
    e_min = -((lam - 1) / (2 * lam**2) + (1 - 1 / lam) ** 2 / 2)
    assert e_min == -0.25 and r["energy_at_minima_theory"] == e_min
    assert r["energy_minima"] == pytest.approx([-1.0, 1.0], abs=1e-12)
    # the trapezoid rule is exact here: the field is piecewise linear with its kinks on the grid
    assert r["energy_at_minima"] == pytest.approx([e_min, e_min], abs=1e-12)
    assert abs(r["energy_argmax_inner"]) < 1e-12
    assert r["two_neuron_eigenvalues"] == pytest.approx([2.0, -2.0], abs=1e-15)
    found = dict(zip(r["fixed_points_1d"], r["fixed_point_kinds_1d"]))
    assert found == {0.0: "unstable node", 1.0: "stable node", -1.0: "stable node"}
    found = {tuple(p): k for p, k in zip(r["two_neuron_fixed_points"], r["two_neuron_fixed_point_kinds"])}
    assert found == {(0.0, 0.0): "saddle", (1.0, -1.0): "stable node", (-1.0, 1.0): "stable node"}
    assert r["two_neuron_max_abs_final_minus_expected"] < 1e-3
    assert 0.2 < r["two_neuron_fraction_attractor_1"] < 0.8


def test_winner_take_all(tmp_path):
    r = run("winner_take_all", tmp_path)
    deltas, n = r["deltas"], r["trials"]
    for K in (2, 4):
        acc = r[f"K={K}"]["accuracy"]
        assert r[f"K={K}"]["fraction_one_hot"] == 1.0  # every trial ends in a winner state
        assert all(a == 1.0 for d, a in zip(deltas, acc) if d >= 0.3)
        assert abs(acc[0] - 1 / K) <= 4 * math.sqrt((1 / K) * (1 - 1 / K) / n)  # Δ = 0: chance
    # K = 2 against P = Φ(Δ/(σ√(2(β − 1)))) within 4 binomial standard errors
    assert r["K=2"]["max_abs_z_score"] < 4


def test_hopfield(tmp_path):
    r = run("hopfield", tmp_path)
    rec = r["recall"]
    assert all(m == 1.0 for m in rec["async_overlap"]) and all(m == 1.0 for m in rec["sync_overlap"])
    assert max(rec["cue_overlap"]) < 0.7 and rec["rollout_equals_sync"]
    assert all(e1 < e0 for e0, e1 in zip(rec["energy_cue"], rec["energy_recalled"]))
    small = r["small_network"]
    assert small["stored_are_fixed"] and small["energy_never_increases"]
    assert small["fixed_points"] >= 4 and sum(small["basin_sizes"].values()) == small["states"] == 64
    cap = r["capacity"]
    assert cap["alpha_c_theory"] == pytest.approx(0.138, abs=5e-4)  # Amit et al.: 0.1379
    by_alpha = dict(zip(cap["alphas"], zip(cap["mean_overlap"], cap["fraction_retrieved"])))
    assert by_alpha[0.05] == (1.0, 1.0)  # far below capacity: every stored pattern is stable
    m, frac = by_alpha[0.3]
    assert m < 0.75 and frac < 0.25  # far above: recall fails


def test_ei_oscillator(tmp_path):
    r = run("ei_oscillator", tmp_path)
    tau_i = r["tau_i_ms"]
    assert r["max_abs_sweep_vs_closed_form"] < 1e-15
    assert r["max_abs_fixed_point_error"] < 1e-12  # (80/3, 50/3) Hz at every τ_I
    assert r["stable"] == [t < 40 for t in tau_i]
    assert len(r["hopf_ms"]) == 1 and abs(r["hopf_ms"][0] - 40.0) < 1e-6  # brief: within 0.5 ms
    damped, cycle = r["tau_i=30"], r["tau_i=50"]
    assert damped["fixed_point_kind"] == ["stable spiral"] and cycle["fixed_point_kind"] == ["unstable spiral"]
    # 30 ms: no limit cycle — the oscillation dies at the Euler map's rate ln|1 + dt λ|/dt < 0
    assert damped["decay_rate_theory_per_ms"] == pytest.approx(0.5 * (0.025 - 1 / 30), rel=1e-14)
    assert damped["envelope_rate_measured_per_ms"] == pytest.approx(damped["decay_rate_euler_per_ms"], rel=1e-3)
    assert max(damped["late_amplitude_v_e_per_start"]) < 1.0
    late, last = damped["v_e_amplitude_last_two_windows"]
    assert last < late < 0.05
    # 50 ms: one limit cycle — the same amplitude from every start, constant in time, rates ≥ 0
    amps = cycle["late_amplitude_v_e_per_start"]
    assert min(amps) > 10 and (max(amps) - min(amps)) / max(amps) < 1e-4
    a, b = cycle["v_e_amplitude_last_two_windows"]
    assert abs(a - b) / a < 1e-4
    assert cycle["v_e_range"][0] >= 0 and math.isfinite(cycle["period_ms"]) and cycle["period_ms"] > 0


def test_linear_solution(tmp_path):
    r = run("linear_solution", tmp_path)
    designed = sorted([(0.8, 0.3), (0.8, -0.3), (0.5, 0.0), (-0.5, 0.5), (-0.5, -0.5), (-1.0, 0.0)])
    got = sorted(tuple(x) for x in r["non-symmetric"]["eigenvalues"])
    assert all(abs(g[0] - d[0]) < 1e-12 and abs(g[1] - d[1]) < 1e-12 for g, d in zip(got, designed))
    assert [e[0] for e in r["symmetric"]["eigenvalues"]] == pytest.approx([0.9, 0.5, 0.0, -0.5, -1.0, -2.0], abs=1e-14)
    for name in ("symmetric", "non-symmetric"):
        n = r[name]
        assert n["stable"]
        assert 0.97 < n["euler_order"] < 1.03  # first order: the error halves with dt
        errs = n["euler_max_abs_error"]
        assert all(1.9 < e0 / e1 < 2.1 for e0, e1 in zip(errs, errs[1:]))
        assert n["dopri5_max_abs_error"] < 1e-8
        assert n["steady_state_error"] < 1e-12
    assert r["integrator_max_abs_error"] < 1e-12  # c₁ = t/τ exactly at λ = 1
    assert r["lambda_0.9_max_abs_error"] < 1e-12 and r["lambda_1.1_max_abs_error"] < 1e-12
