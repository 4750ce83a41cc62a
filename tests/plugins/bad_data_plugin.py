"""A dataset plugin whose data is wrong in the way ``TLBENCH_TEST_BAD`` names: ``labels`` out of range,
``float-labels``, ``nan`` pixels, ``groups`` of the wrong length or ``one-class`` (else it is fine)."""

import os

import numpy as np

from benchmark import TARGET, Dataset, DatasetStatus, ImageSet, Task, hookimpl


class BadData(Dataset):
    name = "bad_data"
    modality = "medical"
    classes = ("a", "b")
    roles = frozenset({TARGET})

    def tasks(self):
        return [Task(self.name, self.classes, self.roles)]

    def status(self, root):
        return DatasetStatus("available", "generated")

    def load(self, task, root, image_size):
        fault = os.environ.get("TLBENCH_TEST_BAD", "")
        rng = np.random.default_rng(0)
        labels = np.arange(40) % 2
        images = rng.integers(0, 255, size=(40, image_size, image_size, 3)).astype(np.uint8)
        groups = None
        if fault == "labels":
            labels = labels + 1  # 1..2 for two classes
        elif fault == "float-labels":
            labels = labels + 0.5
        elif fault == "nan":
            images = images.astype(np.float32)
            images[0, 0, 0, 0] = np.nan
        elif fault == "groups":
            groups = np.arange(39)
        elif fault == "one-class":
            labels = np.zeros(40, dtype=np.int64)
        return ImageSet(images, labels, self.classes, groups=groups)


@hookimpl
def tlbench_register_datasets(register):
    register(BadData())
