"""Tiny fake copies of every dataset layout tlbench reads, for tests.

Every image is a small JPEG (or PNG) filled with a colour that encodes its label, so a test can tell
from the decoded pixels which file landed where. Each ``make_*`` function writes under ``root`` in
the download layout of one dataset and returns what it wrote.
"""

from __future__ import annotations

import csv
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
from PIL import Image

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def no_builtin_datasets() -> list[str]:
    """``-p`` values that block every built-in dataset plugin (synthetic and the real datasets), for
    tests that want only their own test plugins' datasets in the catalog."""
    return [f"no:{ep.name}" for ep in entry_points(group="tlbench")
            if ep.value.startswith("tlbench_plugins.datasets.")]


def colour(label: int) -> tuple[int, int, int]:
    """The fill colour of images of ``label``: far apart for labels 0-7, robust to JPEG."""
    return ((label * 97) % 256, (label * 53 + 40) % 256, 255 - (label * 31) % 256)


def write_image(path: Path, label: int, size: tuple[int, int] = (20, 14), grey: bool = False) -> Path:
    """A ``size`` (width, height) image of one flat colour (or grey level) for ``label``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if grey:
        image = Image.new("L", size, color=colour(label)[0])
    else:
        image = Image.new("RGB", size, color=colour(label))
    image.save(path, quality=95)
    return path


def make_chest_xray(root: Path, splits=("train",), per_class: int = 3) -> list[Path]:
    """``chest_xray/<split>/{NORMAL,PNEUMONIA}``; each patient has two images in one folder, with the
    three Kaggle naming patterns. Grey images, as the originals."""
    paths = []
    for s, split in enumerate(splits):
        for i in range(per_class):
            patient = 100 * s + i
            for view in (1, 2):
                normal = f"IM-{patient:04d}-000{view}.jpeg" if i % 2 else f"NORMAL2-IM-{patient:04d}-000{view}.jpeg"
                paths.append(write_image(root / "chest_xray" / split / "NORMAL" / normal, 0, grey=True))
                sick = f"person{patient}_{'bacteria' if i % 2 else 'virus'}_{10 * patient + view}.jpeg"
                paths.append(write_image(root / "chest_xray" / split / "PNEUMONIA" / sick, 1, grey=True))
    return paths


BLOOD_CLASSES = ("EOSINOPHIL", "LYMPHOCYTE", "MONOCYTE", "NEUTROPHIL")


def make_blood_cells(root: Path, per_class: dict | None = None) -> Path:
    """``blood_cells/dataset2-master/images/{TRAIN,TEST,TEST_SIMPLE}/<TYPE>/*.jpeg``."""
    per_class = per_class or {"TRAIN": 4, "TEST": 2, "TEST_SIMPLE": 1}
    folder = root / "blood_cells" / "dataset2-master" / "images"
    for split, count in per_class.items():
        for label, name in enumerate(BLOOD_CLASSES):
            for i in range(count):
                write_image(folder / split / name / f"_{i}_{label}{i}.jpeg", label, size=(32, 24))
    return folder


def make_isic2017(root: Path, counts: dict, part: str = "Training") -> Path:
    """``isic2017/ISIC-2017_<part>_Data/*.jpg`` and its Part 3 ground truth; ``counts`` gives the number
    of images per diagnosis (``melanoma``, ``nevus``, ``seborrheic_keratosis``). Labels 0/1/2 colour
    nevus/melanoma/keratosis."""
    folder = root / "isic2017"
    data = "ISIC-2017_Test_v2_Data" if part == "Test_v2" else f"ISIC-2017_{part}_Data"
    label = {"nevus": 0, "melanoma": 1, "seborrheic_keratosis": 2}
    rows = []
    offset = {"Training": 0, "Validation": 5000, "Test_v2": 9000}[part]
    for diagnosis, count in counts.items():
        for _ in range(count):
            image_id = f"ISIC_{offset + len(rows):07d}"
            write_image(folder / data / f"{image_id}.jpg", label[diagnosis], size=(30, 22))
            rows.append((image_id, float(diagnosis == "melanoma"), float(diagnosis == "seborrheic_keratosis")))
    with open(folder / f"ISIC-2017_{part}_Part3_GroundTruth.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image_id", "melanoma", "seborrheic_keratosis"])
        writer.writerows(rows)
    return folder


def make_kaggle_dr(root: Path, patients: int = 5) -> Path:
    """``kaggle_dr/trainLabels.csv`` and ``kaggle_dr/train/<id>_{left,right}.jpeg``, grades 0-4 cycling."""
    folder = root / "kaggle_dr"
    rows = []
    for patient in range(patients):
        for eye in ("left", "right"):
            grade = (patient + (eye == "right")) % 5
            write_image(folder / "train" / f"{patient + 10}_{eye}.jpeg", grade, size=(40, 30))
            rows.append((f"{patient + 10}_{eye}", grade))
    (folder / "trainLabels.csv").write_text("image,level\n" + "".join(f"{i},{g}\n" for i, g in rows))
    return folder


def make_dogs_vs_cats(root: Path, per_class: int = 3) -> Path:
    """``dogs_vs_cats/train/{cat,dog}.N.jpg``."""
    folder = root / "dogs_vs_cats" / "train"
    for label, name in enumerate(("cat", "dog")):
        for i in range(per_class):
            write_image(folder / f"{name}.{i}.jpg", label)
    return folder


NATURAL_CLASSES = ("airplane", "car", "cat", "dog", "flower", "fruit", "motorbike", "person")


def make_natural_images(root: Path, per_class: int = 2) -> Path:
    """``natural_images/<class>/<class>_NNNN.jpg`` for the 8 classes."""
    folder = root / "natural_images"
    for label, name in enumerate(NATURAL_CLASSES):
        for i in range(per_class):
            write_image(folder / name / f"{name}_{i:04d}.jpg", label, size=(30, 30))
    return folder


def make_medmnist(root: Path, flag: str = "pneumoniamnist", size: int = 28, counts=(6, 2, 4), rgb: bool = False):
    """``medmnist/<flag>[_size].npz`` with train/val/test images and (N, 1) labels; pixel value =
    label * 100 + split number, so a test can recover both."""
    folder = root / "medmnist"
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for number, (split, count) in enumerate(zip(("train", "val", "test"), counts, strict=True)):
        labels = np.arange(count) % 2
        images = (labels * 100 + number).astype(np.uint8)[:, None, None] * np.ones((1, size, size), np.uint8)
        arrays[f"{split}_images"] = np.repeat(images[..., None], 3, axis=3) if rgb else images
        arrays[f"{split}_labels"] = labels[:, None].astype(np.uint8)
    path = folder / (f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz")
    np.savez(path, **arrays)
    return path


def make_imagefolder(folder: Path, classes=("a", "b"), per_class: int = 3, splits=()) -> Path:
    """``folder/<class>/*.png``, or ``folder/<split>/<class>/*.png`` when ``splits`` are given."""
    for split in splits or ("",):
        for label, name in enumerate(classes):
            for i in range(per_class):
                write_image(folder / split / name / f"{i}.png", label)
    return folder


def make_csv_dataset(folder: Path, classes=("benign", "malignant"), per_class: int = 4, split: bool = True,
                     group: bool = True) -> Path:
    """Images in ``folder/images`` listed in ``folder/labels.csv`` (path,label[,split][,group])."""
    header = ["path", "label"] + (["split"] if split else []) + (["group"] if group else [])
    rows = []
    for label, name in enumerate(classes):
        for i in range(per_class):
            relative = f"images/{name}_{i}.jpg"
            write_image(folder / relative, label)
            row = [relative, name]
            row += ["test" if i == 0 else "train"] if split else []
            row += [f"patient{i // 2}-{name}"] if group else []
            rows.append(row)
    with open(folder / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return folder / "labels.csv"


def red_or_blue(n: int, seed: int = 0, size: int = 24, strength: int = 100, flip: float = 0.0):
    """Two classes a small network separates in a few epochs: noise made redder (class 0) or bluer (class 1)
    by ``strength``, labels alternating, then a ``flip`` share of them swapped at random."""
    import torch

    from benchmark.engine.training import LabelledImages

    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    images = torch.randint(0, 120, (n, 3, size, size), generator=g, dtype=torch.uint8)
    images[labels == 0, 0] += strength
    images[labels == 1, 2] += strength
    return LabelledImages(images, torch.where(torch.rand(n, generator=g) < flip, 1 - labels, labels))
