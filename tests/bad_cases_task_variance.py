"""Bad-input cases for ``torchrate.analysis.multitask`` (task variance, k-means, silhouettes, unit
clusters, fractional task variance), gathered by ``tests/test_bad_inputs.py``.

Each case is ``(id, call, error type, pattern)``; the id names the callable and the option.
"""

from __future__ import annotations

import torch

from torchrate.analysis import multitask as mt

NAN = float("nan")
F64 = torch.float64
R = torch.zeros(4, 4, 3)
TASKS = torch.tensor([0, 0, 1, 1])
V = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.2, 0.9]], dtype=F64)
X = torch.tensor([[0.0], [0.1], [5.0], [5.1]], dtype=F64)

CASES = [
    # ---------------------------------------------------------------- analysis.multitask.task_variance
    (
        "task_variance rates 2-d",
        lambda: mt.task_variance(torch.zeros(4, 3), TASKS),
        TypeError,
        r"rates must be a floating-point tensor of shape \(T, B, N\)",
    ),
    (
        "task_variance rates NaN",
        lambda: mt.task_variance(torch.full((4, 4, 3), NAN), TASKS),
        ValueError,
        r"rates must be finite",
    ),
    (
        "task_variance tasks float",
        lambda: mt.task_variance(R, TASKS.float()),
        TypeError,
        r"tasks must be an integer tensor of shape \(4,\)",
    ),
    (
        "task_variance tasks of 3 trials",
        lambda: mt.task_variance(R, TASKS[:3]),
        ValueError,
        r"tasks must have shape \(4,\)",
    ),
    (
        "task_variance n_tasks=1 for task 1",
        lambda: mt.task_variance(R, TASKS, 1),
        ValueError,
        r"tasks must hold task indices in 0 … 0",
    ),
    ("task_variance n_tasks=0", lambda: mt.task_variance(R, TASKS, 0), ValueError, r"n_tasks must be an integer ≥ 1"),
    (
        "task_variance n_tasks=3 (task 2 without trials)",
        lambda: mt.task_variance(R, TASKS, 3),
        ValueError,
        r"task 2 has 0",
    ),
    (
        "task_variance start >= stop",
        lambda: mt.task_variance(R, TASKS, start=torch.tensor([0, 4, 0, 0])),
        ValueError,
        r"0 ≤ start < stop ≤ T = 4",
    ),
    (
        "task_variance stop > T",
        lambda: mt.task_variance(R, TASKS, stop=torch.tensor([5, 4, 4, 4])),
        ValueError,
        r"0 ≤ start < stop ≤ T = 4",
    ),
    (
        "task_variance stop float",
        lambda: mt.task_variance(R, TASKS, stop=torch.ones(4)),
        TypeError,
        r"stop must be an integer tensor",
    ),
    # ---------------------------------------------------------------- active units, normalisation, FTV
    (
        "active_units variance 1-d",
        lambda: mt.active_units(torch.ones(3)),
        ValueError,
        r"variance must have shape \(N units, K tasks\)",
    ),
    ("active_units variance negative", lambda: mt.active_units(-V), ValueError, r"variance must be ≥ 0"),
    (
        "active_units threshold=-1",
        lambda: mt.active_units(V, -1.0),
        ValueError,
        r"threshold must be a finite number ≥ 0",
    ),
    (
        "normalized_variance normalization='l2'",
        lambda: mt.normalized_variance(V, "l2"),
        ValueError,
        r"normalization must be one of 'max', 'sum', 'none'",
    ),
    (
        "normalized_variance variance NaN",
        lambda: mt.normalized_variance(V * NAN),
        ValueError,
        r"variance must be finite",
    ),
    (
        "fractional_task_variance a=b",
        lambda: mt.fractional_task_variance(V, 1, 1),
        ValueError,
        r"a and b must be two different tasks",
    ),
    (
        "fractional_task_variance b=2 of 2 tasks",
        lambda: mt.fractional_task_variance(V, 0, 2),
        ValueError,
        r"a and b must be task indices in 0 … 1",
    ),
    (
        "fractional_task_variance a=0.5",
        lambda: mt.fractional_task_variance(V, 0.5, 1),
        TypeError,
        r"\ba must be an integer",
    ),
    (
        "fractional_task_variance threshold=nan",
        lambda: mt.fractional_task_variance(V, 0, 1, threshold=NAN),
        ValueError,
        r"threshold must be a finite number ≥ 0",
    ),
    (
        "fractional_task_variance variance 'x'",
        lambda: mt.fractional_task_variance("x", 0, 1),
        TypeError,
        r"variance must be a real tensor",
    ),
    (
        "ftv_histogram ftv > 1",
        lambda: mt.ftv_histogram(torch.tensor([0.5, 1.5])),
        ValueError,
        r"ftv must hold values in \[-1, 1\]",
    ),
    ("ftv_histogram ftv 2-d", lambda: mt.ftv_histogram(torch.zeros(2, 2)), ValueError, r"ftv must be a 1-d tensor"),
    (
        "ftv_histogram bins=0",
        lambda: mt.ftv_histogram(torch.zeros(2), bins=0),
        ValueError,
        r"bins must be an integer ≥ 1",
    ),
    # ---------------------------------------------------------------- kmeans, silhouettes
    ("kmeans x 1-d", lambda: mt.kmeans(torch.zeros(4), 2), ValueError, r"x must have shape \(n points, d features\)"),
    ("kmeans x NaN", lambda: mt.kmeans(X * NAN, 2), ValueError, r"x must be finite"),
    (
        "kmeans n_clusters=5 of 4 points",
        lambda: mt.kmeans(X, 5),
        ValueError,
        r"n_clusters must be at most the number of points \(4\)",
    ),
    ("kmeans n_clusters=0", lambda: mt.kmeans(X, 0), ValueError, r"n_clusters must be an integer ≥ 1"),
    ("kmeans n_init=0", lambda: mt.kmeans(X, 2, n_init=0), ValueError, r"n_init must be an integer ≥ 1"),
    ("kmeans max_iter=2.5", lambda: mt.kmeans(X, 2, max_iter=2.5), TypeError, r"max_iter must be an integer"),
    ("kmeans generator=0", lambda: mt.kmeans(X, 2, generator=0), TypeError, r"generator must be a torch.Generator"),
    (
        "silhouette_samples labels one cluster",
        lambda: mt.silhouette_samples(X, torch.zeros(4, dtype=torch.long)),
        ValueError,
        r"labels must name between 2 and n − 1 = 3 clusters",
    ),
    (
        "silhouette_samples x 3-d",
        lambda: mt.silhouette_samples(X[None], torch.tensor([0, 0, 1, 1])),
        ValueError,
        r"x must have shape \(n points, d features\)",
    ),
    (
        "silhouette_score labels float",
        lambda: mt.silhouette_score(X, torch.tensor([0.0, 0, 1, 1])),
        TypeError,
        r"labels must be an integer tensor",
    ),
    (
        "silhouette_score x of 3 points for 4 labels",
        lambda: mt.silhouette_score(X[:3], torch.tensor([0, 0, 1, 1])),
        ValueError,
        r"labels must have shape \(3,\)",
    ),
    # ---------------------------------------------------------------- cluster_units
    (
        "cluster_units variance with 2 active units",
        lambda: mt.cluster_units(V[:2]),
        ValueError,
        r"clustering needs at least 3 active units",
    ),
    (
        "cluster_units n_clusters=1",
        lambda: mt.cluster_units(V, n_clusters=1),
        ValueError,
        r"n_clusters must be an integer ≥ 2",
    ),
    (
        "cluster_units n_clusters=[]",
        lambda: mt.cluster_units(V, n_clusters=[]),
        ValueError,
        r"n_clusters must name at least one number of clusters",
    ),
    (
        "cluster_units n_clusters=4 of 4 units",
        lambda: mt.cluster_units(V, n_clusters=4),
        ValueError,
        r"n_clusters must be at most n_active − 1 = 3",
    ),
    (
        "cluster_units threshold=-1",
        lambda: mt.cluster_units(V, threshold=-1.0),
        ValueError,
        r"threshold must be a finite number ≥ 0",
    ),
    (
        "cluster_units normalization='z'",
        lambda: mt.cluster_units(V, normalization="z"),
        ValueError,
        r"normalization must be one of",
    ),
    ("cluster_units n_init=0", lambda: mt.cluster_units(V, n_init=0), ValueError, r"n_init must be an integer ≥ 1"),
    (
        "cluster_units generator='seed'",
        lambda: mt.cluster_units(V, generator="seed"),
        TypeError,
        r"generator must be a torch.Generator",
    ),
]
