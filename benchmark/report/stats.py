"""Uncertainty for the leaderboard: bootstrap intervals, seed-level paired tests, Holm and Friedman/Nemenyi.

A *run* is one seed's test set: ``(labels, scores, groups)`` with ``labels`` of shape (n,), ``scores`` of
shape (n, n_classes) and ``groups`` either None or n hashable ids (patients, cells) whose samples are
resampled together. The bootstrap weights each test sample by how often a resample draws it and computes
exactly the metrics of :mod:`benchmark.engine.metrics` on that weighted sample, so unit weights reproduce
:func:`benchmark.engine.metrics.compute_metrics`.

The distributions come from ``scipy.special`` alone: ``scipy.stats`` (with the ``scipy.optimize`` and
``scipy.integrate`` it loads) takes half a second to import, which every board would pay, a no-op rerun included.
The two roots (a quantile of :func:`seed_level_test`'s statistic, the studentized range's) are found by bisection,
and ranks are averaged over ties with numpy; tests/test_stats.py holds each against scipy.stats.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import NamedTuple

import numpy as np
from scipy.special import chdtrc, chdtri, fdtrc, gammainc, ndtr, ndtri, stdtr, stdtrit

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

# Fewest test images of a class for a bootstrap interval or a test: with fewer, the resamples that keep every
# class barely vary and the interval and the test's test-set variance say nothing (issue 27, defect 11).
MIN_CLASS_IMAGES = 5
# Fewest seeds a comparison can be tested on: the test estimates how much training runs vary from their spread.
MIN_SEEDS = 2


def too_few_per_class(labels: np.ndarray, n_classes: int) -> str | None:
    """Why a test set is too small to bootstrap (a class with fewer than MIN_CLASS_IMAGES images), or None."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes)
    scarce = [f"class {c} has {counts[c]}" for c in range(len(counts)) if counts[c] < MIN_CLASS_IMAGES]
    return f"{', '.join(scarce)} test image(s), fewer than {MIN_CLASS_IMAGES}" if scarce else None


class PairedResult(NamedTuple):
    """Mean over seeds of metric(a) - metric(b), its 95% interval and two-sided p-value (the seed-level test's)."""

    difference: float
    low: float
    high: float
    p_value: float


def interval_of_mean(per_seed: Sequence[np.ndarray], level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the mean over seeds, from each seed's bootstrap replicates (equal lengths)."""
    return _percentile_interval(np.mean(per_seed, axis=0), level)


def shared_test_variance(resampled: Sequence[np.ndarray], test_sets: Sequence[Hashable]) -> float:
    """The variance the test images add to a seed mean beyond what the seeds' spread shows: (1 / S^2) times the sum,
    over pairs of different seeds scored on the same test images, of the bootstrap covariance of their values.

    ``resampled[i]`` is seed i's value (a difference between two columns) on each bootstrap resample of its test
    set, resamples shared by the seeds of one test set (equal lengths); ``test_sets[i]`` names that set. Seeds on
    test sets of their own add nothing (their test noise is already in the seeds' spread); one shared set adds
    its full covariance. Negative estimates count as 0.
    """
    keys = list(test_sets)
    count = len(keys)
    same = np.array([[a == b for b in keys] for a in keys], dtype=bool) & ~np.eye(count, dtype=bool)
    if count < 2 or not same.any():
        return 0.0
    covariance = np.cov(np.asarray(resampled, dtype=np.float64))
    return max(0.0, float(covariance[same].sum()) / count**2)


def seed_level_test(differences: Sequence[float], shared_variance: float = 0.0, level: float = 0.95) -> PairedResult:
    """Two-level test that per-seed differences between two columns average zero, with its interval.

    Each value is one seed's difference (one training run per column), so the seed is the unit: the variance of
    their mean is the seeds' spread s^2 / S plus ``shared_variance`` v, the part of the test images' sampling noise
    that the seeds share (:func:`shared_test_variance`; 0 where every seed has test images of its own). Under no
    difference, T = mean / sqrt(s^2 / S + v) is distributed as Z sqrt(1 + r) / sqrt(W + r), with W a chi-square over
    its S - 1 degrees of freedom and r = v / (sigma^2 / S) the unknown ratio of test to training variance: a t over
    S - 1 degrees of freedom at r = 0 (then this is the paired t-test over seeds), a normal as r grows, its tails
    lightest the larger r. The p-value is Berger and Boos's (1994): the tail at the smallest r a one-sided
    1 - GAMMA bound on sigma^2 allows, plus GAMMA, so it holds its level whatever r (plugging in an estimate of r,
    as Welch-Satterthwaite does, rejects far too often with three seeds; perf/calibration.py). Differences with
    no variance at all give p = 1 when they are zero and otherwise 2^(1 - S), the smallest p a sign-flip
    permutation over S seeds can give; p is never 0. ValueError below MIN_SEEDS seeds.
    """
    values = np.asarray(differences, dtype=np.float64)
    seeds = len(values)
    if seeds < MIN_SEEDS:
        raise ValueError(f"a test over seeds needs at least {MIN_SEEDS} seeds; got {seeds}")
    mean = float(values.mean())
    spread = float(values.var(ddof=1)) / seeds
    spread = 0.0 if spread <= _NO_VARIANCE else spread
    shared = max(0.0, float(shared_variance))
    if spread + shared <= _NO_VARIANCE:
        p_value = 1.0 if mean == 0 else 2.0 ** (1 - seeds)
        return PairedResult(mean, mean, mean, p_value)
    scale = float(np.sqrt(spread + shared))
    # the largest sigma^2 / S the seeds' spread allows at 1 - GAMMA, hence the smallest ratio r
    largest_spread = spread * (seeds - 1) / chdtri(seeds - 1, 1 - GAMMA)  # the chi-square's GAMMA quantile
    ratio = shared / largest_spread if largest_spread > 0 else np.inf
    p_value = min(1.0, _tail(abs(mean) / scale, seeds - 1, ratio) + GAMMA)
    # the tail falls from the normal's quantile (r = inf) to the t's (r = 0)
    quantile = _root(lambda c: _tail(c, seeds - 1, ratio) - (1 - level), ndtri((1 + level) / 2) * 0.99,
                     stdtrit(seeds - 1, (1 + level) / 2) * 1.01)
    return PairedResult(mean, mean - quantile * scale, mean + quantile * scale, p_value)


# Below this a variance is rounding error: differences agree to about 1e-12.
_NO_VARIANCE = 1e-24
# The share of the level spent on bounding the seeds' variance (Berger and Boos 1994): also the smallest p.
GAMMA = 1e-4


def _tail(c: float, df: int, ratio: float) -> float:
    """P(|Z| sqrt(1 + r) / sqrt(W + r) > c), W a chi-square over ``df`` divided by ``df``: the two-sided tail of
    :func:`seed_level_test`'s statistic at ratio r (a t's at r = 0, a normal's at r = inf). Integrated over Z,
    whose normal density keeps the integrand smooth however far in the tail c lies."""
    if ratio < 1e-12:
        return float(2 * stdtr(df, -c))
    if ratio > 1e9 or c == 0:
        return float(2 * ndtr(-c))
    start = c * np.sqrt(ratio / (1 + ratio))
    z = start + 10 * np.linspace(0, 1, 801) ** 2  # dense where the chi-square term rises from 0
    below = gammainc(df / 2, np.maximum(df * (z * z * (1 + ratio) / c**2 - ratio), 0) / 2)  # P(W < w), chi-square
    return float(2 * _trapezoid(np.exp(-z * z / 2) / np.sqrt(2 * np.pi) * below, z))


def _trapezoid(values: np.ndarray, at: np.ndarray) -> float:
    """The trapezoid rule's integral of ``values`` sampled at ``at``."""
    return float(np.sum((values[1:] + values[:-1]) * np.diff(at)) / 2)


def _root(function, low: float, high: float, tolerance: float = 1e-6) -> float:
    """The point between ``low`` and ``high`` where the continuous ``function`` changes sign, by bisection to within
    ``tolerance``; ValueError when it has the same sign at both ends."""
    low, high = float(low), float(high)
    at_low, at_high = function(low), function(high)
    if at_low == 0 or at_high == 0:
        return low if at_low == 0 else high
    if (at_low > 0) == (at_high > 0):
        raise ValueError(f"no sign change between {low} and {high}")
    while high - low > tolerance:
        middle = (low + high) / 2
        at_middle = function(middle)
        if at_middle == 0:
            return middle
        if (at_middle > 0) == (at_low > 0):
            low, at_low = middle, at_middle
        else:
            high = middle
    return (low + high) / 2


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
    set (so any two rows are paired, and one set of resamples serves every cell and seed scored on these images)."""
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
    ranks = np.array([average_ranks_of(-row) for row in matrix])
    average_ranks = ranks.mean(axis=0)
    statistic = _friedman_chi_square(ranks)
    iman_davenport = _iman_davenport(statistic, n_blocks, k)
    critical_difference = nemenyi_q_alpha(k) * np.sqrt(k * (k + 1) / (6 * n_blocks))
    return FriedmanResult(
        average_ranks=average_ranks,
        statistic=statistic,
        p_value=1.0 if np.isnan(statistic) else float(chdtrc(k - 1, statistic)),
        iman_davenport=iman_davenport,
        iman_davenport_p_value=1.0 if np.isnan(iman_davenport) else float(fdtrc(k - 1, (k - 1) * (n_blocks - 1),
                                                                                iman_davenport)),
        critical_difference=float(critical_difference),
        groups=_critical_difference_groups(average_ranks, critical_difference),
    )


def nemenyi_q_alpha(k: int, alpha: float = 0.05) -> float:
    """Demšar's q_alpha for k columns: the studentized range quantile (infinite df) over sqrt(2)."""
    return _root(lambda q: _range_below(q, k) - (1 - alpha), 0.0, 20.0) / float(np.sqrt(2))


def _range_below(q: float, k: int) -> float:
    """P(range of k standard normals <= q) = k * integral of phi(z) (Phi(z + q) - Phi(z))^(k - 1) dz."""
    z = np.linspace(-9.0, 9.0, 3601)
    density = np.exp(-z * z / 2) / np.sqrt(2 * np.pi)
    return k * _trapezoid(density * (ndtr(z + q) - ndtr(z)) ** (k - 1), z)


def average_ranks_of(values: np.ndarray) -> np.ndarray:
    """Ranks of ``values``, 1 for the smallest, tied values sharing their average rank (as
    ``scipy.stats.rankdata``)."""
    values = np.asarray(values)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1], True])  # where each run of ties begins
    run_of = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = (starts[:-1] + starts[1:] + 1)[run_of] / 2
    return ranks


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
