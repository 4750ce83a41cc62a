"""``tlbench new``: plugin package skeletons from the templates, and the example package made from them."""

import subprocess
import sys
from pathlib import Path

import pytest

from benchmark import Dataset, Method
from benchmark.cli.scaffold import skeleton, write_skeleton
from benchmark.testing import catalog, fake_image_folders

EXAMPLE = Path(__file__).parents[1] / "examples" / "tlbench-example-dataset"


def test_new_dataset_writes_a_package_whose_plugin_registers_and_finds_its_files(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("new", "dataset", "my_derm")
    assert result.exit_code == 0, result.output
    package = tmp_path / "tlbench-my_derm"
    assert sorted(p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file()) == [
        "README.md", "pyproject.toml", "tests/test_my_derm.py", "tlbench_my_derm/__init__.py"]
    pyproject = (package / "pyproject.toml").read_text()
    assert 'name = "tlbench-my-derm"' in pyproject and '[project.entry-points.tlbench]\nmy_derm = "tlbench_my_derm"' \
        in pyproject and 'dependencies = ["tlbench"]' in pyproject
    assert "benchmark.testing" in (package / "tests" / "test_my_derm.py").read_text()

    monkeypatch.syspath_prepend(str(package))
    dataset = catalog(["tlbench_my_derm"]).datasets["my_derm"]
    assert isinstance(dataset, Dataset) and dataset.status(tmp_path / "data").state == "missing"
    fake_image_folders(tmp_path / "data" / "my_derm", dataset.tasks()[0].classes, per_class=3)
    assert dataset.status(tmp_path / "data").available
    assert len(dataset.files(dataset.tasks()[0], tmp_path / "data").paths) == 6


def test_new_method_into_a_folder_writes_a_method_that_registers(cli, tmp_path, monkeypatch):
    result = cli("new", "method", "head_ft", "--into", tmp_path / "pkg")
    assert result.exit_code == 0, result.output
    monkeypatch.syspath_prepend(str(tmp_path / "pkg"))
    method = catalog(["tlbench_head_ft"]).methods["head_ft"]
    assert isinstance(method, Method) and method.uses_source and method.trains  # it fine-tunes


def test_the_generated_dataset_package_passes_its_own_tests(tmp_path):
    package = write_skeleton("dataset", "fresh_derm", tmp_path / "pkg")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=package,
                          env={"PYTHONPATH": str(package), "HF_HUB_OFFLINE": "1", "TLBENCH_CACHE": str(tmp_path / "c")},
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


def test_an_existing_folder_is_never_overwritten(cli, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep")
    result = cli("new", "dataset", "my_derm", "--into", tmp_path / "taken")
    assert result.exit_code != 0 and "exists" in result.output
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["mine.txt"]


@pytest.mark.parametrize("name", ["MyDerm", "my-derm", "1derm", "class", "", "derm!"])
def test_a_name_that_is_not_a_lowercase_identifier_is_refused(cli, tmp_path, name):
    result = cli("new", "method", name, "--into", tmp_path / "pkg")
    assert result.exit_code != 0 and "lowercase Python identifier" in result.output
    assert not (tmp_path / "pkg").exists()


def test_the_example_package_is_the_dataset_template_filled_in():
    generated = skeleton("dataset", "example_spots")
    example = {p.relative_to(EXAMPLE).as_posix() for p in EXAMPLE.rglob("*") if p.is_file()
               and not any(part.endswith((".egg-info", "_cache", "__pycache__")) for part in p.parts)}
    assert example == set(generated)
    assert (EXAMPLE / "pyproject.toml").read_text() == generated["pyproject.toml"]


def test_a_name_too_long_for_a_file_name_is_refused_before_anything_is_written(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("new", "dataset", "a" * 250)
    assert result.exit_code == 2 and "is 250 characters long: give a name of at most 64" in result.output
    assert "Traceback" not in result.output and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("into, says", [("afile/sub", "cannot create afile/sub (afile is a file, not a folder)"),
                                        ("b" * 300, "(File name too long): choose another folder with --into")])
def test_a_folder_that_cannot_be_made_is_a_clear_error_and_leaves_nothing(cli, tmp_path, monkeypatch, into, says):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("keep")
    result = cli("new", "dataset", "derm", "--into", into)
    assert result.exit_code == 2 and says in result.output and "Traceback" not in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["afile"] and (tmp_path / "afile").read_text() == "keep"


def test_a_failed_write_leaves_no_partial_skeleton(cli, tmp_path, monkeypatch):
    real_write = Path.write_text

    def full_after_two(path, text, *args, **kwargs):
        if path.name.endswith(".py"):
            raise OSError(28, "No space left on device")
        return real_write(path, text, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_after_two)
    result = cli("new", "method", "derm", "--into", tmp_path / "pkg")
    assert result.exit_code == 2 and "(No space left on device): choose another folder" in result.output
    assert list(tmp_path.iterdir()) == []
