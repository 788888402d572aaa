"""The private torch/torchdiffeq APIs torchrate uses: only in torchrate/_private.py, each checked here
against the public behaviour it stands for, so an upgrade that moves one fails here by name."""

from __future__ import annotations

import ast
import contextlib
import math
import pathlib
import warnings

import pytest
import torch
import torchdiffeq

from torchrate import _private

ROOT = pathlib.Path(__file__).resolve().parents[1] / "torchrate"
VERSIONS = f"torch {torch.__version__}, torchdiffeq {torchdiffeq.__version__}"


@contextlib.contextmanager
def private_api(what: str):
    """Fail with the API's name and the installed versions when it raises or misbehaves."""
    try:
        yield
    except Exception as err:  # AssertionError included: a changed meaning counts as a move
        pytest.fail(
            f"{what} has moved or changed in {VERSIONS}: {type(err).__name__}: {err}. Update its function in "
            "torchrate/_private.py (the docstring says what it stands for)",
            pytrace=False,
        )


# ----------------------------------------------------------------------------- torchdiffeq's method table
def test_torchdiffeq_methods_are_the_names_odeint_accepts_split_by_step_control():
    with private_api("torchdiffeq._impl.odeint.SOLVERS / torchdiffeq._impl.solvers.FixedGridODESolver"):
        adaptive, fixed = _private.torchdiffeq_methods()
        assert not adaptive & fixed
        assert {"dopri5", "dopri8", "bosh3", "adaptive_heun"} <= adaptive
        assert {"euler", "rk4", "midpoint"} <= fixed
        # dy/dt = -y on [0, 1]: odeint accepts every name and solves it (Euler's error at step 1/4: 0.05);
        # fixed-grid methods take the option step_size, the others warn that it is unexpected
        f = lambda t, y: -y  # noqa: E731
        y0, t = torch.ones(1, dtype=torch.float64), torch.tensor([0.0, 1.0], dtype=torch.float64)
        for method in sorted(adaptive | fixed):
            options = {"step_size": 0.25, **({"solver": "RK45"} if method == "scipy_solver" else {})}
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                y1 = torchdiffeq.odeint(f, y0, t, method=method, rtol=1e-4, atol=1e-6, options=options)[-1]
            assert abs(y1.item() - math.exp(-1)) < 0.06, method
            unexpected = any("Unexpected arguments" in str(w.message) for w in caught)
            assert unexpected == (method in adaptive), (method, [str(w.message) for w in caught])
        with pytest.raises(ValueError):
            torchdiffeq.odeint(f, y0, t, method="no-such-method")


# ----------------------------------------------------------------------------- functorch transforms
def test_transforms_active_is_true_inside_every_torch_func_transform_and_false_outside():
    from torch.func import grad, jacfwd, jacrev, jvp, vmap

    seen = []

    def f(x):
        seen.append(_private.transforms_active())
        return x.sin().sum()

    x = torch.randn(3, dtype=torch.float64)
    with private_api("torch._C._are_functorch_transforms_active"):
        assert _private.transforms_active() is False
        f(x)
        vmap(f)(x.reshape(3, 1))
        grad(f)(x)
        jacrev(f)(x)
        jacfwd(f)(x)
        jvp(f, (x,), (torch.ones_like(x),))
        assert seen == [False, True, True, True, True, True], seen
        assert _private.transforms_active() is False


# ----------------------------------------------------------------------------- fused Adam
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_adam_takes_the_steps_of_torch_optim_adam_fused_bit_for_bit(dtype):
    g = torch.Generator().manual_seed(0)
    v0 = torch.randn(5, 7, dtype=dtype, generator=g)
    grads = [torch.randn(5, 7, dtype=dtype, generator=g) for _ in range(20)]
    lr, b1, b2, eps = 3e-2, 0.9, 0.999, 1e-8

    ref = v0.clone()
    opt = torch.optim.Adam([ref], lr=lr, betas=(b1, b2), eps=eps, fused=True)
    for gk in grads:
        ref.grad = gk
        opt.step()

    v, m, s, step = v0.clone(), torch.zeros_like(v0), torch.zeros_like(v0), torch.zeros((), dtype=torch.float32)
    with private_api("torch._fused_adam_"):
        for gk in grads:
            _private.fused_adam_(v, gk, m, s, step, lr=lr, beta1=b1, beta2=b2, eps=eps)
        assert step.item() == len(grads)
        assert torch.equal(v, ref), (v - ref).abs().max()
        assert torch.equal(m, opt.state[ref]["exp_avg"]) and torch.equal(s, opt.state[ref]["exp_avg_sq"])


# ----------------------------------------------------------------------------- nowhere else
def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local names bound to torch/torchdiffeq modules or objects by imports: name → dotted path."""
    out = {"torch": "torch", "torchdiffeq": "torchdiffeq"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                out[a.asname or a.name.partition(".")[0]] = a.name if a.asname else a.name.partition(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                out[a.asname or a.name] = f"{node.module}.{a.name}"
    return out


def _is_private(part: str) -> bool:
    return part.startswith("_") and not (part.endswith("__") and part != "__bases__")


def private_uses(source: str) -> list[str]:
    """Every private torch/torchdiffeq name ``source`` uses, as dotted paths with line numbers:
    ``torch._x`` (any depth, through import aliases), imports of or from private modules, private
    names imported from torch, and any ``__bases__``."""
    tree = ast.parse(source)
    aliases, found, inside = _aliases(tree), [], set()
    for node in ast.walk(tree):  # outer nodes first: an attribute chain is read whole, once
        paths = []
        if isinstance(node, ast.Attribute) and id(node) not in inside:
            parts, inner = [node.attr], node.value
            while isinstance(inner, ast.Attribute):
                inside.add(id(inner))
                parts.append(inner.attr)
                inner = inner.value
            if node.attr == "__bases__":
                paths.append("….__bases__")
            if isinstance(inner, ast.Name) and inner.id in aliases:
                paths.append(".".join([aliases[inner.id], *reversed(parts)]))
        elif isinstance(node, ast.Import):
            paths = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            paths = [f"{node.module}.{a.name}" for a in node.names]
        for path in paths:
            root = path.partition(".")[0]
            if path.endswith("__bases__") or (
                root in ("torch", "torchdiffeq") and any(map(_is_private, path.split(".")))
            ):
                found.append(f"line {node.lineno}: {path}")
    return found


def test_the_scanner_finds_each_kind_of_private_use():
    snippets = {
        "import torch\ntorch._C._are_functorch_transforms_active()": "torch._C._are_functorch_transforms_active",
        "import torch\ntorch._fused_adam_([], [], [], [], [], [])": "torch._fused_adam_",
        "from torchdiffeq._impl.odeint import SOLVERS": "torchdiffeq._impl.odeint.SOLVERS",
        "import torchdiffeq._impl.solvers": "torchdiffeq._impl.solvers",
        "from torch.nn.utils import parametrize\nparametrize._inject_new_class(m)": "parametrize._inject_new_class",
        "import torch\nwith torch.nn.utils.stateless._reparametrize_module(m, p): pass": "_reparametrize_module",
        "from torch.nn.utils.stateless import _reparametrize_module": "stateless._reparametrize_module",
        "from torch import nn\nnn.utils.parametrize._inject_property(m, 'w')": "parametrize._inject_property",
        "base = type(m).__bases__[0]": "__bases__",
    }
    for source, expected in snippets.items():
        found = private_uses(source)
        assert len(found) == 1 and expected in found[0], (source, found)
    public = (
        "import torch\nfrom torch.nn.utils import parametrize\nx = torch.__version__\n"
        "parametrize.type_before_parametrizations(m)\n# torch._dynamo in a comment\ns = 'torch._C in a string'"
    )
    assert private_uses(public) == []


def test_no_module_but_private_py_uses_a_private_torch_or_torchdiffeq_api():
    offenders = {}
    for path in sorted(ROOT.rglob("*.py")):
        if path.name == "_private.py" and path.parent == ROOT:
            continue
        found = private_uses(path.read_text())
        if found:
            offenders[str(path.relative_to(ROOT.parent))] = found
    assert not offenders, (
        f"private torch/torchdiffeq APIs outside torchrate/_private.py: {offenders}. Use a public API, or wrap "
        "the private one in a function of torchrate/_private.py with a test in tests/test_private_apis.py"
    )
