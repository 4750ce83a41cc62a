"""Kaggle Diabetic Retinopathy Detection: ``kaggle_dr/trainLabels.csv`` (``image,level``) and
``kaggle_dr/train/<image>.jpeg``.

Two tasks: the 5 grades as 5 classes (a source, as in the study) and referable DR (grade 2 or more,
a target). Both eyes of a patient stay on one side of a split.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from benchmark import (
    SOURCE,
    TARGET,
    DatasetStatus,
    FileDataset,
    ImageFiles,
    Task,
    files_status,
    hookimpl,
    missing_status,
)

GRADES = ("no_dr", "mild", "moderate", "severe", "proliferative")
REFERABLE = ("non_referable", "referable")
KAGGLE = "Kaggle: kaggle competitions download -c diabetic-retinopathy-detection"


class KaggleDR(FileDataset):
    name = "kaggle_dr"
    modality = "medical"
    imaging = "fundus"
    homepage = "https://www.kaggle.com/c/diabetic-retinopathy-detection"
    provenance = frozenset({"eyepacs"})
    description = "Kaggle Diabetic Retinopathy: fundus photographs"
    layout = "trainLabels.csv and train/*.jpeg (join and unzip train.zip.00*)"
    get = KAGGLE

    def tasks(self) -> list[Task]:
        return [
            Task("kaggle_dr", GRADES, frozenset({SOURCE}), "Kaggle DR: 5 retinopathy grades"),
            Task("kaggle_dr_referable", REFERABLE, frozenset({TARGET}), "Kaggle DR: referable DR (grade >= 2)"),
        ]

    def rows(self, root: Path) -> list[tuple[str, int]]:
        with open(self.folder(root) / "trainLabels.csv", newline="") as handle:
            return [(row["image"], int(row["level"])) for row in csv.DictReader(handle)]

    def status(self, root: Path) -> DatasetStatus:
        """Driven by trainLabels.csv: each image it lists must be there."""
        folder = self.folder(root)
        if not (folder / "trainLabels.csv").is_file() or not (folder / "train").is_dir():
            return missing_status(folder, self.layout, self.get)
        try:
            rows = self.rows(root)
        except (KeyError, ValueError) as error:
            return DatasetStatus("corrupt", f"{folder / 'trainLabels.csv'} is unreadable ({error}); it needs "
                                 "columns image,level", folder)
        paths = [folder / "train" / f"{image}.jpeg" for image, _ in rows]
        absent = [p for p in paths if not p.is_file()]
        if absent:
            return DatasetStatus("incomplete", f"{len(absent)} image(s) listed in trainLabels.csv are missing "
                                 f"from {folder / 'train'}, e.g. {', '.join(p.name for p in absent[:5])}", folder)
        return files_status(folder, paths, self.name)

    def files(self, task: Task, root: Path) -> ImageFiles:
        rows = self.rows(root)
        grades = np.array([level for _, level in rows])
        labels = grades if task.name == "kaggle_dr" else (grades >= 2).astype(np.int64)
        return ImageFiles(
            [self.folder(root) / "train" / f"{image}.jpeg" for image, _ in rows], labels, self.folder(root),
            groups=np.array([image.split("_")[0] for image, _ in rows]),
        )


@hookimpl
def tlbench_register_datasets(register):
    register(KaggleDR())
