"""TaskModule weight structure for PsychRNN users: a Dale's-law readout (excitatory units only,
weights ≥ 0), connectivity masks on any weight, and fixed (non-trainable) weights or entries —
each exact after optimiser steps (Adam with weight decay), and restored from a checkpoint."""

from copy import deepcopy

import lightning as L
import pytest
import torch

import torchrate as tr
from torchrate.training import TaskDataModule, TaskModule

TASK = tr.tasks.PerceptualDecision(dt=20.0, fixation=40.0, stimulus=100.0, decision=60.0)
EI = {
    "class_path": "torchrate.EIRateRNN",
    "init_args": {"n_exc": 6, "n_inh": 2, "tau_e": 40.0, "tau_i": 40.0, "dt": 20.0},
}


def quiet_trainer(**kw):
    """A Lightning Trainer without logger, checkpoints, progress bar or model summary."""
    return L.Trainer(
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, **kw
    )


def train(module, steps: int = 5):
    """``steps`` Adam steps with weight decay (which moves every raw parameter it can)."""
    opt = torch.optim.Adam(module.parameters(), lr=0.05, weight_decay=0.1)
    (x, y, m), _ = TASK.generate(16, generator=torch.Generator().manual_seed(0))
    for _ in range(steps):
        outputs, rates = module(x)
        loss = module.loss(outputs, rates, y, m)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_an_excitatory_readout_reads_e_units_only_with_non_negative_weights():
    module = TaskModule(TASK, EI, readout="excitatory", network_seed=0)
    before = module.readout.weight.detach().clone()
    train(module)
    W = module.readout.weight.detach()
    assert not torch.equal(W, before)  # the control: it trained
    assert (W[:, :6] >= 0).all() and (W[:, 6:] == 0).all() and not W.signbit().any()
    # the outputs do not change when the inhibitory rates do
    rates = torch.rand(5, 3, 8)
    changed = rates.clone()
    changed[..., 6:] += 10.0
    assert torch.equal(module.readout(rates), module.readout(changed))


def test_masks_keep_input_and_output_entries_exactly_zero():
    m_in = torch.rand(8, 3, generator=torch.Generator().manual_seed(1)) > 0.5
    m_out = torch.tensor([[True] * 4 + [False] * 4, [False] * 4 + [True] * 4])
    module = TaskModule(
        TASK,
        {"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": 8, "dt": 20.0, "tau": 40.0}},
        masks={"network.weight_ih_l0": m_in, "readout.weight": m_out},
        network_seed=0,
    )
    train(module)
    W, W_out = module.network.W.detach(), module.readout.weight.detach()
    assert (W[~m_in] == 0).all() and (W[m_in] != 0).all()
    assert (W_out[~m_out] == 0).all() and (W_out[m_out] != 0).all()


def test_fixed_weights_and_entries_keep_their_initial_values_under_dale_and_weight_decay():
    fixed_hh = torch.zeros(8, 8, dtype=torch.bool)
    fixed_hh[:, :3] = True  # the outgoing weights of units 0–2
    module = TaskModule(
        TASK,
        EI,
        fixed={"network.weight_ih_l0": True, "network.weight_hh_l0": fixed_hh, "readout.bias": True},
        network_seed=0,
    )
    W0, M0, b0 = (t.detach().clone() for t in (module.network.W, module.network.M, module.readout.bias))
    train(module)
    net = module.network
    assert torch.equal(net.W, W0) and torch.equal(module.readout.bias, b0)
    assert torch.equal(net.M[fixed_hh], M0[fixed_hh]) and not torch.equal(net.M[~fixed_hh], M0[~fixed_hh])
    assert (net.M[:, :6] >= 0).all() and (net.M[:, 6:] <= 0).all()  # Dale's law still holds


def test_a_refused_assignment_leaves_the_fixed_entries_as_they_were():
    """Assigning a weight that breaks Dale's law raises; the fixed entries' values changed anyway
    (Frozen, the outermost, took them before Dale's check ran), so Dale's law was broken from then on."""
    fixed_hh = torch.zeros(8, 8, dtype=torch.bool)
    fixed_hh[0] = True
    module = TaskModule(TASK, EI, fixed={"network.weight_hh_l0": fixed_hh}, network_seed=0)
    net = module.network
    M0 = net.M.detach().clone()
    bad = M0.clone()
    bad[0, 0] = -5.0  # unit 0 is excitatory: its column must be ≥ 0
    with pytest.raises(ValueError, match="breaks Dale's law"), torch.no_grad():
        net.weight_hh_l0 = bad
    assert torch.equal(net.M, M0)
    good = M0.clone()
    good[0, 0] = 0.5
    with torch.no_grad():
        net.weight_hh_l0 = good
    assert torch.equal(net.M, good)  # an accepted weight is the new fixed value
    train(module, steps=2)
    assert net.M[0, 0] == 0.5 and (net.M[:, :6] >= 0).all()
    copy = deepcopy(module).double()  # its checks are the copy's own constraints
    with pytest.raises(ValueError, match="breaks Dale's law"), torch.no_grad():
        copy.network.weight_hh_l0 = bad.double()
    assert torch.equal(copy.network.M, net.M.detach().double())


def _constrained():
    """An E–I module with every kind of constraint: an excitatory readout, a mask on it, a fixed W."""
    mask = torch.rand(2, 8, generator=torch.Generator().manual_seed(2)) > 0.3
    module = TaskModule(
        TASK,
        EI,
        readout="excitatory",
        masks={"readout.weight": mask},
        fixed={"network.weight_ih_l0": True},
        network_seed=0,
    )
    return module, mask


def test_constraints_round_trip_through_a_checkpoint(tmp_path):
    module, mask = _constrained()
    trainer = quiet_trainer(max_steps=3, default_root_dir=tmp_path)
    trainer.fit(module, TaskDataModule(TASK, batch_size=8, train_batches=3, val_trials=8, test_trials=8))
    trainer.save_checkpoint(tmp_path / "c.ckpt")
    loaded, _ = tr.training.load_checkpoint(tmp_path / "c.ckpt")
    for name in ("readout.weight", "readout.bias", "network.weight_ih_l0", "network.weight_hh_l0"):
        owner, _, attr = name.rpartition(".")
        a = getattr(module.get_submodule(owner), attr)
        assert torch.equal(a, getattr(loaded.get_submodule(owner), attr)), name
    assert (loaded.readout.weight[~(mask & (loaded.network.sign > 0))] == 0).all()


@pytest.mark.parametrize(
    "key, saved_value, message",
    [
        ("readout", "all", r"readout: checkpoint all, config excitatory"),
        ("masks", None, r"masks: checkpoint None, config \{'readout\.weight': \[\[(True|False), "),
        ("masks", "other", r"masks\.readout\.weight: checkpoint \[\[(True|False), .*config \[\[(True|False), "),
        ("fixed", None, r"fixed: checkpoint None, config \{'network\.weight_ih_l0': True\}"),
        (
            "fixed",
            {"network.weight_hh_l0": True},
            r"fixed: checkpoint \{'network\.weight_hh_l0': True\}, config \{'netw",
        ),
        ("ensemble", 2, r"ensemble: checkpoint 2, config None"),
        ("network_seed", 1, r"network_seed: checkpoint 1, config 0"),
        ("network_seed", None, r"network_seed: checkpoint None, config 0"),
    ],
)
def test_a_checkpoint_with_another_readout_masks_fixed_weights_or_members_is_refused(key, saved_value, message):
    module, mask = _constrained()
    saved = dict(module.hparams)
    saved[key] = {"readout.weight": ~mask} if saved_value == "other" else saved_value
    with pytest.raises(ValueError, match=rf"disagree with the configuration: {message}.*start a new run"):
        module.on_load_checkpoint({"hyper_parameters": saved})


def test_a_checkpoint_that_agrees_or_predates_an_argument_loads():
    module, mask = _constrained()
    module.on_load_checkpoint({"hyper_parameters": dict(module.hparams)})  # the control: no difference
    saved = {**module.hparams, "masks": {"readout.weight": mask.tolist()}}  # as YAML writes it: same mask
    module.on_load_checkpoint({"hyper_parameters": saved})
    older = {k: v for k, v in module.hparams.items() if k not in ("masks", "fixed", "readout")}  # absent: not compared
    module.on_load_checkpoint({"hyper_parameters": older})


def test_a_trainer_refuses_a_checkpoint_whose_masks_would_replace_the_modules(tmp_path):
    # the masks are buffers of the state dict: before, validate(ckpt_path=…) of a module built with
    # mask B silently evaluated the checkpoint's mask A
    net = {"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": 8, "dt": 20.0, "tau": 40.0}}
    mask = torch.rand(2, 8, generator=torch.Generator().manual_seed(3)) > 0.5
    data = TaskDataModule(TASK, batch_size=8, train_batches=2, val_trials=8, test_trials=8)

    def bare():
        return quiet_trainer(max_steps=2, default_root_dir=tmp_path)

    first = bare()
    first.fit(TaskModule(TASK, net, masks={"readout.weight": mask}, network_seed=0), data)
    first.save_checkpoint(tmp_path / "a.ckpt")
    other = TaskModule(TASK, net, masks={"readout.weight": ~mask}, network_seed=0)
    with pytest.raises(ValueError, match=r"masks\.readout\.weight: checkpoint \[\[(True|False)"):
        bare().validate(other, data, ckpt_path=tmp_path / "a.ckpt")
    assert torch.equal(other.readout.parametrizations.weight[0].mask, ~mask)  # its own mask, untouched
    same = TaskModule(TASK, net, masks={"readout.weight": mask}, network_seed=0)
    bare().validate(same, data, ckpt_path=tmp_path / "a.ckpt")  # the control: the same config loads


def test_load_from_checkpoint_refuses_overrides_of_what_the_weights_define(tmp_path):
    # an override is merged before the module is built, so the comparison with the checkpoint cannot
    # see it; the state dict then replaced the overridden masks (buffers) with the checkpoint's, and
    # the module said masks=B while running A's
    module, mask = _constrained()
    trainer = quiet_trainer()
    trainer.strategy.connect(module)
    trainer.save_checkpoint(tmp_path / "c.ckpt")
    path = tmp_path / "c.ckpt"
    network = module.hparams["network"]
    refused = {
        "masks": {"readout.weight": ~mask},
        "fixed": None,
        "readout": "all",
        "network_seed": 1,
        "network": {**network, "init_args": {**network["init_args"], "tau_e": 50.0}},
    }
    for key, value in refused.items():
        with pytest.raises(ValueError, match=rf"overrides what its weights define: {key}[.:].*override only the task"):
            TaskModule.load_from_checkpoint(path, **{key: value})
    # the training settings, the task, and a model argument equal to the checkpoint's may be given
    loaded = TaskModule.load_from_checkpoint(path, lr=1e-4, masks={"readout.weight": mask.tolist()}, task=TASK)
    assert loaded.hparams["lr"] == 1e-4
    assert loaded.state_dict().keys() == module.state_dict().keys()
    assert all(torch.equal(v, module.state_dict()[k]) for k, v in loaded.state_dict().items())
