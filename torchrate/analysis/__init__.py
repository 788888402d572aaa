"""Opening the black box: spectra, Jacobians, fixed points, phase planes, bifurcation sweeps."""

from .bifurcation import Bifurcation, bifurcation
from .fixed_points import FixedPoints, classify, find_fixed_points, sample_states
from .jacobian import jacobian
from .lowrank import (
    LatentFixedPoints,
    RankFidelity,
    latent_fixed_points,
    latent_velocity,
    low_rank_approximation,
    rank_fidelity,
)
from .phase_plane import PhasePlane, phase_plane
from .spectrum import Spectrum, spectrum
from .sweep import Sweep, sweep

__all__ = ["Spectrum", "spectrum", "jacobian", "FixedPoints", "find_fixed_points", "classify",
           "sample_states", "PhasePlane", "phase_plane", "Sweep", "sweep", "Bifurcation", "bifurcation",
           "LatentFixedPoints", "latent_fixed_points", "latent_velocity", "low_rank_approximation",
           "RankFidelity", "rank_fidelity"]
