"""How well transferability estimates rank the sources as their measured AUCs do: the weighted Kendall tau
between an estimator's scores and the mean measured AUC per source, for each target and measured method."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from scipy.stats import weightedtau

from benchmark.hashing import config_hash
from benchmark.presets import Preset

# scratch's results carry this source name: no source to estimate (benchmark.run.planner.NO_SOURCE)
NO_SOURCE = "none"
FEW_SOURCES = 4  # below this many sources a rank correlation says little


def weighted_tau(scores: dict[str, float], measured: dict[str, float],
                 higher_is_better: bool = True) -> tuple[float | None, int]:
    """The weighted Kendall tau (scipy's ``weightedtau``: additive hyperbolic weights 1 / (rank + 1), the
    average of the two rankings' weightings, as You et al. 2021 use it) between the estimator's ``scores`` and
    the ``measured`` AUCs of the sources both have, and that number of sources. Swaps near the top of the
    ranking weigh more than swaps near the bottom. None where it is undefined (fewer than two sources, or
    either side constant)."""
    common = sorted(set(scores) & set(measured))
    if len(common) < 2:
        return None, len(common)
    sign = 1.0 if higher_is_better else -1.0
    x = np.array([sign * scores[s] for s in common])
    y = np.array([measured[s] for s in common])
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return None, len(common)
    tau = float(weightedtau(x, y).statistic)
    return (None if math.isnan(tau) else tau), len(common)


def preset_key(fields: dict) -> str | None:
    """One key per configuration: the digest of the preset's result-deciding fields (None for fields that do not
    make a preset, as a row of an older tlbench may hold)."""
    try:
        return config_hash(Preset.from_fields(fields).hashable())
    except (TypeError, ValueError):
        return None


def measured_auc(rows: list[dict], target: str, key: str, metric: str = "auc") -> dict[str, dict[str, float]]:
    """Per method that starts from a source (every one but scratch), the mean over seeds of each source's
    ``metric`` on ``target``, from the passed rows of the configuration ``key`` (:func:`preset_key`)."""
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if (row["status"] == "passed" and row["target"] == target and row["source"] != NO_SOURCE
                and row.get("preset") and preset_key(row["preset"]) == key and row["metrics"]
                and row["metrics"].get(metric) is not None):
            values[row["method"]][row["source"]].append(float(row["metrics"][metric]))
    return {method: {source: float(np.mean(v)) for source, v in by_source.items()}
            for method, by_source in values.items()}


@dataclass(frozen=True)
class Comparison:
    """One estimator against one measured method on one target: the sources as (name, score, measured AUC),
    and the weighted tau between the two over ``n`` sources (None where undefined)."""

    target: str
    estimator: str
    method: str
    points: tuple[tuple[str, float, float], ...]
    tau: float | None
    n: int
    configuration: str = ""  # the preset's name, backbone and image size, as "cpu-quick · test_resnet @ 32px"
    key: str = ""  # the configuration's :func:`preset_key`: two presets may share a name and differ in a field


def configuration_label(fields: dict) -> str:
    """A configuration as people name it: preset, backbone and image size."""
    return f"{fields.get('name', '?')} · {fields.get('backbone', '?')} @ {fields.get('image_size', '?')}px"


def latest_estimates(estimates: list[dict]) -> dict[tuple[str, str], dict[str, dict[str, float]]]:
    """The stored estimates by (target, configuration key), then estimator, then source: the latest score of
    each (stored estimates come oldest first)."""
    latest: dict[tuple[str, str], dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for row in estimates:
        latest[(row["target"], preset_key(row["preset"]))][row["estimator"]][row["source"]] = row["score"]
    return latest


def compare(estimates: list[dict], rows: list[dict], higher_is_better: dict[str, bool] | None = None,
            metric: str = "auc") -> list[Comparison]:
    """Each stored estimator's ranking of the sources against each measured method's, per target and
    configuration, where the store has measured results of that configuration."""
    higher_is_better = higher_is_better or {}
    labels = {preset_key(row["preset"]): configuration_label(row["preset"]) for row in estimates}
    found = []
    for (target, key), by_estimator in latest_estimates(estimates).items():
        measured = measured_auc(rows, target, key, metric)
        for estimator, scores in by_estimator.items():
            for method in sorted(measured):
                tau, n = weighted_tau(scores, measured[method], higher_is_better.get(estimator, True))
                points = tuple((s, scores[s], measured[method][s]) for s in sorted(scores) if s in measured[method])
                found.append(Comparison(target, estimator, method, points, tau, n, labels[key], key))
    return found
