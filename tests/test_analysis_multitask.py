"""tr.analysis.multitask: task variance, k-means, silhouettes, unit clusters and FTV (Yang et al. 2019)
against hand-built cases whose answers are known."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from torchrate.analysis import multitask as mt

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------- task variance
def test_task_variance_is_the_mean_over_time_of_the_variance_across_trials():
    """Equal, aligned trials: exactly Yang et al.'s ``var(axis=batch).mean(axis=time)`` (NumPy, ddof 0)."""
    r = torch.randn(7, 10, 4, generator=_gen(0), dtype=F64)
    tasks = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 2])
    tv = mt.task_variance(r, tasks)
    x = r.numpy()
    for k in range(3):
        want = x[:, tasks.numpy() == k].var(axis=1).mean(axis=0)
        np.testing.assert_allclose(tv[:, k].numpy(), want, rtol=1e-13, atol=0)


def test_task_variance_aligns_trials_at_start_and_pools_over_running_trials():
    """Unequal trials: a plain loop over aligned steps (mean of the running trials, squared
    deviations pooled over (trial, step) pairs, steps with fewer than two trials left out)."""
    T, B, N = 9, 6, 3
    r = torch.randn(T, B, N, generator=_gen(1), dtype=F64)
    tasks = torch.tensor([0, 0, 0, 1, 1, 1])
    start = torch.tensor([1, 2, 3, 0, 0, 2])
    stop = torch.tensor([9, 6, 9, 5, 9, 4])
    tv = mt.task_variance(r, tasks, 2, start=start, stop=stop)
    for k in range(2):
        squares, count = torch.zeros(N, dtype=F64), 0
        for s in range(T):
            rows = [r[start[b] + s, b] for b in range(B) if tasks[b] == k and s < stop[b] - start[b]]
            if len(rows) < 2:
                continue
            x = torch.stack(rows)
            squares += ((x - x.mean(0)) ** 2).sum(0)
            count += len(rows)
        torch.testing.assert_close(tv[:, k], squares / count, rtol=1e-13, atol=0)


def test_a_shift_in_time_does_not_change_the_task_variance_once_aligned():
    r = torch.randn(6, 4, 2, generator=_gen(2), dtype=F64)
    shifted = torch.zeros(9, 4, 2, dtype=F64)
    delay = torch.tensor([0, 3, 1, 2])
    for b in range(4):
        shifted[delay[b] : delay[b] + 6, b] = r[:, b]
    tasks = torch.tensor([0, 0, 1, 1])
    torch.testing.assert_close(
        mt.task_variance(shifted, tasks, start=delay, stop=delay + 6), mt.task_variance(r, tasks), rtol=1e-13, atol=0
    )


def test_task_variance_errors_name_the_problem():
    r = torch.zeros(3, 4, 2)
    with pytest.raises(ValueError, match=r"task 1 has 1"):
        mt.task_variance(r, torch.tensor([0, 0, 0, 1]))
    with pytest.raises(ValueError, match=r"0 ≤ start < stop ≤ T = 3"):
        mt.task_variance(r, torch.tensor([0, 0, 1, 1]), stop=torch.tensor([3, 3, 4, 3]))
    with pytest.raises(ValueError, match=r"task indices in 0 … 1"):
        mt.task_variance(r, torch.tensor([0, 0, 2, 2]), 2)
    with pytest.raises(TypeError, match=r"tasks must be an integer tensor"):
        mt.task_variance(r, torch.tensor([0.0, 0.0, 1.0, 1.0]))


# ---------------------------------------------------------------------- fractional task variance
def test_units_active_in_one_task_only_have_ftv_plus_or_minus_one():
    variance = torch.tensor(
        [
            [2.0, 0.0],  # only A: +1
            [0.0, 0.5],  # only B: −1
            [0.3, 0.3],  # both equally: 0
            [3.0, 1.0],  # (3 − 1) / 4 = 0.5
            [4e-4, 5e-4],
        ],  # TV_A + TV_B ≤ 1e-3: inactive, left out
        dtype=F64,
    )
    ftv = mt.fractional_task_variance(variance, 0, 1)
    torch.testing.assert_close(ftv, torch.tensor([1.0, -1.0, 0.0, 0.5], dtype=F64), rtol=0, atol=1e-15)
    torch.testing.assert_close(mt.fractional_task_variance(variance, 1, 0), -ftv, rtol=0, atol=0)
    counts, edges = mt.ftv_histogram(ftv)
    assert counts.tolist() == [1] + [0] * 9 + [1] + [0] * 4 + [1] + [0] * 3 + [1]  # −1, 0, 0.5, +1
    torch.testing.assert_close(edges, torch.linspace(-1, 1, 21, dtype=F64))


def test_ftv_of_task_variances_from_rates():
    """Rates built so that unit 0 varies only across the trials of task 0 and unit 1 only across those of task 1."""
    r = torch.zeros(5, 8, 3, dtype=F64)
    tasks = torch.tensor([0, 1] * 4)
    r[:, tasks == 0, 0] = torch.tensor([0.0, 1.0, 2.0, 3.0], dtype=F64)
    r[:, tasks == 1, 1] = torch.tensor([0.0, -1.0, 1.0, 0.5], dtype=F64)
    r[:, :, 2] = 0.7  # constant: no variance anywhere, inactive
    tv = mt.task_variance(r, tasks)
    assert mt.active_units(tv).tolist() == [0, 1]
    torch.testing.assert_close(mt.fractional_task_variance(tv, 0, 1), torch.tensor([1.0, -1.0], dtype=F64))


def test_normalized_variance_by_max_and_sum():
    v = torch.tensor([[1.0, 3.0], [0.0, 0.0], [2.0, 2.0]], dtype=F64)
    torch.testing.assert_close(mt.normalized_variance(v), torch.tensor([[1 / 3, 1.0], [0, 0], [1.0, 1.0]], dtype=F64))
    torch.testing.assert_close(
        mt.normalized_variance(v, "sum"), torch.tensor([[0.25, 0.75], [0, 0], [0.5, 0.5]], dtype=F64)
    )


# ---------------------------------------------------------------------- k-means and silhouettes
def test_silhouette_by_hand():
    x = torch.tensor([[0.0], [1.0], [10.0], [11.0], [30.0]], dtype=F64)
    labels = torch.tensor([0, 0, 1, 1, 2])
    s = mt.silhouette_samples(x, labels)
    # point 0: a = 1, b = min(mean(10, 11), 30) = 10.5; point 2: a = 1, b = min(mean(10, 9), 20) = 9.5
    want = [(10.5 - 1) / 10.5, (9.5 - 1) / 9.5, (9.5 - 1) / 9.5, (10.5 - 1) / 10.5, 0.0]  # a singleton: 0
    torch.testing.assert_close(s, torch.tensor(want, dtype=F64), rtol=1e-14, atol=0)
    torch.testing.assert_close(mt.silhouette_score(x, labels), torch.tensor(want, dtype=F64).mean())


def test_kmeans_finds_the_optimum_of_a_small_set_and_is_deterministic_with_a_generator():
    x = torch.randn(12, 2, generator=_gen(3), dtype=F64)
    # the best of every partition into 2 non-empty clusters, by brute force
    best = min(
        (sum(((x[labels == c] - x[labels == c].mean(0)) ** 2).sum() for c in (0, 1)), labels)
        for labels in (torch.tensor((0,) + bits) for bits in itertools.product((0, 1), repeat=11))
        if 0 < int(labels.sum()) < 12
    )
    fit = mt.kmeans(x, 2, n_init=10, generator=_gen(0))
    assert fit.inertia == pytest.approx(float(best[0]), rel=1e-12)
    again = mt.kmeans(x, 2, n_init=10, generator=_gen(0))
    assert torch.equal(fit.labels, again.labels) and torch.equal(fit.centers, again.centers)
    assert torch.equal(mt.kmeans(x, 2, n_init=10).labels, fit.labels)  # default generator: seeded 0


def test_kmeans_reaches_the_same_partition_from_any_seed_on_separated_clusters():
    x = torch.cat(
        [
            torch.randn(20, 3, generator=_gen(4), dtype=F64) * 0.1 + c
            for c in (torch.tensor([0.0, 0, 0]), torch.tensor([5.0, 0, 0]), torch.tensor([0.0, 5, 0]))
        ]
    )
    truth = torch.arange(3).repeat_interleave(20)
    for seed in range(5):
        labels = mt.kmeans(x, 3, n_init=3, generator=_gen(seed)).labels
        assert torch.equal(labels, truth)  # numbered in the order of their first point


def test_kmeans_does_not_touch_the_global_rng():
    state = torch.get_rng_state()
    mt.kmeans(torch.randn(10, 2, generator=_gen(0)), 3)
    assert torch.equal(torch.get_rng_state(), state)


# ---------------------------------------------------------------------- clusters of units
def _planted(groups, n_tasks, per_group=12, noise=0.05, seed=0):
    """Task variances of ``per_group`` units per group; group g varies in the tasks ``groups[g]`` (most in the
    first of them)."""
    g = _gen(seed)
    rows, truth = [], []
    for i, active in enumerate(groups):
        profile = torch.full((n_tasks,), 0.02, dtype=F64)
        profile[list(active)] = 0.8
        profile[active[0]] = 1.0
        rows.append(profile * (1 + noise * torch.rand(per_group, n_tasks, generator=g, dtype=F64)))
        truth += [i] * per_group
    return torch.cat(rows), torch.tensor(truth)


def test_two_planted_clusters_are_chosen_by_the_silhouette_and_recovered():
    variance, truth = _planted([(0, 1), (2, 3)], 4)
    variance = torch.cat([variance, torch.full((3, 4), 1e-5, dtype=F64)])  # 3 inactive units: left out
    result = mt.cluster_units(variance)
    assert result.n_clusters == 2
    assert sorted(result.units.tolist()) == list(range(24))
    labels = torch.empty(24, dtype=torch.long)
    labels[result.units] = result.labels
    assert torch.equal(labels, truth)  # cluster 0 prefers task 0, cluster 1 task 2: numbered by preference
    assert result.preferred_task.tolist() == [0, 2]
    assert result.candidates == list(range(2, 24)) and int(result.scores.argmax()) == 0


def test_four_planted_clusters_of_six_tasks():
    variance, truth = _planted([(4, 5), (0,), (1, 2), (3,)], 6, per_group=8, seed=1)
    result = mt.cluster_units(variance, n_clusters=range(2, 10))
    assert result.n_clusters == 4
    labels = torch.empty(32, dtype=torch.long)
    labels[result.units] = result.labels
    # the clusters are numbered by their preferred task: (0,) → 0, (1, 2) → 1, (3,) → 2, (4, 5) → 3
    assert torch.equal(labels, torch.tensor([3, 0, 1, 2]).repeat_interleave(8))
    assert result.preferred_task.tolist() == [0, 1, 3, 4]
    assert torch.all(result.profiles.amax(1) == 1.0)  # each profile normalised by its maximum


def test_cluster_units_needs_three_active_units():
    with pytest.raises(ValueError, match=r"at least 3 active units .* got 2 of 4"):
        mt.cluster_units(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0], [1e-4, 0.0]]))
    with pytest.raises(ValueError, match=r"at most n_active − 1 = 3"):
        mt.cluster_units(torch.eye(4, dtype=F64), n_clusters=4)
