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
    code = ("import sys; sys.modules['neurogym'] = None; import torchrate as tr; "
            "assert 'NeuroGym' in tr.tasks.__all__; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


# ---------------------------------------------------------------------- shapes and sizes
@pytest.mark.parametrize("env_id, sizes", [("GoNogo-v0", (3, 2)), ("PerceptualDecisionMaking-v0", (3, 3)),
                                           ("DelayComparison-v0", (2, 3))])
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


# ---------------------------------------------------------------------- errors
def test_errors_name_the_argument(ngym):
    with pytest.raises(ValueError, match="env_id must name a NeuroGym environment, got 'Nope-v0'"):
        tr.tasks.NeuroGym("Nope-v0")
    with pytest.raises(ValueError, match=r"NeuroGym\('GoNogo-v0', dt=...\), not in env_kwargs"):
        tr.tasks.NeuroGym("GoNogo-v0", env_kwargs={"dt": 20})
    with pytest.raises(ValueError, match=r"loss_on must be one of \('decision', 'all'\), got 'fixation'"):
        tr.tasks.NeuroGym("GoNogo-v0", loss_on="fixation")
    with pytest.raises(ValueError, match=r"decision_period must name a period of ReadySetGo-v0; expected one of "
                                         r"\['fixation', 'measure', 'production', 'ready', 'set'\]"):
        tr.tasks.NeuroGym("ReadySetGo-v0")
    with pytest.raises(ValueError, match="DawTwoStep-v0 does not build its observations"):
        tr.tasks.NeuroGym("DawTwoStep-v0")
    with pytest.raises(TypeError, match="env_kwargs .* do not fit GoNogo-v0"):
        tr.tasks.NeuroGym("GoNogo-v0", env_kwargs={"coherence": 3})
    with pytest.raises(ValueError, match="rt_threshold must be a probability in"):
        tr.tasks.NeuroGym("GoNogo-v0", rt_threshold=0.3)


@pytest.mark.parametrize("env_kwargs, pattern", [
    ({"sigma": math.nan}, r"env_kwargs\['sigma'\] must be a finite number, got nan"),
    ({"sigma": np.float64(math.inf)}, r"env_kwargs\['sigma'\] must be a finite number, got inf"),
    ({"cohs": np.array([6.4, math.nan])}, r"env_kwargs\['cohs'\]\[1\] must be a finite number"),
    ({"timing": {"fixation": math.nan}}, r"env_kwargs\['timing'\]\['fixation'\] must be a finite number"),
    ({"timing": {"fixation": -500}}, r"env_kwargs\['timing'\]\['fixation'\] must be a duration ≥ 0 ms, got -500"),
    ({"timing": {"stimulus": ("uniform", (-100, 200))}}, r"\['stimulus'\]\[1\]\[0\] must be a duration ≥ 0 ms"),
    ({"timing": {"decision": 0}}, r"timing\['decision'\] must last at least one step \(dt = 100 ms\).*all-zero "
                                  r"loss mask"),
    ({"timing": {"decision": 50}}, r"timing\['decision'\] must last at least one step"),  # floored to 0 steps
])
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
    plain = tr.tasks.NeuroGym("PerceptualDecisionMaking-v0", dt=100,
                              env_kwargs={"sigma": 0.5, "cohs": [6.4, 51.2], "timing": {"decision": 200}})
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


# ---------------------------------------------------------------------- training
def test_short_gonogo_training_reaches_95_percent(ngym):
    """200 Adam steps of a 64-unit rate network on GoNogo (a few seconds)."""
    task = tr.tasks.NeuroGym("GoNogo-v0", dt=100)
    torch.manual_seed(0)  # the readout's initialisation (nn.Linear draws from the global RNG)
    module = tr.training.TaskModule(task, {"class_path": "torchrate.RateRNN", "init_args": {
        "hidden_size": 64, "tau": 200.0, "dt": 100.0, "nonlinearity": "tanh"}})
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
    assert "torchrate.tasks.NeuroGym" in printed and re.search(r"env_id: \w+-v0", printed)
    assert 0.5 < _target(path) <= 1.0


def test_fit_ends_with_where_the_run_and_its_analysis_are(ngym, tmp_path, capsys, monkeypatch):
    from torchrate.cli import main

    monkeypatch.setattr(sys, "argv", ["torchrate"])
    config = ROOT / "configs" / "neurogym" / "gonogo.yaml"
    main(["fit", "--config", str(config), f"--trainer.default_root_dir={tmp_path}",
          "--trainer.enable_progress_bar=false", "--trainer.max_epochs=1",
          "--data.train_batches=5", "--data.val_trials=64", "--data.test_trials=64"])
    last = capsys.readouterr().out.strip().splitlines()[-5:]
    summary = json.loads((tmp_path / "analysis" / "summary.json").read_text())
    assert last[0] == f"run directory: {tmp_path}"
    assert last[1].startswith(f"checkpoints:   {tmp_path / 'checkpoints'}")
    assert last[2].startswith(f"analysis:      {tmp_path / 'analysis'} (summary.json")
    assert last[3] == f"held-out:      accuracy = {summary['metrics']['accuracy']:.4g}"
    kinds = ", ".join(f"{n} {k}" for k, n in summary["fixed_points"]["by_kind"].items())
    assert last[4] == f"fixed points at u = 0: {kinds}"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gonogo", "perceptual_decision_making", "context_decision_making"])
def test_config_trains_to_target(ngym, name, tmp_path, monkeypatch):
    from torchrate.cli import main

    monkeypatch.setattr(sys, "argv", ["torchrate"])
    path = ROOT / "configs" / "neurogym" / f"{name}.yaml"
    main(["fit", "--config", str(path), f"--trainer.default_root_dir={tmp_path}",
          "--trainer.enable_progress_bar=false"])
    summary = json.loads((tmp_path / "analysis" / "summary.json").read_text())
    assert summary["metrics"]["accuracy"] >= _target(path)
    assert math.isfinite(summary["fixed_points"]["max_residual"] or 0.0)
