"""Bad inputs of ``torchrate sweep`` (tr.training.load_sweep, run_sweep) and of
tr.training.analyze_population: each refused by name before any trial or network runs (no Ray
instance is started by any of them)."""

import tempfile
from pathlib import Path

import torchrate as tr

_FIT = {
    "trainer": {"max_epochs": 1},
    "model": {"network": {"class_path": "torchrate.RateRNN", "init_args": {"hidden_size": 4}}},
    "data": {"task": {"class_path": "torchrate.tasks.FlipFlop", "init_args": {"n_bits": 1}}},
}
_STORE = tempfile.gettempdir()


def _load(**keys):
    spec = {"fit": _FIT, "storage_path": _STORE} | keys
    return lambda: tr.training.load_sweep(spec)


def _run(**kw):
    return lambda: tr.training.run_sweep({"fit": _FIT, "storage_path": _STORE}, **kw)


def _pop(checkpoints=("a.ckpt", "b.ckpt"), out="pop", **kw):
    ckpts = checkpoints if isinstance(checkpoints, str) else list(checkpoints)
    return lambda: tr.training.analyze_population(ckpts, out, **kw)


def _missing_base():
    return lambda: tr.training.load_sweep({"base": "no_such_config.yaml"})


def _not_a_mapping_file():
    def load():  # the file in a folder removed again when the case has run
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "sweep.yaml"
            path.write_text("- 1\n- 2\n")
            return tr.training.load_sweep(path)

    return load


CASES = [
    # ---- load_sweep: the sweep file, key by key
    ("load_sweep source=3", lambda: tr.training.load_sweep(3), TypeError, r"source must be a path"),
    (
        "load_sweep source a missing file",
        lambda: tr.training.load_sweep("/nonexistent/sweep.yaml"),
        FileNotFoundError,
        r"sweep file '/nonexistent/sweep\.yaml' does not exist",
    ),
    ("load_sweep source a YAML list", _not_a_mapping_file(), ValueError, r"must be a YAML mapping"),
    (
        "load_sweep source an unknown key",
        _load(spaces={}),
        ValueError,
        r"unknown key 'spaces' \(did you mean 'space'\?\)",
    ),
    ("load_sweep source name with a slash", _load(name="a/b"), ValueError, r"name must be a folder name"),
    (
        "load_sweep source neither base nor fit",
        lambda: tr.training.load_sweep({"space": {}}),
        ValueError,
        r"give the fit configuration as base:",
    ),
    ("load_sweep source base missing", _missing_base(), FileNotFoundError, r"base 'no_such_config\.yaml' not found"),
    ("load_sweep source fit a list", _load(fit=[1]), TypeError, r"fit must be a mapping"),
    ("load_sweep source fit unknown section", _load(fit={"modle": {}}), ValueError, r"unknown section 'modle'"),
    ("load_sweep source space a list", _load(space=[1]), TypeError, r"space must be a mapping"),
    (
        "load_sweep source space key outside the sections",
        _load(space={"lr": {"grid_search": [0.1]}}),
        ValueError,
        r"space key 'lr' must be a dotted key .* starting with one of",
    ),
    (
        "load_sweep source space grid_search empty",
        _load(space={"model.lr": {"grid_search": []}}),
        ValueError,
        r"space\['model\.lr'\]\.grid_search must be a non-empty list",
    ),
    (
        "load_sweep source space uniform reversed",
        _load(space={"model.lr": {"uniform": [0.1, 0.01]}}),
        ValueError,
        r"space\['model\.lr'\]\.uniform must be \[low, high\], low < high",
    ),
    (
        "load_sweep source space loguniform from 0",
        _load(space={"model.lr": {"loguniform": [0, 0.1]}}),
        ValueError,
        r"loguniform must be \[low, high\], 0 < low < high",
    ),
    (
        "load_sweep source space randint of floats",
        _load(space={"seed_everything": {"randint": [0.5, 3]}}),
        TypeError,
        r"space\['seed_everything'\]\.randint must be an integer",
    ),
    (
        "load_sweep source space two samplers",
        _load(space={"model.lr": {"choice": [1], "uniform": [0, 1]}}),
        ValueError,
        r"must hold one sampler",
    ),
    ("load_sweep source num_samples 0", _load(num_samples=0), ValueError, r"num_samples must be an integer ≥ 1"),
    ("load_sweep source metric without mode", _load(metric="mse"), ValueError, r"metric and mode go together"),
    ("load_sweep source mode best", _load(metric="mse", mode="best"), ValueError, r"mode must be one of 'min', 'max'"),
    ("load_sweep source metric a number", _load(metric=1, mode="min"), TypeError, r"metric must be the name"),
    ("load_sweep source search_alg a number", _load(search_alg=3), TypeError, r"search_alg must be a Tune search"),
    (
        "load_sweep source search_alg without metric",
        _load(search_alg="optuna"),
        ValueError,
        r"search_alg needs metric and mode",
    ),
    (
        "load_sweep source resources_per_trial tpu",
        _load(resources_per_trial={"tpu": 1}),
        ValueError,
        r"resources_per_trial has an unknown key 'tpu'",
    ),
    (
        "load_sweep source resources_per_trial cpu 0",
        _load(resources_per_trial={"cpu": 0}),
        ValueError,
        r"resources_per_trial\.cpu must be an integer ≥ 1",
    ),
    (
        "load_sweep source resources_per_trial gpu -1",
        _load(resources_per_trial={"gpu": -1}),
        ValueError,
        r"resources_per_trial\.gpu must be ≥ 0",
    ),
    (
        "load_sweep source max_concurrent_trials 0",
        _load(max_concurrent_trials=0),
        ValueError,
        r"max_concurrent_trials must be an integer ≥ 1",
    ),
    ("load_sweep source max_failures -1", _load(max_failures=-1), ValueError, r"max_failures must be an integer ≥ 0"),
    ("load_sweep source storage_path 3", _load(storage_path=3), TypeError, r"storage_path must be a path"),
    ("load_sweep source address 3", _load(address=3), TypeError, r"address must be a Ray address"),
    ("load_sweep source analysis a list", _load(analysis=[1]), TypeError, r"analysis must be a mapping"),
    ("load_sweep source analysis unknown key", _load(analysis={"trials": 3}), ValueError, r"unknown key 'trials'"),
    (
        "load_sweep source analysis n_trials 0",
        _load(analysis={"n_trials": 0}),
        ValueError,
        r"analysis\.n_trials must be an integer ≥ 1",
    ),
    ("load_sweep source analysis dsa 1", _load(analysis={"dsa": 1}), TypeError, r"analysis\.dsa must be True or False"),
    (
        "load_sweep source analysis color_by not swept",
        _load(analysis={"color_by": "model.lr"}),
        ValueError,
        r"analysis\.color_by must be a key of space",
    ),
    (
        "load_sweep source analysis threads 0",
        _load(analysis={"threads": 0}),
        ValueError,
        r"analysis\.threads must be an integer ≥ 1",
    ),
    # ---- run_sweep: checked before Ray is imported or started
    ("run_sweep sweep=3", lambda: tr.training.run_sweep(3), TypeError, r"source must be a path"),
    ("run_sweep address=3", _run(address=3), TypeError, r"address must be a Ray address"),
    ("run_sweep resume='yes'", _run(resume="yes"), TypeError, r"resume must be True or False"),
    ("run_sweep progress=1", _run(progress=1), TypeError, r"progress must be True or False"),
    # ---- analyze_population: options checked before any checkpoint is read
    (
        "analyze_population checkpoints a string",
        _pop(checkpoints="a.ckpt"),
        TypeError,
        r"checkpoints must be a non-empty",
    ),
    ("analyze_population checkpoints empty", _pop(checkpoints=()), TypeError, r"checkpoints must be a non-empty"),
    ("analyze_population out=3", _pop(out=3), TypeError, r"out must be a path"),
    ("analyze_population names of another length", _pop(names=["a"]), ValueError, r"names must be a list of 2"),
    ("analyze_population names repeated", _pop(names=["a", "a"]), ValueError, r"names must be 2 distinct"),
    ("analyze_population labels of another length", _pop(labels=[{}]), ValueError, r"labels must be a list of 2"),
    ("analyze_population labels not dicts", _pop(labels=[1, 2]), TypeError, r"labels must be a list of dicts"),
    (
        "analyze_population color_by not a label",
        _pop(labels=[{"seed": 0}, {"seed": 1}], color_by="lr"),
        ValueError,
        r"color_by must be one of the labels' keys \['seed'\]",
    ),
    ("analyze_population n_trials 0", _pop(n_trials=0), ValueError, r"n_trials must be an integer ≥ 1"),
    ("analyze_population seed 1.5", _pop(seed=1.5), TypeError, r"seed must be an integer"),
    (
        "analyze_population seed 2**64",
        _pop(seed=2**64),
        ValueError,
        r"seed must be an integer in \[-2\*\*63, 2\*\*64 - 1\] \(a torch seed\), got 18446744073709551616",
    ),
    ("analyze_population keep 0", _pop(keep=0.0), ValueError, r"keep must be a share of variance"),
    ("analyze_population dsa 'yes'", _pop(dsa="yes"), TypeError, r"dsa must be True or False"),
    ("analyze_population rank 0", _pop(rank=0), ValueError, r"rank must be an integer ≥ 1"),
    ("analyze_population n_delays 0", _pop(n_delays=0), ValueError, r"n_delays must be an integer ≥ 1"),
    ("analyze_population n_initial 0", _pop(n_initial=0), ValueError, r"n_initial must be an integer ≥ 1"),
    (
        "analyze_population checkpoints missing files",
        _pop(),
        FileNotFoundError,
        r"checkpoints: 'a\.ckpt' is not a file",
    ),
]
