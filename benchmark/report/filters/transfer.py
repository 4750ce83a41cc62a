"""The filter taxonomy against transfer: how structural a model's filters are, whether that goes with the
AUC its features reach, and how much fine-tuning changed the filters."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata, spearmanr

from benchmark.report.filters.taxonomy import CLASSES, STRUCTURAL

EXACT_MAX_N = 8  # 8! = 40,320 pairings


def class_shares(labels: Sequence[str]) -> dict[str, float]:
    """The share (0-1) of ``labels`` in each class, every class of :data:`CLASSES` in order (0 when absent):
    one bar of :func:`benchmark.report.filters.taxonomyfigures.share_bars`."""
    if not labels:
        raise ValueError("the class shares of no filters are undefined")
    counts = Counter(labels)
    unknown = set(counts) - set(CLASSES)
    if unknown:
        raise ValueError(f"unknown classes {sorted(unknown)}; the classes are {', '.join(CLASSES)}")
    return {name: counts[name] / len(labels) for name in CLASSES}


def structural_share(labels: Sequence[str]) -> float:
    """The share (0-1) of ``labels`` that are structural (complex or direction)."""
    if not labels:
        raise ValueError("the structural share of no filters is undefined")
    return sum(label in STRUCTURAL for label in labels) / len(labels)


def spearman(xs: Sequence[float], ys: Sequence[float]) -> dict:
    """Spearman's rank correlation of paired values: ``rho``, ``p`` (two-sided), ``n`` (pairs with both
    values finite, the others dropped), ``exact`` and ``reason``: None, or why ``rho`` and ``p`` are None
    (fewer than three pairs, or one side constant). With at most :data:`EXACT_MAX_N` pairs (a handful of
    sources, the usual case) ``p`` is exact, the share of all pairings whose |rho| reaches the observed one;
    scipy's t approximation would call rho = 1 over 4 sources p = 0, where the exact p is 1/12."""
    if len(xs) != len(ys):
        raise ValueError(f"{len(xs)} x values against {len(ys)} y values")
    pairs = [(float(x), float(y)) for x, y in zip(xs, ys, strict=True)
             if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)]
    n = len(pairs)
    if n < 3:
        return {"rho": None, "p": None, "n": n, "exact": False,
                "reason": f"{n} pairs; a rank correlation needs 3 or more"}
    x, y = zip(*pairs, strict=True)
    constant = [name for name, values in (("x", x), ("y", y)) if len(set(values)) == 1]
    if constant:
        return {"rho": None, "p": None, "n": n, "exact": False,
                "reason": f"{' and '.join(constant)} constant; no ranking to correlate"}
    result = spearmanr(x, y)
    rho = float(result.statistic)
    if n > EXACT_MAX_N:
        return {"rho": rho, "p": float(result.pvalue), "n": n, "exact": False, "reason": None}
    return {"rho": rho, "p": _exact_p(x, y, rho), "n": n, "exact": True, "reason": None}


def _exact_p(x: Sequence[float], y: Sequence[float], rho: float) -> float:
    """The two-sided permutation p of Spearman's rho: every pairing of ``y``'s ranks with ``x``'s."""
    # written here rather than with scipy.stats.permutation_test: that calls the statistic once per pairing
    # (40,320 at 8 sources) and its two-sided p is not the share of |rho| reaching the observed one
    rx, ry = rankdata(x), rankdata(y)
    pairings = np.array(list(itertools.permutations(ry)))
    rx, pairings = rx - rx.mean(), pairings - pairings.mean(axis=1, keepdims=True)
    rhos = pairings @ rx / (np.linalg.norm(pairings, axis=1) * np.linalg.norm(rx))
    return float(np.mean(np.abs(rhos) >= abs(rho) - 1e-12))


def filter_change(before_labels: Sequence[str], after_labels: Sequence[str], before_weights: np.ndarray,
                  after_weights: np.ndarray) -> dict:
    """How fine-tuning changed a layer's filters: ``changed_share`` (share of filters whose class changed),
    ``transitions`` (count of filters by ``(before, after)`` class), ``relative_distance`` (the Frobenius
    norm of the weights' change over that of the weights before; None when those are zero) and
    ``cosine_distance`` (mean over filters of 1 - cosine similarity, the first axis indexing filters; None
    for one-dimensional weights or when every filter is zero before or after)."""
    if len(before_labels) != len(after_labels):
        raise ValueError(f"{len(before_labels)} filters before against {len(after_labels)} after")
    before = np.asarray(before_weights, dtype=np.float64)
    after = np.asarray(after_weights, dtype=np.float64)
    if before.shape != after.shape:
        raise ValueError(f"weights before {before.shape} and after {after.shape} differ in shape")
    transitions = Counter(zip(before_labels, after_labels, strict=True))
    changed = sum(count for (was, now), count in transitions.items() if was != now)
    norm = np.linalg.norm(before)
    return {
        "changed_share": changed / len(before_labels) if len(before_labels) else None,
        "transitions": dict(transitions),
        "relative_distance": float(np.linalg.norm(after - before) / norm) if norm > 0 else None,
        "cosine_distance": _mean_cosine_distance(before, after),
    }


def _mean_cosine_distance(before: np.ndarray, after: np.ndarray) -> float | None:
    if before.ndim < 2:
        return None
    before = before.reshape(len(before), -1)
    after = after.reshape(len(after), -1)
    norms = np.linalg.norm(before, axis=1) * np.linalg.norm(after, axis=1)
    # a zero filter has no direction: it is left out rather than counted as unchanged or opposite
    kept = norms > 0
    if not kept.any():
        return None
    cosine = (before[kept] * after[kept]).sum(axis=1) / norms[kept]
    return float(np.mean(1 - cosine))
