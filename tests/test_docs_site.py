"""The reference site (mkdocs.yml, docs/api/) documents every public name, and each has a docstring.

mkdocstrings renders only what has a docstring (``show_if_no_docstring: false``), so a public
name without one would silently be missing from the site: here every name in the ``__all__`` of
a public module needs a docstring of its own, and so does every public method and property its
classes define. Exempt are overrides of a base class's method, documented with the base: a
Lightning hook, ``nn.Module.extra_repr``, a task's ``evaluate`` (``Task.evaluate``). Data (a tuple,
a dict of names) carries no ``__doc__`` and is described by its module's docstring.
``mkdocs build --strict`` (CI) checks the rest: links, anchors, griffe's reading of the
docstrings and that every guide in docs/ is in the nav.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
from pathlib import Path

from public_api import PUBLIC_MODULES as MODULES  # each has a page in docs/api/ that renders its __all__

ROOT = Path(__file__).resolve().parents[1]
# parts of a public result, documented with it (Bifurcation.branches, .folds, .hopf)
EXTRA = (
    "torchrate.analysis.bifurcation.Branch",
    "torchrate.analysis.bifurcation.Fold",
    "torchrate.analysis.bifurcation.Hopf",
)


def _api_text() -> str:
    return "\n".join(p.read_text() for p in sorted((ROOT / "docs" / "api").glob("*.md")))


def _public() -> list[tuple[str, object]]:
    out = []
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        out.append((module_name, module))
        for name in module.__all__:
            obj = getattr(module, name)
            if not inspect.ismodule(obj):
                out.append((f"{module_name}.{name}", obj))
    for path in EXTRA:
        module_name, name = path.rsplit(".", 1)
        out.append((path, getattr(importlib.import_module(module_name), name)))
    return out


def _overrides(cls: type, name: str) -> bool:
    """``name`` overrides a method of a base class (documented there)."""
    return any(name in vars(base) for base in cls.__mro__[1:])


def _own_doc(obj) -> str:
    return (vars(obj).get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)) or ""


def test_every_public_name_has_a_docstring():
    missing = []
    for path, obj in _public():
        if not (inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj)):
            continue  # data: a tuple of names, a dict, a version string
        if not _own_doc(obj).strip():
            missing.append(path)
        if not inspect.isclass(obj):
            continue
        for name, member in vars(obj).items():
            if name.startswith("_") or _overrides(obj, name):
                continue
            if isinstance(member, property):
                doc = member.fget.__doc__ if member.fget else None
            elif isinstance(member, (staticmethod, classmethod)):
                doc = member.__func__.__doc__
            elif inspect.isfunction(member):
                doc = member.__doc__
            else:
                continue  # a class attribute: described in the class's docstring
            if not (doc or "").strip():
                missing.append(f"{path}.{name}")
    assert not missing, f"public names without a docstring (mkdocs would leave them out): {missing}"


def test_every_public_module_has_a_reference_page():
    text = _api_text()
    rendered = set(re.findall(r"^::: ([\w.]+)", text, flags=re.M))
    assert set(MODULES) <= rendered, f"modules without a ':::' block in docs/api/: {sorted(set(MODULES) - rendered)}"
    assert set(EXTRA) <= rendered


def test_names_shadowing_a_submodule_are_rendered_explicitly():
    """``from .spectrum import spectrum``: griffe reads ``torchrate.analysis.spectrum`` as the submodule
    (Python as the function), so mkdocstrings would skip the function; its page names it in full."""
    text = _api_text()
    shadowed = []
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        if not hasattr(module, "__path__"):
            continue  # not a package: no submodules
        shadowed += [
            f"{module_name}.{name}.{name}"
            for name in module.__all__
            if not inspect.ismodule(getattr(module, name))
            and importlib.util.find_spec(f"{module_name}.{name}") is not None
        ]
    assert "torchrate.analysis.spectrum.spectrum" in shadowed
    missing = [path for path in shadowed if f"::: {path}\n" not in text]
    assert not missing, f"add a ':::' block for each to its page in docs/api/: {missing}"
