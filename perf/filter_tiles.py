"""An unlabelled set of filter tiles for labelling by hand (structural or not), from a run folder of the
embedded default run with kept models.

    python perf/filter_tiles.py --run RUN --cache-dir CACHE [--per-group 7] [--sheets /tmp/filter-sheets]

Models: every source the run used (synth_shapes, random), the random starting weights of one fine-tuning,
and up to ``--fine-tuned`` kept fine-tuned models; both styles; stages 1-3. ``--per-group`` channels are
drawn at random from each (model, style, stage). The tiles go, shuffled and anonymous (tile-000.png ...,
64 x 64, nearest), to tests/fixtures/filters/tiles/ with manifest.csv beside them (tile, model, kind, stage,
channel, style), and numbered contact sheets of 40 tiles to ``--sheets``.
"""

from __future__ import annotations

import argparse
import csv
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from benchmark.engine.inputs import attach
from benchmark.engine.seeding import seeded
from benchmark.presets import Preset
from benchmark.registry.pluginmanager import load_catalog
from benchmark.report.figures import VisualizerContext
from benchmark.report.filters.filtersets import compute_filters, safe_key
from benchmark.run.keptmodels import load_model
from benchmark.run.store import Store
from benchmark.settings import RunSettings
from tlbench_plugins.visualizers.filters import draw_grid

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "filters"
TILE, PER_SHEET, STYLES = 64, 40, ("thesis", "regularised")


def chosen_models(ctx: VisualizerContext, fine_tuned: int) -> list[tuple[object, int, dict]]:
    """(model, image size, identity) of the sources, one random start, and a few kept fine-tuned models."""
    sources, chosen = ctx.catalog.all_sources(), []
    for name, settings in ctx.used_sources():
        with seeded(0):
            model = attach(sources[name].build(settings, 2, seed=0), sources[name].input_convention(settings))
        chosen.append((model, settings.preset.image_size, {"key": f"{name}-seed0", "kind": "source"}))
    kept = [(row, path) for row, path in ctx.kept_models() if row["method"] == "ft-svm"]
    kept.sort(key=lambda item: (item[0]["seed"], item[0]["source"], item[0]["target"]))
    random_start = next((row for row, _ in kept if row["source"] == "random"), None)
    if random_start is not None:
        settings = replace(ctx.settings, preset=Preset.from_fields(random_start["preset"]))
        with seeded(random_start["seed"]):
            model = attach(sources["random"].build(settings, 2, random_start["seed"]),
                           sources["random"].input_convention(settings))
        chosen.append((model, settings.preset.image_size,
                       {"key": f"random-seed{random_start['seed']}", "kind": "source"}))
    for row, path in kept[:fine_tuned]:
        model, _ = load_model(path)
        key = safe_key(f"ft-{row['source']}-{row['target']}-seed{row['seed']}")
        chosen.append((model, Preset.from_fields(row["preset"]).image_size, {"key": key, "kind": "fine-tuned"}))
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--cache-dir", type=Path, required=True)
    parser.add_argument("--fine-tuned", type=int, default=4)
    parser.add_argument("--per-group", type=int, default=7)
    parser.add_argument("--sheets", type=Path, default=Path("/tmp/filter-sheets"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    settings = RunSettings.build(device="auto", data_root=args.run / "data", cache_dir=args.cache_dir)
    ctx = VisualizerContext(Store(args.run), load_catalog(), settings, args.sheets)
    rng = np.random.default_rng(args.seed)
    tiles = []  # (image, manifest row)
    for model, size, identity in chosen_models(ctx, args.fine_tuned):
        for style in STYLES:
            filters = compute_filters(model, size, style, settings.device, label=identity["key"], source=None,
                                      target=None, seed=0, config_hash="", **identity)
            for stage in filters.stages:
                for i in sorted(rng.choice(len(stage.channels), args.per_group, replace=False)):
                    tiles.append((stage.images[i], {"model": identity["key"], "kind": identity["kind"],
                                                    "stage": stage.stage, "channel": stage.channels[i],
                                                    "style": style}))
            print(f"{identity['key']} {style}: {sum(len(s.channels) for s in filters.stages)} channels")
    order = rng.permutation(len(tiles))
    tile_dir = FIXTURES / "tiles"
    shutil.rmtree(tile_dir, ignore_errors=True)
    tile_dir.mkdir(parents=True)
    args.sheets.mkdir(parents=True, exist_ok=True)
    manifest, shown = [], []
    for number, index in enumerate(order):
        image, entry = tiles[index]
        name = f"tile-{number:03d}.png"
        pixels = Image.fromarray((np.clip(image, 0, 1) * 255).round().astype(np.uint8))
        pixels.resize((TILE, TILE), Image.NEAREST).save(tile_dir / name, optimize=True)
        manifest.append({"tile": name, **entry})
        shown.append(image)
    with open(FIXTURES / "manifest.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=["tile", "model", "kind", "stage", "channel", "style"])
        writer.writeheader()
        writer.writerows(manifest)
    for sheet, start in enumerate(range(0, len(shown), PER_SHEET), start=1):
        numbers = range(start, min(start + PER_SHEET, len(shown)))
        draw_grid(np.stack([shown[n] for n in numbers]), [f"{n:03d}" for n in numbers],
                  f"Filter tiles {numbers[0]:03d}-{numbers[-1]:03d}: structural (complex, direction) or not "
                  "(colour, noise)?", args.sheets / f"sheet-{sheet}.png", 2 * TILE)
    print(f"{len(manifest)} tiles in {tile_dir}, sheets in {args.sheets}")


if __name__ == "__main__":
    main()
