"""The public modules of torchrate: one list, read by every test that enumerates the public API.

``tests/test_option_coverage.py`` (every option has a bad-input case) and ``tests/test_docs_site.py``
(every public name has a docstring and a reference page) both walk the ``__all__`` of these
modules, so a module added here is checked by both.
"""

PUBLIC_MODULES = (
    "torchrate",
    "torchrate.analysis",
    "torchrate.analysis.multitask",
    "torchrate.analysis.population",
    "torchrate.linear",
    "torchrate.systems",
    "torchrate.dynamics",
    "torchrate.nonlinearities",
    "torchrate.parametrizations",
    "torchrate.solvers",
    "torchrate.connectivity",
    "torchrate.zoo",
    "torchrate.plotting",
    "torchrate.tasks",
    "torchrate.training",
    "torchrate.training.curriculum",
    "torchrate.training.checkpoints",
    "torchrate.cli",
)


def option_modules() -> tuple[str, ...]:
    """:data:`PUBLIC_MODULES`, then every other torchrate module with an ``__all__`` (none of whose
    dotted parts starts with ``_``), found by walking the package: what the option-coverage ratchet
    scans, so that a new module's options cannot be missed by forgetting to list it."""
    import importlib
    import pkgutil

    import torchrate

    found = sorted(
        m.name
        for m in pkgutil.walk_packages(torchrate.__path__, "torchrate.")
        if not any(part.startswith("_") for part in m.name.split("."))
    )
    extra = tuple(m for m in found if m not in PUBLIC_MODULES and hasattr(importlib.import_module(m), "__all__"))
    return PUBLIC_MODULES + extra
