"""Official splits: a missing test part is a skip at planning that says what to do, and an official validation part
too small to select on is replaced by one carved from the official training part, with a note."""

import numpy as np
import torch
from conftest import TINY
from fakedata import make_chest_xray, make_isic2017

from benchmark.data.splits import make_split
from benchmark.data.taskdata import TaskData
from benchmark.presets import CPU_QUICK, RECOMMENDED
from benchmark.settings import RunSettings
from tlbench_plugins.datasets.chest_xray import ChestXray


def test_official_splits_without_a_test_part_are_skipped_once_at_planning_naming_the_flag(tmp_path, cli):
    make_isic2017(tmp_path, {"melanoma": 12, "nevus": 20})  # the Training part only
    args = ("run", "-d", "isic2017_mel_nev", "-s", "none", "-m", "scratch", "--seeds", "2,5", "--data-root", tmp_path,
            "--out", tmp_path / "runs", *TINY)
    plan = cli(*args, "--official-splits", "--collect-only")
    text = " ".join(plan.output.split())
    assert "2 skipped: target isic2017_mel_nev: the preset asks for official splits, but the official split of " \
           "isic2017 under the data root has no test part (only train): add that part, or pass --no-official-splits " \
           "to split it by seed" in text
    assert "2 pending" in cli(*args, "--no-official-splits", "--collect-only").output


def official(train: int, val: int, test: int) -> np.ndarray:
    return np.array(["train"] * train + ["val"] * val + ["test"] * test)


def test_a_tiny_official_validation_part_is_replaced_from_the_training_part_grouped():
    rng = np.random.default_rng(0)
    parts = official(400, 16, 100)
    labels = rng.integers(0, 2, len(parts))
    groups = np.repeat(np.arange(len(parts) // 2), 2)  # two images per patient, in one part
    split = make_split(labels, 2, 0.2, 0.1, groups=groups, official=parts, min_val=(100, 10))
    assert (parts[split.test] == "test").all() and len(split.test) == 100
    assert set(parts[split.train]) | set(parts[split.val]) == {"train", "val"}
    assert len(split.train) + len(split.val) == 416 and len(split.val) > 16
    assert not set(groups[split.train]) & set(groups[split.val])
    assert split.note.startswith("the official validation part (16 images, at least ")
    assert f"validation is {len(split.val)} images of the official training part instead (grouped by patient" \
           in split.note
    kept = make_split(labels, 2, 0.2, 0.1, groups=groups, official=parts)  # no minimum: the official part
    assert (parts[kept.val] == "val").all() and kept.note == ""
    large = official(300, 116, 100)
    enough = make_split(labels, 2, 0.2, 0.1, groups=groups, official=large, min_val=(100, 10))
    assert (large[enough.val] == "val").all() and enough.note == ""


def test_recommended_replaces_chest_xrays_tiny_validation_part(tmp_path):
    make_chest_xray(tmp_path, splits=("train", "val", "test"), per_class=6)
    dataset = ChestXray()
    task = dataset.tasks()[0]

    def split(preset):
        preset = preset.with_overrides(image_size=16, official_splits=True)
        return TaskData(RunSettings(preset, torch.device("cpu"), tmp_path, tmp_path / "cache")).split(dataset, task, 2)

    replaced = split(CPU_QUICK.with_overrides(min_val_images=RECOMMENDED.min_val_images,
                                              min_val_per_class=RECOMMENDED.min_val_per_class))
    assert "the official validation part (24 images" in replaced.split.note
    assert split(CPU_QUICK).split.note == ""
    assert (RECOMMENDED.min_val_images, RECOMMENDED.min_val_per_class) == (100, 10)
