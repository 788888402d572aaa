"""The ``torchrate`` command: fit / analyze end to end on a tiny config, config errors before
any training, checkpoints that load with ``weights_only=True``, and 2-process CPU DDP."""

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml

from torchrate.cli import main

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

TINY = """
seed_everything: 0
threads: 1
trainer:
  default_root_dir: {root}
  max_epochs: 2
  accelerator: cpu
  devices: 1
  enable_progress_bar: false
  enable_model_summary: false
model:
  network:
    class_path: torchrate.RateRNN
    init_args: {{hidden_size: 8, tau: 20.0, dt: 10.0, noise_std: 0.05}}
  lr: 0.01
data:
  task:
    class_path: torchrate.tasks.FlipFlop
    init_args: {{n_bits: 2, dt: 10.0, duration: 100.0, pulse_rate: 0.02}}
  batch_size: 16
  train_batches: 4
  val_trials: 32
  test_trials: 32
"""


def tiny_config(tmp_path, **replace) -> str:
    text = TINY.format(root=tmp_path / "run")
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "tiny.yaml"
    path.write_text(text)
    return str(path)


@pytest.fixture(autouse=True)
def _restore_threads():
    # the configs set threads: 1 (torch.set_num_threads is process-wide)
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("torchrate ")


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """One tiny ``torchrate fit`` shared by the tests that read its run directory."""
    tmp_path = tmp_path_factory.mktemp("fit")
    threads = torch.get_num_threads()
    main(["fit", "--config", tiny_config(tmp_path)])
    torch.set_num_threads(threads)
    return tmp_path / "run"


def test_fit_writes_the_run_directory(fitted):
    for path in (
        "checkpoints/last.ckpt",
        "checkpoints/epoch=1-step=8.ckpt",
        "logs/version_0/metrics.csv",
        "logs/version_0/config.yaml",
        "logs/version_0/hparams.yaml",
        "analysis/summary.json",
        "analysis/learning_curves.png",
        "analysis/task_metric.png",
        "analysis/spectrum.png",
        "analysis/fixed_points.png",
    ):
        assert (fitted / path).is_file(), path
    # last.ckpt links to the checkpoint just written (one save per epoch, not two)
    assert os.readlink(fitted / "checkpoints" / "last.ckpt") == "epoch=1-step=8.ckpt"
    summary = json.loads((fitted / "analysis" / "summary.json").read_text())
    assert summary["task"]["init_args"]["n_bits"] == 2 and summary["global_step"] == 8
    assert set(summary["metrics"]) == {"mse", "bit_accuracy"}
    fp = summary["fixed_points"]
    assert fp["count"] == sum(fp["by_kind"].values()) and fp["stable"] <= fp["count"]
    # the task is written once, under data:, and linked into the model
    config = yaml.safe_load((fitted / "logs" / "version_0" / "config.yaml").read_text())
    assert config["data"]["task"]["init_args"]["n_bits"] == 2 and "task" not in config["model"]
    hparams = yaml.safe_load((fitted / "logs" / "version_0" / "hparams.yaml").read_text())
    assert hparams["task"]["init_args"] == config["data"]["task"]["init_args"]


def test_checkpoint_loads_with_weights_only_and_holds_plain_hyperparameters(fitted):
    ckpt = torch.load(fitted / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["torchrate"]["module"] == "torchrate.training.module.TaskModule"
    hp = ckpt["hyper_parameters"]
    assert hp["network"]["class_path"] == "torchrate.RateRNN" and hp["network"]["init_args"]["hidden_size"] == 8
    assert hp["task"]["class_path"] == "torchrate.tasks.FlipFlop"  # as written in the YAML
    assert ckpt["datamodule_hyper_parameters"]["batch_size"] == 16


@pytest.mark.parametrize("config", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_configs_build_and_run_a_batch(config, tmp_path):
    """Parsing is not enough: LightningCLI passes every argument it offers (an EIRateRNN once got
    num_layers=1 from RateRNN's signature and refused it), so build each model and run a batch."""
    from torchrate.cli import build_cli
    from torchrate.training.callbacks import _tensorboard_available

    if "TensorBoardLogger" in config.read_text() and not _tensorboard_available():
        pytest.skip("tensorboard (an optional dependency) is not installed: the config is refused, as tested below")
    cli = build_cli(["--config", str(config), "--trainer.default_root_dir", str(tmp_path)], run=False)
    inputs, targets, mask, _ = next(iter(cli.datamodule.val_dataloader()))
    with torch.no_grad():
        outputs, rates = cli.model(inputs[:, :4])
    assert outputs.shape[-1] == targets.shape[-1] and torch.isfinite(rates).all()


@pytest.mark.parametrize("config", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_configs_parse(config, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(config), "--print_config"])
    assert exit_info.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    task, network = printed["data"]["task"], printed["model"]["network"]
    subtasks = task["init_args"].get("tasks") or [task]  # a Multitask: each of its tasks
    if network["class_path"].startswith("torch.nn."):  # a discrete map, one step per bin: no dt of its own
        assert network["class_path"] in ("torch.nn.RNN", "torch.nn.GRU", "torch.nn.LSTM")
        assert "dt" not in network["init_args"]
    else:
        assert {t["init_args"]["dt"] for t in subtasks} == {network["init_args"]["dt"]}  # else refused
    assert printed["trainer"]["default_root_dir"] == f"runs/{config.stem}"


def test_test_subcommand_evaluates_the_last_checkpoint(fitted, tmp_path, capsys):
    config = tiny_config(tmp_path)
    Path(config).write_text(Path(config).read_text().replace(str(tmp_path / "run"), str(fitted)))
    main(["test", "--config", config, "--ckpt_path", "last"])
    accuracy = float(re.search(r"test/bit_accuracy\s*│?\s*([0-9.]+)", capsys.readouterr().out).group(1))
    assert 0.5 < accuracy <= 1.0  # 8 steps of training: better than chance on the 32 test trials


def test_analyze_reproduces_the_end_of_fit_analysis(fitted, tmp_path, capsys):
    assert main(["analyze", str(fitted / "checkpoints" / "last.ckpt"), "--out", str(tmp_path / "a")]) == 0
    assert "fixed points at u = 0" in capsys.readouterr().out
    fit = json.loads((fitted / "analysis" / "summary.json").read_text())
    again = json.loads((tmp_path / "a" / "summary.json").read_text())
    # same weights, same held-out trials (the run's test split), same noise seed: same numbers
    assert again["metrics"] == fit["metrics"]
    assert again["fixed_points"]["by_kind"] == fit["fixed_points"]["by_kind"]
    assert (tmp_path / "a" / "fixed_points.png").is_file()


def test_resume_from_last_continues_the_run(tmp_path, capsys):
    run = tmp_path / "run"
    main(["fit", "--config", tiny_config(tmp_path), "--trainer.max_epochs", "2"])
    first = (run / "analysis" / "summary.json").read_bytes()
    main(["fit", "--config", tiny_config(tmp_path), "--trainer.max_epochs", "3", "--ckpt_path", "last"])
    # the second run's analysis is versioned like its logs: the first one is left as it was
    assert (run / "analysis" / "summary.json").read_bytes() == first
    assert json.loads((run / "analysis-v1" / "summary.json").read_text())["global_step"] == 12
    assert f"analysis:      {run / 'analysis-v1'} (summary.json" in capsys.readouterr().out
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert (ckpt["epoch"], ckpt["global_step"]) == (2, 12)  # 2 epochs restored + 1 more
    history = next(v["history"] for k, v in ckpt["callbacks"].items() if "AnalysisCallback" in k)
    assert [row["epoch"] for row in history] == [0, 1, 2]  # learning curves span the restart


def test_analyze_refuses_a_checkpoint_of_another_model_class(tmp_path):
    L.seed_everything(0, verbose=False)

    class Other(L.LightningModule):
        def __init__(self, width: int = 3):
            super().__init__()
            self.save_hyperparameters()
            self.layer = torch.nn.Linear(width, 1)

    trainer = L.Trainer(logger=False, enable_progress_bar=False, max_epochs=0)
    trainer.strategy.connect(Other())
    trainer.save_checkpoint(tmp_path / "other.ckpt")
    with pytest.raises(
        ValueError,
        match=r"was not written by torchrate.training.module.TaskModule "
        r"\(`torchrate fit`\).*hyper-parameters: \['width'\]",
    ):
        main(["analyze", str(tmp_path / "other.ckpt"), "--out", str(tmp_path / "x")])


def test_analyze_says_when_weights_do_not_fit_the_named_network(fitted, tmp_path):
    ckpt = torch.load(fitted / "checkpoints" / "last.ckpt", weights_only=True)
    ckpt["hyper_parameters"]["network"] = {
        "class_path": "torchrate.EIRateRNN",
        "init_args": {"n_exc": 6, "n_inh": 2, "dt": 10.0},
    }
    torch.save(ckpt, tmp_path / "mixed.ckpt")
    with pytest.raises(
        ValueError,
        match=r"do not fit torchrate.EIRateRNN .*missing \["
        r"'network.parametrizations.weight_hh_l0.0.sign', .*unexpected \["
        r"'network.weight_hh_l0', 'network.weight_ih_l0'\]",
    ):
        main(["analyze", str(tmp_path / "mixed.ckpt"), "--out", str(tmp_path / "x")])


@pytest.mark.parametrize(
    "args, match",
    [
        (["--model.network.init_args.hiden_size", "8"], r"hiden_size"),
        (["--model.network.init_args.hidden_size", "eight"], r"hidden_size"),
        (["--data.batch_sise", "8"], r"batch_sise"),
        (["--model.network.class_path", "torchrate.NoSuchNet"], r"NoSuchNet"),
    ],
)
def test_bad_config_keys_fail_before_training(tmp_path, capsys, args, match):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", tiny_config(tmp_path), *args])
    assert exit_info.value.code != 0
    assert re.search(match, capsys.readouterr().err)
    assert not (tmp_path / "run").exists()  # nothing was trained or written


def test_bad_yaml_key_and_dt_mismatch_fail_before_training(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--config", tiny_config(tmp_path, **{"  lr: 0.01": "  lr: 0.01\n  lrr: 0.1"})])
    assert "lrr" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"network's dt \(20 ms\) must equal the task's dt \(10 ms\)"):
        main(["fit", "--config", tiny_config(tmp_path), "--model.network.init_args.dt", "20.0"])
    assert not (tmp_path / "run").exists()


def test_two_process_cpu_ddp_fit(tmp_path):
    config = tiny_config(tmp_path)
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torchrate.cli",
            "fit",
            "--config",
            config,
            "--trainer.strategy",
            "ddp",
            "--trainer.devices",
            "2",
            "--trainer.accelerator",
            "cpu",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in proc.stderr + proc.stdout
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    # each rank ran 4 batches per epoch (its own trials); the optimizer stepped in lockstep
    assert ckpt["global_step"] == 8
    summary = json.loads((tmp_path / "run" / "analysis" / "summary.json").read_text())
    # chance is 0.5; 8 steps lift it above, as in the one-process test run on the same config
    assert summary["metrics"]["bit_accuracy"] > 0.5


def test_progress_bar_refreshes_every_log_every_n_steps(tmp_path):
    # Lightning's bar redraws every step by default (~0.5 ms per step on 2 CPU cores); torchrate
    # fit redraws it when the logged loss changes, every log_every_n_steps
    from lightning.pytorch.callbacks import TQDMProgressBar

    from torchrate.cli import build_cli

    def bars(*args):
        cli = build_cli(["--config", tiny_config(tmp_path, **{"enable_progress_bar: false": ""}), *args], run=False)
        return [(type(c), c.refresh_rate) for c in cli.trainer.callbacks if isinstance(c, TQDMProgressBar)]

    assert bars() == [(TQDMProgressBar, 50)]  # Lightning's default log_every_n_steps
    assert bars("--trainer.log_every_n_steps", "7") == [(TQDMProgressBar, 7)]
    # a bar of the user's replaces ours; a disabled bar adds none (Lightning refuses both otherwise)
    assert bars("--trainer.callbacks+=TQDMProgressBar", "--trainer.callbacks.refresh_rate", "3") == [
        (TQDMProgressBar, 3)
    ]
    assert bars("--trainer.enable_progress_bar", "false") == []


# ---------------------------------------------------------------------- checkpoints and run directories
class _Exploit:
    """Pickles as a call of os.system: loading it with weights_only=False runs the command."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _copy_run(fitted, tmp_path) -> Path:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(fitted, run, symlinks=True)
    return run


def _rooted_config(tmp_path, run) -> str:
    config = tiny_config(tmp_path)
    Path(config).write_text(Path(config).read_text().replace(str(tmp_path / "run"), str(run)))
    return config


@pytest.mark.parametrize("how", ["last", "file", "weights_only_false", "analyze"])
def test_a_malicious_pickle_is_refused_even_when_the_environment_forces_unsafe_loads(
    fitted, tmp_path, monkeypatch, how
):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    run = _copy_run(fitted, tmp_path)
    marker = tmp_path / "pwned"
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    ckpt["payload"] = _Exploit(marker)
    evil = run / "checkpoints" / "evil.ckpt"
    torch.save(ckpt, evil)
    (run / "checkpoints" / "last.ckpt").unlink()
    os.symlink("evil.ckpt", run / "checkpoints" / "last.ckpt")
    torch.load(evil, weights_only=False)  # the control: an unsafe load runs the payload
    assert marker.exists()
    marker.unlink()
    config = _rooted_config(tmp_path, run)
    args = {
        "last": ["fit", "--config", config, "--trainer.max_epochs", "3", "--ckpt_path", "last"],
        "file": ["fit", "--config", config, "--trainer.max_epochs", "3", "--ckpt_path", str(evil)],
        "weights_only_false": [
            "fit",
            "--config",
            config,
            "--trainer.max_epochs",
            "3",
            "--ckpt_path",
            "last",
            "--weights_only",
            "false",
        ],
        "analyze": ["analyze", str(evil), "--out", str(tmp_path / "a")],
    }[how]
    with pytest.raises(ValueError, match=r"refusing to load checkpoint .*(evil|last)\.ckpt.*weights_only=True"):
        main(args)
    assert not marker.exists()


def _flip_a_tensor_byte(path: Path) -> None:
    """Flip one byte inside the first tensor record of a torch.save zip archive."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if "/data/" in i.filename and i.file_size >= 16)
    data = bytearray(path.read_bytes())
    # the record's data start after its 30-byte local header, name and extra field
    name_len = int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
    data[info.header_offset + 30 + name_len + extra_len + 5] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["fit", "analyze"])
def test_a_corrupted_checkpoint_is_refused_naming_the_file(fitted, tmp_path, how):
    run = _copy_run(fitted, tmp_path)
    target = run / "checkpoints" / "epoch=1-step=8.ckpt"
    _flip_a_tensor_byte(target)
    torch.load(target, weights_only=True)  # the control: torch itself loads it silently
    args = (
        ["fit", "--config", _rooted_config(tmp_path, run), "--trainer.max_epochs", "3", "--ckpt_path", "last"]
        if how == "fit"
        else ["analyze", str(target), "--out", str(tmp_path / "a")]
    )
    with pytest.raises(
        ValueError,
        match=r"checkpoint '.*(epoch=1-step=8|last)\.ckpt' is corrupted: member "
        r"'.*/data/\d+' fails its CRC-32 check",
    ):
        main(args)


_HIDDEN_16 = r"network\.init_args\.hidden_size: checkpoint 8, config 16"


@pytest.mark.parametrize(
    "ckpt, override, key",
    [
        ("file", ["--model.network.init_args.hidden_size", "16"], _HIDDEN_16),
        ("last", ["--model.network.init_args.hidden_size", "16"], _HIDDEN_16),
        ("last", ["--model.network.init_args.tau", "30.0"], r"network\.init_args\.tau: checkpoint 20\.0, config 30\.0"),
        ("file", ["--data.task.init_args.n_bits", "3"], r"task\.init_args\.n_bits: checkpoint 2, config 3"),
        ("last", ["--model.lr", "0.1"], r"lr: checkpoint 0\.01, config 0\.1"),
        ("last", ["--model.grad_clip", "null"], r"grad_clip: checkpoint 1\.0, config None"),
        (
            "file",
            ["--model.fixed", '{"readout.bias": true}'],
            r"fixed: checkpoint None, config \{'readout\.bias': True\}",
        ),
    ],
)
def test_a_checkpoint_config_disagreement_is_refused_naming_the_keys(fitted, tmp_path, ckpt, override, key):
    run = _copy_run(fitted, tmp_path)
    path = "last" if ckpt == "last" else str(run / "checkpoints" / "epoch=1-step=8.ckpt")
    before = (run / "checkpoints" / "epoch=1-step=8.ckpt").read_bytes()
    with pytest.raises(ValueError, match=rf"disagrees? with the configuration: .*{key}"):
        main(
            [
                "fit",
                "--config",
                _rooted_config(tmp_path, run),
                "--trainer.max_epochs",
                "3",
                "--ckpt_path",
                path,
                *override,
            ]
        )
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["epoch=1-step=8.ckpt", "last.ckpt"]
    assert (run / "checkpoints" / "epoch=1-step=8.ckpt").read_bytes() == before


@pytest.mark.parametrize(
    "ckpt, override, key",
    [
        (
            "file",
            ["--model.masks", '{"network.weight_ih_l0": [[true, false]]}'],
            r"masks: checkpoint None, config \{'network\.weight_ih_l0': \[\[True, False\]\]\}",
        ),
        (
            "last",
            ["--model.masks", '{"network.weight_ih_l0": [[true, false]]}'],
            r"masks: checkpoint None, config \{'network\.weight_ih_l0': \[\[True, False\]\]\}",
        ),
        (
            "file",
            ["--model.fixed", '{"readout.bias": true}'],
            r"fixed: checkpoint None, config \{'readout\.bias': True\}",
        ),
        ("file", ["--model.readout", "excitatory"], r"readout: checkpoint all, config excitatory"),
        ("file", ["--model.ensemble", "2"], r"ensemble: checkpoint None, config 2"),
        ("last", ["--model.network_seed", "3"], r"network_seed: checkpoint None, config 3"),
    ],
)
def test_evaluating_a_checkpoint_of_another_model_is_refused_naming_the_key(fitted, tmp_path, ckpt, override, key):
    # validate/test/predict compare the model's hyper-parameters too: before, a config's masks or
    # fixed weights were silently replaced by the checkpoint's (their buffers), None against a value
    # was never compared, and ensemble / network_seed failed with a bare state-dict error. "file"
    # is refused by the CLI before anything is built, "last" by TaskModule.on_load_checkpoint
    run = _copy_run(fitted, tmp_path)
    path = "last" if ckpt == "last" else str(run / "checkpoints" / "last.ckpt")
    with pytest.raises(ValueError, match=rf"disagrees? with the configuration: {key}\. Use the checkpoint's values"):
        main(["validate", "--config", _rooted_config(tmp_path, run), "--ckpt_path", path, *override])


def test_a_checkpoint_written_before_an_argument_existed_still_evaluates(fitted, tmp_path):
    # an argument absent from the checkpoint's hyper-parameters is not compared; the optimiser's
    # settings are compared only when a fit resumes
    run = _copy_run(fitted, tmp_path)
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    for key in ("readout", "masks", "fixed", "ensemble", "network_seed"):
        del ckpt["hyper_parameters"][key]
    torch.save(ckpt, run / "checkpoints" / "older.ckpt")
    config = _rooted_config(tmp_path, run)
    args = ["--config", config, "--ckpt_path", str(run / "checkpoints" / "older.ckpt"), "--model.lr", "0.5"]
    assert main(["validate", *args]) == 0
    with pytest.raises(ValueError, match=r"disagrees with the configuration: lr: checkpoint 0\.01, config 0\.5\."):
        main(["fit", *args, "--trainer.max_epochs", "3"])


def test_an_interrupted_save_leaves_the_previous_checkpoint_usable(tmp_path, monkeypatch):
    import errno

    from torchrate.training import checkpoints

    run = tmp_path / "run"
    main(["fit", "--config", tiny_config(tmp_path), "--trainer.max_epochs", "1"])
    good = run / "checkpoints" / "epoch=0-step=4.ckpt"
    before = good.read_bytes()
    real_save = torch.save

    def full_disk(obj, f, *args, **kwargs):  # half the archive reaches the disk, then ENOSPC
        import io

        buffer = io.BytesIO()
        real_save(obj, buffer)
        f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints.torch, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        checkpoints.save_checkpoint_file({"x": torch.ones(3)}, good)
    assert good.read_bytes() == before
    assert sorted(p.name for p in good.parent.iterdir()) == ["epoch=0-step=4.ckpt", "last.ckpt"]  # no temp left
    with pytest.raises(OSError, match="No space left"):
        main(["fit", "--config", tiny_config(tmp_path), "--trainer.max_epochs", "2", "--ckpt_path", "last"])
    monkeypatch.undo()
    assert sorted(p.name for p in good.parent.iterdir()) == ["epoch=0-step=4.ckpt", "last.ckpt"]
    assert good.read_bytes() == before and os.readlink(good.parent / "last.ckpt") == good.name
    main(["fit", "--config", tiny_config(tmp_path), "--trainer.max_epochs", "2", "--ckpt_path", "last"])
    assert torch.load(good.parent / "last.ckpt", weights_only=True)["global_step"] == 8


def test_a_second_concurrent_fit_into_one_run_directory_is_refused(tmp_path):
    from torchrate.training.checkpoints import RunDirectoryInUseError, RunLock

    with RunLock(tmp_path / "run"):  # the first fit, still running
        with pytest.raises(
            RunDirectoryInUseError,
            match=rf"run directory '{tmp_path / 'run'}' is in use by another "
            rf"`torchrate fit` \(pid {os.getpid()}\)",
        ):
            main(["fit", "--config", tiny_config(tmp_path)])
    assert not (tmp_path / "run" / "checkpoints").exists()
    main(["fit", "--config", tiny_config(tmp_path), "--trainer.max_epochs", "1"])  # released: runs
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()


def test_last_ckpt_is_the_latest_after_the_run_directory_was_moved(tmp_path):
    main(["fit", "--config", tiny_config(tmp_path), "--trainer.max_epochs", "2"])
    moved = tmp_path / "moved"
    os.rename(tmp_path / "run", moved)
    main(["fit", "--config", _rooted_config(tmp_path, moved), "--trainer.max_epochs", "3", "--ckpt_path", "last"])
    names = sorted(p.name for p in (moved / "checkpoints").iterdir())
    assert names == ["epoch=1-step=8.ckpt", "epoch=2-step=12.ckpt", "last.ckpt"]
    assert os.readlink(moved / "checkpoints" / "last.ckpt") == "epoch=2-step=12.ckpt"
    assert torch.load(moved / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 12


# ---------------------------------------------------------------------- process-wide state
def _global_state():
    import random

    import numpy as np

    return (
        torch.get_rng_state(),
        torch.get_num_threads(),
        random.getstate(),
        np.random.get_state()[1].copy(),  # noqa: NPY002
        os.environ.get("PL_GLOBAL_SEED"),
    )


def _assert_same_state(before, after):
    assert torch.equal(before[0], after[0]) and before[1:3] == after[1:3]
    assert (before[3] == after[3]).all() and before[4] == after[4]


def test_build_cli_fit_and_analyze_leave_rng_and_threads_unchanged(fitted, tmp_path):
    from torchrate.cli import build_cli

    torch.set_num_threads(2)
    torch.manual_seed(1234)
    before = _global_state()
    cli = build_cli(["--config", tiny_config(tmp_path)], run=False)  # threads: 1, seed_everything: 0
    assert cli.threads == 1 and cli.model is not None
    _assert_same_state(before, _global_state())
    main(["fit", "--config", tiny_config(tmp_path), "--trainer.max_epochs", "1"])
    _assert_same_state(before, _global_state())
    main(["analyze", str(fitted / "checkpoints" / "last.ckpt"), "--out", str(tmp_path / "a"), "--threads", "1"])
    _assert_same_state(before, _global_state())


@pytest.mark.parametrize(
    "args, match",
    [
        (["--trials", "0"], r"argument --trials: expected an integer ≥ 1, got 0"),
        (["--trials", "-3"], r"argument --trials: expected an integer ≥ 1, got -3"),
        (["--trials", "many"], r"argument --trials: expected an integer ≥ 1, got 'many'"),
        (["--threads", "0"], r"argument --threads: expected an integer ≥ 1, got 0"),
    ],
)
def test_analyze_refuses_bad_counts_before_loading(fitted, tmp_path, capsys, args, match):
    with pytest.raises(SystemExit) as exit_info:
        main(["analyze", str(fitted / "checkpoints" / "last.ckpt"), "--out", str(tmp_path / "a"), *args])
    assert exit_info.value.code == 2
    assert re.search(match, capsys.readouterr().err)
    assert not (tmp_path / "a").exists()


# ---------------------------------------------------------------------- one safe load path
def _evil_checkpoint(fitted, tmp_path) -> tuple[Path, Path]:
    """A copy of the run's checkpoint with a pickled os.system call that would create a marker."""
    marker = tmp_path / "pwned"
    ckpt = torch.load(fitted / "checkpoints" / "last.ckpt", weights_only=True)
    ckpt["payload"] = _Exploit(marker)
    evil = tmp_path / "evil.ckpt"
    torch.save(ckpt, evil)
    torch.load(evil, weights_only=False)  # the control: an unsafe load runs the payload
    assert marker.exists()
    marker.unlink()
    return evil, marker


def _bare_trainer(tmp_path, **kwargs) -> L.Trainer:
    # no RunCheckpoint, no torchrate CLI: Lightning's default CheckpointIO until TaskModule.setup
    return L.Trainer(
        default_root_dir=tmp_path,
        max_epochs=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kwargs,
    )


def _module_and_data(fitted):
    from torchrate.training import TaskDataModule, TaskModule

    ckpt = torch.load(fitted / "checkpoints" / "last.ckpt", weights_only=True)
    module = TaskModule.load_from_checkpoint(fitted / "checkpoints" / "last.ckpt")
    data = {k: v for k, v in ckpt["datamodule_hyper_parameters"].items() if k != "task" and not k.startswith("_")}
    return module, TaskDataModule(module.task, **data)


@pytest.mark.parametrize(
    "how",
    [
        "load_from_checkpoint",
        "load_from_checkpoint weights_only=False",
        "load_checkpoint",
        "bare Trainer.fit",
        "bare Trainer.fit weights_only=False",
        "bare Trainer.validate",
    ],
)
def test_every_load_path_refuses_a_malicious_pickle_under_the_environment_override(fitted, tmp_path, monkeypatch, how):
    from torchrate.training import TaskModule, load_checkpoint

    evil, marker = _evil_checkpoint(fitted, tmp_path)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    module, data = _module_and_data(fitted)
    calls = {
        "load_from_checkpoint": lambda: TaskModule.load_from_checkpoint(evil),
        "load_from_checkpoint weights_only=False": lambda: TaskModule.load_from_checkpoint(evil, weights_only=False),
        "load_checkpoint": lambda: load_checkpoint(evil),
        "bare Trainer.fit": lambda: _bare_trainer(tmp_path).fit(module, data, ckpt_path=evil),
        "bare Trainer.fit weights_only=False": lambda: _bare_trainer(tmp_path).fit(
            module, data, ckpt_path=evil, weights_only=False
        ),
        "bare Trainer.validate": lambda: _bare_trainer(tmp_path).validate(module, data, ckpt_path=evil),
    }
    with (
        pytest.raises(ValueError, match=r"refusing to load checkpoint .*evil\.ckpt.*weights_only=True"),
        warnings_allowed(),
    ):
        calls[how]()
    assert not marker.exists()


@contextlib.contextmanager
def warnings_allowed():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "weights_only=False is ignored", Lightning's dataloader hints
        yield


@pytest.mark.parametrize("how", ["load_from_checkpoint", "bare Trainer.fit"])
def test_a_flipped_byte_is_refused_by_load_from_checkpoint_and_a_bare_trainer(fitted, tmp_path, how):
    from torchrate.training import TaskModule

    target = tmp_path / "flipped.ckpt"
    target.write_bytes((fitted / "checkpoints" / "epoch=1-step=8.ckpt").read_bytes())
    _flip_a_tensor_byte(target)
    torch.load(target, weights_only=True)  # the control: torch itself loads it silently
    module, data = _module_and_data(fitted)
    with (
        pytest.raises(
            ValueError,
            match=r"checkpoint '.*flipped\.ckpt' is corrupted: member '.*/data/\d+' "
            r"fails its CRC-32 check",
        ),
        warnings_allowed(),
    ):
        if how == "load_from_checkpoint":
            TaskModule.load_from_checkpoint(target)
        else:
            _bare_trainer(tmp_path).fit(module, data, ckpt_path=target)


def test_a_bare_trainer_resumes_a_task_module_through_the_safe_checkpoint_io(fitted, tmp_path):
    from torchrate.training.checkpoints import SafeCheckpointIO

    module, data = _module_and_data(fitted)
    trainer = _bare_trainer(tmp_path)
    with warnings_allowed():
        trainer.fit(module, data, ckpt_path=fitted / "checkpoints" / "last.ckpt")
    assert isinstance(trainer.strategy.checkpoint_io, SafeCheckpointIO)  # installed by TaskModule.setup
    assert trainer.global_step == 12  # 8 restored + 1 epoch of 4 batches


def _shipped_configs():
    configs = sorted(CONFIGS.glob("*.yaml"))
    try:
        import neurogym  # noqa: F401
    except ImportError:
        return configs
    from neurogym_envs import refused

    out = []
    for path in sorted((CONFIGS / "neurogym").glob("*.yaml")):
        missing = refused(path)  # yang19.yaml: ten of its envs until tr.tasks.NeuroGym learns ScheduleEnvs
        out.append(
            pytest.param(
                path,
                marks=pytest.mark.skipif(
                    bool(missing), reason=f"NeuroGym refuses {missing}; tests/test_multitask.py runs it on the others"
                ),
            )
        )
    return configs + out


@pytest.mark.parametrize("config", _shipped_configs(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_load_from_checkpoint_round_trips_every_shipped_config(config, tmp_path):
    """One training batch of each config through the CLI's trainer (its RunCheckpoint and
    SafeCheckpointIO; no validation or analysis), then ``TaskModule.load_from_checkpoint`` gives
    the same module: equal state dicts, hyper-parameters and outputs."""
    from torchrate.cli import _process_state_kept, build_cli
    from torchrate.training import AnalysisCallback, TaskModule

    cli = build_cli(
        [
            "--config",
            str(config),
            "--trainer.default_root_dir",
            str(tmp_path),
            "--trainer.max_epochs",
            "1",
            "--data.train_batches",
            "1",
            "--trainer.limit_val_batches",
            "0",
            "--trainer.logger",
            "false",
            "--trainer.enable_progress_bar",
            "false",
            "--trainer.enable_model_summary",
            "false",
        ],
        run=False,
    )
    cli.trainer.callbacks[:] = [c for c in cli.trainer.callbacks if not isinstance(c, AnalysisCallback)]
    with _process_state_kept(threads=1), warnings_allowed():
        cli.trainer.fit(cli.model, cli.datamodule)
    path = tmp_path / "checkpoints" / "last.ckpt"
    assert torch.load(path, weights_only=True)["global_step"] == 1
    loaded = TaskModule.load_from_checkpoint(path)
    saved, again = cli.model.state_dict(), loaded.state_dict()
    assert list(again) == list(saved)
    assert all(torch.equal(again[k], saved[k]) for k in saved)
    hparams = {
        k: v for k, v in torch.load(path, weights_only=True)["hyper_parameters"].items() if not k.startswith("_")
    }
    # the task is stored as its config() (torchrate.tasks.memory.FlipFlop for the YAML's torchrate.tasks.FlipFlop)
    assert {k: v for k, v in loaded.hparams.items() if k != "task"} == {k: v for k, v in hparams.items() if k != "task"}
    assert loaded.task.config() == cli.model.task.config()
    inputs = next(iter(cli.datamodule.val_dataloader()))[0][:, :4]
    for m in (cli.model, loaded):  # evaluation mode, the same noise draws in both
        m.eval()
        if m.is_ensemble:
            m.network.generators = [torch.Generator().manual_seed(k) for k in range(len(m.network))]
        else:
            m.network.generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        assert torch.equal(loaded(inputs)[0], cli.model(inputs)[0])


# ---------------------------------------------------------------------- classes a checkpoint or config may name
@pytest.fixture
def planted_module(tmp_path, monkeypatch):
    """A module file next to the checkpoint, importable (its folder on sys.path), that creates a
    marker when imported."""
    import importlib.util

    name = "torchrate_test_planted"
    marker = tmp_path / "imported"
    (tmp_path / f"{name}.py").write_text(f"open({str(marker)!r}, 'w').close()\nfrom torchrate import RateRNN\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    assert importlib.util.find_spec(name) is not None  # the control: an import would find (and run) it
    return name, marker


@pytest.mark.parametrize(
    "how", ["load_checkpoint", "load_from_checkpoint", "analyze", "fit --ckpt_path", "bare Trainer.fit"]
)
def test_a_class_path_outside_the_allow_list_is_refused_before_any_import(fitted, tmp_path, planted_module, how):
    from torchrate.training import TaskModule, load_checkpoint

    name, marker = planted_module
    ckpt = torch.load(fitted / "checkpoints" / "last.ckpt", weights_only=True)
    ckpt["hyper_parameters"]["network"]["class_path"] = f"{name}.RateRNN"
    path = tmp_path / "named.ckpt"
    torch.save(ckpt, path)  # a clean archive: plain strings only
    module, data = _module_and_data(fitted)
    calls = {
        "load_checkpoint": lambda: load_checkpoint(path),
        "load_from_checkpoint": lambda: TaskModule.load_from_checkpoint(path),
        "analyze": lambda: main(["analyze", str(path), "--out", str(tmp_path / "a")]),
        "fit --ckpt_path": lambda: main(
            [
                "fit",
                "--config",
                _rooted_config(tmp_path, _copy_run(fitted, tmp_path)),
                "--trainer.max_epochs",
                "3",
                "--ckpt_path",
                str(path),
            ]
        ),
        "bare Trainer.fit": lambda: _bare_trainer(tmp_path).fit(module, data, ckpt_path=path),
    }
    with (
        pytest.raises(
            ValueError,
            match=rf"names class_path '{name}\.RateRNN', which is not allowed: .*"
            r"torchrate\.training\.allow\(RateRNN\)",
        ),
        warnings_allowed(),
    ):
        calls[how]()
    assert not marker.exists() and name not in sys.modules


def test_a_class_registered_with_allow_loads(fitted, tmp_path, monkeypatch):
    import torchrate as tr
    from torchrate.training import TaskModule, allowlist

    monkeypatch.setattr(allowlist, "_REGISTERED", {})

    class MyRNN(tr.RateRNN):
        pass

    ckpt = torch.load(fitted / "checkpoints" / "last.ckpt", weights_only=True)
    ckpt["hyper_parameters"]["network"]["class_path"] = "mylab.nets.MyRNN"
    torch.save(ckpt, tmp_path / "mine.ckpt")
    with pytest.raises(ValueError, match=r"'mylab\.nets\.MyRNN', which is not allowed"):
        TaskModule.load_from_checkpoint(tmp_path / "mine.ckpt")
    assert tr.training.allow(MyRNN, "mylab.nets.MyRNN") is MyRNN
    module = TaskModule.load_from_checkpoint(tmp_path / "mine.ckpt")
    assert type(module.network) is MyRNN
    assert torch.equal(module.network.weight_hh_l0, ckpt["state_dict"]["network.weight_hh_l0"])


@pytest.mark.parametrize("where", ["yaml", "command line"])
def test_a_config_naming_a_function_in_the_network_slot_is_refused_before_it_runs(tmp_path, where):
    marker = tmp_path / "pwned"
    network = "class_path: torchrate.RateRNN\n    init_args: {hidden_size: 8, tau: 20.0, dt: 10.0, noise_std: 0.05}"
    if where == "yaml":
        evil = f"class_path: os.system\n    init_args: {{command: 'touch {marker}'}}"
        config = tiny_config(tmp_path, **{network: evil})
        args = ["fit", "--config", config]
    else:
        args = [
            "fit",
            "--config",
            tiny_config(tmp_path),
            "--model.network",
            json.dumps({"class_path": "os.system", "init_args": {"command": f"touch {marker}"}}),
        ]
    with pytest.raises(
        ValueError,
        match=r"model\.network\.class_path 'os\.system' is not allowed: the network slot "
        r"takes a torchrate network \(torchrate\.RateRNN, torchrate\.EIRateRNN, …\), torch\.nn\.RNN, GRU or LSTM",
    ):
        main(args)
    assert not marker.exists() and not (tmp_path / "run").exists()


# ---------------------------------------------------------------------- Lightning's noise
def test_fit_prints_no_lightning_tips_or_warnings_that_do_not_apply(tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torchrate.cli", "fit", "--config", tiny_config(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for noise in ("💡 Tip", "litlogger", "LeafSpec", "IterableDataset", "does not have many workers"):
        assert noise not in proc.stderr + proc.stdout, noise
    assert "GPU available: False" in proc.stderr  # Lightning's information stays
    assert "fixed points at u = 0" in proc.stdout


def test_lightning_noise_is_silenced_only_inside_the_command():
    import logging
    import warnings

    from torchrate.cli import _lightning_quieted

    def emitted(message, category=UserWarning, module="lightning.pytorch.trainer.connectors.data_connector"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with _lightning_quieted():
                warnings.warn_explicit(message, category, "x.py", 1, module=module)
        return len(caught)

    assert emitted("The 'train_dataloader' does not have many workers which may be a bottleneck.") == 0
    assert emitted("`isinstance(treespec, LeafSpec)` is deprecated, use …", FutureWarning) == 0
    assert emitted("The number of training batches (2) is smaller than the logging interval") == 1  # kept
    assert emitted("The 'train_dataloader' does not have many workers", module="mylab.data") == 1  # not Lightning's
    before = list(warnings.filters)
    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    with _lightning_quieted():
        assert not logger.filter(logging.makeLogRecord({"msg": "💡 Tip: For seamless cloud logging …"}))
        assert logger.filter(logging.makeLogRecord({"msg": "GPU available: False, used: False"}))
    assert logger.filter(logging.makeLogRecord({"msg": "💡 Tip: For seamless cloud logging …"}))  # outside: as before
    assert warnings.filters == before


# ---------------------------------------------------------------------- the end-of-fit analysis: its progress
class _Terminal(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    "tty, bar, shown",
    [(True, True, True), (True, False, False), (False, True, False)],
    ids=["terminal", "progress bar disabled", "not a terminal"],
)
def test_the_end_of_fit_analysis_shows_its_stages_on_a_terminal(tmp_path, monkeypatch, tty, bar, shown):
    from types import SimpleNamespace

    import torchrate as tr

    task = tr.tasks.PerceptualDecision(dt=20.0, fixation=40.0, stimulus=100.0, decision=60.0)  # + bifurcation
    module = tr.training.TaskModule(
        task, {"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": 8, "tau": 50.0, "dt": 20.0}}
    )
    trainer = SimpleNamespace(
        is_global_zero=True,
        sanity_checking=False,
        default_root_dir=str(tmp_path),
        progress_bar_callback=object() if bar else None,
        current_epoch=0,
        global_step=0,
        loggers=[],
        datamodule=tr.training.TaskDataModule(task),
    )
    stderr = _Terminal(tty)
    monkeypatch.setattr(sys, "stderr", stderr)
    tr.training.AnalysisCallback(n_trials=16).on_fit_end(trainer, module)
    text = stderr.getvalue()
    stages = ("held-out evaluation", "fixed points", "spectrum", "figures", "bifurcation", "writing")
    if shown:
        assert all(f"{name}]" in text for name in stages), text
        assert "analysis: 100%" in text and "6/6" in text and "done]" in text
    else:
        assert "analysis:" not in text and not any(f"{name}]" in text for name in stages)
    assert (tmp_path / "analysis" / "summary.json").is_file()


# ---------------------------------------------------------------------- predict
def test_predict_writes_the_test_split_and_what_the_network_makes_of_it(fitted, tmp_path, capsys):
    import numpy as np

    from torchrate.cli import build_cli
    from torchrate.training import TaskModule
    from torchrate.training.seeding import derive_seed

    run = _copy_run(fitted, tmp_path)
    config = _rooted_config(tmp_path, run)
    assert main(["predict", "--config", config, "--ckpt_path", "last"]) == 0
    assert f"predictions:   {run / 'predictions.pt'}" in capsys.readouterr().out
    saved = torch.load(run / "predictions.pt", weights_only=True)
    # the trials: the test split, batch after batch (what `torchrate test` scores)
    batches = list(build_cli(["--config", config], run=False).datamodule.test_dataloader())
    for i, key in enumerate(("inputs", "targets", "mask")):
        assert torch.equal(saved[key], torch.cat([b[i] for b in batches], dim=1))
    assert set(saved["conditions"]) == set(batches[0][3])
    assert saved["inputs"].shape[1] == 32 and saved["rates"].shape == (*saved["inputs"].shape[:2], 8)
    # what the network makes of them: a direct forward of the trained module, its noise drawn from
    # the generator seeded from (seed_everything's seed 0, rank 0, "predict", batch)
    module = TaskModule.load_from_checkpoint(run / "checkpoints" / "last.ckpt").eval()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the config's threads: 1
    try:
        with torch.no_grad():
            direct = []
            for i, batch in enumerate(batches):
                module.network.generator = torch.Generator().manual_seed(derive_seed(0, 0, "predict", i))
                direct.append(module(batch[0]))
    finally:
        torch.set_num_threads(threads)
    assert module.network.noise_std > 0
    torch.testing.assert_close(saved["outputs"], torch.cat([o for o, _ in direct], dim=1), rtol=0, atol=0)
    torch.testing.assert_close(saved["rates"], torch.cat([r for _, r in direct], dim=1), rtol=0, atol=0)
    # a second predict never replaces the first; a writer of the user's (.npz) replaces the default one
    out = tmp_path / "p.npz"
    main(
        [
            "predict",
            "--config",
            config,
            "--ckpt_path",
            "last",
            "--trainer.callbacks+=torchrate.training.PredictionWriter",
            "--trainer.callbacks.out",
            str(out),
        ]
    )
    assert not (run / "predictions-v1.pt").exists()
    with np.load(out) as npz:
        assert sorted(npz.files) == sorted(
            ["inputs", "targets", "mask", "outputs", "rates", *(f"conditions/{k}" for k in saved["conditions"])]
        )
        np.testing.assert_array_equal(npz["rates"], saved["rates"].numpy())
    main(["predict", "--config", config, "--ckpt_path", "last"])
    assert torch.equal(torch.load(run / "predictions-v1.pt", weights_only=True)["rates"], saved["rates"])


def test_prediction_writer_pads_batches_of_different_lengths_as_the_tasks_pad_trials():
    from torchrate.training.callbacks import _merge_batches

    def batch(T, B):
        return {
            "inputs": torch.ones(T, B, 2),
            "mask": torch.ones(T, B, 1),
            "rates": torch.ones(T, B, 3),
            "conditions": {"c": torch.arange(B)},
        }

    merged = _merge_batches([batch(4, 2), batch(6, 3)])
    assert merged["inputs"].shape == (6, 5, 2) and merged["conditions"]["c"].tolist() == [0, 1, 0, 1, 2]
    assert merged["mask"][4:, :2].eq(0).all() and merged["inputs"][4:, :2].eq(0).all()  # as the tasks pad
    assert merged["rates"][4:, :2].isnan().all() and merged["rates"][:, 2:].eq(1).all()  # not computed: NaN
    ensemble = _merge_batches([{"rates": torch.ones(3, 4, 2, 5)}, {"rates": torch.ones(3, 6, 1, 5)}])  # (K, T, B, N)
    assert ensemble["rates"].shape == (3, 6, 3, 5) and ensemble["rates"][:, 4:, :2].isnan().all()
    # predict_step on inputs alone (a DataLoader of (T, B, I) tensors of your own)
    import torchrate as tr

    module = tr.training.TaskModule(
        tr.tasks.FlipFlop(n_bits=2, dt=10.0),
        {"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": 4, "dt": 10.0}},
    )
    out = module.predict_step(torch.zeros(7, 3, 2), 0)
    assert sorted(out) == ["inputs", "outputs", "rates"] and out["rates"].shape == (7, 3, 4)


# ---------------------------------------------------------------------- TensorBoard (an optional dependency)
TENSORBOARD_LOGGER = """  logger:
    - class_path: lightning.pytorch.loggers.TensorBoardLogger
      init_args: {{save_dir: {root}, name: tensorboard, default_hp_metric: false}}
  enable_model_summary: false"""


def _tensorboard_config(tmp_path) -> str:
    return tiny_config(tmp_path, **{"  enable_model_summary: false": TENSORBOARD_LOGGER.format(root=tmp_path / "run")})


def test_a_tensorboard_logger_without_tensorboard_is_refused_before_anything_is_built(tmp_path, monkeypatch):
    import torchrate.training.callbacks as callbacks

    monkeypatch.setattr(callbacks, "_tensorboard_available", lambda: False)
    config = _tensorboard_config(tmp_path)
    with pytest.raises(
        ModuleNotFoundError,
        match=r"TensorBoardLogger needs the tensorboard package .*"
        r"`pip install tensorboard`",
    ):
        main(["fit", "--config", config])
    assert not (tmp_path / "run").exists()
    shipped = str(CONFIGS / "perceptual_decision_tensorboard.yaml")
    with pytest.raises(ModuleNotFoundError, match=r"pip install tensorboard"):
        main(["fit", "--config", shipped, "--trainer.default_root_dir", str(tmp_path / "shipped")])
    # the default loggers: CSV alone, TensorBoard beside it once it is installed
    assert [type(logger).__name__ for logger in callbacks.default_loggers(tmp_path)] == ["CSVLogger"]


def test_fit_logs_its_curves_and_the_analysis_to_tensorboard(tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard is an optional dependency (pip install tensorboard)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = _tensorboard_config(tmp_path)
    main(["fit", "--config", config, "--trainer.log_every_n_steps", "2"])
    events = EventAccumulator(
        str(tmp_path / "run" / "tensorboard" / "version_0"), size_guidance={"images": 0, "scalars": 0, "tensors": 0}
    )
    events.Reload()
    tags = events.Tags()
    assert {"train/loss", "val/loss", "val/bit_accuracy", "analysis/bit_accuracy", "analysis/fixed_points"} <= set(
        tags["scalars"]
    )
    assert {"analysis/fixed_points", "analysis/spectrum", "analysis/task_metric"} <= set(tags["images"])
    summary = json.loads((tmp_path / "run" / "analysis" / "summary.json").read_text())
    (logged,) = events.Scalars("analysis/bit_accuracy")
    assert logged.step == 8 and logged.value == pytest.approx(summary["metrics"]["bit_accuracy"], rel=1e-6)


def test_a_multitask_analysis_names_its_task_variance_stage(tmp_path, monkeypatch):
    """The task variance and unit clusters of a Multitask run are a stage of their own, counted
    in the total: the bar does not sit on 'writing' while the clusters are computed."""
    from types import SimpleNamespace

    import torchrate as tr

    task = tr.tasks.Multitask([tr.tasks.FlipFlop(n_bits=1, dt=20.0, duration=200.0), tr.tasks.Integration(dt=20.0)])
    module = tr.training.TaskModule(
        task, {"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": 8, "tau": 50.0, "dt": 20.0}}
    )
    trainer = SimpleNamespace(
        is_global_zero=True,
        sanity_checking=False,
        default_root_dir=str(tmp_path),
        progress_bar_callback=object(),
        current_epoch=0,
        global_step=0,
        loggers=[],
        datamodule=tr.training.TaskDataModule(task),
    )
    stderr = _Terminal(True)
    monkeypatch.setattr(sys, "stderr", stderr)
    tr.training.AnalysisCallback(n_trials=16).on_fit_end(trainer, module)
    text = stderr.getvalue()
    assert "task variance and unit clusters]" in text and "6/6" in text and "done]" in text, text
