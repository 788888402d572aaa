"""Opening the black box: spectra, Jacobians, fixed points, phase planes, bifurcation sweeps."""

from .fixed_points import FixedPoints, classify, find_fixed_points, sample_states
from .jacobian import jacobian
from .spectrum import Spectrum, spectrum

__all__ = ["Spectrum", "spectrum", "jacobian", "FixedPoints", "find_fixed_points", "classify",
           "sample_states"]
