"""Checking a stored row before anything uses it: a damaged or hostile row fails alone.

SQLite's integrity check sees pages, not values: a bit flipped inside a text cell, or a row written by another
program, reads back as a row whose JSON does not parse, nests without end, lacks a key or holds a value of the
wrong type. :func:`decode_experiment` and :func:`decode_estimate` decode a row's JSON columns and check every
value the readers (boards, reports, estimates, planning) rely on; :class:`BadRow` says what does not hold.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np

from benchmark.names import name_problem

MAX_DEPTH = 32  # the deepest JSON value a row may hold (tlbench writes at most 5 levels)
STATUSES = ("passed", "failed", "running")  # running: a row an older tlbench left behind
# metrics the boards read, which must be numbers when present (others may also be null)
_READ_METRICS = ("auc", "auc_macro_curve", "auc_ovr", "accuracy", "balanced_accuracy", "n_test")
_EXPERIMENT_JSON = {"config": dict, "metrics": dict, "scores": dict, "history": list, "durations": dict,
                    "versions": dict, "preset": dict, "notes": dict}
_ESTIMATE_JSON = {"config": dict, "preset": dict}


class BadRow(ValueError):
    """A stored row that cannot be used; the message says which column and what is wrong."""


def row_id(raw: Mapping) -> str:
    """How a message names a row: its node id (or, for an estimate, its estimator, source and target) and config
    hash, shown as Python literals, so that a hostile value cannot end a line or start a terminal escape."""
    raw = {key: raw[key] for key in raw.keys()}  # a mapping or an sqlite3.Row
    if "node_id" in raw:
        label = raw.get("node_id")
    else:
        label = f"{raw.get('estimator')!s:.100} of {raw.get('source')!s:.100} for {raw.get('target')!s:.100}"
    return f"{_shown(label)} (config hash {_shown(raw.get('config_hash'))})"


def _shown(value) -> str:
    text = repr(value)  # control and format characters escaped, other characters as they are
    return text if len(text) <= 120 else text[:117] + "..."


def decode_experiment(raw: Mapping) -> dict:
    """An ``experiments`` row with its JSON columns decoded; :class:`BadRow` when it does not hold."""
    record = dict(raw)
    for column in ("config_hash", "node_id", "status"):
        _text(record, column)
    for column in ("target", "source", "method"):
        _name(record, column)
    _integer(record, "seed")
    if record["status"] not in STATUSES:
        raise BadRow(f"status is {_shown(record['status'])}, not one of {', '.join(STATUSES)}")
    for column in ("split_hash", "device", "error", "started_at", "finished_at"):
        _text(record, column, optional=True)
    _decode(record, _EXPERIMENT_JSON, required=("config",))
    _check_config(record["config"])
    if record["status"] == "passed":
        _check_metrics(record["metrics"])
        if record["scores"] is not None:
            _check_scores(record["scores"])
    if record["history"] is not None and not all(isinstance(epoch, dict) for epoch in record["history"]):
        raise BadRow("history holds an entry that is not an object")
    for key, value in (record["durations"] or {}).items():
        if not _number(value):
            raise BadRow(f"durations.{_shown(key)} is not a number")
    return record


def decode_estimate(raw: Mapping) -> dict:
    """An ``estimates`` row with its JSON columns decoded; :class:`BadRow` when it does not hold."""
    record = dict(raw)
    _text(record, "config_hash")
    _text(record, "finished_at")
    for column in ("target", "source", "estimator"):
        _name(record, column)
    for column in ("seed", "n_samples"):
        _integer(record, column)
    for column in ("score", "seconds", "feature_seconds"):
        if not _number(record.get(column)):
            raise BadRow(f"{column} is {_shown(record.get(column))}, not a number")
    _decode(record, _ESTIMATE_JSON, required=tuple(_ESTIMATE_JSON))
    return record


def _text(record: dict, column: str, optional: bool = False) -> None:
    value = record.get(column)
    if optional and value is None:
        return
    if not isinstance(value, str) or not value:
        raise BadRow(f"{column} is {_shown(value)}, not a non-empty text")


def _name(record: dict, column: str) -> None:
    problem = name_problem(record.get(column))
    if problem:
        raise BadRow(f"{column} {_shown(record.get(column))}: {problem}")


def _integer(record: dict, column: str) -> None:
    value = record.get(column)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRow(f"{column} is {_shown(value)}, not an integer")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _decode(record: dict, columns: Mapping[str, type], required: tuple[str, ...]) -> None:
    """Decode each JSON column in place: text of JSON of the column's type, nested at most :data:`MAX_DEPTH`."""
    for column, kind in columns.items():
        text = record.get(column)
        if text is None and column not in required:
            continue
        if not isinstance(text, str):
            raise BadRow(f"{column} is {type(text).__name__ if text is not None else 'null'}, not JSON text")
        try:
            value = json.loads(text)
        except RecursionError:
            raise BadRow(f"{column} is JSON nested deeper than {MAX_DEPTH} levels") from None
        except ValueError as error:
            raise BadRow(f"{column} is not JSON ({error})") from None
        if value is None and column not in required:
            record[column] = None
            continue
        if not isinstance(value, kind):
            raise BadRow(f"{column} is a JSON {type(value).__name__}, not {'an object' if kind is dict else 'a list'}")
        if _depth(value) > MAX_DEPTH:
            raise BadRow(f"{column} is JSON nested deeper than {MAX_DEPTH} levels")
        record[column] = value


def _depth(value) -> int:
    """How deeply ``value``'s lists and objects nest (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, (dict, list)):
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def _check_config(config: dict) -> None:
    """The parts of an experiment's configuration that boards and planning read."""
    target = config.get("target")
    if not isinstance(target, dict) or name_problem(target.get("dataset")):
        raise BadRow("config.target is not an object with the target's dataset name")
    source = config.get("source")
    if source is not None and (not isinstance(source, dict) or not isinstance(source.get("input"), (dict, type(None)))):
        raise BadRow("config.source is neither null nor an object (with an object or null as its input)")
    for key in ("preset", "runtime", "method"):
        if not isinstance(config.get(key), (dict, type(None))):
            raise BadRow(f"config.{key} is not an object")


def _check_metrics(metrics: dict | None) -> None:
    if not metrics:
        raise BadRow("a passed row has no metrics")
    for key, value in metrics.items():
        if value is not None and not _number(value):
            raise BadRow(f"metrics.{_shown(key)} is {_shown(value)}, not a number")
    for key in _READ_METRICS:
        if key in metrics and not _number(metrics[key]):
            raise BadRow(f"metrics.{key} is null")
    if not isinstance(metrics.get("n_test"), int) or metrics["n_test"] < 0:
        raise BadRow("metrics.n_test is not a count of test images")


def _check_scores(scores: dict) -> None:
    """The per-image test scores the intervals are computed from: one label and one row of class scores per
    image, labels within the classes, indices and groups (when given) one per image."""
    try:
        labels = np.asarray(scores.get("labels", []))
        values = np.asarray(scores.get("scores", []), dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise BadRow(f"scores do not form a table of numbers ({error})") from None
    if labels.ndim != 1 or (len(labels) and labels.dtype.kind not in "iu"):
        raise BadRow("scores.labels is not a list of class indices")
    if len(labels) and (values.ndim != 2 or len(values) != len(labels)):
        raise BadRow(f"scores.scores is not one row of class scores for each of the {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= values.shape[1]):
        raise BadRow("scores.labels holds a class index outside the scores' classes")
    for key in ("indices", "groups"):
        given = scores.get(key)
        if given is not None and (not isinstance(given, list) or (given and len(given) != len(labels))):
            raise BadRow(f"scores.{key} is not one entry per label")
    if any(not isinstance(index, int) or isinstance(index, bool) for index in scores.get("indices") or ()):
        raise BadRow("scores.indices holds a value that is not an integer")
    groups = scores.get("groups") or ()
    if any(isinstance(group, (dict, list)) for group in groups):
        raise BadRow("scores.groups holds a list or object where a group name is expected")
