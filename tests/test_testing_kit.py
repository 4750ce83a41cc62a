"""benchmark.testing: the fake data root, the tiny preset and one experiment run in-process."""

import numpy as np
import pytest
from PIL import Image

from benchmark.presets import PRESETS
from benchmark.testing import TINY_ARGS, TINY_PRESET, catalog, fake_image_folders, run_experiment


def test_fake_image_folders_writes_learnable_pngs_one_folder_per_class(tmp_path):
    root = fake_image_folders(tmp_path / "derm", ("benign", "malignant"), per_class=3, size=20)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))
    assert files == [f"{c}/{c}_{i:03d}.png" for c in ("benign", "malignant") for i in range(3)]
    first, second = (np.asarray(Image.open(root / c / f"{c}_000.png")) for c in ("benign", "malignant"))
    assert first.shape == (20, 20, 3) and first.dtype == np.uint8
    assert first[:10, :10].mean() > first[:10, 10:].mean() + 50  # class 0: top-left square
    assert second[:10, 10:].mean() > second[:10, :10].mean() + 50  # class 1: top-right square


def test_tiny_preset_is_cpu_quick_made_small_and_matches_its_command_line():
    assert TINY_PRESET.backbone == "test_resnet" and TINY_PRESET.image_size <= 32 and TINY_PRESET.max_epochs <= 2
    quick = PRESETS["cpu-quick"]
    assert TINY_PRESET.with_overrides(backbone=quick.backbone, image_size=quick.image_size,
                                      max_epochs=quick.max_epochs, batch_size=quick.batch_size) == quick
    args = dict(zip(TINY_ARGS[::2], TINY_ARGS[1::2], strict=True))
    assert args == {"--preset": "cpu-quick", "--backbone": "test_resnet", "--image-size": str(TINY_PRESET.image_size),
                    "--max-epochs": str(TINY_PRESET.max_epochs), "--batch-size": str(TINY_PRESET.batch_size)}


def test_catalog_lists_a_plugin_module_given_by_import_path():
    assert {"tiny_src", "tiny_tgt", "tiny_three"} <= set(catalog(["tiny_plugin"]).datasets)
    assert "tiny_tgt" not in catalog().datasets


def test_fake_image_folders_make_a_file_dataset_available(tmp_path):
    natural = catalog().datasets["natural_images"]
    assert natural.status(tmp_path).state == "missing"
    fake_image_folders(tmp_path / "natural_images", natural.tasks()[0].classes, per_class=2)
    assert natural.status(tmp_path).available


def test_run_experiment_returns_the_passed_row_with_its_auc(tmp_path):
    row = run_experiment("tiny_tgt", "tiny_src", "fe-svm", seed=3, plugins=["tiny_plugin"], tmp_path=tmp_path)
    assert (row["target"], row["source"], row["method"], row["seed"], row["status"]) == (
        "tiny_tgt", "tiny_src", "fe-svm", 3, "passed")
    assert 0.0 <= row["metrics"]["auc"] <= 1.0
    assert row["config"]["preset"]["backbone"] == "test_resnet"
    assert (tmp_path / "runs" / "tlbench.sqlite").exists()


def test_run_experiment_raises_with_the_reason_when_the_experiment_fails(tmp_path):
    with pytest.raises(AssertionError, match=r"(?s)tiny_tgt::none::flaky\[seed=5\] did not pass.*fails on seed 5"):
        run_experiment("tiny_tgt", "none", "flaky", seed=5, plugins=["tiny_plugin", "failing_method"],
                       tmp_path=tmp_path)


def test_run_experiment_raises_for_an_unknown_target(tmp_path):
    with pytest.raises(AssertionError, match="nowhere::none::scratch\\[seed=2\\] did not pass"):
        run_experiment("nowhere", "none", "scratch", tmp_path=tmp_path)


def test_an_installed_plugin_module_is_not_loaded_a_second_time():
    found = catalog(["tlbench_plugins.datasets.synthetic", "tiny_plugin"])
    assert [p.status for p in found.plugins if p.name in ("synthetic", "tiny_plugin")] == ["ok", "ok"]
    assert not [p for p in found.plugins if p.name == "tlbench_plugins.datasets.synthetic"]
