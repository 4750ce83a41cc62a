"""``tlbench estimate``: transferability estimates of the sources for each target, ranked, and their agreement
with the measured ranking where the run folder has one."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.markup import escape
from rich.table import Table

from benchmark.acceleration import PRECISIONS
from benchmark.cli.app import (
    EXIT_NOTHING_RAN,
    _catalog,
    _log_to,
    _settings,
    console,
    data_root_option,
    main,
    out_option,
    plugin_option,
)
from benchmark.presets import PRESETS

if TYPE_CHECKING:
    from benchmark.registry.catalog import Catalog
    from benchmark.run.estimate import Estimate
    from benchmark.settings import RunSettings


def _targets(catalog: Catalog, settings: RunSettings, wanted: tuple[str, ...], rows: list[dict]) -> list[str]:
    """The target tasks ``-d`` names (a dataset stands for its target tasks), else those of the store's results,
    else every target whose data is available."""
    targets = catalog.target_tasks()
    if wanted:
        unknown = [w for w in wanted if w not in targets and all(ds.name != w for ds, _ in targets.values())]
        if unknown:
            raise click.UsageError(f"unknown target(s) {', '.join(unknown)} (known: {', '.join(sorted(targets))})")
        return [t for t, (ds, _) in targets.items() if t in wanted or ds.name in wanted]
    stored = sorted({row["target"] for row in rows} & set(targets))
    return stored or [t for t, (ds, _) in targets.items() if ds.status(settings.data_root).available]


def _settings_for(target: str, settings: RunSettings, rows: list[dict], preset: str,
                  precision: str = "auto") -> RunSettings:
    """The settings with the preset and the precision of the target's latest stored result (so that estimates
    and measured AUCs come from the same weights and images) unless ``--preset`` / ``--precision`` name one,
    else as given."""
    from benchmark.presets import Preset

    stored = [row for row in rows if row["target"] == target and row.get("preset")]
    if not stored:
        return settings
    latest = max(stored, key=lambda row: row["finished_at"] or "")
    if preset == "auto":
        settings = dataclasses.replace(settings, preset=Preset.from_fields(latest["preset"]))
    stored_precision = ((latest.get("config") or {}).get("runtime") or {}).get("precision")
    if precision == "auto" and stored_precision in ("fp32", "bf16"):
        settings = dataclasses.replace(settings, precision=stored_precision)
    return settings


def _print_skipped(skipped: list[tuple[str, str]], requested: tuple[str, ...]) -> None:
    """A leak, or a source asked for by name, with its reason; the other sources without data or weights on
    one line."""
    from benchmark.run.skips import LEAK, TARGET

    unavailable = []
    if any(reason.kind == TARGET for _, reason in skipped):  # the target's data is missing: every source says so
        console.print(f"[yellow]skipped:[/] {escape(str(skipped[0][1]))}")
        return
    for name, reason in skipped:
        if name in requested or reason.kind == LEAK:
            console.print(f"[yellow]skipped source {escape(name)}:[/] {escape(str(reason))}")
        else:
            unavailable.append(name)
    if unavailable:
        console.print(f"[yellow]skipped for want of data or weights:[/] {escape(', '.join(unavailable))} "
                      "(`tlbench list` says what each needs)")


def _ranking_table(target: str, found: list[Estimate], estimators: list) -> Table:
    """One column per estimator: the sources from the best score down, with the score and its seconds."""
    table = Table(title=f"{escape(target)}: sources ranked by each estimator (score, estimator seconds)",
                  title_justify="left")
    table.add_column("rank", justify="right")
    columns = []
    for estimator in estimators:
        table.add_column(escape(estimator.name) + ("" if estimator.higher_is_better else " (lower is better)"))
        scored = [e for e in found if e.estimator == estimator.name and e.score is not None]
        scored.sort(key=lambda e: e.score, reverse=estimator.higher_is_better)
        cells = [f"{escape(e.source)}  {e.score:.4g}  ({e.seconds:.2f} s)" for e in scored]
        unscored = [e for e in found if e.estimator == estimator.name and e.score is None]
        cells += [f"[dim]{escape(e.source)}: n/a ({escape(e.note)})[/]" for e in unscored]
        columns.append(cells)
    for rank in range(max((len(c) for c in columns), default=0)):
        table.add_row(str(rank + 1), *(c[rank] if rank < len(c) else "" for c in columns))
    return table


def _agreement_table(target: str, comparisons: list, estimators: list) -> tuple[Table, int]:
    """The weighted Kendall tau of each estimator's scores against each measured method's mean AUC (``tied`` where
    the estimator gives every source one score), and the fewest sources any of them was computed over."""
    methods = sorted({c.method for c in comparisons})
    table = Table(title=f"{escape(target)}: weighted Kendall tau against the measured mean AUC per source",
                  title_justify="left")
    table.add_column("estimator")
    for method in methods:
        table.add_column(escape(method), justify="right")
    by_pair = {(c.estimator, c.method): c for c in comparisons}
    fewest = None
    for estimator in estimators:
        cells = []
        for method in methods:
            c = by_pair.get((estimator.name, method))
            if c is None:
                cells.append("")
                continue
            fewest = c.n if fewest is None else min(fewest, c.n)
            tau = "tied scores" if c.tied else "undefined" if c.tau is None else f"{c.tau:+.3f}"
            cells.append(f"{tau} (n={c.n})")
        table.add_row(escape(estimator.name), *cells)
    return table, fewest or 0


@main.command("estimate")
@plugin_option
@out_option
@click.option("-d", "--dataset", "datasets", multiple=True,
              help="Target dataset or task (repeatable) [default: the targets of the run folder's results, else "
                   "every available target].")
@click.option("-s", "--source", "sources", multiple=True,
              help="Source (repeatable) [default: every source usable with the target].")
@click.option("-e", "--estimator", "estimator_names", multiple=True,
              help="Estimator (repeatable) [default: every registered one].")
@click.option("--preset", default="auto", show_default=True,
              help=f"Protocol preset: auto (each target's latest stored result's, else as for run) or one of "
                   f"{', '.join(PRESETS)}.")
@data_root_option
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="Cache of decoded images, features and source models [env TLBENCH_CACHE, or cache_dir in "
                   "tlbench.toml; default ~/.cache/tlbench].")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
              help="Float precision of the source models' features: auto (each target's latest stored result's, "
                   "else as for run) or fp32 / bf16.")
@click.pass_context
def estimate_command(ctx, plugin_args, out_dir, datasets, sources, estimator_names, preset, data_root, cache_dir,
                     device, precision):
    """Score every usable source for each target with the transferability estimators (LEEP, LogME, ...) on the
    target's training split (the preset's first seed), print the sources ranked by each, store the scores in the
    run folder, and where it holds fe-svm / ft-svm results of those sources, the weighted Kendall tau between
    each estimator's ranking and the measured one."""
    from benchmark.report.estimates import FEW_SOURCES, TIE_TOLERANCE, compare, settings_key
    from benchmark.run.estimate import Estimation
    from benchmark.run.store import Store

    catalog = _catalog(ctx, plugin_args, data_root)
    settings = _settings(ctx, data_root, device, preset, cache_dir=cache_dir, precision=precision)
    for kind, names, known in (("estimator", estimator_names, catalog.estimators),
                               ("source", sources, catalog.all_sources())):
        unknown = [n for n in names if n not in known]
        if unknown:
            raise click.UsageError(f"unknown {kind}(s) {', '.join(unknown)} (known: {', '.join(known) or 'none'})")
    estimators = [catalog.estimators[n] for n in dict.fromkeys(estimator_names or catalog.estimators)]
    if not estimators:
        raise click.UsageError("no estimator is registered: `tlbench plugins` shows which plugins are broken")
    store = Store(out_dir)
    rows = store.rows("passed")
    if not datasets and not rows and (unused := store.rows()):
        console.print(f"[yellow]no passed result in {escape(str(out_dir))}[/] ({len(unused)} other row(s)) to take "
                      "the targets and preset from: name the targets with -d, or run them first")
        sys.exit(EXIT_NOTHING_RAN)
    _log_to(console)
    for target in _targets(catalog, settings, datasets, rows):
        target_settings = _settings_for(target, settings, rows, preset, precision)
        estimation = Estimation(catalog, target_settings, store)
        usable, skipped = estimation.usable_sources(target, sources)
        preset_used = target_settings.preset
        console.print(f"[bold]{escape(target)}[/] · preset {escape(preset_used.name)}: "
                      f"{escape(preset_used.backbone)} @ {preset_used.image_size}px · training split of seed "
                      f"{estimation.seed} (the preset's first)")
        _print_skipped(skipped, sources)
        if not usable:
            console.print("[yellow]no usable source to estimate[/]")
            continue
        found = estimation.estimate(target, usable, estimators)
        console.print(_ranking_table(target, found, estimators))
        seconds = {e.source: e.feature_seconds for e in found}
        console.print(f"{found[0].n_samples} training images; features and source predictions took "
                      + ", ".join(f"{escape(s)} {t:.2f} s" for s, t in seconds.items()))
        key = settings_key(target_settings)
        comparisons = [c for c in compare(store.estimates(), rows, {e.name: e.higher_is_better for e in estimators},
                                          sources=set(usable))
                       if c.target == target and c.key == key and c.estimator in {e.name for e in estimators}]
        measured: dict[str, dict[str, float]] = {}
        for c in comparisons:  # estimators that score fewer sources (LEEP: none for random) compare fewer points
            measured.setdefault(c.method, {}).update({s: auc for s, _, auc in c.points})
        compared = {s for values in measured.values() for s in values}
        elsewhere = sorted({row["source"] for row in rows if row["target"] == target and row["source"] in usable
                            and row["source"] not in compared})
        if elsewhere:
            console.print(f"[dim]{escape(', '.join(elsewhere))}: results only under another configuration (preset "
                          "fields, device, data or weights), not compared with these estimates[/]")
        if not comparisons:
            console.print(f"no fe-svm or ft-svm results on {escape(target)} in {escape(str(out_dir))} to compare "
                          f"with: `tlbench run -d {escape(target)} -m fe-svm -m ft-svm --out {escape(str(out_dir))}` "
                          "measures them")
            continue
        for method, values in sorted(measured.items()):
            ranked = sorted(values.items(), key=lambda item: -item[1])
            console.print(f"measured {escape(method)} mean AUC: "
                          + ", ".join(f"{escape(s)} {v:.3f}" for s, v in ranked))
        table, fewest = _agreement_table(target, comparisons, estimators)
        console.print(table)
        if any(c.tied for c in comparisons):
            console.print(f"[yellow]tied scores: the estimator gives every source one score (within a relative "
                          f"{TIE_TOLERANCE:g}), so it ranks nothing and no tau is printed[/]")
        if fewest < FEW_SOURCES:
            console.print(f"[yellow]a tau over fewer than {FEW_SOURCES} sources (n) can take only a few values and "
                          "says little about an estimator[/]")
    console.print(f"estimates stored in {escape(str(store.path))}")
