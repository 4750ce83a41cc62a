"""The local launcher: one worker process per GPU (faked here with TLBENCH_FAKE_GPUS: pinned as on a GPU machine,
computing on the CPU), the same results as running in-process, a killed worker retried on another slot, a killed
driver resumed, a deterministic failure not retried again, and a dry run that writes nothing."""

import os
import signal

import numpy as np
import pytest
import torch
from conftest import TINY
from PIL import Image
from test_store_faults import BASE, grid, launch, query, wait_until

from benchmark.run.store import Store
from tlbench_plugins.launchers.local import _chosen, visible_gpus


@pytest.fixture
def out(tmp_path):
    return tmp_path / "runs"


def aucs(out) -> dict[str, tuple[str, float | None]]:
    return {row["config_hash"]: (row["status"], row["metrics"] and row["metrics"]["auc"])
            for row in Store(out).rows()}


def workers(out) -> set[str]:
    return {row["versions"]["worker"] for row in Store(out).rows()}


def test_visible_gpus_honour_a_restricted_device_list(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("TLBENCH_FAKE_GPUS", raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert visible_gpus() == ["3", "5"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert visible_gpus() == ["0", "1"]
    monkeypatch.setenv("TLBENCH_FAKE_GPUS", "3")
    assert visible_gpus() == ["0", "1", "2"]
    assert _chosen(["3", "5"], torch.device("cuda:1")) == ["5"] and _chosen(["3", "5"], torch.device("cuda")) == \
        ["3", "5"]


def test_two_gpus_run_the_grid_in_two_pinned_workers_with_in_process_results(cli, tmp_path, monkeypatch):
    # one torch thread on both sides: on the CPU the thread count changes a training's float sums, and the
    # workers' default (the cores over the GPUs) differs from this process's from one machine to another
    alone = cli(*BASE, "run", "--all", "--no-audit", "--threads", "1", "--out", tmp_path / "alone", *TINY)
    assert alone.exit_code == 0, alone.output
    monkeypatch.setenv("TLBENCH_FAKE_GPUS", "2")
    spread = cli(*BASE, "run", "--all", "--no-audit", "--cpus-per-job", "1", "--out", tmp_path / "spread", *TINY)
    assert spread.exit_code == 0, spread.output
    assert "launcher local: 2 slots" in spread.output and "busy: gpu0" in spread.output
    expected, found = aucs(tmp_path / "alone"), aucs(tmp_path / "spread")
    assert expected.keys() == found.keys() and len(found) >= 10
    for config_hash, (status, auc) in expected.items():
        assert found[config_hash][0] == status == "passed"
        assert found[config_hash][1] == pytest.approx(auc, abs=1e-6)
    assert {row["versions"]["threads"] for row in Store(tmp_path / "spread").rows()} == {1}
    # each worker pinned to its own GPU, in a process of its own
    pinned = {label.rsplit(":", 1)[1] for label in workers(tmp_path / "spread")}
    assert pinned == {"0", "1"} and len({label.split(":")[1] for label in workers(tmp_path / "spread")}) == 2


def test_gpu_workers_decode_real_jpeg_files_into_an_empty_cache(cli, tmp_path, monkeypatch):
    """The image cache decodes many files in parallel inside each worker process (which the launcher runs as a
    daemon, and a daemon may not start processes of its own)."""
    rng = np.random.default_rng(0)
    for label, name in enumerate(("bright", "dark")):
        for i in range(120):
            pixels = rng.integers(0, 96, size=(48, 64, 3)) + 128 * (1 - label)
            path = tmp_path / "data" / "blobs" / name / f"{i:03d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels.astype(np.uint8)).save(path, quality=90)
    (tmp_path / "tlbench.toml").write_text('[datasets.blobs]\npath = "blobs"\nroles = ["target"]\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TLBENCH_FAKE_GPUS", "2")
    out = tmp_path / "runs"
    result = cli("run", "-d", "blobs", "-s", "random", "-m", "fe-svm", "--seeds", "2,5", "--data-root",
                 tmp_path / "data", "--no-audit", "--retries", "0", "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    rows = Store(out).rows()
    assert len(rows) == 2 and {row["status"] for row in rows} == {"passed"}
    assert all(row["metrics"]["auc"] > 0.9 for row in rows)  # the decoded pixels carry the classes
    assert len({row["versions"]["worker"].split(":")[1] for row in rows}) == 2  # both in worker processes
    assert list((tmp_path / "cache").rglob("blobs*.npy")), "the workers filled the image cache"


def test_a_killed_worker_fails_its_job_which_is_retried_and_the_grid_completes(cli, out, tmp_path, monkeypatch):
    monkeypatch.setenv("TLBENCH_FAKE_GPUS", "2")
    monkeypatch.setenv("TLBENCH_TEST_KILL", str(tmp_path / "killed-once"))
    result = cli(*grid(out), "--no-audit")
    assert result.exit_code == 0, result.output
    assert "RETRY" in result.output and "ended by SIGKILL" in result.output
    rows = Store(out).rows()
    assert len(rows) == 6 and {row["status"] for row in rows} == {"passed"}
    lost = query(out, "SELECT node_id, error FROM attempts WHERE status = 'failed'")
    assert len(lost) == 1 and lost[0][1].startswith("tlbench: worker lost")
    assert query(out, "SELECT COUNT(*) FROM attempts WHERE status = 'passed'") == [(6,)]


def test_a_worker_lost_without_retries_runs_again_on_rerun(cli, out, tmp_path, monkeypatch):
    monkeypatch.setenv("TLBENCH_FAKE_GPUS", "2")
    monkeypatch.setenv("TLBENCH_TEST_KILL", str(tmp_path / "killed-once"))
    first = cli(*grid(out), "--no-audit", "--retries", "0")
    assert first.exit_code == 1 and "worker lost" in first.output
    assert sorted(status for (status,) in query(out, "SELECT status FROM experiments")) == ["failed"] + ["passed"] * 5
    again = cli(*grid(out), "--no-audit", "--retries", "0")
    assert again.exit_code == 0, again.output
    assert "1 to run, 5 done" in again.output
    assert query(out, "SELECT COUNT(*), COUNT(DISTINCT config_hash) FROM experiments WHERE status = 'passed'") == \
        [(6, 6)]


def test_a_killed_driver_leaves_nothing_half_recorded_and_the_rerun_completes(cli, out, tmp_path):
    runs = tmp_path / "runs.txt"
    driver = launch(tmp_path / "log", *grid(out), "--no-audit", TLBENCH_FAKE_GPUS="2", TLBENCH_TEST_SLEEP="2",
                    TLBENCH_TEST_RUNS=str(runs))
    wait_until(lambda: len(query(out, "SELECT id FROM attempts WHERE status = 'passed'")) >= 2, driver)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    worker_pids = {int(line.split()[-1]) for line in runs.read_text().splitlines()}
    wait_until(lambda: not any(_alive(pid) for pid in worker_pids), seconds=30)  # the workers follow their driver
    done = {row[0] for row in query(out, "SELECT config_hash FROM experiments WHERE status = 'passed'")}
    assert 2 <= len(done) < 6
    again = cli(*grid(out), "--no-audit")
    assert again.exit_code == 0, again.output
    assert f"{6 - len(done)} to run, {len(done)} done" in again.output
    assert query(out, "SELECT COUNT(*), COUNT(DISTINCT config_hash) FROM experiments WHERE status = 'passed'") == \
        [(6, 6)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def test_a_deterministic_failure_is_not_retried_again(cli, out, tmp_path, monkeypatch):
    runs = tmp_path / "runs.txt"
    monkeypatch.setenv("TLBENCH_TEST_FAIL", "1")
    monkeypatch.setenv("TLBENCH_TEST_RUNS", str(runs))
    result = cli(*grid(out, seeds="2"), "--no-audit", "--retries", "3")
    assert result.exit_code == 1
    # each experiment: its run and one retry, whose traceback is the same: no third
    lines = runs.read_text().splitlines()
    assert len(lines) == 4 and len({line.split()[0] for line in lines}) == 2
    assert result.output.count("RETRY") == 2


def test_a_dry_run_prints_each_launchers_plan_and_writes_nothing(cli, out, monkeypatch):
    monkeypatch.setenv("TLBENCH_FAKE_GPUS", "2")
    result = cli(*grid(out), "--launcher", "dry-run")
    assert result.exit_code == 0, result.output
    assert "nothing runs, nothing is written" in result.output
    assert "6 job(s)" in result.output and "--launcher local" in result.output
    assert "CUDA_VISIBLE_DEVICES=0" in result.output and "CUDA_VISIBLE_DEVICES=1" in result.output
    assert result.output.count("gpu0/0 at +") + result.output.count("gpu1/0 at +") == 6
    assert not out.exists()


def test_an_unknown_launcher_is_a_usage_error_naming_the_registered_ones(cli, out):
    result = cli(*grid(out), "--launcher", "kubernetes")
    assert result.exit_code == 2 and "no such launcher" in result.output and "local" in result.output
    assert not out.exists()


def test_the_config_file_chooses_the_launcher_and_its_retries(cli, out, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tlbench.toml").write_text('[launcher]\nname = "dry-run"\n')
    result = cli(*grid(out))
    assert result.exit_code == 0 and "nothing runs" in result.output
    (tmp_path / "tlbench.toml").write_text('[launcher]\nnmae = "dry-run"\n')
    result = cli(*grid(out))
    assert result.exit_code == 2 and "unknown key(s) nmae" in result.output



def test_jobs_on_a_slot_a_launcher_does_not_number_get_a_progress_line_each():
    from types import SimpleNamespace

    from benchmark.run.runner import Runner

    runner = Runner.__new__(Runner)
    runner.lines = {}
    first, second, third = (SimpleNamespace(id=name) for name in "abc")
    assert runner._take_line(first, "ray") == "ray" and runner._take_line(second, "ray") == "ray #2"
    assert runner._release_line(first) == "ray" and runner._take_line(third, "ray") == "ray"
    assert runner._take_line(SimpleNamespace(id="d"), "gpu0/1") == "gpu0/1"
