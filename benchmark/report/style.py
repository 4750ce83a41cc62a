"""One look for every figure: a colour-blind-safe palette, readable type, and one way to save.

The palette is Okabe and Ito's (2008), distinguishable under the common colour-vision deficiencies; a
method keeps its colour in every figure of a report (:func:`method_colour`).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
GREY = "#7F7F7F"
LINESTYLES = ("-", "--", "-.", ":")
DPI = 150
RC = {
    "font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "xtick.labelsize": 9, "ytick.labelsize": 9,
    "legend.fontsize": 9, "figure.titlesize": 12, "axes.spines.top": False, "axes.spines.right": False,
    "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.6, "savefig.bbox": "tight", "savefig.pad_inches": 0.1,
    "svg.fonttype": "none", "font.family": "DejaVu Sans",
}  # and the palette as the colour cycle (styled(): a cycler needs matplotlib)


def pyplot():
    """matplotlib's pyplot, drawing off-screen (Agg). Imported when a figure is drawn, not when a visualiser loads:
    commands that only list or read results never pay for matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def colour_of(name: str, order: list[str] | tuple[str, ...] = ()) -> str:
    """The colour of ``name``: the palette's ``i``-th for the ``i``-th item of ``order`` (cycling), else one
    fixed by the name."""
    index = list(order).index(name) if name in order else sum(map(ord, name))
    return PALETTE[index % len(PALETTE)]


def method_colour(board, method: str) -> str:
    """A board's method's colour: grey for a baseline (a method without a source), else the palette's in the
    order the board's columns first name the methods (the study's: FE blue, FT orange)."""
    if any(m == method for _, m in board.baselines):
        return GREY
    methods = list(dict.fromkeys(m for s, m in board.columns if (s, m) not in board.baselines))
    return colour_of(method, methods)


@contextmanager
def styled():
    """Matplotlib's settings for the figures drawn inside the block."""
    import matplotlib

    with pyplot().rc_context({**RC, "axes.prop_cycle": matplotlib.cycler(color=PALETTE)}):
        yield


def save(fig, path: Path, svg: bool = False) -> tuple[Path, ...]:
    """Save ``fig`` as ``path`` (PNG at :data:`DPI`), and beside it as SVG when ``svg``; close it; the paths."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    paths = (path,)
    if svg:
        fig.savefig(path.with_suffix(".svg"))
        paths += (path.with_suffix(".svg"),)
    pyplot().close(fig)
    return paths


def column_line(board, column: tuple[str, str]) -> dict:
    """Matplotlib line keywords of a board's column: its method's colour, one dash pattern per source, and the
    baseline wide and beneath (a transfer column that scores or trains alike, a random source, would hide it)."""
    sources = list(dict.fromkeys(s for s, m in board.columns if (s, m) not in board.baselines))
    dash = LINESTYLES[sources.index(column[0]) % len(LINESTYLES)] if column[0] in sources else "-"
    wide = {"linewidth": 3.4, "alpha": 0.6, "zorder": 1} if column in board.baselines else {"linewidth": 1.6}
    return {"color": method_colour(board, column[1]), "linestyle": dash, **wide}
