"""Loading a task's images once per run and cutting them into seeded splits."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .datasets import Dataset, ImageSet, Task
from .models import to_images_tensor
from .settings import RunSettings
from .splits import Split, make_split
from .training import LabelledImages


@dataclass
class SplitData:
    """The train, validation and test parts of one task for one seed."""

    task: Task
    split: Split
    train: LabelledImages
    val: LabelledImages
    test: LabelledImages


class TaskData:
    """Loads each task's :class:`ImageSet` at most once and serves seeded splits of it."""

    def __init__(self, settings: RunSettings):
        self.settings = settings
        self._images: dict[str, tuple[ImageSet, torch.Tensor]] = {}

    def imageset(self, dataset: Dataset, task: Task) -> tuple[ImageSet, torch.Tensor]:
        if task.name not in self._images:
            size = self.settings.preset.image_size
            imageset = dataset.load(task, self.settings.data_root, size)
            if imageset.images.shape[1:3] != (size, size):
                raise ValueError(
                    f"dataset {dataset.name!r} returned {imageset.images.shape[1:3]} images for task "
                    f"{task.name!r}; it must return {size}x{size}"
                )
            self._images[task.name] = (imageset, to_images_tensor(imageset.images))
        return self._images[task.name]

    def split(self, dataset: Dataset, task: Task, seed: int) -> SplitData:
        imageset, tensor = self.imageset(dataset, task)
        preset = self.settings.preset
        split = make_split(
            imageset.labels, seed, preset.test_fraction, preset.val_fraction,
            groups=imageset.groups, official=imageset.official_split,
        )
        labels = torch.from_numpy(imageset.labels)

        def part(index) -> LabelledImages:
            index = torch.from_numpy(index)
            return LabelledImages(tensor[index], labels[index])

        return SplitData(task, split, part(split.train), part(split.val), part(split.test))
