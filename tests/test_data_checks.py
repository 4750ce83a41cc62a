"""Data that cannot make a benchmark is caught at planning, with what it needs: too few classes, too few images."""

import json
from pathlib import Path

import numpy as np
import pytest
from fakedata import make_imagefolder

from benchmark.data.splits import make_split, split_problem
from benchmark.registry.config import DatasetDeclaration
from benchmark.registry.declared import declared_dataset


def test_split_problem_names_the_classes_and_the_minimum():
    assert split_problem(["a", "b"], [5, 3], seeded=True) == ""
    assert "only 1 class has images (a)" in split_problem(["a", "b"], [5, 0], seeded=True)
    small = split_problem(["a", "b", "c"], [5, 2, 1], seeded=True)
    assert "b (2), c (1)" in small and "at least 3 images per class" in small
    assert split_problem(["a", "b"], [5, 2], seeded=False) == ""  # an official split is used as given


def test_make_split_refuses_what_it_cannot_stratify():
    with pytest.raises(ValueError, match="at least 3 images per class"):
        make_split(np.array([0] * 10 + [1] * 2), seed=0, test_fraction=0.2, val_fraction=0.1)
    with pytest.raises(ValueError, match="only 1 class"):
        make_split(np.zeros(10, dtype=int), seed=0, test_fraction=0.2, val_fraction=0.1)


@pytest.mark.parametrize(("counts", "reason"), [
    ({"a": 6, "b": 2}, "too few images to split: b (2)"),
    ({"a": 6}, "only 1 class has images (a)"),
])
def test_a_dataset_that_cannot_be_split_is_skipped_at_planning(tmp_path, cli, monkeypatch, counts, reason):
    for name, count in counts.items():
        make_imagefolder(tmp_path / "data" / "small", classes=(name,), per_class=count)
    (tmp_path / "tlbench.toml").write_text('data_root = "data"\n[datasets.small]\npath = "small"\n'
                                           'roles = ["target"]\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TLBENCH_DATA", raising=False)
    result = cli("run", "-d", "small", "-m", "scratch", "--collect-only")
    assert result.exit_code == 0, result.output
    assert reason in result.output.replace("\n", " ")
    ran = cli("run", "-d", "small", "-m", "scratch", "--max-epochs", "1", "--image-size", "8", "--no-audit")
    assert ran.exit_code == 5 and "Traceback" not in ran.output, "nothing ran, nothing failed"
    assert json.loads(cli("show", "--format", "json").output)["experiments"] == []


def test_split_folders_beside_a_stray_folder_are_named(tmp_path):
    folder = make_imagefolder(tmp_path / "d", classes=("a", "b"), splits=("train", "test"))
    make_imagefolder(folder / "notes", classes=("x",))
    status = declared_dataset(DatasetDeclaration("d", "imagefolder", Path("d")), tmp_path).status(tmp_path)
    assert status.state == "incomplete"
    assert "holds split folders (test, train) beside other folders (notes)" in status.message


def test_images_only_in_nested_subfolders_are_named(tmp_path):
    folder = make_imagefolder(tmp_path / "d", classes=("b",))
    make_imagefolder(folder / "a", classes=("scan1", "scan2"))
    status = declared_dataset(DatasetDeclaration("d", "imagefolder", Path("d")), tmp_path).status(tmp_path)
    assert status.state == "incomplete"
    assert f"class folder {folder / 'a'} holds its images only in subfolders (scan1, scan2)" in status.message
    assert "move them up a level" in status.message
