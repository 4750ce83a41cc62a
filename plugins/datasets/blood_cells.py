"""Blood cell images (Kaggle "blood-cells", dataset2-master): four white-cell types in
``blood_cells/dataset2-master/images/{TRAIN,TEST,TEST_SIMPLE}/<TYPE>/*.jpeg``.

TRAIN and TEST are augmented copies of a few hundred cells (a file ``_<cell>_<copy>.jpeg`` is copy
``<copy>`` of cell ``<cell>`` of its class), so the default is the folder split: TRAIN for training and
validation, TEST for testing (TEST_SIMPLE is left out), with the validation part carved from TRAIN by
whole cells and each image grouped by (class, cell). The study's pooled random split, which leaks copies
of one cell across the split, is the opt-in plugin ``tlbench_plugins.datasets.blood_cells_pooled``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from benchmark import (
    TARGET,
    FileDataset,
    ImageFiles,
    Task,
    first_existing,
    hookimpl,
    scan_class_folders,
)

CLASSES = ("EOSINOPHIL", "LYMPHOCYTE", "MONOCYTE", "NEUTROPHIL")
FOLDER_SPLIT = {"TRAIN": "train", "TEST": "test"}
POOLED = ("TRAIN", "TEST", "TEST_SIMPLE")
KAGGLE = "Kaggle: kaggle datasets download paultimothymooney/blood-cells"
_CELL = re.compile(r"^_(\d+)_\d+\.")


def cell_group(split: str, label: int, filename: str) -> str:
    """The source cell of a file: ``SPLIT/CLASS/<cell>`` from a name ``_<cell>_<copy>.jpeg``; a name of
    another pattern is its own cell."""
    match = _CELL.match(filename)
    return f"{split}/{CLASSES[label]}/{match.group(1) if match else filename}"


class BloodCells(FileDataset):
    """``pooled``: all three folders pooled for a seeded random split (the study's); otherwise the
    folder split."""

    modality = "medical"
    imaging = "cells"
    homepage = "https://www.kaggle.com/datasets/paultimothymooney/blood-cells"
    provenance = frozenset({"bccd"})
    version = "2"  # 2: grouped by source cell
    get = KAGGLE

    def __init__(self, pooled: bool = False):
        self.pooled = pooled
        needed = POOLED if pooled else tuple(FOLDER_SPLIT)
        self.required_folders = tuple(f"{split}/{name}" for split in needed for name in CLASSES)
        self.layout = f"{{{','.join(needed)}}}/{{{','.join(CLASSES)}}}/*.jpeg"
        self.name = "blood_cells_pooled" if pooled else "blood_cells"
        self.description = ("Blood cells: 4 white-cell types, TRAIN/TEST/TEST_SIMPLE pooled and split at random "
                            "(the study's split; leaks augmented copies)" if pooled else
                            "Blood cells: 4 white-cell types, folder split (TRAIN: train+val, TEST: test)")

    def tasks(self) -> list[Task]:
        return [Task(self.name, CLASSES, frozenset({TARGET}), self.description)]

    def folder(self, root: Path) -> Path:
        """``dataset2-master/images``, also where Kaggle's zip nests it one level deeper."""
        base = Path(root) / "blood_cells" / "dataset2-master"
        return first_existing([base / "images", base / "dataset2-master" / "images"]) or base / "images"

    def files(self, task: Task, root: Path) -> ImageFiles:
        folder = self.folder(root)
        paths, labels, parts, groups = [], [], [], []
        for split in POOLED if self.pooled else FOLDER_SPLIT:
            found, found_labels = scan_class_folders(folder / split, CLASSES)
            paths += found
            labels += found_labels
            parts += [FOLDER_SPLIT.get(split, "")] * len(found)
            groups += [cell_group(split, label, path.name) for path, label in zip(found, found_labels, strict=True)]
        if self.pooled:
            return ImageFiles(paths, np.array(labels), folder)
        return ImageFiles(paths, np.array(labels), folder, groups=np.array(groups), official_split=np.array(parts),
                          official_by_default=True)


@hookimpl
def tlbench_register_datasets(register):
    register(BloodCells())
