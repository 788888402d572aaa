"""torchrate: firing-rate recurrent networks in PyTorch — model, analyse, train.

τ dv/dt = −v + F(h + M v + b), h = W u, v the firing rates, time in ms.
"""

from importlib.metadata import PackageNotFoundError, version

from . import dynamics, solvers
from .networks import EIRateRNN, NonFiniteRatesError, RateRNN
from .nonlinearities import Nonlinearity, nonlinearity

try:
    __version__ = version("torchrate")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = [
    "RateRNN",
    "EIRateRNN",
    "NonFiniteRatesError",
    "Nonlinearity",
    "nonlinearity",
    "dynamics",
    "solvers",
    "__version__",
]
