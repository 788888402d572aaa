"""export_weights / ``torchrate export``: the .npz holds the module's effective weights exactly,
and a NumPy Euler step (and a whole rollout) written from it alone is the network's."""

import lightning as L
import numpy as np
import pytest
import torch

import torchrate as tr
from torchrate.cli import main
from torchrate.training import TaskDataModule, TaskModule, export_weights

F64 = torch.float64
TASK = tr.tasks.PerceptualDecision(dt=20.0, fixation=40.0, stimulus=100.0, decision=60.0)
NUMPY_F = {"tanh": np.tanh, "relu": lambda x: np.maximum(x, 0.0)}


def rate_module(dtype=F64, **kw):
    module = TaskModule(
        TASK,
        {
            "class_path": "torchrate.RateRNN",
            "init_args": {"hidden_size": 12, "tau": 50.0, "dt": 20.0, "train_tau": True},
        },
        network_seed=0,
        **kw,
    )
    return module.to(dtype)


def ei_module(**kw):
    fixed = torch.zeros(10, 10, dtype=torch.bool)
    fixed[:2] = True
    m_in = torch.rand(10, 3, generator=torch.Generator().manual_seed(0)) > 0.4
    module = TaskModule(
        TASK,
        {
            "class_path": "torchrate.EIRateRNN",
            "init_args": {"n_exc": 8, "n_inh": 2, "tau_e": 40.0, "tau_i": 20.0, "dt": 20.0},
        },
        network_seed=0,
        readout="excitatory",
        masks={
            "network.weight_ih_l0": m_in,
            "network.bias_l0": torch.arange(10) % 3 != 0,
            "readout.bias": torch.tensor([True, False]),
        },
        fixed={"network.weight_hh_l0": fixed},
        **kw,
    )
    with torch.no_grad():  # a non-zero bias, so that b is checked too
        module.network.bias_l0.copy_(torch.linspace(-0.1, 0.2, 10))
    return module.to(F64)


def numpy_step(z, v, u):
    """One Euler step from the .npz alone: v + dt/τ (−v + F(W_in u + W_rec v + b))."""
    F = NUMPY_F[str(z["nonlinearity"])]
    return v + z["dt"] / z["tau"] * (-v + F(u @ z["W_in"].T + v @ z["W_rec"].T + z["b"]))


@pytest.mark.parametrize("make", [rate_module, ei_module], ids=["RateRNN tanh", "EIRateRNN relu, constrained"])
def test_the_npz_holds_the_effective_weights_exactly(make, tmp_path):
    module = make()
    path = export_weights(module, tmp_path / "w.npz")
    z = np.load(path)  # no allow_pickle: plain arrays and strings only
    net = module.network
    expected = {
        "W_in": net.W,
        "W_rec": net.M,
        "b": net.b,
        "tau": net.tau.expand(net.hidden_size),
        "W_out": module.readout.weight,
        "b_out": module.readout.bias,
    }
    for key, value in expected.items():
        assert torch.equal(torch.from_numpy(z[key]), value.detach()), key
    assert z["W_rec"].dtype == np.float64 and float(z["dt"]) == 20.0 and str(z["equation"]).startswith("tau dv/dt")
    if make is ei_module:
        assert z["dale_sign"].tolist() == [1] * 8 + [-1] * 2
        assert torch.equal(torch.from_numpy(z["input_mask"]), net.parametrizations.weight_ih_l0[1].mask.cpu())
        assert (z["W_in"][~z["input_mask"]] == 0).all()
        assert z["b_mask"].tolist() == [i % 3 != 0 for i in range(10)] and (z["b"][~z["b_mask"]] == 0).all()
        assert z["b_out_mask"].tolist() == [True, False] and z["b_out"][1] == 0
        assert z["output_mask"][:, 8:].sum() == 0 and z["output_mask"][:, :8].all() and (z["W_out"] >= 0).all()
        assert z["W_rec_fixed"][:2].all() and not z["W_rec_fixed"][2:].any() and not z["W_in_fixed"].any()
        assert (z["W_rec"][:, :8] >= 0).all() and (z["W_rec"][:, 8:] <= 0).all()
        assert z["tau"].tolist() == [40.0] * 8 + [20.0] * 2
    else:
        assert (z["dale_sign"] == 0).all() and z["rec_mask"].all() and not z["W_out_fixed"].any()
        assert z["b_mask"].all() and z["b_out_mask"].all()


@pytest.mark.parametrize("make", [rate_module, ei_module], ids=["RateRNN tanh", "EIRateRNN relu, constrained"])
def test_a_numpy_euler_step_from_the_npz_is_the_networks_step(make, tmp_path):
    module = make()
    z = np.load(export_weights(module, tmp_path / "w.npz"))
    g = torch.Generator().manual_seed(1)
    v, u = (
        torch.rand(5, 10 if make is ei_module else 12, generator=g, dtype=F64),
        torch.randn(5, 3, generator=g, dtype=F64),
    )
    with torch.no_grad():
        step = module.network.step(v, u).numpy()
        y = module.readout(module.network.step(v, u)).numpy()
    ours = numpy_step(z, v.numpy(), u.numpy())
    np.testing.assert_allclose(ours, step, rtol=0, atol=1e-14)  # float64: rounding only
    np.testing.assert_allclose(ours @ z["W_out"].T + z["b_out"], y, rtol=0, atol=1e-14)
    # and a whole trial: the NumPy loop against the fused rollout and the readout
    (x, _, _), _ = TASK.generate(4, generator=torch.Generator().manual_seed(2), dtype=F64)
    with torch.no_grad():
        outputs, rates = module(x)
    v = np.zeros((4, rates.shape[-1]))
    for t in range(x.shape[0]):
        v = numpy_step(z, v, x[t].numpy())
    np.testing.assert_allclose(v, rates[-1].numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(v @ z["W_out"].T + z["b_out"], outputs[-1].numpy(), rtol=0, atol=1e-12)


def test_float32_network_exports_float32_and_a_bare_network_has_no_readout(tmp_path):
    module = rate_module(dtype=torch.float32)
    z = np.load(export_weights(module, tmp_path / "w32"))  # .npz appended
    assert z["W_rec"].dtype == np.float32 and (tmp_path / "w32.npz").exists()
    z = np.load(export_weights(module.network, tmp_path / "net.npz"))
    assert "W_out" not in z and torch.equal(torch.from_numpy(z["W_rec"]), module.network.M.detach())


def test_export_from_a_checkpoint_and_from_the_command_line(tmp_path):
    module = ei_module().float()  # the data module's trials are float32
    trainer = L.Trainer(
        max_steps=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, TaskDataModule(TASK, batch_size=8, train_batches=2, val_trials=8, test_trials=8))
    trainer.save_checkpoint(tmp_path / "run.ckpt")
    a = np.load(export_weights(module, tmp_path / "a.npz"))
    b = np.load(export_weights(tmp_path / "run.ckpt", tmp_path / "b.npz"))
    assert main(["export", str(tmp_path / "run.ckpt"), "--out", str(tmp_path / "c.npz")]) == 0
    c = np.load(tmp_path / "c.npz")
    assert sorted(a.files) == sorted(b.files) == sorted(c.files)
    for key in a.files:
        assert np.array_equal(a[key], b[key]) and np.array_equal(a[key], c[key]), key


def test_a_network_without_a_bias_exports_b_as_zeros_that_may_not_change(tmp_path):
    z = np.load(export_weights(tr.RateRNN(3, 5, bias=False), tmp_path / "nobias.npz"))
    assert (z["b"] == 0).all() and not z["b_mask"].any() and z["b_mask"].shape == (5,)
