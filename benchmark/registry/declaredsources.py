"""Sources added to the catalog without code: those declared in the config file, and ``timm:MODEL`` names
asked for on the command line."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import timm

from benchmark.engine.pretrainedsource import TIMM_PREFIX, TimmSource, WeightsFileSource, pretrained_cfg
from benchmark.registry.catalog import Catalog, PluginInfo
from benchmark.registry.config import SourceDeclaration
from benchmark.sources import Source


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
            source = _declared_source(declaration, config_path)
        except ValueError as error:
            broken.append((declaration.name, f"source {declaration.name!r}: {error}"))
            continue
        if source is None:
            broken.append((declaration.name, f"source {declaration.name!r}: timm has no model "
                                             f"{declaration.backbone!r} (timm.list_models() names them, "
                                             "timm.list_pretrained() their tags)"))
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


def _declared_source(declaration: SourceDeclaration, config_path: Path) -> Source | None:
    """The source a declaration describes, or None when timm does not know its backbone; ValueError for timm weights
    that do not exist."""
    if declaration.timm:
        return TimmSource(declaration.timm, declaration.name, declaration.model_args, declaration.description)
    if not timm.is_model(declaration.backbone) or pretrained_cfg(declaration.backbone) is None:
        return None
    return WeightsFileSource(declaration, config_path)


def add_timm_sources(catalog: Catalog, names: Iterable[str]) -> None:
    """Add a :class:`TimmSource` for each ``timm:MODEL`` name among ``names`` that the catalog lacks;
    ValueError for a model timm has no pretrained weights of."""
    for name in names:
        if name.startswith(TIMM_PREFIX) and name not in catalog.sources:
            catalog.add("sources", TimmSource(name[len(TIMM_PREFIX):]), "timm")
