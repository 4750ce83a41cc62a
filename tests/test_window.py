"""Intensity windows for images of more than 8 bits, fixed or from the dataset's own percentiles: classes that differ
only in level stay apart, where mapping each image by its own range erases them."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import roc_auc_score

from benchmark.data.filedatasets import LoadOptions, load_options
from benchmark.data.imagecache import ImageCache, PercentileWindow
from benchmark.registry.config import load_config
from benchmark.registry.declared import declared_dataset


def level_only_pngs(folder: Path, per_class: int = 12) -> Path:
    """16-bit grey PNGs: class low has noise at 200-1,700, class high the same noise at 2,200-3,700."""
    rng = np.random.default_rng(0)
    for name, base in (("low", 200), ("high", 2200)):
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = (base + rng.uniform(0, 1500, size=(20, 20))).astype(np.uint16)
            Image.fromarray(pixels).save(folder / name / f"{i}.png")
    return folder


def declare(tmp_path: Path, window: str = ""):
    (tmp_path / "tlbench.toml").write_text(f'[datasets.levels]\npath = "levels"\n{window}')
    (declaration,) = load_config(tmp_path).datasets
    return declared_dataset(declaration, tmp_path)


def level_auc(dataset, root: Path) -> float:
    """The AUC of an image's mean pixel for its class, as the images are decoded."""
    (task,) = dataset.tasks()
    files = dataset.files(task, root)
    images = ImageCache(None).load("levels", {}, files.paths, 16, dataset.window).images
    return roc_auc_score(files.labels == task.classes.index("high"), images.mean(axis=(1, 2, 3)))


def test_a_fixed_window_keeps_the_level_that_per_image_scaling_erases(tmp_path):
    level_only_pngs(tmp_path / "levels")
    per_image = declare(tmp_path)
    windowed = declare(tmp_path, "window = [0, 4095]\n")
    assert windowed.window == (0.0, 4095.0) and per_image.window is None
    assert level_auc(windowed, tmp_path) == 1.0
    assert level_auc(per_image, tmp_path) < 0.8  # each image stretched over 0-255: the level is gone
    (task,) = windowed.tasks()
    assert windowed.fingerprint(task, tmp_path) != per_image.fingerprint(task, tmp_path)
    assert windowed.version != per_image.version


def test_a_window_that_is_not_low_then_high_is_refused(tmp_path):
    (tmp_path / "tlbench.toml").write_text('[datasets.levels]\npath = "levels"\nwindow = [4095, 0]\n')
    ((name, error),) = load_config(tmp_path).broken
    assert name == "levels" and "window must be [low, high] with low < high" in error


def loaded_level_auc(dataset, root: Path, cache: ImageCache) -> float:
    """:func:`level_auc` of the images as the dataset loads them (its window resolved through ``cache``)."""
    (task,) = dataset.tasks()
    with load_options(LoadOptions(cache)):
        imageset = dataset.load(task, root, 16)
    return roc_auc_score(imageset.labels == task.classes.index("high"), imageset.images.mean(axis=(1, 2, 3)))


def test_the_datasets_own_percentiles_keep_the_level_and_are_computed_once(tmp_path):
    level_only_pngs(tmp_path / "levels")
    per_image = declare(tmp_path)
    fixed = declare(tmp_path, "window = [0, 4095]\n")
    percentiles = declare(tmp_path, 'window = "dataset-percentiles"\n')
    assert percentiles.window == PercentileWindow(0.5, 99.5)
    cache = ImageCache(tmp_path / "cache")
    assert loaded_level_auc(percentiles, tmp_path, cache) == 1.0
    assert loaded_level_auc(per_image, tmp_path, ImageCache(None)) < 0.8
    (task,) = percentiles.tasks()
    pixels = np.concatenate([np.asarray(Image.open(path)).ravel() for path in percentiles.files(task, tmp_path).paths])
    (kept,) = (tmp_path / "cache" / "images").glob("levels-window-*.json")
    assert json.loads(kept.read_text())["window"] == pytest.approx(np.percentile(pixels, [0.5, 99.5]).tolist())
    kept.write_text(json.dumps({"window": [0, 1]}))  # the kept window is read, not computed again: all white
    assert loaded_level_auc(percentiles, tmp_path, cache) == 0.5
    prints = {d.fingerprint(task, tmp_path) for d in (per_image, fixed, percentiles)}
    prints.add(declare(tmp_path, 'window = "dataset-percentiles"\nwindow_percentiles = [1, 99]\n').fingerprint(
        task, tmp_path))
    assert len(prints) == 4 and len({d.version for d in (per_image, fixed, percentiles)}) == 3


@pytest.mark.parametrize("lines, error", [
    ('window = "dataset-percentiles"\nwindow_percentiles = [99, 1]\n', "window_percentiles must be [low, high]"),
    ('window = "dataset-percentiles"\nwindow_percentiles = [0, 101]\n', "0 <= low < high <= 100"),
    ('window = [0, 4095]\nwindow_percentiles = [1, 99]\n', 'goes with window = "dataset-percentiles"'),
    ('window = "percentile"\n', 'or "dataset-percentiles" for the dataset\'s own percentiles'),
])
def test_a_percentile_window_that_cannot_be_used_is_refused(tmp_path, lines, error):
    (tmp_path / "tlbench.toml").write_text(f'[datasets.levels]\npath = "levels"\n{lines}')
    ((name, message),) = load_config(tmp_path).broken
    assert name == "levels" and error in message
