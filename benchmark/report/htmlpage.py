"""The report as one self-contained HTML page: figures embedded as data URIs, inline CSS, no scripts, fonts or
links outside the file; readable on a phone (tables scroll inside their own box) and on a desktop."""

from __future__ import annotations

import base64
import re
from html import escape
from pathlib import Path

from benchmark.report.leaderboard import Board
from benchmark.report.render import MARKS, notes, ranking_notes
from benchmark.report.summary import QUESTION

TABLE_BACKGROUND = "#eef3fa"  # the boards' own colour (a test finds the table in a screenshot by it)
CSS = f"""
body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 0 auto;
  max-width: 62rem; padding: 1rem; line-height: 1.5; color: #1b1b1b; background: #ffffff; }}
h1 {{ font-size: 1.6rem; margin: .5rem 0 1rem; }}
h2 {{ font-size: 1.3rem; margin-top: 2rem; border-bottom: 1px solid #d0d7de; }}
h3 {{ font-size: 1.1rem; overflow-wrap: anywhere; }}
p.answer {{ font-size: 1.05rem; }}
.scroll {{ overflow-x: auto; max-width: 100%; margin: .5rem 0 1rem; }}
table.board {{ border-collapse: separate; border-spacing: 0; background: {TABLE_BACKGROUND};
  border-top: 1px solid #9fb6d3; border-left: 1px solid #9fb6d3; font-variant-numeric: tabular-nums; }}
table.board th, table.board td {{ border-right: 1px solid #9fb6d3; border-bottom: 1px solid #9fb6d3;
  padding: .35rem .6rem; white-space: nowrap; text-align: right; vertical-align: top; }}
table.board thead th {{ background: #d5e3f5; }}
/* the target column stays in view while a phone scrolls the table; Chromium loses a sticky cell's bottom
   border when the page is resized, so its line is a shadow */
table.board th:first-child, table.board td:first-child {{ text-align: left; position: sticky; left: 0; }}
table.board tbody td:first-child {{ background: {TABLE_BACKGROUND}; border-bottom-color: transparent;
  box-shadow: inset 0 -1px 0 #9fb6d3; }}
table.board tr.summary td {{ font-style: italic; }}
.interval {{ display: block; font-size: .85em; color: #4a4a4a; }}
.legend, .notes {{ font-size: .9rem; color: #333333; }}
.notes li, dd {{ overflow-wrap: anywhere; }}
figure {{ margin: 1.5rem 0; }}
figure img {{ max-width: 100%; height: auto; display: block; border: 1px solid #e1e4e8; }}
figcaption {{ font-size: .9rem; color: #333333; }}
.failed {{ color: #9a1b1b; }}
dl {{ display: grid; grid-template-columns: minmax(8rem, max-content) 1fr; gap: .2rem 1rem; font-size: .9rem; }}
dt {{ font-weight: 600; }}
dd {{ margin: 0; }}
pre {{ overflow-x: auto; background: #f6f8fa; padding: .5rem; font-size: .8rem; }}
code {{ font-family: ui-monospace, "DejaVu Sans Mono", monospace; }}
@media (max-width: 40rem) {{ dl {{ grid-template-columns: 1fr; }} dd {{ margin-bottom: .4rem; }} }}
"""
_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def inline_markdown(text: str) -> str:
    """A caption's Markdown as HTML: escaped text with `code`, **bold** and *italic*; paragraphs on blank lines."""
    html = escape(text)
    html = re.sub(r"`([^`]+)`", r"<code>\1</code>", html)
    html = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", html)
    html = re.sub(r"\*([^*]+)\*", r"<em>\1</em>", html)
    return "</p><p>".join(part.strip() for part in re.split(r"\n\s*\n", html) if part.strip())


def data_uri(path: Path) -> str:
    """The file as a data URI."""
    mime = _MIME.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _cell_html(board: Board, target: str, column: tuple[str, str], best: tuple[str, str] | None) -> str:
    cell = board.cells.get((target, *column))
    if cell is None:
        return "<td>—</td>"
    value = escape(f"{cell.text(interval=False)} {MARKS[cell.mark]}".rstrip())
    if column == best:
        value = f"<strong>{value}</strong>"
    if cell.interval:
        value += f'<span class="interval">[{cell.interval[0]:.3f}, {cell.interval[1]:.3f}]</span>'
    return f"<td>{value}</td>"


def board_table(board: Board) -> str:
    """One board as an HTML table in its own horizontally scrolling box, with its notes as the legend."""
    head = "".join(f"<th>{escape(board.column_label(c))}</th>" for c in board.columns)
    body = []
    for target in board.targets:
        best = board.best_column(target)
        body.append(f"<tr><td>{escape(target)}</td>"
                    + "".join(_cell_html(board, target, c, best) for c in board.columns) + "</tr>")
    for dataset, means in board.dataset_means().items():
        body.append(f'<tr class="summary"><td>{escape(dataset)} mean</td>'
                    + "".join(f"<td>{means[c]:.3f}</td>" if c in means else "<td></td>" for c in board.columns)
                    + "</tr>")
    differences = board.differences()
    if differences:
        names = sorted({f"{board.label(a[1])} − {board.label(b[1])}" for a, b in board.pairs()})
        body.append(f'<tr class="summary"><td>{escape(", ".join(names))}</td>'
                    + "".join(f"<td>{differences[c]:+.3f}</td>" if c in differences else "<td></td>"
                              for c in board.columns) + "</tr>")
    legend = ["Bold: the highest mean on the target. A cell's second line: its 95% bootstrap interval."]
    items = "".join(f"<li>{escape(line)}</li>" for line in legend + notes(board) + ranking_notes(board))
    return (f"<h3>{escape(board.title)}</h3>\n"
            f'<div class="scroll"><table class="board"><thead><tr><th>target</th>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>\n"
            f'<ul class="legend">{items}</ul>')


def _figure_html(figure) -> str:
    caption = f"<p>{inline_markdown(figure.caption)}</p>" if figure.caption else ""
    if figure.extra:
        names = ", ".join(f"<code>{escape(Path(p).name)}</code>" for p in figure.extra)
        caption += f"<p>Also in the report folder: {names}.</p>"
    return (f"<figure><h3>{escape(figure.title)}</h3>"
            f'<img src="{data_uri(figure.path)}" alt="{escape(figure.title)}">'
            f"<figcaption>{caption}</figcaption></figure>")


def render_html(title: str, paragraph: str, boards: list[Board], figures: list, failures: list[tuple[str, str]],
                provenance) -> str:
    """The whole page; ``figures`` are :class:`benchmark.Figure`; ``failures`` (visualiser, one-line error)."""
    parts = [f"<h1>{escape(title)}</h1>"]
    answer = [escape(p) for p in paragraph.split("\n\n")]
    if paragraph.startswith(QUESTION):
        answer[0] = f"<strong>{escape(QUESTION)}</strong>" + answer[0][len(escape(QUESTION)):]
    parts += [f'<p class="answer">{p}</p>' for p in answer]
    parts.append("<h2>Results</h2>")
    parts += [board_table(b) for b in boards] or ["<p>No passed results.</p>"]
    parts.append("<h2>Figures</h2>")
    parts += [_figure_html(f) for f in figures] or ["<p>No visualiser drew a figure.</p>"]
    if failures:
        items = "".join(f"<li><strong>{escape(name)}</strong>: {escape(error)}</li>" for name, error in failures)
        parts.append(f'<h2>Visualisers that failed</h2><ul class="failed">{items}</ul>')
    parts.append("<h2>Provenance</h2>")
    rows = "".join(f"<dt>{escape(label)}</dt><dd>{escape(value)}</dd>" for label, value in provenance.lines())
    parts.append(f"<dl>{rows}</dl>")
    parts += [f"<details><summary>Configuration {i}</summary><pre><code>{escape(text)}</code></pre></details>"
              for i, text in enumerate(provenance.configuration_texts(), 1)]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            + "\n".join(parts) + "\n</body>\n</html>\n")
