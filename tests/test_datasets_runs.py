"""Datasets in runs: official splits per preset, training-only augmentation, clear errors, the cache."""

import json

import numpy as np
import pytest
import torch
from conftest import TINY
from fakedata import make_blood_cells, make_chest_xray, make_imagefolder, make_isic2017

from benchmark.data.taskdata import TaskData
from benchmark.presets import CPU_QUICK, THESIS
from benchmark.settings import RunSettings
from tlbench_plugins.datasets.blood_cells import BloodCells
from tlbench_plugins.datasets.chest_xray import ChestXray
from tlbench_plugins.datasets.isic2017 import Isic2017


def settings(root, official=False, size=8):
    preset = CPU_QUICK.with_overrides(image_size=size, official_splits=official)
    return RunSettings(preset, torch.device("cpu"), root, root / "cache")


def test_no_preset_uses_official_splits_by_default():
    assert not THESIS.official_splits and not CPU_QUICK.official_splits


def test_chest_split_is_grouped_unless_the_preset_asks_for_the_official_one(tmp_path):
    make_chest_xray(tmp_path, splits=("train", "test"), per_class=5)
    dataset = ChestXray()
    data = TaskData(settings(tmp_path))
    split = data.split(dataset, dataset.tasks()[0], seed=2)
    imageset, _ = data.imageset(dataset, dataset.tasks()[0])
    assert split.split.kind == "grouped"
    groups = imageset.groups
    assert not set(groups[split.split.test]) & set(groups[split.split.train])
    official = TaskData(settings(tmp_path, official=True)).split(dataset, dataset.tasks()[0], seed=2)
    assert official.split.kind == "official"
    assert set(imageset.official_split[official.split.test]) == {"test"}
    assert official.split.hash != split.split.hash


def test_official_split_asked_for_without_test_images_is_an_error(tmp_path):
    make_chest_xray(tmp_path, splits=("train",))
    dataset = ChestXray()
    with pytest.raises(ValueError, match="no official test images"):
        TaskData(settings(tmp_path, official=True)).split(dataset, dataset.tasks()[0], seed=2)


def test_blood_cells_use_the_folder_split_under_any_preset(tmp_path):
    make_blood_cells(tmp_path, {"TRAIN": 10, "TEST": 3, "TEST_SIMPLE": 1})
    dataset = BloodCells()
    data = TaskData(settings(tmp_path))
    split = data.split(dataset, dataset.tasks()[0], seed=5)
    imageset, _ = data.imageset(dataset, dataset.tasks()[0])
    assert split.split.kind == "official"
    assert (imageset.official_split[split.split.test] == "test").all() and len(split.split.test) == 12
    assert len(split.split.train) + len(split.split.val) == 40


def test_isic_balancing_touches_the_training_part_only(tmp_path):
    make_isic2017(tmp_path, {"melanoma": 10, "nevus": 30})
    dataset = Isic2017()
    task = dataset.tasks()[0]
    split = TaskData(settings(tmp_path)).split(dataset, task, seed=7)
    train_counts = np.bincount(split.train.labels.numpy())
    assert train_counts[0] == train_counts[1]
    assert len(split.train) == len(split.split.train) + split.augmented and split.augmented > 0
    assert len(split.val) == len(split.split.val) and len(split.test) == len(split.split.test)
    assert np.bincount(split.test.labels.numpy()).tolist() != [4, 4]  # test keeps its natural balance


def test_a_second_run_decodes_no_image(tmp_path):
    make_chest_xray(tmp_path, per_class=3)
    dataset = ChestXray()
    first = TaskData(settings(tmp_path))
    first.imageset(dataset, dataset.tasks()[0])
    assert first.options.cache.decoded == 12
    second = TaskData(settings(tmp_path))
    second.imageset(dataset, dataset.tasks()[0])
    assert second.options.cache.decoded == 0


def test_cli_isic_and_a_declared_source_end_to_end(tmp_path, monkeypatch, cli):
    make_isic2017(tmp_path / "data", {"melanoma": 12, "nevus": 20})
    make_chest_xray(tmp_path / "data", per_class=8)
    make_imagefolder(tmp_path / "data" / "tinyfolder", classes=("a", "b", "c"), per_class=8)
    (tmp_path / "tlbench.toml").write_text(
        'data_root = "data"\n[datasets.tinyfolder]\npath = "tinyfolder"\nroles = ["source"]\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TLBENCH_DATA", raising=False)
    out = tmp_path / "run"
    result = cli("run", "-d", "isic2017_mel_nev", "-d", "isic2017_mel_nev_sk", "-s", "none", "-m", "scratch",
                 "--seeds", "2", "--out", out, *TINY)
    assert "PASSED isic2017_mel_nev::none::scratch[seed=2]" in result.output
    assert "isic2017_mel_nev_sk::none::scratch[seed=2]" not in result.output  # skipped at planning, not failed
    plan = cli("run", "-d", "isic2017_mel_nev_sk", "-s", "none", "-m", "scratch", "--seeds", "2", "--out", out,
               "--collect-only", "-v", *TINY)
    assert "task isic2017_mel_nev_sk has no images of class seborrheic_keratosis" in " ".join(plan.output.split())
    listed = {t["task"]: t for t in json.loads(cli("list", "--json").output)["tasks"]}
    assert listed["isic2017_mel_nev"]["status"] == "available"
    for name in ("isic2017_mel_nev_sk", "isic2017_melsk_nev"):
        assert listed[name]["status"] == "incomplete"
        assert listed[name]["message"].startswith(f"task {name} has no images of class seborrheic_keratosis")
    assert "decoded 32 images of isic2017-isic2017_mel_nev" in result.output
    declared = cli("run", "-d", "chest_xray", "-s", "tinyfolder", "-m", "fe-svm", "--seeds", "2", "--out", out, *TINY)
    assert "PASSED chest_xray::tinyfolder::fe-svm[seed=2]" in declared.output
    shown = json.loads(cli("show", "--out", out, "--format", "json").output)["experiments"]
    passed = [r for r in shown if r["status"] == "passed"]
    assert len(passed) == 2 and all(r["split_hash"] for r in passed)
    again = cli("run", "-d", "isic2017_mel_nev", "-d", "chest_xray", "-s", "none", "-m", "scratch", "--seeds", "2",
                "--rerun", "all", "--out", out, *TINY)
    assert again.output.count("no image decoded") == 2 and "images/s" not in again.output
    assert again.exit_code == 0


def test_svm_methods_use_the_augmented_training_images(tmp_path, cli):
    """ISIC balancing adds training images with no position in the task; feature extraction must
    cover them too (benchmark.methods: the images past ``len(split.train)`` are ``data.augmented``)."""
    make_isic2017(tmp_path, {"melanoma": 12, "nevus": 20})
    result = cli("run", "-d", "isic2017_mel_nev", "-s", "random", "-m", "fe-svm", "--seeds", "2",
                 "--data-root", tmp_path, "--out", tmp_path / "run", *TINY)
    assert "PASSED isic2017_mel_nev::random::fe-svm[seed=2]" in result.output


def test_cli_skips_a_truncated_image_by_name_and_fails_under_strict(tmp_path, cli):
    paths = make_chest_xray(tmp_path, per_class=8)
    broken = paths[3]
    broken.write_bytes(broken.read_bytes()[:60])  # starts like a JPEG, so the status check passes
    # no leak audit: flat-colour fakes are near-duplicates of each other, which --strict would skip
    args = ["run", "-d", "chest_xray", "-s", "none", "-m", "scratch", "--seeds", "2", "--data-root", tmp_path, *TINY,
            "--no-audit"]
    default = cli(*args, "--out", tmp_path / "default")  # 1 of the 32 files: more than the 1% that may be skipped
    assert "FAILED chest_xray::none::scratch[seed=2] UnreadableImagesError" in default.output
    assert "more than the 1% that may be skipped" in " ".join(cli("show", "--out", tmp_path / "default", "--format",
                                                                  "json").output.split())
    lenient = cli(*args, "--out", tmp_path / "lenient", "--max-unreadable", "0.05")
    assert "skipped 1 unreadable image" in lenient.output and broken.name in lenient.output
    assert "PASSED chest_xray::none::scratch[seed=2]" in lenient.output
    strict = cli(*args, "--out", tmp_path / "strict", "--strict")
    assert "FAILED chest_xray::none::scratch[seed=2] UnreadableImagesError" in strict.output
    assert strict.exit_code == 1


@pytest.mark.parametrize("allowed, state", [(None, "skipped"), ("0.01", "skipped"), ("0.05", "pending"),
                                            ("1", "pending")])
def test_max_unreadable_is_honoured_at_planning(tmp_path, cli, allowed, state):
    """One empty file in 41 is 2.4%: more than the default 1% of a dataset that may be unreadable."""
    paths = make_chest_xray(tmp_path, per_class=10)  # 40 images
    (paths[0].parent / "empty.jpeg").write_bytes(b"")
    option = ["--max-unreadable", allowed] if allowed else []
    result = cli("run", "-d", "chest_xray", "-s", "none", "-m", "scratch", "--seeds", "2", "--data-root", tmp_path,
                 "--collect-only", "-v", "--out", tmp_path / "run", *TINY, *option)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"{state} chest_xray::none::scratch[seed=2]" in text
    if state == "skipped":
        assert "1 of 41 file(s)" in text and "more than the 1% that may be skipped: " in text and "empty.jpeg" in text
