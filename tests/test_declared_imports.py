"""Every package torchrate imports is declared: the standard library, ``[project]
dependencies``, or (imported only inside the feature that needs it) an optional extra.

An AST scan of ``torchrate/`` for absolute imports; each top-level name is mapped to the
distribution that provides it (``importlib.metadata.packages_distributions``, e.g. ``yaml`` →
PyYAML) and looked up in ``pyproject.toml``. A package that is only installed because another
one pulls it in (``contourpy`` through matplotlib) fails here until it is declared.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="reads pyproject.toml with Python 3.11's tomllib")
ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "torchrate"


def _imported() -> dict[str, set[str]]:
    """Top-level module name -> the files importing it (absolute imports only)."""
    out: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                out.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return out


def _declared() -> tuple[set[str], set[str]]:
    """Normalised distribution names of the dependencies and of the optional extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(requirements) -> set[str]:
        return {re.split(r"[\s<>=!~\[;]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}

    extras = set().union(*(names(reqs) for reqs in project["optional-dependencies"].values()))
    return names(project["dependencies"]), extras


def test_every_imported_package_is_declared():
    required, extras = _declared()
    providers = packages_distributions()
    missing = []
    for module, files in sorted(_imported().items()):
        if module in sys.stdlib_module_names or module == "torchrate":
            continue
        dists = {d.lower().replace("_", "-") for d in providers.get(module, [module])}
        if not dists & (required | extras):
            missing.append(f"{module} ({', '.join(sorted(dists))}) in {', '.join(sorted(files))}")
    assert not missing, "imported but not declared in pyproject.toml:\n" + "\n".join(missing)


def test_the_scan_sees_imports_of_every_kind():
    imported = _imported()
    # a plain import, a from-import, a lazy import inside a function, and an extra's package
    assert {"torch", "yaml", "contourpy", "ray"} <= set(imported)
