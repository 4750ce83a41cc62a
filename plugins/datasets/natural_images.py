"""Natural Images (Roy et al. 2018): 8 classes in ``natural_images/<class>/*.jpg``; a source."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark import (
    SOURCE,
    FileDataset,
    ImageFiles,
    Task,
    hookimpl,
    scan_class_folders,
)

CLASSES = ("airplane", "car", "cat", "dog", "flower", "fruit", "motorbike", "person")


class NaturalImages(FileDataset):
    name = "natural_images"
    modality = "natural"
    imaging = "natural"
    homepage = "https://github.com/prasunroy/natural-images"
    # its cat and dog images were taken from Kaggle's Dogs vs Cats (Asirra), per the dataset's README
    provenance = frozenset({"natural-images", "asirra"})
    description = "Natural Images (Roy 2018): 8 object classes"
    required_folders = CLASSES
    layout = f"one folder of .jpg images per class: {', '.join(CLASSES)}"
    get = "Kaggle: kaggle datasets download prasunroy/natural-images"

    def tasks(self) -> list[Task]:
        return [Task(self.name, CLASSES, frozenset({SOURCE}), self.description)]

    def files(self, task: Task, root: Path) -> ImageFiles:
        paths, labels = scan_class_folders(self.folder(root), CLASSES)
        return ImageFiles(paths, np.array(labels), self.folder(root))


@hookimpl
def tlbench_register_datasets(register):
    register(NaturalImages())
