"""``import torchrate`` stays light (issue 18): nothing from torch._dynamo, torchdiffeq, lightning,
matplotlib, scipy or sympy is imported until a feature that needs it is used. Timed against
``import torch`` with ``farm-bench`` (README), never asserted on time here."""

import subprocess
import sys

HEAVY = ("torch._dynamo", "torchdiffeq", "lightning", "matplotlib", "scipy", "sympy")


def _imported_after(code: str) -> dict[str, bool]:
    probe = f"import sys\n{code}\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    return {m: m in out.split(",") for m in HEAVY}


def test_import_torchrate_imports_none_of_the_heavy_modules():
    assert not any(_imported_after("import torchrate").values())


def test_they_come_when_used():
    used = _imported_after(
        "import torch, torchrate as tr\ntr.RateRNN(2, 3, solver='rk4')\n"
        "net = tr.RateRNN(2, 3, noise_std=0.1, generator=torch.Generator().manual_seed(0))\n"
        "net(torch.zeros(2, 1, 2))"
    )
    assert used["torchdiffeq"] and used["torch._dynamo"] and not used["lightning"]
