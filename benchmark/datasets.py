"""Datasets and tasks: what a dataset plugin declares and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmark.hashing import digest_of

SOURCE = "source"
TARGET = "target"
# What a dataset's images look like, for the leak audit's threshold (benchmark.data.perceptualhash.IMAGING_THRESHOLDS)
IMAGING = ("xray", "cells", "dermoscopy", "fundus", "natural", "other")


@dataclass(frozen=True)
class Task:
    """One classification problem of a dataset; ``name`` is its id in node ids and tables."""

    name: str
    classes: tuple[str, ...]
    roles: frozenset[str] = frozenset({TARGET})
    description: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@dataclass(frozen=True)
class DatasetStatus:
    """Whether a dataset can be used, found without downloading anything.

    ``state`` is ``available``, ``missing``, ``incomplete`` or ``corrupt``; ``message`` says what is
    wrong and what to do (the exact path expected, the files needed, where to get them).
    """

    state: str
    message: str = ""
    path: Path | None = None

    @property
    def available(self) -> bool:
        return self.state == "available"


@dataclass
class WideImages:
    """The images of more than 8 bits per pixel of an :class:`ImageSet` at their own depth, for an intensity window
    that each split takes from its training images (:mod:`benchmark.data.windows`): float32 grey ``values``
    (M, H, W) of the images at the ascending positions ``rows``, and the ``percentiles`` (low, high) of their pixel
    values that set the window. Until a split maps them, the ImageSet's ``images`` hold them scaled by each one's
    own range."""

    rows: np.ndarray
    values: np.ndarray
    percentiles: tuple[float, float]


@dataclass
class ImageSet:
    """Decoded images of one task: uint8 ``images`` (N, H, W, 3) and int ``labels`` (N,).

    ``groups`` (patient ids and the like) keep related images on one side of a split;
    ``official_split`` holds ``train``/``val``/``test`` per image where the dataset defines one. It is
    used as :func:`benchmark.data.splits.uses_official` decides, and always when ``official_by_default`` is set
    (a dataset whose only leak-free split is its own, such as blood cells). ``wide`` keeps the images of more than
    8 bits at their own depth where each split chooses their window (:class:`WideImages`).
    """

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    groups: np.ndarray | None = None
    official_split: np.ndarray | None = None
    official_by_default: bool = False
    notes: list[str] = field(default_factory=list)
    wide: WideImages | None = None

    def __post_init__(self):
        images = np.asarray(self.images)
        if images.dtype.kind == "f" and np.isnan(images).any():
            raise ValueError(f"images hold {int(np.isnan(images).sum())} NaN pixel value(s): give uint8 pixels")
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
        labels = np.asarray(self.labels)
        if len(labels) != len(images):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        if labels.dtype.kind not in "iu" and not (labels.dtype.kind == "f" and np.all(labels == np.round(labels))):
            raise ValueError(f"labels must be class indices (integers), got {labels.dtype}")
        if len(labels) and (labels.min() < 0 or labels.max() >= len(self.classes)):
            raise ValueError(f"labels must lie in 0..{len(self.classes) - 1}, one per class of "
                             f"{', '.join(self.classes)}; got {labels.min():g}..{labels.max():g}")
        for name in ("groups", "official_split"):
            value = getattr(self, name)
            if value is not None and len(value) != len(labels):
                raise ValueError(f"{name} has {len(value)} entries for {len(labels)} images")
        self.labels = labels.astype(np.int64)
        if self.wide is not None:
            _check_wide(self.wide, images.shape)

    def __len__(self) -> int:
        return len(self.labels)


def _check_wide(wide: WideImages, shape: tuple[int, ...]) -> None:
    rows, values = np.asarray(wide.rows), wide.values
    if values.ndim != 3 or values.shape[1:] != shape[1:3] or values.dtype != np.float32:
        raise ValueError(f"wide values must be float32 (M, {shape[1]}, {shape[2]}), got {values.dtype} {values.shape}")
    if rows.shape != (len(values),) or rows.dtype.kind not in "iu":
        raise ValueError(f"wide rows must be {len(values)} integer positions, one per wide image, got {rows.shape}")
    if len(rows) and (rows.min() < 0 or rows.max() >= shape[0] or (np.diff(rows) <= 0).any()):
        raise ValueError(f"wide rows must be ascending positions in 0..{shape[0] - 1}")


class Dataset:
    """Base class of dataset plugins.

    Subclasses set ``name``, ``modality`` (``medical`` or ``natural``), ``imaging`` (one of :data:`IMAGING`,
    the kind of picture, which sets the leak audit's threshold), ``version`` (bump it when the plugin
    changes what it loads: results and source models of the old version are then redone), ``homepage`` and
    ``provenance``, and implement :meth:`tasks`, :meth:`status` and :meth:`load`. ``status`` must never
    download.

    ``provenance`` names the image collections the dataset's images come from (for example
    ``{"kermany2018-chest-xray"}`` for both the Kaggle chest X-rays and PneumoniaMNIST); a source model trained
    here is never used on a target whose provenance meets its own, because the target's test images may be
    among its training images. Empty means the dataset's own name.

    ``official_split_default`` says whether the dataset's own split is used when the preset leaves
    ``official_splits`` unset (``None``): set it where published results use that split (MedMNIST).
    """

    name: str = ""
    modality: str = "medical"
    imaging: str = "other"
    version: str = "1"
    homepage: str = ""
    description: str = ""
    provenance: frozenset[str] = frozenset()
    official_split_default: bool = False

    @property
    def collections(self) -> frozenset[str]:
        """The image collections of :attr:`provenance`, or the dataset's own name when it declares none."""
        return frozenset(self.provenance) or frozenset({self.name})

    def fingerprint(self, task: Task, root: Path) -> str:
        """A digest of what determines the task's images, labels, groups and official split under ``root``:
        a changed data folder changes it, and with it every result and source model that used the task.

        This default loads the task at 16 px and digests it; override it with something cheaper that decodes
        nothing (:class:`~benchmark.data.filedatasets.FileDataset` digests its file list).
        """
        imageset = self.load(task, root, 16)
        return digest_of(self.version, imageset.images, imageset.labels, _optional(imageset.groups),
                         _optional(imageset.official_split))

    def class_counts(self, task: Task, root: Path) -> tuple[np.ndarray, bool]:
        """Images per class of ``task`` and whether the data has an official split: what planning needs to
        tell whether the task can be split. This default loads the task at 16 px, as the default
        :meth:`fingerprint` does; override it where the labels are cheaper to get (no cache between the two:
        a fingerprint must see the data as it is now)."""
        imageset = self.load(task, root, 16)
        return np.bincount(imageset.labels, minlength=task.num_classes), imageset.official_split is not None

    def official_parts(self, task: Task, root: Path) -> frozenset[str]:
        """The parts of the task's official split present under ``root`` (``train``, ``val``, ``test``), empty
        without one: planning skips a task whose preset asks for an official split it lacks the test part of. This
        default trusts :meth:`class_counts`: all three parts when it says there is an official split."""
        return frozenset({"train", "val", "test"}) if self.class_counts(task, root)[1] else frozenset()

    def missing_classes(self, task: Task, root: Path) -> list[str]:
        """What ``task`` needs and the data lacks: by default its classes with no image (:meth:`class_counts`);
        a dataset whose classes pool several kinds of image overrides it to name a kind that is absent."""
        counts, _ = self.class_counts(task, root)
        return [name for name, count in zip(task.classes, counts, strict=True) if count == 0]

    def tasks(self) -> list[Task]:
        raise NotImplementedError

    def folder(self, root: Path) -> Path | None:
        """Where the dataset's files lie under the data ``root``; None for a dataset without files."""
        return None

    def status(self, root: Path) -> DatasetStatus:
        raise NotImplementedError

    def load(self, task: Task, root: Path, image_size: int) -> ImageSet:
        """Return the task's images squashed to ``image_size`` x ``image_size`` RGB."""
        raise NotImplementedError

    def augment_train(
        self, task: Task, imageset: ImageSet, train: np.ndarray, seed: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Extra uint8 (M, H, W, 3) images and (M,) labels to add to the training part ``train``
        (indices into ``imageset``) of one seed's split, or ``None`` (the default) for none.

        It runs after the split, so nothing made here reaches validation or test images.
        """
        return None


def _optional(values) -> np.ndarray | str:
    return "none" if values is None else np.asarray(values)


def require_every_class(task: Task, labels: np.ndarray, where: str) -> None:
    """Raise a ValueError naming the classes of ``task`` that have no image among ``labels``."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=task.num_classes)
    empty = [name for name, count in zip(task.classes, counts, strict=False) if count == 0]
    if empty:
        raise ValueError(
            f"task {task.name!r} has no images of class {', '.join(repr(c) for c in empty)} in {where}; "
            "add images of that class or choose another task"
        )
