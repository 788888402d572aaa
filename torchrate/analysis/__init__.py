"""Opening the black box of any recurrent system: spectra, Jacobians, fixed points and continuous
attractors, phase planes, bifurcation diagrams (each takes what :func:`torchrate.systems.as_system`
takes), and comparisons of many networks (:mod:`~torchrate.analysis.population`)."""

from . import population
from .bifurcation import Bifurcation, bifurcation
from .fixed_points import FixedPoints, Manifold, find_fixed_points, sample_states
from .jacobian import input_jacobian, jacobian
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
from .stability import classify
from .sweep import Sweep, sweep

__all__ = ["Spectrum", "spectrum", "jacobian", "input_jacobian", "FixedPoints", "Manifold", "find_fixed_points",
           "classify",
           "sample_states", "PhasePlane", "phase_plane", "Sweep", "sweep", "Bifurcation", "bifurcation",
           "LatentFixedPoints", "latent_fixed_points", "latent_velocity", "low_rank_approximation",
           "RankFidelity", "rank_fidelity", "population"]
