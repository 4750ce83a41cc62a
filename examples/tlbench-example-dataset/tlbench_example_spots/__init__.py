"""The example_spots dataset: generated fundus-like images, ``clear`` or with ``spots`` (microaneurysm-like).

A third-party dataset plugin that needs no files: every image is drawn from a seeded generator.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from benchmark import TARGET, Dataset, DatasetStatus, ImageSet, Task, hookimpl

CLASSES = ("clear", "spots")
N_IMAGES = 96  # two images per synthetic patient


class ExampleSpots(Dataset):
    name = "example_spots"
    modality = "medical"
    version = "1"  # bump when the images change: its results are then redone
    description = "example_spots: generated fundus-like images, clear vs small dark spots"
    provenance = frozenset({"example_spots"})

    def tasks(self) -> list[Task]:
        return [Task(self.name, CLASSES, frozenset({TARGET}), self.description)]

    def status(self, root: Path) -> DatasetStatus:
        return DatasetStatus("available", "generated: no files needed")

    def load(self, task: Task, root: Path, image_size: int) -> ImageSet:
        rng = np.random.default_rng(11)
        patients = np.arange(N_IMAGES) // 2
        labels = patients % 2  # both images of a patient share the diagnosis
        axis = (np.arange(image_size) + 0.5) / image_size - 0.5
        yy, xx = np.meshgrid(axis, axis, indexing="ij")
        disc = np.hypot(yy, xx) < 0.45
        images = np.empty((N_IMAGES, image_size, image_size, 3), dtype=np.uint8)
        for i, label in enumerate(labels):
            fundus = np.array([200, 90, 40]) * (1 - np.hypot(yy, xx))[..., None]
            fundus = fundus + rng.normal(0, 6, size=fundus.shape)
            for _ in range(rng.integers(4, 8) if label else 0):
                cy, cx = rng.uniform(-0.3, 0.3, size=2)
                fundus[np.hypot(yy - cy, xx - cx) < 0.06] *= 0.3
            images[i] = np.clip(np.where(disc[..., None], fundus, 0), 0, 255).astype(np.uint8)
        return ImageSet(images, labels, task.classes, groups=patients)


@hookimpl
def tlbench_register_datasets(register):
    register(ExampleSpots())
