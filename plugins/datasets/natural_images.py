"""Natural Images (Roy et al. 2018): 8 classes in ``natural_images/<class>/*.jpg``; a source."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark import (
    SOURCE,
    DatasetStatus,
    FileDataset,
    ImageFiles,
    Task,
    files_status,
    hookimpl,
    missing_status,
    scan_class_folders,
)

CLASSES = ("airplane", "car", "cat", "dog", "flower", "fruit", "motorbike", "person")


class NaturalImages(FileDataset):
    name = "natural_images"
    modality = "natural"
    homepage = "https://github.com/prasunroy/natural-images"
    # its cat and dog images were taken from Kaggle's Dogs vs Cats (Asirra), per the dataset's README
    provenance = frozenset({"natural-images", "asirra"})
    description = "Natural Images (Roy 2018): 8 object classes"

    def tasks(self) -> list[Task]:
        return [Task(self.name, CLASSES, frozenset({SOURCE}), self.description)]

    def folder(self, root: Path) -> Path:
        return Path(root) / "natural_images"

    def status(self, root: Path) -> DatasetStatus:
        folder = self.folder(root)
        if not folder.is_dir():
            return missing_status(folder, f"one folder of .jpg images per class: {', '.join(CLASSES)}",
                                  "Kaggle: kaggle datasets download prasunroy/natural-images")
        lacking = [c for c in CLASSES if not (folder / c).is_dir()]
        if lacking:
            return DatasetStatus("incomplete", f"{folder} lacks class folder(s) {', '.join(lacking)}", folder)
        return files_status(folder, self.files(self.tasks()[0], root).paths, self.name)

    def files(self, task: Task, root: Path) -> ImageFiles:
        paths, labels = scan_class_folders(self.folder(root), CLASSES)
        return ImageFiles(paths, np.array(labels), self.folder(root))


@hookimpl
def tlbench_register_datasets(register):
    register(NaturalImages())
