"""Datasets of image files: a plugin lists the files and labels, the harness decodes and caches them.

A dataset that lives as image files subclasses :class:`FileDataset` and implements ``files(task,
root)``; decoding, resizing, the decode-once cache and the report of unreadable files come with it.
The helpers here find files in the common layouts and word the usual status messages.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import KW_ONLY, dataclass
from pathlib import Path

import numpy as np

from benchmark.data.imagecache import ImageCache
from benchmark.data.windows import PercentileWindow, Window, window_identity
from benchmark.datasets import Dataset, DatasetStatus, ImageSet, Task, WideImages, require_every_class
from benchmark.hashing import digest_of

log = logging.getLogger(__name__)
# the share of a dataset's files that may be unreadable (each skipped and named) before the dataset fails
MAX_UNREADABLE = 0.01

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
SPLIT_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
               "test": "test", "testing": "test"}
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG", b"BM", b"II*\x00", b"MM\x00*", b"GIF8")


class UnreadableImagesError(RuntimeError):
    """Raised under ``--strict`` when image files cannot be decoded."""


@dataclass
class ImageFiles:
    """The image files of one task: ``paths`` (a sequence of file paths), int ``labels`` (one per path) and
    ``folder``, the folder they were found in (a str or Path); optional per-file ``groups`` and
    ``official_split`` (``train``/``val``/``test``) are passed by keyword. A mistaken argument raises a
    TypeError or ValueError that says what to pass."""

    paths: list[Path]
    labels: np.ndarray
    folder: Path
    _: KW_ONLY
    groups: np.ndarray | None = None
    official_split: np.ndarray | None = None
    official_by_default: bool = False

    def __post_init__(self):
        if isinstance(self.paths, (str, os.PathLike)) or not isinstance(self.paths, Sequence):
            raise TypeError(f"ImageFiles paths must be a list of file paths, got {type(self.paths).__name__}")
        wrong = next((p for p in self.paths if not isinstance(p, (str, os.PathLike))), None)
        if wrong is not None:
            raise TypeError(f"ImageFiles paths must be file paths (str or Path), got a {type(wrong).__name__}")
        if not isinstance(self.folder, (str, os.PathLike)):
            raise TypeError(f"ImageFiles folder must be the folder the files were found in (a str or Path), got "
                            f"{type(self.folder).__name__}; pass groups and official_split by keyword")
        self.folder = Path(self.folder)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        for name in ("groups", "official_split"):
            value = getattr(self, name)
            if value is not None and len(value) != len(self.paths):
                raise ValueError(f"{len(self.paths)} files but {len(value)} {name}")
        if len(self.labels) != len(self.paths):
            raise ValueError(f"{len(self.paths)} files but {len(self.labels)} labels")


@dataclass(frozen=True)
class LoadOptions:
    """How :meth:`FileDataset.load` decodes: through ``cache`` (none: decode every time), failing on any
    unreadable file when ``strict``, else on more than ``max_unreadable`` of them."""

    cache: ImageCache | None = None
    strict: bool = False
    max_unreadable: float = MAX_UNREADABLE


_LOAD_OPTIONS: ContextVar[LoadOptions | None] = ContextVar("load_options", default=None)  # None: the defaults


@contextmanager
def load_options(options: LoadOptions) -> Iterator[LoadOptions]:
    """Every :meth:`FileDataset.load` inside the ``with`` block uses ``options``; the previous ones after."""
    token = _LOAD_OPTIONS.set(options)
    try:
        yield options
    finally:
        _LOAD_OPTIONS.reset(token)


def status_allowing(dataset: Dataset, root: Path, max_unreadable: float) -> DatasetStatus:
    """``dataset.status(root)`` with every :func:`files_status` it calls (a plugin's own included) allowing
    ``max_unreadable`` of the files to be unreadable, as loading will (``--max-unreadable``)."""
    current = _LOAD_OPTIONS.get() or LoadOptions()
    with load_options(dataclasses.replace(current, max_unreadable=max_unreadable)):
        return dataset.status(root)


class FileDataset(Dataset):
    """A dataset of image files: set the class attributes below, implement :meth:`tasks` and :meth:`files`;
    :meth:`load` decodes the files (once, through the :func:`load_options` cache) and :meth:`status` checks
    them.

    ``folder_name`` is the dataset's folder under the data root (default: ``name``); ``required_folders``
    the sub-folders that must be in it; ``layout`` says what belongs in it and ``get`` where to get it
    (both for the ``missing`` message). ``window`` is the intensity window of images of more than 8 bits: a
    fixed (low, high), a :class:`~benchmark.data.windows.PercentileWindow` that each split takes from its training
    images (:meth:`load` then keeps those images at their own depth, :class:`~benchmark.datasets.WideImages`), or
    None: each image by its own range, which erases its level (see :func:`benchmark.data.imagecache.to_rgb`); it
    is part of the data's fingerprint.
    """

    folder_name: str = ""
    required_folders: tuple[str, ...] = ()
    layout: str = ""
    get: str = ""
    window: Window | None = None

    def folder(self, root: Path) -> Path:
        return Path(root) / (self.folder_name or self.name)

    def status(self, root: Path) -> DatasetStatus:
        """``missing`` without the folder, ``incomplete`` without a required sub-folder, else
        :func:`files_status` of the files of every task."""
        folder = self.folder(root)
        if not folder.is_dir():
            return missing_status(folder, self.layout, self.get)
        lacking = [name for name in self.required_folders if not (folder / name).is_dir()]
        if lacking:
            return DatasetStatus("incomplete", f"{folder} lacks {', '.join(lacking)}", folder)
        paths = list(dict.fromkeys(path for task in self.tasks() for path in self.files(task, root).paths))
        return files_status(folder, paths, self.name)

    def files(self, task: Task, root: Path) -> ImageFiles:
        """The task's files and labels under the data ``root``; never decodes an image."""
        raise NotImplementedError

    def fingerprint(self, task: Task, root: Path) -> str:
        """A digest of the task's file list (each path relative to its folder, size and modification time),
        labels, groups and official split; decodes nothing."""
        files = self.files(task, root)
        listing = []
        for path in files.paths:
            stat = os.stat(path) if os.path.exists(path) else None
            name = os.path.relpath(path, files.folder)
            listing.append((name, stat.st_size if stat else -1, stat.st_mtime_ns if stat else -1))
        return digest_of(self.version, listing, files.labels,
                         "none" if files.groups is None else np.asarray(files.groups),
                         "none" if files.official_split is None else np.asarray(files.official_split),
                         *window_identity(self.window))

    def class_counts(self, task: Task, root: Path) -> tuple[np.ndarray, bool]:
        """Images per class of ``task`` and whether the data has an official split, from the file list."""
        files = self.files(task, root)
        counts = np.bincount(np.asarray(files.labels, dtype=np.int64), minlength=task.num_classes)
        return counts, files.official_split is not None

    def official_parts(self, task: Task, root: Path) -> frozenset[str]:
        """The official split's parts the file list holds."""
        official = self.files(task, root).official_split
        return frozenset() if official is None else frozenset(str(part) for part in official)

    def load(self, task: Task, root: Path, image_size: int) -> ImageSet:
        """The task's images at ``image_size``, decoded as the current :func:`load_options` say; unreadable
        files are skipped with a logged warning that names them, up to ``max_unreadable`` of the files;
        :class:`UnreadableImagesError` beyond that share, or for any when ``strict``."""
        options = _LOAD_OPTIONS.get() or LoadOptions()
        strict, max_unreadable = options.strict, options.max_unreadable
        files = self.files(task, root)
        require_every_class(task, files.labels, str(files.folder))
        key = {"dataset": self.name, "version": self.version, "task": task.name}
        cache = options.cache or ImageCache(None)
        cached = cache.load(f"{self.name}-{task.name}", key, files.paths, image_size, self.window)
        notes = []
        if cached.failures:
            listing = "\n  ".join(cached.failures)
            if strict:
                raise UnreadableImagesError(
                    f"{len(cached.failures)} unreadable image(s) in {self.name} (--strict):\n  {listing}\n"
                    "replace or delete them, or run without --strict to skip them"
                )
            if len(cached.failures) > max_unreadable * len(files.paths):
                raise UnreadableImagesError(
                    f"{len(cached.failures)} of {len(files.paths)} images of {self.name} are unreadable, more than "
                    f"the {max_unreadable:.0%} that may be skipped:\n  {listing}\nreplace or delete them"
                )
            message = f"{self.name}: skipped {len(cached.failures)} unreadable image(s):\n  {listing}"
            log.warning(message)
            notes.append(message)
        kept = cached.kept
        wide = None
        if isinstance(self.window, PercentileWindow):
            wide = WideImages(cached.wide_rows, cached.levels, (self.window.low, self.window.high))

        def pick(values):
            return None if values is None else np.asarray(values)[kept]

        return ImageSet(
            cached.images, files.labels[kept], task.classes, groups=pick(files.groups),
            official_split=pick(files.official_split), official_by_default=files.official_by_default,
            notes=notes, wide=wide,
        )


def image_files(folder: Path) -> list[Path]:
    """The image files directly in ``folder``, sorted by name; hidden files are ignored."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file())


def class_folders(folder: Path) -> list[str]:
    """The names of the non-hidden sub-folders of ``folder``, sorted."""
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def scan_class_folders(folder: Path, classes: Sequence[str]) -> tuple[list[Path], list[int]]:
    """Files of ``folder/<class>/`` for each of ``classes``, labelled by the class's position."""
    paths, labels = [], []
    for label, name in enumerate(classes):
        found = image_files(folder / name)
        paths += found
        labels += [label] * len(found)
    return paths, labels


def first_existing(candidates: Iterable[Path]) -> Path | None:
    """The first of ``candidates`` that exists."""
    return next((c for c in candidates if c.exists()), None)


def corrupt_files(paths: Iterable[Path]) -> list[Path]:
    """Files that are empty or do not start like an image file (a cheap check: 8 bytes each)."""
    bad = []
    for path in paths:
        with open(path, "rb") as handle:
            head = handle.read(8)
        if not head.startswith(_SIGNATURES):
            bad.append(path)
    return bad


def missing_status(expected: Path, needed: str, get: str) -> DatasetStatus:
    """``missing``: what to put where, and where to get it."""
    return DatasetStatus("missing", f"expected {expected} ({needed}); get it from {get}", expected)


def files_status(folder: Path, paths: Sequence[Path], what: str,
                 max_unreadable: float | None = None) -> DatasetStatus:
    """``available`` for readable-looking ``paths``, also when at most ``max_unreadable`` of them are not
    images (named in the message: they will be skipped); ``incomplete`` when there are none; ``corrupt``
    when more are not images, naming them. ``max_unreadable`` defaults to the current :func:`load_options`'
    (see :func:`status_allowing`)."""
    if max_unreadable is None:
        max_unreadable = (_LOAD_OPTIONS.get() or LoadOptions()).max_unreadable
    if not paths:
        return DatasetStatus("incomplete", f"no images of {what} in {folder}", folder)
    bad = corrupt_files(paths)
    if not bad:
        return DatasetStatus("available", f"{len(paths)} images in {folder}", folder)
    names = ", ".join(os.path.relpath(p, folder) for p in bad[:10]) + (f" and {len(bad) - 10} more"
                                                                         if len(bad) > 10 else "")
    if len(bad) > max_unreadable * len(paths):
        return DatasetStatus(
            "corrupt", f"{len(bad)} of {len(paths)} file(s) in {folder} are not images, more than the "
            f"{max_unreadable:.0%} that may be skipped: {names}; replace or delete them", folder)
    return DatasetStatus("available", f"{len(paths)} files in {folder}; {len(bad)} are not images and will be "
                         f"skipped: {names}", folder)
