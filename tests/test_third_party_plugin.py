"""A plugin package installed with pip shows up and runs, with no change to tlbench."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import TESTS, TINY, subprocess_env

TLBENCH = str(Path(sys.executable).parent / "tlbench")


def test_pip_installed_plugin_is_listed_and_its_dataset_runs(tmp_path):
    package = tmp_path / "toy"
    shutil.copytree(TESTS / "fixtures" / "tlbench-toy-plugin", package)
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(package)],
        check=True,
    )
    env = subprocess_env(PYTHONPATH=str(site), TLBENCH_CACHE=str(tmp_path / "cache"))
    del env["TLBENCH_DISTRIBUTIONS"]  # this test is about an installed plugin being found

    def tlbench(*args):
        return subprocess.run([TLBENCH, *args], env=env, capture_output=True, text=True, cwd=tmp_path)

    plugins = {p["name"]: p for p in json.loads(tlbench("plugins", "--json").stdout)}
    toy = plugins["toy"]
    assert (toy["status"], toy["version"], toy["distribution"]) == ("ok", "0.3.0", "tlbench-toy-plugin")
    assert toy["provides"] == {"datasets": ["toy_derm"]}

    listing = json.loads(tlbench("list", "--json").stdout)
    assert any(t["task"] == "toy_derm" and t["status"] == "available" for t in listing["tasks"])

    run = tlbench("run", "-d", "toy_derm", "-m", "scratch", "-m", "fe-svm", "-s", "none", "-s", "random",
                  "--seeds", "2", "--out", str(tmp_path / "runs"), *TINY)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "PASSED toy_derm::none::scratch[seed=2]" in run.stdout
    shown = json.loads(tlbench("show", "--out", str(tmp_path / "runs"), "--format", "json").stdout)["experiments"]
    assert {(r["target"], r["method"], r["status"]) for r in shown} == {
        ("toy_derm", "scratch", "passed"), ("toy_derm", "fe-svm", "passed")}
