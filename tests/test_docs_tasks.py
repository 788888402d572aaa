"""docs/tasks.md runs as written: its ``# mymodule.py`` blocks become ``mymodule.py`` in a fresh
folder, its YAML block ``mytask.yaml``, its ``torchrate`` commands run there (through
``torchrate.cli.main``, with neither the folder nor ``""`` on ``sys.path``: the CLI must put the
working directory there itself), and its other Python blocks run after them in that folder.

Checked: both tasks of the page train through the CLI to well above chance (SimplePD's chance
is 50 %; 512 held-out trials put 75 % some 11 standard deviations above it), the checkpoints load
back once the module is imported and are refused (before any import) while it is not.
"""

import importlib.util
import json
import os
import re
import shlex
import sys
from pathlib import Path

import pytest
import torch

import torchrate as tr
from torchrate.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "tasks.md"


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", DOC.read_text(), flags=re.S)


def module_blocks() -> list[str]:
    return [b for b in blocks("python") if b.startswith("# mymodule.py")]


def other_blocks() -> list[str]:
    return [b for b in blocks("python") if not b.startswith("# mymodule.py")]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The page's folder after its commands ran: mymodule.py, mytask.yaml, runs/."""
    folder = tmp_path_factory.mktemp("mytask")
    (folder / "mymodule.py").write_text("".join(module_blocks()))
    for block in blocks("yaml"):  # each starts with "# <its file name>"
        (folder / block.splitlines()[0].removeprefix("# ").strip()).write_text(block)
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        mp.setattr(sys, "path", [p for p in sys.path if p not in ("", str(folder))])
        mp.delitem(sys.modules, "mymodule", raising=False)
        assert importlib.util.find_spec("mymodule") is None  # the control: not importable by itself
        for line in "".join(blocks("bash")).strip().splitlines():
            args = shlex.split(line)
            assert args[0] == "torchrate"
            main(args[1:])
        assert str(folder) not in sys.path  # put there for the command only
    torch.set_num_threads(threads)
    return folder


def test_the_page_has_its_blocks_and_each_task_is_under_30_lines():
    assert len(module_blocks()) == 2 and len(other_blocks()) == 4 and len(blocks("yaml")) == 2
    for block in module_blocks():
        cls = block[block.index("class ") :]
        assert len(cls.strip().splitlines()) < 30


def summary(folder: Path, run: str) -> dict:
    return json.loads((folder / "runs" / run / "analysis" / "summary.json").read_text())


@pytest.mark.parametrize("run", ["simplepd", "dms", "simplepd_ei"])
def test_both_tasks_train_through_the_cli_to_well_above_chance(folder, run):
    s = summary(folder, run)
    assert s["task"]["class_path"] == {"dms": "mymodule.DelayedMatch"}.get(run, "mymodule.SimplePD")
    assert s["n_trials"] == 512
    assert s["metrics"]["accuracy"] > 0.75


def test_the_dale_run_kept_its_readout_and_input_weights(folder, monkeypatch):
    monkeypatch.chdir(folder)
    module, ckpt = tr.training.load_checkpoint(folder / "runs" / "simplepd_ei" / "checkpoints" / "last.ckpt")
    assert isinstance(module.network, tr.EIRateRNN) and ckpt["hyper_parameters"]["readout"] == "excitatory"
    W_out = module.readout.weight.detach()
    assert (W_out[:, :40] >= 0).all() and (W_out[:, 40:] == 0).all() and (W_out[:, :40] > 0).any()
    # the input weights are those of the untrained module (network_seed: 0 in ei.yaml); M trained
    fresh = type(module)(**{k: v for k, v in ckpt["hyper_parameters"].items() if not k.startswith("_")})
    assert torch.equal(module.network.W, fresh.network.W) and not torch.equal(module.network.M, fresh.network.M)


def test_the_python_blocks_run_in_the_folder(folder, monkeypatch):
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    namespace: dict = {}
    for k, block in enumerate(other_blocks()):
        exec(compile(block, f"docs/tasks.md block {k}", "exec"), namespace)
    # the variable-length example: trials of 40, 50 and 70 steps, padded to 70
    inputs, mask, conditions = namespace["inputs"], namespace["mask"], namespace["conditions"]
    assert inputs.shape == (70, 6, 3) and conditions["delay"].tolist() == [800.0, 200.0, 400.0, 200.0, 200.0, 800.0]
    assert mask[:, 1, 0].nonzero().flatten().tolist() == list(range(30, 40))
    assert inputs[40:, 1].abs().sum() == 0 and mask[40:, 1].sum() == 0  # padding
    # the checkpoint block: the module of the run, with its weights
    module, ckpt = namespace["module"], namespace["ckpt"]
    assert type(module.task).__name__ == "SimplePD" and type(module.task).__module__ == "mymodule"
    assert torch.equal(module.network.weight_hh_l0, ckpt["state_dict"]["network.weight_hh_l0"])
    # the NumPy step from the exported file: the network's step and readout
    with torch.no_grad():
        u = torch.tensor([[1.0, 1.2]])
        v = module.network.step(torch.zeros(1, 50), u)
        y = module.readout(v)
    assert abs(namespace["v"] - v.numpy()).max() < 1e-6 and abs(namespace["y"] - y.numpy()).max() < 1e-6


def test_a_checkpoint_naming_a_module_not_imported_is_refused_until_allowed(folder, tmp_path, monkeypatch):
    # the same run, its task renamed to a module nobody imported: refused before the import
    monkeypatch.chdir(tmp_path)
    (tmp_path / "othermodule.py").write_text(
        f"open({str(tmp_path / 'imported')!r}, 'w').close()\n" + (folder / "mymodule.py").read_text()
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "othermodule", raising=False)
    ckpt = torch.load(folder / "runs" / "simplepd" / "checkpoints" / "last.ckpt", weights_only=True)
    ckpt["hyper_parameters"]["task"]["class_path"] = "othermodule.SimplePD"
    ckpt["datamodule_hyper_parameters"]["task"]["class_path"] = "othermodule.SimplePD"
    torch.save(ckpt, tmp_path / "other.ckpt")
    with pytest.raises(
        ValueError,
        match=r"names class_path 'othermodule\.SimplePD', which is not allowed: .*"
        r"torchrate\.training\.allow\('othermodule\.SimplePD'\).*--allow",
    ):
        tr.training.load_checkpoint(tmp_path / "other.ckpt")
    assert not (tmp_path / "imported").exists() and "othermodule" not in sys.modules
    # the command line's --allow imports that module and loads it
    assert (
        main(["analyze", str(tmp_path / "other.ckpt"), "--out", str(tmp_path / "a"), "--allow", "othermodule.SimplePD"])
        == 0
    )
    assert (tmp_path / "imported").exists()
    assert json.loads((tmp_path / "a" / "summary.json").read_text())["metrics"]["accuracy"] > 0.75
    module, _ = tr.training.load_checkpoint(tmp_path / "other.ckpt")
    assert type(module.task).__module__ == "othermodule"


def test_resuming_a_run_of_an_own_task_needs_nothing(folder, monkeypatch):
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(folder), os.getcwd())])
    main(["fit", "--config", "mytask.yaml", "--trainer.max_epochs", "4", "--ckpt_path", "last"])
    s = json.loads((folder / "runs" / "simplepd" / "analysis-v1" / "summary.json").read_text())
    assert s["metrics"]["accuracy"] > 0.75
