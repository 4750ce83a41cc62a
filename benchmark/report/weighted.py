"""Metrics of a weighted sample, for many resamples at once: a sample of weight w counts as w copies of it.

The bootstrap (:mod:`benchmark.report.stats`) weights each test sample by how often a resample draws it;
these functions compute exactly the metrics of :mod:`benchmark.engine.metrics` on such weighted samples,
so unit weights reproduce :func:`benchmark.engine.metrics.compute_metrics`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def weighted_metric(name: str, labels: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``name`` of :mod:`benchmark.engine.metrics` on each weighted resample; shape (replicates,).

    ``weights`` is (replicates, n) (one row per resample; a 1-d vector is one resample) of non-negative
    counts, as from :func:`resample_weights`. A sample of weight w counts as w copies of it, so integer
    weights give the metric of the explicitly repeated arrays. A replicate where the metric is undefined
    (no class with both positives and negatives) is nan.
    """
    if name not in _METRICS:
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(sorted(_METRICS))}")
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    if scores.ndim != 2 or scores.shape[0] != len(labels) or weights.shape[1] != len(labels):
        raise ValueError(f"shapes disagree: labels {labels.shape}, scores {scores.shape}, weights {weights.shape}")
    return _METRICS[name](labels, scores, weights)


def _accuracy(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    correct = scores.argmax(axis=1) == labels
    return (weights @ correct) / weights.sum(axis=1)


def _balanced_accuracy(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mean recall over the classes present in the resample, as scikit-learn's balanced_accuracy_score."""
    in_class = labels[:, None] == np.arange(scores.shape[1])[None, :]
    correct = scores.argmax(axis=1) == labels
    class_weight = weights @ in_class
    hit_weight = weights @ (in_class & correct[:, None])
    present = class_weight > 0
    recall = np.divide(hit_weight, class_weight, out=np.zeros_like(class_weight), where=present)
    with np.errstate(invalid="ignore", divide="ignore"):
        return recall.sum(axis=1) / present.sum(axis=1)


def _auc_ovr(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mean of per-class one-vs-rest AUCs over the classes with positives and negatives in the resample."""
    if scores.shape[1] == 2:
        return _binary_auc(labels == 1, scores[:, 1] - scores[:, 0], weights)
    per_class = np.array([_binary_auc(labels == c, scores[:, c], weights) for c in range(scores.shape[1])])
    defined = ~np.isnan(per_class)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(defined, per_class, 0.0).sum(axis=0) / defined.sum(axis=0)


def _binary_auc(positive: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted Mann-Whitney AUC: the weighted share of (positive, negative) pairs ordered right, a tie
    counting 1/2; nan where a resample lacks positives or negatives. Sorts once for all replicates."""
    order = np.argsort(score, kind="stable")
    sorted_score = score[order]
    tie_starts = np.flatnonzero(np.r_[True, sorted_score[1:] != sorted_score[:-1]])
    sorted_weights = weights[:, order]
    is_positive = positive[order]
    positives = np.add.reduceat(sorted_weights * is_positive, tie_starts, axis=1)
    negatives = np.add.reduceat(sorted_weights * ~is_positive, tie_starts, axis=1)
    negatives_below = np.cumsum(negatives, axis=1) - negatives
    ordered_pairs = (positives * (negatives_below + 0.5 * negatives)).sum(axis=1)
    with np.errstate(invalid="ignore"):
        return ordered_pairs / (positives.sum(axis=1) * negatives.sum(axis=1))


def _auc_macro_curve(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The study's macro-averaged ROC curve's area (see :func:`benchmark.engine.metrics.auc_macro_curve`): per
    replicate, each defined class's curve interpolated on the union of the classes' FPRs, averaged, and
    integrated by trapezoids. All replicates go through one ``np.interp`` per class: replicate r's FPRs
    are moved to [2r, 2r + 1], so the replicates' curves follow one another on one increasing axis."""
    if scores.shape[1] == 2:
        return _auc_ovr(labels, scores, weights)
    replicates = len(weights)
    shift = 2.0 * np.arange(replicates)[:, None]
    curves = []
    for c in range(scores.shape[1]):
        fpr, tpr, defined = _weighted_roc_points(labels == c, scores[:, c], weights)
        if not defined.all():  # an undefined class gets a placeholder curve, in neither grid nor mean
            fpr = np.where(defined[:, None], fpr, np.linspace(0.0, 1.0, fpr.shape[1]))
            tpr = np.where(defined[:, None], tpr, 0.0)
        curves.append(((fpr + shift).ravel(), tpr.ravel(), defined))
    # each class's shifted FPRs are sorted already: a stable sort merges them (np.unique's default sort would not
    # use that order), and only the first of equal values is kept
    grid = np.sort(np.concatenate([fpr.reshape(replicates, -1)[defined].ravel() for fpr, _, defined in curves]),
                   kind="stable")
    grid = grid[np.r_[True, grid[1:] != grid[:-1]]]
    owner = (grid // 2).astype(np.int64)
    defined_count = sum(defined.astype(np.int64) for _, _, defined in curves)
    everywhere = all(defined.all() for _, _, defined in curves)
    total_tpr = sum(np.interp(grid, fpr, tpr) if everywhere else
                    np.where(defined[owner], np.interp(grid, fpr, tpr), 0.0) for fpr, tpr, defined in curves)
    mean_tpr = total_tpr / np.maximum(defined_count[owner], 1)
    within = owner[1:] == owner[:-1]
    trapezoids = 0.5 * (mean_tpr[1:] + mean_tpr[:-1]) * np.diff(grid)
    area = np.bincount(owner[1:][within], trapezoids[within], minlength=replicates)
    return np.where(defined_count > 0, area, np.nan)


def _weighted_roc_points(
    positive: np.ndarray, score: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, defined): scikit-learn's ``roc_curve(drop_intermediate=False)`` points per replicate,
    (replicates, n_distinct_scores + 1) each; ``defined`` is False where a class lacks positives or negatives.
    Zero-weight samples only repeat the previous point, which changes neither the FPR grid nor the area."""
    order = np.argsort(score, kind="mergesort")[::-1]
    sorted_score = score[order]
    threshold_ends = np.r_[np.flatnonzero(np.diff(sorted_score)), len(score) - 1]
    sorted_weights = weights[:, order]
    start = np.zeros((len(weights), 1))
    weight_below = np.cumsum(sorted_weights, axis=1)[:, threshold_ends]
    true_positives = np.hstack([start, np.cumsum(sorted_weights * positive[order], axis=1)[:, threshold_ends]])
    false_positives = np.hstack([start, weight_below - true_positives[:, 1:]])
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = true_positives / true_positives[:, -1:]
        fpr = false_positives / false_positives[:, -1:]
    return fpr, tpr, (true_positives[:, -1] > 0) & (false_positives[:, -1] > 0)


_METRICS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "auc_macro_curve": _auc_macro_curve,
    "auc_ovr": _auc_ovr,
    "accuracy": _accuracy,
    "balanced_accuracy": _balanced_accuracy,
}
