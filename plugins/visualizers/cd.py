"""The critical-difference diagram (Demšar 2006) of a board's columns across its targets: each column at its
average rank (1 = best), with bars joining the columns whose ranks differ by less than the Nemenyi critical
difference. Drawn only where the board ranks its columns (at least two targets and two complete columns)."""

from __future__ import annotations

import numpy as np

from benchmark import BoardVisualizer, Figure, hookimpl, method_colour, save, styled


def ranked(board) -> list[tuple[tuple[str, str], float]]:
    """(column, average rank) of the board's ranked columns, best first; [] where it ranks none."""
    if board.friedman is None:
        return []
    ranks = board.friedman.result.average_ranks
    return [(board.friedman.columns[i], float(ranks[i])) for i in np.argsort(ranks, kind="stable")]


def _draw(ax, board, labelled: list[tuple[tuple[str, str], float]]) -> None:
    result = board.friedman.result
    k = len(labelled)
    ax.set_xlim(0.5, k + 0.5)
    ax.axis("off")
    ax.hlines(0, 1, k, color="#000000", linewidth=1.2)
    for r in range(1, k + 1):
        ax.vlines(r, 0, 0.12, color="#000000", linewidth=1)
        ax.text(r, 0.2, str(r), ha="center", va="bottom", fontsize=10)
    ax.text((k + 1) / 2, 0.6, "average rank (1 = best)", ha="center", va="bottom", fontsize=10)
    cd = result.critical_difference
    end = min(1 + cd, k + 0.45)  # a CD wider than the axis is cut at its end, and says so
    ax.hlines(1.0, 1, end, color="#D55E00", linewidth=2.5)
    ax.vlines([1, end] if end == 1 + cd else [1], 0.92, 1.08, color="#D55E00", linewidth=1.5)
    wider = "" if end == 1 + cd else ", wider than the axis"
    ax.text((1 + end) / 2, 1.12, f"CD = {cd:.2f}{wider}", ha="center", va="bottom", fontsize=10, color="#D55E00")
    left = (k + 1) // 2
    for index, (column, rank) in enumerate(labelled):
        on_left = index < left
        depth = -0.5 - 0.38 * (index if on_left else k - 1 - index)
        edge = 0.6 if on_left else k + 0.4
        ax.plot([rank, rank, edge], [0, depth, depth], color="#000000", linewidth=0.9)
        ax.plot(rank, 0, "o", color=method_colour(board, column[1]), markersize=6, zorder=3)
        ax.text(edge + (-0.05 if on_left else 0.05), depth, f"{board.column_label(column)} ({rank:.2f})",
                ha="right" if on_left else "left", va="center", fontsize=10)
    # the bars of the columns not told apart, stacked just below the axis
    joined = [group for group in result.groups if len(group) > 1]
    position = {i: rank for i, rank in enumerate(board.friedman.result.average_ranks)}
    for row, group in enumerate(joined):
        low, high = min(position[i] for i in group), max(position[i] for i in group)
        y = -0.18 - 0.12 * row
        ax.hlines(y, low - 0.05, high + 0.05, color="#333333", linewidth=4, alpha=0.8)
    ax.set_ylim(-0.5 - 0.38 * max(left, k - left) - 0.2, 1.45)


class CriticalDifferenceVisualizer(BoardVisualizer):
    name = "cd"
    description = "Critical-difference diagram (Friedman, Nemenyi; Demšar 2006) of the columns across targets"
    order = 30

    def board_figure(self, ctx, board, several: bool) -> Figure | None:
        import matplotlib.pyplot as plt

        labelled = ranked(board)
        if not labelled:
            return None
        k = len(labelled)
        result = board.friedman.result
        with styled():
            fig, ax = plt.subplots(figsize=(max(6.5, 1.1 * k + 3.5), 1.6 + 0.38 * ((k + 1) // 2)))
            _draw(ax, board, labelled)
            title = f"Average ranks of the columns over {board.friedman.targets} targets" + (
                f" · {board.title}" if several else "")
            ax.set_title(title, pad=4)
            paths = save(fig, ctx.board_path("cd", board), svg=True)
        facts = {"average_ranks": {board.column_label(c): rank for c, rank in labelled},
                 "friedman_chi2": None if np.isnan(result.statistic) else result.statistic,
                 "friedman_p": result.p_value,
                 "critical_difference": result.critical_difference, "k": k, "n": board.friedman.targets}
        return Figure(paths[0], title, _caption(board, k), paths[1:], facts)


def _caption(board, k: int) -> str:
    result, n = board.friedman.result, board.friedman.targets
    statistic = "undefined" if np.isnan(result.statistic) else f"{result.statistic:.2f}"
    text = (f"Each column at its average rank over the {n} targets (rank 1: the highest mean {board.metric} on a "
            f"target; ties share their average rank). Friedman χ² = {statistic} (k = {k} columns, n = {n} targets), "
            f"p = {result.p_value:.3g}. CD: the Nemenyi critical difference at α = 0.05; a thick bar joins columns "
            "whose average ranks differ by less than it, which the test cannot tell apart.")
    if n < 5:
        text += (f" With only {n} targets the critical difference is wide: few columns can be told apart, "
                 "whatever their means.")
    left_out = [board.column_label(c) for c in board.columns if c not in board.friedman.columns]
    if left_out:
        text += f" Left out (no result on every target): {', '.join(left_out)}."
    return text


@hookimpl
def tlbench_register_visualizers(register):
    register(CriticalDifferenceVisualizer())
