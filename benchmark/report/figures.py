"""What a visualiser is given: the run's results, the plugins, the settings, a folder for its figures."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from benchmark.presets import Preset
from benchmark.registry.catalog import Catalog
from benchmark.report.progress import Item, ReportProgress, untracked
from benchmark.run.store import Store
from benchmark.settings import RunSettings


@dataclass
class VisualizerContext:
    """What a visualiser may read, and the folder it writes its figures into. ``memo`` is shared by the
    visualisers of one report, so that one computes once what several draw (the filter images); ``warnings``
    gathers what they left out (a kept model that cannot be read costs only its own figures)."""

    store: Store
    catalog: Catalog
    settings: RunSettings
    out_dir: Path
    style: str = "regularised"  # how filter images are drawn: "regularised" or "thesis"
    metric: str = "auc"  # the boards' metric (``tlbench report --metric``)
    memo: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # what a visualiser left out and why, one line each
    progress: ReportProgress | None = None  # the live display of `tlbench report`; None: draw silently

    @property
    def run_dir(self) -> Path:
        return self.store.run_dir

    def track(self, items: Iterable[Item], description: str, label: Callable[[Item], str] | None = None
              ) -> Iterator[Item]:
        """Yield ``items``; under ``tlbench report``, a progress line ``description`` counts them, names the one in
        hand (``label(item)``) and estimates the time left: for a visualiser's slow loops (models it draws)."""
        return (self.progress.track if self.progress is not None else untracked)(items, description, label)

    def rows(self) -> list[dict]:
        """The passed experiments' rows."""
        if "rows" not in self.memo:
            self.memo["rows"] = self.store.rows("passed")
        return self.memo["rows"]

    def boards(self, metric: str | None = None) -> list:
        """The leaderboards (:class:`benchmark.report.leaderboard.Board`) of the stored results in ``metric``
        (default: the context's), as ``tlbench show`` prints them."""
        metric = metric or self.metric
        key = ("boards", metric)
        if key not in self.memo:
            from benchmark.report.leaderboard import build_boards

            self.memo[key] = build_boards(self.rows(), metric, methods=self.catalog.methods, run_dir=self.run_dir)
        return self.memo[key]

    def board_rows(self, board) -> list[dict]:
        """The stored rows behind ``board``'s cells (the seeds it shows, of their latest configuration)."""
        hashes = {r.config_hash for cell in board.cells.values() for r in cell.results}
        return [row for row in self.rows() if row["config_hash"] in hashes]

    def board_path(self, stem: str, board, suffix: str = ".png") -> Path:
        """``out_dir/<stem>-<board title as a file name><suffix>``: one stable name per figure and board."""
        safe = re.sub(r"[^A-Za-z0-9._-]+", "-", board.title.replace("@", "")).strip("-.")
        return self.out_dir / f"{stem}-{safe}{suffix}"

    def kept_models(self) -> list[tuple[dict, Path]]:
        """The passed rows whose trained model was kept (``--keep-models``), with the model's file."""
        from benchmark.run.keptmodels import row_kept_path

        return [(row, path) for row in self.rows() if (path := row_kept_path(self.run_dir, row)).exists()]

    def used_sources(self) -> list[tuple[str, RunSettings, int]]:
        """Each source that passed experiments in the store used, with the settings of those runs (so that its
        weights resolve to the very files the runs used) and the lowest seed they ran (whose model is drawn where a
        source is trained per seed)."""
        seeds: dict[tuple[str, Preset], int] = {}
        for row in self.rows():
            if row["source"] == "none" or not row.get("preset"):
                continue
            key = (row["source"], Preset.from_fields(row["preset"]))
            seeds[key] = min(seeds.get(key, row["seed"]), row["seed"])
        return [(name, replace(self.settings, preset=preset), seed) for (name, preset), seed in seeds.items()]
