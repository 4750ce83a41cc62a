"""The study's Table II from stored results: rows are target tasks, columns scratch then FE and FT per
source; each cell the mean AUC over seeds ± the maximum deviation, with n. Plus a ranking."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from rich.console import Group
from rich.table import Table

from .planner import NO_SOURCE

METHOD_LABELS = {"scratch": "scratch", "fe-svm": "FE", "ft-svm": "FT"}


@dataclass(frozen=True)
class Cell:
    values: tuple[float, ...]

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

    def text(self, with_n: bool = True) -> str:
        short = f"{self.mean:.3f} ± {self.max_deviation:.3f}"
        return f"{short} (n={self.n})" if with_n else short


@dataclass
class Board:
    """One profile's results: cells by (target, source, method)."""

    profile: str
    targets: list[str]
    columns: list[tuple[str, str]]  # (source, method)
    cells: dict[tuple[str, str, str], Cell]

    def column_label(self, column: tuple[str, str]) -> str:
        source, method = column
        label = METHOD_LABELS.get(method, method)
        return label if source == NO_SOURCE else f"{source} {label}"

    def ranking(self) -> list[tuple[str, float, int]]:
        """Columns by their mean AUC over the targets they have results for, best first."""
        scores = []
        for column in self.columns:
            means = [self.cells[(t, *column)].mean for t in self.targets if (t, *column) in self.cells]
            scores.append((self.column_label(column), float(np.mean(means)), len(means)))
        return sorted(scores, key=lambda s: -s[1])


def _column_order(column: tuple[str, str]) -> tuple:
    source, method = column
    return (source != NO_SOURCE, source, list(METHOD_LABELS).index(method) if method in METHOD_LABELS else 9, method)


def build_boards(rows: list[dict], metric: str = "auc") -> list[Board]:
    """Group passed rows by profile into boards."""
    values: dict[str, dict[tuple[str, str, str], list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if row["status"] == "passed" and row["metrics"] and metric in row["metrics"]:
            values[row["profile"]][(row["target"], row["source"], row["method"])].append(row["metrics"][metric])
    boards = []
    for profile, by_cell in sorted(values.items()):
        cells = {key: Cell(tuple(v)) for key, v in by_cell.items()}
        targets = sorted({t for t, _, _ in cells})
        columns = sorted({(s, m) for _, s, m in cells}, key=_column_order)
        boards.append(Board(profile, targets, columns, cells))
    return boards


def _differences(board: Board) -> dict[str, float]:
    """Per source, the mean over targets of FT minus FE (the study's "Differences" row)."""
    out = {}
    for source in sorted({s for s, _ in board.columns if s != NO_SOURCE}):
        gaps = [board.cells[(t, source, "ft-svm")].mean - board.cells[(t, source, "fe-svm")].mean
                for t in board.targets
                if (t, source, "ft-svm") in board.cells and (t, source, "fe-svm") in board.cells]
        if gaps:
            out[source] = float(np.mean(gaps))
    return out


def render_rich(boards: list[Board], metric: str = "auc") -> Group:
    parts = []
    for board in boards:
        usual_n = max(cell.n for cell in board.cells.values())
        table = Table(
            title=f"Test {metric} · {board.profile}", title_justify="left", caption_justify="left",
            caption=f"mean ± max deviation over seeds; n = {usual_n} per cell unless shown; best per row in green",
        )
        table.add_column("target", style="bold")
        for column in board.columns:
            table.add_column(board.column_label(column), justify="right")
        best_per_row = {t: max(board.cells[(t, *c)].mean for c in board.columns if (t, *c) in board.cells)
                        for t in board.targets}
        for target in board.targets:
            row = [target]
            for column in board.columns:
                cell = board.cells.get((target, *column))
                if cell is None:
                    row.append("[dim]—[/]")
                else:
                    text = cell.text(with_n=cell.n != usual_n)
                    row.append(f"[bold green]{text}[/]" if cell.mean == best_per_row[target] else text)
            table.add_row(*row)
        differences = _differences(board)
        if differences:
            table.add_section()
            table.add_row("FT − FE", *[
                f"{differences[s]:+.3f}" if m == "ft-svm" and s in differences else "" for s, m in board.columns
            ])
        ranking = Table(title="Ranking (mean over targets)", title_justify="left")
        ranking.add_column("#", justify="right")
        ranking.add_column("column")
        ranking.add_column(f"mean {metric}", justify="right")
        ranking.add_column("targets", justify="right")
        for place, (label, mean, n) in enumerate(board.ranking(), start=1):
            ranking.add_row(str(place), label, f"{mean:.3f}", str(n))
        parts += [table, ranking]
    return Group(*parts)


def render_markdown(boards: list[Board]) -> str:
    out = []
    for board in boards:
        labels = [board.column_label(c) for c in board.columns]
        out.append(f"### {board.profile}\n")
        out.append("| target | " + " | ".join(labels) + " |")
        out.append("|---|" + "---:|" * len(labels))
        for target in board.targets:
            cells = [board.cells[(target, *c)].text() if (target, *c) in board.cells else "—" for c in board.columns]
            out.append(f"| {target} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def render_csv(boards: list[Board]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["profile", "target", "source", "method", "n", "mean", "max_deviation", "std"])
    for board in boards:
        for (target, source, method), cell in sorted(board.cells.items()):
            writer.writerow([board.profile, target, source, method, cell.n, f"{cell.mean:.6f}",
                             f"{cell.max_deviation:.6f}", f"{cell.std:.6f}"])
    return buffer.getvalue()


def render_latex(boards: list[Board]) -> str:
    out = []
    for board in boards:
        out.append(f"% {board.profile}")
        out.append("\\begin{tabular}{l" + "r" * len(board.columns) + "}")
        out.append(" & ".join(["target"] + [board.column_label(c) for c in board.columns]) + " \\\\ \\hline")
        for target in board.targets:
            cells = []
            for column in board.columns:
                cell = board.cells.get((target, *column))
                cells.append(f"${cell.mean:.3f} \\pm {cell.max_deviation:.3f}$" if cell else "--")
            out.append(" & ".join([target.replace("_", "\\_")] + cells) + " \\\\")
        out.append("\\end{tabular}")
    return "\n".join(out) + "\n"


def render_json(rows: list[dict]) -> str:
    """One object per stored experiment."""
    keys = ("node_id", "target", "source", "method", "seed", "status", "profile", "metrics", "config_hash",
            "split_hash", "device", "durations", "versions", "error")
    return json.dumps([{"id": r["node_id"], **{k: r[k] for k in keys if k != "node_id"}} for r in rows], indent=1)
