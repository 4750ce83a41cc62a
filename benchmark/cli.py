"""The ``tlbench`` command line."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from benchmark.data.perceptualhash import BITS, THRESHOLD
from benchmark.engine.svmbackend import SVM_BACKENDS
from benchmark.engine.threads import set_threads
from benchmark.presets import PRESETS
from benchmark.run.selection import ExpressionError
from benchmark.run.store import StoreError
from benchmark.scaffold import new_command

if TYPE_CHECKING:
    from benchmark.registry.catalog import Catalog
    from benchmark.registry.config import Config
    from benchmark.run.planner import Plan
    from benchmark.settings import RunSettings

# Modules that import torch, timm or scikit-learn are imported inside the commands that use them, so that
# `tlbench --help` answers at once.

EXIT_FAILED, EXIT_USAGE, EXIT_NOTHING_RAN = 1, 4, 5

# Off a terminal rich assumes 80 columns, too narrow for the leaderboard; COLUMNS still wins.
console = Console(highlight=False, width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160)
plugin_option = click.option(
    "-p", "plugin_args", multiple=True, metavar="MODULE|no:NAME",
    help="Load a plugin module by import path, or block one by name with no:NAME (also TLBENCH_PLUGINS).",
)
data_root_option = click.option(
    "--data-root", type=click.Path(path_type=Path), default=None,
    help="Folder holding the datasets in their download layouts [env TLBENCH_DATA, or data_root in tlbench.toml; "
         "default ./data].",
)
out_option = click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), default=Path("tlbench-runs"), show_default=True,
    help="Run folder holding the results database.",
)


def _settings(ctx, data_root=None, device="auto", preset="auto", backbone=None, image_size=None,
              max_epochs=None, cache_dir=None, imagenet_weights=None, online=False, strict=False,
              batch_size=None) -> RunSettings:
    """The run's settings from the command's options, the environment and the config file."""
    from benchmark.registry.config import resolve_cache_dir, resolve_data_root
    from benchmark.settings import RunSettings

    try:
        return RunSettings.build(
            device=device, preset=preset, data_root=resolve_data_root(data_root, _config(ctx)),
            cache_dir=resolve_cache_dir(cache_dir, _config(ctx)), imagenet_weights=imagenet_weights, online=online,
            strict=strict, backbone=backbone, image_size=image_size, max_epochs=max_epochs, batch_size=batch_size)
    except ValueError as error:
        raise click.UsageError(str(error)) from error


def _config(ctx) -> Config:
    """The config file of the working directory, read once per command."""
    from benchmark.registry.config import ConfigError, load_config

    if "config" not in ctx.obj:
        try:
            ctx.obj["config"] = load_config()
        except ConfigError as error:
            raise click.UsageError(str(error)) from error
    return ctx.obj["config"]


def _catalog(ctx, plugin_args, data_root=None) -> Catalog:
    """The plugins' catalog plus the datasets declared in the config, found under the data root."""
    from benchmark.registry.catalog import PluginInfo
    from benchmark.registry.config import resolve_data_root
    from benchmark.registry.declared import register_declared
    from benchmark.registry.pluginmanager import load_catalog

    catalog = load_catalog(tuple(ctx.obj.get("plugins", ())) + tuple(plugin_args))
    config = _config(ctx)
    broken = list(config.broken)
    if config.path is not None:
        broken += register_declared(catalog, config.datasets, resolve_data_root(data_root, config), config.path)
    for name, error in broken:  # reported as broken plugins are: the rest of the config stays usable
        catalog.plugins.append(PluginInfo(f"declared dataset {name}", str(config.path), "config", status="broken",
                                          error=error))
    return catalog


class _Commands(click.Group):
    """The command group: a store that cannot be read or written ends any command with its one-line reason."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except StoreError as error:
            console.print(f"[red]error:[/] {escape(str(error))}")
            sys.exit(EXIT_FAILED)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@plugin_option
@click.version_option(version("tlbench"), prog_name="tlbench")
@click.pass_context
def main(ctx, plugin_args):
    """Benchmark transfer learning from source datasets to small medical datasets."""
    ctx.ensure_object(dict)
    ctx.obj["plugins"] = plugin_args


@main.command("plugins")
@plugin_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def plugins_command(ctx, plugin_args, as_json):
    """List installed plugins, their versions, what they provide and their status."""
    catalog = _catalog(ctx, plugin_args)
    if as_json:
        click.echo(json.dumps([p.as_dict() for p in catalog.plugins], indent=1))
        return
    table = Table(title="tlbench plugins", title_justify="left")
    for column in ("plugin", "version", "origin", "status", "provides"):
        table.add_column(column)
    for plugin in catalog.plugins:
        provides = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in plugin.provides.items())
        status = {"ok": "[green]ok[/]", "blocked": "[yellow]blocked[/]"}.get(plugin.status, "[red]broken[/]")
        if plugin.error:
            status += f"\n[red]{plugin.error}[/]"
        table.add_row(plugin.name, plugin.version or "-", plugin.origin, status, provides)
    console.print(table)


def _catalog_listing(catalog: Catalog, settings: RunSettings) -> dict:
    tasks = []
    statuses = {}
    for task_name, (dataset, task) in catalog.tasks().items():
        if dataset.name not in statuses:
            statuses[dataset.name] = dataset.status(settings.data_root)
        state = statuses[dataset.name]
        tasks.append({
            "task": task_name, "dataset": dataset.name, "modality": dataset.modality,
            "roles": sorted(task.roles), "classes": list(task.classes), "status": state.state,
            "message": state.message, "path": str(state.path) if state.path else None,
            "plugin": catalog.owners[("datasets", dataset.name)],
        })
    sources = []
    for name, source in catalog.all_sources().items():
        ok, reason = source.status(settings)
        sources.append({"name": name, "description": source.description,
                        "status": "available" if ok else "unavailable", "message": reason})
    return {
        "tasks": tasks,
        "sources": sources,
        "methods": [{"name": m.name, "description": m.description, "uses_source": m.uses_source}
                    for m in catalog.methods.values()],
        "visualizers": [{"name": v.name, "description": v.description} for v in catalog.visualizers.values()],
        "broken_plugins": [p.as_dict() for p in catalog.plugins if p.status == "broken"],
    }


@main.command("list")
@plugin_option
@data_root_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--imagenet-weights", type=click.Path(path_type=Path), default=None, hidden=True)
@click.pass_context
def list_command(ctx, plugin_args, data_root, as_json, imagenet_weights):
    """List dataset tasks (available or what is missing), sources, methods and visualisers."""
    catalog = _catalog(ctx, plugin_args, data_root)
    listing = _catalog_listing(catalog, _settings(ctx, data_root=data_root, imagenet_weights=imagenet_weights))
    if as_json:
        click.echo(json.dumps(listing, indent=1))
        return
    tasks = Table(title="Dataset tasks", title_justify="left")
    for column in ("task", "dataset", "roles", "classes", "status"):
        tasks.add_column(column)
    for t in listing["tasks"]:
        status = "[green]available[/]" if t["status"] == "available" else f"[red]{t['status']}[/]\n{t['message']}"
        tasks.add_row(t["task"], t["dataset"], ", ".join(t["roles"]), str(len(t["classes"])), status)
    console.print(tasks)
    sources = Table(title="Sources", title_justify="left")
    for column in ("source", "status", "description"):
        sources.add_column(column)
    for s in listing["sources"]:
        status = "[green]available[/]" if s["status"] == "available" else f"[red]unavailable[/]\n{s['message']}"
        sources.add_row(s["name"], status, s["description"])
    console.print(sources)
    for kind in ("methods", "visualizers"):
        table = Table(title=kind.capitalize(), title_justify="left")
        table.add_column("name")
        table.add_column("description")
        for item in listing[kind]:
            table.add_row(item["name"], item["description"])
        console.print(table)
    for plugin in listing["broken_plugins"]:
        console.print(f"[red]broken plugin {plugin['name']}:[/] {plugin['error']}")


@main.command("presets")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def presets_command(as_json):
    """Every protocol preset's fields side by side; values that differ from thesis are highlighted."""
    fields = {name: dataclasses.asdict(preset) for name, preset in PRESETS.items()}
    if as_json:
        click.echo(json.dumps(fields, indent=1))
        return
    reference = fields["thesis"]
    table = Table(title="Protocol presets (bold yellow: differs from thesis)", title_justify="left")
    table.add_column("field", style="bold")
    for name in fields:
        table.add_column(name)
    for field in reference:
        cells = []
        for values in fields.values():
            text = escape(_preset_value(values[field]))
            cells.append(f"[bold yellow]{text}[/]" if values[field] != reference[field] else text)
        table.add_row(field, *cells)
    console.print(table)


def _preset_value(value) -> str:
    if isinstance(value, tuple) and value and isinstance(value[0], tuple):
        return "\n".join(" ".join(str(v) for v in entry) for entry in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value) if value != () else "-"


def _log_to(console: Console) -> None:
    """Show the core's log lines (image cache, skipped images) on the console, once."""
    from rich.logging import RichHandler

    logger = logging.getLogger("benchmark")
    if not any(isinstance(h, RichHandler) for h in logger.handlers):
        logger.addHandler(RichHandler(console=console, show_time=False, show_path=False))
        logger.setLevel(logging.INFO)


def _sources_to_train(plan: Plan, catalog: Catalog, settings: RunSettings) -> list[str]:
    """The harness-trained sources of the pending experiments whose models are not cached yet."""
    from benchmark.run.planner import PENDING
    from benchmark.sources import DatasetSource

    sources = catalog.all_sources()
    return sorted(name for name in {p.experiment.source for p in plan.by_state(PENDING)}
                  if isinstance(sources.get(name), DatasetSource) and not sources[name].weights_path(settings).exists())


def _print_plan(plan: Plan, catalog: Catalog, settings: RunSettings, verbose: bool) -> None:
    """The sources to train, then one line per pending, done or failed experiment; the skipped ones one line each
    under ``verbose``, else one line per reason with how many it skips."""
    from benchmark.run.planner import DONE, FAILED, PENDING, SKIPPED
    from benchmark.run.skips import count_by_reason
    from benchmark.sources import DatasetSource

    styles = {PENDING: "cyan", DONE: "green", SKIPPED: "yellow", FAILED: "red"}
    sources = catalog.all_sources()
    to_train = _sources_to_train(plan, catalog, settings)
    for name in sorted({p.experiment.source for p in plan.by_state(PENDING)}):
        if isinstance(sources.get(name), DatasetSource):
            state = "to train" if name in to_train else "cached"
            console.print(f"[magenta]source  [/] {name}: model {state} ({sources[name].weights_path(settings)})")
    for planned in plan.experiments:
        if planned.state == SKIPPED and not verbose:
            continue
        reason = f"  [dim]{escape(str(planned.reason))}[/]" if planned.reason else ""
        console.print(f"[{styles[planned.state]}]{planned.state:8}[/] {escape(planned.experiment.node_id)}{reason}")
    if not verbose:
        for count, reason in count_by_reason(p.reason for p in plan.by_state(SKIPPED)):
            console.print(f"[yellow]{count} skipped:[/] {escape(str(reason))}", soft_wrap=True)  # one line each
    counts = {state: len(plan.by_state(state)) for state in styles}
    console.print(", ".join(f"{n} {state}" for state, n in counts.items())
                  + ("" if verbose or not counts[SKIPPED] else " (-v lists each skipped experiment)"))


def _audit_plan(plan: Plan, catalog: Catalog, settings: RunSettings, strict: bool) -> None:
    """Audit the pending experiments' images; a leak is a warning and a note stored with each experiment it
    touches, or under ``strict`` a skip."""
    from benchmark.data.audit import WITHIN, audit_pairs
    from benchmark.run.planner import NO_SOURCE, PENDING, SKIPPED
    from benchmark.run.skips import LEAK_AUDIT, SkipReason

    pending = plan.by_state(PENDING)
    if not pending:
        return
    pairs = {(p.experiment.target, None if p.experiment.source == NO_SOURCE else p.experiment.source)
             for p in pending}
    seeds = sorted({p.experiment.seed for p in pending})
    report = audit_pairs(catalog, settings, pairs, seeds=seeds)
    for leak in report.leaks:
        console.print(f"[red]leak audit:[/] {escape(leak.name)}: {leak.near_duplicates} near-duplicate image pair(s), "
                      f"{leak.images} image(s) involved (`tlbench audit` lists examples)")
    for planned in pending:
        exp = planned.experiment
        found = [leak for leak in report.leaks
                 if leak.target == exp.target and (leak.seed == exp.seed if leak.kind == WITHIN
                                                   else leak.source == exp.source)]
        if not found:
            continue
        planned.notes["leak_audit"] = [{"kind": leak.kind, "pair": leak.name, "near_duplicates": leak.near_duplicates,
                                        "images": leak.images} for leak in found]
        if strict:
            planned.state = SKIPPED
            planned.reason = SkipReason(LEAK_AUDIT, "", "leak audit (--strict): " + "; ".join(
                f"{leak.name} shares {leak.images} near-duplicate image(s)" for leak in found))


def _summarise_skips(plan: Plan) -> None:
    """One line for everything skipped for missing data or weights, one per other reason."""
    from benchmark.run.planner import SKIPPED
    from benchmark.run.skips import SOURCE, TARGET, count_by_reason

    missing: dict[str, set[str]] = {TARGET: set(), SOURCE: set()}
    others = []
    skipped = plan.by_state(SKIPPED)
    for planned in skipped:
        if planned.reason.kind in missing:
            missing[planned.reason.kind].add(planned.reason.name)
        else:
            others.append(planned.reason)
    if missing[TARGET] or missing[SOURCE]:
        parts = [f"{kind}s {', '.join(sorted(names))}" for kind, names in missing.items() if names]
        console.print(f"[yellow]skipped {len(skipped) - len(others)}[/] for want of data or weights: "
                      f"{escape('; '.join(parts))}. `tlbench list` says what each needs; --collect-only -v gives "
                      "every experiment's reason.")
    for count, reason in count_by_reason(others):
        console.print(f"[yellow]skipped {count}:[/] {escape(str(reason))}", soft_wrap=True)


@main.command("run")
@plugin_option
@click.option("--all", "select_all", is_flag=True, help="Run every registered combination.")
@click.option("-d", "--dataset", "datasets", multiple=True, help="Target dataset or task (repeatable).")
@click.option("-s", "--source", "sources", multiple=True, help="Source (repeatable); 'none' is scratch's.")
@click.option("-m", "--method", "methods", multiple=True, help="Method (repeatable).")
@click.option("--seeds", default=None, help="Comma-separated seeds [default: the preset's].")
@click.option("-k", "keyword", default="", help="Select node ids by expression, e.g. 'cells and not scratch'.")
@click.option("--collect-only", is_flag=True, help="Print the plan and exit: each experiment to run, done or failed, "
              "and how many are skipped for each reason.")
@click.option("-v", "--verbose", is_flag=True, help="With --collect-only, list every skipped experiment too.")
@out_option
@click.option("--rerun", type=click.Choice(["failed", "all"]), default=None, help="Run again what is recorded.")
@click.option("-x", "--exitfirst", is_flag=True, help="Stop at the first failed experiment.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--preset", default="auto", show_default=True,
              help=f"Protocol preset: auto (thesis on a GPU, cpu-quick otherwise) or one of {', '.join(PRESETS)}.")
@click.option("--backbone", default=None, help="Any timm model name [default: the preset's].")
@click.option("--image-size", type=click.IntRange(min=8), default=None,
              help="Square input size [default: the preset's].")
@click.option("--max-epochs", type=click.IntRange(min=1), default=None, help="Epoch limit [default: the preset's].")
@click.option("--batch-size", type=click.IntRange(min=2), default=None,
              help="Training batch size [default: the preset's]; a result records it.")
@data_root_option
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="Cache for decoded images and source models [env TLBENCH_CACHE, or cache_dir in tlbench.toml; "
                   "default ~/.cache/tlbench].")
@click.option("--imagenet-weights", type=click.Path(path_type=Path), default=None,
              help="Local file of the backbone's ImageNet weights [env TLBENCH_IMAGENET_WEIGHTS].")
@click.option("--online", is_flag=True, help="Let timm download ImageNet weights that are not cached.")
@click.option("--strict", is_flag=True, help="Fail on an unreadable image instead of skipping it with a warning, and "
              "skip experiments whose images the leak audit finds near-duplicated across train and test.")
@click.option("--max-unreadable", type=click.FloatRange(0, 1), default=0.01, show_default=True,
              help="Share of a dataset's image files that may be unreadable (each skipped and named) before the "
                   "dataset fails.")
@click.option("--audit/--no-audit", default=True, show_default=True,
              help="Look for near-duplicate images between the parts of each target's split, and between a "
                   "harness-trained source's images and its targets', before running (see tlbench audit).")
@click.option("--compile", "compile_model", is_flag=True, help="Run forward passes through torch.compile.")
@click.option("--svm", "svm_backend", type=click.Choice(SVM_BACKENDS), default="auto", show_default=True,
              help="Linear SVM solver: sklearn (the reference), torch (the same LinearSVC or SVC model solved on "
                   "the device), or auto (torch on CUDA, sklearn elsewhere).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="torch's CPU threads [default: OMP_NUM_THREADS, else the cores this process may use].")
@click.option("--jobs-per-gpu", type=click.IntRange(min=1), default=1, show_default=True,
              help="Experiments run side by side (threads sharing the device, its data and feature cache).")
@click.pass_context
def run_command(ctx, plugin_args, select_all, datasets, sources, methods, seeds, keyword, collect_only, verbose,
                out_dir, rerun, exitfirst, device, preset, backbone, image_size, max_epochs, batch_size, data_root,
                cache_dir, imagenet_weights, online, strict, max_unreadable, audit, compile_model, svm_backend, threads,
                jobs_per_gpu):
    """Run the selected experiments (target x source x method x seed) and print the leaderboard."""
    from benchmark.report import leaderboard, render
    from benchmark.run.planner import DONE, FAILED, PENDING, SKIPPED, Selection, build_plan
    from benchmark.run.progress import RunProgress
    from benchmark.run.resume import mark_recorded
    from benchmark.run.runner import Runner
    from benchmark.run.store import Store

    if not (select_all or datasets or sources or methods or keyword or seeds or collect_only):
        raise click.UsageError("nothing selected: pass --all, or filters such as -d, -s, -m, -k")
    try:
        seed_list = tuple(int(s) for s in seeds.split(",")) if seeds else ()
    except ValueError:
        raise click.UsageError(f"--seeds {seeds!r}: give comma-separated integers, e.g. 2,5,7") from None
    if any(not 0 <= seed < 2**32 for seed in seed_list):
        raise click.UsageError(f"--seeds {seeds!r}: seeds must lie in 0..{2**32 - 1} (numpy's and torch's range)")
    try:
        threads, threads_origin = set_threads(threads)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    catalog = _catalog(ctx, plugin_args, data_root)
    settings = _settings(ctx, data_root, device, preset, backbone, image_size, max_epochs, cache_dir,
                         imagenet_weights, online, strict, batch_size)
    try:
        settings = settings.with_speed(compile_model, svm_backend, jobs_per_gpu)
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    settings = dataclasses.replace(settings,
                                   max_unreadable=max_unreadable)
    _log_to(console)
    for plugin in catalog.plugins:
        if plugin.status == "broken":
            console.print(f"[red]broken plugin {plugin.name}:[/] {plugin.error}")
    note = "" if settings.device.type == "cuda" or preset != "auto" else \
        " (no GPU: a small backbone; --preset thesis runs VGG16 at 224)"
    console.print(f"tlbench {version('tlbench')} · device {settings.device} · preset {settings.preset.name}: "
                  f"{settings.preset.backbone} @ {settings.preset.image_size}px{note} · {threads} CPU thread"
                  f"{'s' if threads > 1 else ''} ({threads_origin})")
    try:
        plan = build_plan(catalog, settings, Selection(datasets, sources, methods, seed_list, keyword))
    except ExpressionError as error:
        raise click.UsageError(str(error)) from error
    if plan.problems:
        raise click.UsageError("; ".join(plan.problems))
    if not plan.experiments:
        raise click.UsageError("nothing selected: no experiment matches these filters (`tlbench list` names the "
                               "datasets, sources and methods; -k matches node ids such as "
                               "isic2017::random::fe-svm[seed=2])")
    store = Store(out_dir)
    mark_recorded(plan, store, rerun)
    if collect_only:
        _print_plan(plan, catalog, settings, verbose)
        return
    if audit:
        _audit_plan(plan, catalog, settings, strict)
    pending = plan.by_state(PENDING)
    console.print(f"{len(plan.experiments)} selected: {len(pending)} to run, {len(plan.by_state(DONE))} done, "
                  f"{len(plan.by_state(SKIPPED))} skipped, {len(plan.by_state(FAILED))} failed before")
    _summarise_skips(plan)
    try:
        with RunProgress(console, len(pending), _sources_to_train(plan, catalog, settings)) as progress:
            outcome = Runner(catalog, settings, store, progress).run(plan, exitfirst)
    except KeyboardInterrupt:
        console.print(f"[red]interrupted[/]: finished results, and the passed results that unfinished reruns would "
                      f"replace, are kept in {store.path}; run again to resume")
        sys.exit(130)
    if not store.still_there():
        raise StoreError(f"{store.path} was deleted or replaced while this run went on: the results of this run "
                         "are lost with it; run again")
    selected = {p.config_hash for p in plan.experiments}
    rows = [r for r in store.rows() if r["config_hash"] in selected]
    boards = leaderboard.build_boards(rows, methods=catalog.methods)
    if boards:
        console.print(render.render_rich(boards))
    console.print(f"results: {store.path}")
    if outcome.elsewhere:
        console.print(f"{outcome.elsewhere} experiment(s) left to another tlbench process running on {out_dir}")
    if outcome.kept:
        console.print(f"[red]{outcome.kept} rerun(s) failed; the earlier passed results are kept[/] (`tlbench show "
                      f"--out {out_dir} --format json` lists the failed attempts)")
    failed = len(plan.by_state(FAILED))
    if failed:
        console.print(f"[red]{failed} experiment(s) failed[/]: `tlbench show --out {out_dir} --format json` "
                      "has their tracebacks")
        sys.exit(EXIT_FAILED)
    if outcome.passed == 0 and not outcome.elsewhere and not plan.by_state(DONE):
        console.print("[yellow]nothing ran: every selected experiment was skipped[/]")
        sys.exit(EXIT_NOTHING_RAN)


main.add_command(new_command)


@main.command("doctor")
@out_option
def doctor_command(out_dir):
    """Check the run folder's results database; salvage the readable rows of a damaged one into a new file."""
    from benchmark.run.storerepair import repair

    try:
        result = repair(out_dir)
    except FileNotFoundError as error:
        console.print(f"[red]error:[/] {escape(str(error))}")
        sys.exit(EXIT_FAILED)
    if not result.damaged:
        console.print(f"{result.path}: intact")
        return
    counts = ", ".join(f"{result.salvaged[t]} {t}" + (f" ({result.lost[t]} unreadable)" if result.lost[t] else "")
                       for t in result.salvaged)
    console.print(f"{result.path} was damaged ({escape(result.problem)}); salvaged into a new store: {counts}. "
                  f"The damaged file is kept as {result.kept}. `tlbench run` with the same options runs what was "
                  "lost again.")


def _metric(name: str) -> str:
    """``--metric``, checked here rather than by a click.Choice, whose choices would import the leaderboard
    (and torch) for every command."""
    from benchmark.report.leaderboard import METRICS

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
    from benchmark.registry.pluginmanager import load_catalog
    from benchmark.report import leaderboard, render
    from benchmark.run.store import Store

    if not (out_dir / "tlbench.sqlite").exists():
        raise click.UsageError(f"no results in {out_dir}: run `tlbench run --all --out {out_dir}` first")
    store = Store(out_dir)
    rows = store.rows()
    boards = leaderboard.build_boards(rows, metric, methods=load_catalog(ctx.obj.get("plugins", ())).methods)
    if fmt == "json":
        click.echo(render.render_json(rows, boards, store.attempts()))
    elif fmt == "table":
        console.print(render.render_rich(boards))
    else:
        renderer = {"md": render.render_markdown, "csv": render.render_csv, "latex": render.render_latex}[fmt]
        click.echo(renderer(boards), nl=False)


@main.command("visualize")
@plugin_option
@click.argument("names", nargs=-1)
@out_option
@data_root_option
@click.option("--device", default="auto", show_default=True)
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None)
@click.pass_context
def visualize_command(ctx, plugin_args, names, out_dir, data_root, device, cache_dir):
    """Make the figures of the named visualisers (all by default) into OUT/figures, from the models
    and results of the run folder."""
    from benchmark.report.figures import VisualizerContext
    from benchmark.run.store import Store

    catalog = _catalog(ctx, plugin_args, data_root)
    unknown = [n for n in names if n not in catalog.visualizers]
    if unknown:
        raise click.UsageError(f"unknown visualizer(s) {', '.join(unknown)}; known: {', '.join(catalog.visualizers)}")
    if not (out_dir / "tlbench.sqlite").exists():
        raise click.UsageError(f"no results in {out_dir}: run `tlbench run --all --out {out_dir}` first")
    settings = _settings(ctx, data_root, device, cache_dir=cache_dir)
    figures = out_dir / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    vctx = VisualizerContext(Store(out_dir), catalog, settings, figures)
    for name in names or list(catalog.visualizers):
        for path in catalog.visualizers[name].render(vctx):
            console.print(f"{name}: {path}")


@main.command("audit")
@plugin_option
@click.option("-d", "--dataset", "datasets", multiple=True,
              help="Audit only the pairs involving this dataset or task (repeatable).")
@click.option("--preset", default="auto", show_default=True,
              help=f"Protocol preset whose seeded splits are audited: auto or one of {', '.join(PRESETS)}.")
@click.option("--threshold", type=click.IntRange(0, BITS), default=THRESHOLD, show_default=True,
              help=f"Largest Hamming distance (of {BITS} bits) at which two images are near-duplicates.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@data_root_option
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="Cache for image hashes [env TLBENCH_CACHE, or cache_dir in tlbench.toml; default "
                   "~/.cache/tlbench].")
@click.pass_context
def audit_command(ctx, plugin_args, datasets, preset, threshold, as_json, data_root, cache_dir):
    """Find near-duplicate images across the parts of each target's splits and between the images of
    harness-trained sources and the targets; exit 1 when any is found."""
    from benchmark.data.audit import audit_catalog

    catalog = _catalog(ctx, plugin_args, data_root)
    settings = _settings(ctx, data_root=data_root, preset=preset, cache_dir=cache_dir)
    if not as_json:
        _log_to(console)
    try:
        report = audit_catalog(catalog, settings, datasets, threshold)
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    if as_json:
        click.echo(report.to_json())
    else:
        for line in report.skipped:
            console.print(f"[yellow]skipped[/] {escape(line)}")
        table = Table(title=f"Near-duplicate images (Hamming distance <= {threshold} of {BITS} bits)",
                      title_justify="left")
        for column in ("pair", "kind"):
            table.add_column(column)
        for column in ("near-duplicate pairs", "images involved"):
            table.add_column(column, justify="right")
        for pair in report.pairs:
            style = "red" if pair.near_duplicates else "green"
            table.add_row(escape(pair.name), pair.kind, f"[{style}]{pair.near_duplicates}[/]", str(pair.images))
        console.print(table)
        for pair in report.leaks:
            console.print(f"[red]{escape(pair.name)}[/]:")
            for example in pair.examples[:3]:
                parts = f" ({example['a_part']} / {example['b_part']})" if "a_part" in example else ""
                console.print(f"  {escape(example['a'])} ~ {escape(example['b'])}{parts}, "
                              f"distance {example['distance']}")
        console.print(f"{len(report.leaks)} of {len(report.pairs)} audited pairs share near-duplicate images")
    if report.leaks:
        sys.exit(EXIT_FAILED)
