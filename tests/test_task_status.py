"""A task's status: its dataset's, then whether the data holds every class the task needs."""

from pathlib import Path

from fakedata import make_imagefolder

from benchmark.data.taskstatus import task_status
from benchmark.datasets import Dataset, DatasetStatus, Task
from benchmark.registry.config import DatasetDeclaration
from benchmark.registry.declared import ImageFolderDataset


def test_a_task_whose_class_has_no_image_is_incomplete_naming_it(tmp_path):
    make_imagefolder(tmp_path / "lesions", classes=("a", "b"), per_class=3)
    declaration = DatasetDeclaration("lesions", "imagefolder", Path("lesions"), classes=("a", "b", "c"))
    dataset = ImageFolderDataset(declaration, tmp_path / "lesions")
    (task,) = dataset.tasks()
    state = task_status(dataset, task, tmp_path)
    assert state.state == "incomplete" and not state.available
    assert state.message == f"task lesions has no images of class c in {tmp_path / 'lesions'}: add them, or choose " \
                            "another task"
    complete = ImageFolderDataset(DatasetDeclaration("lesions", "imagefolder", Path("lesions")), tmp_path / "lesions")
    assert task_status(complete, complete.tasks()[0], tmp_path).available


class Unreadable(Dataset):
    name = "unreadable"

    def status(self, root):
        return DatasetStatus("available")

    def class_counts(self, task, root):
        raise OSError("labels.csv: permission denied")


def test_labels_that_cannot_be_read_make_the_task_corrupt_and_a_missing_dataset_stays_missing(tmp_path):
    task = Task("t", ("x", "y"))
    state = task_status(Unreadable(), task, tmp_path)
    assert state.state == "corrupt" and "labels.csv: permission denied" in state.message
    missing = DatasetStatus("missing", "get it")
    assert task_status(Unreadable(), task, tmp_path, missing) is missing
