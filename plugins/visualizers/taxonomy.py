"""The study's filter analysis, automated: every filter image classed as complex, direction, colour or noise
(``benchmark.report.filters.taxonomy``), each model's share of structural filters per stage, that share against the
AUC its source reached, and how much fine-tuning changed each stage's filters."""

from __future__ import annotations

import csv
from collections import defaultdict

import numpy as np

from benchmark import Figure, Visualizer, filter_analysis, hookimpl, save, styled

CRITERION = ("Classes by the documented rule of `benchmark.report.filters.taxonomy` (colour: flat or smooth; noise: no "
             "spectral peaks; direction: most energy in one 45° span of orientations; complex: the rest), which "
             "agrees with hand labels of this project's filters within each drawing style beyond what the style "
             "alone tells (kappa 0.56 regularised, 0.36 thesis; docs/taxonomy.md) and calls fewer filters direction "
             "than a person does: read direction shares as a lower bound.")


def model_classes(ctx, model) -> dict[int, list[str]]:
    """Each stage's filter classes of ``model`` (a ``ModelFilters``), computed once per report."""
    memo = ctx.memo.setdefault("taxonomy", {})
    if model.key not in memo:
        memo[model.key] = {stage.stage: filter_analysis.classify_many(list(stage.images)) for stage in model.stages}
    return memo[model.key]


def source_points(ctx, sources) -> tuple[list[tuple[str, float, float, str]], dict]:
    """(source, structural share of its model's filters over all stages, mean AUC over targets, method label)
    for each source model and each method that uses a source, from the first board holding the source; and
    Spearman's rho per method label."""
    points = []
    for model in sources:
        labels = [label for stage_labels in model_classes(ctx, model).values() for label in stage_labels]
        board = next((b for b in ctx.boards() if any(s == model.source for s, _ in b.columns)
                      and b.preset.get("image_size") == model.image_size), None)
        if board is None:
            continue
        for source, method in board.columns:
            if source != model.source:
                continue
            means = [board.cells[(t, source, method)].mean for t in board.targets if (t, source, method) in board.cells]
            if means:
                share = filter_analysis.structural_share(labels)
                points.append((model.source, share, float(np.mean(means)), board.label(method)))
    methods = sorted({p[3] for p in points})
    correlations = {m: filter_analysis.spearman([p[1] for p in points if p[3] == m],
                                                [p[2] for p in points if p[3] == m])
                    for m in methods}
    return points, correlations


def change_by_source(ctx) -> dict[str, dict[int, dict[str, float]]]:
    """For each source, per stage, the mean over its kept fine-tuned models of the share of filters whose
    class changed and of the relative weight distance, with the number of models."""
    collected: dict[str, dict[int, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for before, after in filter_analysis.filter_pairs(ctx):
        classes_before, classes_after = model_classes(ctx, before), model_classes(ctx, after)
        for stage in classes_after:
            change = filter_analysis.filter_change(classes_before[stage], classes_after[stage],
                                                   before.stage_weights[stage], after.stage_weights[stage])
            collected[after.source][stage].append(change)
    return {source: {stage: {"changed_share": float(np.mean([c["changed_share"] for c in changes])),
                             "relative_distance": float(np.mean([c["relative_distance"] or 0.0 for c in changes])),
                             "models": len(changes)}
                     for stage, changes in stages.items()}
            for source, stages in collected.items()}


def _change_figure(ctx, changes: dict, style: str) -> Figure:
    import matplotlib.pyplot as plt

    sources = sorted(changes)
    stages = sorted({stage for per_stage in changes.values() for stage in per_stage})
    with styled():
        fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.8), layout="constrained")
        width = 0.8 / len(sources)
        for index, source in enumerate(sources):
            x = np.arange(len(stages)) + (index - (len(sources) - 1) / 2) * width
            for ax, key, scale in ((axes[0], "changed_share", 100), (axes[1], "relative_distance", 1)):
                ax.bar(x, [changes[source].get(s, {}).get(key, np.nan) * scale for s in stages], width * 0.92,
                       label=f"{source} ({changes[source][stages[0]]['models']} models)")
        for ax, label in ((axes[0], "filters that changed class, %"), (axes[1], "‖after − before‖ / ‖before‖")):
            ax.set_xticks(range(len(stages)), [f"stage {s}" for s in stages])
            ax.set_ylabel(label)
        axes[0].set_title("Filters whose class fine-tuning changed")
        axes[1].set_title("Relative weight change up to each stage")
        axes[1].legend(title="source")
        paths = save(fig, ctx.out_dir / "taxonomy-change.png", svg=True)
    title = "How fine-tuning changed the filters, per source and stage"
    caption = (f"For every kept fine-tuned model, its filters ({style} style) against those of the weights it "
               "started from (the source model with that experiment's seed): left, the share of filters whose "
               "class changed; right, the norm of the weights' change over their norm before, for all layers up to "
               "and including the stage; means over the source's models (targets and seeds). Low values mean the "
               "features were reused; high ones that fine-tuning rebuilt them.")
    return Figure(paths[0], title, caption, paths[1:], {"change": {s: {str(k): v for k, v in per.items()}
                                                                   for s, per in changes.items()}})


def _write_classes(ctx, models) -> str:
    path = ctx.out_dir / "taxonomy.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["model", "kind", "source", "target", "seed", "stage", "channel", "class", "activation"])
        for model in models:
            classes = model_classes(ctx, model)
            for stage in model.stages:
                for channel, label, activation in zip(stage.channels, classes[stage.stage], stage.activations,
                                                      strict=True):
                    writer.writerow([model.key, model.kind, model.source or "", model.target or "", model.seed,
                                     stage.stage, channel, label, f"{activation:.6g}"])
    return path


class TaxonomyVisualizer(Visualizer):
    name = "taxonomy"
    description = "Filters classed as complex, direction, colour or noise; structural share against transfer AUC"
    order = 65

    def render(self, ctx) -> list[Figure]:
        models = filter_analysis.model_filters(ctx)
        if not models:
            return []
        sources = [m for m in models if m.kind == "source"]
        shown = [(m.label, model_classes(ctx, m)) for m in sources] + _fine_tuned_means(ctx, models)
        figures = []
        shares = {label: {f"stage {s}": filter_analysis.class_shares(labels) for s, labels in classes.items()}
                  for label, classes in shown}
        csv_path = _write_classes(ctx, models)
        path = filter_analysis.share_bars(shares, ctx.out_dir / "taxonomy-shares.png", svg=True)
        figures.append(Figure(
            path, "Filter classes per model and stage",
            "Each bar is one stage's filters of one model, split into the four classes "
            f"({', '.join(filter_analysis.CLASSES)}); "
            f"structural filters are complex and direction. Fine-tuned models are pooled per source. {CRITERION} "
            f"Every filter's class is in `{csv_path.name}`.", (path.with_suffix(".svg"), csv_path),
            {"shares": shares}))
        points, correlations = source_points(ctx, sources)
        if points:
            path = filter_analysis.share_scatter(points, ctx.out_dir / "taxonomy-transfer.png", svg=True)
            described = "; ".join(_describe(method, c) for method, c in correlations.items())
            listed = "; ".join(f"{source}: {share:.0%} structural, " + ", ".join(
                f"{method} {auc:.3f}" for s, _, auc, method in points if s == source)
                for source, share in dict.fromkeys((p[0], p[1]) for p in points))
            figures.append(Figure(
                path, "Structural share of each source's filters against its transfer AUC",
                "Each point is a source: the share of its model's filters (stages together) that are structural "
                "against the mean AUC over the targets its experiments ran on (targets differ between sources "
                f"where a source was skipped for leaking into one): {listed}. {described}. With few sources no rank "
                "correlation can be told from chance; the study's claim needs more of them.",
                (path.with_suffix(".svg"),), {"spearman": correlations,
                                              "points": [list(p) for p in points]}))
        changes = change_by_source(ctx)
        if changes:
            figures.append(_change_figure(ctx, changes, ctx.style))
        return figures


def _fine_tuned_means(ctx, models) -> list:
    """(label, per-stage classes) of the kept fine-tuned models pooled per source (all targets and seeds)."""
    pooled: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    counts: dict[str, int] = defaultdict(int)
    for model in models:
        if model.kind != "fine-tuned":
            continue
        counts[model.source] += 1
        for stage, labels in model_classes(ctx, model).items():
            pooled[model.source][stage] += labels
    return [(f"{source} after FT ({counts[source]} models)", dict(stages)) for source, stages in sorted(pooled.items())]


def _describe(method: str, correlation: dict) -> str:
    if correlation["rho"] is None:
        return f"{method}: no Spearman rho ({correlation['reason']})"
    exact = ", exact" if correlation.get("exact") else ""
    rho, p, n = correlation["rho"], correlation["p"], correlation["n"]
    return f"{method}: Spearman rho {rho:.2f} (p = {p:.3f}{exact}, n = {n})"


@hookimpl
def tlbench_register_visualizers(register):
    register(TaxonomyVisualizer())
