"""Launchers own their options: declared by the launcher, set by --launcher-option KEY=VALUE or the config's
[launcher.NAME] table, checked by the launcher with errors naming its options; a third-party launcher adds its
own (tests/plugins/option_launcher.py)."""

import importlib
import json

import pytest
from conftest import TINY

from benchmark import LauncherOption, LaunchError, run_grid
from benchmark.run.grid import GridError
from benchmark.run.launching import LaunchRequest, launcher_table, resolve_launch
from tlbench_plugins.launchers.ray import RayLauncher
from tlbench_plugins.launchers.submitit import SubmititLauncher

GRID = ["-p", "tiny_plugin", "-p", "option_launcher", "run", "-d", "tiny_tgt", "-s", "none", "-m", "scratch",
        "--seeds", "2", *TINY]
TINY_OVERRIDES = {"backbone": "test_resnet", "image_size": 16, "max_epochs": 2}


@pytest.fixture
def pool(monkeypatch):
    """The third-party launcher's module (on sys.path through the isolation fixture), with no session opened."""
    module = importlib.import_module("option_launcher")
    monkeypatch.setattr(module, "OPENED", [])
    return module


def test_an_option_converts_text_to_its_type_and_refuses_what_does_not_fit():
    count = LauncherOption("count", int, 1, minimum=1)
    assert count.convert("3") == 3 and count.convert(4) == 4
    for wrong in ("three", "0", True, 2.5):
        with pytest.raises(ValueError, match="give a whole number of at least 1"):
            count.convert(wrong)
    flag = LauncherOption("flag", bool, False)
    assert flag.convert("true") is True and flag.convert("off") is False and flag.convert(True) is True
    with pytest.raises(ValueError, match="give true or false"):
        flag.convert("maybe")
    executor = LauncherOption("executor", str, "slurm", choices=("slurm", "local"))
    assert executor.convert("local") == "local"
    with pytest.raises(ValueError, match="use one of slurm, local"):
        executor.convert("pbs")
    assert LauncherOption("rate", float).convert("0.5") == 0.5 and LauncherOption("rate", float).convert(2) == 2.0
    with pytest.raises(TypeError, match="launcher option paths: type <class 'list'>; use str, int, float or bool"):
        LauncherOption("paths", list)


def test_a_launcher_checks_its_options_fills_the_defaults_and_names_its_options_for_an_unknown_key():
    submitit = SubmititLauncher()
    checked = submitit.check_options({"time_min": "30", "partition": "gpu"}, "--launcher-option")
    assert checked == {"executor": "slurm", "partition": "gpu", "time_min": 30, "gpus_per_job": None,
                       "array_parallelism": 64}
    with pytest.raises(LaunchError, match=r"--launcher-option: launcher submitit has no option slurm_time \(its "
                                          r"options: array_parallelism, executor, gpus_per_job, partition, "
                                          r"time_min\)"):
        submitit.check_options({"slurm_time": 30}, "--launcher-option")
    with pytest.raises(LaunchError, match=r"\[launcher.ray\]: launcher ray has no option ray_address \(its options: "
                                          r"address\)"):
        RayLauncher().check_options({"ray_address": "auto"}, "[launcher.ray]")


def test_the_request_wins_over_the_launchers_table_and_the_shared_keys_over_the_defaults(tmp_path, pool):
    launchers = {"pool": pool.PoolLauncher(), "ray": RayLauncher()}
    table = launcher_table({"name": "pool", "retries": 3, "cpus_per_job": 2,
                            "pool": {"threads": 2, "tag": "from-table"}}, launchers, "tlbench.toml")
    launch = resolve_launch(LaunchRequest(options={"tag": "asked"}), launchers, table, tmp_path, 1)
    assert launch.launcher.name == "pool" and launch.retries == 3 and launch.options.cpus_per_job == 2
    assert launch.options.own == {"threads": 2, "tag": "asked"}
    launch = resolve_launch(LaunchRequest("ray", retries=0, cpus_per_job=4), launchers, table, tmp_path, 2)
    assert (launch.retries, launch.options.cpus_per_job, launch.options.jobs_per_gpu) == (0, 4, 2)
    assert launch.options.own == {"address": None}


@pytest.mark.parametrize("table, request_, message", [
    ({"retries": "two"}, {}, r"retries = 'two': give a whole number of at least 0"),
    ({}, {"retries": -1}, r"retries = -1: give a whole number of at least 0"),
    ({"cpus_per_job": 0}, {}, r"cpus_per_job = 0: give a whole number of at least 1"),
    ({}, {"cpus_per_job": 1.5}, r"cpus_per_job = 1.5: give a whole number of at least 1"),
])
def test_retries_and_cpus_per_job_must_be_counts_wherever_they_come_from(tmp_path, pool, table, request_, message):
    launchers = {"pool": pool.PoolLauncher()}
    table = launcher_table({"name": "pool", **table}, launchers, "tlbench.toml")
    with pytest.raises(ValueError, match=message):
        resolve_launch(LaunchRequest(**request_), launchers, table, tmp_path, 1)


@pytest.mark.parametrize("table, message", [
    ({"ray_address": "auto"}, r"\[launcher\] ray_address is now \[launcher.ray\] address"),
    ({"slurm": {"partition": "gpu"}}, r"\[launcher\] slurm is now \[launcher.submitit\]"),
    ({"kubernetes": {"namespace": "x"}}, r"\[launcher.kubernetes\]: no launcher kubernetes is registered "
                                         r"\(registered: pool, ray\)"),
    ({"nmae": "pool"}, r"unknown key\(s\) nmae; known: name, retries, cpus_per_job"),
])
def test_the_launcher_table_says_what_is_wrong_and_where_a_moved_key_went(table, message, pool):
    launchers = {"pool": pool.PoolLauncher(), "ray": RayLauncher()}
    with pytest.raises(ValueError, match=message):
        launcher_table(table, launchers, "tlbench.toml")


def test_a_third_party_launchers_option_reaches_it_from_the_command_line_over_the_config_file(cli, tmp_path,
                                                                                              monkeypatch, pool):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tlbench.toml").write_text('[launcher.pool]\nthreads = 2\ntag = "from-config"\n')
    described = cli(*GRID, "--out", tmp_path / "dry", "--launcher", "dry-run", "--launcher-option", "tag=asked")
    assert described.exit_code == 0, described.output
    assert "1 job(s) in 2 thread(s), tag asked" in described.output
    ran = cli(*GRID, "--out", tmp_path / "runs", "--launcher", "pool", "--launcher-option", "threads=1")
    assert ran.exit_code == 0, ran.output
    assert "launcher pool: 1 slot" in ran.output and "PASSED tiny_tgt::none::scratch[seed=2]" in ran.output
    assert pool.OPENED == [{"threads": 1, "tag": "from-config"}]


def test_an_option_the_launcher_does_not_declare_or_a_wrong_value_is_an_error_naming_its_options(cli, tmp_path):
    unknown = cli(*GRID, "--out", tmp_path / "runs", "--launcher", "pool", "--launcher-option", "workers=2")
    assert unknown.exit_code == 4
    assert "launcher pool has no option workers (its options: tag, threads)" in unknown.output
    wrong = cli(*GRID, "--out", tmp_path / "runs", "--launcher", "pool", "--launcher-option", "threads=0")
    assert wrong.exit_code == 4 and "threads = '0': give a whole number of at least 1" in wrong.output
    nobody = cli(*GRID, "--out", tmp_path / "runs", "--launcher", "dry-run", "--launcher-option", "workers=2")
    assert nobody.exit_code == 4 and "no launcher has an option workers" in nobody.output
    malformed = cli(*GRID, "--out", tmp_path / "runs", "--launcher-option", "threads")
    assert malformed.exit_code == 2 and "give KEY=VALUE" in malformed.output
    assert not (tmp_path / "runs").exists()


def test_run_grid_passes_launcher_options_to_the_launcher(tmp_path, pool):
    result = run_grid("cpu-quick", overrides={**TINY_OVERRIDES, "data_root": tmp_path}, datasets=["tiny_tgt"],
                      sources=["none"], methods=["scratch"], seeds=[2], store=tmp_path / "runs",
                      plugins=["tiny_plugin", "option_launcher"], launcher="pool",
                      launcher_options={"threads": 2, "tag": "python"}, config=tmp_path)
    assert result.summary["passed"] == 1
    assert pool.OPENED == [{"threads": 2, "tag": "python"}]
    with pytest.raises(GridError, match="no such launcher"):
        run_grid("cpu-quick", datasets=["tiny_tgt"], plugins=["tiny_plugin"], launcher="kubernetes",
                 store=tmp_path / "runs", config=tmp_path)


def test_tlbench_list_prints_each_launchers_options(cli):
    listing = json.loads(cli("-p", "option_launcher", "list", "--json").output)
    options = {launcher["name"]: launcher["options"] for launcher in listing["launchers"]}
    assert options["pool"] == ["threads=int: jobs at once [default: 1]", "tag=str: a name for the run [default: "
                                                                           "untagged]"]
    assert "time_min=int: each job's time limit, minutes [default: 240]" in options["submitit"]
    assert options["local"] == [] and len(options["ray"]) == 1
