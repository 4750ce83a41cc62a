"""ROC curves per target from the stored test scores: for each board column the study's macro-averaged curve of
each seed, averaged over the seeds on a common false-positive-rate grid."""

from __future__ import annotations

import math

import numpy as np

import benchmark  # the analysis and its numerics load when a figure is drawn, through the facade
from benchmark import BoardVisualizer, Figure, column_line, hookimpl, save, styled

GRID = np.linspace(0.0, 1.0, 201)


def mean_curve(results) -> np.ndarray | None:
    """The mean over seeds of each seed's macro-averaged ROC curve's TPR on :data:`GRID` (0 at FPR 0, 1 at FPR 1);
    seeds without stored scores are skipped; None where none has them."""
    curves = []
    for result in results:
        if len(result.labels) and result.scores.ndim == 2 and len(np.unique(result.labels)) > 1:
            fpr, tpr = benchmark.macro_roc_curve(result.labels, result.scores)
            curves.append(np.interp(GRID, fpr, tpr))
    if not curves:
        return None
    tpr = np.mean(curves, axis=0)
    tpr[0], tpr[-1] = 0.0, 1.0
    return tpr


class RocVisualizer(BoardVisualizer):
    name = "roc"
    description = "Macro-averaged ROC curves per target, one per source and method, averaged over seeds"
    order = 40

    def board_figure(self, ctx, board, several: bool) -> Figure | None:
        import matplotlib.pyplot as plt

        curves = {(t, *c): tpr for t in board.targets for c in board.columns
                  if (t, *c) in board.cells and (tpr := mean_curve(board.cells[(t, *c)].results)) is not None}
        if not curves:
            return None
        per_row = min(3, len(board.targets))
        rows = math.ceil(len(board.targets) / per_row)
        with styled():
            fig, axes = plt.subplots(rows, per_row, figsize=(4.2 * per_row, 4.2 * rows), squeeze=False)
            for ax, target in zip(axes.flat, board.targets, strict=False):
                ax.plot([0, 1], [0, 1], color="#000000", linestyle=":", linewidth=1, label="chance")
                for column in board.columns:
                    if (target, *column) in curves:
                        cell = board.cells[(target, *column)]
                        ax.plot(GRID, curves[(target, *column)], **column_line(board, column),
                                label=f"{board.column_label(column)} ({cell.mean:.3f})")
                ax.set(xlim=(0, 1), ylim=(0, 1.01), title=target, xlabel="false positive rate",
                       ylabel="true positive rate")
                ax.set_aspect("equal")
                ax.legend(loc="lower right", title="column (mean AUC)", fontsize=8, title_fontsize=8)
            for ax in axes.flat[len(board.targets):]:
                ax.axis("off")
            title = "Macro-averaged ROC curves per target, mean over seeds" + (f" · {board.title}" if several else "")
            fig.suptitle(title)
            fig.tight_layout()
            (path,) = save(fig, ctx.board_path("roc", board))
        return Figure(path, title, _caption(board, curves),
                      facts={"auc": {f"{t} · {board.column_label((s, m))}": board.cells[(t, s, m)].mean
                                     for t, s, m in curves}})


def _caption(board, curves: dict) -> str:
    seeds = sorted({cell.n for cell in board.cells.values()})
    text = ("Per target, each column's macro-averaged ROC curve (the study's: each class one-vs-rest, the TPRs "
            "interpolated on the union of the classes' FPRs and averaged; two classes: the binary curve), averaged "
            f"over its seeds ({'/'.join(map(str, seeds))}) on a grid of 201 false-positive rates. In the legend: the "
            f"mean over seeds of the stored {board.metric}, which the area under the averaged curve approximates. "
            "Colour: the method; line style: the source; dotted diagonal: chance.")
    missing = sorted(f"{t} · {board.column_label((s, m))}" for t, s, m in board.cells if (t, s, m) not in curves)
    if missing:
        text += f" Without stored test scores (not drawn): {', '.join(missing)}."
    return text


@hookimpl
def tlbench_register_visualizers(register):
    register(RocVisualizer())
