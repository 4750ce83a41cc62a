"""Chest X-ray pneumonia (Kermany et al. 2018), in the Kaggle layout
``chest_xray/{train,val,test}/{NORMAL,PNEUMONIA}/*.jpeg``.

The split folders present are pooled and split by patient (the id in the file name), unless the
preset asks for the official split. A source and a target in the study.
"""

from __future__ import annotations

import re
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
    scan_class_folders,
)

CLASSES = ("NORMAL", "PNEUMONIA")
SPLITS = ("train", "val", "test")
KAGGLE = "Kaggle: kaggle datasets download paultimothymooney/chest-xray-pneumonia"
# personNNN_bacteria_M.jpeg, IM-NNNN-MMMM.jpeg, NORMAL2-IM-NNNN-MMMM.jpeg
_PATIENT = re.compile(r"^(person\d+)_|^(NORMAL2-IM-\d+)-|^(IM-\d+)-")


def patient_id(filename: str) -> str:
    """The patient id in a file name; a name of no known pattern is its own patient (its stem)."""
    match = _PATIENT.match(filename)
    return next(g for g in match.groups() if g) if match else Path(filename).stem


class ChestXray(FileDataset):
    name = "chest_xray"
    modality = "medical"
    imaging = "xray"
    homepage = "https://data.mendeley.com/datasets/rscbjbr9sj/2"
    provenance = frozenset({"kermany2018-chest-xray"})
    description = "Chest X-ray pneumonia (Kermany 2018): normal vs pneumonia, split by patient"
    layout = "train/NORMAL/*.jpeg and train/PNEUMONIA/*.jpeg; val/ and test/ are used when present"
    get = KAGGLE

    def tasks(self) -> list[Task]:
        return [Task(self.name, CLASSES, frozenset({SOURCE, TARGET}), self.description)]

    def status(self, root: Path) -> DatasetStatus:
        """Any of the split folders will do, each with both class folders; the message names those present."""
        folder = self.folder(root)
        present = [s for s in SPLITS if (folder / s).is_dir()]
        if not present:
            return missing_status(folder / "train", self.layout, self.get)
        lacking = [f"{s}/{c}" for s in present for c in CLASSES if not (folder / s / c).is_dir()]
        if lacking:
            return DatasetStatus("incomplete", f"{folder} lacks {', '.join(lacking)}", folder)
        files = self.files(self.tasks()[0], root)
        empty = [c for i, c in enumerate(CLASSES) if not (files.labels == i).any()]
        if empty:
            return DatasetStatus("incomplete", f"no {' or '.join(empty)} images under {folder}", folder)
        state = files_status(folder, files.paths, self.name)
        if state.available:
            return DatasetStatus("available", f"{state.message} (splits: {', '.join(present)})", folder)
        return state

    def files(self, task: Task, root: Path) -> ImageFiles:
        folder = self.folder(root)
        paths, labels, parts = [], [], []
        for split in SPLITS:
            found, found_labels = scan_class_folders(folder / split, CLASSES)
            paths += found
            labels += found_labels
            parts += [split] * len(found)
        groups = np.array([patient_id(p.name) for p in paths])
        return ImageFiles(paths, np.array(labels), folder, groups=groups, official_split=np.array(parts))


@hookimpl
def tlbench_register_datasets(register):
    register(ChestXray())
