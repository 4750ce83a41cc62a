"""Tests of the example_spots dataset with tlbench's testing kit: a tiny preset, nothing downloaded."""

import numpy as np
from benchmark.testing import catalog, run_experiment

from tlbench_example_spots import CLASSES, ExampleSpots


def test_the_catalog_lists_it():
    assert isinstance(catalog(["tlbench_example_spots"]).datasets["example_spots"], ExampleSpots)


def test_it_needs_no_files(tmp_path):
    assert ExampleSpots().status(tmp_path).available


def test_images_are_uint8_rgb_of_the_asked_size_with_patients_kept_together(tmp_path):
    dataset = ExampleSpots()
    images = dataset.load(dataset.tasks()[0], tmp_path, 20)
    assert images.images.dtype == np.uint8 and images.images.shape[1:] == (20, 20, 3)
    assert images.classes == CLASSES and set(np.bincount(images.labels)) == {len(images) // 2}
    for patient in np.unique(images.groups):
        assert len(set(images.labels[images.groups == patient])) == 1


def test_one_experiment_runs_end_to_end(tmp_path):
    row = run_experiment("example_spots", "random", "fe-svm", plugins=["tlbench_example_spots"], tmp_path=tmp_path)
    assert row["status"] == "passed"
    assert isinstance(row["metrics"]["auc"], float) and 0.0 <= row["metrics"]["auc"] <= 1.0
