"""Paired comparisons on a board: every transfer cell against the baseline (the method without a source) on its
target, each method against the one it is compared with per source (FT against FE),
Holm-corrected across the board; the columns placed by their mean over targets, sharing a place where the
seeds cannot tell them apart; and the columns ranked across targets (Friedman, Nemenyi; Demšar 2006)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.report.stats import FriedmanResult, PairedResult, friedman, holm, paired_from_replicates, seed_t_test

ALPHA = 0.05


@dataclass
class Comparison:
    """``a`` against ``b`` (columns) on ``target``, on the seeds both have with the same test images."""

    target: str
    a: tuple[str, str]
    b: tuple[str, str]
    seeds: tuple[int, ...]
    result: PairedResult
    kind: str = ""  # "vs <baseline label>" (vs scratch) or "<a label> vs <b label>" (FT vs FE)
    baseline: bool = False  # b is the baseline
    p_holm: float = 1.0

    @property
    def significant(self) -> bool:
        return self.p_holm < ALPHA


@dataclass
class ColumnRanks:
    """The columns with results on every target, ranked per target (1 = best) and tested together."""

    columns: list[tuple[str, str]]
    targets: int
    result: FriedmanResult


@dataclass
class Place:
    """A column's place on the board (1 = best): shared with the place's first column (its leader) unless
    ``p_value``, a paired t-test over seeds of their difference (:func:`benchmark.report.stats.seed_t_test`), is
    below ALPHA / (columns - 1) (Bonferroni over the board's one test per column below the first). ``p_value``
    is None for the first column and where fewer than two seeds pair the columns; a leader's is against the
    previous leader."""

    place: int
    column: tuple[str, str]
    mean: float
    targets: int
    p_value: float | None = None


def seed_differences(board, a: tuple[str, str], b: tuple[str, str]) -> list[float]:
    """Per seed that both columns have on every target they share, the mean over those targets of a - b."""
    shared = [t for t in board.targets if (t, *a) in board.cells and (t, *b) in board.cells]
    if not shared:
        return []
    by_target = [({r.seed: r.value for r in board.cells[(t, *a)].results},
                  {r.seed: r.value for r in board.cells[(t, *b)].results}) for t in shared]
    seeds = sorted(set.intersection(*(set(va) & set(vb) for va, vb in by_target)))
    return [float(np.mean([va[s] - vb[s] for va, vb in by_target])) for s in seeds]


def place_columns(board) -> list[Place]:
    """The columns by their mean over the targets they have results for, best first, with shared places."""
    scored = []
    for column in board.columns:
        means = [board.cells[(t, *column)].mean for t in board.targets if (t, *column) in board.cells]
        if means:
            scored.append((float(np.mean(means)), len(means), column))
    scored.sort(key=lambda s: -s[0])
    places: list[Place] = []
    leader = None
    threshold = ALPHA / max(len(scored) - 1, 1)
    for position, (mean, targets, column) in enumerate(scored, start=1):
        p_value = None
        if leader is not None:
            tested = seed_t_test(seed_differences(board, leader.column, column))
            p_value = None if np.isnan(tested) else tested
            if p_value is not None and p_value >= threshold:
                places.append(Place(leader.place, column, mean, targets, p_value))
                continue
        leader = Place(position, column, mean, targets)
        places.append(Place(position, column, mean, targets, p_value))
    return places


def _paired(board, target: str, a: tuple[str, str], b: tuple[str, str], baseline: bool = False) -> Comparison | None:
    """a against b on the seeds both have scored on the same test images, from the cells' shared resamples."""
    cell_a, cell_b = board.cells.get((target, *a)), board.cells.get((target, *b))
    if cell_a is None or cell_b is None:
        return None
    by_seed = {r.seed: r for r in cell_b.results}
    seeds = [r.seed for r in cell_a.results
             if r.seed in by_seed and r.indices == by_seed[r.seed].indices
             and np.array_equal(r.labels, by_seed[r.seed].labels)
             and r.seed in cell_a.replicates and r.seed in cell_b.replicates]
    if not seeds:
        return None
    result = paired_from_replicates([cell_a.observed[s] - cell_b.observed[s] for s in seeds],
                                    [cell_a.replicates[s] - cell_b.replicates[s] for s in seeds],
                                    np.random.default_rng(list(seeds)))
    kind = f"vs {board.label(b[1])}" if baseline else f"{board.label(a[1])} vs {board.label(b[1])}"
    return Comparison(target, a, b, tuple(seeds), result, kind, baseline)


def compare_board(board) -> None:
    """Fill ``board.comparisons`` (Holm-adjusted across the board), the cells' better/worse-than-baseline marks,
    and ``board.friedman`` where at least two targets and two columns are complete."""
    comparisons = []
    pairs = sorted(board.pairs())
    for target in board.targets:
        for baseline in board.baselines:
            for column in board.columns:
                if column not in board.baselines:
                    comparisons.append(_paired(board, target, column, baseline, baseline=True))
        for a, b in pairs:
            comparisons.append(_paired(board, target, a, b))
    comparisons = [c for c in comparisons if c is not None]
    for comparison, adjusted in zip(comparisons, holm([c.result.p_value for c in comparisons]), strict=True):
        comparison.p_holm = adjusted
        if comparison.baseline and comparison.significant:
            cell = board.cells[(comparison.target, *comparison.a)]
            cell.mark = "better" if comparison.result.difference > 0 else "worse"
    board.comparisons = comparisons
    board.places = place_columns(board)
    complete = [c for c in board.columns if all((t, *c) in board.cells for t in board.targets)]
    if len(board.targets) >= 2 and len(complete) >= 2:
        matrix = np.array([[board.cells[(t, *c)].mean for c in complete] for t in board.targets])
        board.friedman = ColumnRanks(complete, len(board.targets), friedman(matrix))
