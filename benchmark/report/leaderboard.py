"""The study's Table II from stored results, one board per configuration.

A board holds the results of one configuration (the preset's result-deciding fields, device type and
precision); rows are target tasks, columns the baseline (the method without a source, scratch) then each source's
methods (FE and FT). A cell is one (target, source, method) over its seeds: the mean, the largest deviation of a
seed from it, a bootstrap interval, and paired tests against the baseline and between each method and the one it
is ``compared_with`` (FT and FE; :mod:`benchmark.report.comparisons`). Columns are labelled by the methods' own
``label``; a method the catalog does not know (its plugin not loaded) by its name. A cell never mixes
configurations: where the store holds a cell's results under several (changed data, weights or method
version), the latest configuration's are shown and the others counted as superseded.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmark.hashing import cell_config_hash, config_hash
from benchmark.methods import Method
from benchmark.report.metricnames import METRICS
from benchmark.report.replicatecache import ReplicateCache, replicate_key
from benchmark.report.stats import bootstrap_scores, interval_of_mean, observed_metric, too_few_per_class
from benchmark.run.planner import NO_SOURCE

REPLICATES = 2000  # bootstrap resamples per cell and per comparison


@dataclass(frozen=True)
class SeedResult:
    """One seed's stored result: the metric's value and the per-sample test scores behind it."""

    seed: int
    value: float
    labels: np.ndarray
    scores: np.ndarray
    groups: np.ndarray | None
    indices: tuple[int, ...]
    config_hash: str = ""  # the stored row's

    @property
    def run(self) -> tuple:
        """As :mod:`benchmark.report.stats` takes it."""
        return self.labels, self.scores, self.groups


@dataclass
class Cell:
    """A (target, source, method)'s results over its seeds, in seed order."""

    results: list[SeedResult]
    interval: tuple[float, float] | None = None
    mark: str = ""  # "better" or "worse" than the baseline beyond chance, else ""
    # per seed: the metric recomputed from the stored scores, and on each bootstrap resample of its test set
    observed: dict[int, float] = field(default_factory=dict)
    replicates: dict[int, np.ndarray] = field(default_factory=dict)
    test_sets: dict[int, int] = field(default_factory=dict)  # per seed: a key of its test images

    @property
    def values(self) -> tuple[float, ...]:
        return tuple(r.value for r in self.results)

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(r.seed for r in self.results)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def max_deviation(self) -> float:
        return float(np.max(np.abs(np.array(self.values) - self.mean)))

    @property
    def std(self) -> float:
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else 0.0

    @property
    def n(self) -> int:
        return len(self.values)

    def text(self, interval: bool = True) -> str:
        """``mean ± max deviation [low, high]``; one seed has no ±."""
        out = f"{self.mean:.3f}" if self.n == 1 else f"{self.mean:.3f} ± {self.max_deviation:.3f}"
        if interval and self.interval is not None:
            out += f" [{self.interval[0]:.3f}, {self.interval[1]:.3f}]"
        return out


@dataclass
class Board:
    """One configuration's results: cells by (target, source, method)."""

    title: str
    preset: dict  # every field of the preset of the board's latest result
    runtime: dict
    metric: str  # the stored metric shown, e.g. auc_macro_curve
    targets: list[str]
    columns: list[tuple[str, str]]  # (source, method)
    cells: dict[tuple[str, str, str], Cell]
    datasets: dict[str, str]  # target task -> dataset
    inputs: dict[str, str]  # column source -> its input convention
    test_sizes: dict[str, tuple[set[int], set[int]]]  # target -> (test images, test groups) over seeds
    superseded: int = 0
    comparisons: list = field(default_factory=list)  # benchmark.report.comparisons.Comparison
    places: list = field(default_factory=list)  # benchmark.report.comparisons.Place, best first
    friedman: object | None = None  # benchmark.report.comparisons.ColumnRanks
    too_small: dict[str, str] = field(default_factory=dict)  # target -> why its test set gets no interval or test
    untested: dict[str, int] = field(default_factory=dict)  # why comparisons were not made -> how many
    methods: Mapping[str, Method] = field(default_factory=dict)  # the catalog's, by name
    # column source tlbench trained on a dataset -> the seeds of its trainings: one, shared by the board's seeds,
    # or each seed's own (source_training = "per-seed")
    trained_sources: dict[str, set[int]] = field(default_factory=dict)
    # such a source -> the digests of its models the results of one training seed came from, where more than one (it
    # was trained again)
    source_models: dict[str, set[str]] = field(default_factory=dict)

    def label(self, method: str) -> str:
        """The method's own label, or its name when the catalog does not know it."""
        known = self.methods.get(method)
        return known.label if known is not None else method

    def column_label(self, column: tuple[str, str]) -> str:
        source, method = column
        return self.label(method) if source == NO_SOURCE else f"{source} {self.label(method)}"

    def best_column(self, target: str) -> tuple[str, str] | None:
        """The column with the highest mean on ``target``; a tie goes to the column first in the board's order."""
        scored = [(self.cells[(target, *c)].mean, -i, c) for i, c in enumerate(self.columns)
                  if (target, *c) in self.cells]
        return max(scored)[2] if scored else None

    @property
    def baselines(self) -> list[tuple[str, str]]:
        """The columns of methods without a source (scratch)."""
        return [c for c in self.columns if c[0] == NO_SOURCE]

    @property
    def baseline_label(self) -> str:
        return ", ".join(self.label(m) for _, m in self.baselines) or "the baseline"

    def pairs(self) -> list[tuple[tuple[str, str], tuple[str, str]]]:
        """(column, the column of the method it is compared with on the same source), for each such pair on the
        board (FT and FE per source)."""
        out = []
        for source, method in self.columns:
            other = getattr(self.methods.get(method), "compared_with", "")
            if source != NO_SOURCE and other and (source, other) in self.columns:
                out.append(((source, method), (source, other)))
        return out

    @property
    def seeds(self) -> list[int]:
        return sorted({seed for cell in self.cells.values() for seed in cell.seeds})

    def dataset_means(self) -> dict[str, dict[tuple[str, str], float]]:
        """For each dataset with several target tasks on the board (ISIC 2017's three), the mean over its tasks
        of each column that has all of them (the study's ISIC mean row)."""
        tasks = defaultdict(list)
        for target in self.targets:
            tasks[self.datasets[target]].append(target)
        means = {}
        for dataset, members in sorted(tasks.items()):
            if len(members) < 2:
                continue
            means[dataset] = {
                column: float(np.mean([self.cells[(t, *column)].mean for t in members]))
                for column in self.columns if all((t, *column) in self.cells for t in members)
            }
        return means

    def differences(self) -> dict[tuple[str, str], float]:
        """For each column of :meth:`pairs`, the mean over targets of it minus the column it is compared with
        (the study's "Differences" row, FT minus FE per source)."""
        out = {}
        for a, b in self.pairs():
            gaps = [self.cells[(t, *a)].mean - self.cells[(t, *b)].mean for t in self.targets
                    if (t, *a) in self.cells and (t, *b) in self.cells]
            if gaps:
                out[a] = float(np.mean(gaps))
        return out


def _method_order(methods: Mapping[str, Method]) -> dict[str, int]:
    """Each method's place among a source's columns: every method follows the one it is ``compared_with`` (their
    tree walked depth first), a comparison's plain members before those that others are compared with in turn
    (FE, FT, LP, kNN, then FT-head and the methods compared with it); methods that others are compared with
    open the order, those compared with nothing end it; ties by name."""
    children: dict[str, list[str]] = defaultdict(list)
    for name, method in methods.items():
        if method.compared_with in methods and method.compared_with != name:
            children[method.compared_with].append(name)
    order: list[str] = []

    def visit(name: str) -> None:
        if name not in order:  # a cycle of comparisons is walked once
            order.append(name)
            for child in sorted(children[name], key=lambda c: (bool(children[c]), c)):
                visit(child)

    roots = [n for n, m in methods.items() if m.compared_with not in methods or m.compared_with == n]
    for name in sorted(roots, key=lambda r: (not children[r], r)) + sorted(methods):
        visit(name)
    return {name: place for place, name in enumerate(order)}


def _column_order(methods: Mapping[str, Method]):
    """Columns sorted: the baseline first, then per source its methods in :func:`_method_order`, then methods the
    catalog does not know, by name."""
    places = _method_order(methods)

    def key(column: tuple[str, str]) -> tuple:
        source, method = column
        return (source != NO_SOURCE, source, places.get(method, len(places)), method)

    return key


def _board_key(config: dict) -> str:
    """What a board's results share: the preset's result-deciding fields, device type and precision."""
    return config_hash({"preset": config.get("preset"), "runtime": config.get("runtime")})


def _metric_key(metric: str, preset: dict) -> str:
    """``auc`` is the board's preset's reported definition; other names are stored metrics."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")
    return f"auc_{preset.get('auc', 'macro_curve')}" if metric == "auc" else metric


def _latest_cells(rows: list[dict]) -> tuple[dict[tuple, list[dict]], int]:
    """The rows of each (target, source, method) under its latest configuration, and how many rows of older
    configurations were left out."""
    by_cell: dict[tuple, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        by_cell[(row["target"], row["source"], row["method"])][cell_config_hash(row["config"])].append(row)
    cells, superseded = {}, 0
    for key, configs in by_cell.items():
        newest = max(configs, key=lambda h: max(r["finished_at"] or "" for r in configs[h]))
        cells[key] = configs[newest]
        superseded += sum(len(group) for h, group in configs.items() if h != newest)
    return cells, superseded


def _seed_result(row: dict, metric: str) -> SeedResult:
    scores = row["scores"] or {}
    groups = scores.get("groups")
    return SeedResult(
        row["seed"], float(row["metrics"][metric]), np.asarray(scores.get("labels", []), dtype=np.int64),
        np.asarray(scores.get("scores", []), dtype=np.float64), None if groups is None else np.asarray(groups),
        tuple(scores.get("indices", ())), row.get("config_hash", ""),
    )


def _input_of(config: dict, preset: dict) -> str:
    source = config.get("source") or {}
    convention = source.get("input") if isinstance(source, dict) else None
    if convention:
        return convention.get("name", "")
    return preset.get("normalize", "")


def _mixed_models(models: dict[tuple[str, int], set[str]]) -> dict[str, set[str]]:
    """Of the model digests by (source, training seed), each source's largest set where it holds more than one."""
    mixed: dict[str, set[str]] = {}
    for (source, _), digests in models.items():
        if len(digests) > max(1, len(mixed.get(source, ()))):
            mixed[source] = digests
    return mixed


def _trained_source_seed(config: dict) -> int | None:
    """The training seed of a source tlbench trains on a dataset (seed 0 for every experiment, or the
    experiment's own seed where the source is trained per seed)."""
    source = config.get("source") or {}
    return source.get("seed") if isinstance(source, dict) and source.get("kind") == "dataset" else None


def _titles(keys: list[str], presets: dict[str, dict], runtimes: dict[str, dict]) -> dict[str, str]:
    """Each board's title: preset, backbone and size, device and precision, and the fields in which the boards
    differ from each other."""
    differing = set()
    if len(keys) > 1:
        fields = set().union(*(presets[k] for k in keys)) - {"name", "seeds", "backbone", "image_size"}
        differing = {f for f in fields if len({repr(presets[k].get(f)) for k in keys}) > 1}
    titles = {}
    for key in keys:
        preset, runtime = presets[key], runtimes[key] or {}
        title = f"{preset.get('name', '?')} · {preset.get('backbone')} @ {preset.get('image_size')}px"
        if runtime:
            title += f" · {runtime.get('device')} {runtime.get('precision')}"
        extra = ", ".join(f"{f}={presets[key].get(f)}" for f in sorted(differing))
        titles[key] = f"{title} · {extra}" if extra else title
    return titles


def _bootstrap(cells: dict[tuple[str, str, str], Cell], metric: str, replicates: int,
               cache: ReplicateCache | None = None) -> dict[str, str]:
    """Fill each cell's per-seed bootstrap replicates and its interval; return, per target, why its test set is too
    small to bootstrap (:func:`benchmark.report.stats.too_few_per_class`), for the targets where one is.

    Resamples are keyed by the test images, not the seed: every cell and seed scored on the same test images (same
    target, images and labels) is scored on the same resamples, so seeds sharing one test set share its sampling
    noise (the interval does not narrow with their number) and the paired comparisons share the resamples too.
    A cell with a seed on a test set too small to bootstrap gets no interval. Deterministic: with a ``cache``, the
    replicates of results resampled before are read from it (the same values: a result's replicates depend on its
    test set's resamples and its own scores only), and only the others are computed, then stored.
    """
    shared = defaultdict(list)
    for (target, _, _), cell in cells.items():
        for result in cell.results:
            if len(result.labels):
                images = np.asarray(result.indices, dtype=np.int64).tobytes() + np.asarray(result.labels).tobytes()
                shared[(target, zlib.crc32(images))].append((cell, result))
    too_small: dict[str, str] = {}
    groups = []
    for (target, images), members in sorted(shared.items(), key=lambda item: item[0]):
        first = members[0][1]
        reason = too_few_per_class(first.labels, first.scores.shape[1])
        if reason is not None:
            too_small.setdefault(target, reason)
            continue
        keys = [replicate_key(metric, replicates, target, images, first.labels, first.groups, r.scores)
                for _, r in members]
        groups.append((target, images, members, keys))
    stored = cache.load([key for *_, keys in groups for key in keys], replicates) if cache is not None else {}
    computed = {}
    for target, images, members, keys in groups:
        first = members[0][1]
        missing = [(member, key) for member, key in zip(members, keys, strict=True) if key not in stored]
        if missing:
            # the resamples depend on the test set alone, so a subset of its results gets the same values
            rng = np.random.default_rng([zlib.crc32(target.encode()), images])
            resampled = bootstrap_scores(metric, first.labels, [r.scores for (_, r), _ in missing], first.groups,
                                         replicates, rng)
            computed.update({key: values for (_, key), values in zip(missing, resampled, strict=True)})
        for (cell, result), key in zip(members, keys, strict=True):
            cell.replicates[result.seed] = stored[key] if key in stored else computed[key]
            cell.observed[result.seed] = observed_metric(metric, result.labels, result.scores)
            cell.test_sets[result.seed] = images
    if cache is not None:
        cache.save(computed)
    for cell in cells.values():
        if cell.results and len(cell.replicates) == cell.n:
            cell.interval = interval_of_mean([cell.replicates[seed] for seed in cell.seeds])
    return too_small


def build_boards(rows: list[dict], metric: str = "auc", replicates: int = REPLICATES,
                 methods: Mapping[str, Method] | None = None, run_dir: Path | None = None) -> list[Board]:
    """Group passed rows into one board per configuration, with intervals and paired tests; ``methods`` (the
    catalog's) label the columns and say which are compared; ``run_dir`` (the rows' run folder) keeps the
    bootstrap replicates for the next call (:mod:`benchmark.report.replicatecache`)."""
    from benchmark.report.comparisons import compare_board

    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")
    by_board: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        if row["status"] == "passed" and row["metrics"]:
            by_board[_board_key(row["config"])].append(row)
    presets, runtimes = {}, {}
    for key, members in by_board.items():
        latest = max(members, key=lambda r: r["finished_at"] or "")
        # a row of a store older than its preset column has only the preset's result-deciding fields
        presets[key] = latest.get("preset") or dict(latest["config"].get("preset", {}))
        runtimes[key] = latest["config"].get("runtime")
    titles = _titles(sorted(by_board), presets, runtimes)
    boards = []
    for key in sorted(by_board, key=lambda k: titles[k]):
        preset = presets[key]
        shown = _metric_key(metric, preset)
        cell_rows, superseded = _latest_cells(by_board[key])
        cells, datasets, inputs, trained_sources, source_models = {}, {}, {}, {}, {}
        sizes: dict[str, tuple[set[int], set[int]]] = defaultdict(lambda: (set(), set()))
        for (target, source, method), members in cell_rows.items():
            members = sorted((r for r in members if shown in r["metrics"]), key=lambda r: r["seed"])
            if not members:
                continue
            cells[(target, source, method)] = Cell([_seed_result(r, shown) for r in members])
            datasets[target] = members[0]["config"]["target"]["dataset"]
            inputs[source] = _input_of(members[0]["config"], preset)
            for r in members:
                if (seed := _trained_source_seed(r["config"])) is not None:
                    trained_sources.setdefault(source, set()).add(seed)
                    if digest := (r.get("versions") or {}).get("source_model"):
                        source_models.setdefault((source, seed), set()).add(digest)
                sizes[target][0].add(r["metrics"]["n_test"])
                if r["metrics"].get("n_test_groups") is not None:
                    sizes[target][1].add(r["metrics"]["n_test_groups"])
        if not cells:
            continue
        too_small = _bootstrap(cells, shown, replicates, None if run_dir is None else ReplicateCache(run_dir))
        board = Board(
            titles[key], preset, runtimes[key] or {}, shown, sorted({t for t, _, _ in cells}),
            sorted({(s, m) for _, s, m in cells}, key=_column_order(methods or {})), cells, datasets, inputs,
            dict(sizes), superseded, methods=dict(methods or {}), too_small=too_small, trained_sources=trained_sources,
            source_models=_mixed_models(source_models),
        )
        compare_board(board)
        boards.append(board)
    return boards
