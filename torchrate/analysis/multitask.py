r"""Task variance, unit clusters and fractional task variance (Yang et al. 2019).

Yang, Joglekar, Song, Newsome & Wang (2019), *Task representations in neural networks trained
to perform many cognitive tasks*, Nat. Neurosci. 22:297, ask how a network trained on many tasks
divides its units between them. The three measures, for rates ``r[t, b, i]`` of unit i on trial
b of task A at step t:

* **task variance** — the variance of a unit's rate across the trials (stimulus conditions) of a
  task at each time, averaged over time, from the end of the initial fixation epoch to the end
  of the trial:

  .. math::
      TV_A(i) = \big\langle \operatorname{Var}_{b \in A}\, r[t, b, i] \big\rangle_t ;

* **unit clusters** — units whose total task variance exceeds a threshold (``1e-3``) are
  described by their task-variance profile normalised by its maximum over tasks,
  ``TV_A(i) / max_B TV_B(i)``, and grouped by k-means; the number of clusters maximises the
  mean silhouette score;
* **fractional task variance** of a pair of tasks, for units with ``TV_A + TV_B > 1e-3``:

  .. math::
      FTV(A, B) = \frac{TV_A - TV_B}{TV_A + TV_B} \in [-1, 1] :

  1 for a unit that varies only in A, −1 only in B, 0 equally in both.

Trials of unequal length (a random fixation, a variable delay) are aligned at the end of the
fixation (``start``) and scored up to their own end (``stop``): at each aligned step the
variance is taken over the trials still running, and the mean over time weights each step by
its number of trials — i.e. the squared deviations from the step's mean are pooled over all
(trial, step) pairs. With equal, aligned trials (Yang et al.'s test trials) that is exactly the
mean over time of the variance across trials. Steps with fewer than two trials running carry
no variance and are left out. Variances are population variances (divided by n, as NumPy's).

The functions are pure: tensors in, tensors out, on the device and in the dtype given (k-means
draws its starting centres from a ``torch.Generator``: seeded, it is deterministic, and the
global RNG is never touched).

>>> import torch
>>> rates = torch.zeros(4, 6, 2, dtype=torch.float64)
>>> rates[:, :3, 0] = torch.tensor([0.0, 1.0, 2.0])     # unit 0 varies across the trials of task 0
>>> rates[:, 3:, 1] = torch.tensor([0.0, 2.0, 4.0])     # unit 1 across those of task 1
>>> tv = task_variance(rates, torch.tensor([0, 0, 0, 1, 1, 1]))
>>> tv
tensor([[0.6667, 0.0000],
        [0.0000, 2.6667]], dtype=torch.float64)
>>> fractional_task_variance(tv, 0, 1)
tensor([ 1., -1.], dtype=torch.float64)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .. import _validate

__all__ = [
    "task_variance",
    "active_units",
    "normalized_variance",
    "fractional_task_variance",
    "ftv_histogram",
    "kmeans",
    "KMeans",
    "silhouette_samples",
    "silhouette_score",
    "cluster_units",
    "UnitClusters",
]

_NORMALIZATIONS = ("max", "sum", "none")


# ---------------------------------------------------------------------- checks
def _check_variance(variance: object) -> Tensor:
    v = _validate.as_real_tensor("variance", variance, fix="task variances of shape (N units, K tasks)")
    if v.ndim != 2 or v.shape[0] == 0 or v.shape[1] == 0:
        raise ValueError(f"variance must have shape (N units, K tasks) with N, K ≥ 1, got {tuple(v.shape)}")
    _validate.check_finite_tensor("variance", v)
    if bool((v < 0).any()):
        raise ValueError(f"variance must be ≥ 0 (variances), got a minimum of {float(v.min()):g}")
    return v


def _check_threshold(threshold: object) -> float:
    return _validate.check_nonnegative(
        "threshold", threshold, fix="the least total task variance of a unit that counts as active (Yang et al.: 1e-3)"
    )


def _check_points(name: str, x: object) -> Tensor:
    x = _validate.as_real_tensor(name, x, fix="points of shape (n, d)")
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must have shape (n points, d features) with n, d ≥ 1, got {tuple(x.shape)}")
    return _validate.check_finite_tensor(name, x)


def _distances(x: Tensor, y: Tensor) -> Tensor:
    # exact Euclidean distances (the matrix-product mode of cdist cancels to ~1e-7 relative)
    return torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist")


# ---------------------------------------------------------------------- task variance
def task_variance(
    rates: Tensor, tasks: Tensor, n_tasks: int | None = None, *, start: Tensor | None = None, stop: Tensor | None = None
) -> Tensor:
    r"""The variance of each unit's rate across the trials of each task, averaged over time.

    Parameters
    ----------
    rates : Tensor, shape (T, B, N)
        Rates of B trials (time-major, as the networks return them).
    tasks : Tensor, shape (B,), integer
        The task of each trial, in ``0 … K−1``.
    n_tasks : int, optional
        K (default: ``tasks.max() + 1``). Every task must have at least two trials.
    start, stop : Tensor, shape (B,), integer, optional
        Each trial's scored steps ``start ≤ t < stop`` (default: all T steps): ``start`` is
        where the trials are aligned (the end of the initial fixation), ``stop`` the trial's
        end (padding after it is ignored).

    Returns
    -------
    Tensor, shape (N, K) — ``TV[i, k]``, in the dtype of ``rates``; see the module docstring for
    unequal trial lengths.
    """
    if not isinstance(rates, Tensor) or not rates.is_floating_point() or rates.ndim != 3:
        raise TypeError(f"rates must be a floating-point tensor of shape (T, B, N), got {_validate._show(rates)}")
    T, B, N = rates.shape
    _validate.check_finite_tensor("rates", rates)
    tasks = _check_index_vector("tasks", tasks, B)
    if n_tasks is None:
        n_tasks = int(tasks.max()) + 1 if B else 0
    n_tasks = _validate.as_int("n_tasks", n_tasks, minimum=1, fix="the number of tasks K")
    if bool((tasks < 0).any()) or bool((tasks >= n_tasks).any()):
        raise ValueError(
            f"tasks must hold task indices in 0 … {n_tasks - 1} (n_tasks = {n_tasks}), got values from "
            f"{int(tasks.min())} to {int(tasks.max())}"
        )
    start = (
        torch.zeros(B, dtype=torch.long, device=rates.device)
        if start is None
        else _check_index_vector("start", start, B)
    )
    stop = (
        torch.full((B,), T, dtype=torch.long, device=rates.device)
        if stop is None
        else _check_index_vector("stop", stop, B)
    )
    if bool((start < 0).any()) or bool((stop > T).any()) or bool((start >= stop).any()):
        raise ValueError(
            f"start and stop must satisfy 0 ≤ start < stop ≤ T = {T} for every trial (each trial scores "
            "at least one step)"
        )
    counts = torch.bincount(tasks, minlength=n_tasks)
    if bool((counts < 2).any()):
        k = int((counts < 2).nonzero()[0])
        raise ValueError(
            f"every task needs at least two trials for a variance across trials; task {k} has {int(counts[k])}"
        )
    tasks, start, stop = tasks.to(rates.device), start.to(rates.device), stop.to(rates.device)
    S = int((stop - start).max())
    s = torch.arange(S, device=rates.device)[:, None]  # aligned step (S, 1)
    alive = s < (stop - start)  # (S, B)
    t = (start + s).clamp(max=T - 1)  # (S, B)
    aligned = rates.gather(0, t[..., None].expand(S, B, N))  # (S, B, N)
    onehot = torch.nn.functional.one_hot(tasks, n_tasks).to(rates.dtype) * alive[..., None]  # (S, B, K)
    n = onehot.sum(1)  # (S, K) trials running per aligned step and task
    mean = torch.einsum("sbk,sbn->skn", onehot, aligned) / n.clamp(min=1)[..., None]  # (S, K, N)
    own = mean.gather(1, tasks.expand(S, B)[..., None].expand(S, B, N))  # each trial's task mean (S, B, N)
    used = onehot * (n >= 2)[:, None, :]  # steps with at least two trials running
    squares = torch.einsum("sbk,sbn->kn", used, (aligned - own) ** 2)  # (K, N)
    weight = used.sum((0, 1))  # (K,) > 0: at aligned step 0 every trial runs, and each task has two
    return (squares / weight[:, None]).T


def _check_index_vector(name: str, value: object, B: int) -> Tensor:
    if not isinstance(value, Tensor) or value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor of shape ({B},), got {_validate._show(value)}")
    if tuple(value.shape) != (B,):
        raise ValueError(f"{name} must have shape ({B},) (one entry per trial), got {tuple(value.shape)}")
    return value.long()


def active_units(variance: Tensor, threshold: float = 1e-3) -> Tensor:
    """Indices of the units whose task variance summed over tasks exceeds ``threshold``.

    ``variance`` (N, K) as :func:`task_variance` returns; returns a long tensor (n_active,)."""
    v = _check_variance(variance)
    threshold = _check_threshold(threshold)
    return (v.sum(1) > threshold).nonzero()[:, 0]


def normalized_variance(variance: Tensor, normalization: str = "max") -> Tensor:
    """Each unit's task-variance profile divided by its maximum (``"max"``, Yang et al.'s
    clustering), by its sum (``"sum"``) or left as is (``"none"``). Units with no variance
    at all stay 0."""
    v = _check_variance(variance)
    _validate.check_choice("normalization", normalization, _NORMALIZATIONS)
    if normalization == "none":
        return v.clone()
    scale = v.amax(1, keepdim=True) if normalization == "max" else v.sum(1, keepdim=True)
    return torch.where(scale > 0, v / torch.where(scale > 0, scale, 1), 0.0)


def fractional_task_variance(variance: Tensor, a: int, b: int, *, threshold: float = 1e-3) -> Tensor:
    r"""``FTV(A, B) = (TV_A − TV_B) / (TV_A + TV_B)`` of the units with ``TV_A + TV_B > threshold``.

    Parameters
    ----------
    variance : Tensor, shape (N, K)
        Task variances (:func:`task_variance`).
    a, b : int
        Column indices of the two tasks (distinct).
    threshold : float
        Units whose summed variance over the two tasks is at most this are left out (Yang et
        al.: 1e-3).

    Returns
    -------
    Tensor, shape (n,) — values in [−1, 1], in unit order.
    """
    v = _check_variance(variance)
    K = v.shape[1]
    a = _validate.as_int("a", a, minimum=0, fix=f"a task index in 0 … {K - 1}")
    b = _validate.as_int("b", b, minimum=0, fix=f"a task index in 0 … {K - 1}")
    if a >= K or b >= K:
        raise ValueError(f"a and b must be task indices in 0 … {K - 1}, got a = {a}, b = {b}")
    if a == b:
        raise ValueError(f"a and b must be two different tasks, got a = b = {a}")
    threshold = _check_threshold(threshold)
    va, vb = v[:, a], v[:, b]
    total = va + vb
    keep = total > threshold
    return (va[keep] - vb[keep]) / total[keep]


def ftv_histogram(ftv: Tensor, bins: int = 20) -> tuple[Tensor, Tensor]:
    """``(counts (bins,), edges (bins + 1,))`` of FTV values over [−1, 1] (1 falls in the last
    bin), Yang et al.'s 20 bins by default."""
    x = _validate.as_real_tensor("ftv", ftv, fix="fractional task variances in [-1, 1]")
    if x.ndim != 1:
        raise ValueError(f"ftv must be a 1-d tensor of values in [-1, 1], got shape {tuple(x.shape)}")
    _validate.check_finite_tensor("ftv", x)
    if bool(((x < -1) | (x > 1)).any()):
        raise ValueError(f"ftv must hold values in [-1, 1], got values from {float(x.min()):g} to {float(x.max()):g}")
    bins = _validate.as_int("bins", bins, minimum=1)
    edges = torch.linspace(-1.0, 1.0, bins + 1, dtype=x.dtype, device=x.device)
    index = ((x + 1) / 2 * bins).floor().long().clamp(0, bins - 1)
    return torch.bincount(index, minlength=bins), edges


# ---------------------------------------------------------------------- k-means and silhouettes
@dataclass
class KMeans:
    """k-means result: ``labels`` (n,) in 0 … k−1, ``centers`` (k, d), ``inertia`` (the sum of
    squared distances of the points to their centres) and ``n_iter``, the Lloyd iterations the
    best start took to converge."""

    labels: Tensor
    centers: Tensor
    inertia: float
    n_iter: int


def kmeans(
    x: Tensor, n_clusters: int, *, n_init: int = 10, max_iter: int = 300, generator: torch.Generator | None = None
) -> KMeans:
    r"""Lloyd's k-means from ``n_init`` k-means++ starts; the start with the least inertia wins.

    Each start draws its first centre uniformly and each next one with probability ∝ D², the
    squared distance to the nearest centre so far (Arthur & Vassilvitskii 2007); Lloyd's
    iteration (assign to the nearest centre, move each centre to its points' mean) runs until the
    assignment no longer changes or ``max_iter``. A centre left without points moves to the point
    farthest from its own centre. All starts run at once, batched.

    Parameters
    ----------
    x : Tensor, shape (n, d)
    n_clusters : int
        k, ``1 ≤ k ≤ n``.
    n_init, max_iter : int
    generator : torch.Generator, optional
        Source of the starts (CPU); default: a generator seeded with 0, so the result is a
        function of ``x`` alone. The global RNG is not used.

    Examples
    --------
    >>> x = torch.tensor([[0.0], [0.1], [5.0], [5.1]])
    >>> kmeans(x, 2).labels.tolist()
    [0, 0, 1, 1]
    """
    x = _check_points("x", x)
    n = x.shape[0]
    k = _validate.as_int("n_clusters", n_clusters, minimum=1)
    if k > n:
        raise ValueError(f"n_clusters must be at most the number of points ({n}), got {k}")
    n_init = _validate.as_int("n_init", n_init, minimum=1)
    max_iter = _validate.as_int("max_iter", max_iter, minimum=1)
    generator = _validate.check_generator("generator", generator)
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    centers = _kmeans_plus_plus(x, k, n_init, generator)  # (R, k, d)
    labels = _distances(x.expand(n_init, n, -1), centers).argmin(-1)  # (R, n)
    n_iter = torch.zeros(n_init, dtype=torch.long)
    for _ in range(max_iter):
        centers = _move_centers(x, labels, centers)
        new = _distances(x.expand(n_init, n, -1), centers).argmin(-1)
        changed = (new != labels).any(1)
        n_iter += changed.long().cpu()  # a converged start no longer changes
        labels = new
        if not bool(changed.any()):
            break
    d2 = _distances(x.expand(n_init, n, -1), centers).pow(2).gather(-1, labels[..., None])[..., 0]
    inertia = d2.sum(1)
    best = int(inertia.argmin())  # the first of equals: deterministic
    labels = _first_seen_order(labels[best], k)
    onehot = torch.nn.functional.one_hot(labels, k).to(x.dtype)
    centers = onehot.T @ x / onehot.sum(0).clamp(min=1)[:, None]
    return KMeans(labels, centers, float(inertia[best]), int(n_iter[best]) + 1)


def _kmeans_plus_plus(x: Tensor, k: int, R: int, generator: torch.Generator) -> Tensor:
    n = x.shape[0]
    first = torch.randint(n, (R,), generator=generator)
    chosen = [first]
    d2 = _distances(x.expand(R, n, -1), x[first.to(x.device)][:, None]).pow(2)[..., 0]  # (R, n)
    for _ in range(1, k):
        p = d2.cpu().to(torch.float64)
        p = torch.where(p.sum(1, keepdim=True) > 0, p, torch.ones_like(p))  # all points on centres: uniform
        nxt = torch.multinomial(p, 1, generator=generator)[:, 0]
        chosen.append(nxt)
        d2 = torch.minimum(d2, _distances(x.expand(R, n, -1), x[nxt.to(x.device)][:, None]).pow(2)[..., 0])
    return x[torch.stack(chosen, 1).to(x.device)]  # (R, k, d)


def _move_centers(x: Tensor, labels: Tensor, centers: Tensor) -> Tensor:
    R, k, d = centers.shape
    onehot = torch.nn.functional.one_hot(labels, k).to(x.dtype)  # (R, n, k)
    counts = onehot.sum(1)  # (R, k)
    sums = torch.einsum("rnk,nd->rkd", onehot, x)
    moved = torch.where(counts[..., None] > 0, sums / counts.clamp(min=1)[..., None], centers)
    if bool((counts == 0).any()):  # rare: an empty cluster takes the point farthest from its centre
        for r, c in (counts == 0).nonzero().tolist():
            far = _distances(x, moved[r]).gather(1, labels[r][:, None])[:, 0].argmax()
            moved[r, c] = x[far]
    return moved


def _first_seen_order(labels: Tensor, k: int) -> Tensor:
    """Relabel so that clusters are numbered in the order of their first point."""
    order = []
    for label in labels.tolist():
        if label not in order:
            order.append(label)
            if len(order) == k:
                break
    order += [c for c in range(k) if c not in order]
    rank = torch.empty(k, dtype=torch.long)
    rank[torch.tensor(order)] = torch.arange(k)
    return rank.to(labels.device)[labels]


def silhouette_samples(x: Tensor, labels: Tensor) -> Tensor:
    r"""The silhouette of each point: ``s = (b − a) / max(a, b)``, with ``a`` the mean distance to
    the other points of its cluster and ``b`` the least mean distance to the points of another
    cluster (Rousseeuw 1987); 0 for a point alone in its cluster. Euclidean distances.

    ``x`` (n, d); ``labels`` (n,) integers with at least two distinct values and fewer than n.
    Returns (n,), in [−1, 1].
    """
    x = _check_points("x", x)
    n = x.shape[0]
    labels = _check_index_vector("labels", labels, n).to(x.device)
    _, labels = torch.unique(labels, return_inverse=True)
    k = int(labels.max()) + 1
    if not 2 <= k <= n - 1:
        raise ValueError(f"labels must name between 2 and n − 1 = {n - 1} clusters for a silhouette, got {k}")
    D = _distances(x, x)  # (n, n)
    onehot = torch.nn.functional.one_hot(labels, k).to(x.dtype)  # (n, k)
    size = onehot.sum(0)  # (k,)
    totals = D @ onehot  # (n, k) summed distance to each cluster
    own = size[labels]
    a = totals.gather(1, labels[:, None])[:, 0] / (own - 1).clamp(min=1)
    others = (totals / size).masked_fill(onehot.bool(), float("inf"))
    b = others.amin(1)
    s = (b - a) / torch.maximum(a, b)
    return torch.where((own > 1) & (torch.maximum(a, b) > 0), s, torch.zeros_like(s))


def silhouette_score(x: Tensor, labels: Tensor) -> Tensor:
    """The mean silhouette of all points (:func:`silhouette_samples`), a 0-d tensor."""
    return silhouette_samples(x, labels).mean()


# ---------------------------------------------------------------------- clusters of units
@dataclass
class UnitClusters:
    """Clusters of units by their normalised task-variance profiles (:func:`cluster_units`).

    Attributes
    ----------
    units : Tensor, shape (n,)
        The active units, sorted by cluster (then by index).
    labels : Tensor, shape (n,)
        Cluster of each of ``units``, numbered by the task each cluster prefers.
    profiles : Tensor, shape (n, K)
        Their normalised task-variance profiles, rows in the order of ``units``.
    n_clusters : int
        The number chosen (largest mean silhouette).
    candidates : list of int
        The numbers of clusters tried.
    scores : Tensor, shape (len(candidates),)
        Mean silhouette of each.
    preferred_task : Tensor, shape (n_clusters,)
        The task with the largest summed normalised variance in each cluster (non-decreasing:
        clusters are sorted by it, as Yang et al. do, so runs can be compared).
    """

    units: Tensor
    labels: Tensor
    profiles: Tensor
    n_clusters: int
    candidates: list[int]
    scores: Tensor
    preferred_task: Tensor


def cluster_units(
    variance: Tensor,
    *,
    n_clusters: int | Sequence[int] | None = None,
    threshold: float = 1e-3,
    normalization: str = "max",
    n_init: int = 20,
    generator: torch.Generator | None = None,
) -> UnitClusters:
    r"""Cluster the active units by their normalised task-variance profiles (Yang et al. 2019).

    Units whose task variance summed over tasks exceeds ``threshold`` are kept; each profile is
    divided by its maximum over tasks (``normalization="max"``); k-means (:func:`kmeans`, the
    best of ``n_init`` k-means++ starts) runs for each candidate number of clusters, and the one
    with the largest mean silhouette (:func:`silhouette_score`) is kept.

    Parameters
    ----------
    variance : Tensor, shape (N, K)
        Task variances (:func:`task_variance`).
    n_clusters : int or sequence of int, optional
        The candidates (each from 2 to n_active − 1); default: 2 … min(29, n_active − 1), Yang et
        al.'s range.
    threshold : float
    normalization : {"max", "sum", "none"}
    n_init : int
    generator : torch.Generator, optional
        For k-means' starts (default: seeded with 0).

    Raises
    ------
    ValueError
        Fewer than three active units: no number of clusters has a silhouette.
    """
    v = _check_variance(variance)
    units = active_units(v, threshold)
    n = units.numel()
    if n < 3:
        raise ValueError(
            f"clustering needs at least 3 active units (total task variance > threshold = "
            f"{threshold:g}), got {n} of {v.shape[0]}: the network barely varies with the trials"
        )
    if n_clusters is None:
        candidates = list(range(2, min(29, n - 1) + 1))
    elif isinstance(n_clusters, Sequence) and not isinstance(n_clusters, (str, bytes)):
        candidates = [_validate.as_int(f"n_clusters[{i}]", c, minimum=2) for i, c in enumerate(n_clusters)]
        if not candidates:
            raise ValueError("n_clusters must name at least one number of clusters, got an empty sequence")
    else:
        candidates = [_validate.as_int("n_clusters", n_clusters, minimum=2)]
    too_many = [c for c in candidates if c > n - 1]
    if too_many:
        raise ValueError(
            f"n_clusters must be at most n_active − 1 = {n - 1} (a silhouette needs a cluster with two "
            f"units), got {too_many}"
        )
    generator = _validate.check_generator("generator", generator)
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    profiles = normalized_variance(v, normalization)[units]
    scores, fits = [], []
    for c in candidates:
        fit = kmeans(profiles, c, n_init=n_init, generator=generator)
        labels = fit.labels
        if int(labels.max()) + 1 < 2:  # all in one cluster (identical profiles): no silhouette
            scores.append(torch.tensor(float("nan"), dtype=v.dtype, device=v.device))
        else:
            scores.append(silhouette_score(profiles, labels))
        fits.append(labels)
    scores_t = torch.stack(scores)
    finite = torch.nan_to_num(scores_t, nan=-2.0)
    best = int(finite.argmax())
    labels = fits[best]
    k = int(labels.max()) + 1
    # number the clusters by the task each prefers (ties: the earlier cluster first), then sort the units
    onehot = torch.nn.functional.one_hot(labels, k).to(profiles.dtype)
    prefers = (onehot.T @ profiles).argmax(1)  # (k,)
    order = sorted(range(k), key=lambda c: (int(prefers[c]), c))
    rank = torch.empty(k, dtype=torch.long, device=labels.device)
    rank[torch.tensor(order, device=labels.device)] = torch.arange(k, device=labels.device)
    labels = rank[labels]
    sort = torch.argsort(labels * (n + 1) + torch.arange(n, device=labels.device))
    return UnitClusters(
        units=units[sort],
        labels=labels[sort],
        profiles=profiles[sort],
        n_clusters=candidates[best],
        candidates=candidates,
        scores=scores_t,
        preferred_task=prefers[torch.tensor(order)],
    )
