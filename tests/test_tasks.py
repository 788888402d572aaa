"""Trial generators: shapes, masks, seeds, and targets checked by hand or against plain loops."""

import math

import pytest
import torch

import torchrate as tr
from torchrate.tasks import FlipFlop, Integration, PerceptualDecision, WinnerTakeAll

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")
DEVICES = ["cpu", pytest.param("cuda", marks=(pytest.mark.cuda, CUDA))]
TASKS = {
    "decision": lambda: PerceptualDecision(dt=20.0, fixation=100.0, stimulus=300.0, delay=100.0, decision=200.0),
    "integration": lambda: Integration(dt=10.0, stimulus=300.0, hold=200.0),
    "wta": lambda: WinnerTakeAll(n_inputs=3, dt=10.0, stimulus=200.0, memory=100.0),
    "flipflop": lambda: FlipFlop(n_bits=3, dt=10.0, duration=400.0),
}


def gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", TASKS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("device", DEVICES)
def test_shapes_dtype_device_and_mask_values(name, dtype, device):
    task = TASKS[name]()
    inputs, targets, mask = task.sample(7, generator=gen(0), device=device, dtype=dtype)
    T = task.n_steps
    assert inputs.shape == (T, 7, task.input_size)
    assert targets.shape == mask.shape == (T, 7, task.output_size)
    for x in (inputs, targets, mask):
        assert x.dtype == dtype and x.device.type == device
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert mask.sum() > 0
    assert torch.equal(task.times(dtype=torch.float64), torch.arange(1, T + 1, dtype=torch.float64) * task.dt)


@pytest.mark.parametrize("name", TASKS)
def test_same_seed_same_trials_other_seed_other_trials(name):
    task = TASKS[name]()
    a, b, c = (task.sample(16, generator=gen(s)) for s in (3, 3, 4))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a.inputs, c.inputs)


@pytest.mark.parametrize("name", TASKS)
def test_trials_do_not_depend_on_dtype_or_target_device(name):
    # random numbers are drawn on the generator's device, so float32 trials are float64 ones rounded
    task = TASKS[name]()
    t32 = task.sample(8, generator=gen(1), dtype=torch.float32)
    t64 = task.sample(8, generator=gen(1), dtype=torch.float64)
    for x, y in zip(t32, t64):
        torch.testing.assert_close(x, y.float(), rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("name", TASKS)
def test_config_rebuilds_the_same_task(name):
    task = TASKS[name]()
    rebuilt = tr.training.module.instantiate(task.config(), tr.tasks.Task)
    assert type(rebuilt) is type(task) and rebuilt.config() == task.config()
    again = rebuilt.sample(4, generator=gen(2))
    assert all(torch.equal(x, y) for x, y in zip(task.sample(4, generator=gen(2)), again))


# ----------------------------------------------------------------------------- PerceptualDecision
def test_decision_hand_checked_trial():
    # no noise, one level: every input and target is known in closed form
    task = PerceptualDecision(
        dt=20.0, fixation=100.0, stimulus=200.0, delay=40.0, decision=60.0, coherences=(0.5,), input_noise=0.0
    )
    (inputs, targets, mask), cond = task.generate(64, generator=gen(0), dtype=torch.float64)
    assert task.n_steps == 5 + 10 + 2 + 3
    c = cond["coherence"]
    assert set(c.tolist()) == {-0.5, 0.5}
    fix = torch.tensor([1.0] * 17 + [0.0] * 3, dtype=torch.float64)
    assert torch.equal(inputs[:, :, 0], fix[:, None].expand(20, 64))
    stim = torch.zeros(20, dtype=torch.float64)
    stim[5:15] = 1
    assert torch.equal(inputs[:, :, 1], stim[:, None] * (1 + c) / 2)
    assert torch.equal(inputs[:, :, 2], stim[:, None] * (1 - c) / 2)
    choice = (c < 0).long()  # c = +0.5: choice 0 ("right"), c = −0.5: choice 1
    respond = torch.zeros(20, dtype=torch.float64)
    respond[17:] = 1
    expected = respond[:, None, None] * torch.nn.functional.one_hot(choice, 2).double()
    assert torch.equal(targets, expected)
    assert torch.equal(mask, respond[:, None, None].expand(20, 64, 2))
    assert torch.equal(cond["choice"], choice)


def test_decision_zero_coherence_targets_are_a_fair_coin_and_noise_has_the_stated_std():
    task = PerceptualDecision(dt=10.0, fixation=0.0, stimulus=400.0, decision=10.0, coherences=(0.0,), input_noise=0.3)
    (inputs, _, _), cond = task.generate(4000, generator=gen(5), dtype=torch.float64)
    p = (cond["choice"] == 0).double().mean().item()
    assert abs(p - 0.5) < 4 * math.sqrt(0.25 / 4000)  # 4 binomial standard deviations
    noise = inputs[:40, :, 1:] - 0.5  # stimulus steps, mean (1 ± 0)/2
    n = noise.numel()
    std = 0.3 / math.sqrt(10.0)  # per-step std σ/√dt
    assert abs(noise.std().item() / std - 1) < 4 / math.sqrt(2 * n)
    assert abs(noise.mean().item()) < 4 * std / math.sqrt(n)


def test_decision_evaluate_accuracy_and_psychometric_curve():
    task = PerceptualDecision(dt=20.0, fixation=20.0, stimulus=40.0, decision=40.0, coherences=(0.0, 0.2))
    (_, targets, mask), cond = task.generate(400, generator=gen(1))
    m = task.evaluate(targets, targets, mask, cond)
    assert m["accuracy"].item() == 1.0
    torch.testing.assert_close(m["coherence"], torch.tensor([-0.2, 0.0, 0.2]))
    assert m["p_right"][0].item() == 0.0 and m["p_right"][2].item() == 1.0
    # zero-coherence trials: "right" exactly as often as their coin said
    zero = cond["coherence"] == 0
    assert m["p_right"][1].item() == pytest.approx((cond["choice"][zero] == 0).float().mean().item())
    # always answering "right": accuracy = fraction of c > 0 among c ≠ 0, p_right ≡ 1
    right = torch.zeros_like(targets)
    right[..., 0] = 1
    m = task.evaluate(right, targets, mask, cond)
    informative = cond["coherence"] != 0
    assert m["accuracy"].item() == pytest.approx((cond["coherence"][informative] > 0).float().mean().item())
    assert torch.equal(m["p_right"], torch.ones(3))
    assert task.evaluate(-targets, targets, mask)["accuracy"].item() == 0.0


def test_decision_psychometric_levels_have_no_negative_zero():
    levels = PerceptualDecision().signed_coherences()
    assert torch.equal(
        levels,
        torch.tensor(
            [-0.512, -0.256, -0.128, -0.064, -0.032, 0.0, 0.032, 0.064, 0.128, 0.256, 0.512], dtype=torch.float64
        ),
    )
    assert not torch.signbit(levels[5])


# ----------------------------------------------------------------------------- Integration
def test_integration_target_is_the_running_integral_and_holds():
    task = Integration(dt=5.0, stimulus=300.0, hold=200.0, pulse_rate=0.02, gain=0.01, input_noise=0.0)
    inputs, targets, mask = task.sample(256, generator=gen(0), dtype=torch.float64)
    assert set(inputs.unique().tolist()) <= {-1.0, 0.0, 1.0}
    assert torch.all(inputs[60:] == 0)  # hold: no input
    # y_t = g·dt·Σ_{k≤t} u_k, as an explicit loop
    y, ref = torch.zeros(256, 1, dtype=torch.float64), []
    for t in range(task.n_steps):
        y = y + 0.01 * 5.0 * inputs[t]
        ref.append(y)
    torch.testing.assert_close(targets, torch.stack(ref), rtol=0, atol=1e-15)
    assert torch.equal(targets[60:], targets[59:60].expand(40, 256, 1))  # constant while holding
    assert torch.equal(mask, torch.ones_like(mask))
    rate = (inputs[:60] != 0).double().mean().item()  # Bernoulli(pulse_rate·dt = 0.1)
    assert abs(rate - 0.1) < 4 * math.sqrt(0.1 * 0.9 / (60 * 256))
    n_pulses = (inputs[:60] != 0).sum().item()
    p_up = (inputs[:60] > 0).sum().item() / n_pulses  # fair sign
    assert abs(p_up - 0.5) < 4 * math.sqrt(0.25 / n_pulses)


def test_integration_metrics():
    task = Integration(dt=10.0, stimulus=100.0, hold=100.0)
    inputs, targets, mask = task.sample(32, generator=gen(1), dtype=torch.float64)
    m = task.evaluate(targets, targets, mask)
    assert m["mse"].item() == 0.0 and m["drift"].item() == 0.0
    # an output that decays by 0.02 per step after the offset (step 9) drifts by 10·0.02
    leak = torch.zeros(task.n_steps, 1, 1, dtype=torch.float64)
    leak[10:, 0, 0] = 0.02 * torch.arange(1, 11, dtype=torch.float64)
    m = task.evaluate(targets - leak, targets, mask)
    assert m["drift"].item() == pytest.approx(0.2, abs=1e-12)
    assert m["mse"].item() == pytest.approx((leak**2).sum().item() / task.n_steps, abs=1e-15)


# ----------------------------------------------------------------------------- WinnerTakeAll
def test_wta_hand_checked_trial():
    task = WinnerTakeAll(n_inputs=3, dt=10.0, stimulus=50.0, memory=30.0, input_noise=0.0)
    (inputs, targets, mask), cond = task.generate(128, generator=gen(0), dtype=torch.float64)
    a = cond["amplitudes"]
    assert torch.all((a >= 0.2) & (a < 1.0))
    assert torch.equal(inputs[:5], a.expand(5, 128, 3)) and torch.all(inputs[5:] == 0)
    winner = a.argmax(-1)
    expected = torch.zeros(8, 128, 3, dtype=torch.float64)
    expected[5:] = torch.nn.functional.one_hot(winner, 3).double()
    assert torch.equal(targets, expected)
    assert torch.all(mask[:5] == 0) and torch.all(mask[5:] == 1)
    s = a.sort(-1, descending=True).values
    torch.testing.assert_close(cond["difference"], (s[:, 0] - s[:, 1]) / s[:, 0], rtol=0, atol=0)


def test_wta_metrics_by_difference():
    task = WinnerTakeAll(n_inputs=2, dt=10.0, stimulus=20.0, memory=20.0)
    (_, targets, mask), cond = task.generate(2000, generator=gen(2))
    m = task.evaluate(targets, targets, mask, cond)
    assert m["accuracy"].item() == 1.0 and m["accuracy_above_10pct"].item() == 1.0
    # wrong exactly on the trials whose difference is ≤ 10 %
    d = cond["difference"]
    outputs = torch.where((d <= 0.1)[None, :, None], targets.flip(-1), targets)
    m = task.evaluate(outputs, targets, mask, cond)
    assert m["accuracy_above_10pct"].item() == 1.0
    assert m["accuracy"].item() == pytest.approx((d > 0.1).float().mean().item())
    torch.testing.assert_close(m["accuracy_by_difference"], torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0]))


# ----------------------------------------------------------------------------- FlipFlop
def test_flipflop_targets_and_mask_match_a_plain_loop():
    task = FlipFlop(n_bits=3, dt=10.0, duration=300.0, pulse_rate=0.02, grace=30.0)
    inputs, targets, mask = task.sample(64, generator=gen(0), dtype=torch.float64)
    assert set(inputs.unique().tolist()) <= {-1.0, 0.0, 1.0}
    T, B, K = inputs.shape
    ref_t, ref_m = torch.zeros_like(targets), torch.zeros_like(mask)
    for b in range(B):
        for k in range(K):
            state, last = 0.0, None
            for t in range(T):
                if inputs[t, b, k] != 0:
                    state, last = inputs[t, b, k].item(), t
                ref_t[t, b, k] = state
                ref_m[t, b, k] = float(last is not None and t - last >= 3)
    assert torch.equal(targets, ref_t) and torch.equal(mask, ref_m)


def test_flipflop_metrics():
    task = FlipFlop(n_bits=2, dt=10.0, duration=200.0, pulse_rate=0.02)
    inputs, targets, mask = task.sample(32, generator=gen(3))
    m = task.evaluate(0.5 * targets, targets, mask)
    assert m["bit_accuracy"].item() == 1.0
    assert m["mse"].item() == pytest.approx(0.25)
    assert task.evaluate(-targets, targets, mask)["bit_accuracy"].item() == 0.0


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "make, match",
    [
        (
            lambda: PerceptualDecision(dt=20.0, stimulus=510.0),
            r"stimulus must be a non-negative multiple of dt = 20 ms, got 510 ms",
        ),
        (lambda: PerceptualDecision(coherences=(0.5, 1.5)), r"coherences must be .* in \[0, 1\]"),
        (lambda: PerceptualDecision(dt=0.0), r"dt must be a positive finite number, got 0.0; the step in ms"),
        (lambda: FlipFlop(n_bits=0), r"n_bits must be an integer ≥ 1, got 0"),
        (
            lambda: FlipFlop(dt=10.0, pulse_rate=0.2),
            r"pulse_rate·dt must be a probability in \[0, 1\], got 0.2/ms × 10 ms = 2",
        ),
        (lambda: WinnerTakeAll(n_inputs=1), r"n_inputs must be an integer ≥ 2, got 1"),
        (lambda: WinnerTakeAll(amplitude_range=(1.0, 0.5)), r"0 ≤ a_min < a_max"),
        (lambda: Integration(hold=0.0), r"stimulus and hold must last at least dt"),
    ],
)
def test_bad_arguments_raise_clear_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_batch_and_outputs_raise_clear_errors():
    task = FlipFlop()
    with pytest.raises(ValueError, match=r"batch_size must be an integer ≥ 1, got 0"):
        task.sample(0)
    _, targets, mask = task.sample(2)
    with pytest.raises(ValueError, match=r"must all have shape \(T, B, 3\); got \(50, 2, 2\)"):
        task.evaluate(targets[..., :2], targets, mask)
