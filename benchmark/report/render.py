"""Boards as a rich table, Markdown, CSV, LaTeX and JSON. Every form names its metric, what ± and the interval
mean, the seeds and the test sizes; only the terminal uses colour, and no text refers to it."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

import numpy as np
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from benchmark.report import escaping
from benchmark.report.comparisons import ALPHA
from benchmark.report.leaderboard import REPLICATES, Board
from benchmark.report.metricnames import METRIC_NAMES
from benchmark.report.stats import MIN_CLASS_IMAGES, MIN_SEEDS
from benchmark.run.planner import NO_SOURCE

MARKS = {"better": "▲", "worse": "▼", "": ""}


def notes(board: Board) -> list[str]:
    """What a reader needs to read the board: metric, ±, interval, marks, seeds, test sizes, inputs."""
    seeds = ", ".join(str(s) for s in board.seeds)
    lines = [
        f"Metric: test {METRIC_NAMES[board.metric]}.",
        (f"Cell: mean over {len(board.seeds)} seeds ({seeds}) ± the largest deviation of a seed from that mean; "
         if len(board.seeds) > 1 else f"Cell: the result of 1 seed ({seeds}), so no ±; ")
        + f"[low, high]: 95% bootstrap interval of that value over the test images ({REPLICATES} resamples of each "
        "test set, by patient or cell where the dataset knows them; seeds scored on the same images share the "
        "resamples, so the interval is how much the test images alone move the number).",
        f"▲ / ▼: better / worse than {board.baseline_label} on that target by a paired test over seeds (each seed's "
        "difference on the same test images; its variance adds the test images' noise that seeds sharing them "
        f"share), Holm-adjusted p < {ALPHA} over the board's {len(board.comparisons)} comparisons.",
    ]
    lines += [f"Not tested, so no ▲ / ▼: {count} comparison(s) on {reason}."
              for reason, count in sorted(board.untested.items())]
    lines += [f"{target}: {reason}: no interval and no test (a class needs at least {MIN_CLASS_IMAGES} test images)."
              for target, reason in sorted(board.too_small.items())]
    sizes = []
    for target in board.targets:
        images, groups = board.test_sizes.get(target, (set(), set()))
        text = f"{target} {_span(images)} images"
        if groups:
            text += f" ({_span(groups)} patients/cells/lesions)"
        sizes.append(text)
    lines.append("Test set per seed: " + "; ".join(sizes) + ".")
    inputs = sorted({f"{board.baseline_label if source == NO_SOURCE else source}: {name}"
                     for source, name in board.inputs.items() if name})
    if inputs:
        lines.append("Input normalisation by source (how pixels are scaled for its models, not where their weights "
                     "come from): " + "; ".join(inputs) + ".")
    once = {source: seeds for source, seeds in board.trained_sources.items() if len(seeds) == 1}
    if once:
        trained = ", ".join(f"{source} (seed {min(seeds)})" for source, seeds in sorted(once.items()))
        lines.append(f"Sources tlbench trains on a dataset: {trained}. Each is one model, trained once and shared by "
                     "every seed, so a ± and a test over seeds say how the target's training and test images move "
                     "a number, not how another training of the source would (`--source-training per-seed` "
                     "trains one for each seed).")
    if per_seed := sorted(set(board.trained_sources) - set(once)):
        lines.append(f"Sources tlbench trains on a dataset anew for each seed, with that seed: {', '.join(per_seed)}. "
                     "A ± and a test over seeds include how another training of the source moves a number.")
    for source, models in sorted(board.source_models.items()):
        lines.append(f"{source}'s results of one training come from {len(models)} different models of it: it was "
                     "trained again (its cached model was damaged or removed) after some of them ran, so they are "
                     f"not paired on one source model: add `--rerun all -s {source}` to the run's command to score "
                     "them all from the current one.")
    if board.superseded:
        lines.append(f"{board.superseded} older result(s) of these cells under other data, weights or method "
                     "versions are not shown.")
    return lines


def _span(values: set[int]) -> str:
    return "?" if not values else str(min(values)) if len(values) == 1 else f"{min(values)}-{max(values)}"


def _places_note(board: Board) -> str:
    if board.places and board.places[0].place is None:
        return (f"No places: no two columns share {MIN_SEEDS} seeds to test their difference (with one seed the "
                "spread of training runs is unknown), so the columns are listed by their means alone.")
    columns = len(board.places)
    tests = max(columns * (columns - 1) // 2, 1)
    return (f"Place: by the mean over the {board.places[0].targets} target(s) every column has; a column shares the "
            "place of the column that opened it unless a paired test over seeds of their difference (the seed is the "
            "unit: a difference must be large against how much training runs vary, and against the test images' "
            f"noise where the seeds share them) gives p < {ALPHA}/{tests} (Bonferroni over the {tests} pairs of "
            "columns); a pair that cannot be tested shares the place; an opener's p is against the previous "
            "place's opener.")


def _places_line(board: Board) -> str:
    if board.places[0].place is None:
        return "Means: " + "; ".join(f"{board.column_label(p.column)} {p.mean:.3f}" for p in board.places) + "."
    by_place: dict[int, list[str]] = {}
    for place in board.places:
        by_place.setdefault(place.place, []).append(board.column_label(place.column))
    return "Places: " + "; ".join(f"{number}. {', '.join(labels)}" for number, labels in by_place.items()) + "."


def ranking_notes(board: Board, places_line: bool = True) -> list[str]:
    """The board's places, how they are decided, and the Friedman/Nemenyi ranks where computed."""
    if board.places:
        lines = ([_places_line(board)] if places_line else []) + [_places_note(board)]
    else:
        lines = ["No places: no target has every column with a test set large enough to test on."]
    if board.friedman is None:
        return lines
    ranks, result = board.friedman, board.friedman.result
    labels = [board.column_label(c) for c in ranks.columns]
    order = np.argsort(result.average_ranks, kind="stable")
    listing = ", ".join(f"{labels[i]} {result.average_ranks[i]:.2f}" for i in order)
    groups = "; ".join("{" + ", ".join(labels[i] for i in group) + "}" for group in result.groups if len(group) > 1)
    return lines + [
        f"Average ranks over {ranks.targets} targets (1 = best): {listing}.",
        f"Friedman chi² = {result.statistic:.2f}, p = {result.p_value:.3g}; Nemenyi critical difference "
        f"{result.critical_difference:.2f} at α = {ALPHA}" + (f"; not told apart: {groups}." if groups else "."),
    ]


def _comparisons_table(board: Board, width: int | None = None) -> Table:
    """Each comparison's difference, interval and p-values. Given a console ``width`` the table fits it: target, a
    and b share one column that wraps between words, the interval wrapping after its comma only if it must."""
    table = Table(title="Paired comparisons (difference a − b, paired test over seeds)", title_justify="left")
    rows = []
    for c in board.comparisons:
        a, b = board.column_label(c.a), board.column_label(c.b)
        pair = [f"{c.target}: {a} − {b}"] if width else [c.target, a, b]
        rows.append((*pair, str(len(c.seeds)), f"{c.result.difference:+.3f}",
                     f"[{c.result.low:+.3f}, {c.result.high:+.3f}]", f"{c.result.p_value:.3g}", f"{c.p_holm:.3g}"))
    names = ("target: a − b",) if width else ("target", "a", "b")
    headers = (*names, "seeds", "difference", "95% interval", "p", "Holm p")
    widths = [None] * len(headers)
    if width:
        widths = [max(cell_len(text) for text in (header, *(r[i] for r in rows))) for i, header in enumerate(headers)]
        widths[0] = max(_longest_word(r[0]) for r in rows)
        spare = width - sum(widths) - 3 * len(widths) - 1
        if spare < 0:  # the interval wraps after its comma
            widths[3] = max(widths[3] + spare, max(_longest_word(r[3]) for r in rows), cell_len(headers[3]))
        widths[0] += max(0, width - sum(widths) - 3 * len(widths) - 1)
    for header, column_width in zip(headers, widths, strict=True):
        table.add_column(header, justify="right" if header in ("seeds", "difference", "p", "Holm p") else "left",
                         width=column_width)
    for c, texts in zip(board.comparisons, rows, strict=True):
        cells = [escape(text) for text in texts]
        if c.significant:
            cells[-1] = f"[bold]{cells[-1]}[/]"
        table.add_row(*cells)
    return table


def render_rich(boards: list[Board]) -> BoardsView:
    """The boards for a terminal, laid out at print time for the console's width (:class:`BoardsView`)."""
    return BoardsView(boards)


class BoardsView:
    """Boards that fit the console's width without cutting a number: the board's columns are split over as many
    tables as needed (each repeating the target column), and the comparisons table puts each pair in one
    wrapping column when its own columns would not fit."""

    def __init__(self, boards: list[Board]):
        self.boards = boards

    def __rich_console__(self, console: Console, options: ConsoleOptions):
        for board in self.boards:
            yield from _board_tables(board, options.max_width)
            yield _ranking_table(board)
            if board.comparisons:
                wide = _comparisons_table(board)
                unbounded = options.update_width(10 ** 6)  # else the measure is clamped to the width
                fits = Measurement.get(console, unbounded, wide).minimum <= options.max_width
                yield wide if fits else _comparisons_table(board, options.max_width)


def _cell_text(board: Board, target: str, column: tuple[str, str]) -> str | None:
    """A cell's unescaped text, its interval on a second line; None where the board has no cell."""
    cell = board.cells.get((target, *column))
    if cell is None:
        return None
    text = f"{cell.text(interval=False)} {MARKS[cell.mark]}".rstrip()
    if cell.interval:
        text += f"\n[{cell.interval[0]:.3f}, {cell.interval[1]:.3f}]"
    return text


def _longest_word(text: str) -> int:
    return max((cell_len(word) for word in text.split()), default=1)


def _board_tables(board: Board, max_width: int) -> list[Table]:
    """The board as tables no wider than ``max_width`` where a column can fit at all: each data column as wide as
    its longest cell line (numbers never wrap), its header wrapping between words."""
    widths = {}
    for column in board.columns:
        lines = [line for target in board.targets for line in (_cell_text(board, target, column) or "—").split("\n")]
        widths[column] = max([_longest_word(board.column_label(column)), 6, *map(cell_len, lines)])
    first = max([6, *map(cell_len, board.targets), *(_longest_word(f"{d} mean") for d in board.dataset_means())])
    chunks, used = [[]], first + 4  # a column takes its width, two of padding and one of border
    for column in board.columns:
        if chunks[-1] and used + widths[column] + 3 > max_width:
            chunks.append([])
            used = first + 4
        chunks[-1].append(column)
        used += widths[column] + 3
    tables = []
    for number, chunk in enumerate(chunks, start=1):
        part = f" (columns {sum(map(len, chunks[:number - 1])) + 1}-{sum(map(len, chunks[:number]))} of " \
               f"{len(board.columns)})" if len(chunks) > 1 else ""
        last = number == len(chunks)
        tables.append(_board_table(board, chunk, widths, first, board.title + part,
                                   "\n".join(notes(board)) if last else None))
    return tables


def _board_table(board: Board, columns: list, widths: dict, first: int, title: str, caption: str | None) -> Table:
    table = Table(title=escape(title), title_justify="left", caption_justify="left",
                  caption=escape(caption) if caption else None)
    table.add_column("target", style="bold", min_width=first, max_width=max(first, 26))
    for column in columns:
        table.add_column(escape(board.column_label(column)), justify="right", width=widths[column])
    best = {t: board.cells[(t, *board.best_column(t))].mean for t in board.targets if board.best_column(t)}
    for target in board.targets:
        row = [escape(target)]
        for column in columns:
            text = _cell_text(board, target, column)
            if text is None:
                row.append("[dim]—[/]")
                continue
            bold = board.cells[(target, *column)].mean == best[target]
            row.append(f"[bold green]{escape(text)}[/]" if bold else escape(text))
        table.add_row(*row)
    for dataset, means in board.dataset_means().items():
        table.add_row(escape(f"{dataset} mean"), *[f"{means[c]:.3f}" if c in means else "" for c in columns])
    differences = board.differences()
    if differences:
        table.add_section()
        names = sorted({f"{board.label(a[1])} − {board.label(b[1])}" for a, b in board.pairs() if a in differences})
        table.add_row(escape(", ".join(names)), *[f"{differences[c]:+.3f}" if c in differences else ""
                                                  for c in columns])
    return table


def _ranking_table(board: Board) -> Table:
    ranking = Table(title="Ranking (mean over targets)", title_justify="left", caption_justify="left",
                    caption=escape("\n".join(ranking_notes(board, places_line=False))) or None)
    ranking.add_column("place", justify="right")
    ranking.add_column("column")
    ranking.add_column("mean", justify="right")
    ranking.add_column("targets", justify="right")
    ranking.add_column("p vs place opener", justify="right")
    for place in board.places:
        ranking.add_row("—" if place.place is None else str(place.place), escape(board.column_label(place.column)),
                        f"{place.mean:.3f}",
                        str(place.targets), "" if place.p_value is None else f"{place.p_value:.3g}")
    return ranking


def render_markdown(boards: list[Board]) -> str:
    out = []
    for board in boards:
        labels = [escaping.markdown(board.column_label(c)) for c in board.columns]
        out.append(f"### {escaping.markdown(board.title)}\n")
        out.append("| target | " + " | ".join(labels) + " |")
        out.append("|---|" + "---:|" * len(labels))
        for target in board.targets:
            cells = []
            for column in board.columns:
                cell = board.cells.get((target, *column))
                cells.append(f"{cell.text()} {MARKS[cell.mark]}".rstrip() if cell else "—")
            out.append(f"| {escaping.markdown(target)} | " + " | ".join(cells) + " |")
        for dataset, means in board.dataset_means().items():
            out.append(f"| {escaping.markdown(dataset)} mean | " + " | ".join(f"{means[c]:.3f}" if c in means else ""
                                                           for c in board.columns) + " |")
        out.append("")
        # a list: Markdown joins bare lines
        out += [f"- {escaping.markdown(line)}" for line in notes(board) + ranking_notes(board)]
        out.append("")
    return "\n".join(out)


def render_csv(boards: list[Board]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["board", "metric", "target", "source", "method", "n", "seeds", "mean", "max_deviation", "std",
                     "ci_low", "ci_high", "vs_scratch_difference", "vs_scratch_p_holm"])
    for board in boards:
        versus = {(c.target, *c.a): c for c in board.comparisons if c.baseline}
        for (target, source, method), cell in sorted(board.cells.items()):
            low, high = cell.interval or ("", "")
            comparison = versus.get((target, source, method))
            writer.writerow([
                *map(escaping.csv_cell, (board.title, board.metric, target, source, method)), cell.n,
                " ".join(str(s) for s in cell.seeds),
                f"{cell.mean:.6f}", f"{cell.max_deviation:.6f}", f"{cell.std:.6f}",
                f"{low:.6f}" if low != "" else "", f"{high:.6f}" if high != "" else "",
                f"{comparison.result.difference:.6f}" if comparison else "",
                f"{comparison.p_holm:.6g}" if comparison else "",
            ])
    return buffer.getvalue()


latex_escape = escaping.latex


def render_latex(boards: list[Board]) -> str:
    """booktabs tables; ▲/▼ become $\\blacktriangle$/$\\blacktriangledown$ (amssymb)."""
    marks = {"better": r"$^\blacktriangle$", "worse": r"$^\blacktriangledown$", "": ""}
    out = []
    for board in boards:
        out.append(f"% {latex_escape(board.title)}")
        for line in notes(board) + ranking_notes(board):
            out.append(f"% {latex_escape(line)}")
        out.append("\\begin{tabular}{l" + "r" * len(board.columns) + "}")
        out.append("\\toprule")
        out.append(" & ".join(["target"] + [latex_escape(board.column_label(c)) for c in board.columns]) + " \\\\")
        out.append("\\midrule")
        for target in board.targets:
            cells = []
            for column in board.columns:
                cell = board.cells.get((target, *column))
                if cell is None:
                    cells.append("--")
                    continue
                text = f"{cell.mean:.3f}" if cell.n == 1 else f"{cell.mean:.3f} \\pm {cell.max_deviation:.3f}"
                if cell.interval:
                    text += f"\\ [{cell.interval[0]:.3f}, {cell.interval[1]:.3f}]"
                cells.append(f"${text}${marks[cell.mark]}")
            out.append(" & ".join([latex_escape(target)] + cells) + " \\\\")
        for dataset, means in board.dataset_means().items():
            out.append(" & ".join([latex_escape(f"{dataset} mean")] + [f"${means[c]:.3f}$" if c in means else ""
                                                                        for c in board.columns]) + " \\\\")
        out.append("\\bottomrule")
        out.append("\\end{tabular}")
    return "\n".join(out) + "\n"


def render_json(rows: list[dict], boards: list[Board], attempts: Sequence[dict] = ()) -> str:
    """``experiments``: one object per stored experiment; ``attempts``: those not stored as an experiment's result
    (running, interrupted, or failed beside a passed result that was kept); ``boards``: each cell with its
    interval and paired comparisons."""
    keys = ("node_id", "target", "source", "method", "seed", "status", "metrics", "config_hash", "split_hash",
            "device", "durations", "versions", "notes", "error")
    experiments = [{"id": r["node_id"], **{k: r.get(k) for k in keys if k != "node_id"}} for r in rows]
    others = [{"id": a["node_id"], "attempt": a["id"], **{k: v for k, v in a.items() if k not in ("id", "node_id")}}
              for a in attempts]
    return json.dumps({"experiments": experiments, "attempts": others, "boards": [_board_json(b) for b in boards]},
                      indent=1)


def _board_json(board: Board) -> dict:
    def comparison(c) -> dict:
        return {"target": c.target, "a": board.column_label(c.a), "b": board.column_label(c.b), "kind": c.kind,
                "seeds": list(c.seeds), "difference": c.result.difference, "ci_low": c.result.low,
                "ci_high": c.result.high, "p_value": c.result.p_value, "p_holm": c.p_holm}

    cells = []
    for (target, source, method), cell in sorted(board.cells.items()):
        cells.append({
            "target": target, "source": source, "method": method, "seeds": list(cell.seeds),
            "values": list(cell.values), "mean": cell.mean, "max_deviation": cell.max_deviation, "std": cell.std,
            "ci_low": cell.interval[0] if cell.interval else None,
            "ci_high": cell.interval[1] if cell.interval else None, "vs_scratch": cell.mark or None,
        })
    ranks = board.friedman
    return {
        "title": board.title, "metric": board.metric, "preset": board.preset, "runtime": board.runtime,
        "notes": notes(board), "cells": cells, "comparisons": [comparison(c) for c in board.comparisons],
        "places": [{"place": p.place, "column": board.column_label(p.column), "mean": p.mean, "targets": p.targets,
                    "p_value": p.p_value} for p in board.places],
        "ranks": None if ranks is None else {
            "columns": [board.column_label(c) for c in ranks.columns], "targets": ranks.targets,
            "average_ranks": ranks.result.average_ranks.tolist(), "friedman_chi2": ranks.result.statistic,
            "friedman_p": ranks.result.p_value, "critical_difference": ranks.result.critical_difference,
        },
    }
