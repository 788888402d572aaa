"""Bad-input cases for ``torchrate.zoo`` (hand-built networks, Hopfield helpers) and
``torchrate.connectivity`` (masks), gathered by ``tests/test_bad_inputs.py``.

Each case is ``(id, call, error type, pattern)``; the id names the callable and the option.
"""

from __future__ import annotations

import torch

import torchrate as tr

NAN, INF = float("nan"), float("inf")
zoo, conn = tr.zoo, tr.connectivity
PATTERNS = torch.tensor([[1.0, -1.0, 1.0, -1.0], [1.0, 1.0, -1.0, -1.0]])
W4 = zoo.hebbian_weights(PATTERNS)
S4 = PATTERNS[:1].clone()


CASES = [
    # ---------------------------------------------------------------- connectivity.no_autapses
    ("no_autapses N=-1", lambda: conn.no_autapses(-1), ValueError, r"\bN must be an integer ≥ 0, got -1"),
    ("no_autapses N=2.5", lambda: conn.no_autapses(2.5), TypeError, r"\bN must be an integer, got 2.5"),
    (
        "no_autapses device='gpu0'",
        lambda: conn.no_autapses(3, device="gpu0"),
        ValueError,
        r"device must be a torch.device or a name like 'cpu'",
    ),
    ("no_autapses device=1.5", lambda: conn.no_autapses(3, device=1.5), TypeError, r"device must be a torch.device"),
    # ---------------------------------------------------------------- connectivity.random_mask
    ("random_mask N=-3", lambda: conn.random_mask(-3, 0.5), ValueError, r"\bN must be an integer ≥ 0, got -3"),
    ("random_mask N='10'", lambda: conn.random_mask("10", 0.5), TypeError, r"\bN must be an integer"),
    (
        "random_mask density=1.5",
        lambda: conn.random_mask(3, 1.5),
        ValueError,
        r"density must be a probability in \[0, 1\], got 1.5",
    ),
    ("random_mask density=nan", lambda: conn.random_mask(3, NAN), ValueError, r"density must be a probability"),
    ("random_mask density='0.1'", lambda: conn.random_mask(3, "0.1"), TypeError, r"density must be a real number"),
    (
        "random_mask generator=0",
        lambda: conn.random_mask(3, 0.5, generator=0),
        TypeError,
        r"generator must be a torch.Generator or None",
    ),
    (
        "random_mask autapses='yes'",
        lambda: conn.random_mask(3, 0.5, autapses="yes"),
        TypeError,
        r"autapses must be True or False, got 'yes'",
    ),
    (
        "random_mask autapses=None",
        lambda: conn.random_mask(3, 0.5, autapses=None),
        TypeError,
        r"autapses must be True or False",
    ),
    (
        "random_mask device='gpu0'",
        lambda: conn.random_mask(3, 0.5, device="gpu0"),
        ValueError,
        r"device must be a torch.device or a name",
    ),
    # ---------------------------------------------------------------- connectivity.multi_area
    (
        "multi_area n_exc=40 (not a sequence)",
        lambda: conn.multi_area(40),
        TypeError,
        r"n_exc must be a sequence of neuron counts per area",
    ),
    ("multi_area n_exc=[]", lambda: conn.multi_area([]), ValueError, r"n_exc must name at least one area"),
    ("multi_area n_exc=[3, -1]", lambda: conn.multi_area([3, -1]), ValueError, r"n_exc\[1\] must be an integer ≥ 0"),
    ("multi_area n_exc=[3.5]", lambda: conn.multi_area([3.5]), TypeError, r"n_exc\[0\] must be an integer"),
    (
        "multi_area n_inh=2 (not a sequence)",
        lambda: conn.multi_area([3, 3], 2),
        TypeError,
        r"n_inh must be a sequence of neuron counts",
    ),
    (
        "multi_area n_inh one entry for two areas",
        lambda: conn.multi_area([3, 3], [1]),
        ValueError,
        r"n_inh must have one entry per area \(2\), got 1",
    ),
    (
        "multi_area n_inh=[1, -2]",
        lambda: conn.multi_area([3, 3], [1, -2]),
        ValueError,
        r"n_inh\[1\] must be an integer ≥ 0",
    ),
    (
        "multi_area projections=[(0, 2)] of 2 areas",
        lambda: conn.multi_area([3, 3], projections=[(0, 2)]),
        ValueError,
        r"projections must be a pair \(source, target\) of area indices in \[0, 2\)",
    ),
    (
        "multi_area projections=[(0, 1, 1)]",
        lambda: conn.multi_area([3, 3], projections=[(0, 1, 1)]),
        TypeError,
        r"projections must be a pair \(source, target\)",
    ),
    (
        "multi_area projections=[(0.0, 1.0)]",
        lambda: conn.multi_area([3, 3], projections=[(0.0, 1.0)]),
        TypeError,
        r"projections must be a pair \(source, target\) of area indices",
    ),
    (
        "multi_area projections=5",
        lambda: conn.multi_area([3, 3], projections=5),
        TypeError,
        r"projections must be a sequence of \(source, target\) pairs",
    ),
    (
        "multi_area projections float tensor",
        lambda: conn.multi_area([3, 3], projections=torch.ones(2, 2)),
        TypeError,
        r"projections as a tensor must be bool",
    ),
    (
        "multi_area projections bool tensor (3, 3)",
        lambda: conn.multi_area([3, 3], projections=torch.ones(3, 3, dtype=torch.bool)),
        ValueError,
        r"projections as a tensor must be bool of shape \(2, 2\)",
    ),
    (
        "multi_area long_range='inh'",
        lambda: conn.multi_area([3], long_range="inh"),
        ValueError,
        r"long_range must be 'exc' .* or 'all', got 'inh'",
    ),
    ("multi_area long_range=1", lambda: conn.multi_area([3], long_range=1), ValueError, r"long_range must be 'exc'"),
    (
        "multi_area local_density=-0.1",
        lambda: conn.multi_area([3], local_density=-0.1),
        ValueError,
        r"local_density must be a probability in \[0, 1\], got -0.1",
    ),
    (
        "multi_area local_density='dense'",
        lambda: conn.multi_area([3], local_density="dense"),
        TypeError,
        r"local_density must be a real number",
    ),
    (
        "multi_area long_range_density=2",
        lambda: conn.multi_area([3, 3], long_range_density=2.0),
        ValueError,
        r"long_range_density must be a probability in \[0, 1\], got 2.0",
    ),
    (
        "multi_area long_range_density=nan",
        lambda: conn.multi_area([3, 3], long_range_density=NAN),
        ValueError,
        r"long_range_density must be a probability",
    ),
    (
        "multi_area autapses=1",
        lambda: conn.multi_area([3], autapses=1),
        TypeError,
        r"autapses must be True or False, got 1",
    ),
    (
        "multi_area generator=42",
        lambda: conn.multi_area([3], local_density=0.5, generator=42),
        TypeError,
        r"generator must be a torch.Generator or None",
    ),
    # ---------------------------------------------------------------- zoo.SIGN
    ("SIGN x=[1.0, -1.0] (a list)", lambda: zoo.SIGN([1.0, -1.0]), TypeError, r"\bx must be a real tensor"),
    ("SIGN x complex", lambda: zoo.SIGN(torch.tensor([1j])), TypeError, r"\bx must be a real tensor"),
    # ---------------------------------------------------------------- zoo.weights_from_modes / basis_with_direction
    (
        "weights_from_modes eigenvectors (2, 3)",
        lambda: zoo.weights_from_modes(torch.ones(2, 3), [1.0, 0.0]),
        ValueError,
        r"eigenvectors must be a square \(N, N\) matrix Φ, got shape \(2, 3\)",
    ),
    (
        "weights_from_modes eigenvectors not orthonormal",
        lambda: zoo.weights_from_modes(torch.ones(2, 2), [1.0, 0.0]),
        ValueError,
        r"eigenvectors must be orthonormal",
    ),
    (
        "weights_from_modes eigenvectors string",
        lambda: zoo.weights_from_modes("I", [1.0]),
        TypeError,
        r"eigenvectors must be a real tensor",
    ),
    (
        "weights_from_modes eigenvectors NaN",
        lambda: zoo.weights_from_modes(torch.full((2, 2), NAN), [1.0, 0.0]),
        ValueError,
        r"eigenvectors must be finite",
    ),
    (
        "weights_from_modes eigenvalues (3,) for N=2",
        lambda: zoo.weights_from_modes(torch.eye(2), [1.0, 0.0, 0.0]),
        ValueError,
        r"eigenvalues must have shape \(2,\), got \(3,\)",
    ),
    (
        "weights_from_modes eigenvalues inf",
        lambda: zoo.weights_from_modes(torch.eye(2), [INF, 0.0]),
        ValueError,
        r"eigenvalues must be finite",
    ),
    (
        "weights_from_modes eigenvalues complex",
        lambda: zoo.weights_from_modes(torch.eye(2), [1j, 0.0]),
        TypeError,
        r"eigenvalues must be real",
    ),
    (
        "basis_with_direction direction zero",
        lambda: zoo.basis_with_direction([0.0, 0.0]),
        ValueError,
        r"direction must be non-zero",
    ),
    (
        "basis_with_direction direction (2, 2)",
        lambda: zoo.basis_with_direction(torch.ones(2, 2)),
        ValueError,
        r"direction must be a non-empty vector \(N,\), got shape \(2, 2\)",
    ),
    (
        "basis_with_direction direction NaN",
        lambda: zoo.basis_with_direction([NAN, 1.0]),
        ValueError,
        r"direction must be finite",
    ),
    (
        "basis_with_direction direction string",
        lambda: zoo.basis_with_direction("x"),
        TypeError,
        r"direction must be a real tensor",
    ),
    # ---------------------------------------------------------------- zoo.autapse
    ("autapse lambdas empty", lambda: zoo.autapse([]), ValueError, r"lambdas must hold at least one value"),
    ("autapse lambdas NaN", lambda: zoo.autapse([0.5, NAN]), ValueError, r"lambdas must be finite"),
    ("autapse lambdas string", lambda: zoo.autapse("0.5"), TypeError, r"lambdas must be a real tensor"),
    ("autapse tau=-1", lambda: zoo.autapse([0.5], tau=-1.0), ValueError, r"tau must be a positive finite number"),
    ("autapse tau='10'", lambda: zoo.autapse([0.5], tau="10"), TypeError, r"tau must be a real number"),
    ("autapse dt=nan", lambda: zoo.autapse([0.5], dt=NAN), ValueError, r"\bdt must be a positive finite number"),
    ("autapse dt=0", lambda: zoo.autapse([0.5], dt=0.0), ValueError, r"\bdt must be a positive finite number"),
    (
        "autapse nonlinearity='sigmoidal'",
        lambda: zoo.autapse([0.5], nonlinearity="sigmoidal"),
        ValueError,
        r"unknown nonlinearity 'sigmoidal'",
    ),
    (
        "autapse nonlinearity=3",
        lambda: zoo.autapse([0.5], nonlinearity=3),
        TypeError,
        r"nonlinearity must be a name or a callable",
    ),
    (
        "autapse dtype=int64 (was ignored)",
        lambda: zoo.autapse([0.5], dtype=torch.int64),
        TypeError,
        r"dtype must be a floating-point torch.dtype",
    ),
    (
        "autapse dtype='float64'",
        lambda: zoo.autapse([0.5], dtype="float64"),
        TypeError,
        r"dtype must be a floating-point torch.dtype",
    ),
    (
        "autapse device='gpu0'",
        lambda: zoo.autapse([0.5], device="gpu0"),
        ValueError,
        r"device must be a torch.device or a name",
    ),
    ("autapse device=[0]", lambda: zoo.autapse([0.5], device=[0]), TypeError, r"device must be a torch.device"),
    # ---------------------------------------------------------------- zoo.mutual_pair / excitation / inhibition
    ("mutual_pair weight='0.8'", lambda: zoo.mutual_pair("0.8"), TypeError, r"weight must be a real number"),
    ("mutual_pair weight=nan", lambda: zoo.mutual_pair(NAN), ValueError, r"weight must be a finite number"),
    ("mutual_pair tau=0", lambda: zoo.mutual_pair(0.5, tau=0.0), ValueError, r"tau must be a positive finite"),
    ("mutual_pair dt=-0.1", lambda: zoo.mutual_pair(0.5, dt=-0.1), ValueError, r"\bdt must be a positive finite"),
    (
        "mutual_pair dtype=torch.bool",
        lambda: zoo.mutual_pair(0.5, dtype=torch.bool),
        TypeError,
        r"dtype must be a floating-point torch.dtype",
    ),
    (
        "mutual_pair device='gpu0'",
        lambda: zoo.mutual_pair(0.5, device="gpu0"),
        ValueError,
        r"device must be a torch.device",
    ),
    (
        "mutual_excitation weight=-0.8",
        lambda: zoo.mutual_excitation(-0.8),
        ValueError,
        r"needs weight ≥ 0, got -0.8; use mutual_inhibition",
    ),
    (
        "mutual_excitation weight=nan (was a silent NaN network)",
        lambda: zoo.mutual_excitation(NAN),
        ValueError,
        r"weight must be a finite number",
    ),
    (
        "mutual_excitation weight='0.8'",
        lambda: zoo.mutual_excitation("0.8"),
        TypeError,
        r"weight must be a real number",
    ),
    (
        "mutual_inhibition weight=-0.8",
        lambda: zoo.mutual_inhibition(-0.8),
        ValueError,
        r"strength ≥ 0 \(M = −weight\), got -0.8",
    ),
    ("mutual_inhibition weight=inf", lambda: zoo.mutual_inhibition(INF), ValueError, r"weight must be a finite number"),
    # ---------------------------------------------------------------- zoo.line_attractor
    (
        "line_attractor direction zero",
        lambda: zoo.line_attractor([0.0, 0.0]),
        ValueError,
        r"direction must be non-zero",
    ),
    ("line_attractor direction string", lambda: zoo.line_attractor("x"), TypeError, r"direction must be a real"),
    (
        "line_attractor eigenvalue=nan",
        lambda: zoo.line_attractor([1.0, 1.0], eigenvalue=NAN),
        ValueError,
        r"eigenvalue must be a finite number",
    ),
    (
        "line_attractor eigenvalue='1'",
        lambda: zoo.line_attractor([1.0, 1.0], eigenvalue="1"),
        TypeError,
        r"eigenvalue must be a real number",
    ),
    (
        "line_attractor other_eigenvalues (3,) for N=3",
        lambda: zoo.line_attractor([1.0, 2.0, 2.0], other_eigenvalues=[0.1, 0.2, 0.3]),
        ValueError,
        r"other_eigenvalues must be a float or have shape \(2,\), got \(3,\)",
    ),
    (
        "line_attractor other_eigenvalues NaN",
        lambda: zoo.line_attractor([1.0, 1.0], other_eigenvalues=NAN),
        ValueError,
        r"other_eigenvalues must be finite",
    ),
    (
        "line_attractor tau=-10",
        lambda: zoo.line_attractor([1.0, 1.0], tau=-10.0),
        ValueError,
        r"tau must be a positive finite number",
    ),
    (
        "line_attractor dt=inf",
        lambda: zoo.line_attractor([1.0, 1.0], dt=INF),
        ValueError,
        r"\bdt must be a positive finite number",
    ),
    (
        "line_attractor dtype=torch.int32",
        lambda: zoo.line_attractor([1.0, 1.0], dtype=torch.int32),
        TypeError,
        r"dtype must be a floating-point torch.dtype",
    ),
    (
        "line_attractor device='gpu0'",
        lambda: zoo.line_attractor([1.0, 1.0], device="gpu0"),
        ValueError,
        r"device must be a torch.device",
    ),
    # ---------------------------------------------------------------- zoo.saturating_autapse
    (
        "saturating_autapse lambdas=[2, 0.5]",
        lambda: zoo.saturating_autapse([2.0, 0.5]),
        ValueError,
        r"every λ > 1 for two attractors, got \[2.0, 0.5\]",
    ),
    ("saturating_autapse lambdas inf", lambda: zoo.saturating_autapse([INF]), ValueError, r"lambdas must be finite"),
    ("saturating_autapse lambdas string", lambda: zoo.saturating_autapse("2"), TypeError, r"lambdas must be a real"),
    # ---------------------------------------------------------------- zoo.winner_take_all / two_attractor
    ("winner_take_all n_units=1", lambda: zoo.winner_take_all(1), ValueError, r"n_units must be an int ≥ 2, got 1"),
    ("winner_take_all n_units=2.5", lambda: zoo.winner_take_all(2.5), TypeError, r"n_units must be an integer"),
    ("winner_take_all n_units=True", lambda: zoo.winner_take_all(True), TypeError, r"n_units must be an integer"),
    (
        "winner_take_all inhibition=-2",
        lambda: zoo.winner_take_all(3, inhibition=-2.0),
        ValueError,
        r"inhibition must be a positive finite number, got -2.0",
    ),
    (
        "winner_take_all inhibition=nan",
        lambda: zoo.winner_take_all(3, inhibition=NAN),
        ValueError,
        r"inhibition must be a positive finite number",
    ),
    (
        "winner_take_all inhibition 0.5 + self_excitation 0.2 ≤ 1",
        lambda: zoo.winner_take_all(2, inhibition=0.5, self_excitation=0.2),
        ValueError,
        r"α \+ β > 1 for stable winners; got β = 0.5, α = 0.2",
    ),
    (
        "winner_take_all self_excitation=-1",
        lambda: zoo.winner_take_all(3, self_excitation=-1.0),
        ValueError,
        r"self_excitation must be a finite number ≥ 0, got -1.0",
    ),
    (
        "winner_take_all self_excitation='0'",
        lambda: zoo.winner_take_all(3, self_excitation="0"),
        TypeError,
        r"self_excitation must be a real number",
    ),
    ("winner_take_all tau=0", lambda: zoo.winner_take_all(3, tau=0.0), ValueError, r"tau must be a positive finite"),
    ("winner_take_all dt=-1", lambda: zoo.winner_take_all(3, dt=-1.0), ValueError, r"\bdt must be a positive finite"),
    (
        "winner_take_all noise_std=-0.1",
        lambda: zoo.winner_take_all(3, noise_std=-0.1),
        ValueError,
        r"noise_std must be a finite number ≥ 0, got -0.1",
    ),
    (
        "winner_take_all noise_std=nan",
        lambda: zoo.winner_take_all(3, noise_std=NAN),
        ValueError,
        r"noise_std must be a finite number ≥ 0",
    ),
    (
        "winner_take_all dtype=torch.int64",
        lambda: zoo.winner_take_all(3, dtype=torch.int64),
        TypeError,
        r"dtype must be a floating-point torch.dtype",
    ),
    (
        "winner_take_all device='gpu0'",
        lambda: zoo.winner_take_all(3, device="gpu0"),
        ValueError,
        r"device must be a torch.device",
    ),
    (
        "two_attractor weight=-2",
        lambda: zoo.two_attractor(-2.0),
        ValueError,
        r"weight must be a positive finite number, got -2.0",
    ),
    (
        "two_attractor weight=0.5 (no attractors)",
        lambda: zoo.two_attractor(0.5),
        ValueError,
        r"weight must exceed 1 − self_excitation = 1 for two stable attractors, got 0.5",
    ),
    ("two_attractor weight='2'", lambda: zoo.two_attractor("2"), TypeError, r"weight must be a real number"),
    # ---------------------------------------------------------------- zoo: Hopfield
    (
        "hebbian_weights patterns 0.5",
        lambda: zoo.hebbian_weights(torch.tensor([[1.0, 0.5]])),
        ValueError,
        r"patterns must contain only ±1, found 0.5",
    ),
    (
        "hebbian_weights patterns (4,)",
        lambda: zoo.hebbian_weights(torch.ones(4)),
        ValueError,
        r"patterns must have shape \(P, N\)",
    ),
    (
        "hebbian_weights patterns string",
        lambda: zoo.hebbian_weights("+-+-"),
        TypeError,
        r"patterns must be a real tensor",
    ),
    (
        "hopfield patterns NaN",
        lambda: zoo.hopfield(torch.tensor([[1.0, NAN]])),
        ValueError,
        r"patterns must contain only ±1, found nan",
    ),
    (
        "hopfield patterns (P, 0)",
        lambda: zoo.hopfield(torch.ones(2, 0)),
        ValueError,
        r"patterns must have shape \(P, N\) with N ≥ 1",
    ),
    (
        "hopfield tau=0 (named dt before)",
        lambda: zoo.hopfield(PATTERNS, tau=0.0),
        ValueError,
        r"tau must be a positive finite number, got 0.0",
    ),
    ("hopfield tau='1'", lambda: zoo.hopfield(PATTERNS, tau="1"), TypeError, r"tau must be a real number"),
    (
        "hopfield_energy M (4, 3)",
        lambda: zoo.hopfield_energy(torch.ones(4, 3), S4),
        ValueError,
        r"\bM must be a square matrix \(N, N\), got shape \(4, 3\)",
    ),
    ("hopfield_energy M string", lambda: zoo.hopfield_energy("W", S4), TypeError, r"\bM must be a real tensor"),
    (
        "hopfield_energy states width 3 for N=4",
        lambda: zoo.hopfield_energy(W4, torch.ones(1, 3)),
        ValueError,
        r"states must have shape \(\*, 4\), got \(1, 3\)",
    ),
    (
        "hopfield_energy states NaN",
        lambda: zoo.hopfield_energy(W4, torch.full((1, 4), NAN)),
        ValueError,
        r"states must be finite",
    ),
    (
        "hopfield_energy b (3,) for N=4",
        lambda: zoo.hopfield_energy(W4, S4, torch.zeros(3)),
        ValueError,
        r"\bb must have shape \(4,\)",
    ),
    (
        "hopfield_energy b inf",
        lambda: zoo.hopfield_energy(W4, S4, torch.full((4,), INF)),
        ValueError,
        r"\bb must be finite",
    ),
    (
        "recall_synchronous M NaN",
        lambda: zoo.recall_synchronous(torch.full((4, 4), NAN), S4),
        ValueError,
        r"\bM must be finite",
    ),
    (
        "recall_synchronous M (4, 3)",
        lambda: zoo.recall_synchronous(torch.ones(4, 3), S4),
        ValueError,
        r"\bM must be a square matrix",
    ),
    (
        "recall_synchronous states width 3",
        lambda: zoo.recall_synchronous(W4, torch.ones(2, 3)),
        ValueError,
        r"states must have shape \(B, 4\), got \(2, 3\)",
    ),
    (
        "recall_synchronous states 0",
        lambda: zoo.recall_synchronous(W4, torch.zeros(1, 4)),
        ValueError,
        r"states must contain only ±1, found 0",
    ),
    (
        "recall_synchronous max_steps=-1 (was silent)",
        lambda: zoo.recall_synchronous(W4, S4, max_steps=-1),
        ValueError,
        r"max_steps must be an integer ≥ 0, got -1",
    ),
    (
        "recall_synchronous max_steps=2.5",
        lambda: zoo.recall_synchronous(W4, S4, max_steps=2.5),
        TypeError,
        r"max_steps must be an integer, got 2.5",
    ),
    ("recall_asynchronous M string", lambda: zoo.recall_asynchronous("W", S4), TypeError, r"\bM must be a real"),
    (
        "recall_asynchronous states string",
        lambda: zoo.recall_asynchronous(W4, "+-+-"),
        TypeError,
        r"states must be a real tensor",
    ),
    (
        "recall_asynchronous states 2",
        lambda: zoo.recall_asynchronous(W4, torch.full((1, 4), 2.0)),
        ValueError,
        r"states must contain only ±1, found 2",
    ),
    (
        "recall_asynchronous max_sweeps=-1",
        lambda: zoo.recall_asynchronous(W4, S4, max_sweeps=-1),
        ValueError,
        r"max_sweeps must be an integer ≥ 0, got -1",
    ),
    (
        "recall_asynchronous max_sweeps='5'",
        lambda: zoo.recall_asynchronous(W4, S4, max_sweeps="5"),
        TypeError,
        r"max_sweeps must be an integer",
    ),
    (
        "recall_asynchronous generator=0",
        lambda: zoo.recall_asynchronous(W4, S4, generator=0),
        TypeError,
        r"generator must be a torch.Generator or None",
    ),
    # ---------------------------------------------------------------- zoo.dayan_abbott_ei
    (
        "dayan_abbott_ei tau_i=-30",
        lambda: zoo.dayan_abbott_ei(-30.0),
        ValueError,
        r"tau_i must be a positive finite number, got -30.0",
    ),
    ("dayan_abbott_ei tau_i=nan", lambda: zoo.dayan_abbott_ei(NAN), ValueError, r"tau_i must be a positive finite"),
    (
        "dayan_abbott_ei tau_e=0",
        lambda: zoo.dayan_abbott_ei(tau_e=0.0),
        ValueError,
        r"tau_e must be a positive finite number, got 0.0",
    ),
    ("dayan_abbott_ei tau_e='10'", lambda: zoo.dayan_abbott_ei(tau_e="10"), TypeError, r"tau_e must be a real"),
    ("dayan_abbott_ei dt=0", lambda: zoo.dayan_abbott_ei(dt=0.0), ValueError, r"\bdt must be a positive finite"),
    (
        "dayan_abbott_ei dtype=torch.int64",
        lambda: zoo.dayan_abbott_ei(dtype=torch.int64),
        TypeError,
        r"dtype must be a floating-point torch.dtype",
    ),
    (
        "dayan_abbott_ei device='gpu0'",
        lambda: zoo.dayan_abbott_ei(device="gpu0"),
        ValueError,
        r"device must be a torch.device",
    ),
    (
        "dayan_abbott_ei device 'cuda:99' (not here)",
        lambda: zoo.dayan_abbott_ei(device="cuda:99"),
        ValueError,
        r"device must be a device available here, got 'cuda:99'",
    ),
]
