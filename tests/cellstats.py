"""A table cell's bootstrap interval and two cells' paired test computed straight from runs (see
:mod:`benchmark.report.stats` for a run): the statistics of a board's cell and comparison in one call each, on
which the tests check coverage, determinism and error rates. The leaderboard computes the same from the pieces
(:func:`~benchmark.report.stats.bootstrap_scores`, :func:`~benchmark.report.stats.interval_of_mean`,
:func:`~benchmark.report.stats.seed_level_test`), sharing the resamples across a board."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from benchmark.report.stats import (
    MIN_SEEDS,
    PairedResult,
    Run,
    bootstrap_scores,
    interval_of_mean,
    observed_metric,
    seed_level_test,
    shared_test_variance,
)


def cell_interval(
    runs: Sequence[Run],
    metric: str,
    replicates: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    test_sets: Sequence[Hashable] | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap interval of a table cell's value: the mean of ``metric`` over seeds.

    ``test_sets`` names each run's test images (None: every run its own). Runs scored on the same test images
    are scored on the same resamples, runs on different test sets on independent ones, and each replicate
    averages the metric over the runs: the interval is how much the test images alone move the seed mean (not
    the spread of training outcomes), so seeds that agree on one shared test set give the width of one seed.
    Deterministic given ``seed``.
    """
    if not runs:
        raise ValueError("a cell needs at least one run")
    keys = list(range(len(runs))) if test_sets is None else list(test_sets)
    if len(keys) != len(runs):
        raise ValueError(f"test_sets has {len(keys)} entries for {len(runs)} runs")
    rng = np.random.default_rng(seed)
    per_run: dict[int, np.ndarray] = {}
    for key in dict.fromkeys(keys):
        members = [i for i, k in enumerate(keys) if k == key]
        labels, _, groups = runs[members[0]]
        for index, values in zip(members, bootstrap_scores(metric, labels, [runs[i][1] for i in members], groups,
                                                           replicates, rng), strict=True):
            per_run[index] = values
    return interval_of_mean([per_run[i] for i in range(len(runs))], level)


def paired_test(
    runs_a: Sequence[Run],
    runs_b: Sequence[Run],
    metric: str,
    replicates: int = 2000,
    seed: int = 0,
    test_sets: Sequence[Hashable] | None = None,
) -> PairedResult:
    """:func:`seed_level_test` of two cells scored on the same seeds: ``runs_a[i]`` and ``runs_b[i]`` hold the same
    test images in the same order (ValueError if their labels differ; groups are taken from ``runs_a``), and
    ``test_sets`` names each seed's test images as in :func:`cell_interval`. Deterministic given ``seed``."""
    if len(runs_a) != len(runs_b):
        raise ValueError(f"need the same number of seeds; a has {len(runs_a)} and b has {len(runs_b)}")
    if len(runs_a) < MIN_SEEDS:
        raise ValueError(f"a test over seeds needs at least {MIN_SEEDS} seeds; got {len(runs_a)}")
    keys = list(range(len(runs_a))) if test_sets is None else list(test_sets)
    rng = np.random.default_rng(seed)
    observed, resampled = [0.0] * len(keys), [np.empty(0)] * len(keys)
    for key in dict.fromkeys(keys):
        members = [i for i, k in enumerate(keys) if k == key]
        labels, _, groups = runs_a[members[0]]
        for i in members:
            if not np.array_equal(runs_a[i][0], runs_b[i][0]) or not np.array_equal(runs_a[i][0], labels):
                raise ValueError(f"seed {i}: a and b have different test labels; pair the same test images")
        both = bootstrap_scores(metric, labels, [s for i in members for s in (runs_a[i][1], runs_b[i][1])], groups,
                                replicates, rng)
        for position, i in enumerate(members):
            resampled[i] = both[2 * position] - both[2 * position + 1]
            observed[i] = observed_metric(metric, labels, runs_a[i][1]) - observed_metric(metric, labels, runs_b[i][1])
    return seed_level_test(observed, shared_test_variance(resampled, keys))
