"""Wrong data from a dataset plugin is caught at planning with a message that names the dataset, its plugin
module and what is wrong (not a bare IndexError, nor a learning-rate hint for NaN pixels)."""

import json

import pytest
from conftest import TINY


@pytest.mark.parametrize(("fault", "message"), [
    ("labels", "labels must lie in 0..1, one per class of a, b; got 1..2"),
    ("float-labels", "labels must be class indices (integers), got float64"),
    ("nan", "images hold 1 NaN pixel value(s): give uint8 pixels"),
    ("groups", "groups has 39 entries for 40 images"),
])
def test_bad_plugin_data_names_the_plugin_and_the_problem(cli, monkeypatch, tmp_path, fault, message):
    monkeypatch.setenv("TLBENCH_TEST_BAD", fault)
    args = ["-p", "bad_data_plugin", "run", "-d", "bad_data", "-m", "scratch", "--seeds", "2", "--no-audit",
            "--out", tmp_path / "runs", *TINY]
    planned = cli(*args, "--collect-only")
    flat = " ".join(planned.output.split())
    assert planned.exit_code == 0 and "dataset 'bad_data' (plugin module bad_data_plugin) could not be read" in flat
    assert message in flat and "lower the lr" not in flat
    ran = cli(*args)
    assert ran.exit_code == 5 and "Traceback" not in ran.output, "skipped at planning: nothing ran, nothing failed"
    assert json.loads(cli("show", "--out", tmp_path / "runs", "--format", "json").output)["experiments"] == []


def test_a_plugin_dataset_with_one_class_is_skipped_at_planning(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("TLBENCH_TEST_BAD", "one-class")
    planned = cli("-p", "bad_data_plugin", "run", "-d", "bad_data", "-m", "scratch", "--seeds", "2", "--collect-only",
                  "--out", tmp_path / "runs", *TINY)
    flat = " ".join(planned.output.split())
    assert planned.exit_code == 0 and "1 skipped: target bad_data: task bad_data has no images of class b" in flat
