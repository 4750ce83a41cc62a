"""Tiny learnable datasets for fast tests: load with ``-p tiny_plugin`` (this folder on sys.path)."""

from __future__ import annotations

import numpy as np

from benchmark import SOURCE, TARGET, Dataset, DatasetStatus, ImageSet, Task, hookimpl


class TinyDataset(Dataset):
    """``n`` images; class ``c`` draws a bright square in corner ``c`` on a noisy background."""

    modality = "medical"
    n = 48
    classes: tuple[str, ...] = ("a", "b")
    roles = frozenset({TARGET})
    seed = 0

    def tasks(self):
        return [Task(self.name, self.classes, self.roles)]

    def status(self, root):
        return DatasetStatus("available", "generated")

    def load(self, task, root, image_size):
        rng = np.random.default_rng(self.seed)
        labels = np.arange(self.n) % len(self.classes)
        images = rng.normal(90, 25, size=(self.n, image_size, image_size, 3))
        half = image_size // 2
        for i, label in enumerate(labels):
            y, x = divmod(int(label), 2)
            images[i, y * half : (y + 1) * half, x * half : (x + 1) * half] += 90
        images = np.clip(images, 0, 255).astype(np.uint8)
        return ImageSet(images, labels, self.classes, groups=np.arange(self.n) // 2)


class TinySource(TinyDataset):
    name = "tiny_src"
    modality = "natural"
    classes = ("w", "x", "y", "z")
    roles = frozenset({SOURCE})
    n = 64
    seed = 1


class TinyTarget(TinyDataset):
    name = "tiny_tgt"
    seed = 2


class TinyThree(TinyDataset):
    name = "tiny_three"
    classes = ("p", "q", "r")
    n = 48
    seed = 3


@hookimpl
def tlbench_register_datasets(register):
    for dataset in (TinySource(), TinyTarget(), TinyThree()):
        register(dataset)
