"""Opening the black box: spectra, Jacobians, fixed points, phase planes, bifurcation sweeps."""

from .spectrum import Spectrum, spectrum

__all__ = ["Spectrum", "spectrum"]
