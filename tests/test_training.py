"""TaskModule / TaskDataModule: losses against closed forms, plain hyper-parameters, seeded
splits, exact kill-and-resume, and training to target on the four tasks."""

import json
import math

import lightning as L
import pytest
import torch

import torchrate as tr
from torchrate.tasks import FlipFlop, Integration, PerceptualDecision, WinnerTakeAll
from torchrate.training import (
    AnalysisCallback,
    RunCheckpoint,
    TaskDataModule,
    TaskModule,
    masked_cross_entropy,
    masked_mse,
)


def rnn(hidden_size, dt, **kw):
    return {"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": hidden_size, "dt": dt, **kw}}


def trainer(root, max_epochs, callbacks=(), **kw):
    return L.Trainer(
        max_epochs=max_epochs,
        default_root_dir=root,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=list(callbacks),
        **kw,
    )


@pytest.fixture(autouse=True)
def _one_thread():
    # small matrices: one thread is fastest, and leaves the other core to the other tests
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- losses
def test_masked_mse_closed_form():
    outputs = torch.tensor([[[1.0, 2.0]], [[3.0, 5.0]]], dtype=torch.float64)  # (T=2, B=1, O=2)
    targets = torch.zeros_like(outputs)
    mask = torch.tensor([[[1.0, 0.0]], [[1.0, 1.0]]], dtype=torch.float64)
    assert masked_mse(outputs, targets, mask).item() == (1 + 9 + 25) / 3


def test_masked_cross_entropy_closed_form():
    # logits (0, log 3): softmax (1/4, 3/4); target class 1 → −log(3/4); class 0 → log 4
    logits = torch.tensor([[[0.0, math.log(3.0)], [0.0, math.log(3.0)], [5.0, -5.0]]], dtype=torch.float64)
    targets = torch.tensor([[[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]]], dtype=torch.float64)
    mask = torch.tensor([[[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]]], dtype=torch.float64)
    expected = (-math.log(0.75) + math.log(4.0)) / 2
    assert masked_cross_entropy(logits, targets, mask).item() == pytest.approx(expected, rel=1e-15)
    # agrees with torch's cross_entropy on class indices
    ref = torch.nn.functional.cross_entropy(logits[0, :2], torch.tensor([1, 0]))
    assert masked_cross_entropy(logits, targets, mask).item() == pytest.approx(ref.item(), rel=1e-15)


def test_penalties_add_exactly():
    task = FlipFlop(n_bits=2, dt=10.0, duration=100.0)
    plain = TaskModule(task, rnn(8, 10.0))
    module = TaskModule(task, rnn(8, 10.0), rate_l2=0.3, weight_l2=0.7)
    module.load_state_dict(plain.state_dict())
    inputs, targets, mask = task.sample(4, generator=torch.Generator().manual_seed(0))
    outputs, rates = module(inputs)
    total, task_loss = module.loss(outputs, rates, targets, mask)
    net = module.network
    expected = (
        masked_mse(outputs, targets, mask)
        + 0.3 * rates.pow(2).mean()
        + 0.7 * (net.M.pow(2).mean() + net.W.pow(2).mean())
    )
    assert torch.equal(task_loss, masked_mse(outputs, targets, mask))
    torch.testing.assert_close(total, expected, rtol=1e-6, atol=0)


# ----------------------------------------------------------------------------- module
def test_module_shapes_and_plain_hyperparameters(tmp_path):
    task = PerceptualDecision()
    module = TaskModule(task.config(), rnn(16, 20.0), lr=3e-3)
    assert isinstance(module.task, PerceptualDecision) and module.task.config() == task.config()
    outputs, rates = module(torch.zeros(task.n_steps, 5, 3))
    assert outputs.shape == (task.n_steps, 5, 2) and rates.shape == (task.n_steps, 5, 16)
    torch.save(dict(module.hparams), tmp_path / "h.pt")
    loaded = torch.load(tmp_path / "h.pt", weights_only=True)  # only plain types
    assert loaded["network"] == rnn(16, 20.0) and loaded["task"] == task.config() and loaded["lr"] == 3e-3


def test_module_accepts_an_ei_network():
    spec = {"class_path": "torchrate.EIRateRNN", "init_args": {"n_exc": 12, "n_inh": 4, "dt": 10.0}}
    module = TaskModule(FlipFlop(), spec)
    assert isinstance(module.network, tr.EIRateRNN) and module.network.hidden_size == 16
    assert module.network.input_size == 3


@pytest.mark.parametrize(
    "network, error, match",
    [
        (
            rnn(8, 1.0),
            ValueError,
            r"network's dt \(1 ms\) must equal the task's dt \(10 ms\): set network init_args dt: 10",
        ),
        (
            {"class_path": "torchrate.tasks.FlipFlop", "init_args": {}},
            TypeError,
            r"is not a torchrate.networks.RateRNN",
        ),
        ({"class_path": "torchrate.NoSuchNet"}, ImportError, r"cannot import 'torchrate.NoSuchNet'"),
        ({"class_path": "torchrate.RateRNN", "init_args": {"hiden_size": 8}}, TypeError, r"hiden_size"),
        ({"class_path": "torchrate.RateRNN", "init": {}}, TypeError, r"unknown keys \['init'\]"),
        (lambda n: tr.RateRNN(n, 8, dt=10.0), TypeError, r"network must be given as \{'class_path'"),
    ],
)
def test_module_bad_network_raises_clear_errors(network, error, match):
    with pytest.raises(error, match=match):
        TaskModule(FlipFlop(), network)


# ----------------------------------------------------------------------------- data
def test_datamodule_splits_are_seeded_and_disjoint():
    task = FlipFlop(n_bits=2, dt=10.0, duration=100.0)
    dm = TaskDataModule(task, batch_size=8, train_batches=3, val_trials=20, test_trials=16, seed=7)
    train = list(dm.train_dataloader())
    assert len(train) == 3 and train[0][0].shape == (10, 8, 2)
    again = list(TaskDataModule(task, batch_size=8, train_batches=3, seed=7).train_dataloader())
    assert all(torch.equal(a[0], b[0]) for a, b in zip(train, again))
    val, test = list(dm.val_dataloader()), list(dm.test_dataloader())
    assert [b[0].shape[1] for b in val] == [8, 8, 4] and [b[0].shape[1] for b in test] == [8, 8]
    firsts = [train[0][0], train[1][0], val[0][0], test[0][0]]
    assert all(not torch.equal(a, b) for i, a in enumerate(firsts) for b in firsts[i + 1 :])
    other_seed = list(TaskDataModule(task, batch_size=8, train_batches=1, seed=8).train_dataloader())
    assert not torch.equal(other_seed[0][0], train[0][0])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"lr": -1.0}, r"lr must be a finite number ≥ 0, got -1.0"),
        (
            {"grad_clip": 0.0},
            r"grad_clip must be a positive finite number, got 0.0; a gradient norm, or None for no "
            r"clipping",
        ),
    ],
)
def test_module_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TaskModule(FlipFlop(), rnn(8, 10.0), **kwargs)


def test_datamodule_bad_arguments():
    with pytest.raises(ValueError, match=r"batch_size must be an integer ≥ 1, got 0"):
        TaskDataModule(FlipFlop(), batch_size=0)


# ----------------------------------------------------------------------------- resume
class _Crash(L.Callback):
    """Simulates a killed run: raises in the middle of epoch ``epoch``."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.current_epoch == self.epoch and batch_idx == 2:
            raise RuntimeError("killed")


def _fit_flipflop(root, max_epochs, callbacks=(), ckpt_path=None):
    L.seed_everything(0, verbose=False)
    task = FlipFlop(n_bits=2, dt=10.0, duration=100.0)
    module = TaskModule(task, rnn(12, 10.0, tau=20.0, noise_std=0.1), lr=1e-2)
    dm = TaskDataModule(task, batch_size=16, train_batches=4, val_trials=32)
    t = trainer(root, max_epochs, [RunCheckpoint(), *callbacks])
    t.fit(module, dm, ckpt_path=ckpt_path)
    return module, t


def test_kill_and_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    straight, _ = _fit_flipflop(tmp_path / "a", 4)
    with pytest.raises(RuntimeError, match="killed"):
        _fit_flipflop(tmp_path / "b", 4, [_Crash(epoch=2)])
    last = torch.load(tmp_path / "b" / "checkpoints" / "last.ckpt", weights_only=True)
    assert (last["epoch"], last["global_step"]) == (1, 8)  # killed in epoch 2: last.ckpt is epoch 1's
    resumed, t = _fit_flipflop(tmp_path / "b", 4, ckpt_path="last")
    assert t.global_step == 16
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_stop_then_continue_with_more_epochs_matches(tmp_path):
    straight, _ = _fit_flipflop(tmp_path / "a", 3)
    _fit_flipflop(tmp_path / "b", 2)
    resumed, _ = _fit_flipflop(tmp_path / "b", 3, ckpt_path="last")
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_resuming_from_a_checkpoint_saved_mid_epoch_sees_the_rest_of_that_epoch(tmp_path):
    # Lightning restarts the train loader of a resumed epoch but keeps its count of batches: the
    # epoch started again at batch 0: batches 0–1 of epoch 1 were trained on twice and 2–3 never
    from lightning.pytorch.callbacks import ModelCheckpoint

    seen = []

    class Record(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seen.append((trainer.current_epoch, batch_idx, batch[0].numpy().tobytes()))  # the trials themselves

    straight, _ = _fit_flipflop(tmp_path / "a", 3, [Record()])
    uninterrupted, seen[:] = list(seen), []
    every = ModelCheckpoint(dirpath=tmp_path / "steps", every_n_train_steps=3, save_top_k=-1)
    _fit_flipflop(tmp_path / "b", 3, [Record(), every])
    seen.clear()
    resumed, t = _fit_flipflop(tmp_path / "b", 3, [Record()], ckpt_path=tmp_path / "steps" / "epoch=1-step=6.ckpt")
    assert seen[0][:2] == (1, 2) and seen == uninterrupted[6:]  # batch 2 of epoch 1 onwards, the same trials
    assert t.global_step == 12
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def _noisy_decision(network_seed=0):
    task = PerceptualDecision(dt=20.0)
    module = TaskModule(task, rnn(8, 20.0, tau=50.0, noise_std=0.5), network_seed=network_seed)
    return module, TaskDataModule(task, batch_size=16, train_batches=2, val_trials=32, test_trials=48)


def test_test_and_validate_on_their_own_draw_the_noise_a_fit_draws(tmp_path):
    # test never re-seeded the noise (each run scored other noise), and validate on its own used
    # seed 0, not the module's network_seed: a checkpoint's val/loss was not the one its fit logged
    module, data = _noisy_decision(network_seed=3)
    t = trainer(tmp_path, 1, num_sanity_val_steps=0)
    t.fit(module, data)
    logged = float(t.callback_metrics["val/loss"])
    bare = trainer(tmp_path, 1, enable_checkpointing=False)
    assert bare.validate(module, data, verbose=False)[0]["val/loss"] == logged
    loaded = TaskModule.load_from_checkpoint(t.checkpoint_callback.best_model_path)
    assert bare.validate(loaded, data, verbose=False)[0]["val/loss"] == logged
    first, again = (bare.test(loaded, data, verbose=False)[0]["test/loss"] for _ in range(2))
    fresh = trainer(tmp_path, 1, enable_checkpointing=False).test(module, data, verbose=False)[0]["test/loss"]
    assert first == again == fresh
    # and the noise matters: another seed scores otherwise
    other, _ = _noisy_decision(network_seed=4)
    other.load_state_dict(loaded.state_dict(), strict=False)
    other.member_seeds = loaded.member_seeds
    assert bare.test(other, data, verbose=False)[0]["test/loss"] != first


def test_accumulated_batches_each_draw_their_own_noise(tmp_path):
    # every batch of a step of accumulated gradients was driven by the same noise (the key was
    # the step alone); the first batch of a step keeps the key of an unaccumulated run
    draws = []

    class Spy(TaskModule):
        def on_train_batch_start(self, batch, batch_idx):
            super().on_train_batch_start(batch, batch_idx)
            draws.append(torch.randn(8, generator=self.network.generator))

    task = PerceptualDecision(dt=20.0)
    data = TaskDataModule(task, batch_size=8, train_batches=4)
    for accumulate in (2, 1):
        module = Spy(task, rnn(8, 20.0, tau=50.0, noise_std=0.2), network_seed=0)
        trainer(tmp_path, 1, limit_val_batches=0, accumulate_grad_batches=accumulate).fit(module, data)
    accumulated, plain = draws[:4], draws[4:]
    assert len({tuple(d.tolist()) for d in accumulated}) == 4  # four batches, four noises
    # batch 2k of the accumulated run takes step k's noise, as batch k of the plain run does
    assert torch.equal(accumulated[0], plain[0]) and torch.equal(accumulated[2], plain[1])


@pytest.mark.parametrize("batch_size", [1, 8, 64])
def test_validation_and_test_metrics_are_the_whole_sets(tmp_path, batch_size):
    # they were the batch-size-weighted means of the batches' ratios: with batch_size 8 a logged
    # val/accuracy of 0.537 for 0.529 on the set, and NaN with batch_size 1 (a trial at coherence
    # 0 is a batch with no trial to count, 0/0)
    task = PerceptualDecision(dt=20.0)
    module = TaskModule(task, rnn(8, 20.0, tau=50.0), network_seed=0)
    data = TaskDataModule(task, batch_size=batch_size, train_batches=2, val_trials=64, test_trials=40)
    bare = trainer(tmp_path, 1, enable_checkpointing=False)
    logged = bare.validate(module, data, verbose=False)[0] | bare.test(module, data, verbose=False)[0]
    for stage, loader in (("val", data.val_dataloader()), ("test", data.test_dataloader())):
        batches = list(loader)
        inputs, targets, mask = (torch.cat([b[i] for b in batches], 1) for i in range(3))
        conditions = {k: torch.cat([b[3][k] for b in batches]) for k in batches[0][3]}
        with torch.no_grad():
            outputs, _ = module(inputs)
        whole = task.evaluate(outputs, targets, mask, conditions)
        assert logged[f"{stage}/accuracy"] == pytest.approx(float(whole["accuracy"]), abs=1e-7)
        assert logged[f"{stage}/loss"] == pytest.approx(float(masked_cross_entropy(outputs, targets, mask)), rel=1e-6)


def test_batches_of_other_lengths_are_joined_padded_with_unscored_steps():
    from torchrate.training.module import _joined

    a = (torch.ones(3, 2, 1), torch.ones(3, 2, 1), torch.ones(3, 2, 1), {"c": torch.tensor([1.0, 2.0])})
    b = (torch.full((5, 1, 1), 2.0), torch.ones(5, 1, 1), torch.ones(5, 1, 1), {"c": torch.tensor([3.0])})
    outputs, targets, mask, conditions = _joined([a, b])
    assert outputs.shape == targets.shape == mask.shape == (5, 3, 1)
    assert mask[:, :2].sum() == 6 and mask[3:, :2].sum() == 0 and mask[:, 2].sum() == 5  # padding unscored
    assert torch.equal(outputs[:, 2, 0], torch.full((5,), 2.0)) and conditions["c"].tolist() == [1.0, 2.0, 3.0]
    members = _joined([(torch.ones(4, 3, 2, 1), *a[1:]), (torch.ones(4, 5, 1, 1), *b[1:])])[0]
    assert members.shape == (4, 5, 3, 1)  # an ensemble's (K, T, B, O)


def test_every_taskmodule_argument_is_compared_with_a_checkpoint():
    # a new TaskModule argument must be classified: the model's (always compared with --ckpt_path's
    # hyper-parameters) or the optimiser's (compared when a fit resumes), else it is silently overridden
    import inspect

    from torchrate.training.checkpoints import _FIT_HPARAMS, _MODEL_HPARAMS, _compared_hparams

    arguments = set(inspect.signature(TaskModule.__init__).parameters) - {"self"}
    assert set(_MODEL_HPARAMS) | set(_FIT_HPARAMS) == arguments
    assert not set(_MODEL_HPARAMS) & set(_FIT_HPARAMS)
    assert _compared_hparams(fit=False) == _MODEL_HPARAMS
    assert _compared_hparams(fit=True) == _MODEL_HPARAMS + _FIT_HPARAMS


KEYS = ("masks", "fixed", "ensemble", "network_seed", "readout", "grad_clip", "network")


@pytest.mark.parametrize(
    "saved, current, expected",
    [
        # None against a value, either way round, is a difference (it used to be skipped)
        (
            {"masks": None},
            {"masks": {"readout.weight": [[True, False]]}},
            ["masks: checkpoint None, config {'readout.weight': [[True, False]]}"],
        ),
        ({"fixed": {"readout.bias": True}}, {"fixed": None}, ["fixed: checkpoint {'readout.bias': True}, config None"]),
        ({"ensemble": None}, {"ensemble": 3}, ["ensemble: checkpoint None, config 3"]),
        ({"network_seed": 0}, {"network_seed": None}, ["network_seed: checkpoint 0, config None"]),
        ({"grad_clip": 1.0}, {"grad_clip": None}, ["grad_clip: checkpoint 1.0, config None"]),
        (
            {"network": {"init_args": {"tau": None}}},
            {"network": {"init_args": {"tau": 20.0}}},
            ["network.init_args.tau: checkpoint None, config 20.0"],
        ),
        # values on both sides
        ({"readout": "all"}, {"readout": "excitatory"}, ["readout: checkpoint all, config excitatory"]),
        (
            {"masks": {"readout.weight": torch.tensor([[True, False]])}},
            {"masks": {"readout.weight": [[False, True]]}},
            ["masks.readout.weight: checkpoint [[True, False]], config [[False, True]]"],
        ),
        # equal: both None, a tensor and its nested list, 20 and 20.0
        ({"masks": None, "ensemble": None}, {"masks": None, "ensemble": None}, []),
        (
            {"masks": {"readout.weight": torch.tensor([[True, False]])}},
            {"masks": {"readout.weight": [[True, False]]}},
            [],
        ),
        ({"network_seed": 20}, {"network_seed": 20.0}, []),
        # absent on one side (an argument added since the checkpoint was written): not compared, at any depth
        ({}, {"masks": {"readout.weight": [[True]]}, "fixed": None}, []),
        ({"masks": None, "fixed": {"readout.bias": True}}, {}, []),
        ({"network": {"init_args": {"hidden_size": 8}}}, {"network": {"init_args": {"hidden_size": 8, "tau": 5}}}, []),
        # but a dict of masks (not a class's arguments) naming other weights differs
        (
            {"masks": {"readout.weight": [[True]]}},
            {"masks": {"readout.bias": [True]}},
            ["masks: checkpoint {'readout.weight': [[True]]}, config {'readout.bias': [True]}"],
        ),
        (
            {"fixed": {"readout.bias": True}},
            {"fixed": {"readout.bias": True, "network.bias_l0": True}},
            ["fixed: checkpoint {'readout.bias': True}, config {'readout.bias': True, 'network.bias_l0': True}"],
        ),
    ],
)
def test_hparams_differences_reports_none_against_a_value_and_skips_what_one_side_lacks(saved, current, expected):
    from torchrate.training.checkpoints import hparams_differences

    assert hparams_differences(saved, current, KEYS) == expected


def test_hparams_differences_cuts_a_long_value_and_compares_a_list_of_configs_with_an_empty_one():
    from torchrate.training.checkpoints import hparams_differences

    big = torch.ones(16, 16, dtype=torch.bool)
    (diff,) = hparams_differences({"masks": {"network.weight_hh_l0": big}}, {"masks": None}, ("masks",))
    assert diff.startswith("masks: checkpoint {'network.weight_hh_l0': [[True, True,") and diff.endswith(
        "…, config None"
    )
    assert len(diff) < 120
    tasks = [{"class_path": "torchrate.tasks.FlipFlop", "init_args": {"n_bits": 2}}]
    assert hparams_differences({"task": {"init_args": {"tasks": tasks}}}, {"task": {"init_args": {"tasks": []}}}) == [
        "task.init_args.tasks.length: checkpoint 1, config 0"
    ]


def test_a_task_config_is_compared_as_the_task_it_builds():
    # a checkpoint written by `torchrate fit` holds the YAML's task (NeuroGym env_kwargs: null); a
    # module built in Python holds task.config() (env_kwargs {}): the same task, not a difference,
    # while a real difference still is, and an argument the checkpoint lacks stays uncompared
    pytest.importorskip("neurogym")
    from torchrate.training.checkpoints import _hparams_disagreement, hparams_differences
    from torchrate.training.module import as_task

    written = {"class_path": "torchrate.tasks.NeuroGym", "init_args": {"env_id": "GoNogo-v0", "dt": 100.0}}
    written["init_args"]["env_kwargs"] = None
    built = as_task(written).config()
    raw = hparams_differences({"task": written}, {"task": built})
    assert raw == ["task.init_args.env_kwargs: checkpoint None, config {}"]  # the control: as written they differ
    state = torch.random.get_rng_state()
    assert _hparams_disagreement({"task": written}, {"task": built}, fit=False) == []
    assert torch.equal(torch.random.get_rng_state(), state)
    other = json.loads(json.dumps(built))
    other["init_args"].update(dt=50.0, rt_threshold=0.9)
    # written has no rt_threshold (as a checkpoint from before the argument existed): not compared
    assert _hparams_disagreement({"task": written}, {"task": other}, fit=False) == [
        "task.init_args.dt: checkpoint 100.0, config 50.0"
    ]


# ----------------------------------------------------------------------------- training to target
def _train(task, network, tmp_path, epochs, lr=1e-2, batches=50):
    L.seed_everything(0, verbose=False)
    module = TaskModule(task, network, lr=lr)
    dm = TaskDataModule(task, batch_size=64, train_batches=batches, val_trials=256, test_trials=1024)
    t = trainer(
        tmp_path, epochs, [AnalysisCallback(out=str(tmp_path / "analysis"), n_trials=1024)], enable_checkpointing=False
    )
    t.fit(module, dm)
    return json.loads((tmp_path / "analysis" / "summary.json").read_text())


def test_perceptual_decision_reaches_85_percent_on_held_out_trials(tmp_path):
    summary = _train(PerceptualDecision(), rnn(64, 20.0, tau=100.0, noise_std=0.05), tmp_path, epochs=6)
    assert summary["metrics"]["accuracy"] >= 0.85
    assert summary["n_trials"] == 1024
    # the psychometric curve rises from "left" to "right"
    p = summary["curves"]["p_right"]
    assert p[0] <= 0.05 and p[-1] >= 0.95
    for name in ("learning_curves", "task_metric", "spectrum", "fixed_points"):
        assert (tmp_path / "analysis" / f"{name}.png").stat().st_size > 10_000


def test_flipflop_reaches_99_percent_bits_with_exactly_8_stable_fixed_points(tmp_path):
    summary = _train(FlipFlop(n_bits=3, dt=10.0), rnn(64, 10.0, tau=20.0), tmp_path, epochs=10)
    assert summary["metrics"]["bit_accuracy"] >= 0.99
    assert summary["fixed_points"]["stable"] == 8
    assert summary["fixed_points"]["max_residual"] < 1e-20


def test_winner_take_all_reaches_95_percent_above_10_percent_difference(tmp_path):
    # lr 3e-3: at 1e-2 Adam oscillates and 3 of 10 seeds end below 95 % (0.78–0.91); at 3e-3 seeds 0–19 reach ≥ 99.7 %
    summary = _train(WinnerTakeAll(n_inputs=2, dt=10.0), rnn(32, 10.0, tau=20.0), tmp_path, epochs=8, lr=3e-3)
    assert summary["metrics"]["accuracy_above_10pct"] >= 0.95


def test_integration_learns_a_slowly_drifting_integrator(tmp_path):
    task = Integration(dt=10.0, stimulus=300.0, hold=300.0)
    summary = _train(task, rnn(32, 10.0, tau=20.0, nonlinearity="linear"), tmp_path, epochs=6, lr=3e-3)
    # target variance: pulses at 0.2 per step, each moving y by 0.1 → var ≈ 30·0.2·0.01 at the offset
    assert summary["metrics"]["mse"] < 0.1 * 30 * 0.2 * 0.01
    assert summary["metrics"]["drift"] < 0.05


# ----------------------------------------------------------------------------- precision and devices
@pytest.mark.parametrize("grad_clip", [None, 0.01])
def test_float64_training_step_matches_a_hand_written_step(tmp_path, grad_clip):
    """One Lightning step in float64 ("64-true") equals Adam on the same loss by hand,
    with the gradient's global norm clipped to ``grad_clip``."""
    task = FlipFlop(n_bits=2, dt=10.0, duration=100.0)
    L.seed_everything(0, verbose=False)
    module = TaskModule(task, rnn(8, 10.0, tau=20.0), lr=1e-2, grad_clip=grad_clip)
    reference = TaskModule(task, rnn(8, 10.0, tau=20.0), lr=1e-2).double()
    reference.load_state_dict(module.state_dict())
    dm = TaskDataModule(task, batch_size=8, train_batches=1, val_trials=8)
    trainer(tmp_path, 1, precision="64-true", limit_val_batches=0, enable_checkpointing=False).fit(module, dm)
    # the same first batch (epoch 0) from a data module that is not attached to a trainer
    fresh = TaskDataModule(task, batch_size=8, train_batches=1)
    inputs, targets, mask, _ = next(iter(fresh.train_dataloader()))
    optimizer = torch.optim.Adam(reference.parameters(), lr=1e-2)
    outputs, rates = reference(inputs.double())
    reference.loss(outputs, rates, targets.double(), mask.double())[0].backward()
    if grad_clip is not None:
        norm = torch.nn.utils.clip_grad_norm_(reference.parameters(), grad_clip)
        assert norm > 10 * grad_clip  # the clip is active
    optimizer.step()
    assert module.network.M.dtype == torch.float64
    for (name, a), b in zip(module.state_dict().items(), reference.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14, msg=name)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")
def test_fit_and_analysis_on_cuda(tmp_path):
    L.seed_everything(0, verbose=False)
    task = FlipFlop(n_bits=2, dt=10.0, duration=100.0)
    module = TaskModule(task, rnn(16, 10.0, tau=20.0, noise_std=0.05))
    dm = TaskDataModule(task, batch_size=16, train_batches=4, val_trials=32)
    t = L.Trainer(
        max_epochs=2,
        default_root_dir=tmp_path,
        accelerator="gpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        callbacks=[AnalysisCallback(out=str(tmp_path / "a"))],
    )
    t.fit(module, dm)
    assert module.network.M.device.type == "cuda"
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    # chance is 0.5; the same 8 steps on the CPU reach 0.92 (float32, seed 0)
    assert summary["global_step"] == 8 and summary["metrics"]["bit_accuracy"] > 0.75


def test_trainer_fit_leaves_the_global_rng_and_threads_unchanged(tmp_path):
    task = FlipFlop(n_bits=2, dt=10.0, duration=100.0)
    module = TaskModule(task, rnn(8, 10.0, tau=20.0, noise_std=0.05))
    dm = TaskDataModule(task, batch_size=8, train_batches=2, val_trials=8)
    trainer = L.Trainer(
        max_epochs=1,
        default_root_dir=tmp_path,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    torch.manual_seed(1234)
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    trainer.fit(module, dm)
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.get_rng_state(), state)


def test_analysis_functions_leave_the_global_rng_and_threads_unchanged():
    import torchrate as tr

    net = tr.EIRateRNN.from_weights(
        torch.tensor([[1.25, -1.0], [1.0, 0.0]], dtype=torch.float64),
        n_exc=1,
        tau_e=10.0,
        tau_i=50.0,
        b=torch.tensor([10.0, -10.0], dtype=torch.float64),
        dt=0.5,
    )
    u = torch.zeros(2, dtype=torch.float64)
    torch.manual_seed(99)
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    M = net.M.detach()
    tr.analysis.spectrum(M, tau=10.0)
    tr.linear.solve(torch.tensor([[0.0, 0.8], [0.8, 0.0]]), torch.ones(2), [0.0, 10.0], tau=10.0)
    tr.analysis.jacobian(net, torch.tensor([[20.0, 10.0]], dtype=torch.float64), u)
    tr.analysis.find_fixed_points(net, u, torch.tensor([[20.0, 10.0], [5.0, 5.0]], dtype=torch.float64))
    pp = tr.analysis.phase_plane(
        net,
        u,
        (0, 60),
        (0, 40),
        n=3,
        resolution=8,
        initial_states=torch.tensor([[30.0, 20.0]], dtype=torch.float64),
        duration=10.0,
    )
    sw = tr.analysis.sweep(
        lambda t: net if t == 50.0 else net, [50.0], u, initial_states=torch.tensor([[20.0, 10.0]], dtype=torch.float64)
    )
    import matplotlib.pyplot as plt

    open_before = plt.get_fignums()
    tr.plotting.plot_phase_plane(pp), tr.plotting.plot_sweep(sw), tr.plotting.plot_spectrum(tr.analysis.spectrum(M))
    assert plt.get_fignums() == open_before  # no pyplot figure left open
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.get_rng_state(), state)


def test_per_step_shortcuts_change_nothing_they_skip():
    """The shortcuts of a training step (docs/training.md, speed): a batch already on the device is
    passed through as it is, anything else goes to Lightning's default move; RunCheckpoint's cached
    state key is ModelCheckpoint's and follows its settings; Lightning's _current_fx_name is stored
    as a plain attribute, everything else still through nn.Module."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    task = FlipFlop(n_bits=2, dt=10.0, duration=50.0)
    dm = TaskDataModule(task, batch_size=4, seed=0)
    batch = next(iter(dm.train_dataloader()))
    cpu = torch.device("cpu")
    assert dm.transfer_batch_to_device(batch, cpu, 0) is batch
    nested = [batch[0], [batch[1]]]  # not the task's layout: Lightning's walk, equal tensors
    moved = dm.transfer_batch_to_device(nested, cpu, 0)
    assert moved is not nested and torch.equal(moved[1][0], batch[1])
    if torch.cuda.is_available():
        on_gpu = dm.transfer_batch_to_device(batch, torch.device("cuda", 0), 0)
        assert all(t.is_cuda for t in on_gpu[:3]) and all(t.is_cuda for t in on_gpu[3].values())
    ckpt = RunCheckpoint(dirpath=None)
    assert ckpt.state_key == ModelCheckpoint.state_key.fget(ckpt)
    ckpt.monitor, ckpt.mode = "val/loss", "min"
    assert ckpt.state_key == ModelCheckpoint.state_key.fget(ckpt) and "val/loss" in ckpt.state_key
    module = TaskModule(task, {"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": 4, "dt": 10.0}})
    module._current_fx_name = "training_step"
    assert module.__dict__["_current_fx_name"] == "training_step"
    module.extra = torch.nn.Linear(2, 2)  # still registered as a submodule
    assert "extra" in dict(module.named_children())


def test_spectrum_figure_of_an_ei_network_marks_the_stability_of_its_tau_per_neuron(tmp_path, monkeypatch):
    """spectrum.png of a network with a τ per neuron: its linear network τ dv/dt = −v + Mv is stable as
    diag(1/τ)(M − I) is, not as M's eigenvalues are one by one. With slow inhibition (τ_I = 10 τ_E) M's
    eigenvalues 0.75 ± 0.66i (Re λ < 1) were drawn "stable" while summary.json said linear_stable False;
    the figure now draws the eigenvalues of diag(1/τ)(M − I) (0.02 ± 0.01i per ms) against Re λ = 0."""
    from matplotlib.figure import Figure

    from torchrate.training.report import analyze

    task = FlipFlop(n_bits=1, dt=1.0, duration=20.0, pulse_rate=0.2, grace=1.0)
    spec = {"n_exc": 1, "n_inh": 1, "tau_e": 10.0, "tau_i": 100.0, "dt": 1.0, "nonlinearity": "tanh"}
    module = TaskModule(task, {"class_path": "torchrate.EIRateRNN", "init_args": spec}, network_seed=0)
    with torch.no_grad():
        module.network.weight_hh_l0 = torch.tensor([[1.5, -1.0], [1.0, 0.0]])  # E → E 1.5, I → I 0
    saved: dict[str, Figure] = {}
    monkeypatch.setattr(Figure, "savefig", lambda fig, path, **kwargs: saved.__setitem__(str(path)[-12:], fig))
    summary = analyze(module, tmp_path, n_trials=8, n_initial=8, progress=False)
    assert summary["spectrum"]["max_real"] == pytest.approx(0.75) and not summary["spectrum"]["linear_stable"]
    ax = saved["spectrum.png"].axes[0]
    drawn = {c.get_label(): c.get_offsets().tolist() for c in ax.collections if len(c.get_offsets())}
    assert list(drawn) == ["unstable"]
    assert sum(sorted(drawn["unstable"]), []) == pytest.approx([0.02, -0.01, 0.02, 0.01])
    assert ax.get_xlabel() == "Re λ (1/ms)"
