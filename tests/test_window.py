"""A fixed intensity window for images of more than 8 bits: classes that differ only in level stay apart, where
mapping each image by its own range erases them."""

from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.metrics import roc_auc_score

from benchmark.data.imagecache import ImageCache
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
