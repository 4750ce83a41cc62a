"""The report's opening paragraph: the study's question and the answer the boards give, hedged where the
evidence is weak. Deterministic: the same boards give the same text."""

from __future__ import annotations

from benchmark.report.comparisons import ALPHA
from benchmark.report.leaderboard import Board, Cell
from benchmark.report.stats import MIN_SEEDS

QUESTION = "Which source and which transfer method help each target?"


def _metric_name(board: Board) -> str:
    return "AUC" if board.metric.startswith("auc") else board.metric.replace("_", " ")


def _overlap(a: Cell, b: Cell) -> bool:
    return a.interval is not None and b.interval is not None and a.interval[0] <= b.interval[1]


def _target_sentence(board: Board, target: str) -> str:
    column = board.best_column(target)
    cell = board.cells[(target, *column)]
    label, metric = board.column_label(column), _metric_name(board)
    text = f"on {target} the highest mean is {label}'s ({metric} {cell.text()})"
    tested = {c.a for c in board.comparisons if c.baseline and c.target == target}
    if column in board.baselines:
        better = [board.column_label(c) for c in board.columns if (target, *c) in board.cells
                  and board.cells[(target, *c)].mark == "better"]
        text += (", the baseline itself" + ("" if not tested else ": no transfer beat it") if not better
                 else f", the baseline itself, though {', '.join(better)} beat it beyond chance too")
    elif board.baselines and column not in tested:
        text += f", not tested against {board.baseline_label}"
    elif cell.mark == "better":
        text += f", better than {board.baseline_label} beyond chance"
    elif cell.mark == "worse":
        text += f", yet worse than {board.baseline_label} beyond chance"
    elif board.baselines:
        text += f", not told apart from {board.baseline_label}"
    others = sorted(((board.cells[(target, *c)].mean, board.column_label(c), board.cells[(target, *c)])
                     for c in board.columns if c != column and (target, *c) in board.cells),
                    key=lambda item: (-item[0], item[1]))
    if others and _overlap(cell, others[0][2]):
        text += f" (its interval overlaps that of the runner-up, {others[0][1]} at {others[0][0]:.3f})"
    return text


def _pair_sentence(board: Board) -> str:
    """How each method did against the one it is compared with (FT against FE), counted over sources and
    targets."""
    pairs = board.pairs()
    if not pairs:
        return ""
    sentences = []
    for kind in sorted({f"{board.label(a[1])} vs {board.label(b[1])}" for a, b in pairs}):
        found = [c for c in board.comparisons if c.kind == kind]
        if not found:
            a, b = kind.split(" vs ")
            sentences.append(f"{a} and {b} were not compared: no pair had {MIN_SEEDS} seeds on a test set large "
                             "enough to test on.")
            continue
        better = sum(c.significant and c.result.difference > 0 for c in found)
        worse = sum(c.significant and c.result.difference < 0 for c in found)
        a, b = kind.split(" vs ")
        sources = len({c.a[0] for c in found})
        tied = len(found) - better - worse
        rest = [text for count, text in ((worse, f"was worse in {worse}"), (tied, f"could not be told apart in {tied}"))
                if count]
        sentences.append(
            f"Across {sources} source{'s' * (sources != 1)} and {len(board.targets)} "
            f"target{'s' * (len(board.targets) != 1)}, {a} beat {b} beyond chance in {better} of {len(found)} "
            f"source-target pairs" + (f", {' and '.join(rest)}." if rest else "."))
    return " ".join(sentences)


def _places_sentence(board: Board) -> str:
    """Which column is best over the common targets: "best" only for a first place held alone."""
    if not board.places:
        return ""
    if board.places[0].place is None:
        return "With one seed the columns get no places, only means."
    first = [board.column_label(p.column) for p in board.places if p.place == board.places[0].place]
    targets = board.places[0].targets
    over = f"over the {targets} target{'s' * (targets != 1)} every column has"
    if len(first) == 1:
        return f"The best column {over} is {first[0]}, first place alone."
    return f"{', '.join(first[:-1])} and {first[-1]} share the first place {over}: the seeds cannot tell them apart."


def _hedge(board: Board) -> str:
    seeds = len(board.seeds)
    text = (f"Each cell is the mean over {seeds} seed{'s' * (seeds != 1)}; \"beyond chance\" means a paired test "
            "over seeds (the training run is the unit; the test images' shared noise counts) with Holm-adjusted "
            f"p < {ALPHA}")
    if seeds < MIN_SEEDS:
        text += ", which one seed cannot give: no cell is marked"
    elif seeds < 3:
        text += ", and with two seeds these answers are indicative at most"
    return text + "."


def board_paragraph(board: Board, prefix: bool = False) -> str:
    """The answer one board gives: each target's highest mean, the best column where one holds the first place
    alone, then the paired method comparison, then how much to trust it; ``prefix`` names the board (a report
    with several)."""
    parts = [_target_sentence(board, t) for t in board.targets if board.best_column(t) is not None]
    first = "; ".join(parts)
    first = first[0].upper() + first[1:] + "."
    lead = f"{board.title}: " if prefix else ""
    return " ".join(s for s in (lead + first, _places_sentence(board), _pair_sentence(board), _hedge(board)) if s)


def opening_paragraph(boards: list[Board]) -> str:
    """The question and the boards' answer in one paragraph (one per board when there are several)."""
    if not boards:
        return f"{QUESTION} The store holds no passed results to answer it."
    answers = [board_paragraph(b, prefix=len(boards) > 1) for b in boards]
    return "\n\n".join([f"{QUESTION} {answers[0]}", *answers[1:]])
