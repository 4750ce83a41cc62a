"""The study's Fig. 3: ROC AUC per source and method as grouped bars, one panel per target and one for the mean
over targets, with 95% bootstrap intervals; the baseline (scratch, no source) as a line across each panel."""

from __future__ import annotations

import math

import numpy as np

from benchmark import GREY, BoardVisualizer, Figure, hookimpl, method_colour, save, styled

ALL = "all targets"


def target_mean(board, column: tuple[str, str]) -> tuple[float, tuple[float, float] | None] | None:
    """The mean over targets of ``column``'s cell means, and its 95% percentile bootstrap interval: replicate r
    is the mean over targets of each cell's seed mean on its r-th test resample (the targets' test sets are
    resampled independently). None where a target lacks the column; no interval where a cell lacks replicates."""
    cells = [board.cells.get((t, *column)) for t in board.targets]
    if any(cell is None for cell in cells):
        return None
    mean = float(np.mean([cell.mean for cell in cells]))
    per_target = [[cell.replicates.get(seed) for seed in cell.seeds] for cell in cells]
    if any(r is None for reps in per_target for r in reps) or len({len(r) for reps in per_target for r in reps}) != 1:
        return mean, None
    replicates = np.mean([np.mean(reps, axis=0) for reps in per_target], axis=0)
    low, high = np.quantile(replicates, [0.025, 0.975])
    return mean, (float(low), float(high))


def panel_values(board) -> dict[str, dict[tuple[str, str], tuple[float, tuple[float, float] | None]]]:
    """Per panel (each target, then :data:`ALL`), each column's (mean AUC, 95% interval or None)."""
    panels = {t: {c[1:]: (cell.mean, cell.interval) for c, cell in board.cells.items() if c[0] == t}
              for t in board.targets}
    if len(board.targets) > 1:
        means = {c: value for c in board.columns if (value := target_mean(board, c)) is not None}
        if means:
            panels[ALL] = means
    return panels


def _limits(panels: dict) -> tuple[float, float]:
    points = [v for values in panels.values() for mean, interval in values.values()
              for v in ((mean,) if interval is None else (mean, *interval))]
    low = max(0.0, math.floor((min(points) - 0.03) * 20) / 20)
    return low, min(1.02, max(points) + 0.02)


def _draw_panel(ax, board, values: dict, sources: list[str], methods: list[str], limits) -> None:
    width = 0.8 / max(len(methods), 1)
    for baseline in board.baselines:
        if baseline in values:
            mean, interval = values[baseline]
            ax.axhline(mean, color=GREY, linestyle="--", linewidth=1.5)
            if interval is not None:
                ax.axhspan(*interval, color=GREY, alpha=0.18, linewidth=0)
    for i, method in enumerate(methods):
        for x, source in enumerate(sources):
            if (source, method) not in values:
                continue
            mean, interval = values[(source, method)]
            error = None if interval is None else [[mean - interval[0]], [interval[1] - mean]]
            ax.bar(x + (i - (len(methods) - 1) / 2) * width, mean, width * 0.92, color=method_colour(board, method),
                   yerr=error, capsize=3, error_kw={"linewidth": 1, "ecolor": "#333333"})
    if limits[0] < 0.5:
        ax.axhline(0.5, color="#000000", linestyle=":", linewidth=1)
    ax.set_xticks(range(len(sources)), sources, rotation=20 if len(sources) > 3 else 0)
    ax.set_ylim(*limits)
    ax.grid(axis="x", visible=False)


class BarsVisualizer(BoardVisualizer):
    name = "bars"
    description = "The study's Fig. 3: mean ROC AUC per source and method, per target and over targets, with 95% CIs"
    order = 10

    def board_figure(self, ctx, board, several: bool) -> Figure:
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        panels = panel_values(board)
        sources = sorted({c[0] for c in board.columns if c not in board.baselines})
        methods = list(dict.fromkeys(m for s, m in board.columns if (s, m) not in board.baselines))
        limits = _limits(panels)
        per_row = min(3, len(panels))
        rows = math.ceil(len(panels) / per_row)
        with styled():
            fig, axes = plt.subplots(rows, per_row, figsize=(3.4 * per_row + 0.4, 3.0 * rows + 0.8), sharey=True,
                                     squeeze=False)
            for ax, (panel, values) in zip(axes.flat, panels.items(), strict=False):
                _draw_panel(ax, board, values, sources, methods, limits)
                ax.set_title(f"mean of {len(board.targets)} targets (95% CI)" if panel == ALL else panel)
            for ax in axes.flat[len(panels):]:
                ax.axis("off")
            for ax in axes[:, 0]:
                ax.set_ylabel("ROC AUC")
            for ax in axes[-1]:
                ax.set_xlabel("source")
            handles = [Patch(color=method_colour(board, m), label=board.label(m)) for m in methods]
            handles += [Line2D([], [], color=GREY, linestyle="--", label=f"{board.label(m)} (no source)")
                        for _, m in board.baselines]
            if limits[0] < 0.5:
                handles.append(Line2D([], [], color="#000000", linestyle=":", label="chance"))
            fig.legend(handles=handles, loc="upper center", ncol=len(handles), bbox_to_anchor=(0.5, 1.0),
                       frameon=False)
            title = "ROC AUC by source and method" + (f" · {board.title}" if several else "")
            fig.suptitle(title, y=1.06)
            fig.tight_layout()
            paths = save(fig, ctx.board_path("bars", board), svg=True)
        return Figure(paths[0], title, _caption(board, panels, limits), paths[1:],
                      {"means": {panel: {board.column_label(c): v[0] for c, v in values.items()}
                                 for panel, values in panels.items()}})


def _caption(board, panels: dict, limits) -> str:
    seeds = sorted({cell.n for cell in board.cells.values()})
    text = (f"Bars: the mean over seeds ({'/'.join(map(str, seeds))} per cell) of {board.metric} per source and "
            f"method; the dashed grey line (band: its interval) is {board.baseline_label}, which uses no source. "
            "Error bars: 95% percentile bootstrap intervals of the seed mean, resampling each seed's test set: they "
            "show test-set sampling, not how much training runs vary.")
    if ALL in panels:
        text += (" The last panel is the mean over targets; its interval resamples every target's test set "
                 "independently and averages the targets on each resample.")
    missing = [board.column_label(c) for c in board.columns if any((t, *c) not in board.cells for t in board.targets)]
    if missing:
        text += f" Columns without results on every target: {', '.join(missing)} (left out of the mean)."
    if limits[0] > 0:
        text += f" The y axis starts at {limits[0]:.2f}" + ("; the dotted line is chance (0.5)." if limits[0] < 0.5
                                                              else "; chance (0.5) lies below it.")
    return text


@hookimpl
def tlbench_register_visualizers(register):
    register(BarsVisualizer())
