"""Hand-labelled filter tiles: the fixture that scores the automatic taxonomy against a person's eye.

A folder holds ``manifest.csv`` (columns tile, model, kind, stage, channel, style: one row per tile),
``labels.csv`` (columns tile, label: a person's class for each tile, one of the taxonomy's classes; a
blank label means not labelled) and ``tiles/<tile>.png``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from benchmark.report.filters.taxonomy import CLASSES


def labelled_tiles(folder: Path) -> list[dict]:
    """One record per labelled tile, in ``labels.csv``'s order: the manifest's columns, ``label`` and
    ``image`` (float (H, W, 3) on [0, 1]). A label outside the taxonomy's classes, or a labelled tile missing
    from the manifest, is an error naming the tile."""
    folder = Path(folder)
    with open(folder / "manifest.csv", newline="") as handle:
        manifest = {row["tile"]: row for row in csv.DictReader(handle)}
    records = []
    with open(folder / "labels.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            label = (row["label"] or "").strip().lower()
            if not label:
                continue
            tile = row["tile"]
            if label not in CLASSES:
                raise ValueError(f"tile {tile}: label {label!r} is none of {', '.join(CLASSES)}")
            if tile not in manifest:
                raise ValueError(f"tile {tile} is labelled but not in {folder / 'manifest.csv'}")
            with Image.open(folder / "tiles" / tile) as image:
                pixels = np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0
            records.append({**manifest[tile], "label": label, "image": pixels})
    return records
