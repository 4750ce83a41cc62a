"""ISIC 2017 skin lesions in the official layout: ``isic2017/ISIC-2017_Training_Data/*.jpg`` with
``ISIC-2017_Training_Part3_GroundTruth.csv`` (``image_id,melanoma,seborrheic_keratosis``), plus the
Validation and Test parts when present.

Three target tasks, as in the study: melanoma vs nevus; nevus vs melanoma vs seborrheic keratosis;
melanoma-or-keratosis vs nevus. Minority classes are balanced by random rotations of training images,
after the split, so no rotated copy of a lesion reaches validation or test.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark import (
    TARGET,
    DatasetStatus,
    FileDataset,
    ImageFiles,
    ImageSet,
    Task,
    files_status,
    hookimpl,
    missing_status,
)

HOMEPAGE = "https://challenge.isic-archive.com/data/#2017"
# (official split, image folder, ground-truth CSV)
PARTS = (
    ("train", "ISIC-2017_Training_Data", "ISIC-2017_Training_Part3_GroundTruth.csv"),
    ("val", "ISIC-2017_Validation_Data", "ISIC-2017_Validation_Part3_GroundTruth.csv"),
    ("test", "ISIC-2017_Test_v2_Data", "ISIC-2017_Test_v2_Part3_GroundTruth.csv"),
)
NEVUS, MELANOMA, KERATOSIS = "nevus", "melanoma", "seborrheic_keratosis"


@dataclass(frozen=True)
class IsicTask:
    """A task: its classes and the class of each diagnosis (absent: the diagnosis is left out)."""

    name: str
    classes: tuple[str, ...]
    label_of: dict
    description: str


TASKS = (
    IsicTask("isic2017_mel_nev", (NEVUS, MELANOMA), {NEVUS: 0, MELANOMA: 1},
             "ISIC 2017: melanoma vs nevus (keratoses left out)"),
    IsicTask("isic2017_mel_nev_sk", (NEVUS, MELANOMA, KERATOSIS), {NEVUS: 0, MELANOMA: 1, KERATOSIS: 2},
             "ISIC 2017: nevus vs melanoma vs seborrheic keratosis"),
    IsicTask("isic2017_melsk_nev", (NEVUS, "melanoma_or_keratosis"), {NEVUS: 0, MELANOMA: 1, KERATOSIS: 1},
             "ISIC 2017: melanoma or seborrheic keratosis vs nevus"),
)


def diagnosis(row: dict) -> str:
    if float(row["melanoma"]):
        return MELANOMA
    return KERATOSIS if float(row["seborrheic_keratosis"]) else NEVUS


def balancing_rotations(images: np.ndarray, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Randomly rotated copies (any angle, edges repeated) of randomly drawn images of each class
    until every class is as large as the largest."""
    from scipy.ndimage import rotate  # imported when balancing: listing the datasets must not load scipy

    rng = np.random.default_rng(seed)
    counts = np.bincount(labels)
    extra_images, extra_labels = [], []
    for label, count in enumerate(counts):
        members = np.flatnonzero(labels == label)
        for index in rng.choice(members, size=counts.max() - count) if count else ():
            angle = rng.uniform(0, 360)
            extra_images.append(rotate(images[index], angle, axes=(0, 1), reshape=False, order=1, mode="nearest"))
            extra_labels.append(label)
    shape = (0, *images.shape[1:])
    return (np.stack(extra_images) if extra_images else np.empty(shape, np.uint8)), np.array(extra_labels, np.int64)


class Isic2017(FileDataset):
    name = "isic2017"
    modality = "medical"
    imaging = "dermoscopy"
    homepage = HOMEPAGE
    description = "ISIC 2017 skin lesion classification"
    provenance = frozenset({"isic-archive"})
    layout = f"{PARTS[0][1]}/*.jpg and {PARTS[0][2]}; the Validation and Test parts are used when present"
    get = f"{HOMEPAGE} (Part 3 data and ground truth)"

    def tasks(self) -> list[Task]:
        return [Task(t.name, t.classes, frozenset({TARGET}), t.description) for t in TASKS]

    def rows(self, root: Path) -> list[tuple[str, Path, str]]:
        """(official split, image path, diagnosis) of every image listed in the parts present."""
        folder = self.folder(root)
        found = []
        for split, images, truth in PARTS:
            if not (folder / truth).is_file():
                continue
            with open(folder / truth, newline="") as handle:
                for row in csv.DictReader(handle):
                    found.append((split, folder / images / f"{row['image_id']}.jpg", diagnosis(row)))
        return found

    def status(self, root: Path) -> DatasetStatus:
        """Driven by the ground-truth CSVs: each image they list must be there."""
        folder = self.folder(root)
        _, images, truth = PARTS[0]
        if not (folder / truth).is_file() or not (folder / images).is_dir():
            return missing_status(folder, self.layout, self.get)
        try:
            rows = self.rows(root)
        except (KeyError, ValueError) as error:
            return DatasetStatus("corrupt", f"a ground-truth CSV in {folder} is unreadable ({error}); it needs "
                                 "columns image_id,melanoma,seborrheic_keratosis", folder)
        absent = [path for _, path, _ in rows if not path.is_file()]
        if absent:
            names = ", ".join(p.name for p in absent[:5])
            return DatasetStatus("incomplete", f"{len(absent)} image(s) listed in the ground truth are missing "
                                 f"from {folder}, e.g. {names}", folder)
        return files_status(folder, [path for _, path, _ in rows], self.name)

    def files(self, task: Task, root: Path) -> ImageFiles:
        label_of = next(t for t in TASKS if t.name == task.name).label_of
        rows = [row for row in self.rows(root) if row[2] in label_of]
        return ImageFiles(
            [path for _, path, _ in rows], np.array([label_of[d] for _, _, d in rows]), self.folder(root),
            official_split=np.array([split for split, _, _ in rows]),
        )

    def missing_classes(self, task: Task, root: Path) -> list[str]:
        """The diagnoses the task is made of that no image has (melanoma_or_keratosis needs keratoses too)."""
        label_of = next(t for t in TASKS if t.name == task.name).label_of
        present = {found for _, _, found in self.rows(root)}
        return [name for name in label_of if name not in present]

    def augment_train(self, task: Task, imageset: ImageSet, train: np.ndarray, seed: int):
        return balancing_rotations(imageset.images[train], imageset.labels[train], seed)


@hookimpl
def tlbench_register_datasets(register):
    register(Isic2017())
