"""Sources added to the catalog without code: those declared in the config file, and ``timm:MODEL`` names
asked for on the command line."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from benchmark.engine.pretrainedsource import TIMM_PREFIX, PretrainedSource
from benchmark.registry.catalog import Catalog, PluginInfo
from benchmark.registry.config import SourceDeclaration


def register_declared_sources(catalog: Catalog, declarations: Iterable[SourceDeclaration],
                              config_path: Path) -> list[tuple[str, str]]:
    """Add the declared sources to ``catalog``, credited to a plugin named after the config file; return
    (name, error) for those that could not be added (a backbone timm does not know, a name a plugin or a source task
    already takes)."""
    info = next((p for p in catalog.plugins if p.name == config_path.name and p.origin == "config"), None)
    info = info or PluginInfo(config_path.name, str(config_path), "config")
    broken = []
    for declaration in declarations:
        try:
            source = declared_source(declaration, config_path)
        except ValueError as error:
            broken.append((declaration.name, f"source {declaration.name!r}: {error}"))
            continue
        if declaration.name in catalog.all_sources() and declaration.name not in catalog.sources:
            broken.append((declaration.name, f"source {declaration.name!r} declared in the config clashes with the "
                                             "source tlbench trains on that task; rename the declaration"))
            continue
        owner = catalog.add("sources", source, info.name)
        if owner is not None:
            broken.append((declaration.name, f"source {declaration.name!r} declared in the config clashes with a "
                                             f"source of plugin {owner!r}; rename the declaration"))
        else:
            info.provides.setdefault("sources", []).append(declaration.name)
    if info.provides and info not in catalog.plugins:
        catalog.plugins.append(info)
    return broken


def declared_source(declaration: SourceDeclaration, config_path: Path) -> PretrainedSource:
    """The source a declaration describes; ValueError for a model or timm weights that do not exist."""
    if declaration.timm:
        return PretrainedSource(declaration.timm, declaration.name, declaration.description,
                                model_args=declaration.model_args)
    return PretrainedSource(declaration.backbone, declaration.name, declaration.description,
                            weights=declaration.weights, prefix=declaration.prefix, model_args=declaration.model_args,
                            input=declaration.input, mean=declaration.mean, std=declaration.std,
                            interpolation=declaration.interpolation, declared_in=config_path)


def add_timm_sources(catalog: Catalog, names: Iterable[str]) -> None:
    """Add a :class:`~benchmark.engine.pretrainedsource.PretrainedSource` for each ``timm:MODEL`` name among
    ``names`` that the catalog lacks; ValueError for a model timm has no pretrained weights of."""
    for name in names:
        if name.startswith(TIMM_PREFIX) and name not in catalog.sources:
            catalog.add("sources", PretrainedSource(name[len(TIMM_PREFIX):]), "timm")
