"""Repository-level pytest configuration: which docstring examples are collected.

``--doctest-modules`` (pyproject) runs the examples in ``torchrate/``; the NeuroGym example
needs the optional ``neurogym`` package (in the ``test`` extra) and is skipped without it.
"""

import importlib.util

collect_ignore = [] if importlib.util.find_spec("neurogym") else ["torchrate/tasks/neurogym.py"]
