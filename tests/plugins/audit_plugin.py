"""Two tiny file datasets for the leak audit: load with ``-p audit_plugin`` (this folder on sys.path).

``audit_src`` (source) and ``audit_tgt`` (target) read ``<data root>/<name>/{a,b}/*`` images, so a
test decides what they hold by writing files there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark import SOURCE, TARGET, DatasetStatus, Task, hookimpl
from benchmark.data.filedatasets import FileDataset, ImageFiles, scan_class_folders

CLASSES = ("a", "b")


class FolderDataset(FileDataset):
    """``<root>/<name>/{a,b}/*`` image files."""

    def __init__(self, name: str, roles: frozenset[str]):
        self.name, self.roles = name, roles

    def tasks(self):
        return [Task(self.name, CLASSES, self.roles)]

    def status(self, root: Path) -> DatasetStatus:
        folder = Path(root) / self.name
        if folder.is_dir():
            return DatasetStatus("available", "written by the test", folder)
        return DatasetStatus("missing", f"expected {folder}", folder)

    def files(self, task: Task, root: Path) -> ImageFiles:
        paths, labels = scan_class_folders(Path(root) / self.name, CLASSES)
        return ImageFiles(paths, np.array(labels), Path(root) / self.name)


@hookimpl
def tlbench_register_datasets(register):
    register(FolderDataset("audit_src", frozenset({SOURCE})))
    register(FolderDataset("audit_tgt", frozenset({TARGET})))
