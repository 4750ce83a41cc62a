"""Visualisers: figures made from a run's results and cached models."""

from __future__ import annotations

from dataclasses import dataclass, replace
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

    def used_sources(self) -> list[tuple[str, RunSettings]]:
        """Each source that passed experiments in the store used, with the settings of those runs
        (so that its weights resolve to the very files the runs used)."""
        from .presets import Preset

        seen, used = set(), []
        for row in self.store.rows("passed"):
            if row["source"] == "none" or not row.get("preset"):
                continue
            preset = Preset.from_fields(row["preset"])
            key = (row["source"], preset)
            if key in seen:
                continue
            seen.add(key)
            used.append((row["source"], replace(self.settings, preset=preset)))
        return used


class Visualizer:
    """Base class of visualiser plugins: ``render(ctx)`` writes figures and returns their paths."""

    name: str = ""
    description: str = ""

    def render(self, ctx: VisualizerContext) -> list[Path]:
        raise NotImplementedError
