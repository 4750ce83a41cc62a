"""Transferability estimates against measured AUC: per target, one panel per estimator, each source a point at
(its estimator score, its mean measured AUC) for each measured method, with the weighted Kendall tau and the
number of sources in the panel's title. Nothing is drawn before `tlbench estimate` has stored estimates."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict

import benchmark  # the analysis and its numerics load when a figure is drawn, through the facade
from benchmark import Figure, Visualizer, colour_of, hookimpl, save, styled

MARKERS = {"fe-svm": "o", "ft-svm": "s", "ft": "^"}


def _tau_text(comparisons) -> str:
    return " · ".join(f"{c.method} τ={'tied' if c.tied else 'n/a' if c.tau is None else f'{c.tau:+.2f}'} n={c.n}"
                      for c in comparisons)


class EstimatorsVisualizer(Visualizer):
    name = "estimators"
    description = "Transferability estimator scores against measured AUC per source, with the weighted Kendall tau"
    order = 80

    def render(self, ctx) -> list[Figure]:
        estimates = ctx.store.estimates()
        if not estimates:
            return []
        higher = {name: e.higher_is_better for name, e in ctx.catalog.estimators.items()}
        figures = defaultdict(lambda: defaultdict(list))  # (target, label, key) -> estimator -> comparisons
        for c in benchmark.compare(estimates, ctx.rows(), higher, ctx.metric):
            figures[(c.target, c.configuration, c.key)][c.estimator].append(c)
        named = Counter((target, label) for target, label, _ in figures)
        return [self._figure(ctx, target, label, key if named[(target, label)] > 1 else "", panels)
                for (target, label, key), panels in sorted(figures.items())]

    def _figure(self, ctx, target: str, configuration: str, key: str, panels: dict) -> Figure:
        """One target's figure under one configuration; ``key`` tells apart configurations of one label."""
        import matplotlib.pyplot as plt

        methods = sorted({c.method for cs in panels.values() for c in cs})
        metric = "AUC" if ctx.metric == "auc" else ctx.metric
        per_row = min(3, len(panels))
        rows = math.ceil(len(panels) / per_row)
        with styled():
            fig, axes = plt.subplots(rows, per_row, figsize=(3.8 * per_row, 3.4 * rows + 0.6), squeeze=False)
            for ax, (estimator, comparisons) in zip(axes.flat, sorted(panels.items()), strict=False):
                for c in comparisons:
                    colour = colour_of(c.method, methods)
                    for source, score, auc in c.points:
                        ax.scatter(score, auc, color=colour, marker=MARKERS.get(c.method, "D"), s=36, zorder=3)
                        ax.annotate(source, (score, auc), textcoords="offset points", xytext=(4, 3), fontsize=7)
                ax.margins(x=0.2, y=0.12)  # room for the source labels
                ax.set_title(f"{estimator}\n{_tau_text(comparisons)}", fontsize=8)
                ax.set_xlabel(f"{estimator} score")
                ax.set_ylabel(f"measured {metric} (mean over seeds)")
            for ax in axes.flat[len(panels):]:
                ax.axis("off")
            handles = [plt.Line2D([], [], color=colour_of(m, methods), marker=MARKERS.get(m, "D"), linestyle="",
                                  label=m) for m in methods]
            fig.legend(handles=handles, loc="upper center", ncol=len(handles), bbox_to_anchor=(0.5, 1.0),
                       frameon=False)
            shown = f"{configuration} ({key[:8]})" if key else configuration
            title = f"Transferability estimates against measured {metric} · {target} · {shown}"
            fig.suptitle(title, y=1.05)
            fig.tight_layout()
            stem = f"{target}-{configuration}" + (f"-{key[:8]}" if key else "")
            safe = re.sub(r"[^A-Za-z0-9._-]+", "-", stem.replace("@", "")).strip("-.")
            paths = save(fig, ctx.out_dir / f"estimators-{safe}.png", svg=True)
        n = max(c.n for cs in panels.values() for c in cs)
        caption = (f"Each point is a source: its transferability score on {target}'s training split (x) and its mean "
                   f"measured {metric} over seeds (y), per method. τ is the weighted Kendall tau (additive "
                   "hyperbolic weights) between the estimator's ranking of the sources and the measured one: +1 the "
                   "same order, -1 the reverse.")
        if n < 4:
            caption += f" With only {n} source(s), τ can take few values and says little."
        facts = {est: {c.method: {"tau": c.tau, "n": c.n} for c in cs} for est, cs in panels.items()}
        return Figure(paths[0], title, caption, paths[1:], facts)


@hookimpl
def tlbench_register_visualizers(register):
    register(EstimatorsVisualizer())
