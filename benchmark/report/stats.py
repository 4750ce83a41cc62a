"""Uncertainty for the leaderboard: bootstrap intervals, paired bootstrap tests, Holm and Friedman/Nemenyi.

A *run* is one seed's test set: ``(labels, scores, groups)`` with ``labels`` of shape (n,), ``scores`` of
shape (n, n_classes) and ``groups`` either None or n hashable ids (patients, cells) whose samples are
resampled together. The bootstrap weights each test sample by how often a resample draws it and computes
exactly the metrics of :mod:`benchmark.engine.metrics` on that weighted sample, so unit weights reproduce
:func:`benchmark.engine.metrics.compute_metrics`.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import NamedTuple

import numpy as np
from scipy.stats import chi2, f, rankdata, studentized_range, ttest_1samp

from benchmark.report.weighted import weighted_metric

Run = tuple[np.ndarray, np.ndarray, Sequence[Hashable] | None]

# Rounds of redrawing the replicates that lack a class before giving up on a test set.
_MAX_REDRAWS = 1000
# Replicates evaluated at once: bounds the (replicates, n) matrices for large test sets.
_CHUNK_REPLICATES = 256


# --- resampling ----------------------------------------------------------------------------------------


def resample_weights(
    n: int,
    groups: Sequence[Hashable] | None,
    replicates: int,
    rng: np.random.Generator,
    *,
    labels: np.ndarray | None = None,
) -> np.ndarray:
    """Bootstrap counts, shape (replicates, n): how often each sample is in each resample.

    Without ``groups`` each resample draws n samples with replacement. With ``groups`` it draws as many
    groups as there are, with replacement (a cluster bootstrap), and a sample counts as often as its group.
    With ``labels``, replicates that lack a class present in ``labels`` are redrawn (so every resample
    scores the same classes as the test set); ValueError if some still lack one after many rounds.
    """
    codes = np.arange(n) if groups is None else _group_codes(groups, n)
    n_units = int(codes.max()) + 1

    def draw(count: int) -> np.ndarray:
        return _counts_of_draws(n_units, count, rng)[:, codes]

    weights = draw(replicates)
    if labels is None:
        return weights
    labels = np.asarray(labels)
    for _ in range(_MAX_REDRAWS):
        missing = _lacks_a_class(weights, labels)
        if not missing.any():
            return weights
        weights[missing] = draw(int(missing.sum()))
    raise ValueError(
        f"after {_MAX_REDRAWS} rounds, bootstrap resamples still lack a class: the test set holds too few "
        "samples (or groups) of some class to bootstrap it"
    )


def _group_codes(groups: Sequence[Hashable], n: int) -> np.ndarray:
    if len(groups) != n:
        raise ValueError(f"groups has {len(groups)} entries for {n} samples")
    index: dict[Hashable, int] = {}
    return np.array([index.setdefault(group, len(index)) for group in groups], dtype=np.int64)


def _counts_of_draws(n_units: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """(count, n_units): per row, how often each unit came up in n_units draws with replacement."""
    draws = rng.integers(n_units, size=(count, n_units))
    offsets = np.arange(count)[:, None] * n_units
    return np.bincount((draws + offsets).ravel(), minlength=count * n_units).reshape(count, n_units)


def _lacks_a_class(weights: np.ndarray, labels: np.ndarray) -> np.ndarray:
    in_class = labels[:, None] == np.unique(labels)[None, :]
    return ((weights @ in_class) == 0).any(axis=1)


# --- intervals and paired tests ------------------------------------------------------------------------


class PairedResult(NamedTuple):
    """Mean over seeds of metric(a) - metric(b), its bootstrap percentile interval and two-sided p-value."""

    difference: float
    low: float
    high: float
    p_value: float


def cell_interval(
    runs: Sequence[Run], metric: str, replicates: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of a table cell's value: the mean of ``metric`` over seeds.

    Each replicate resamples every seed's test set independently (by group where groups are given) and
    averages the metric over the seeds, so the interval captures the test-set sampling uncertainty of the
    seed mean (not the spread of training outcomes across seeds). Deterministic given ``seed``.
    """
    if not runs:
        raise ValueError("a cell needs at least one run")
    rng = np.random.default_rng(seed)
    return interval_of_mean([bootstrap_scores(metric, labels, [scores], groups, replicates, rng)[0]
                             for labels, scores, groups in runs], level)


def interval_of_mean(per_seed: Sequence[np.ndarray], level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the mean over seeds, from each seed's bootstrap replicates (equal lengths)."""
    return _percentile_interval(np.mean(per_seed, axis=0), level)


def paired_test(
    runs_a: Sequence[Run], runs_b: Sequence[Run], metric: str, replicates: int = 2000, seed: int = 0
) -> PairedResult:
    """Paired hierarchical bootstrap comparison of two cells scored on the same seeds and the same test images.

    ``runs_a[i]`` and ``runs_b[i]`` must hold the same test set in the same order (ValueError if their labels
    differ); groups are taken from ``runs_a``. The statistic is the mean over seeds of metric(a) - metric(b).
    Each seed's test set is resampled ``replicates`` times, both a and b scored on each resample; then
    :func:`paired_from_replicates` draws the seeds. Deterministic given ``seed``.
    """
    if not runs_a or len(runs_a) != len(runs_b):
        raise ValueError(f"need the same, non-zero number of seeds; a has {len(runs_a)} and b has {len(runs_b)}")
    rng = np.random.default_rng(seed)
    observed, resampled = [], []
    for seed_index, (run_a, run_b) in enumerate(zip(runs_a, runs_b, strict=True)):
        (labels, scores_a, groups), (labels_b, scores_b, _) = run_a, run_b
        if not np.array_equal(labels, labels_b):
            raise ValueError(f"seed {seed_index}: a and b have different test labels; pair the same test images")
        both = bootstrap_scores(metric, labels, [scores_a, scores_b], groups, replicates, rng)
        resampled.append(both[0] - both[1])
        observed.append(observed_metric(metric, labels, scores_a) - observed_metric(metric, labels, scores_b))
    return paired_from_replicates(observed, resampled, rng)


def paired_from_replicates(
    observed: Sequence[float], resampled: Sequence[np.ndarray], rng: np.random.Generator
) -> PairedResult:
    """The hierarchical paired bootstrap from per-seed differences: ``observed[i]`` is seed i's metric(a) -
    metric(b), ``resampled[i]`` the same difference on each of the seed's test resamples (a and b scored on
    the same resample; equal lengths).

    Each replicate draws the seeds with replacement (a seed is one training run: the unit of replication, so
    the test sees how much the difference moves from run to run) and takes each drawn seed's difference on
    that replicate's test resample; with one seed only the test images are resampled. The two-sided p-value
    is ``min(1, 2 * min(P(diff <= 0), P(diff >= 0)))`` over the replicates, floored at ``1 / (replicates + 1)``
    because a finite bootstrap cannot show a p-value of 0. ``difference`` is the mean of ``observed``;
    ``low``, ``high`` the 95% percentile interval.
    """
    resampled = np.asarray(resampled)
    seeds, replicates = resampled.shape
    drawn_seeds = rng.integers(seeds, size=(replicates, seeds))
    differences = resampled[drawn_seeds, np.arange(replicates)[:, None]].mean(axis=1)
    low, high = _percentile_interval(differences, 0.95)
    one_sided = min(np.mean(differences <= 0), np.mean(differences >= 0))
    p_value = max(min(1.0, 2 * float(one_sided)), 1 / (replicates + 1))
    return PairedResult(float(np.mean(observed)), low, high, p_value)


def observed_metric(metric: str, labels: np.ndarray, scores: np.ndarray) -> float:
    return float(weighted_metric(metric, labels, scores, np.ones(len(labels)))[0])


def bootstrap_scores(
    metric: str,
    labels: np.ndarray,
    score_sets: list[np.ndarray],
    groups: Sequence[Hashable] | None,
    replicates: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """(len(score_sets), replicates): ``metric`` of each score set, all scored on the same resamples of one test
    set (so any two rows are paired, and one set of resamples serves every cell scored on these images)."""
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        raise ValueError("a test set needs at least two classes to be scored")
    chunks = []
    for start in range(0, replicates, _CHUNK_REPLICATES):
        count = min(_CHUNK_REPLICATES, replicates - start)
        weights = resample_weights(len(labels), groups, count, rng, labels=labels)
        chunks.append([weighted_metric(metric, labels, scores, weights) for scores in score_sets])
    return np.concatenate(chunks, axis=1)


def _percentile_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def seed_t_test(differences: Sequence[float]) -> float:
    """Two-sided p-value of a one-sample t-test that per-seed differences average zero.

    Each value is one seed's difference between two columns (one training run each), so the test's unit is
    the training run and its t distribution has ``len - 1`` degrees of freedom: with three seeds only a
    difference large against the seeds' spread counts (Bouthillier et al. 2021 on the variance of training
    runs). Fewer than two seeds give nan (nothing to test); differences with no spread give 0.0 when they are
    not all zero and 1.0 when they are.
    """
    values = np.asarray(differences, dtype=np.float64)
    if len(values) < 2:
        return float("nan")
    if np.ptp(values) == 0:
        return 1.0 if values[0] == 0 else 0.0
    return float(ttest_1samp(values, 0.0).pvalue)


# --- multiple comparisons ------------------------------------------------------------------------------


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order: the i-th smallest is multiplied by
    (m - i + 1), made non-decreasing along that order and capped at 1."""
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (len(p) - np.arange(len(p)))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return adjusted.tolist()


class FriedmanResult(NamedTuple):
    """Friedman test over blocks (targets) and columns, with the Nemenyi critical difference.

    ``average_ranks``: per column, rank 1 = best. ``groups``: maximal sets of columns whose average ranks
    all differ by less than ``critical_difference`` (the bars of a CD diagram, singletons included), each
    a tuple of column indices from best to worst, listed from the best-ranked group on.
    """

    average_ranks: np.ndarray
    statistic: float
    p_value: float
    iman_davenport: float
    iman_davenport_p_value: float
    critical_difference: float
    groups: list[tuple[int, ...]]


def friedman(matrix: np.ndarray) -> FriedmanResult:
    """Friedman test of ``matrix`` (n_blocks, k) of scores, higher better, following Demšar (2006).

    Ranks within each block, ties sharing their average rank. The chi-square statistic is tie-corrected
    (as ``scipy.stats.friedmanchisquare``, which it equals for k >= 3); the Iman-Davenport F derives from it.
    Where the test is undefined (a single block, or every block entirely tied) both statistics are nan and
    both p-values 1.0: no evidence of a difference. Nemenyi CD at alpha = 0.05.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] < 1 or matrix.shape[1] < 2:
        raise ValueError(f"need a (n_blocks >= 1, k >= 2) matrix, got shape {matrix.shape}")
    n_blocks, k = matrix.shape
    ranks = rankdata(-matrix, axis=1)
    average_ranks = ranks.mean(axis=0)
    statistic = _friedman_chi_square(ranks)
    iman_davenport = _iman_davenport(statistic, n_blocks, k)
    critical_difference = nemenyi_q_alpha(k) * np.sqrt(k * (k + 1) / (6 * n_blocks))
    return FriedmanResult(
        average_ranks=average_ranks,
        statistic=statistic,
        p_value=1.0 if np.isnan(statistic) else float(chi2.sf(statistic, k - 1)),
        iman_davenport=iman_davenport,
        iman_davenport_p_value=1.0 if np.isnan(iman_davenport) else float(f.sf(iman_davenport, k - 1,
                                                                                (k - 1) * (n_blocks - 1))),
        critical_difference=float(critical_difference),
        groups=_critical_difference_groups(average_ranks, critical_difference),
    )


def nemenyi_q_alpha(k: int, alpha: float = 0.05) -> float:
    """Demšar's q_alpha for k columns: the studentized range quantile (infinite df) over sqrt(2)."""
    return float(studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2))


def _friedman_chi_square(ranks: np.ndarray) -> float:
    n_blocks, k = ranks.shape
    if n_blocks < 2:
        return float("nan")
    rank_sums = ranks.sum(axis=0)
    uncorrected = 12 / (n_blocks * k * (k + 1)) * np.sum(rank_sums**2) - 3 * n_blocks * (k + 1)
    tie_sizes = [np.unique(row, return_counts=True)[1] for row in ranks]
    tie_correction = 1 - sum(np.sum(t**3 - t) for t in tie_sizes) / (n_blocks * k * (k * k - 1))
    return float(uncorrected / tie_correction) if tie_correction > 0 else float("nan")


def _iman_davenport(statistic: float, n_blocks: int, k: int) -> float:
    if np.isnan(statistic):
        return float("nan")
    denominator = n_blocks * (k - 1) - statistic
    # chi-square at its maximum n_blocks * (k - 1): every block ranks alike, F is infinite
    return float((n_blocks - 1) * statistic / denominator) if denominator > 1e-9 * n_blocks * (k - 1) else float("inf")


def _critical_difference_groups(average_ranks: np.ndarray, critical_difference: float) -> list[tuple[int, ...]]:
    order = np.argsort(average_ranks, kind="stable")
    sorted_ranks = average_ranks[order]
    groups, last_end = [], 0
    for start in range(len(order)):
        end = int(np.searchsorted(sorted_ranks, sorted_ranks[start] + critical_difference, side="left"))
        if end > last_end:
            groups.append(tuple(int(column) for column in order[start:end]))
            last_end = end
    return groups
