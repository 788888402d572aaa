"""torchrate: firing-rate recurrent networks in PyTorch — model, analyse, train.

τ dv/dt = −v + F(h + M v + b), h = W u, v the firing rates, time in ms.
"""

from importlib.metadata import PackageNotFoundError, version
from types import ModuleType

from . import dynamics, solvers
from .networks import EIRateRNN, Ensemble, LowRankRateRNN, NonFiniteRatesError, RateRNN
from .nonlinearities import Nonlinearity, nonlinearity

# submodules imported on first use (``tr.analysis``, ``tr.training`` …): importing
# torchrate stays light, and Lightning is loaded only by those who train
_SUBMODULES = ("analysis", "connectivity", "linear", "plotting", "systems", "tasks", "training", "zoo")


def __getattr__(name: str) -> ModuleType:
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'torchrate' has no attribute {name!r}")


try:
    __version__ = version("torchrate")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = [
    "RateRNN",
    "EIRateRNN",
    "LowRankRateRNN",
    "Ensemble",
    "NonFiniteRatesError",
    "Nonlinearity",
    "nonlinearity",
    "dynamics",
    "solvers",
    "__version__",
    *_SUBMODULES,
]
