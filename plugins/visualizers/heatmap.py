"""The study's Table II as a heatmap: targets by columns (the baseline, then each source's methods), coloured by
the mean AUC over seeds, each cell annotated with mean ± max deviation and its paired-test marks."""

from __future__ import annotations

import numpy as np

from benchmark import BoardVisualizer, Figure, hookimpl, save, styled

BASELINE_MARKS = {"better": "▲", "worse": "▼"}
PAIR_MARKS = {True: "↑", False: "↓"}  # the method above / below the one it is compared with, on the same source


def pair_marks(board) -> dict[tuple[str, str, str], str]:
    """(target, source, method) -> ↑ or ↓ where the method differs beyond chance from the one it is compared with
    on the same source and target (FT against FE; Holm-adjusted paired test over seeds), marked on the comparing
    cell."""
    return {(c.target, *c.a): PAIR_MARKS[c.result.difference > 0] for c in board.comparisons
            if not c.baseline and c.significant}


def annotation(board, target: str, column: tuple[str, str], pairs: dict | None = None) -> str:
    """A cell's text: ``mean ± max deviation`` (two lines) and its marks; "" where the board has no such cell."""
    cell = board.cells.get((target, *column))
    if cell is None:
        return ""
    marks = BASELINE_MARKS.get(cell.mark, "") + (pairs if pairs is not None else pair_marks(board)).get(
        (target, *column), "")
    text = f"{cell.mean:.3f}" + (f" {marks}" if marks else "")
    return text if cell.n == 1 else f"{text}\n± {cell.max_deviation:.3f}"


def means_matrix(board) -> np.ndarray:
    """(targets, columns) of the cells' means over seeds, nan where the board has no cell."""
    return np.array([[board.cells[(t, *c)].mean if (t, *c) in board.cells else np.nan for c in board.columns]
                     for t in board.targets])


class HeatmapVisualizer(BoardVisualizer):
    name = "heatmap"
    description = "The study's Table II as a heatmap of mean ROC AUC, with the paired tests' marks"
    order = 20

    def board_figure(self, ctx, board, several: bool) -> Figure:
        import matplotlib.pyplot as plt

        means = means_matrix(board)
        pairs = pair_marks(board)
        labels = [board.column_label(c).replace(" ", "\n", 1) for c in board.columns]
        with styled():
            fig, ax = plt.subplots(figsize=(1.25 * len(board.columns) + 2.6, 0.75 * len(board.targets) + 1.9))
            cmap = plt.get_cmap("cividis").with_extremes(bad="#FFFFFF")
            image = ax.imshow(np.ma.masked_invalid(means), cmap=cmap, aspect="auto",
                              vmin=np.nanmin(means), vmax=np.nanmax(means) if np.nanmax(means) > np.nanmin(means)
                              else np.nanmin(means) + 1e-3)
            for i, target in enumerate(board.targets):
                for j, column in enumerate(board.columns):
                    text = annotation(board, target, column, pairs) or "–"
                    value = image.norm(means[i, j]) if not np.isnan(means[i, j]) else 1.0
                    ax.text(j, i, text, ha="center", va="center", fontsize=8.5,
                            color="#000000" if value > 0.55 else "#FFFFFF")
            ax.set_xticks(range(len(labels)), labels)
            ax.set_yticks(range(len(board.targets)), board.targets)
            ax.set_xlabel("source and method")
            ax.set_ylabel("target")
            ax.grid(False)
            ax.tick_params(length=0)
            for spine in ax.spines.values():
                spine.set_visible(False)
            fig.colorbar(image, ax=ax, fraction=0.05, pad=0.02).set_label("mean ROC AUC over seeds")
            title = "Mean ROC AUC per target and column" + (f" · {board.title}" if several else "")
            ax.set_title(title)
            # in points below the axes, so that it clears the two-line tick labels whatever the figure's size
            ax.annotate(f"▲/▼ better/worse than {board.baseline_label}; ↑/↓ above/below the method it is compared "
                        "with (FT vs FE): paired test over seeds, Holm-adjusted p < 0.05", xy=(0, 0),
                        xycoords="axes fraction", xytext=(0, -52), textcoords="offset points", fontsize=8, va="top")
            paths = save(fig, ctx.board_path("heatmap", board), svg=True)
        facts = {"means": {t: {board.column_label(c): float(means[i, j]) for j, c in enumerate(board.columns)
                               if not np.isnan(means[i, j])} for i, t in enumerate(board.targets)},
                 "marks": {f"{t} · {board.column_label((s, m))}": marks for (t, s, m), cell in board.cells.items()
                           if (marks := BASELINE_MARKS.get(cell.mark, "") + pairs.get((t, s, m), ""))}}
        return Figure(paths[0], title, _caption(board), paths[1:], facts)


def _caption(board) -> str:
    seeds = sorted({cell.n for cell in board.cells.values()})
    tests = len(board.comparisons)
    text = (f"Colour and number: the mean of {board.metric} over seeds ({'/'.join(map(str, seeds))} per cell), ± the "
            f"largest deviation of a seed from it (the study's Table II); the colour scale spans this board's "
            f"values only. ▲/▼: better/worse than {board.baseline_label} on that target; ↑/↓: the method (FT) above/"
            "below the one it is compared with (FE) on the same source; both by a paired test over seeds on the "
            f"same test images, Holm-adjusted over the board's {tests} comparisons, p < 0.05.")
    if np.isnan(means_matrix(board)).any():
        text += " –: no result for that target and column."
    return text


@hookimpl
def tlbench_register_visualizers(register):
    register(HeatmapVisualizer())
