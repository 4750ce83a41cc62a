"""The filter taxonomy in figures: the classes of each model's filters, and the structural share against AUC."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt

from benchmark.report.filters.taxonomy import CLASSES
from benchmark.report.filters.transfer import spearman
from benchmark.report.style import GREY, PALETTE, colour_of, save, styled

# structural classes in warm colours, the others in cool ones; fixed so every report reads alike
CLASS_COLOURS = {"complex": PALETTE[3], "direction": PALETTE[1], "colour": PALETTE[2], "noise": GREY}
_MARKERS = ("o", "s", "^", "D", "v")
_PANELS_PER_ROW = 4


def share_scatter(points: list[tuple[str, float, float, str]], path: Path, svg: bool = False) -> Path:
    """Draw each ``(label, structural share 0-1, mean AUC across targets, method)`` point as share (%)
    against AUC, labelled by ``label`` (the source), one colour and marker per method, with each method's
    Spearman rho, p and n (or why there is none) in the legend; save it as ``path``; return ``path``."""
    if not points:
        raise ValueError("no points to draw")
    methods = sorted({method for *_, method in points})
    with styled():
        fig, ax = plt.subplots(figsize=(6.4, 4.8), layout="constrained")
        for index, method in enumerate(methods):
            mine = [(label, share, auc) for label, share, auc, m in points if m == method]
            shares = [share * 100 for _, share, _ in mine]
            aucs = [auc for *_, auc in mine]
            ax.scatter(shares, aucs, color=colour_of(method, methods), marker=_MARKERS[index % len(_MARKERS)], s=42,
                       label=f"{method.upper()}: {_describe(spearman(shares, aucs))}", zorder=3)
            for label, share, auc in mine:
                ax.annotate(label, (share * 100, auc), xytext=(4, 3), textcoords="offset points", fontsize=8)
        ax.set_xlabel("structural filters (complex + direction), %")
        ax.set_ylabel("mean AUC across targets")
        ax.set_title("Structural share of the source's filters against transfer")
        fig.legend(loc="outside lower center", ncols=1)
        save(fig, path, svg)
    return Path(path)


def share_bars(shares: dict[str, dict[str, dict[str, float]]], path: Path, svg: bool = False) -> Path:
    """Draw ``shares[model][stage][class]`` (0-1; a missing class counts 0) as stacked bars of the four
    classes, one panel per model and one bar per stage, each class in its :data:`CLASS_COLOURS` colour; save
    it as ``path``; return ``path``."""
    if not shares:
        raise ValueError("no models to draw")
    rows = math.ceil(len(shares) / _PANELS_PER_ROW)
    columns = min(len(shares), _PANELS_PER_ROW)
    widest = max(len(stages) for stages in shares.values())
    with styled():
        width = max(2.2, 0.9 + 0.45 * widest)
        fig, axes = plt.subplots(rows, columns, figsize=(columns * width + 0.6, 2.9 * rows + 0.9), sharey=True,
                                 squeeze=False, layout="constrained")
        for ax in axes.flat[len(shares):]:
            ax.axis("off")
        for ax, (model, stages) in zip(axes.flat, shares.items(), strict=False):
            names = [str(stage) for stage in stages]
            bottom = [0.0] * len(names)
            for name in CLASSES:
                heights = [100 * by_class.get(name, 0.0) for by_class in stages.values()]
                ax.bar(names, heights, bottom=bottom, color=CLASS_COLOURS[name], width=0.7, label=name)
                bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
            ax.set_title(model, fontsize=9)
            ax.set_ylim(0, 100)
            ax.set_xlabel("stage")
            ax.grid(axis="x", visible=False)
        for ax in axes[:, 0]:
            ax.set_ylabel("filters, %")
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=len(CLASSES), fontsize=8)
        fig.suptitle("Filter classes per model and stage")
        save(fig, path, svg)
    return Path(path)


def _describe(correlation: dict) -> str:
    if correlation["rho"] is None:
        return f"no Spearman rho ({correlation['reason']})"
    p = "p < 0.001" if correlation["p"] < 0.001 else f"p = {correlation['p']:.3f}"
    p += " (exact)" if correlation.get("exact") else ""
    return f"Spearman rho = {correlation['rho']:.2f}, {p}, n = {correlation['n']}"
