"""Whether one task of a dataset can be used: its dataset's status, then its classes."""

from __future__ import annotations

from pathlib import Path

from benchmark.datasets import Dataset, DatasetStatus, Task


def task_status(dataset: Dataset, task: Task, root: Path, dataset_state: DatasetStatus | None = None) -> DatasetStatus:
    """``dataset_state`` (else ``dataset.status(root)``) when it is not available; else ``incomplete`` naming what
    the task needs and the data lacks (:meth:`Dataset.missing_classes`: an ISIC folder holding melanomas and nevi
    only lacks the keratoses two of its tasks need), or ``corrupt`` when the task's labels cannot be read; else
    available."""
    state = dataset_state or dataset.status(root)
    if not state.available:
        return state
    try:
        missing = dataset.missing_classes(task, root)
    except Exception as error:  # a plugin's data that cannot be read: this task only
        return DatasetStatus("corrupt", f"dataset {dataset.name!r} (plugin module {type(dataset).__module__}) "
                                        f"could not be read: {error}", state.path)
    if missing:
        where = f" in {state.path}" if state.path else ""
        return DatasetStatus("incomplete", f"task {task.name} has no images of class {', '.join(missing)}{where}: "
                                           "add them, or choose another task", state.path)
    return state
