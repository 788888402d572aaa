"""Tasks written by users: one ``trial`` per call, batched, padded, checked and seeded by the
base class; the default metrics; the built-in tasks' batched hook untouched."""

import numpy as np
import pytest
import torch

import torchrate as tr
from torchrate.tasks import Task, Trial

F64 = torch.float64


class Ragged(Task):
    """Trials of 3–9 steps: inputs = a ramp times a random gain, target = the gain, scored on
    the last 2 steps (mask (T,)), conditions: the gain and the length."""

    input_size, output_size, loss = 2, 1, "mse"

    def __init__(self, dt: float = 10.0):
        super().__init__(dt)

    def trial(self, generator):
        T = int(torch.randint(3, 10, (), generator=generator))
        gain = float(torch.rand((), generator=generator, dtype=F64))
        t = torch.arange(1, T + 1, dtype=F64)
        inputs = torch.stack([gain * t, torch.ones(T, dtype=F64)], -1)
        mask = torch.zeros(T)
        mask[-2:] = 1
        return Trial(inputs, torch.full((T, 1), gain), mask, {"gain": gain, "length": T})


class NumpyPD(Task):
    """A trial written with NumPy: the generator derived with numpy_generator."""

    input_size, output_size, loss = 2, 2, "cross_entropy"

    def __init__(self, dt: float = 10.0):
        super().__init__(dt)

    def trial(self, generator):
        rng = tr.tasks.numpy_generator(generator)
        side = int(rng.integers(2))
        x = rng.normal(0.0, 0.1, (20, 2))
        x[5:15, side] += 1.0
        y = np.zeros((20, 2))
        y[15:, side] = 1
        return Trial(x, y, (np.arange(20) >= 15).astype(np.float32), {"side": side})


def replay(task, B, seed):
    """The trials ``trial`` returns for this seed, drawn one by one as the base class does."""
    g = torch.Generator().manual_seed(seed)
    return [task.trial(g) for _ in range(B)]


def test_variable_length_trials_are_padded_at_the_end_with_mask_zero():
    task = Ragged()
    (x, y, m), c = task.generate(16, generator=torch.Generator().manual_seed(3))
    trials = replay(task, 16, 3)
    lengths = [t.inputs.shape[0] for t in trials]
    assert len(set(lengths)) > 1  # the control: the lengths do vary
    assert x.shape == (max(lengths), 16, 2) and y.shape == m.shape == (max(lengths), 16, 1)
    for b, t in enumerate(trials):
        n = lengths[b]
        assert torch.equal(x[:n, b], t.inputs.to(x.dtype)) and torch.equal(y[:n, b], t.targets.to(y.dtype))
        assert torch.equal(m[:n, b, 0], t.mask.to(m.dtype))  # a (T,) mask, expanded over the outputs
        assert x[n:, b].abs().sum() == 0 and y[n:, b].abs().sum() == 0 and m[n:, b].sum() == 0
    assert c["length"].tolist() == lengths and c["length"].dtype == torch.int64
    assert c["gain"].dtype == torch.get_default_dtype()  # float conditions: cast like the trials
    gains = torch.tensor([t.conditions["gain"] for t in trials], dtype=F64)
    assert torch.equal(c["gain"], gains.to(c["gain"].dtype))


def test_one_seed_gives_one_batch_in_every_dtype():
    task = Ragged()
    a = task.sample(8, generator=torch.Generator().manual_seed(0), dtype=F64)
    b = task.sample(8, generator=torch.Generator().manual_seed(0), dtype=torch.float32)
    c = task.sample(8, generator=torch.Generator().manual_seed(1), dtype=F64)
    assert a.inputs.dtype == F64 and b.inputs.dtype == torch.float32
    for u, v in zip(a, b):
        torch.testing.assert_close(u.float(), v, rtol=0, atol=0)  # drawn in float64, then cast
    assert a.inputs.shape != c.inputs.shape or not torch.equal(a.inputs, c.inputs)


def test_a_numpy_trial_is_seeded_by_the_torch_generator():
    task = NumpyPD()
    (x1, y1, m1), c1 = task.generate(6, generator=torch.Generator().manual_seed(5))
    (x2, _, _), c2 = task.generate(6, generator=torch.Generator().manual_seed(5))
    (x3, _, _), _ = task.generate(6, generator=torch.Generator().manual_seed(6))
    assert torch.equal(x1, x2) and torch.equal(c1["side"], c2["side"]) and not torch.equal(x1, x3)
    assert x1.shape == (20, 6, 2) and m1[:, :, 0].sum(0).tolist() == [5.0] * 6
    assert torch.equal(y1[-1].argmax(-1), c1["side"])


def test_default_evaluate_is_masked_mse_and_masked_accuracy():
    task = Ragged()
    (x, y, m), _ = task.generate(8, generator=torch.Generator().manual_seed(2), dtype=F64)
    out = y + 0.5 * torch.randn(y.shape, generator=torch.Generator().manual_seed(0), dtype=F64)
    expected = ((out - y) ** 2 * m).sum() / m.sum()
    assert task.evaluate(out, y, m)["mse"].item() == pytest.approx(expected.item(), rel=1e-15)
    # padding does not count: the same error on padded steps changes nothing
    assert task.evaluate(out + (m == 0) * 7.0, y, m)["mse"].item() == pytest.approx(expected.item(), rel=1e-15)

    pd = NumpyPD()
    (x, y, m), c = pd.generate(10, generator=torch.Generator().manual_seed(0), dtype=F64)
    logits = y.clone()
    logits[:, :3] = logits[:, :3].flip(-1)  # trials 0–2 choose the other side
    m[:, 9] = 0  # trial 9 is not scored at all: it has no choice and does not count
    logits[:, 9] = logits[:, 9].flip(-1)
    assert pd.evaluate(logits, y, m)["accuracy"].item() == pytest.approx(6 / 9, rel=1e-15)


def test_the_built_in_tasks_keep_their_batched_hook():
    # they override _generate: trial is never called, and their n_steps stays
    for task in (tr.tasks.FlipFlop(n_bits=2), tr.tasks.PerceptualDecision()):
        assert type(task)._generate is not Task._generate and type(task).trial is Task.trial
        x, _, _ = task.sample(4, generator=torch.Generator().manual_seed(0))
        assert x.shape[0] == task.n_steps


def test_a_custom_task_trains_with_the_python_api():
    module = tr.training.TaskModule(
        NumpyPD(),
        {"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": 16, "tau": 20.0, "dt": 10.0}},
        network_seed=0,
    )
    (x, y, m), c = NumpyPD().generate(32, generator=torch.Generator().manual_seed(0))
    outputs, _ = module(x)
    metrics = module.task.evaluate(outputs, y, m, c)
    assert set(metrics) == {"accuracy"} and 0 <= metrics["accuracy"].item() <= 1
    assert module.task.config() == {"class_path": f"{__name__}.NumpyPD", "init_args": {"dt": 10.0}}
