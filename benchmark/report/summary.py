"""The report's opening paragraph: the study's question and the answer the boards give, hedged where the
evidence is weak. Deterministic: the same boards give the same text."""

from __future__ import annotations

from benchmark.report.comparisons import ALPHA
from benchmark.report.leaderboard import Board, Cell

QUESTION = "Which source and which transfer method help each target?"


def _metric_name(board: Board) -> str:
    return "AUC" if board.metric.startswith("auc") else board.metric.replace("_", " ")


def _overlap(a: Cell, b: Cell) -> bool:
    return a.interval is not None and b.interval is not None and a.interval[0] <= b.interval[1]


def _target_sentence(board: Board, target: str) -> str:
    column = board.best_column(target)
    cell = board.cells[(target, *column)]
    label, metric = board.column_label(column), _metric_name(board)
    text = f"on {target} the best column is {label} ({metric} {cell.text()})"
    if column in board.baselines:
        better = [board.column_label(c) for c in board.columns if (target, *c) in board.cells
                  and board.cells[(target, *c)].mark == "better"]
        text += (", the baseline itself: no transfer beat it" if not better
                 else f", the baseline itself, though {', '.join(better)} beat it beyond chance too")
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


def _hedge(board: Board) -> str:
    seeds = len(board.seeds)
    text = (f"Each cell is the mean over {seeds} seed{'s' * (seeds != 1)}; \"beyond chance\" means a paired "
            f"bootstrap with Holm-adjusted p < {ALPHA}")
    if seeds < 3:
        text += f", and with {'one seed' if seeds == 1 else 'two seeds'} these answers are indicative at most"
    return text + "."


def board_paragraph(board: Board, prefix: bool = False) -> str:
    """The answer one board gives: each target's best column, then the paired method comparison, then how
    much to trust it; ``prefix`` names the board (a report with several)."""
    parts = [_target_sentence(board, t) for t in board.targets if board.best_column(t) is not None]
    first = "; ".join(parts)
    first = first[0].upper() + first[1:] + "."
    lead = f"{board.title}: " if prefix else ""
    return " ".join(s for s in (lead + first, _pair_sentence(board), _hedge(board)) if s)


def opening_paragraph(boards: list[Board]) -> str:
    """The question and the boards' answer in one paragraph (one per board when there are several)."""
    if not boards:
        return f"{QUESTION} The store holds no passed results to answer it."
    answers = [board_paragraph(b, prefix=len(boards) > 1) for b in boards]
    return "\n\n".join([f"{QUESTION} {answers[0]}", *answers[1:]])
