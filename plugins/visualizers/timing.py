"""Where an experiment's time went: per source and method, the mean seconds over targets and seeds of preparing
the source, training, extracting features, fitting the SVM or a probe, and the rest of the method, as stacked bars."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from benchmark import GREY, BoardVisualizer, Figure, hookimpl, save, styled

# (key in a row's durations, legend label, colour); "other" is the method's time less its recorded parts
PARTS = (("source", "source preparation", "#CC79A7"), ("training", "training", "#E69F00"),
         ("features", "feature extraction", "#0072B2"), ("svm", "SVM fit", "#009E73"),
         ("probe", "probe fit", "#56B4E9"), ("other", "rest of the method", GREY))
SPLIT = ("training", "features", "svm", "probe")


def time_parts(durations: dict) -> dict[str, float]:
    """A row's seconds by part: its ``source`` preparation, the ``training``, ``features``, ``svm`` and ``probe``
    parts it recorded, and ``other``: the method's time less those parts (all of it where none was recorded)."""
    parts = {key: float(durations.get(key) or 0.0) for key in ("source", *SPLIT)}
    parts["other"] = max(float(durations.get("method") or 0.0) - sum(parts[k] for k in SPLIT), 0.0)
    return parts


def mean_parts(rows: list[dict]) -> dict[tuple[str, str], dict[str, float]]:
    """(source, method) -> the mean over its rows (targets and seeds) of :func:`time_parts`."""
    grouped: dict[tuple[str, str], list[dict[str, float]]] = {}
    for row in rows:
        if row.get("durations"):
            grouped.setdefault((row["source"], row["method"]), []).append(time_parts(row["durations"]))
    return {column: {key: float(np.mean([p[key] for p in parts])) for key, _, _ in PARTS}
            for column, parts in grouped.items()}


def _wall_seconds(rows: list[dict]) -> float | None:
    times = [(row["started_at"], row["finished_at"]) for row in rows
             if row.get("started_at") and row.get("finished_at")]
    if not times:
        return None
    start = min(datetime.fromisoformat(s) for s, _ in times)
    return (max(datetime.fromisoformat(f) for _, f in times) - start).total_seconds()


class TimeVisualizer(BoardVisualizer):
    name = "time"
    description = ("Mean seconds per experiment by source and method, split into source, training, features, SVM, "
                   "probe")
    order = 70

    def board_figure(self, ctx, board, several: bool) -> Figure | None:
        import matplotlib.pyplot as plt

        rows = ctx.board_rows(board)
        means = mean_parts(rows)
        columns = [c for c in board.columns if c in means]
        if not columns:
            return None
        shown = [(key, label, colour) for key, label, colour in PARTS if any(means[c][key] > 0 for c in columns)]
        with styled():
            fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(columns) + 1.8))
            y = np.arange(len(columns))[::-1]
            left = np.zeros(len(columns))
            for key, label, colour in shown:
                widths = np.array([means[c][key] for c in columns])
                ax.barh(y, widths, left=left, color=colour, label=label, height=0.65)
                left += widths
            for position, total in zip(y, left, strict=True):
                ax.text(total, position, f" {total:.1f} s", va="center", fontsize=9)
            ax.set_yticks(y, [board.column_label(c) for c in columns])
            ax.set_xlim(0, left.max() * 1.15 or 1)
            ax.set_xlabel("mean seconds per experiment")
            ax.grid(axis="y", visible=False)
            title = "Time per experiment and where it went" + (f" · {board.title}" if several else "")
            ax.set_title(title)
            fig.tight_layout()
            fig.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(shown), frameon=False, fontsize=8.5)
            (path,) = save(fig, ctx.board_path("time", board))
        total = sum(float((row.get("durations") or {}).get("total") or 0.0) for row in rows)
        facts = {"seconds": {board.column_label(c): means[c] for c in columns}, "experiments_seconds": total,
                 "wall_seconds": _wall_seconds(rows)}
        return Figure(path, title, _caption(rows, total, facts["wall_seconds"]), facts=facts)


def _caption(rows: list[dict], total: float, wall: float | None) -> str:
    timed = [row for row in rows if row.get("durations")]
    text = ("Per source and method, the mean over targets and seeds of each experiment's seconds: preparing its "
            "source (pre-training, or loading weights; a source prepared once is cached, so its first experiment "
            "carries the cost and the mean spreads it), training, extracting features, fitting the SVM, and the "
            "rest of the method (scoring, data loading). "
            f"The {len(timed)} experiments took {total:.0f} s together")
    text += f"; from the first start to the last finish {wall:.0f} s passed (wall clock)." if wall is not None else "."
    unsplit = [row for row in timed if not any(key in row["durations"] for key in SPLIT)]
    if unsplit:
        text += (f" {len(unsplit)} of the {len(timed)} experiments were stored before training, features and SVM "
                 "were timed apart: all their method time counts as the rest.")
    if len(timed) < len(rows):
        text += f" {len(rows) - len(timed)} stored no durations and are left out."
    return text


@hookimpl
def tlbench_register_visualizers(register):
    register(TimeVisualizer())
