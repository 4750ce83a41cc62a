"""The report's files: ``report.md``, the self-contained ``report.html``, ``table.tex`` (booktabs, ready to
``\\input``) and ``results.csv`` (one row per stored experiment: the raw numbers behind the boards)."""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

from benchmark.report import escaping, render
from benchmark.report.htmlpage import render_html
from benchmark.report.leaderboard import Board
from benchmark.report.provenance import Provenance
from benchmark.visualizers import Figure

TITLE = "tlbench report"
_COUNTS = ("n_test", "n_test_groups")


@dataclass
class ReportContent:
    """What the report says: the opening ``paragraph``, the ``boards``, the visualisers' ``figures``, the
    visualisers that failed (name, one-line error), the store's provenance and its ``rows`` (every status)."""

    paragraph: str
    boards: list[Board]
    figures: list[Figure]
    failures: list[tuple[str, str]]
    provenance: Provenance
    rows: list[dict]


def results_csv(rows: list[dict]) -> str:
    """One row per experiment: id, target, source, method, seed, status, each stored metric (full precision),
    the test sizes and the config hash."""
    metrics = sorted({k for row in rows for k in (row.get("metrics") or {}) if k not in _COUNTS})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["node_id", "target", "source", "method", "seed", "status",
                     *map(escaping.csv_cell, metrics), *_COUNTS, "config_hash"])
    for row in rows:
        values = row.get("metrics") or {}
        texts = [escaping.csv_cell(row[k]) for k in ("node_id", "target", "source", "method")]
        writer.writerow([*texts, row["seed"], escaping.csv_cell(row["status"]),
                         *(_raw(values.get(k)) for k in (*metrics, *_COUNTS)), escaping.csv_cell(row["config_hash"])])
    return buffer.getvalue()


def _raw(value) -> str:
    return "" if value is None else repr(value) if isinstance(value, float) else str(value)


def _figure_markdown(figure: Figure, folder: Path) -> str:
    title = escaping.markdown(figure.title)
    lines = [f"### {title}", "", f"![{title}]({_relative(figure.path, folder)})", ""]
    if figure.caption:
        lines += [escaping.markdown(figure.caption), ""]
    if figure.extra:
        lines += ["Also: " + ", ".join(f"[{Path(p).name}]({_relative(p, folder)})" for p in figure.extra), ""]
    return "\n".join(lines)


def _relative(path: Path, folder: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), folder.resolve())).as_posix()


def report_markdown(content: ReportContent, folder: Path) -> str:
    """``report.md``: the answer, the boards, the figures (files beside it), failures, provenance."""
    paragraphs = "\n\n".join(escaping.markdown(p) for p in content.paragraph.split("\n\n"))
    parts = [f"# {TITLE}", "", paragraphs, "", "## Results", "",
             render.render_markdown(content.boards) if content.boards else "No passed results.", "", "## Figures", ""]
    parts += [_figure_markdown(f, folder) for f in content.figures] or ["No visualiser drew a figure.", ""]
    if content.failures:
        parts += ["## Visualisers that failed", ""] + [f"- **{escaping.markdown(name)}**: {escaping.markdown(error)}"
                                                       for name, error in content.failures]
        parts.append("")
    parts += ["## Provenance", ""] + [f"- **{escaping.markdown(label)}**: {escaping.markdown(value)}"
                                      for label, value in content.provenance.lines()]
    for i, text in enumerate(content.provenance.configuration_texts(), 1):
        parts += ["", f"Configuration {i}:", "", "```json", text, "```"]
    return "\n".join(parts) + "\n"


def report_latex(boards: list[Board]) -> str:
    """``table.tex``: the boards as booktabs tabulars."""
    return "% tlbench report: needs \\usepackage{booktabs} and \\usepackage{amssymb}\n" + render.render_latex(boards)


def write_report(folder: Path, content: ReportContent) -> list[Path]:
    """Write the four documents into ``folder`` (the figures are there already); the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    documents = {
        "report.md": report_markdown(content, folder),
        "report.html": render_html(TITLE, content.paragraph, content.boards, content.figures, content.failures,
                                   content.provenance),
        "table.tex": report_latex(content.boards),
        "results.csv": results_csv(content.rows),
    }
    for name, text in documents.items():
        (folder / name).write_text(text, encoding="utf-8")
    return [folder / name for name in documents]
