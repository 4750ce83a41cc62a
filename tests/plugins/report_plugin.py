"""Visualisers for the report's tests: ``sketch`` draws each column's mean AUC per target (a PNG with an SVG
beside it); ``broken`` raises. Load with ``-p report_plugin`` (this folder on sys.path)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from benchmark import Figure, Visualizer, hookimpl  # noqa: E402


class SketchVisualizer(Visualizer):
    name = "sketch"
    description = "Each column's mean per target, as bars"
    order = 10

    def render(self, ctx):
        (board,) = ctx.boards()
        fig, ax = plt.subplots(figsize=(4, 3))
        for i, target in enumerate(board.targets):
            means = [board.cells[(target, *c)].mean for c in board.columns if (target, *c) in board.cells]
            ax.bar([i + 0.2 * j for j in range(len(means))], means, width=0.2)
        path = ctx.out_dir / "sketch.png"
        fig.savefig(path, dpi=60)
        fig.savefig(path.with_suffix(".svg"))
        plt.close(fig)
        return [Figure(path, "Column means", "Bars: **mean** AUC of each `column` per target.",
                       extra=(path.with_suffix(".svg"),), facts={"targets": len(board.targets)})]


class BrokenVisualizer(Visualizer):
    name = "broken"
    description = "Always fails"

    def render(self, ctx):
        raise RuntimeError("the sketchbook is empty\nsecond line that the report must not show")


@hookimpl
def tlbench_register_visualizers(register):
    register(SketchVisualizer())
    register(BrokenVisualizer())
