"""The ``tlbench`` command group, its shared options, and what every command builds: settings, catalog, config."""

from __future__ import annotations

import logging
import os
import sys
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape

from benchmark.acceleration import PRECISIONS
from benchmark.launchers import LaunchError
from benchmark.run.store import StoreError

if TYPE_CHECKING:
    from benchmark.registry.catalog import Catalog
    from benchmark.registry.config import Config
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
precision_option = click.option(
    "--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True, envvar="TLBENCH_PRECISION",
    help="Float precision of training and inference: auto is bf16 on CUDA and on CPUs with AVX-512 BF16 or AMX "
         "units, fp32 elsewhere [env TLBENCH_PRECISION]; part of every result's config, so fp32 reruns compare "
         "with fp32 results.",
)
out_option = click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), default=Path("tlbench-runs"), show_default=True,
    help="Run folder holding the results database.",
)


def _settings(ctx, data_root=None, device="auto", preset="auto", backbone=None, image_size=None,
              max_epochs=None, cache_dir=None, imagenet_weights=None, online=False, strict=False,
              batch_size=None, official_splits=None, model_args=(), precision="auto") -> RunSettings:
    """The run's settings from the command's options, the environment and the config file (its ``model_args``
    under those of ``--model-arg``)."""
    from benchmark.presets import model_args_pairs
    from benchmark.registry.config import resolve_cache_dir, resolve_data_root
    from benchmark.settings import RunSettings

    merged = {**dict(_config(ctx).model_args), **parse_model_args(model_args)}
    try:
        return RunSettings.build(
            device=device, preset=preset, data_root=resolve_data_root(data_root, _config(ctx)),
            cache_dir=resolve_cache_dir(cache_dir, _config(ctx)), imagenet_weights=imagenet_weights, online=online,
            strict=strict, backbone=backbone, image_size=image_size, max_epochs=max_epochs, batch_size=batch_size,
            official_splits=official_splits, model_args=model_args_pairs(merged) if merged else None,
            precision=precision)
    except ValueError as error:
        raise click.UsageError(str(error)) from error


def parse_model_args(options: tuple[str, ...]) -> dict:
    """``KEY=VALUE`` options as keyword arguments, each value read as a TOML value (``0.1``, ``true``,
    ``"same"``) or else taken as the string it is (``same``)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    args = {}
    for option in options:
        key, sep, text = option.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"--model-arg {option!r}: give KEY=VALUE, e.g. --model-arg pad_type=same")
        try:
            value = tomllib.loads(f"value = {text}")["value"]
        except tomllib.TOMLDecodeError:
            value = text
        args[key.strip()] = value
    return args


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
    """The plugins' catalog plus the datasets declared in the config, found under the data root, and the sources
    declared there."""
    from benchmark.registry.assemble import assemble_catalog
    from benchmark.registry.config import resolve_data_root

    config = _config(ctx)
    return assemble_catalog(tuple(ctx.obj.get("plugins", ())) + tuple(plugin_args),
                            resolve_data_root(data_root, config), config)


class _Commands(click.Group):
    """The command group: a store that cannot be read or written ends any command with its one-line reason, as
    does a launcher that cannot run here (a usage error)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except StoreError as error:
            console.print(f"[red]error:[/] {escape(str(error))}")
            sys.exit(EXIT_FAILED)
        except LaunchError as error:
            console.print(f"[red]error:[/] {escape(str(error))}")
            sys.exit(EXIT_USAGE)


class _StoreWarnings(logging.Handler):
    """The store's lines about rows it cannot use (:mod:`benchmark.run.store`), on stderr: the output of `show`
    stays data."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"warning: {record.getMessage()}", err=True)


def _warn_about_rows() -> None:
    logger = logging.getLogger("benchmark.run.store")
    if not any(isinstance(h, _StoreWarnings) for h in logger.handlers):
        logger.addHandler(_StoreWarnings(logging.WARNING))
        logger.propagate = False  # not a second time through the console's handler (see _log_to)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@plugin_option
@click.version_option(version("tlbench"), prog_name="tlbench")
@click.pass_context
def main(ctx, plugin_args):
    """Benchmark transfer learning from source datasets to small medical datasets."""
    ctx.ensure_object(dict)
    ctx.obj["plugins"] = plugin_args
    _warn_about_rows()


def _log_to(console: Console) -> None:
    """Show the core's log lines (image cache, skipped images) on the console, once."""
    from rich.logging import RichHandler

    logger = logging.getLogger("benchmark")
    if not any(isinstance(h, RichHandler) for h in logger.handlers):
        logger.addHandler(RichHandler(console=console, show_time=False, show_path=False))
        logger.setLevel(logging.INFO)
