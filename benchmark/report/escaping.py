"""Text from plugins, config files and stores (names, labels, titles) made inert in each output format: it reads
as the same characters and never as markup, a command, a table cell boundary or a spreadsheet formula.

HTML is escaped by :mod:`benchmark.report.htmlpage` (``html.escape``), the terminal by ``rich.markup.escape``.
"""

from __future__ import annotations

import re

# one line of text: line breaks and other control characters would end a table row or a LaTeX comment
_UNPRINTABLE = re.compile(r"[^\S ]|[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")

_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
                  # braced: a "[" after "\\" would be read as the line break's optional argument
                  "[": "{[}", "]": "{]}"}
_MARKDOWN_SPECIAL = re.compile(r"[\\`*\[\]|]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_HTML_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# OWASP "CSV Injection": a cell starting with one of these is read as a formula by spreadsheet programs
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def one_line(text: str) -> str:
    """``text`` with each line break, tab or other control character replaced by a space."""
    return _UNPRINTABLE.sub(" ", str(text))


def latex(text: str) -> str:
    """``text`` for any text position of a LaTeX document, a ``%`` comment included (it stays on one line)."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in one_line(text))


def markdown(text: str) -> str:
    """``text`` for a Markdown paragraph, list item or table cell: on one line, HTML shown as text, and the
    characters that would start emphasis, code, a link or a new cell escaped."""
    plain = "".join(_HTML_ENTITIES.get(ch, ch) for ch in one_line(text))
    return _MARKDOWN_SPECIAL.sub(lambda match: "\\" + match.group(0), plain)


def csv_cell(text: str) -> str:
    """A text cell of a CSV file: one that a spreadsheet would read as a formula is prefixed with ``'`` (OWASP);
    write numbers as they are, not through this."""
    text = str(text)
    return "'" + text if text.startswith(_FORMULA_START) else text
