"""Intensity windows for images of more than 8 bits, fixed or from the percentiles of each split's training images:
classes that differ only in level stay apart, where mapping each image by its own range erases them, and the
validation and test images never move the window."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import roc_auc_score

from benchmark.data.filedatasets import LoadOptions, load_options
from benchmark.data.imagecache import ImageCache
from benchmark.data.taskdata import TaskData
from benchmark.data.windows import PercentileWindow
from benchmark.presets import CPU_QUICK
from benchmark.registry.config import load_config
from benchmark.registry.declared import declared_dataset
from benchmark.settings import RunSettings


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


def split_of(dataset, root: Path, seed: int = 0):
    """The seed's split of the dataset's one task, as a run assembles it (cache under ``root / "cache"``)."""
    settings = RunSettings(CPU_QUICK.with_overrides(image_size=16), torch.device("cpu"), root, root / "cache")
    (task,) = dataset.tasks()
    return TaskData(settings).split(dataset, task, seed)


def part_auc(part) -> float:
    """The AUC of an image's mean pixel for class high (label 0: high sorts first) in one part of a split."""
    return roc_auc_score(part.labels.numpy() == 0, part.images.float().mean(dim=(1, 2, 3)).numpy())


def resized_values(path: Path) -> np.ndarray:
    """A 16-bit file's values squashed to 16 x 16 as floats, bilinearly (what the window is taken from)."""
    values = np.asarray(Image.open(path), dtype=np.float32)
    return np.asarray(Image.fromarray(values).resize((16, 16), Image.BILINEAR))


def rewrite(paths, change) -> None:
    for path in paths:
        Image.fromarray(change(np.asarray(Image.open(path)).astype(np.float64)).astype(np.uint16)).save(path)


def test_the_window_is_the_percentiles_of_the_splits_training_images_and_keeps_the_level(tmp_path):
    level_only_pngs(tmp_path / "levels")
    percentiles = declare(tmp_path, 'window = "dataset-percentiles"\n')
    assert percentiles.window == PercentileWindow(0.5, 99.5)
    (task,) = percentiles.tasks()
    files = percentiles.files(task, tmp_path)
    split = split_of(percentiles, tmp_path)
    training = np.concatenate([resized_values(files.paths[i]).ravel() for i in split.split.train])
    assert split.window == pytest.approx(np.percentile(training, [0.5, 99.5]).tolist(), rel=1e-6)
    everything = np.concatenate([resized_values(path).ravel() for path in files.paths])
    assert split.window != pytest.approx(np.percentile(everything, [0.5, 99.5]).tolist(), rel=1e-6)
    assert min(part_auc(split.train), part_auc(split.test)) == 1.0
    assert part_auc(split_of(declare(tmp_path), tmp_path).train) < 0.8  # per-image scaling erases the level
    other_seed = split_of(percentiles, tmp_path, seed=1)
    assert other_seed.window != split.window and other_seed.images_digest != split.images_digest


def test_the_window_ignores_validation_and_test_images_and_follows_training_images(tmp_path):
    level_only_pngs(tmp_path / "levels")
    dataset = declare(tmp_path, 'window = "dataset-percentiles"\nwindow_percentiles = [2, 98]\n')
    (task,) = dataset.tasks()
    paths = dataset.files(task, tmp_path).paths
    before = split_of(dataset, tmp_path)
    held_out = np.concatenate([before.split.val, before.split.test])
    rewrite([paths[i] for i in held_out], lambda values: values * 10 + 20000)  # far above every training value
    after = split_of(dataset, tmp_path)
    assert np.array_equal(after.split.test, before.split.test), "the same split: the labels did not change"
    assert after.window == before.window and after.window[1] < 20000
    assert torch.equal(after.train.images, before.train.images)
    assert bool((after.test.images == 255).all()), "test images above the training window are clipped to white"
    rewrite([paths[before.split.train[0]]], lambda values: values * 10)
    assert split_of(dataset, tmp_path).window[1] > before.window[1]


def test_a_datasets_augmentation_sees_the_images_through_the_splits_window(tmp_path):
    level_only_pngs(tmp_path / "levels")
    dataset = declare(tmp_path, 'window = "dataset-percentiles"\n')
    seen = []
    dataset.augment_train = lambda task, imageset, train, seed: seen.append(imageset)
    split = split_of(dataset, tmp_path)
    (imageset,) = seen
    assert imageset.wide is None
    assert np.array_equal(imageset.images[split.split.train], split.train.images.permute(0, 2, 3, 1).numpy())
    (task,) = dataset.tasks()
    with load_options(LoadOptions(ImageCache(None))):
        own_range = dataset.load(task, tmp_path, 16)
    assert own_range.wide is not None and not np.array_equal(own_range.images, imageset.images)


def test_the_cache_keeps_the_values_of_images_of_more_than_8_bits_beside_the_others(tmp_path):
    rng = np.random.default_rng(1)
    wide_values = [rng.integers(0, 4096, size=(12, 12)).astype(np.uint16) for _ in range(2)]
    Image.fromarray(wide_values[0]).save(tmp_path / "a.png")
    Image.fromarray(rng.integers(0, 256, size=(12, 12, 3), dtype=np.uint8)).save(tmp_path / "b.png")
    (tmp_path / "c.png").write_bytes(b"not an image")
    Image.fromarray(wide_values[1]).save(tmp_path / "d.png")
    paths = [tmp_path / name for name in ("a.png", "b.png", "c.png", "d.png")]
    cache = ImageCache(tmp_path / "cache")
    first = cache.load("mixed", {}, paths, 6, PercentileWindow())
    assert first.kept.tolist() == [0, 1, 3] and first.wide_rows.tolist() == [0, 2]
    expected = [np.asarray(Image.fromarray(v.astype(np.float32)).resize((6, 6), Image.BILINEAR)) for v in wide_values]
    assert np.array_equal(first.levels, np.stack(expected))
    in_memory = ImageCache(None).load("mixed", {}, paths, 6, PercentileWindow())
    assert np.array_equal(in_memory.levels, first.levels) and np.array_equal(in_memory.images, first.images)
    again = ImageCache(tmp_path / "cache").load("mixed", {}, paths, 6, PercentileWindow())
    assert again.decoded == 0 and np.array_equal(again.levels, first.levels)
    for damage in (Path.unlink, lambda levels: np.save(levels, np.zeros((3, 6, 6), np.float32))):
        (levels,) = (tmp_path / "cache" / "images").glob("mixed-6px-*.levels.npy")
        damage(levels)
        rebuilt = ImageCache(tmp_path / "cache").load("mixed", {}, paths, 6, PercentileWindow())
        assert rebuilt.decoded == 4 and np.array_equal(rebuilt.levels, first.levels)
    plain = ImageCache(tmp_path / "cache").load("mixed", {}, paths, 6)  # another entry: no levels
    assert plain.levels is None and plain.decoded == 4


def test_fixed_and_per_image_windows_are_applied_when_decoding(tmp_path):
    level_only_pngs(tmp_path / "levels")
    for lines in ("", "window = [0, 4095]\n"):
        dataset = declare(tmp_path, lines)
        (task,) = dataset.tasks()
        with load_options(LoadOptions(ImageCache(None))):
            imageset = dataset.load(task, tmp_path, 16)
        split = split_of(dataset, tmp_path)
        assert imageset.wide is None and split.window is None
        assert np.array_equal(split.test.images.permute(0, 2, 3, 1).numpy(), imageset.images[split.split.test])


def test_the_fingerprint_holds_the_window_rule_and_its_percentiles(tmp_path):
    level_only_pngs(tmp_path / "levels")
    rules = ("", "window = [0, 4095]\n", 'window = "dataset-percentiles"\n',
             'window = "dataset-percentiles"\nwindow_percentiles = [1, 99]\n')
    datasets = [declare(tmp_path, lines) for lines in rules]
    (task,) = datasets[0].tasks()
    assert len({d.fingerprint(task, tmp_path) for d in datasets}) == 4
    assert len({d.version for d in datasets}) == 4


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
