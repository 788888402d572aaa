"""tr.tasks.NeuroGym: NeuroGym environments as seeded, masked torchrate tasks.

Every test but the missing-dependency one needs ``neurogym`` and is skipped without it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import torchrate as tr

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs" / "neurogym").glob("*.yaml"))


@pytest.fixture(scope="module")
def ngym():
    return pytest.importorskip("neurogym")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _digest(trials, conditions) -> str:
    h = hashlib.sha256()
    for x in (*trials, *(conditions[k] for k in sorted(conditions))):
        h.update(x.contiguous().numpy().tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------------- the optional dependency
def test_missing_neurogym_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "neurogym", None)  # `import neurogym` now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'torchrate\[neurogym\]'"):
        tr.tasks.NeuroGym("GoNogo-v0")


def test_torchrate_imports_without_neurogym():
    code = (
        "import sys; sys.modules['neurogym'] = None; import torchrate as tr; "
        "assert 'NeuroGym' in tr.tasks.__all__; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


# ---------------------------------------------------------------------- shapes and sizes
@pytest.mark.parametrize(
    "env_id, sizes", [("GoNogo-v0", (3, 2)), ("PerceptualDecisionMaking-v0", (3, 3)), ("DelayComparison-v0", (2, 3))]
)
def test_sizes_from_the_spaces(ngym, env_id, sizes):
    task = tr.tasks.NeuroGym(env_id)
    env = ngym.make(env_id).unwrapped
    assert (task.input_size, task.output_size) == sizes == (env.observation_space.shape[0], env.action_space.n)
    assert task.dt == float(env.dt)
    inputs, targets, mask = task.sample(4, generator=_gen(0))
    assert inputs.shape[1:] == (4, sizes[0]) and targets.shape == mask.shape == (inputs.shape[0], 4, sizes[1])


def test_dtype_and_device_follow_the_request(ngym):
    task = tr.tasks.NeuroGym("GoNogo-v0")
    x64, y64, m64 = task.sample(8, generator=_gen(3), dtype=torch.float64)
    x32, y32, m32 = task.sample(8, generator=_gen(3), dtype=torch.float32)
    assert x64.dtype == torch.float64 and x32.dtype == torch.float32
    # the observations are float32 in NeuroGym: both casts hold the same numbers exactly
    assert torch.equal(x64.float(), x32) and torch.equal(y64.float(), y32) and torch.equal(m64.float(), m32)


# ---------------------------------------------------------------------- seeding
def test_same_seed_bit_identical_batches_different_seed_not(ngym):
    task = tr.tasks.NeuroGym("ContextDecisionMaking-v0", env_kwargs={"use_expl_context": True})
    a, ca = task.generate(32, generator=_gen(7))
    b, cb = task.generate(32, generator=_gen(7))
    c, _ = task.generate(32, generator=_gen(8))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert all(torch.equal(ca[k], cb[k]) for k in ca)
    assert not (a.inputs.shape == c.inputs.shape and torch.equal(a.inputs, c.inputs))


def test_same_seed_bit_identical_across_processes(ngym):
    code = (
        "import hashlib, torch, torchrate as tr\n"
        "task = tr.tasks.NeuroGym('ContextDecisionMaking-v0', env_kwargs={'use_expl_context': True})\n"
        "trials, conds = task.generate(32, generator=torch.Generator().manual_seed(7))\n"
        "h = hashlib.sha256()\n"
        "for x in (*trials, *(conds[k] for k in sorted(conds))): h.update(x.contiguous().numpy().tobytes())\n"
        "print(h.hexdigest())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    task = tr.tasks.NeuroGym("ContextDecisionMaking-v0", env_kwargs={"use_expl_context": True})
    assert out.stdout.strip() == _digest(*task.generate(32, generator=_gen(7)))


def test_global_rngs_untouched(ngym):
    task = tr.tasks.NeuroGym("PerceptualDecisionMaking-v0")
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()  # noqa: NPY002
    task.sample(8, generator=_gen(0))
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state[1])  # noqa: NPY002


def test_trials_are_neurogyms_own(ngym):
    """The batch holds exactly the trials a NeuroGym env seeded with the batch's seed draws."""
    task = tr.tasks.NeuroGym("ContextDecisionMaking-v0", env_kwargs={"use_expl_context": True})
    (inputs, targets, _), conditions = task.generate(16, generator=_gen(5), dtype=torch.float32)
    seed = int(torch.randint(2**32, (1,), generator=_gen(5), dtype=torch.int64))  # what the task draws first
    env = ngym.make("ContextDecisionMaking-v0", use_expl_context=True).unwrapped
    env.seed(seed)
    for b in range(16):
        env.new_trial()
        n = env.ob.shape[0]
        assert int(conditions["length"][b]) == n
        assert torch.equal(inputs[:n, b], torch.from_numpy(env.ob))
        assert torch.equal(targets[:n, b].argmax(-1), torch.from_numpy(env.gt[:n].astype(np.int64)))


# ---------------------------------------------------------------------- padding and masks
def test_mask_zero_on_padding_and_fixation(ngym):
    task = tr.tasks.NeuroGym("ContextDecisionMaking-v0", env_kwargs={"use_expl_context": True})
    (inputs, targets, mask), c = task.generate(64, generator=_gen(1))
    T = inputs.shape[0]
    lengths = c["length"]
    assert int(lengths.max()) == T and int(lengths.min()) < T  # variable lengths: there is padding
    t = torch.arange(T)[:, None]
    padding = t >= lengths
    assert mask[padding].abs().sum() == 0 and inputs[padding].abs().sum() == 0 and targets[padding].abs().sum() == 0
    response = (t >= c["decision_start"]) & (t < c["decision_stop"])
    assert torch.equal(mask, response[..., None].to(mask.dtype).expand_as(mask))
    # fixation period (first 300 ms = 3 steps): fixation input on, target "fixate", not scored
    assert torch.all(inputs[:3, :, 0] == 1) and torch.all(targets[:3, :, 0] == 1) and mask[:3].sum() == 0
    # every trial has a response period, and it ends the trial
    assert torch.all(c["decision_stop"] > c["decision_start"]) and torch.equal(c["decision_stop"], lengths)


def test_loss_on_all_scores_every_step_of_each_trial(ngym):
    task = tr.tasks.NeuroGym("ContextDecisionMaking-v0", env_kwargs={"use_expl_context": True}, loss_on="all")
    (inputs, targets, mask), c = task.generate(64, generator=_gen(1))
    t = torch.arange(inputs.shape[0])[:, None]
    assert torch.equal(mask, (t < c["length"])[..., None].to(mask.dtype).expand_as(mask))
    assert torch.equal(targets.sum(-1), (t < c["length"]).to(targets.dtype))  # one-hot inside, 0 outside


# ---------------------------------------------------------------------- evaluate
def _hand_accuracy(outputs, targets, conditions) -> float:
    correct = []
    for b in range(outputs.shape[1]):
        step = int(conditions["decision_stop"][b]) - 1  # NeuroGym: the choice at the decision's last step
        correct.append(int(np.argmax(outputs[step, b].numpy())) == int(np.argmax(targets[step, b].numpy())))
    return sum(correct) / len(correct)


def test_evaluate_matches_hand_computed_accuracy(ngym):
    task = tr.tasks.NeuroGym("PerceptualDecisionMaking-v0")
    (inputs, targets, mask), c = task.generate(200, generator=_gen(2), dtype=torch.float64)
    outputs = torch.randn(targets.shape, generator=_gen(3), dtype=torch.float64)
    metrics = task.evaluate(outputs, targets, mask, c)
    assert float(metrics["accuracy"]) == pytest.approx(_hand_accuracy(outputs, targets, c), abs=1e-12)
    # hand-made outputs: the first 150 trials answer right, the last 50 the other choice
    made = 5 * targets.clone()
    wrong = 3 - c["target"][150:]  # actions 1 <-> 2
    stop = c["decision_stop"][150:] - 1
    made[stop, torch.arange(150, 200)] = 5 * torch.nn.functional.one_hot(wrong, 3).to(made.dtype)
    assert float(task.evaluate(made, targets, mask, c)["accuracy"]) == 0.75
    assert float(task.evaluate(made, targets, mask)["accuracy"]) == 0.75  # without conditions: same choices


def test_psychometric_curve_by_hand(ngym):
    task = tr.tasks.NeuroGym("PerceptualDecisionMaking-v0")
    (inputs, targets, mask), c = task.generate(300, generator=_gen(4), dtype=torch.float64)
    outputs = torch.randn(targets.shape, generator=_gen(5), dtype=torch.float64)
    m = task.evaluate(outputs, targets, mask, c)
    stop = c["decision_stop"] - 1
    choice = outputs[stop, torch.arange(300)].argmax(-1)
    coh = c["condition"]
    assert torch.equal(m["condition"], torch.tensor([0.0, 6.4, 12.8, 25.6, 51.2], dtype=torch.float64))
    for level, acc in zip(m["condition"], m["accuracy_by_condition"]):
        sel = coh == level
        assert float(acc) == pytest.approx(float((choice[sel] == c["target"][sel]).double().mean()), abs=1e-12)
    signed = torch.where(c["target"] == 1, coh, -coh) + 0.0
    for level, p in zip(m["signed_condition"], m["p_choice1"]):
        sel = signed == level
        assert float(p) == pytest.approx(float((choice[sel] == 1).double().mean()), abs=1e-12)
    # context-dependent: the condition is the relevant modality's coherence
    cdm = tr.tasks.NeuroGym("ContextDecisionMaking-v0", env_kwargs={"use_expl_context": True})
    _, cc = cdm.generate(64, generator=_gen(6))
    assert set(cc["condition"].tolist()) <= {5.0, 15.0, 50.0}


def test_reaction_time_chronometric_by_hand(ngym):
    task = tr.tasks.NeuroGym("PerceptualDecisionMaking-v0", reaction_time=True, rt_threshold=0.8)
    (inputs, targets, mask), c = task.generate(40, generator=_gen(8), dtype=torch.float64)
    onset = c["stimulus_start"]
    assert torch.equal(c["decision_start"], onset + 1)  # respond from one step after stimulus onset
    # outputs: fixate (logit 0 everywhere), then the target choice becomes certain k_b steps after onset
    k = torch.arange(40) % 5 + 2  # 2..6 steps
    outputs = torch.zeros_like(targets)
    t = torch.arange(targets.shape[0])[:, None]
    late = (t >= onset + k).to(outputs.dtype)  # (T, B)
    outputs += 10 * late[..., None] * torch.nn.functional.one_hot(c["target"], 3).to(outputs.dtype)
    m = task.evaluate(outputs, targets, mask, c)
    assert float(m["accuracy"]) == 1.0
    rt = (k + 1).double() * task.dt  # step onset + k answered: (k + 1) steps of dt after onset
    assert float(m["mean_rt"]) == pytest.approx(float(rt.mean()), abs=1e-9)
    for level, value in zip(m["rt_condition"], m["rt_by_condition"]):
        assert float(value) == pytest.approx(float(rt[c["condition"] == level].mean()), abs=1e-9)


def test_timing_task_accuracy_within_neurogym_tolerance(ngym):
    task = tr.tasks.NeuroGym("ReadySetGo-v0", decision_period="production")
    (inputs, targets, mask), c = task.generate(30, generator=_gen(9), dtype=torch.float64)
    assert torch.all(c["event"] >= c["decision_start"]) and torch.all(c["target"] == 1)
    # tolerance is NeuroGym's reward rule 0.2 · interval + 25 ms (prod_margin = 0.2)
    assert torch.all(c["tolerance"] >= 25 + 0.2 * 800 - 1e-9)
    offsets = torch.tensor([0, 1, 2, 3, 4, 5] * 5)  # peak of p(go) this many steps late
    outputs = torch.zeros_like(targets)
    peak = c["event"] + offsets
    outputs[peak.clamp(max=targets.shape[0] - 1), torch.arange(30), 1] = 5.0
    m = task.evaluate(outputs, targets, mask, c)
    expected = ((offsets * task.dt <= c["tolerance"]) & (peak < c["decision_stop"])).double().mean()
    assert float(m["accuracy"]) == pytest.approx(float(expected), abs=1e-12)
    assert 0 < float(expected) < 1


def test_one_two_three_go_is_timed_from_the_response_onset_as_neurogym_rewards(ngym):
    # its ground truth is "go" over the whole response period: the choice at the period's last
    # step scored an always-"go" output 100 % correct, where NeuroGym's reward (the first "go"
    # in interval3 or response, within 0.2 · interval + 25 ms of the onset) scores it 0 %
    task = tr.tasks.NeuroGym("OneTwoThreeGo-v0", dt=80)
    (inputs, targets, mask), c = task.generate(40, generator=_gen(5), dtype=torch.float64)
    t = torch.arange(targets.shape[0])[:, None]

    def said_go_from(step):
        go = (t >= step) & (t < c["length"])
        return torch.stack([5.0 * ~go, 10.0 * go], -1).double()

    assert float(task.evaluate(said_go_from(torch.zeros(40)), targets, mask, c)["accuracy"]) == 0.0
    assert torch.equal(c["event"], c["decision_start"]) and torch.all(c["first_go"])
    assert float(task.evaluate(10 * targets, targets, mask, c)["accuracy"]) == 1.0
    assert float(task.evaluate(said_go_from(c["length"]), targets, mask, c)["accuracy"]) == 0.0  # never
    offsets = torch.tensor([-3, -2, -1, 0, 1, 2, 3, 4] * 5)
    m = task.evaluate(said_go_from(c["event"] + offsets), targets, mask, c)
    interval = torch.tensor([d.trial["interval"] for d in task._draw_trials(task._make_env(_seed_of(5)), 40)])
    expected = (offsets.abs() * 80.0 <= 0.2 * interval + 25).double().mean()
    assert float(m["accuracy"]) == pytest.approx(float(expected), abs=1e-12)
    assert 0 < float(expected) < 1


def _seed_of(seed: int) -> int:
    """The environment seed a batch drawn with ``_gen(seed)`` uses."""
    return int(torch.randint(2**32, (1,), generator=_gen(seed), dtype=torch.int64))


# ---------------------------------------------------------------------- errors
def test_errors_name_the_argument(ngym):
    with pytest.raises(ValueError, match="env_id must name a NeuroGym environment, got 'Nope-v0'"):
        tr.tasks.NeuroGym("Nope-v0")
    with pytest.raises(ValueError, match=r"NeuroGym\('GoNogo-v0', dt=...\), not in env_kwargs"):
        tr.tasks.NeuroGym("GoNogo-v0", env_kwargs={"dt": 20})
    with pytest.raises(ValueError, match=r"loss_on must be one of \('decision', 'all'\), got 'fixation'"):
        tr.tasks.NeuroGym("GoNogo-v0", loss_on="fixation")
    with pytest.raises(
        ValueError,
        match=r"decision_period must name a period of ReadySetGo-v0; expected one of "
        r"\['fixation', 'measure', 'production', 'ready', 'set'\]",
    ):
        tr.tasks.NeuroGym("ReadySetGo-v0", decision_period="decision")
    with pytest.raises(ValueError, match="DawTwoStep-v0 does not build its observations"):
        tr.tasks.NeuroGym("DawTwoStep-v0")
    with pytest.raises(TypeError, match="env_kwargs .* do not fit GoNogo-v0"):
        tr.tasks.NeuroGym("GoNogo-v0", env_kwargs={"coherence": 3})
    with pytest.raises(ValueError, match="rt_threshold must be a probability in"):
        tr.tasks.NeuroGym("GoNogo-v0", rt_threshold=0.3)


@pytest.mark.parametrize(
    "env_kwargs, pattern",
    [
        ({"sigma": math.nan}, r"env_kwargs\['sigma'\] must be a finite number, got nan"),
        ({"sigma": np.float64(math.inf)}, r"env_kwargs\['sigma'\] must be a finite number, got inf"),
        ({"cohs": np.array([6.4, math.nan])}, r"env_kwargs\['cohs'\]\[1\] must be a finite number"),
        ({"timing": {"fixation": math.nan}}, r"env_kwargs\['timing'\]\['fixation'\] must be a finite number"),
        ({"timing": {"fixation": -500}}, r"env_kwargs\['timing'\]\['fixation'\] must be a duration ≥ 0 ms, got -500"),
        ({"timing": {"stimulus": ("uniform", (-100, 200))}}, r"\['stimulus'\]\[1\]\[0\] must be a duration ≥ 0 ms"),
        (
            {"timing": {"decision": 0}},
            r"timing\['decision'\] must last at least one step \(dt = 100 ms\).*all-zero "
            r"loss mask",
        ),
        ({"timing": {"decision": 50}}, r"timing\['decision'\] must last at least one step"),  # floored to 0 steps
    ],
)
def test_non_finite_negative_or_empty_timings_are_refused(ngym, env_kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        tr.tasks.NeuroGym("PerceptualDecisionMaking-v0", dt=100, env_kwargs=env_kwargs)


def test_a_batch_with_an_empty_response_period_is_refused(ngym):
    task = tr.tasks.NeuroGym("PerceptualDecisionMaking-v0", dt=100)
    task._kwargs["timing"] = {"decision": 0}  # past the constructor's check: the batch's own check
    with pytest.raises(ValueError, match=r"no trial of this batch of 4 has a 'decision' step"):
        task.sample(4, generator=_gen(0))


def test_numpy_env_kwargs_are_stored_as_python_numbers_and_the_config_loads_weights_only(ngym, tmp_path):
    import io

    kw = {"sigma": np.float64(0.5), "cohs": np.array([6.4, 51.2]), "timing": {"decision": np.int64(200)}}
    task = tr.tasks.NeuroGym("PerceptualDecisionMaking-v0", dt=np.float64(100), env_kwargs=kw)
    config = task.config()
    assert config["init_args"]["env_kwargs"] == {"sigma": 0.5, "cohs": [6.4, 51.2], "timing": {"decision": 200}}
    assert type(config["init_args"]["env_kwargs"]["timing"]["decision"]) is int
    buffer = io.BytesIO()
    torch.save(config, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)  # what a checkpoint's hyper-parameters must survive
    again = tr.training.module.as_task(loaded)
    assert all(torch.equal(x, y) for x, y in zip(task.sample(4, generator=_gen(0)), again.sample(4, generator=_gen(0))))
    plain = tr.tasks.NeuroGym(
        "PerceptualDecisionMaking-v0",
        dt=100,
        env_kwargs={"sigma": 0.5, "cohs": [6.4, 51.2], "timing": {"decision": 200}},
    )
    assert all(torch.equal(x, y) for x, y in zip(task.sample(4, generator=_gen(1)), plain.sample(4, generator=_gen(1))))


def test_config_round_trip_and_dt(ngym):
    task = tr.tasks.NeuroGym("DelayMatchSample-v0", dt=20, env_kwargs={"sigma": 0.5})
    assert task.dt == 20.0
    again = tr.training.module.as_task(task.config())
    assert again.config() == task.config()
    assert all(torch.equal(x, y) for x, y in zip(task.sample(4, generator=_gen(0)), again.sample(4, generator=_gen(0))))


def test_draw_gives_a_figure_with_the_psychometric_curve(ngym):
    task = tr.tasks.NeuroGym("PerceptualDecisionMaking-v0")
    (inputs, targets, mask), c = task.generate(64, generator=_gen(0))
    metrics = task.evaluate(5 * targets, targets, mask, c)
    fig = task.draw(metrics, 5 * targets, targets, mask)
    assert len(fig.axes) == 2 and "psychometric" in fig.axes[0].get_title()


# ---------------------------------------------------------------------- every registered environment
#: the environments refused, each with what its message must say (all others must sample)
REFUSED = {
    "AnnubesEnv-v0": (TypeError, r"argument\(s\) without a default, 'session', 'catch_prob': give them in env_kwargs"),
    "Bandit-v0": (ValueError, r"does not build its observations and ground truth per trial .*reinforcement learning"),
    "DawTwoStep-v0": (ValueError, r"does not build its observations and ground truth per trial"),
    "EconomicDecisionMaking-v0": (ValueError, r"does not build its observations and ground truth per trial"),
    "Null-v0": (ValueError, r"does not build its observations and ground truth per trial"),
    "Reaching1D-v0": (ValueError, r"ground truth is not an action of its action space Discrete\(3\)"),
    "Reaching1DWithSelfDistraction-v0": (ValueError, r"ground truth is not an action of its action space"),
}


def _registered() -> list[str]:
    import neurogym.envs.registration as registry

    ids = sorted(registry.ALL_EXTENDED_ENVS)  # what NeuroGym registers with gymnasium: native and collections
    assert ids == sorted(registry.all_envs(collections=True))
    return ids


def test_every_registered_environment_samples_reproducibly_or_is_refused_with_its_reason(ngym):
    ids = _registered()
    assert len(ids) == 52 and sum(i.startswith("yang19.") for i in ids) == 20
    refused = []
    for env_id in ids:
        try:
            task = tr.tasks.NeuroGym(env_id)
        except (TypeError, ValueError) as err:
            refused.append(env_id)
            kind, pattern = REFUSED.get(env_id, (None, None))
            assert isinstance(err, kind or ()) and re.search(pattern, str(err)), f"{env_id}: {err!r}"
            assert env_id in str(err)
            continue
        a = task.generate(24, generator=_gen(11))  # longer than a block of HierarchicalReasoning
        b = task.generate(24, generator=_gen(11))
        assert _digest(*a) == _digest(*b), f"{env_id}: the same seed gave another batch"
        (inputs, targets, mask), conditions = a
        assert _digest(*a) != _digest(*task.generate(24, generator=_gen(12))), env_id
        assert torch.isfinite(inputs).all() and torch.isfinite(targets).all(), env_id
        assert inputs.shape[1:] == (24, task.input_size) and targets.shape == mask.shape == (
            inputs.shape[0],
            24,
            task.output_size,
        )
        assert (mask.amax((0, 2)) > 0).all(), f"{env_id}: a trial with nothing scored"
        # outputs that follow the targets score perfectly: the metrics read the targets where they are scored
        if task.loss == "cross_entropy":
            assert float(task.evaluate(5 * targets, targets, mask, conditions)["accuracy"]) == 1.0, env_id
        else:
            assert float(task.evaluate(targets.clone(), targets, mask, conditions)["mse"]) == 0.0, env_id
    assert refused == sorted(REFUSED)


def test_response_periods_are_read_off_the_ground_truth(ngym):
    expected = {
        "ToneDetection-v0": ("stimulus",),
        "DualDelayMatchSample-v0": ("test1", "test2"),
        "DelayMatchSampleDistractor1D-v0": ("test1", "test2", "test3"),
        "MotorTiming-v0": ("production",),
        "OneTwoThreeGo-v0": ("response",),
        "ReadySetGo-v0": ("production",),
        "DelayMatchCategory-v0": ("test",),
        "ReachingDelayResponse-v0": ("decision",),
        "SpatialSuppressMotion-v0": ("stimulus",),
        "HierarchicalReasoning-v0": ("rule_target", "decision"),  # choose the rule, then the side
        "PerceptualDecisionMaking-v0": ("decision",),
        "yang19.dms-v0": ("decision",),
    }
    assert {env_id: tr.tasks.NeuroGym(env_id).response_periods for env_id in expected} == expected
    # a period named: that period alone
    assert tr.tasks.NeuroGym("DualDelayMatchSample-v0", decision_period="test2").response_periods == ("test2",)


def test_with_a_decision_period_the_mask_is_the_decision_period_as_before(ngym):
    """Where the environment has a "decision" period (the only one scored before the response periods were read
    off the ground truth) the batches are unchanged — HierarchicalReasoning gains its rule period."""
    compared = 0
    for env_id in _registered():
        if env_id in REFUSED:
            continue
        try:
            old = tr.tasks.NeuroGym(env_id, decision_period="decision")
        except ValueError as err:
            assert "decision_period must name a period of" in str(err)
            continue
        task = tr.tasks.NeuroGym(env_id)
        (x, y, mask), c = task.generate(16, generator=_gen(21))
        (x0, y0, mask0), c0 = old.generate(16, generator=_gen(21))
        assert torch.equal(x, x0) and torch.equal(y, y0), env_id
        if env_id == "HierarchicalReasoning-v0":
            k = task.response_periods.index("rule_target")
            t = torch.arange(x.shape[0])[:, None]
            rule = (t >= c["response_start"][:, k]) & (t < c["response_stop"][:, k])
            assert torch.equal(mask, torch.maximum(mask0, rule[..., None].to(mask.dtype))) and rule.any()
        else:
            assert torch.equal(mask, mask0), env_id
            assert all(torch.equal(c[key], c0[key]) for key in c0 if key != "condition"), env_id
        compared += 1
    assert compared == 37  # 15 native ones (ReachingDelayResponse's regression too), ibl20, roitman02, 20 of yang19


def test_ready_set_go_by_default_is_the_production_period_config(ngym):
    a = tr.tasks.NeuroGym("ReadySetGo-v0", dt=80, loss_on="all")
    b = tr.tasks.NeuroGym("ReadySetGo-v0", dt=80, loss_on="all", decision_period="production")  # the config's
    assert _digest(*a.generate(32, generator=_gen(4))) == _digest(*b.generate(32, generator=_gen(4)))


def test_several_response_periods_each_scored_and_each_must_be_right(ngym):
    task = tr.tasks.NeuroGym("DualDelayMatchSample-v0")
    (inputs, targets, mask), c = task.generate(40, generator=_gen(3), dtype=torch.float64)
    t = torch.arange(inputs.shape[0])[:, None]
    spans = [(c["response_start"][:, k], c["response_stop"][:, k]) for k in range(2)]
    scored = ((t >= spans[0][0]) & (t < spans[0][1])) | ((t >= spans[1][0]) & (t < spans[1][1]))
    assert torch.equal(mask, scored[..., None].to(mask.dtype).expand_as(mask))
    assert torch.all(spans[0][1] < spans[1][0])  # test1, then test2 after a delay
    outputs = 5 * targets
    assert float(task.evaluate(outputs, targets, mask, c)["accuracy"]) == 1.0
    end1 = spans[0][1] - 1
    wrong = outputs.clone()
    wrong[end1[:10], torch.arange(10)] = 5 * torch.nn.functional.one_hot(
        (targets[end1[:10], torch.arange(10)].argmax(-1) % 2) + 1, 3
    ).to(wrong.dtype)  # the other choice
    assert float(task.evaluate(wrong, targets, mask, c)["accuracy"]) == 0.75  # 10 of 40 wrong in test1
    inside = outputs.clone()
    inside[spans[0][0][:10], torch.arange(10)] = 0.0  # not the period's last step: not judged
    assert float(task.evaluate(inside, targets, mask, c)["accuracy"]) == 1.0


# ---------------------------------------------------------------------- continuous actions: regression
def test_continuous_actions_are_a_regression_on_neurogyms_own_ground_truth(ngym):
    task = tr.tasks.NeuroGym("ReachingDelayResponse-v0")
    assert task.loss == "mse" and (task.input_size, task.output_size) == (2, 2)
    (inputs, targets, mask), c = task.generate(16, generator=_gen(5), dtype=torch.float32)
    seed = int(torch.randint(2**32, (1,), generator=_gen(5), dtype=torch.int64))
    env = ngym.make("ReachingDelayResponse-v0").unwrapped
    env.seed(seed)
    t = torch.arange(inputs.shape[0])[:, None]
    for b in range(16):
        env.new_trial()
        n = env.ob.shape[0]
        assert torch.equal(inputs[:n, b], torch.from_numpy(env.ob)) and torch.equal(
            targets[:n, b], torch.from_numpy(env.gt[:n])
        )
        assert targets[n:, b].abs().sum() == 0 and mask[n:, b].sum() == 0
        decision = (t[:, 0] >= env.start_ind["decision"]) & (t[:, 0] < env.end_ind["decision"])
        assert torch.equal(mask[:, b], decision[:, None].to(mask.dtype).expand(-1, 2))  # [1, x] after [-1, -0.5]
    outputs = torch.randn(targets.shape, generator=_gen(6))
    mse = float(task.evaluate(outputs, targets, mask, c)["mse"])
    assert mse == pytest.approx(float(((outputs - targets) ** 2)[mask > 0].mean()), rel=1e-6)
    module = tr.training.TaskModule(
        task, {"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": 8, "tau": 200.0, "dt": 100.0}}
    )
    assert module.loss_fn is tr.training.masked_mse
    fig = task.draw({"mse": torch.tensor(mse)}, outputs, targets, mask)
    assert len(fig.axes) == 2 and "ReachingDelayResponse-v0" in fig.axes[0].get_title()


# ---------------------------------------------------------------------- wrapped environments
@pytest.mark.filterwarnings("ignore:.*to get variables from other wrappers is deprecated")  # NeuroGym's seed
def test_schedule_envs_sub_environments_get_seeds_of_their_own(ngym):
    from neurogym.envs.collections import yang19

    env = yang19.go()
    env.seed(5)  # NeuroGym's own: both sub-environments seeded with 5 draw the same trials in turn
    own = [env.new_trial()["ground_truth"] for _ in range(40)]
    assert own[0::2] == own[1::2]
    task = tr.tasks.NeuroGym("yang19.go-v0")
    (inputs, targets, mask), c = task.generate(40, generator=_gen(5))
    choice = c["target"]
    assert float((choice[0::2] == choice[1::2]).double().mean()) < 0.3  # 1/16 by chance
    # the two sub-environments alternate: the stimulus is in modality 1 (inputs 1–16), then 2 (17–32)
    stim = inputs[..., 1:].abs().sum(0).reshape(40, 2, 16).sum(-1)
    assert torch.equal(stim.argmax(-1), torch.arange(40) % 2)
    assert _digest(*task.generate(40, generator=_gen(5))) == _digest((inputs, targets, mask), c)


def test_schedule_attr_batches_start_anywhere_in_the_block_schedule(ngym):
    """ibl20: blocks of 90 trials with p(choice) = (0.8, 0.2) then (0.2, 0.8): a fresh schedule starts in its
    first block, so without a seeded start every batch of 32 would come from that block alone."""
    task = tr.tasks.NeuroGym("perceptualdecisionmaking.ibl20-v0")
    first = [float((task.generate(32, generator=_gen(s))[1]["target"] == 1).double().mean()) for s in range(16)]
    assert min(first) < 0.4 and max(first) > 0.6
    assert _digest(*task.generate(32, generator=_gen(3))) == _digest(*task.generate(32, generator=_gen(3)))


@pytest.mark.filterwarnings("ignore:.*to get variables from other wrappers is deprecated")  # NeuroGym's wrapper
def test_roitman02_is_reaction_time_as_its_wrapper(ngym):
    task = tr.tasks.NeuroGym("perceptualdecisionmaking.roitman02-v0")
    (inputs, targets, mask), c = task.generate(8, generator=_gen(4))
    seed = int(torch.randint(2**32, (1,), generator=_gen(4), dtype=torch.int64))
    env = ngym.make("perceptualdecisionmaking.roitman02-v0")
    env.unwrapped.seed(seed)
    env.reset()  # the first trial, as NeuroGym's ReactionTime wrapper changes it at its first step
    u = env.unwrapped
    n = int(u.tmax / u.dt)  # the wrapper ends the trial with the stimulus
    assert n == u.end_ind["stimulus"] and int(c["length"][0]) == n
    assert torch.equal(targets[:n, 0].argmax(-1), torch.from_numpy(u.gt[:n].astype(np.int64)))
    assert torch.equal(c["decision_start"], c["stimulus_start"] + 1) and torch.equal(c["decision_stop"], c["length"])
    assert "mean_rt" in task.evaluate(5 * targets, targets, mask, c)
    # without the wrapper's rule: the PerceptualDecisionMaking trials it wraps
    plain = tr.tasks.NeuroGym("perceptualdecisionmaking.roitman02-v0", reaction_time=False)
    assert _digest(*plain.generate(8, generator=_gen(4))) == _digest(
        *tr.tasks.NeuroGym("PerceptualDecisionMaking-v0").generate(8, generator=_gen(4))
    )


def test_a_step_by_step_wrapper_is_refused(ngym):
    import gymnasium as gym
    from neurogym.envs.native.perceptualdecisionmaking import PerceptualDecisionMaking
    from neurogym.wrappers import Noise

    if "TorchrateTestNoisyPDM-v0" not in gym.registry:
        gym.register("TorchrateTestNoisyPDM-v0", entry_point=lambda **kw: Noise(PerceptualDecisionMaking(**kw)))
    with pytest.raises(
        ValueError,
        match=r"TorchrateTestNoisyPDM-v0 comes in a Noise wrapper, which changes the "
        r"environment step by step",
    ):
        tr.tasks.NeuroGym("TorchrateTestNoisyPDM-v0")


def test_a_timing_the_registered_factory_replaces_is_refused(ngym):
    # yang19's dlygo/dlyanti factories set timing={"delay": 500} over the one given: the
    # decision period stayed 500 ms (5 steps) where 700 ms were asked, silently
    for env_id in ("yang19.dlygo-v0", "yang19.dlyanti-v0"):
        with pytest.raises(ValueError, match=rf"{re.escape(env_id)} does not take env_kwargs\['timing'\] "):
            tr.tasks.NeuroGym(env_id, env_kwargs={"timing": {"decision": 700}})
    task = tr.tasks.NeuroGym("yang19.go-v0", env_kwargs={"timing": {"decision": 700}})
    _, c = task.generate(8, generator=_gen(0))
    assert torch.all(c["decision_stop"] - c["decision_start"] == 7)


def test_required_arguments_in_env_kwargs_and_a_constructor_seed(ngym):
    kw = {"session": {"v": 0.5, "a": 0.5}, "catch_prob": 0.5}
    task = tr.tasks.NeuroGym("AnnubesEnv-v0", env_kwargs=kw)
    # AnnubesEnv draws its trial types from a generator seeded by its random_seed argument: the batch's seed
    a, b, other = (task.generate(32, generator=_gen(s)) for s in (1, 1, 2))
    assert _digest(*a) == _digest(*b) != _digest(*other)


def test_an_environment_the_seed_does_not_fix_is_refused(ngym, monkeypatch):
    import torchrate.tasks.neurogym as module

    monkeypatch.setattr(module, "_seed", lambda env, seed: None)  # as if env.seed() missed its generator
    with pytest.raises(ValueError, match="GoNogo-v0 gives different trials for the same seed"):
        tr.tasks.NeuroGym("GoNogo-v0")


# ---------------------------------------------------------------------- training
def test_short_gonogo_training_reaches_95_percent(ngym):
    """200 Adam steps of a 64-unit rate network on GoNogo (a few seconds)."""
    task = tr.tasks.NeuroGym("GoNogo-v0", dt=100)
    torch.manual_seed(0)  # the readout's initialisation (nn.Linear draws from the global RNG)
    module = tr.training.TaskModule(
        task,
        {
            "class_path": "torchrate.RateRNN",
            "init_args": {"hidden_size": 64, "tau": 200.0, "dt": 100.0, "nonlinearity": "tanh"},
        },
    )
    opt = torch.optim.Adam(module.parameters(), lr=0.01)
    for step in range(200):
        inputs, targets, mask = task.sample(64, generator=_gen(1000 + step))
        outputs, rates = module(inputs)
        loss = tr.training.masked_cross_entropy(outputs, targets, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
    (inputs, targets, mask), c = task.generate(512, generator=_gen(1))
    with torch.no_grad():
        outputs, _ = module(inputs)
    assert float(task.evaluate(outputs, targets, mask, c)["accuracy"]) >= 0.95


# ---------------------------------------------------------------------- configs
def _target(path: Path) -> float:
    match = re.search(r"Target: accuracy ≥ ([0-9.]+)", path.read_text())
    assert match, f"{path.name} states no 'Target: accuracy ≥ X'"
    return float(match.group(1))


def test_there_are_at_least_eight_configs():
    assert len(CONFIGS) >= 8


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_parses(ngym, path, capsys, monkeypatch):
    from torchrate.cli import main

    monkeypatch.setattr(sys, "argv", ["torchrate"])  # pytest's own arguments are not the CLI's
    with pytest.raises(SystemExit) as exit_:
        main(["fit", "--config", str(path), "--print_config"])
    assert exit_.value.code in (0, None)
    printed = capsys.readouterr().out
    assert "torchrate.tasks.NeuroGym" in printed and re.search(r"env_id: [\w.]+-v0", printed)
    assert 0.5 < _target(path) <= 1.0


def test_fit_ends_with_where_the_run_and_its_analysis_are(ngym, tmp_path, capsys, monkeypatch):
    from torchrate.cli import main

    monkeypatch.setattr(sys, "argv", ["torchrate"])
    config = ROOT / "configs" / "neurogym" / "gonogo.yaml"
    main(
        [
            "fit",
            "--config",
            str(config),
            f"--trainer.default_root_dir={tmp_path}",
            "--trainer.enable_progress_bar=false",
            "--trainer.max_epochs=1",
            "--data.train_batches=5",
            "--data.val_trials=64",
            "--data.test_trials=64",
        ]
    )
    last = capsys.readouterr().out.strip().splitlines()[-5:]
    summary = json.loads((tmp_path / "analysis" / "summary.json").read_text())
    assert last[0] == f"run directory: {tmp_path}"
    assert last[1].startswith(f"checkpoints:   {tmp_path / 'checkpoints'}")
    assert last[2].startswith(f"analysis:      {tmp_path / 'analysis'} (summary.json")
    assert last[3] == f"held-out:      accuracy = {summary['metrics']['accuracy']:.4g}"
    kinds = ", ".join(f"{n} {k}" for k, n in summary["fixed_points"]["by_kind"].items())
    assert last[4] == f"fixed points at u = 0: {kinds}"


@pytest.mark.parametrize(
    "env_id, metric",
    [
        ("ReadySetGo-v0", "accuracy"),  # no "decision" period
        ("ReachingDelayResponse-v0", "mse"),
    ],
)  # continuous actions
def test_fit_through_the_cli_on_environments_refused_before(ngym, env_id, metric, tmp_path, monkeypatch):
    from torchrate.cli import main

    monkeypatch.setattr(sys, "argv", ["torchrate"])
    config = ROOT / "configs" / "neurogym" / "gonogo.yaml"  # its network and trainer, another environment
    main(
        [
            "fit",
            "--config",
            str(config),
            f"--trainer.default_root_dir={tmp_path}",
            "--trainer.enable_progress_bar=false",
            "--trainer.max_epochs=1",
            f"--data.task.init_args.env_id={env_id}",
            "--data.batch_size=16",
            "--data.train_batches=4",
            "--data.val_trials=32",
            "--data.test_trials=32",
        ]
    )
    summary = json.loads((tmp_path / "analysis" / "summary.json").read_text())
    assert summary["task"]["init_args"]["env_id"] == env_id and summary["task"]["init_args"]["decision_period"] is None
    assert math.isfinite(summary["metrics"][metric])
    assert (tmp_path / "analysis" / "task_metric.png").is_file()
    module = tr.training.TaskModule.load_from_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    assert module.task.response_periods == tr.tasks.NeuroGym(env_id).response_periods
    assert module.loss_fn is {"accuracy": tr.training.masked_cross_entropy, "mse": tr.training.masked_mse}[metric]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gonogo", "perceptual_decision_making", "context_decision_making"])
def test_config_trains_to_target(ngym, name, tmp_path, monkeypatch):
    from torchrate.cli import main

    monkeypatch.setattr(sys, "argv", ["torchrate"])
    path = ROOT / "configs" / "neurogym" / f"{name}.yaml"
    main(
        ["fit", "--config", str(path), f"--trainer.default_root_dir={tmp_path}", "--trainer.enable_progress_bar=false"]
    )
    summary = json.loads((tmp_path / "analysis" / "summary.json").read_text())
    assert summary["metrics"]["accuracy"] >= _target(path)
    assert math.isfinite(summary["fixed_points"]["max_residual"] or 0.0)
