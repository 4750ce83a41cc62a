"""The ray launcher: a run through Ray stores what a local run stores; a task whose worker dies is retried; the
resources a task asks for."""

import dataclasses
import os
import sys
from concurrent.futures import Future

import pytest
import torch
from conftest import TINY
from fakedata import no_builtin_datasets

from benchmark import LaunchError, LaunchOptions, WorkerLost, WorkSpec
from benchmark.run.store import Store
from benchmark.settings import RunSettings
from tlbench_plugins.launchers.ray import RayLauncher, RaySession, capacity_of, deliver, task_options, task_spec

BASE = ["-p", "tiny_plugin", *(arg for flag in no_builtin_datasets() for arg in ("-p", flag))]
GRID = ["--all", "-m", "scratch", "-m", "fe-svm", "-m", "ft-svm", "--seeds", "2", *TINY]


def spec_on(device: str, tmp_path) -> WorkSpec:
    settings = RunSettings.build(device="cpu", preset="cpu-quick", data_root=tmp_path, cache_dir=tmp_path)
    return WorkSpec(dataclasses.replace(settings, device=torch.device(device)), tmp_path)


def outcomes(out) -> dict:
    return {row["config_hash"]: (row["status"], row["metrics"]["auc"]) for row in Store(out).rows()}


def test_a_ray_run_stores_the_experiments_and_aucs_of_a_local_run(cli, tmp_path, ray_instance):
    # one torch thread in both, as a Ray task gets (--cpus-per-job 1): the same arithmetic, the same AUCs
    local = cli(*BASE, "run", *GRID, "--threads", "1", "--out", tmp_path / "local")
    assert local.exit_code == 0, local.output
    on_ray = cli(*BASE, "run", *GRID, "--launcher", "ray", "--out", tmp_path / "ray")
    assert on_ray.exit_code == 0, on_ray.output
    assert "launcher ray: 2 slots" in on_ray.output
    expected, found = outcomes(tmp_path / "local"), outcomes(tmp_path / "ray")
    assert len(expected) == 8 and set(found) == set(expected)
    for config_hash, (status, auc) in expected.items():
        assert status == "passed" and found[config_hash][0] == "passed"
        assert found[config_hash][1] == pytest.approx(auc, abs=1e-6)
    workers = {row["versions"]["worker"].split(":")[1] for row in Store(tmp_path / "ray").rows()}
    assert str(os.getpid()) not in workers, "the experiments ran in Ray's worker processes"


def test_a_killed_worker_is_lost_and_its_job_retried(cli, tmp_path, monkeypatch, ray_instance):
    marker = tmp_path / "killed"
    monkeypatch.setenv("TLBENCH_TEST_KILL_MARKER", str(marker))
    result = cli(*BASE, "-p", "kill_plugin", "run", "-d", "tiny_tgt", "-s", "random", "-m", "kill-once",
                 "--seeds", "2,5", "--launcher", "ray", "--out", tmp_path / "out", *TINY)
    assert result.exit_code == 0, result.output
    assert int(marker.read_text()) != os.getpid(), "the kill happened in a Ray worker"
    assert "worker lost: Ray WorkerCrashedError" in result.output and "1 attempt(s) retried" in result.output
    rows = Store(tmp_path / "out").rows()
    assert len(rows) == 2 and {row["status"] for row in rows} == {"passed"}


def test_a_task_asks_for_a_share_of_a_gpu_on_cuda_and_cpus_elsewhere(tmp_path):
    cuda, cpu = spec_on("cuda", tmp_path), spec_on("cpu", tmp_path)
    three = LaunchOptions(tmp_path, jobs_per_gpu=3)
    assert task_options(cuda, three) == {"num_gpus": pytest.approx(1 / 3), "num_cpus": 1, "max_retries": 0}
    assert task_options(cpu, LaunchOptions(tmp_path, cpus_per_job=4))["num_gpus"] == 0
    assert capacity_of({"CPU": 16.0, "GPU": 2.0}, cuda, three) == 6
    assert capacity_of({"CPU": 16.0, "GPU": 2.0}, cpu, LaunchOptions(tmp_path, cpus_per_job=3)) == 5
    assert capacity_of({"CPU": 2.0}, cpu, LaunchOptions(tmp_path, cpus_per_job=4)) == 1
    sent = task_spec(cpu, LaunchOptions(tmp_path, cpus_per_job=4), {"TLBENCH_X": "1", "HOME": "/h"})
    assert sent.threads == 4 and dict(sent.environ) == {"TLBENCH_X": "1"}


def test_a_session_counts_the_clusters_gpus_and_leaves_a_ray_it_did_not_start(tmp_path, ray_instance):
    session = RayLauncher().open(spec_on("cuda", tmp_path), LaunchOptions(tmp_path, jobs_per_gpu=3))
    assert isinstance(session, RaySession) and session.capacity == 3  # the fixture's one (declared) GPU
    session.close()
    assert ray_instance.is_initialized()


def test_no_cluster_at_the_address_or_no_gpu_for_a_cuda_run_is_a_clear_error(cli, tmp_path, monkeypatch,
                                                                             ray_instance):
    def no_cluster(**_):
        raise ConnectionError("Could not find any running Ray instance.")

    with monkeypatch.context() as patch:  # as in a process without a Ray, on a machine without a cluster
        patch.setattr(ray_instance, "is_initialized", lambda: False)
        patch.setattr(ray_instance, "init", no_cluster)
        result = cli(*BASE, "run", *GRID, "--launcher", "ray", "--launcher-option", "address=auto", "--out",
                     tmp_path / "out")
    assert result.exit_code == 4
    assert "--launcher ray: no Ray cluster at address auto: Could not find any running" in result.output
    assert "ray start --head" in result.output
    monkeypatch.setattr(ray_instance, "cluster_resources", lambda: {"CPU": 2.0})
    with pytest.raises(LaunchError, match="no GPU: add GPU nodes, or run with --device cpu"):
        RayLauncher().open(spec_on("cuda", tmp_path), LaunchOptions(tmp_path))
    assert ray_instance.is_initialized()


def test_worker_deaths_are_worker_lost_and_other_errors_pass_through(ray_instance):
    lost = (ray_instance.exceptions.WorkerCrashedError,)
    for error, expected in ((ray_instance.exceptions.WorkerCrashedError(), WorkerLost), (KeyError("x"), KeyError)):
        done, future = Future(), Future()
        done.set_exception(error)
        deliver(done, future, lost)
        assert type(future.exception()) is expected
    done, future = Future(), Future()
    done.set_result("result")
    deliver(done, future, lost)
    assert future.result() == "result"


def test_dry_run_describes_the_ray_tasks_and_a_missing_ray_says_how_to_install_it(cli, tmp_path, monkeypatch):
    result = cli(*BASE, "run", *GRID, "--launcher", "dry-run", "--cpus-per-job", "2", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    ray_part = result.output.split("--launcher ray")[1]
    # 8 experiments, their source and the fine-tuning of ft-svm's 2 targets, each a training job of its own
    assert "11 Ray task(s) on a Ray started on this machine" in ray_part
    assert "num_gpus=0, num_cpus=2, max_retries=0" in ray_part and "torch threads 2" in ray_part
    assert "task 1: source tiny_src" in ray_part and "(after source:" in ray_part
    monkeypatch.setitem(sys.modules, "ray", None)
    assert "pip install 'tlbench[ray]'" in RayLauncher().available()
