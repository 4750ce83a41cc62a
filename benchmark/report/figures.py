"""What a visualiser is given: the run's results, the plugins, the settings, a folder for its figures."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from benchmark.presets import Preset
from benchmark.registry.catalog import Catalog
from benchmark.run.store import Store
from benchmark.settings import RunSettings


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
