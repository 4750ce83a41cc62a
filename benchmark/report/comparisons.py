"""Paired comparisons on a board: every transfer cell against the baseline (the method without a source) on its
target, each method against the one it is compared with per source (FT against FE), Holm-corrected across the
board; the columns placed by their mean over the targets every column has, sharing a place where the seeds cannot
tell them apart; and the columns ranked across targets (Friedman, Nemenyi; Demšar 2006).

Every test is at the seed level (:func:`benchmark.report.stats.seed_level_test`): the unit is the training run,
and the variance of a seed mean adds the part of the test images' noise the seeds share. A comparison with fewer
than MIN_SEEDS seeds, or on a test set too small to bootstrap, is not made, and the board counts why."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.report.stats import (
    MIN_SEEDS,
    FriedmanResult,
    PairedResult,
    friedman,
    holm,
    seed_level_test,
    shared_test_variance,
)

ALPHA = 0.05
FEW_SEEDS = f"fewer than {MIN_SEEDS} seeds scored on the same test images"
TOO_SMALL = "a test set too small to bootstrap"


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
    """A column's place on the board (1 = best), by its mean over the ``targets`` common targets: shared with the
    place's first column (its leader) unless ``p_value``, the seed-level test of their difference averaged over those
    targets, is below ALPHA / (k (k - 1) / 2) (Bonferroni over every pair of the k columns, since the pairs tested
    are chosen by their means). A pair that cannot be tested shares the place. ``p_value`` is None for the first
    column and untested pairs; a leader's is against the previous leader. ``place`` is None on a board where no
    pair could be tested (one seed): the means are shown, no places."""

    place: int | None
    column: tuple[str, str]
    mean: float
    targets: int
    p_value: float | None = None


def common_targets(board) -> list[str]:
    """The targets every column has, leaving out test sets too small to bootstrap: what places are decided on."""
    return [t for t in board.targets if t not in board.too_small
            and all((t, *c) in board.cells for c in board.columns)]


def _shared_seeds(board, targets: list[str], a: tuple[str, str], b: tuple[str, str]) -> list[int]:
    """The seeds both columns have on every one of ``targets``, bootstrapped and scored on the same test images."""
    seeds = None
    for target in targets:
        cell_a, cell_b = board.cells[(target, *a)], board.cells[(target, *b)]
        here = {s for s in cell_a.test_sets if cell_b.test_sets.get(s) == cell_a.test_sets[s]}
        seeds = here if seeds is None else seeds & here
    return sorted(seeds or ())


def _column_test(board, targets: list[str], a: tuple[str, str], b: tuple[str, str]) -> PairedResult | None:
    """The seed-level test of a - b averaged over ``targets``, or None with fewer than MIN_SEEDS shared seeds.

    Differences are of the stored values (the numbers the board shows); the test images' shared variance is
    each target's (their resamples are independent) over the number of targets squared."""
    seeds = _shared_seeds(board, targets, a, b)
    if len(seeds) < MIN_SEEDS:
        return None
    differences, shared = np.zeros(len(seeds)), 0.0
    for target in targets:
        cell_a, cell_b = board.cells[(target, *a)], board.cells[(target, *b)]
        value_a = {r.seed: r.value for r in cell_a.results}
        value_b = {r.seed: r.value for r in cell_b.results}
        differences += [value_a[s] - value_b[s] for s in seeds]
        shared += shared_test_variance([cell_a.replicates[s] - cell_b.replicates[s] for s in seeds],
                                       [cell_a.test_sets[s] for s in seeds])
    return seed_level_test(differences / len(targets), shared / len(targets) ** 2)


def place_columns(board) -> list[Place]:
    """The columns by their mean over :func:`common_targets`, best first (ties in the board's order), with places;
    empty where no target has every column."""
    targets = common_targets(board)
    if not targets:
        return []
    scored = sorted(((float(np.mean([board.cells[(t, *c)].mean for t in targets])), index, c)
                     for index, c in enumerate(board.columns)), key=lambda s: (-s[0], s[1]))
    pairs = len(scored) * (len(scored) - 1) // 2
    threshold = ALPHA / max(pairs, 1)
    places: list[Place] = []
    leader = None
    for position, (mean, _, column) in enumerate(scored, start=1):
        if leader is None:
            leader = Place(position, column, mean, len(targets))
            places.append(leader)
            continue
        tested = _column_test(board, targets, leader.column, column)
        p_value = None if tested is None else tested.p_value
        if p_value is None or p_value >= threshold:
            places.append(Place(leader.place, column, mean, len(targets), p_value))
            continue
        leader = Place(position, column, mean, len(targets), p_value)
        places.append(leader)
    if all(p.p_value is None for p in places[1:]) and len(places) > 1:
        for place in places:
            place.place = None
    return places


def _paired(board, target: str, a: tuple[str, str], b: tuple[str, str], baseline: bool = False,
            untested: dict[str, int] | None = None) -> Comparison | None:
    """a against b on ``target``: the seed-level test on the seeds both have scored on the same test images; None
    (counted in ``untested`` by reason) where the cells are missing, the test set is too small or seeds too few."""
    cell_a, cell_b = board.cells.get((target, *a)), board.cells.get((target, *b))
    if cell_a is None or cell_b is None:
        return None
    reason = TOO_SMALL if target in board.too_small else None
    seeds = _shared_seeds(board, [target], a, b)
    if reason is None and len(seeds) < MIN_SEEDS:
        reason = FEW_SEEDS
    if reason is not None:
        if untested is not None:
            untested[reason] = untested.get(reason, 0) + 1
        return None
    result = _column_test(board, [target], a, b)
    kind = f"vs {board.label(b[1])}" if baseline else f"{board.label(a[1])} vs {board.label(b[1])}"
    return Comparison(target, a, b, tuple(seeds), result, kind, baseline)


def compare_board(board) -> None:
    """Fill ``board.comparisons`` (Holm-adjusted across the board), the cells' better/worse-than-baseline marks,
    ``board.untested`` (why comparisons were not made, counted), ``board.places`` and ``board.friedman`` where at
    least two targets and two columns are complete."""
    comparisons, untested = [], {}
    pairs = sorted(board.pairs())
    for target in board.targets:
        for baseline in board.baselines:
            for column in board.columns:
                if column not in board.baselines:
                    comparisons.append(_paired(board, target, column, baseline, baseline=True, untested=untested))
        for a, b in pairs:
            comparisons.append(_paired(board, target, a, b, untested=untested))
    comparisons = [c for c in comparisons if c is not None]
    for comparison, adjusted in zip(comparisons, holm([c.result.p_value for c in comparisons]), strict=True):
        comparison.p_holm = adjusted
        if comparison.baseline and comparison.significant:
            cell = board.cells[(comparison.target, *comparison.a)]
            cell.mark = "better" if comparison.result.difference > 0 else "worse"
    board.comparisons = comparisons
    board.untested = untested
    board.places = place_columns(board)
    complete = [c for c in board.columns if all((t, *c) in board.cells for t in board.targets)]
    if len(board.targets) >= 2 and len(complete) >= 2:
        matrix = np.array([[board.cells[(t, *c)].mean for c in complete] for t in board.targets])
        board.friedman = ColumnRanks(complete, len(board.targets), friedman(matrix))
