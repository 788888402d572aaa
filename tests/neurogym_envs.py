"""Which NeuroGym environments of a config ``tr.tasks.NeuroGym`` builds today.

NeuroGym's ``yang19.*`` collection has ten environments that are ``ScheduleEnvs`` (go, anti,
their reaction-time and delayed variants, dms, dnms, dmc, dnmc), which ``tr.tasks.NeuroGym``
refuses until it learns them; ``configs/neurogym/yang19.yaml`` lists all twenty. Tests of that
config run on the ones that build (and in full once they all do).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import yaml


def _tasks(config: dict) -> list[dict]:
    task = config["data"]["task"]
    return task["init_args"]["tasks"] if "tasks" in (task.get("init_args") or {}) else [task]


def refused(path: str | Path) -> list[str]:
    """The ``env_id`` of each NeuroGym task of the config at ``path`` that cannot be built."""
    import torchrate as tr

    out = []
    for spec in _tasks(yaml.safe_load(Path(path).read_text())):
        if not spec["class_path"].endswith("NeuroGym"):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tr.tasks.NeuroGym(**spec["init_args"])
        except ValueError:
            out.append(spec["init_args"]["env_id"])
    return out


def buildable(path: str | Path, out: str | Path) -> tuple[Path, list[str]]:
    """A copy of the config at ``path`` written to ``out`` without the tasks that cannot be built
    (their names, if any, dropped too); returns its path and the env ids left out."""
    config = yaml.safe_load(Path(path).read_text())
    left_out = refused(path)
    task = config["data"]["task"]["init_args"]
    keep = [i for i, t in enumerate(task["tasks"]) if t.get("init_args", {}).get("env_id") not in left_out]
    task["tasks"] = [task["tasks"][i] for i in keep]
    for key in ("names", "proportions"):
        if task.get(key) is not None:
            task[key] = [task[key][i] for i in keep]
    Path(out).write_text(yaml.safe_dump(config, sort_keys=False))
    return Path(out), left_out
