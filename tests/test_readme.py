"""The README's Python examples run as written (a broken quick start is a bug)."""

import re
from pathlib import Path

import pytest
import torch

import torchrate as tr

README = Path(__file__).resolve().parents[1] / "README.md"


def python_block_after(heading: str) -> str:
    """The first ```python block after ``heading`` in the README."""
    text = README.read_text()
    return re.search(r"```python\n(.*?)```", text[text.index(heading):], flags=re.S).group(1)


@pytest.mark.parametrize("heading", ["## Quick start", "## Analysis"])
def test_readme_example_runs(heading, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dtype = torch.get_default_dtype()
    namespace: dict = {}
    try:
        exec(compile(python_block_after(heading), f"README {heading}", "exec"), namespace)
    finally:
        torch.set_default_dtype(dtype)  # an example may switch to float64
    if heading == "## Quick start":
        assert namespace["rates"].shape == (500, 16, 64)
        gains = tr.analysis.spectrum(namespace["pair"].M.detach(), tau=10.0).gains
        torch.testing.assert_close(gains.real.sort().values, torch.tensor([1 / 1.8, 5.0]))
