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


@pytest.mark.parametrize("heading", ["## Quick start", "## Analysis", "### Any recurrent network"])
def test_readme_example_runs(heading, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dtype = torch.get_default_dtype()
    namespace: dict = {}
    try:
        exec(compile(python_block_after(heading), f"README {heading}", "exec"), namespace)
    finally:
        torch.set_default_dtype(dtype)  # an example may switch to float64
    if heading == "### Any recurrent network":
        return check_any_network_block(namespace)
    if heading == "## Quick start":
        assert namespace["rates"].shape == (500, 16, 64)
        gains = tr.analysis.spectrum(namespace["pair"].M.detach(), tau=10.0).gains
        torch.testing.assert_close(gains.real.sort().values, torch.tensor([1 / 1.8, 5.0]))
    else:
        check_analysis_block(namespace)


def check_analysis_block(ns: dict) -> None:
    """The numbers the README's analysis block states in its comments, from closed forms."""
    import math

    f64 = dict(dtype=torch.float64)
    # M = [[0, .8], [.8, 0]]: λ = ±0.8, gains 1/(1 − λ) = 5 and 1/1.8 (rounding only: 1e-15)
    torch.testing.assert_close(ns["s"].eigenvalues, torch.tensor([0.8, -0.8], **f64), rtol=0, atol=1e-15)
    torch.testing.assert_close(ns["s"].gains, torch.tensor([5.0, 1 / 1.8], **f64), rtol=1e-14, atol=0)
    # v∞ = (I − M)⁻¹h = [[1, .8], [.8, 1]] h / 0.36
    v_inf = torch.tensor([1.16 / 0.36, 1.0 / 0.36], **f64)
    torch.testing.assert_close(ns["v_inf"], v_inf, rtol=1e-14, atol=0)
    # v(t) = v∞ − Σ_i c_i e^{−(1−λ_i)t/τ} e_i from v(0) = 0, modes e = (1, ±1)/√2:
    # c₁ e₁ = (3, 3) decays at 0.2/10 per ms, c₂ e₂ = (2/9, −2/9) at 1.8/10 per ms
    t = 100.0
    slow, fast = 3 * math.exp(-0.02 * t), (2 / 9) * math.exp(-0.18 * t)
    expected = v_inf - torch.tensor([slow + fast, slow - fast], **f64)
    assert ns["v"].shape == (101, 2)
    torch.testing.assert_close(ns["v"][0], torch.zeros(2, **f64), rtol=0, atol=1e-15)
    torch.testing.assert_close(ns["v"][-1], expected, rtol=1e-12, atol=1e-12)
    # E–I pair at v = (20, 10): both units above threshold, J = diag(1/τ)(M − I)
    J = torch.tensor([[[0.25 / 10, -1.0 / 10], [1.0 / 50, -1.0 / 50]]], **f64)
    torch.testing.assert_close(ns["J"], J, rtol=1e-14, atol=1e-16)
    # one fixed point, v* = (I − M)⁻¹b = (80/3, 50/3) Hz; at τ_I = 50 ms Re λ = ½(0.025 − 0.02) > 0
    fps = ns["fps"]
    assert fps.kind == ["unstable spiral"]
    torch.testing.assert_close(fps.points, torch.tensor([[80 / 3, 50 / 3]], **f64), rtol=1e-12, atol=1e-12)
    # Hopf where Re λ = ½(0.025 − 1/τ_I) = 0: τ_I = 40 ms (refined by regula falsi to ~1e-12·80)
    assert len(ns["sw"].hopf) == 1 and abs(ns["sw"].hopf[0] - 40.0) < 1e-8
    assert ns["pp"].fixed_points.kind == ["unstable spiral"]


def check_any_network_block(ns: dict) -> None:
    """The 1-unit nn.RNN is unstable (μ = −1.5); the GRU's arrays have the stated shapes; the
    integrator is one line."""
    rnn_fps = tr.analysis.find_fixed_points(ns["rnn"], None, torch.linspace(-0.5, 0.5, 9)[:, None])
    assert rnn_fps.time == "discrete" and rnn_fps.kind == ["unstable node"]
    assert abs(rnn_fps.eigenvalues[0, 0].real.item() + 1.5) < 1e-6
    P = len(ns["fps"])
    assert P >= 1 and ns["fps"].input_jacobians.shape == (P, 32, 3)
    assert ns["fps"].left_eigenvectors.shape == (P, 32, 32)
    starts = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    line = tr.analysis.find_fixed_points(ns["line"], None, starts)
    assert len(line.manifolds) == 1 and line.manifolds[0].dimension == 1
