"""Visualisers: figures made from a run's results and cached models."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .catalog import Catalog
    from .settings import RunSettings
    from .store import Store


@dataclass
class VisualizerContext:
    """What a visualiser may read, and the folder it writes its figures into."""

    store: Store
    catalog: Catalog
    settings: RunSettings
    out_dir: Path


class Visualizer:
    """Base class of visualiser plugins: ``render(ctx)`` writes figures and returns their paths."""

    name: str = ""
    description: str = ""

    def render(self, ctx: VisualizerContext) -> list[Path]:
        raise NotImplementedError
