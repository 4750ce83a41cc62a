"""How well transferability estimates rank the sources as their measured AUCs do: the weighted Kendall tau
between an estimator's scores and the mean measured AUC per source, for each target and measured method.

One configuration per tau and per figure, as on the board: the measured mean of a cell comes from the rows of its
latest configuration only, and a source enters a tau only where its estimate was made on the data and weights of
those rows. Scores within a relative :data:`TIE_TOLERANCE` are tied, and scores all tied give no tau."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from scipy.stats import weightedtau

from benchmark.hashing import cell_config_hash, config_hash

# scratch's results carry this source name: no source to estimate (benchmark.run.planner.NO_SOURCE)
NO_SOURCE = "none"
FEW_SOURCES = 4  # below this many sources a rank correlation says little
# Scores this close, relative to the larger, are one score: estimators computed in floating point on features of
# equal information differ in the last digits (six sources' H-scores of 1 +- 3e-15 once gave a tau of -0.121).
TIE_TOLERANCE = 1e-6


def _merged_ties(values: np.ndarray) -> np.ndarray:
    """``values`` with each run of values within :data:`TIE_TOLERANCE` of its neighbour (relative to the larger)
    replaced by the run's first value, so that the rank correlation sees them as tied."""
    order = np.argsort(values, kind="stable")
    merged = values.astype(np.float64).copy()
    for previous, current in zip(order[:-1], order[1:], strict=True):
        scale = max(abs(values[previous]), abs(values[current]))
        if abs(values[current] - values[previous]) <= TIE_TOLERANCE * scale:
            merged[current] = merged[previous]
    return merged


def all_tied(values) -> bool:
    """Whether ``values`` (two or more) are one score within :data:`TIE_TOLERANCE`."""
    values = np.asarray(list(values), dtype=np.float64)
    return len(values) >= 2 and np.ptp(_merged_ties(values)) == 0


def weighted_tau(scores: dict[str, float], measured: dict[str, float],
                 higher_is_better: bool = True) -> tuple[float | None, int]:
    """The weighted Kendall tau (scipy's ``weightedtau``: additive hyperbolic weights 1 / (rank + 1), the
    average of the two rankings' weightings, as You et al. 2021 use it) between the estimator's ``scores`` and
    the ``measured`` AUCs of the sources both have, and that number of sources. Swaps near the top of the
    ranking weigh more than swaps near the bottom. Values within :data:`TIE_TOLERANCE` of each other are tied.
    None where it is undefined: fewer than two sources, or either side all tied (:func:`all_tied`)."""
    common = sorted(set(scores) & set(measured))
    if len(common) < 2:
        return None, len(common)
    sign = 1.0 if higher_is_better else -1.0
    x = _merged_ties(np.array([sign * scores[s] for s in common]))
    y = _merged_ties(np.array([measured[s] for s in common]))
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return None, len(common)
    tau = float(weightedtau(x, y).statistic)
    return (None if math.isnan(tau) else tau), len(common)


def configuration_key(config: dict) -> str:
    """A result's or an estimate's configuration as the board groups them: the preset's result-deciding fields
    (``config["preset"]``), device type and precision (``config["runtime"]``)."""
    return config_hash({"preset": config.get("preset"), "runtime": config.get("runtime")})


def settings_key(settings) -> str:
    """:func:`configuration_key` of what a run under ``settings`` (a ``RunSettings``) would store."""
    return configuration_key({"preset": settings.preset.hashable(), "runtime": settings.runtime})


@dataclass(frozen=True)
class Measured:
    """A source's mean ``metric`` over seeds under one method, from the rows of the latest configuration of its
    cell, and the target and source identities those rows were made with."""

    mean: float
    target: dict
    source: dict | None


def measured_cells(rows: list[dict], target: str, key: str, metric: str = "auc") -> dict[str, dict[str, Measured]]:
    """Per method that starts from a source (every one but scratch), each source's :class:`Measured` on
    ``target`` from the passed rows of configuration ``key`` (:func:`configuration_key`). As on the board, a cell
    never mixes configurations: where the store holds its rows under several (changed data, weights or method
    version), only the latest one's count."""
    cells: dict[tuple[str, str], dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if (row["status"] == "passed" and row["target"] == target and row["source"] != NO_SOURCE
                and configuration_key(row["config"]) == key and row["metrics"]
                and row["metrics"].get(metric) is not None):
            cells[(row["method"], row["source"])][cell_config_hash(row["config"])].append(row)
    found: dict[str, dict[str, Measured]] = defaultdict(dict)
    for (method, source), configurations in cells.items():
        latest = max(configurations.values(), key=lambda group: max(r["finished_at"] or "" for r in group))
        config = latest[0]["config"]
        found[method][source] = Measured(float(np.mean([float(r["metrics"][metric]) for r in latest])),
                                         config.get("target") or {}, config.get("source"))
    return dict(found)


def measured_auc(rows: list[dict], target: str, key: str, metric: str = "auc") -> dict[str, dict[str, float]]:
    """The means of :func:`measured_cells`, per method and source."""
    return {method: {source: cell.mean for source, cell in by_source.items()}
            for method, by_source in measured_cells(rows, target, key, metric).items()}


def same_configuration(estimate_config: dict, cell: Measured) -> bool:
    """Whether an estimate was made on the data and weights the measured cell was: the same target identity
    (dataset, version, task, data fingerprint) and source identity (weights digest, or a trained source's data and
    training)."""
    target = estimate_config.get("target") or {}
    return (all(cell.target.get(name) == value for name, value in target.items())
            and estimate_config.get("source") == cell.source)


@dataclass(frozen=True)
class Comparison:
    """One estimator against one measured method on one target: the sources as (name, score, measured AUC),
    and the weighted tau between the two over ``n`` sources (None where undefined; ``tied`` when the estimator's
    scores are all one within :data:`TIE_TOLERANCE`)."""

    target: str
    estimator: str
    method: str
    points: tuple[tuple[str, float, float], ...]
    tau: float | None
    n: int
    configuration: str = ""  # the preset's name, backbone and image size, as "cpu-quick · test_resnet @ 32px"
    key: str = ""  # the configuration's :func:`configuration_key`: two presets may share a name and differ in a field
    tied: bool = False


def configuration_label(fields: dict) -> str:
    """A configuration as people name it: preset, backbone and image size."""
    return f"{fields.get('name', '?')} · {fields.get('backbone', '?')} @ {fields.get('image_size', '?')}px"


def latest_estimates(estimates: list[dict]) -> dict[tuple[str, str], dict[str, dict[str, dict]]]:
    """The stored estimates by (target, :func:`configuration_key`), then estimator, then source: the latest row of
    each (stored estimates come oldest first)."""
    latest: dict[tuple[str, str], dict[str, dict[str, dict]]] = defaultdict(lambda: defaultdict(dict))
    for row in estimates:
        latest[(row["target"], configuration_key(row["config"]))][row["estimator"]][row["source"]] = row
    return latest


def compare(estimates: list[dict], rows: list[dict], higher_is_better: dict[str, bool] | None = None,
            metric: str = "auc", sources: set[str] | None = None) -> list[Comparison]:
    """Each stored estimator's ranking of the sources (``sources``, or all) against each measured method's, per
    target and configuration, where the store has measured results of that configuration; a source enters only
    where its latest estimate and its measured cell share their data and weights (:func:`same_configuration`)."""
    higher_is_better = higher_is_better or {}
    labels = {configuration_key(row["config"]): configuration_label(row["preset"]) for row in estimates}
    found = []
    for (target, key), by_estimator in latest_estimates(estimates).items():
        measured = measured_cells(rows, target, key, metric)
        for estimator, by_source in by_estimator.items():
            wanted = {s: row for s, row in by_source.items() if sources is None or s in sources}
            for method in sorted(measured):
                cells = measured[method]
                matched = sorted(s for s in wanted if s in cells and same_configuration(wanted[s]["config"], cells[s]))
                scores = {s: wanted[s]["score"] for s in matched}
                means = {s: cells[s].mean for s in matched}
                tau, n = weighted_tau(scores, means, higher_is_better.get(estimator, True))
                points = tuple((s, scores[s], means[s]) for s in matched)
                found.append(Comparison(target, estimator, method, points, tau, n, labels[key], key,
                                        all_tied(scores.values())))
    return found
