"""Dogs vs. Cats (Kaggle, Asirra): ``dogs_vs_cats/train/cat.N.jpg`` and ``dog.N.jpg``; a source."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark import (
    SOURCE,
    DatasetStatus,
    FileDataset,
    ImageFiles,
    Task,
    hookimpl,
    image_files,
)

CLASSES = ("cat", "dog")


class DogsVsCats(FileDataset):
    name = "dogs_vs_cats"
    modality = "natural"
    imaging = "natural"
    homepage = "https://www.kaggle.com/c/dogs-vs-cats"
    provenance = frozenset({"asirra"})
    description = "Dogs vs. Cats (Kaggle): cat vs dog photographs"
    folder_name = "dogs_vs_cats/train"
    layout = "cat.N.jpg and dog.N.jpg (the competition's train.zip)"
    get = "Kaggle: kaggle competitions download -c dogs-vs-cats"

    def tasks(self) -> list[Task]:
        return [Task(self.name, CLASSES, frozenset({SOURCE}), self.description)]

    def status(self, root: Path) -> DatasetStatus:
        """The default, and ``incomplete`` when one class has no file (both lie in one folder)."""
        folder = self.folder(root)
        if folder.is_dir():
            labels = self.files(self.tasks()[0], root).labels
            empty = [c for i, c in enumerate(CLASSES) if not (labels == i).any()]
            if empty:
                return DatasetStatus("incomplete", f"no {' or '.join(empty)}.N.jpg files in {folder}", folder)
        return super().status(root)

    def files(self, task: Task, root: Path) -> ImageFiles:
        paths = [p for p in image_files(self.folder(root)) if p.name.split(".")[0] in CLASSES]
        labels = [CLASSES.index(p.name.split(".")[0]) for p in paths]
        return ImageFiles(paths, np.array(labels), self.folder(root))


@hookimpl
def tlbench_register_datasets(register):
    register(DogsVsCats())
