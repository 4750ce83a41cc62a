"""The real plugins against the project's small real-data copies (docs/datasets.md; skipped where they are absent)."""

import csv

import numpy as np
import pytest
import torch
from fakedata import SHARED_DATA

from benchmark.data.imagecache import ImageCache
from benchmark.data.taskdata import TaskData
from benchmark.presets import CPU_QUICK
from benchmark.registry.config import DatasetDeclaration
from benchmark.registry.declared import declared_dataset
from benchmark.settings import RunSettings
from tlbench_plugins.datasets.blood_cells import BloodCells
from tlbench_plugins.datasets.chest_xray import ChestXray
from tlbench_plugins.datasets.medmnist import MedMnist
from tlbench_plugins.datasets.natural_images import NaturalImages


def need(folder: str):
    path = SHARED_DATA / folder
    if not path.exists():
        pytest.skip(f"real data copy {path} is absent (it is not part of the repository)")
    return path


def decode_sample(dataset, files, tmp_path, count=96):
    """Decode an evenly spaced sample of the files at 16 px."""
    pick = np.linspace(0, len(files.paths) - 1, count).astype(int)
    cached = ImageCache(tmp_path).load(dataset.name, {}, [files.paths[i] for i in pick], 16)
    assert cached.failures == [] and cached.images.shape == (count, 16, 16, 3)
    return cached.images


def test_chest_xray_patients_match_the_manifest(tmp_path):
    folder = need("chest_xray")
    dataset = ChestXray()
    status = dataset.status(SHARED_DATA)
    assert status.available and "splits: train" in status.message
    files = dataset.files(dataset.tasks()[0], SHARED_DATA)
    assert np.bincount(files.labels).tolist() == [1340, 3860]
    with open(folder / "manifest.csv", newline="") as handle:
        manifest = {row["file"]: row["patient_id"] for row in csv.DictReader(handle)}
    ours = {f"{p.parent.name}/{p.name}": g for p, g in zip(files.paths, files.groups, strict=True)}
    assert ours == manifest
    images = decode_sample(dataset, files, tmp_path)
    assert (images[..., 0] == images[..., 2]).mean() > 0.95  # grey content in three channels


def test_chest_xray_grouped_split_keeps_patients_apart(tmp_path):
    need("chest_xray")
    dataset = ChestXray()
    settings = RunSettings(CPU_QUICK.with_overrides(image_size=8), torch.device("cpu"), SHARED_DATA, tmp_path)
    data = TaskData(settings)
    split = data.split(dataset, dataset.tasks()[0], seed=2).split
    groups = data.imageset(dataset, dataset.tasks()[0])[0].groups
    assert split.kind == "grouped"
    assert not set(groups[split.test]) & (set(groups[split.train]) | set(groups[split.val]))
    assert 0.17 < len(split.test) / len(groups) < 0.23


def test_blood_cells_folder_split(tmp_path):
    need("blood_cells")
    dataset = BloodCells()
    assert dataset.status(SHARED_DATA).available
    files = dataset.files(dataset.tasks()[0], SHARED_DATA)
    assert (files.official_split == "train").sum() == 2400 and (files.official_split == "test").sum() == 2487
    assert np.bincount(files.labels[files.official_split == "test"]).tolist() == [623, 620, 620, 624]
    decode_sample(dataset, files, tmp_path)
    pooled = BloodCells(pooled=True).files(dataset.tasks()[0], SHARED_DATA)
    assert len(pooled.paths) == 2400 + 2487 + 71 and pooled.official_split is None


def test_natural_images_counts(tmp_path):
    need("natural_images")
    dataset = NaturalImages()
    assert dataset.status(SHARED_DATA).available
    files = dataset.files(dataset.tasks()[0], SHARED_DATA)
    assert np.bincount(files.labels).tolist() == [727, 968, 885, 702, 843, 1000, 788, 986]
    decode_sample(dataset, files, tmp_path)


def test_cifar10_declared_as_an_imagefolder(tmp_path):
    need("cifar10")
    declaration = DatasetDeclaration("cifar10", "imagefolder", SHARED_DATA / "cifar10", modality="natural",
                                     roles=frozenset({"source"}))
    dataset = declared_dataset(declaration, SHARED_DATA)
    assert len(dataset.classes) == 10 and dataset.classes[0] == "airplane"
    assert dataset.status(SHARED_DATA).available
    files = dataset.files(dataset.tasks()[0], SHARED_DATA)
    assert (files.official_split == "train").sum() == 10000 and (files.official_split == "test").sum() == 2000
    assert np.bincount(files.labels).tolist() == [1200] * 10
    decode_sample(dataset, files, tmp_path)


def test_pneumoniamnist_official_split_sizes():
    need("medmnist/pneumoniamnist.npz")
    dataset = MedMnist("pneumoniamnist")
    assert dataset.status(SHARED_DATA).available
    imageset = dataset.load(dataset.tasks()[0], SHARED_DATA, 32)
    assert imageset.images.shape == (5856, 32, 32, 3)
    parts = {s: int((imageset.official_split == s).sum()) for s in ("train", "val", "test")}
    assert parts == {"train": 4708, "val": 524, "test": 624}
    assert np.bincount(imageset.labels[imageset.official_split == "test"]).tolist() == [234, 390]
