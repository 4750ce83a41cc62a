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
    files_status,
    hookimpl,
    image_files,
    missing_status,
)

CLASSES = ("cat", "dog")


class DogsVsCats(FileDataset):
    name = "dogs_vs_cats"
    modality = "natural"
    homepage = "https://www.kaggle.com/c/dogs-vs-cats"
    provenance = frozenset({"asirra"})
    description = "Dogs vs. Cats (Kaggle): cat vs dog photographs"

    def tasks(self) -> list[Task]:
        return [Task(self.name, CLASSES, frozenset({SOURCE}), self.description)]

    def folder(self, root: Path) -> Path:
        return Path(root) / "dogs_vs_cats" / "train"

    def status(self, root: Path) -> DatasetStatus:
        folder = self.folder(root)
        if not folder.is_dir():
            return missing_status(folder, "cat.N.jpg and dog.N.jpg (the competition's train.zip)",
                                  "Kaggle: kaggle competitions download -c dogs-vs-cats")
        files = self.files(self.tasks()[0], root)
        empty = [c for i, c in enumerate(CLASSES) if not (files.labels == i).any()]
        if empty:
            return DatasetStatus("incomplete", f"no {' or '.join(empty)}.N.jpg files in {folder}", folder)
        return files_status(folder, files.paths, self.name)

    def files(self, task: Task, root: Path) -> ImageFiles:
        paths = [p for p in image_files(self.folder(root)) if p.name.split(".")[0] in CLASSES]
        labels = [CLASSES.index(p.name.split(".")[0]) for p in paths]
        return ImageFiles(paths, np.array(labels), self.folder(root))


@hookimpl
def tlbench_register_datasets(register):
    register(DogsVsCats())
