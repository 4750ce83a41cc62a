"""Datasets declared in the config file, with no code: a class-per-folder tree or a CSV of files.

The core registers them into the catalog after the plugins (:func:`register_declared`), because their
classes are read from the data, and where the data is is known only once the run's data root is.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from benchmark.data.filedatasets import (
    SPLIT_NAMES,
    FileDataset,
    ImageFiles,
    class_folders,
    files_status,
    image_files,
    scan_class_folders,
)
from benchmark.datasets import DatasetStatus, Task
from benchmark.hashing import config_hash
from benchmark.registry.catalog import Catalog, PluginInfo
from benchmark.registry.config import DatasetDeclaration


class DeclaredDataset(FileDataset):
    """A one-task dataset from a :class:`DatasetDeclaration`, found at ``folder``."""

    def __init__(self, declaration: DatasetDeclaration, folder: Path):
        self.declaration, self.path = declaration, folder
        self.name = declaration.name
        self.modality = declaration.modality
        self.imaging = declaration.imaging
        self.version = config_hash(declaration.as_dict())[:8]
        self.homepage = declaration.homepage
        self.provenance = declaration.provenance
        self.window = declaration.window
        self.description = declaration.description or f"{declaration.format} dataset declared in the config"
        self.classes = declaration.classes or self.discover_classes()

    def folder(self, root: Path | None = None) -> Path:
        """The declared folder, already resolved against the data root."""
        return self.path

    def discover_classes(self) -> tuple[str, ...]:
        raise NotImplementedError

    def tasks(self) -> list[Task]:
        return [Task(self.name, self.classes, self.declaration.roles, self.description)]

    def missing(self, what: str) -> DatasetStatus:
        get = self.homepage or "its owner"
        return DatasetStatus("missing", f"expected {what} (declared in the config); get it from {get}",
                             self.path)


class ImageFolderDataset(DeclaredDataset):
    """``folder/<class>/*`` images, or ``folder/{train,val,test}/<class>/*`` with an official split."""

    def split_folders(self) -> list[str]:
        """The split folders (train, val, test, ...) when the tree has them, else an empty list."""
        names = class_folders(self.path)
        return names if names and all(n.lower() in SPLIT_NAMES for n in names) else []

    def class_roots(self) -> list[Path]:
        splits = self.split_folders()
        return [self.path / s for s in splits] if splits else [self.path]

    def discover_classes(self) -> tuple[str, ...]:
        if not self.path.is_dir():
            return ()
        return tuple(sorted({name for folder in self.class_roots() for name in class_folders(folder)}))

    def status(self, root: Path) -> DatasetStatus:
        if not self.path.is_dir():
            return self.missing(f"{self.path}/<class>/*.jpg")
        problem = self.layout_problem()
        if problem:
            return DatasetStatus("incomplete", problem, self.path)
        if not self.classes:
            return DatasetStatus("incomplete", f"no class folders in {self.path}", self.path)
        try:
            files = self.files(self.tasks()[0], root)
        except ValueError as error:  # a group_pattern that does not fit the file names
            return DatasetStatus("corrupt", str(error), self.path)
        return files_status(self.path, files.paths, self.name)

    def layout_problem(self) -> str:
        """What in the folder tree cannot be what it looks like: split folders beside other folders, or class
        folders whose images lie only in subfolders; '' when the tree reads as it is."""
        top = class_folders(self.path)
        splits = [n for n in top if n.lower() in SPLIT_NAMES]
        others = [n for n in top if n.lower() not in SPLIT_NAMES]
        if splits and others:
            return (f"{self.path} holds split folders ({', '.join(splits)}) beside other folders "
                    f"({', '.join(others)}): move those out, or into each split as a class folder")
        for root in self.class_roots():
            for name in class_folders(root):
                folder = root / name
                nested = [sub for sub in class_folders(folder) if image_files(folder / sub)]
                if nested and not image_files(folder):
                    return (f"class folder {folder} holds its images only in subfolders ({', '.join(nested[:3])}); "
                            "tlbench reads the images directly inside each class folder: move them up a level")
        return ""

    def files(self, task: Task, root: Path) -> ImageFiles:
        paths, labels, parts = [], [], []
        splits = self.split_folders()
        for folder in self.class_roots():
            found, found_labels = scan_class_folders(folder, self.classes)
            paths += found
            labels += found_labels
            parts += [SPLIT_NAMES[folder.name.lower()]] * len(found) if splits else []
        return ImageFiles(paths, np.array(labels), self.path, official_split=np.array(parts) if splits else None,
                          groups=self.groups_of(paths))

    def groups_of(self, paths: list[Path]) -> np.ndarray | None:
        """Each file's patient group: what ``group_pattern`` matches in its name (the group named ``group``, else
        the first); None without a pattern."""
        if not self.declaration.group_pattern:
            return None
        pattern = re.compile(self.declaration.group_pattern)
        found = [pattern.search(path.name) for path in paths]
        unmatched = [path for path, match in zip(paths, found, strict=True) if match is None]
        where = f"group_pattern {pattern.pattern!r} of dataset {self.name!r} (in the config's [datasets.{self.name}])"
        if paths and len(unmatched) == len(paths):
            raise ValueError(f"{where} matches none of its {len(paths)} file names (for example "
                             f"{paths[0].name!r}): write a pattern that finds each file's patient in its name, "
                             "or remove group_pattern to split image by image")
        if unmatched:
            raise ValueError(f"file {unmatched[0]} does not match {where} ({len(unmatched)} of {len(paths)} "
                             "files do not): fix the pattern in the config, or move those files out")
        return np.array([match.group("group") if "group" in pattern.groupindex else match.group(1)
                         for match in found])


class CsvDataset(DeclaredDataset):
    """A CSV with columns ``path,label[,split][,group]``; paths are relative to ``folder``."""

    @property
    def csv_path(self) -> Path:
        return self.path / self.declaration.csv

    def rows(self) -> list[dict]:
        with open(self.csv_path, newline="") as handle:
            reader = csv.DictReader(handle)
            missing = {"path", "label"} - set(reader.fieldnames or ())
            if missing:
                raise ValueError(f"{self.csv_path} lacks column(s) {', '.join(sorted(missing))}; "
                                 "it needs path,label and optionally split and group")
            return list(reader)

    def discover_classes(self) -> tuple[str, ...]:
        if not self.csv_path.is_file():
            return ()
        return tuple(sorted({row["label"] for row in self.rows()}))

    def status(self, root: Path) -> DatasetStatus:
        if not self.csv_path.is_file():
            return self.missing(f"{self.csv_path} with columns path,label[,split][,group]")
        try:
            files = self.files(self.tasks()[0], root)
        except ValueError as error:
            return DatasetStatus("corrupt", str(error), self.path)
        absent = [p for p in files.paths if not p.is_file()]
        if absent:
            names = ", ".join(str(p) for p in absent[:5])
            return DatasetStatus("incomplete", f"{len(absent)} file(s) listed in {self.csv_path} are missing, "
                                 f"e.g. {names}", self.path)
        return files_status(self.path, files.paths, self.name)

    def files(self, task: Task, root: Path) -> ImageFiles:
        rows = self.rows()
        index = {name: i for i, name in enumerate(self.classes)}
        inside = self.path.resolve()
        for number, row in enumerate(rows, start=2):
            if not (self.path / row["path"]).resolve().is_relative_to(inside):
                raise ValueError(f"{self.csv_path} line {number}: path {row['path']!r} leads outside the dataset "
                                 f"folder {self.path}; give paths relative to it, within it")
            if row["label"] not in index:
                raise ValueError(f"{self.csv_path} line {number}: label {row['label']!r} is not one of the "
                                 f"declared classes {', '.join(self.classes)}")
            if "split" in row and (row["split"] or "").lower() not in SPLIT_NAMES:
                raise ValueError(f"{self.csv_path} line {number}: split {row['split']!r} is not one of "
                                 "train, val, test")
        has_split, has_group = rows and "split" in rows[0], rows and "group" in rows[0]
        return ImageFiles(
            [self.path / row["path"] for row in rows], np.array([index[r["label"]] for r in rows]), self.path,
            groups=np.array([r["group"] for r in rows]) if has_group else None,
            official_split=np.array([SPLIT_NAMES[r["split"].lower()] for r in rows]) if has_split else None,
        )


def declared_dataset(declaration: DatasetDeclaration, data_root: Path) -> DeclaredDataset:
    """The dataset a declaration describes, its relative path taken under ``data_root``."""
    folder = declaration.path if declaration.path.is_absolute() else data_root / declaration.path
    kind = ImageFolderDataset if declaration.format == "imagefolder" else CsvDataset
    return kind(declaration, folder)


def register_declared(catalog: Catalog, declarations, data_root: Path, config_path: Path) -> list[tuple[str, str]]:
    """Add the declared datasets to ``catalog``, credited to a plugin named after the config file (which
    ``tlbench plugins`` lists); return (name, error) for those that could not be added (one whose name a
    plugin already uses, or that cannot be built), the others being added all the same."""
    info = PluginInfo(config_path.name, str(config_path), "config")
    broken = []
    for declaration in declarations:
        try:
            dataset = declared_dataset(declaration, data_root)
            owner = catalog.add("datasets", dataset, info.name)  # InvalidName for a class folder's name
        except ValueError as error:
            broken.append((declaration.name, f"dataset {declaration.name!r}: {error}"))
            continue
        if owner is not None:
            broken.append((declaration.name, f"dataset {declaration.name!r} declared in the config clashes with a "
                                             f"dataset or task of plugin {owner!r}; rename the declaration"))
        else:
            info.provides.setdefault("datasets", []).append(dataset.name)
    if info.provides:
        catalog.plugins.append(info)
    return broken
