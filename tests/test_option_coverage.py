"""Every option of every public function and class has a bad-input case (issue 17's ratchet).

The public surface is read from the signatures of what the ``__all__`` of each module of
``tests/public_api.py``'s ``option_modules()`` exports (the documented modules, then every other
module with an ``__all__``; an object exported by several is counted once, under the first), and
the alternative constructors ``from_weights``/``from_rnn``/``from_factors``/``elman``; an option
counts as covered when some case id in ``tests/test_bad_inputs.py`` names both the callable and the option.
Options not covered yet are listed in ``tests/data/options_without_a_bad_input_case.txt``: a new
option that is neither covered nor listed fails here, and so does a listed one that has gained a
case (remove it from the list). Result containers (what analyses return) are not inputs.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest
import test_bad_inputs as bad
from public_api import option_modules

RESULTS = {
    "FixedPoints",
    "Manifold",
    "Spectrum",
    "PhasePlane",
    "Sweep",
    "Bifurcation",
    "LatentFixedPoints",
    "RankFidelity",
    "Residual",
    "Branch",
    "Fold",
    "Hopf",
    "Slice",
    "KMeans",
    "UnitClusters",
    "DSA",
    "Topology",
}
BACKLOG = Path(__file__).parent / "data" / "options_without_a_bad_input_case.txt"
README = Path(__file__).parents[1] / "README.md"


def public_options() -> set[str]:
    """``module.callable(option)`` for every named parameter of the public API."""
    out, seen = set(), set()
    for module_name in option_modules():
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name, None)
            if obj is None or inspect.ismodule(obj) or name in RESULTS or id(obj) in seen:
                continue
            seen.add(id(obj))
            targets = [(name, obj.__init__ if inspect.isclass(obj) else obj)] if callable(obj) else []
            if inspect.isclass(obj):
                targets += [
                    (f"{name}.{m}", getattr(obj, m))
                    for m in ("from_weights", "from_rnn", "from_factors", "elman")
                    if m in vars(obj)
                ]
            for label, fn in targets:
                try:
                    parameters = inspect.signature(fn).parameters.values()
                except (TypeError, ValueError):
                    continue
                out |= {
                    f"{module_name}.{label}({p.name})"
                    for p in parameters
                    if p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                }
    return out


def covered(option: str, ids: list[str]) -> bool:
    label, param = re.match(r".*?\.?([\w.]+)\((\w+)\)$", option).groups()
    short = label.split(".")[-1]
    a, b = re.escape(short), re.escape(param)
    pattern = re.compile(rf"\b{a}\b.*\b{b}\b|\b{b}\b.*\b{a}\b")
    return any(pattern.search(i) for i in ids)


def test_every_option_has_a_bad_input_case_or_is_listed():
    ids = [case[0] for case in bad.ALL_CASES] + [case[0] for case in bad.CLI_ARGPARSE]
    missing = {o for o in public_options() if not covered(o, ids)}
    listed = {line.strip() for line in BACKLOG.read_text().splitlines() if line.strip() and not line.startswith("#")}
    new = sorted(missing - listed)
    assert not new, f"options without a bad-input case (add one to tests/test_bad_inputs.py): {new}"
    done = sorted(listed - missing)
    assert not done, f"these now have a case (or no longer exist): remove them from {BACKLOG.name}: {done}"


def test_readme_states_the_counts():
    """The README's reliability section quotes the option and case counts; every case is clear
    (``test_bad_inputs.py`` asserts each one), so tried = clear. Update the README when they change.
    The README counts the NeuroGym cases, which exist only where the optional neurogym is installed."""
    pytest.importorskip("neurogym")
    text = re.sub(r"\s+", " ", README.read_text())
    options, cases = len(public_options()), len(bad.ALL_CASES) + len(bad.CLI_ARGPARSE)
    assert f"Every one of the {options} options of the public API" in text
    assert f"throws {cases} adversarial inputs" in text
    assert f"**{cases} tried, {cases} clear, 0 silent, 0 hangs, 0 not naming the argument**" in text
