"""``tlbench plugins``, ``list``, ``presets`` and ``audit``: what is installed, available and trustworthy."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.markup import escape
from rich.table import Table

from benchmark.cli.app import (
    EXIT_FAILED,
    _catalog,
    _log_to,
    _settings,
    console,
    data_root_option,
    main,
    plugin_option,
)
from benchmark.data.perceptualhash import BITS, IMAGING_THRESHOLDS, THRESHOLD
from benchmark.presets import PRESETS

if TYPE_CHECKING:
    from benchmark.registry.catalog import Catalog
    from benchmark.settings import RunSettings


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
            status += f"\n[red]{escape(plugin.error)}[/]"
        table.add_row(escape(plugin.name), escape(plugin.version or "-"), plugin.origin, status, escape(provides))
    console.print(table)


def _catalog_listing(catalog: Catalog, settings: RunSettings) -> dict:
    from benchmark.data.taskstatus import task_status

    tasks = []
    statuses = {}
    for task_name, (dataset, task) in catalog.tasks().items():
        if dataset.name not in statuses:
            statuses[dataset.name] = dataset.status(settings.data_root)
        state = task_status(dataset, task, settings.data_root, statuses[dataset.name])
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
        "estimators": [{"name": e.name, "description": e.description, "needs_head": e.needs_head}
                       for e in catalog.estimators.values()],
        "launchers": [{"name": launcher.name, "description": launcher.description,
                       "unavailable": launcher.available(), "options": [o.describe() for o in launcher.options]}
                      for launcher in catalog.launchers.values()],
        "broken_plugins": [p.as_dict() for p in catalog.plugins if p.status == "broken"],
    }


@main.command("list")
@plugin_option
@data_root_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--imagenet-weights", type=click.Path(path_type=Path), default=None, hidden=True)
@click.pass_context
def list_command(ctx, plugin_args, data_root, as_json, imagenet_weights):
    """List dataset tasks (available or what is missing), sources, methods, visualisers, estimators and
    launchers."""
    catalog = _catalog(ctx, plugin_args, data_root)
    listing = _catalog_listing(catalog, _settings(ctx, data_root=data_root, imagenet_weights=imagenet_weights))
    if as_json:
        click.echo(json.dumps(listing, indent=1))
        return
    tasks = Table(title="Dataset tasks", title_justify="left")
    for column in ("task", "dataset", "roles", "classes", "status"):
        tasks.add_column(column)
    for t in listing["tasks"]:
        status = ("[green]available[/]" if t["status"] == "available"
                  else f"[red]{escape(t['status'])}[/]\n{escape(t['message'])}")
        tasks.add_row(escape(t["task"]), escape(t["dataset"]), ", ".join(t["roles"]), str(len(t["classes"])), status)
    console.print(tasks)
    sources = Table(title="Sources", title_justify="left")
    for column in ("source", "status", "description"):
        sources.add_column(column)
    for s in listing["sources"]:
        status = "[green]available[/]" if s["status"] == "available" else f"[red]unavailable[/]\n{escape(s['message'])}"
        sources.add_row(escape(s["name"]), status, escape(s["description"]))
    console.print(sources)
    for kind in ("methods", "visualizers", "estimators", "launchers"):
        table = Table(title=kind.capitalize(), title_justify="left")
        table.add_column("name")
        table.add_column("description")
        for item in listing[kind]:
            unavailable = f"\n[red]unavailable:[/] {escape(item['unavailable'])}" if item.get("unavailable") else ""
            options = "".join(f"\n  --launcher-option {escape(option)}" for option in item.get("options", ()))
            table.add_row(escape(item["name"]), escape(item["description"]) + unavailable + options)
        console.print(table)
    for plugin in listing["broken_plugins"]:
        console.print(f"[red]broken plugin {escape(plugin['name'])}:[/] {escape(plugin['error'])}")


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
    console.print("pretrained_input: how pretrained weights are fed. source: their own convention; unshifted: their "
                  "own less its mean subtraction (the study's offset; raw BGR 0-255 for weights declared with input = "
                  "\"caffe\"); preset: the preset's normalize. model_args: timm.create_model keywords for the "
                  "preset's backbone (--model-arg). What each preset reproduces, field by field: docs/protocol.md.",
                  soft_wrap=True)


def _preset_value(value) -> str:
    if isinstance(value, tuple) and value and isinstance(value[0], tuple):
        return "\n".join(" ".join(str(v) for v in entry) for entry in value)
    if isinstance(value, float):
        return f"{value:g}"
    if value is None:  # official_splits: each dataset's own default
        return "per dataset"
    return str(value) if value != () else "-"


@main.command("audit")
@plugin_option
@click.option("-d", "--dataset", "datasets", multiple=True,
              help="Audit only the pairs involving this dataset or task (repeatable).")
@click.option("--preset", default="auto", show_default=True,
              help=f"Protocol preset whose seeded splits are audited: auto or one of {', '.join(PRESETS)}.")
@click.option("--threshold", type=click.IntRange(0, BITS), default=None,
              help=f"Largest Hamming distance (of {BITS} bits) at which two images are near-duplicates "
                   f"[default: by the datasets' imaging kind, {THRESHOLD}; " +
                   ", ".join(f"{kind} {t}" for kind, t in IMAGING_THRESHOLDS.items()) + "; the lower of two].")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--official-splits/--no-official-splits", default=None,
              help="Audit the splits a run with this flag makes [default: the preset's].")
@data_root_option
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="Cache for image hashes [env TLBENCH_CACHE, or cache_dir in tlbench.toml; default "
                   "~/.cache/tlbench].")
@click.pass_context
def audit_command(ctx, plugin_args, datasets, preset, threshold, as_json, official_splits, data_root, cache_dir):
    """Find near-duplicate images across the parts of each target's splits and between the images of
    harness-trained sources and the targets; exit 1 when any is found."""
    from benchmark.run.audit import audit_catalog

    catalog = _catalog(ctx, plugin_args, data_root)
    settings = _settings(ctx, data_root=data_root, preset=preset, cache_dir=cache_dir,
                         official_splits=official_splits)
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
        table = Table(title=f"Near-duplicate images (Hamming distance <= threshold, of {BITS} bits)",
                      title_justify="left")
        for column in ("pair", "kind", "threshold"):
            table.add_column(column)
        for column in ("near-duplicate pairs", "images involved"):
            table.add_column(column, justify="right")
        for pair in report.pairs:
            style = "red" if pair.near_duplicates else "green"
            table.add_row(escape(pair.name), pair.kind, str(pair.threshold), f"[{style}]{pair.near_duplicates}[/]",
                          str(pair.images))
        console.print(table)
        for pair in report.leaks:
            console.print(f"[red]{escape(pair.name)}[/]:")
            for example in pair.examples[:3]:
                parts = f" ({example['a_part']} / {example['b_part']})" if "a_part" in example else ""
                console.print(f"  {escape(example['a'])} ~ {escape(example['b'])}{parts}, "
                              f"distance {example['distance']} ({example['match']})")
        console.print(f"{len(report.leaks)} of {len(report.pairs)} audited pairs share near-duplicate images")
    if report.leaks:
        sys.exit(EXIT_FAILED)
