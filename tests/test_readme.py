"""The README's Python examples run as written (a broken quick start is a bug), and state true numbers.

The blocks are run by the collector of ``tests/test_docs_blocks.py`` (in order, in one namespace,
in a temporary directory; printed outputs compared there with the ``text`` blocks that follow);
here the numbers they state in comments are checked, from closed forms, in the namespace as it
was right after each block.
"""

import pytest
import torch
from test_docs_blocks import ROOT, blocks, page_run

import torchrate as tr


def namespace_after(heading: str) -> dict:
    """The page's namespace right after the first python block following ``heading``."""
    text = (ROOT / "README.md").read_text()
    line = text[: text.index(heading)].count("\n") + 1
    block = next(b for b in blocks("README.md") if b.language == "python" and b.line > line)
    return page_run("README.md").after[block.line]


@pytest.mark.parametrize(
    "heading", ["## Quick start", "## Analysis", "### Any recurrent network", "### Bifurcation diagrams"]
)
def test_readme_example_states_true_numbers(heading):
    namespace = namespace_after(heading)
    if heading == "### Any recurrent network":
        return check_any_network_block(namespace)
    if heading == "### Bifurcation diagrams":
        return check_bifurcation_block(namespace)
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


def check_bifurcation_block(ns: dict) -> None:
    """Two tanh units inhibiting each other with weight w = 1.5, driven by ±c/2: folds where
    c/2 = ±(w x* − atanh x*), x* = √(1 − 1/w); at c = 0 two attractors ±(x, −x), x = tanh(1.5 x),
    around the saddle at the origin."""
    import math

    w = 1.5
    x = math.sqrt(1 - 1 / w)
    c_fold = 2 * (w * x - math.atanh(x))
    bif = ns["bif"]
    assert len(bif.folds) == 2 and not bif.hopf
    # float32 network: the fold's value to ~1e-7 (its Newton stops at 500 eps·|p|)
    assert sorted(f.value for f in bif.folds) == pytest.approx([-c_fold, c_fold], abs=1e-6)
    at0 = bif.at(0.0)
    assert at0.stable.tolist() == [True, False, True]
    a = 0.8585596  # tanh(1.5 a) = a
    assert at0.points.abs().max().item() == pytest.approx(a, abs=1e-5)
