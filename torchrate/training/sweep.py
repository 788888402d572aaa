r"""``torchrate sweep --config sweep.yaml``: many ``torchrate fit`` runs on Ray Tune, then one table
and a population analysis of the trained networks.

A sweep file is a ``torchrate fit`` configuration (``base:``, a config file, and/or ``fit:``, inline,
merged over it) plus a search space over its keys, written with dots::

    name: smoke
    base: ../flipflop.yaml               # relative to this file
    fit: {trainer: {max_epochs: 2}}      # merged over base
    space:
      seed_everything: {grid_search: [0, 1]}
      model.network.init_args.hidden_size: {grid_search: [8, 16]}
      model.lr: {loguniform: [0.001, 0.1]}
    num_samples: 1                       # repeats of the grid (random values drawn anew each time)

Each trial is a normal ``torchrate fit`` in ``<storage_path>/<name>/runs/<trial id>`` (its
``config.yaml``, ``fit.log``, checkpoints and end-of-fit analysis), run in a Ray worker; it
reports the held-out metrics and the fixed-point counts by kind. A trial that raises is
recorded with its error (``status: error``), never dropped. At the end:
``<storage_path>/<name>/population/`` holds ``population.csv`` and ``population.parquet`` (one
row per trial: trial id, status, error, the swept values ``config.<key>``, the metrics,
``fixed_points.<kind>`` counts, ``topology`` signature, run directory, checkpoint) and the
population analysis of the trained networks
(:func:`~torchrate.training.population.analyze_population`: ``population.md``, figures, distance
matrices).

Without an address a local Ray instance sized to the machine is started and shut down at the
end; ``address:`` (or ``--address``, or the ``RAY_ADDRESS`` variable) runs the same sweep on
an existing cluster, whose nodes need torchrate installed and ``storage_path`` on a shared
filesystem (the run directories are written there). ``--resume`` continues an interrupted sweep
(Tune's experiment restore; trials that failed are run again, an unfinished trial continues
from its ``last.ckpt``).

Ray is imported only when a sweep runs: ``pip install -e ".[sweep]"`` installs it.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import json
import math
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from .. import _validate

__all__ = ["load_sweep", "run_sweep"]

KEYS = (
    "name",
    "base",
    "fit",
    "space",
    "num_samples",
    "metric",
    "mode",
    "search_alg",
    "resources_per_trial",
    "max_concurrent_trials",
    "max_failures",
    "storage_path",
    "address",
    "analysis",
)
# a value of the search space: Tune's sampler of the same name, its arguments as a list
SPACE = {
    "grid_search": "a non-empty list of values, each one trial",
    "choice": "a non-empty list of values, one drawn per trial",
    "uniform": "[low, high], low < high",
    "loguniform": "[low, high], 0 < low < high",
    "randint": "[low, high), integers, low < high",
}
ANALYSIS = {
    "enabled": True,
    "n_trials": 64,
    "seed": 0,
    "keep": 0.99,
    "dsa": True,
    "rank": None,
    "n_delays": 1,
    "n_initial": 256,
    "color_by": None,
    "threads": 1,
}
SECTIONS = ("seed_everything", "threads", "trainer", "model", "data", "optimizer", "lr_scheduler", "ckpt_path")
_INSTALL = 'pip install -e ".[sweep]" (ray[tune], pandas, pyarrow)'


# ---------------------------------------------------------------------- the sweep file
def load_sweep(source: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    """Read and check a sweep file (or the same as a dict); return the resolved sweep.

    Every key is checked by name before anything runs (and the fit configuration of the first
    trial is parsed by ``torchrate fit`` when the sweep starts): an unknown key, a bad search
    space or option raises ``ValueError``/``TypeError`` naming it. ``base`` is read (relative to
    the sweep file; to the working directory for a dict) and ``fit`` merged over it.

    Parameters
    ----------
    source : path or dict
        A YAML file with the keys below, or the same as a mapping.

        * ``name`` (str, default the file's stem) and ``storage_path`` (default ``sweeps``):
          the sweep is written to ``<storage_path>/<name>``;
        * ``base`` (path) and/or ``fit`` (mapping): the ``torchrate fit`` configuration;
        * ``space``: ``{dotted.key: {grid_search|choice: [...]} | {uniform|loguniform|randint:
          [low, high]} | value}``;
        * ``num_samples`` (int ≥ 1, default 1), ``metric`` (a reported metric) with ``mode``
          (``min``/``max``), ``search_alg`` (a Tune search algorithm by name, or ``{name: …,
          **its options}``), ``resources_per_trial`` (``{cpu: 1, gpu: 0}``),
          ``max_concurrent_trials`` (int ≥ 1 or null), ``max_failures`` (retries, default 0);
        * ``address`` (a Ray cluster, null: a local instance);
        * ``analysis``: ``enabled``, ``n_trials``, ``seed``, ``keep``, ``dsa``, ``rank``,
          ``n_delays``, ``n_initial`` (see :func:`~torchrate.training.population.analyze_population`),
          ``color_by`` (a ``space`` key) and ``threads`` (torch threads while it runs, default 1).

    Returns
    -------
    dict
        Every key above, defaults filled in, ``fit`` the merged configuration, paths absolute.
    """
    spec, here, stem = _read(source)
    unknown = [k for k in spec if k not in KEYS]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), KEYS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"sweep: unknown key {unknown[0]!r}{hint}; the keys are {', '.join(KEYS)}")
    name = spec.get("name", stem)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"sweep: name must be a folder name (letters, digits, _ . -), got {_validate._show(name)}")
    fit = _fit_config(spec.get("base"), spec.get("fit"), here)
    space = _check_space(spec.get("space", {}))
    num_samples = _validate.as_int("sweep: num_samples", spec.get("num_samples", 1), minimum=1)
    metric, mode = spec.get("metric"), spec.get("mode")
    if metric is not None and not isinstance(metric, str):
        raise TypeError(
            f"sweep: metric must be the name of a reported metric (e.g. mse), got {_validate._show(metric)}"
        )
    if (metric is None) != (mode is None):
        raise ValueError(f"sweep: metric and mode go together (mode: min or max), got metric={metric!r}, mode={mode!r}")
    if mode is not None:
        _validate.check_choice("sweep: mode", mode, ("min", "max"))
    search_alg = _check_named("search_alg", spec.get("search_alg"))
    if search_alg is not None and metric is None:
        raise ValueError("sweep: search_alg needs metric and mode (what it optimises)")
    resources = _check_resources(spec.get("resources_per_trial", {}))
    concurrent = spec.get("max_concurrent_trials")
    if concurrent is not None:
        concurrent = _validate.as_int("sweep: max_concurrent_trials", concurrent, minimum=1, fix="or null: no limit")
    max_failures = _validate.as_int("sweep: max_failures", spec.get("max_failures", 0), minimum=0)
    storage = spec.get("storage_path", "sweeps")
    _validate.check_path("sweep: storage_path", storage, fix="a folder (every node of a cluster must see it)")
    address = spec.get("address")
    if address is not None and (not isinstance(address, str) or not address):
        raise TypeError(f"sweep: address must be a Ray address (ray://host:10001, auto) or null, got {address!r}")
    analysis = _check_analysis(spec.get("analysis", {}), space)
    return {
        "name": name,
        "fit": fit,
        "space": space,
        "num_samples": num_samples,
        "metric": metric,
        "mode": mode,
        "search_alg": search_alg,
        "resources_per_trial": resources,
        "max_concurrent_trials": concurrent,
        "max_failures": max_failures,
        "storage_path": str(Path(storage).expanduser().resolve()),
        "address": address,
        "analysis": analysis,
    }


def _read(source: object) -> tuple[dict[str, Any], Path, str]:
    if isinstance(source, Mapping):
        return dict(source), Path.cwd(), "sweep"
    path = Path(_validate.check_path("source", source, fix="a sweep YAML file, or a dict of its keys"))
    if not path.is_file():
        raise FileNotFoundError(f"sweep file {str(path)!r} does not exist")
    content = yaml.safe_load(path.read_text())
    if not isinstance(content, dict):
        raise ValueError(
            f"sweep file {str(path)!r} must be a YAML mapping (base:, fit:, space:, …), got {type(content).__name__}"
        )
    return content, path.resolve().parent, path.stem


def _fit_config(base: object, fit: object, here: Path) -> dict[str, Any]:
    if base is None and fit is None:
        raise ValueError(
            "sweep: give the fit configuration as base: (a `torchrate fit` config file) and/or fit: (inline)"
        )
    config: dict[str, Any] = {}
    if base is not None:
        base_file = _validate.check_path(
            "sweep: base", base, fix="a `torchrate fit` config file, relative to the sweep file"
        )
        path = (here / base_file).resolve()
        if not path.is_file():
            raise FileNotFoundError(
                f"sweep: base {str(base)!r} not found (looked for {str(path)!r}, relative to the sweep file)"
            )
        config = yaml.safe_load(path.read_text()) or {}
        if not isinstance(config, dict):
            raise ValueError(f"sweep: base {str(path)!r} must be a YAML mapping (trainer:, model:, data:)")
    if fit is not None:
        if not isinstance(fit, Mapping):
            raise TypeError(f"sweep: fit must be a mapping (trainer:, model:, data:), got {_validate._show(fit)}")
        config = _merged(config, fit)
    for key in config:
        if key not in SECTIONS:
            raise ValueError(
                f"sweep: the fit configuration has an unknown section {key!r}; the sections are {SECTIONS}"
            )
    return config


def _merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` merged into a copy of ``base``, mapping by mapping (other values replaced)."""
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        out[k] = _merged(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else copy.deepcopy(v)
    return out


def _check_space(space: object) -> dict[str, Any]:
    if not isinstance(space, Mapping):
        raise TypeError(f"sweep: space must be a mapping of dotted config keys to values, got {_validate._show(space)}")
    out = {}
    for key, value in space.items():
        if not isinstance(key, str) or not all(key.split(".")) or key.split(".")[0] not in SECTIONS:
            raise ValueError(
                f"sweep: space key {key!r} must be a dotted key of the fit configuration starting with one of "
                f"{SECTIONS}, e.g. model.network.init_args.hidden_size"
            )
        if isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in SPACE:
            kind, args = next(iter(value.items()))
            _check_sampler(key, kind, args)
        elif isinstance(value, Mapping) and any(k in SPACE for k in value):
            raise ValueError(f"sweep: space[{key!r}] must hold one sampler ({', '.join(SPACE)}), got {dict(value)!r}")
        out[key] = copy.deepcopy(value)
    return out


def _check_sampler(key: str, kind: str, args: object) -> None:
    where = f"sweep: space[{key!r}].{kind}"
    if kind in ("grid_search", "choice"):
        if not isinstance(args, list) or not args:
            raise ValueError(f"{where} must be {SPACE[kind]}, got {_validate._show(args)}")
        return
    if not isinstance(args, list) or len(args) != 2:
        raise ValueError(f"{where} must be {SPACE[kind]}, got {_validate._show(args)}")
    low: float
    high: float
    if kind == "randint":
        low, high = (_validate.as_int(where, a) for a in args)
    else:
        low, high = (_validate.as_float(where, a) for a in args)
    if not low < high or (kind == "loguniform" and low <= 0):
        raise ValueError(f"{where} must be {SPACE[kind]}, got {args!r}")


def _check_named(key: str, value: object) -> dict[str, Any] | None:
    """``None``, a name, or ``{name: …, **options}`` as ``{"name": …, "options": {…}}``."""
    if value is None:
        return None
    if isinstance(value, str):
        return {"name": value, "options": {}}
    if isinstance(value, Mapping) and isinstance(value.get("name"), str):
        return {"name": value["name"], "options": {k: v for k, v in value.items() if k != "name"}}
    raise TypeError(
        f"sweep: {key} must be a Tune search algorithm's name (optuna, hyperopt, …) or {{name: …, its options}}, "
        f"got {_validate._show(value)}"
    )


def _check_resources(resources: object) -> dict[str, Any]:
    if not isinstance(resources, Mapping):
        raise TypeError(
            f"sweep: resources_per_trial must be a mapping {{cpu: 1, gpu: 0}}, got {_validate._show(resources)}"
        )
    for k in resources:
        if k not in ("cpu", "gpu"):
            raise ValueError(f"sweep: resources_per_trial has an unknown key {k!r}; the keys are cpu and gpu")
    cpu = _validate.as_int("sweep: resources_per_trial.cpu", resources.get("cpu", 1), minimum=1)
    gpu = _validate.as_float("sweep: resources_per_trial.gpu", resources.get("gpu", 0))
    if gpu < 0:
        raise ValueError(f"sweep: resources_per_trial.gpu must be ≥ 0 (a share of a GPU per trial), got {gpu}")
    return {"cpu": cpu, "gpu": gpu}


def _check_analysis(analysis: object, space: dict[str, Any]) -> dict[str, Any]:
    from .population import check_options

    if not isinstance(analysis, Mapping):
        raise TypeError(f"sweep: analysis must be a mapping of options, got {_validate._show(analysis)}")
    for k in analysis:
        if k not in ANALYSIS:
            raise ValueError(f"sweep: analysis has an unknown key {k!r}; the keys are {', '.join(ANALYSIS)}")
    out = ANALYSIS | dict(analysis)
    _validate.check_flag("sweep: analysis.enabled", out["enabled"])
    numeric = {k: out[k] for k in ("n_trials", "seed", "keep", "dsa", "rank", "n_delays", "n_initial")}
    try:
        out |= check_options(**numeric)
    except (TypeError, ValueError) as err:
        raise type(err)(f"sweep: analysis.{err}") from None
    if out["color_by"] is not None and out["color_by"] not in space:
        raise ValueError(
            f"sweep: analysis.color_by must be a key of space {list(space)} or null, got {out['color_by']!r}"
        )
    out["threads"] = _validate.as_int("sweep: analysis.threads", out["threads"], minimum=1)
    return out


def trial_config(fit: Mapping[str, Any], values: Mapping[str, Any], run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The fit configuration of one trial: ``values`` (dotted keys) set in a copy of ``fit``, the run
    directory set, and the progress bar off unless the configuration asks for it (it would fill the log)."""
    config = copy.deepcopy(dict(fit))
    # a key before the keys inside it (model.network before model.network.init_args.hidden_size),
    # whatever the order of the space: the inner value is set inside the outer one, not replaced by it
    for key, value in sorted(values.items(), key=lambda kv: kv[0].count(".")):
        *parents, leaf = key.split(".")
        node = config
        for p in parents:
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        node[leaf] = copy.deepcopy(value)
    trainer = config.setdefault("trainer", {})
    trainer["default_root_dir"] = str(run_dir)
    trainer.setdefault("enable_progress_bar", False)
    return config


# ---------------------------------------------------------------------- one trial (in a Ray worker)
def _trial(values: dict[str, Any], *, fit: dict[str, Any], root: str) -> None:
    """Tune's function trainable: ``torchrate fit`` in ``<root>/runs/<trial id>``, then one report."""
    from ray import tune

    from ..cli import main

    run = Path(root) / "runs" / tune.get_context().get_trial_id()
    run.mkdir(parents=True, exist_ok=True)
    path = run / "config.yaml"
    path.write_text(yaml.safe_dump(trial_config(fit, values, run), sort_keys=False))
    args = ["fit", "--config", str(path)]
    if (run / "checkpoints" / "last.ckpt").exists():
        args += ["--ckpt_path", "last"]  # a resumed trial continues its run
    with open(run / "fit.log", "a") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        main(args)
    tune.report(_result(run))


def _result(run: Path) -> dict[str, Any]:
    """What a trial reports: the held-out metrics and fixed points of its newest analysis."""
    summaries = sorted(run.glob("analysis*/summary.json"), key=lambda p: p.stat().st_mtime)
    if not summaries:
        raise RuntimeError(f"{run}: the fit wrote no analysis/summary.json (is AnalysisCallback removed?)")
    summary = json.loads(summaries[-1].read_text())
    fps = summary.get("fixed_points") or {}
    out: dict[str, Any] = {k: v for k, v in (summary.get("metrics") or {}).items() if isinstance(v, (int, float))}
    out |= {f"fixed_points.{k}": n for k, n in (fps.get("by_kind") or {}).items()}
    out |= {"fixed_points.count": fps.get("count"), "fixed_points.stable": fps.get("stable")}
    last = run / "checkpoints" / "last.ckpt"
    out |= {"run_dir": str(run), "checkpoint": str(last.resolve()) if last.exists() else ""}
    return out


# ---------------------------------------------------------------------- the sweep
def run_sweep(
    sweep: str | os.PathLike[str] | Mapping[str, Any],
    *,
    address: str | None = None,
    resume: bool = False,
    progress: bool = True,
) -> Path:
    """Run a sweep on Ray Tune; write its table and population analysis; return the folder.

    Parameters
    ----------
    sweep : path or dict
        A sweep file or dict (:func:`load_sweep`).
    address : str, optional
        A Ray cluster (``ray://host:10001``, ``auto``); overrides the file's ``address:``, which
        overrides ``RAY_ADDRESS``. None of them: a local Ray instance with every CPU, shut down
        at the end (an instance already started in this process is used as it is).
    resume : bool
        Continue the sweep of this name (Tune's experiment restore): finished trials are kept,
        failed and unfinished ones run again (an unfinished run from its ``last.ckpt``). The
        sweep file must be the one it started with. Without ``resume``, a folder holding a sweep
        is refused.
    progress : bool
        Tune's progress table while the trials run.

    Returns
    -------
    Path
        ``<storage_path>/<name>/population``: ``population.csv``, ``population.parquet``, and
        the population analysis (``population.md``, figures, matrices).
    """
    spec = load_sweep(sweep)
    if address is not None and (not isinstance(address, str) or not address):
        raise TypeError(
            f"address must be a Ray address (ray://host:10001, auto) or None, got {_validate._show(address)}"
        )
    _validate.check_flag("resume", resume, fix="True continues the sweep of this name")
    _validate.check_flag("progress", progress)
    ray, tune = _import_ray()
    experiment = Path(spec["storage_path"]) / spec["name"]
    _check_experiment(tune, experiment, spec, resume)
    search_alg = _searcher(spec)
    _check_first_trial(spec)
    started = _start_ray(ray, _address(address, spec["address"]))
    try:
        trainable = tune.with_resources(
            tune.with_parameters(_trial, fit=spec["fit"], root=str(experiment)),
            {"cpu": spec["resources_per_trial"]["cpu"], "gpu": spec["resources_per_trial"]["gpu"]},
        )
        if resume:
            tuner = tune.Tuner.restore(str(experiment), trainable, resume_errored=True)
        else:
            experiment.mkdir(parents=True, exist_ok=True)
            (experiment / "sweep.json").write_text(json.dumps(spec, indent=2, default=str))
            tuner = tune.Tuner(
                trainable,
                param_space=_param_space(tune, spec["space"]),
                tune_config=tune.TuneConfig(
                    num_samples=spec["num_samples"],
                    # Tune checks every report for the metric: only a search algorithm needs it (a
                    # misspelt metric then fails the sweep at the first report); the table ranks by it
                    metric=spec["metric"] if search_alg is not None else None,
                    mode=spec["mode"] if search_alg is not None else None,
                    search_alg=search_alg,
                    max_concurrent_trials=spec["max_concurrent_trials"],
                    trial_dirname_creator=_trial_dirname,
                    trial_name_creator=_trial_dirname,
                ),
                run_config=tune.RunConfig(
                    name=spec["name"],
                    storage_path=spec["storage_path"],
                    failure_config=tune.FailureConfig(max_failures=spec["max_failures"]),
                    verbose=1 if progress else 0,
                ),
            )
        results = tuner.fit()
    finally:
        if started:
            ray.shutdown()
    rows = _rows(results, list(spec["space"]), experiment)
    return _write_population(rows, spec, experiment / "population")


def _trial_dirname(trial: Any) -> str:  # a ray.tune Trial (Ray ships no types here)
    return trial.trial_id


def _import_ray() -> tuple[Any, Any]:  # the ray and ray.tune modules
    try:
        import ray
        from ray import tune
    except ImportError as err:
        raise ModuleNotFoundError(
            f"torchrate sweep needs Ray Tune, an optional dependency ({err}): {_INSTALL}"
        ) from None
    return ray, tune


def _check_experiment(tune: Any, experiment: Path, spec: dict[str, Any], resume: bool) -> None:
    held = experiment.is_dir() and tune.Tuner.can_restore(str(experiment))
    if resume:
        if not held:
            raise FileNotFoundError(f"resume: {str(experiment)!r} holds no sweep to resume; run it without --resume")
        saved = json.loads((experiment / "sweep.json").read_text())
        current = json.loads(json.dumps(spec, default=str))
        diff = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
        if diff:
            raise ValueError(
                f"resume: the sweep file differs from the one {str(experiment)!r} was started with in {diff}; "
                "resume with that file, or give the changed sweep another name"
            )
    elif held:
        raise FileExistsError(
            f"{str(experiment)!r} holds a sweep already: continue it with --resume, or give this one another name "
            "(name:) or storage_path"
        )


def _searcher(spec: dict[str, Any]) -> Any:  # a ray.tune search algorithm, or None
    """Tune's search algorithm named in the sweep (None: grid and random sampling)."""
    named = spec["search_alg"]
    if named is None:
        return None
    from ray.tune.search import SEARCH_ALG_IMPORT, create_searcher

    if named["name"] not in SEARCH_ALG_IMPORT:
        raise ValueError(f"sweep: search_alg must be one of {sorted(SEARCH_ALG_IMPORT)}, got {named['name']!r}")
    return create_searcher(named["name"], **named["options"])


def _first_values(space: dict[str, Any]) -> dict[str, Any]:
    """A value of every key of the space (the first of a list, the low end of a range)."""
    out = {}
    for key, value in space.items():
        if isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in SPACE:
            out[key] = next(iter(value.values()))[0]
        else:
            out[key] = value
    return out


def _check_first_trial(spec: dict[str, Any]) -> None:
    """Parse the first trial's fit configuration as ``torchrate fit`` will (a misspelt key or a
    wrong type is reported now, not by every trial)."""
    import io
    import tempfile

    from ..cli import main

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text(yaml.safe_dump(trial_config(spec["fit"], _first_values(spec["space"]), Path(tmp) / "run")))
        err = io.StringIO()
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                main(["fit", "--config", str(path), "--print_config"])
        except SystemExit as exit_:
            if exit_.code not in (0, None):
                message = err.getvalue().strip().splitlines()
                raise ValueError(
                    "sweep: the fit configuration of the first trial is refused by `torchrate fit`: "
                    + (message[-1] if message else f"exit code {exit_.code}")
                ) from None


def _address(given: str | None, in_file: str | None) -> str | None:
    """The cluster to run on: ``--address``, else the file's ``address:``, else ``RAY_ADDRESS``;
    None (a local instance) when none is set."""
    return given or in_file or os.environ.get("RAY_ADDRESS") or None


def _start_ray(ray: Any, address: str | None) -> bool:
    """Connect to ``address``, or start a local instance; True when this call started it."""
    import logging

    if ray.is_initialized():
        return False
    quiet = dict(logging_level=logging.ERROR, log_to_driver=False)
    if address:
        ray.init(address=address, **quiet)
    else:
        ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, **quiet)
    return True


def _param_space(tune: Any, space: dict[str, Any]) -> dict[str, Any]:
    samplers = {
        "grid_search": tune.grid_search,
        "choice": tune.choice,
        "uniform": lambda a: tune.uniform(*a),
        "loguniform": lambda a: tune.loguniform(*a),
        "randint": lambda a: tune.randint(*a),
    }
    out = {}
    for key, value in space.items():
        if isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in SPACE:
            kind, args = next(iter(value.items()))
            out[key] = samplers[kind](args)
        else:
            out[key] = value
    return out


# ---------------------------------------------------------------------- the table and the analysis
def _label(value: object) -> str | float | int | bool:
    """A swept value as one table cell: numbers and strings as they are, a class spec as
    ``Class(arg=…)``, anything else as JSON."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value if value is not None else ""
    if isinstance(value, Mapping) and isinstance(value.get("class_path"), str):
        args = ", ".join(f"{k}={v}" for k, v in (value.get("init_args") or {}).items())
        return f"{value['class_path'].rsplit('.', 1)[-1]}({args})"
    return json.dumps(value, sort_keys=True, default=str)


def _rows(results: Any, keys: list[str], experiment: Path) -> list[dict[str, Any]]:
    rows = []
    for result in results:
        metrics = dict(result.metrics or {})
        error = result.error
        trial_id = metrics.get("trial_id") or Path(result.path).name
        status = "error" if error is not None else ("ok" if "run_dir" in metrics else "unfinished")
        row = {"trial_id": trial_id, "status": status, "error": _error_line(error) if error is not None else ""}
        row |= {f"config.{k}": _label((result.config or {}).get(k)) for k in keys}
        row |= {k: v for k, v in metrics.items() if _reported(k, v)}
        row.setdefault("run_dir", str(experiment / "runs" / trial_id))
        row.setdefault("checkpoint", "")
        rows.append(row)
    rows.sort(key=lambda r: r["trial_id"])
    kinds = sorted({k for r in rows for k in r if k.startswith("fixed_points.")})
    for r in rows:
        for k in kinds:
            if r["status"] == "ok":
                r.setdefault(k, 0)
    return rows


def _reported(key: str, value: object) -> bool:
    """A trial's own report (not Tune's bookkeeping: time, node, pid, …)."""
    tune_keys = {"trial_id", "timestamp", "time_this_iter_s", "time_total_s", "pid", "hostname", "node_ip", "done"}
    tune_keys |= {
        "training_iteration",
        "date",
        "time_since_restore",
        "iterations_since_restore",
        "checkpoint_dir_name",
        "experiment_tag",
    }
    return key not in tune_keys and key != "config" and not key.startswith("config/")


def _error_line(error: object) -> str:
    """The last line of a trial's error (Ray wraps it in its traceback)."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def _write_population(rows: list[dict[str, Any]], spec: dict[str, Any], out: Path) -> Path:
    import pandas as pd

    from .population import analyze_population

    out.mkdir(parents=True, exist_ok=True)
    options = spec["analysis"]
    ok = [r for r in rows if r["status"] == "ok" and r["checkpoint"] and Path(r["checkpoint"]).is_file()]
    analysis = None
    if options["enabled"] and ok:
        keys = [f"config.{k}" for k in spec["space"]]
        with _torch_threads(options["threads"]):
            analysis = analyze_population(
                [r["checkpoint"] for r in ok],
                out,
                names=[r["trial_id"] for r in ok],
                labels=[{k[len("config.") :]: r[k] for k in keys} for r in ok],
                color_by=options["color_by"],
                **{k: options[k] for k in ("n_trials", "seed", "keep", "dsa", "rank", "n_delays", "n_initial")},
            )
        signatures = {n: t["signature"] for n, t in zip(analysis["names"], analysis["topology"]["networks"])}
        for r in rows:
            r["topology"] = signatures.get(r["trial_id"], "")
    table = pd.DataFrame(rows)
    table.to_csv(out / "population.csv", index=False)
    table.to_parquet(out / "population.parquet", index=False)
    body = (out / "population.md").read_text() if analysis is not None else ""
    (out / "population.md").write_text(_sweep_markdown(rows, spec, analysis is not None) + body)
    return out


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def _sweep_markdown(rows: list[dict[str, Any]], spec: dict[str, Any], analysed: bool) -> str:
    counts = {s: sum(r["status"] == s for r in rows) for s in ("ok", "error", "unfinished")}
    lines = [
        f"# Sweep {spec['name']}",
        "",
        f"{len(rows)} trials: {counts['ok']} finished, {counts['error']} failed, {counts['unfinished']} unfinished "
        "(population.csv / population.parquet: one row each).",
        "",
    ]
    metric, mode = spec["metric"], spec["mode"]
    scored = [r for r in rows if r["status"] == "ok" and isinstance(r.get(metric), (int, float))]
    scored = [r for r in scored if math.isfinite(r[metric])]
    if metric and not scored and counts["ok"]:
        reported = sorted({k for r in rows if r["status"] == "ok" for k in r if isinstance(r[k], float)})
        lines += [f"metric {metric!r} was not reported by any trial; the trials reported {reported}.", ""]
    if metric and scored:
        best = (min if mode == "min" else max)(scored, key=lambda r: r[metric])
        lines += [
            f"Best by {metric} ({mode}): {best['trial_id']}, {metric} = {best[metric]:.4g}, run {best['run_dir']}",
            "",
        ]
    failed = [r for r in rows if r["status"] == "error"]
    if failed:
        lines += ["Failed trials:", ""] + [f"- {r['trial_id']}: {r['error']}" for r in failed] + [""]
    if counts["unfinished"]:
        lines += ["Unfinished trials: continue with `torchrate sweep --config … --resume`.", ""]
    if not analysed:
        lines += ["No population analysis (analysis.enabled is false, or no trial finished).", ""]
    return "\n".join(lines) + "\n"
