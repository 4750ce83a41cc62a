"""Loading a task's images once per run and cutting them into seeded splits."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass

import numpy as np
import torch

from benchmark.data.filedatasets import LoadOptions, load_options
from benchmark.data.imagecache import ImageCache
from benchmark.data.splits import Split, make_split, uses_official
from benchmark.data.windows import training_window, windowed
from benchmark.datasets import SOURCE, TARGET, Dataset, ImageSet, Task, require_every_class
from benchmark.engine.models import to_images_tensor
from benchmark.engine.training import LabelledImages
from benchmark.hashing import digest_of
from benchmark.settings import RunSettings

log = logging.getLogger(__name__)
_DIGEST_CHUNK = 1 << 24  # bytes hashed per update


@dataclass
class SplitData:
    """The train, validation and test parts of one task for one seed.

    ``train`` holds the images of ``split.train`` in that order, followed by ``augmented`` images the
    dataset made from them (:meth:`Dataset.augment_train`), which have no position in the task.
    ``images_digest`` identifies the task's images that the split's positions index
    (:func:`images_digest`; with the split's ``window`` where its training images chose one); empty when unknown.
    ``window`` is the intensity window (low, high) its images of more than 8 bits were mapped through, taken
    from its training images (:func:`~benchmark.data.windows.training_window`); None where none was chosen.
    """

    task: Task
    split: Split
    train: LabelledImages
    val: LabelledImages
    test: LabelledImages
    augmented: int = 0
    images_digest: str = ""
    test_groups: np.ndarray | None = None  # patient, cell or lesion of each test image, where the dataset knows
    window: tuple[float, float] | None = None

    @property
    def n_test_groups(self) -> int | None:
        return None if self.test_groups is None else len(np.unique(self.test_groups))


def images_digest(images: torch.Tensor) -> str:
    """A content digest of a uint8 image tensor (shape and pixels), read in place chunk by chunk."""
    return array_digest(images.contiguous().numpy())


def array_digest(array: np.ndarray) -> str:
    """A content digest of an array (dtype, shape and values), read in place chunk by chunk."""
    array = np.ascontiguousarray(array)
    digest = hashlib.blake2b(f"{array.dtype}{array.shape}".encode(), digest_size=16)
    flat = memoryview(array).cast("B")
    for start in range(0, len(flat), _DIGEST_CHUNK):
        digest.update(flat[start:start + _DIGEST_CHUNK])
    return digest.hexdigest()


class TaskData:
    """Loads each task's :class:`ImageSet` at most once (image files through the decode-once cache in
    ``settings.cache_dir``) and serves seeded splits of it, each carrying its task's images digest
    (computed once per task). Images of more than 8 bits kept at their own depth (``ImageSet.wide``) are mapped
    through the window of each split's training images (computed once per split)."""

    def __init__(self, settings: RunSettings):
        self.settings = settings
        self.options = LoadOptions(ImageCache(settings.cache_dir), settings.strict, settings.max_unreadable)
        self._images: dict[str, tuple[ImageSet, torch.Tensor | None]] = {}
        self._digests: dict[str, str] = {}
        self._windows: dict[tuple[str, str], tuple[float, float] | None] = {}

    def imageset(self, dataset: Dataset, task: Task) -> tuple[ImageSet, torch.Tensor | None]:
        """The task's images and their (N, 3, H, W) tensor; no tensor where a split windows them (``wide``)."""
        if task.name not in self._images:
            size = self.settings.preset.image_size
            root = self.settings.data_root
            try:
                with load_options(self.options):
                    imageset = dataset.load(task, root, size)
            except ValueError as error:  # the ImageSet checks raise inside the plugin's load: say whose data
                raise ValueError(f"dataset {dataset.name!r} (plugin module {type(dataset).__module__}), task "
                                 f"{task.name!r}: {error}") from error
            require_every_class(task, imageset.labels, f"dataset {dataset.name!r}")
            if imageset.images.shape[1:3] != (size, size):
                raise ValueError(
                    f"dataset {dataset.name!r} returned {imageset.images.shape[1:3]} images for task "
                    f"{task.name!r}; it must return {size}x{size}"
                )
            tensor = None if imageset.wide is not None else to_images_tensor(imageset.images)
            self._images[task.name] = (imageset, tensor)
        return self._images[task.name]

    def split(self, dataset: Dataset, task: Task, seed: int, role: str = TARGET) -> SplitData:
        """The seed's split of ``task``; a source's own training split (``role`` source) takes the preset's
        source split counts."""
        imageset, tensor = self.imageset(dataset, task)
        if task.name not in self._digests:
            self._digests[task.name] = _task_digest(imageset, tensor)
        digest = self._digests[task.name]
        preset = self.settings.preset
        split = make_split(
            imageset.labels, seed, preset.test_fraction, preset.val_fraction,
            groups=imageset.groups, official=self._official(dataset, task, imageset),
            counts=preset.counts_for(dataset.name, source=role == SOURCE),
            min_val=(preset.min_val_images, preset.min_val_per_class),
        )
        window = None
        if imageset.wide is not None:
            window = self._window(task, imageset, split)
            imageset = dataclasses.replace(imageset, images=windowed(imageset.images, imageset.wide, window),
                                           wide=None)
            digest = digest_of(digest, window)
        labels = torch.from_numpy(imageset.labels)

        def part(index) -> LabelledImages:
            images = to_images_tensor(imageset.images[index]) if tensor is None else tensor[torch.from_numpy(index)]
            return LabelledImages(images, labels[torch.from_numpy(index)])

        train = part(split.train)
        extra = dataset.augment_train(task, imageset, split.train, seed)
        augmented = 0 if extra is None else len(extra[1])
        if augmented:
            images, extra_labels = extra
            train = LabelledImages(torch.cat([train.images, to_images_tensor(images)]),
                                   torch.cat([train.labels, torch.as_tensor(extra_labels, dtype=torch.int64)]))
        test_groups = None if imageset.groups is None else np.asarray(imageset.groups)[split.test]
        return SplitData(task, split, train, part(split.val), part(split.test), augmented, digest, test_groups,
                         window)

    def _window(self, task: Task, imageset: ImageSet, split: Split) -> tuple[float, float] | None:
        """The window of the images of more than 8 bits from ``split``'s training part, computed once per split."""
        key = (task.name, split.hash)
        if key not in self._windows:
            window = training_window(imageset.wide, split.train)
            self._windows[key] = window
            log.info("task %s, split %s: images of more than 8 bits mapped from %s (percentiles %s of %d training "
                     "images)", task.name, split.hash, "their own range" if window is None else f"[{window[0]:g}, "
                     f"{window[1]:g}]", imageset.wide.percentiles, len(split.train))
        return self._windows[key]

    def _official(self, dataset: Dataset, task: Task, imageset: ImageSet):
        """The dataset's own split when the preset asks for it or the dataset always uses it."""
        official = imageset.official_split
        if not uses_official(self.settings.preset.official_splits, official is not None,
                             imageset.official_by_default, dataset.official_split_default):
            return None
        if not (official == "test").any():
            raise ValueError(
                f"task {task.name!r}: the preset asks for official splits but dataset {dataset.name!r} has no "
                "official test images under the data root; add its test part or use a preset without "
                "official_splits"
            )
        return official


def _task_digest(imageset: ImageSet, tensor: torch.Tensor | None) -> str:
    """:func:`images_digest` of the task's images; with the values of its images of more than 8 bits where a split
    windows them (the images then hold them scaled by their own range, which may hide a change of level)."""
    if imageset.wide is None:
        return images_digest(tensor)
    return digest_of(array_digest(imageset.images), array_digest(imageset.wide.rows),
                     array_digest(imageset.wide.values))
