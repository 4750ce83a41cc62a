"""The submitit launcher: its local and debug stand-ins give the local launcher's results, dry-run shows the sbatch
header from the options or the config file, and a job whose process dies is a lost worker."""

import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest
import submitit
from conftest import TINY
from fakedata import no_builtin_datasets

import benchmark
from benchmark import Job, LaunchError, LaunchOptions, RunSettings, WorkerLost, WorkSpec
from benchmark.run.store import Store
from tlbench_plugins.launchers import submitit as launcher_module
from tlbench_plugins.launchers.submitit import SlurmParameters, SubmititLauncher

BASE = ["-p", "tiny_plugin", *(arg for flag in no_builtin_datasets() for arg in ("-p", flag))]
# a source the harness trains, an experiment waiting for it, and two that need none
WITH_SOURCE = ["-d", "tiny_tgt", "-s", "none", "-s", "random", "-s", "tiny_src", "-m", "scratch", "-m", "fe-svm",
               "--seeds", "2"]


def launcher_options(*pairs: str) -> list[str]:
    return [arg for pair in pairs for arg in ("--launcher-option", pair)]


def results(out: Path) -> dict:
    return {row["config_hash"]: (row["node_id"], row["status"], row["metrics"]["auc"]) for row in Store(out).rows()}


def assert_same_results(first: Path, second: Path, count: int) -> None:
    expected, found = results(first), results(second)
    assert len(expected) == count and set(found) == set(expected)
    for config_hash, (node_id, status, auc) in expected.items():
        assert status == "passed" and found[config_hash][:2] == (node_id, status)
        assert found[config_hash][2] == pytest.approx(auc, abs=1e-6), node_id


def test_the_local_executor_runs_each_job_in_a_process_of_its_own_with_the_local_launchers_results(cli, tmp_path):
    grid = ["-d", "tiny_tgt", "-s", "none", "-s", "random", "-m", "scratch", "-m", "fe-svm", "--seeds", "2"]
    local = cli(*BASE, "run", *grid, "--out", tmp_path / "local", "--threads", "1", *TINY)
    assert local.exit_code == 0, local.output
    slurm = cli(*BASE, "run", *grid, "--out", tmp_path / "slurm", "--launcher", "submitit", "--launcher-option",
                "executor=local", "--cpus-per-job", "1", *TINY)
    assert slurm.exit_code == 0, slurm.output
    assert "launcher submitit: 2 slots" in slurm.output  # two cores, one per job
    assert_same_results(tmp_path / "local", tmp_path / "slurm", 2)
    workers = [row["versions"]["worker"].split(":") for row in Store(tmp_path / "slurm").rows()]
    assert len({pid for _, pid, _ in workers}) == 2 and str(os.getpid()) not in {pid for _, pid, _ in workers}
    assert {device for _, _, device in workers} == {"cpu"}  # submitit sets CUDA_VISIBLE_DEVICES empty
    assert len(list((tmp_path / "slurm" / "submitit").glob("*_result.pkl"))) == 2


def test_the_config_file_chooses_submitit_and_its_debug_executor(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tlbench.toml").write_text('[launcher]\nname = "submitit"\n\n[launcher.submitit]\nexecutor = "debug"\n')
    debug = cli(*BASE, "run", *WITH_SOURCE, "--out", tmp_path / "debug", *TINY)
    assert debug.exit_code == 0, debug.output
    assert "launcher submitit: 1 slot" in debug.output
    assert len(list((tmp_path / "debug" / "submitit").glob("DEBUG_*_log.out"))) == 4  # the source's job, then 3
    local = cli(*BASE, "run", *WITH_SOURCE, "--out", tmp_path / "local", "--launcher", "local", *TINY)
    assert local.exit_code == 0, local.output
    assert_same_results(tmp_path / "local", tmp_path / "debug", 3)


def test_dry_run_shows_the_sbatch_header_of_the_options(cli, tmp_path):
    out = tmp_path / "runs"
    result = cli(*BASE, "run", *WITH_SOURCE, "--out", out, "--launcher", "dry-run",
                 *launcher_options("partition=gpu", "time_min=30", "gpus_per_job=2", "array_parallelism=2"),
                 "--cpus-per-job", "4", *TINY)
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.output.splitlines()]
    section = lines[lines.index("--launcher submitit"):]
    # two at once: the source's training and the costliest experiment that needs no source; the one that waits for
    # the source goes out later
    assert section[1:8] == [f"sbatch job arrays from {out / 'submitit'}, at most 2 job(s) at once; the first array:",
                            "#SBATCH --partition=gpu", "#SBATCH --time=30", "#SBATCH --gpus-per-node=2",
                            "#SBATCH --cpus-per-task=4", "#SBATCH --array=0-1%2",
                            "each task runs tlbench_plugins.launchers.submitit.run_job(spec, job); later jobs go out "
                            "as others end, in arrays of their own"]
    tasks = section[8:12]
    assert tasks[0] == "task 0: source tiny_src (~0s)" and tasks[1].startswith("task 1: ")
    assert any(t.startswith("at +") and "::tiny_src::fe-svm" in t for t in tasks[2:])
    assert not out.exists()


def test_the_config_files_submitit_table_fills_what_the_options_leave_out(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "tlbench.toml"
    config.write_text('[launcher.submitit]\npartition = "big"\ntime_min = 45\narray_parallelism = 8\n')
    result = cli(*BASE, "run", *WITH_SOURCE, "--launcher", "dry-run", "--launcher-option", "time_min=60", *TINY)
    assert result.exit_code == 0, result.output
    assert "#SBATCH --partition=big" in result.output and "#SBATCH --time=60" in result.output
    assert "#SBATCH --array=0-2%3" in result.output and "at most 8 job(s) at once" in result.output
    assert "--gpus-per-node" not in result.output  # the run's device is the CPU
    config.write_text('[launcher.submitit]\ntime_min = "4h"\n')
    refused = cli(*BASE, "run", *WITH_SOURCE, "--launcher", "dry-run", *TINY)
    assert refused.exit_code == 4 and "time_min = '4h': give a whole number of at least 1" in refused.output


@pytest.mark.skipif(shutil.which("srun") is not None, reason="this machine has SLURM")
def test_without_slurm_the_run_says_what_to_do_and_records_nothing(cli, tmp_path):
    result = cli(*BASE, "run", *WITH_SOURCE, "--out", tmp_path / "runs", "--launcher", "submitit", *TINY)
    assert result.exit_code == 4
    assert "srun is not on PATH" in result.output and "--launcher-option executor=local" in result.output
    assert Store(tmp_path / "runs").rows() == []


def spec_for(tmp_path: Path) -> WorkSpec:
    settings = RunSettings.build(device="cpu", preset="cpu-quick", data_root=tmp_path, cache_dir=tmp_path / "cache")
    return WorkSpec.of_this_process(settings, tmp_path / "runs")


def test_capacity_is_the_array_parallelism_and_the_local_executor_stays_within_the_cores(tmp_path):
    spec, cores = spec_for(tmp_path), len(os.sched_getaffinity(0))

    def capacity(cpus=None, **own):
        return SlurmParameters.of(LaunchOptions(tmp_path, cpus_per_job=cpus, own=own), spec).capacity()

    assert capacity() == 64 and capacity(array_parallelism=5) == 5
    assert capacity(executor="local") == min(64, cores) and capacity(cores, executor="local") == 1
    assert capacity(executor="local", array_parallelism=1) == 1 and capacity(executor="debug") == 1


def test_a_job_whose_process_dies_is_a_lost_worker_with_its_log(tmp_path, monkeypatch):
    monkeypatch.setattr(submitit.local.local.LocalJob, "_results_timeout_s", 0)  # no result is coming
    options = LaunchOptions(tmp_path / "runs", own={"executor": "local"})
    events = []
    with SubmititLauncher().open(spec_for(tmp_path), options) as session:
        future = session.submit(Job("experiment", "f" * 64, "tiny_tgt::none::scratch[seed=2]", "none"), events.append)
        session.flush()
        (slot,) = [value for kind, value in events if kind == "started"]
        controller = slot.split()[1]  # the local executor's job id is its controller process
        children = Path(f"/proc/{controller}/task/{controller}/children")
        deadline = time.time() + 30
        while not children.read_text().split() and time.time() < deadline:
            time.sleep(0.05)
        os.kill(int(children.read_text().split()[0]), signal.SIGKILL)
        lost = future.exception(timeout=60)
    assert isinstance(lost, WorkerLost)
    assert f"submitit job {controller} (FINISHED) left no result" in str(lost)
    log = Path(str(lost).rpartition("log: ")[2])
    assert log.is_file() and log.parent == tmp_path / "runs" / "submitit"


def test_slurms_warning_signal_reaches_submitits_handler_not_the_job(tmp_path, monkeypatch):
    """Time limit or preemption: submitit's handler (here: raising) must end the task, not be recorded as the
    experiment's failure by the job's catch-all."""

    class Requeued(Exception):
        pass

    def job_catching_everything(spec, job):  # as benchmark.execute does
        try:
            time.sleep(10)
        except BaseException as error:
            return f"failed: {error!r}"
        return "passed"

    def handler(signum, frame):
        raise Requeued()

    monkeypatch.setattr(benchmark, "execute", job_catching_everything)
    previous = signal.signal(signal.SIGUSR2, handler)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGUSR2))
    started = time.time()
    try:
        timer.start()
        with pytest.raises(Requeued):
            launcher_module.run_job(spec_for(tmp_path), Job("experiment", "f" * 64, "label", "none"))
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR2, previous)
    assert time.time() - started < 5


def fake_slurm(tmp_path: Path, monkeypatch, sbatch: str) -> None:
    """Stand-ins for SLURM's commands on PATH; ``sbatch``: the body of the sbatch script."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in {"srun": "exit 1", "sacct": "exit 0", "scancel": "exit 0", "sbatch": sbatch}.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_sbatch_gets_the_described_header_as_one_array_per_flush(tmp_path, monkeypatch):
    script = tmp_path / "submitted.sh"
    fake_slurm(tmp_path, monkeypatch, f'cp "$1" {script}\necho "Submitted batch job 4242"')
    spec = spec_for(tmp_path)
    options = LaunchOptions(tmp_path / "runs", cpus_per_job=4,
                            own={"partition": "gpu", "time_min": 30, "array_parallelism": 2})
    events = []
    with SubmititLauncher().open(spec, options) as session:
        assert session.capacity == 2
        futures = [session.submit(Job("experiment", str(i) * 64, f"job {i}", "none"), events.append) for i in range(3)]
        session.flush()
    submitted = script.read_text().splitlines()
    header = SlurmParameters.of(options, spec).sbatch_header(3)
    assert header == ["#SBATCH --partition=gpu", "#SBATCH --time=30", "#SBATCH --cpus-per-task=4",
                      "#SBATCH --array=0-2%2"]
    assert set(header) <= set(submitted)
    assert events == [("started", f"slurm 4242_{i}") for i in range(3)]
    assert all("cancelled: the run ended" in str(future.exception(timeout=1)) for future in futures)


def test_an_array_sbatch_refuses_stops_the_run_with_its_reason(tmp_path, monkeypatch):
    fake_slurm(tmp_path, monkeypatch, 'echo "sbatch: error: invalid partition specified: nope" >&2\nexit 1')
    options = LaunchOptions(tmp_path / "runs", own={"partition": "nope"})
    with SubmititLauncher().open(spec_for(tmp_path), options) as session:
        future = session.submit(Job("experiment", "f" * 64, "job", "none"), lambda event: None)
        with pytest.raises(LaunchError, match="invalid partition specified: nope"):
            session.flush()
    assert future.cancelled()
