"""``tlbench show``, ``visualize`` and ``doctor``: what a run folder holds."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.markup import escape

from benchmark.cli.app import (
    EXIT_FAILED,
    EXIT_NOTHING_RAN,
    _catalog,
    _settings,
    console,
    data_root_option,
    main,
    out_option,
    plugin_option,
)


@main.command("doctor")
@out_option
@click.option("--quarantine", is_flag=True,
              help="Move the rows that cannot be used into a side table (experiments_quarantine, "
                   "estimates_quarantine); their experiments then run again.")
def doctor_command(out_dir, quarantine):
    """Check the run folder's results database, its pages and then each row; salvage the readable rows of a
    damaged file into a new one, and list the rows whose values cannot be used (exit 1 while any is left in
    place)."""
    from benchmark.run.store import QUARANTINE_SUFFIX
    from benchmark.run.storerepair import check_rows, repair

    try:
        result = repair(out_dir)
    except FileNotFoundError as error:
        console.print(f"[red]error:[/] {escape(str(error))}")
        sys.exit(EXIT_FAILED)
    shown = escape(str(result.path))
    if not result.damaged:
        console.print(f"{shown}: pages intact")
    else:
        counts = ", ".join(f"{result.salvaged[t]} {t}" + (f" ({result.lost[t]} unreadable)" if result.lost[t] else "")
                           for t in result.salvaged)
        console.print(f"{shown} was damaged ({escape(result.problem)}); salvaged into a new store: {counts}. "
                      f"The damaged file is kept as {escape(str(result.kept))}. `tlbench run` with the same options "
                      "runs what was lost again.")
    rows = check_rows(out_dir, quarantine)
    checked = ", ".join(f"{count} {table}" for table, count in rows.checked.items())
    if not rows.bad:
        console.print(f"rows: {checked} checked, all usable")
    else:
        console.print(f"rows: {checked} checked; [red]{len(rows.bad)} cannot be used[/]:")
        for table, _, row, problem in rows.bad:
            console.print(f"  {table} row {escape(row)}: {escape(problem)}")
    for table, count in rows.quarantined.items():
        console.print(f"{count} row(s) set aside in {table}{QUARANTINE_SUFFIX}")
    if rows.moved:
        console.print(f"moved {len(rows.bad)} row(s) aside; `tlbench run` with the same options runs their "
                      "experiments again")
    elif rows.bad:
        console.print(f"they are left out of boards, reports and estimates, and their experiments run again; "
                      f"`tlbench doctor --out {escape(str(out_dir))} --quarantine` moves them aside")
        sys.exit(EXIT_FAILED)


def _metric(name: str) -> str:
    """``--metric``, checked against the light list of metric names (the leaderboard's statistics load only when a
    board is built)."""
    from benchmark.report.metricnames import METRICS

    if name not in METRICS:
        raise click.BadParameter(f"{name!r}: use one of {', '.join(METRICS)}")
    return name


@main.command("show")
@out_option
@click.option("--format", "fmt", type=click.Choice(["table", "md", "csv", "json", "latex"]), default="table",
              show_default=True)
@click.option("--metric", default="auc", show_default=True, callback=lambda ctx, param, value: _metric(value),
              help="auc (the preset's reported definition: the study's macro curve, or one-vs-rest), "
                   "auc_macro_curve, auc_ovr, accuracy or balanced_accuracy.")
@click.pass_context
def show_command(ctx, out_dir, fmt, metric):
    """Render the leaderboard again from a run folder's store: one board per configuration."""
    from benchmark.report import leaderboard, render
    from benchmark.run.store import STORE_FILE, Store

    if not (out_dir / STORE_FILE).exists():
        raise click.UsageError(f"no results in {out_dir}: run `tlbench run --all --out {out_dir}` first")
    store = Store(out_dir)
    rows = store.rows()
    if fmt != "json" and not any(row["status"] == "passed" for row in rows):  # json still lists the failures
        hint = (f"`tlbench show --out {out_dir} --format json` lists them with their errors" if rows
                else f"`tlbench doctor --out {out_dir}` checks its rows")
        click.echo(f"no passed result in {out_dir}: {_counted(rows)}; {hint}", err=True)
        sys.exit(EXIT_NOTHING_RAN)
    boards = leaderboard.build_boards(rows, metric, methods=_catalog(ctx, ()).methods, run_dir=out_dir)
    if fmt == "json":
        click.echo(render.render_json(rows, boards, store.attempts()))
    elif fmt == "table":
        console.print(render.render_rich(boards))
    else:
        renderer = {"md": render.render_markdown, "csv": render.render_csv, "latex": render.render_latex}[fmt]
        click.echo(renderer(boards), nl=False)


def _counted(rows: list[dict]) -> str:
    """How many usable rows the store holds, by status ("no usable row" for none)."""
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    return ", ".join(f"{count} {status}" for status, count in sorted(statuses.items())) or "no usable row"


@main.command("visualize")
@plugin_option
@click.argument("names", nargs=-1)
@out_option
@data_root_option
@click.option("--device", default="auto", show_default=True)
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None)
@click.option("--style", type=click.Choice(["regularised", "thesis"]), default="regularised", show_default=True,
              help="How filter images are drawn: regularised (Olah et al. 2017) or thesis (the study's method).")
@click.pass_context
def visualize_command(ctx, plugin_args, names, out_dir, data_root, device, cache_dir, style):
    """Make the figures of the named visualisers (all by default) into OUT/figures, from the models
    and results of the run folder."""
    from benchmark.report.figures import VisualizerContext
    from benchmark.run.store import STORE_FILE, Store
    from benchmark.visualizers import as_figure

    catalog = _catalog(ctx, plugin_args, data_root)
    unknown = [n for n in names if n not in catalog.visualizers]
    if unknown:
        raise click.UsageError(f"unknown visualizer(s) {', '.join(unknown)}; known: {', '.join(catalog.visualizers)}")
    if not (out_dir / STORE_FILE).exists():
        raise click.UsageError(f"no results in {out_dir}: run `tlbench run --all --out {out_dir}` first")
    settings = _settings(ctx, data_root, device, cache_dir=cache_dir)
    figures = out_dir / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    vctx = VisualizerContext(Store(out_dir), catalog, settings, figures, style=style)
    for name in names or list(catalog.visualizers):
        for item in catalog.visualizers[name].render(vctx):
            console.print(f"{escape(name)}: {escape(str(as_figure(item).path))}")
    for warning in vctx.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)


@main.command("report")
@plugin_option
@out_option
@click.option("--to", "to_dir", type=click.Path(path_type=Path), default=None,
              help="Folder for the report's files [default: OUT/report].")
@click.option("-v", "visualizer_names", multiple=True, metavar="NAME",
              help="Draw only this visualiser's figures (repeatable; default: every visualiser).")
@click.option("--style", type=click.Choice(["regularised", "thesis"]), default="regularised", show_default=True,
              help="How filter images are drawn: regularised, or as the study drew them (thesis).")
@click.option("--metric", default="auc", show_default=True, callback=lambda ctx, param, value: _metric(value),
              help="The boards' metric, as for `tlbench show`.")
@data_root_option
@click.option("--device", default="auto", show_default=True)
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="Cache holding the source models the run trained [env TLBENCH_CACHE, or cache_dir in tlbench.toml; "
                   "default ~/.cache/tlbench].")
@click.pass_context
def report_command(ctx, plugin_args, out_dir, to_dir, visualizer_names, style, metric, data_root, device, cache_dir):
    """Write the run folder's report: report.md, a self-contained report.html, table.tex, results.csv and the
    visualisers' figures. Exits non-zero, after writing the rest, when a visualiser fails."""
    from rich.table import Table

    from benchmark.report.build import build_report
    from benchmark.report.figures import VisualizerContext
    from benchmark.report.folder import ReportFolderError, staged
    from benchmark.report.progress import ReportProgress
    from benchmark.run.store import STORE_FILE, Store

    catalog = _catalog(ctx, plugin_args, data_root)
    unknown = [n for n in visualizer_names if n not in catalog.visualizers]
    if unknown:
        raise click.UsageError(f"unknown visualizer(s) {', '.join(unknown)}; known: {', '.join(catalog.visualizers)}")
    if not (out_dir / STORE_FILE).exists() or not (store := Store(out_dir)).rows():
        raise click.UsageError(f"no results in {out_dir}: run `tlbench run --all --out {out_dir}` first")
    settings = _settings(ctx, data_root, device, cache_dir=cache_dir)
    folder = to_dir or out_dir / "report"
    chosen = [catalog.visualizers[n] for n in dict.fromkeys(visualizer_names or catalog.visualizers)]
    try:
        with staged(folder) as staging, ReportProgress(console) as progress:
            vctx = VisualizerContext(store, catalog, settings, staging, style=style, metric=metric, progress=progress)
            written, failures = build_report(vctx, chosen)
            shown = [(_shown(path, staging), path.stat().st_size) for path in written]
    except ReportFolderError as error:
        console.print(f"[red]error:[/] {escape(str(error))}", soft_wrap=True)
        sys.exit(EXIT_FAILED)
    console.print(f"Report written to {escape(str(folder))}:")
    table = Table()
    table.add_column("file")
    table.add_column("size", justify="right")
    for name, size in shown:
        table.add_row(escape(name), f"{size / 1024:,.1f} KiB")
    console.print(table)
    for warning in vctx.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    for name, error in failures:
        console.print(f"[red]visualizer {escape(name)} failed:[/] {escape(error)}")
    if failures:
        sys.exit(EXIT_FAILED)


def _shown(path: Path, folder: Path) -> str:
    """``path`` relative to the report folder where it lies inside it."""
    try:
        return str(path.resolve().relative_to(folder.resolve()))
    except ValueError:
        return str(path)
