"""Filter images of every model of a run folder, by activation maximisation (see
:mod:`benchmark.report.filters.activationmax` for the two styles): one grid per model and stage with every channel,
and one grid of the first convolution's kernels per model.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from benchmark import DPI, Figure, Visualizer, filter_analysis, hookimpl, save, styled

if TYPE_CHECKING:
    from benchmark import VisualizerContext

TILE, KERNEL_TILE, LABEL, GAP, TITLE, MIN_WIDTH = 96, 48, 14, 4, 34, 480  # pixels on the page
READING = {
    "thesis": "Each tile is the image that excites one channel most after 20 steps of normalised gradient ascent from "
              "noise (the study's method), contrast-stretched: oriented stripes and repeated shapes are structural "
              "filters, flat colour or speckle are not.",
    "regularised": "Each tile is the image that excites one channel most, optimised with jitter, scaling and "
                   "rotation in a decorrelated Fourier parameterisation (Olah et al. 2017): edges, stripes and "
                   "textures are structural filters, flat colour or noise are not; a grey tile is a channel that "
                   "no image tried could activate.",
}


def grid_shape(count: int) -> tuple[int, int]:
    """Rows and columns of a square-ish grid for ``count`` tiles (16 x 16 for 256)."""
    columns = max(1, math.ceil(math.sqrt(count)))
    return math.ceil(count / columns), columns


def _tile(image: np.ndarray, side: int) -> np.ndarray:
    """A [0, 1] (H, W, 3) image as a uint8 ``side`` x ``side`` tile (nearest when enlarged by a whole factor)."""
    pixels = Image.fromarray((np.clip(image, 0, 1) * 255).round().astype(np.uint8))
    factor = side // image.shape[0]
    if factor >= 1 and side % image.shape[0] == 0:
        return np.asarray(pixels.resize((side, side), Image.NEAREST))
    return np.asarray(pixels.resize((side, side), Image.LANCZOS))


def draw_grid(images: np.ndarray, labels: list[str], title: str, path: Path, side: int) -> Path:
    """Tiles of ``side`` px in a square-ish grid, each under a small label, the title wrapped above; the PNG's
    size in pixels follows from the count alone."""
    rows, columns = grid_shape(len(images))
    cell_w, cell_h = side + GAP, side + LABEL + GAP
    width = max(columns * cell_w, MIN_WIDTH)
    canvas = np.full((TITLE + rows * cell_h, width, 3), 255, np.uint8)
    for i, image in enumerate(images):
        y, x = divmod(i, columns)
        top, left = TITLE + y * cell_h + LABEL, x * cell_w
        canvas[top : top + side, left : left + side] = _tile(image, side)
    import matplotlib.pyplot as plt

    with styled(), plt.rc_context({"savefig.bbox": "standard"}):
        fig = plt.figure(figsize=(canvas.shape[1] / DPI, canvas.shape[0] / DPI))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.imshow(canvas, interpolation="nearest")
        ax.axis("off")
        ax.text(2, 2, textwrap.fill(title, max(20, width // 8)), ha="left", va="top", fontsize=7)
        for i, label in enumerate(labels):
            y, x = divmod(i, columns)
            ax.text(x * cell_w + side / 2, TITLE + y * cell_h + LABEL - 2, label, ha="center", va="bottom",
                    fontsize=5)
        save(fig, path)
    # 256 colours suffice for tiles of 32 to 224 px shown at 96; a grid takes 40% of the bytes (the report's
    # HTML embeds every grid)
    Image.open(path).convert("RGB").quantize(256, dither=Image.Dither.NONE).save(path, optimize=True)
    return path


def _stage_figures(ctx: VisualizerContext, model: filter_analysis.ModelFilters) -> list[Figure]:
    figures = []
    for stage in model.stages:
        n = len(stage.channels)
        path = ctx.out_dir / f"filters-{model.key}-stage{stage.stage}.png"
        labels = [f"{c} · {a:.2g}" for c, a in zip(stage.channels, stage.activations, strict=True)]
        title = f"{model.label} · stage {stage.stage} ({stage.module}) · {n} channels · {model.style}"
        draw_grid(stage.images, labels, title, path, TILE)
        dead = int((stage.activations <= 0).sum())
        caption = (f"Filter images of all {n} channels of stage {stage.stage} (`{stage.module}`) of {model.label} "
                   f"({model.kind}), {model.image_size} px, style {model.style}. {READING[model.style]} Each tile "
                   f"is labelled with its channel and the mean activation its image reached; {dead} of {n} "
                   "reached none.")
        facts = {"model": model.key, "kind": model.kind, "stage": stage.stage, "channels": n, "style": model.style,
                 "mean_activation": float(np.mean(stage.activations)), "inactive_channels": dead}
        figures.append(Figure(path, title, caption, facts=facts))
    return figures


def _first_conv_figure(ctx: VisualizerContext, model: filter_analysis.ModelFilters) -> Figure:
    kernels = model.first_conv
    scale = max(float(np.abs(kernels).max()), 1e-12)
    shown = 0.5 + 0.5 * kernels / scale
    side = kernels.shape[1] * max(1, KERNEL_TILE // kernels.shape[1])
    path = ctx.out_dir / f"filters-{model.key}-conv1.png"
    title = f"{model.label} · first convolution · {len(kernels)} kernels {kernels.shape[1]}x{kernels.shape[2]}"
    draw_grid(shown, [str(i) for i in range(len(kernels))], title, path, side)
    caption = (f"The {len(kernels)} kernels of the first convolution of {model.label} ({model.kind}) as RGB, "
               f"scaled together so that mid-grey is 0 (largest weight {scale:.3g}): a colour brighter than grey "
               "weighs that input colour positively, a darker one negatively; edges show as a light and a dark "
               "band side by side, colour detectors as one flat colour.")
    return Figure(path, title, caption, facts={"model": model.key, "kind": model.kind, "kernels": len(kernels),
                                                "largest_weight": scale})


class FilterVisualizer(Visualizer):
    name = "filters"
    description = "Activation-maximisation images of every channel of stages 1-3 of every model, and first-conv kernels"
    order = 60

    def render(self, ctx: VisualizerContext) -> list[Figure]:
        figures = []
        for model in drawn(filter_analysis.model_filters(ctx)):
            figures += _stage_figures(ctx, model)
            figures.append(_first_conv_figure(ctx, model))
        return figures


def drawn(models: list[filter_analysis.ModelFilters]) -> list[filter_analysis.ModelFilters]:
    """The models whose grids are drawn: every source model, and of the fine-tuned ones the lowest seed per
    source, target and method (the others' filters still count in the taxonomy; drawing every seed would
    put 4 grids per fine-tuning into the report)."""
    firsts: dict[tuple, filter_analysis.ModelFilters] = {}
    for model in models:
        if model.kind == "fine-tuned":
            key = (model.source, model.target, model.method, model.image_size)
            if key not in firsts or model.seed < firsts[key].seed:
                firsts[key] = model
    return [m for m in models if m.kind == "source" or firsts.get((m.source, m.target, m.method, m.image_size)) is m]


@hookimpl
def tlbench_register_visualizers(register):
    register(FilterVisualizer())
