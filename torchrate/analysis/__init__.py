"""Opening the black box of any recurrent system: spectra, Jacobians, fixed points and continuous
attractors, phase planes, bifurcation diagrams (each takes what :func:`torchrate.systems.as_system`
takes); for networks trained on many tasks, the task variance of each unit, clusters of units and
fractional task variances (Yang et al. 2019, :mod:`~torchrate.analysis.multitask`); and
comparisons of many networks (:mod:`~torchrate.analysis.population`)."""

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
from .multitask import (
    KMeans,
    UnitClusters,
    cluster_units,
    fractional_task_variance,
    ftv_histogram,
    kmeans,
    silhouette_score,
    task_variance,
)
from .phase_plane import PhasePlane, phase_plane
from .spectrum import Spectrum, spectrum
from .stability import classify
from .sweep import Sweep, sweep

__all__ = [
    "Spectrum",
    "spectrum",
    "jacobian",
    "input_jacobian",
    "FixedPoints",
    "Manifold",
    "find_fixed_points",
    "classify",
    "sample_states",
    "PhasePlane",
    "phase_plane",
    "Sweep",
    "sweep",
    "Bifurcation",
    "bifurcation",
    "LatentFixedPoints",
    "latent_fixed_points",
    "latent_velocity",
    "low_rank_approximation",
    "RankFidelity",
    "rank_fidelity",
    "task_variance",
    "fractional_task_variance",
    "ftv_histogram",
    "cluster_units",
    "UnitClusters",
    "kmeans",
    "KMeans",
    "silhouette_score",
    "population",
]
