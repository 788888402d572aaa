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
