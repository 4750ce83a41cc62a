"""The catalog a run uses: the plugins, the datasets and sources the config file declares, and ``timm:`` sources."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from benchmark.registry.catalog import Catalog, PluginInfo
from benchmark.registry.config import Config, load_config


def assemble_catalog(plugin_args: Iterable[str], data_root: Path, config: Config | Path | None = None,
                     timm_sources: Iterable[str] = ()) -> Catalog:
    """The plugins' catalog plus what ``config`` declares (a :class:`Config`, or the folder whose config file
    applies; None: the working directory's): its datasets found under ``data_root``, its sources, and a source
    for each ``timm:MODEL`` name in ``timm_sources``. A declaration that cannot be used is reported as a broken
    plugin, the rest stays usable. ConfigError for an unreadable config file, ValueError for an unknown timm
    model."""
    from benchmark.registry.declared import register_declared
    from benchmark.registry.declaredsources import add_timm_sources, register_declared_sources
    from benchmark.registry.pluginmanager import load_catalog

    if not isinstance(config, Config):
        config = load_config(config)
    catalog = load_catalog(tuple(plugin_args))
    broken = [("dataset", name, error) for name, error in config.broken]
    broken += [("source", name, error) for name, error in config.broken_sources]
    if config.path is not None:
        broken += [("dataset", name, error)
                   for name, error in register_declared(catalog, config.datasets, data_root, config.path)]
        if config.sources:
            broken += [("source", name, error)
                       for name, error in register_declared_sources(catalog, config.sources, config.path)]
    for kind, name, error in broken:
        catalog.plugins.append(PluginInfo(f"declared {kind} {name}", str(config.path), "config", status="broken",
                                          error=error))
    add_timm_sources(catalog, timm_sources)
    return catalog
