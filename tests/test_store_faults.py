"""A result, once passed, survives every way a rerun can end (kill -9, Ctrl-C, failure); an attempt whose process
is gone is interrupted and runs again; two runs on one folder share its grid, each experiment run once."""

import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TINY, subprocess_env
from fakedata import no_builtin_datasets

from benchmark.files.locks import LEASES, exclusive
from benchmark.run.store import Store

TLBENCH = str(Path(sys.executable).parent / "tlbench")
BASE = ["-p", "tiny_plugin", *(arg for flag in no_builtin_datasets() for arg in ("-p", flag)), "-p", "fault_plugin"]
SEEDS = "2,5,7"
GRID = 6  # the steady method on the random source: 2 targets x 3 seeds


def grid(out, source="random", seeds=SEEDS) -> list[str]:
    return [*BASE, "run", "-m", "steady", "-s", source, "--seeds", seeds, "--out", str(out), *TINY]


def launch(log: Path, *args, **env) -> subprocess.Popen:
    """``tlbench args`` in a process of its own, its output into ``log``, with ``env`` (TLBENCH_TEST_*) added."""
    with open(log, "w") as output:
        # a shell's background job starts with SIGINT ignored, and Python then never raises KeyboardInterrupt: the
        # child gets the default back, as a terminal's process has
        return subprocess.Popen([TLBENCH, *args], env=subprocess_env(**env), stdout=output, stderr=subprocess.STDOUT,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def query(out: Path, sql: str, *params) -> list[tuple]:
    path = out / "tlbench.sqlite"
    if not path.exists():
        return []
    db = sqlite3.connect(path, timeout=30)
    try:
        return db.execute(sql, params).fetchall()
    except sqlite3.OperationalError:  # the tables do not exist yet
        return []
    finally:
        db.close()


def attempts_of(process: subprocess.Popen, out: Path, status: str) -> int:
    return len(query(out, "SELECT id FROM attempts WHERE pid = ? AND status = ?", process.pid, status))


def wait_until(condition, *processes: subprocess.Popen, seconds: float = 300) -> None:
    deadline = time.time() + seconds
    while not condition():
        assert all(p.poll() is None for p in processes), "a run ended before the moment the test waits for"
        assert time.time() < deadline, "the run did not get there in time"
        time.sleep(0.1)


def midway(process: subprocess.Popen, out: Path):
    """The condition: ``process`` has passed one experiment and is running the next."""
    return lambda: attempts_of(process, out, "passed") >= 1 and attempts_of(process, out, "running") == 1


def passed_rows(out: Path) -> dict[str, tuple]:
    rows = query(out, "SELECT node_id, config_hash, finished_at, metrics FROM experiments WHERE status = 'passed'")
    return {node_id: rest for node_id, *rest in rows}


def shown_attempts(cli, out: Path) -> list[dict]:
    return json.loads(cli("show", "--out", out, "--format", "json").output)["attempts"]


@pytest.fixture
def out(tmp_path):
    return tmp_path / "runs"


def test_kill_9_during_rerun_all_loses_no_passed_result(cli, out, tmp_path):
    assert cli(*grid(out)).exit_code == 0
    before = passed_rows(out)
    assert len(before) == GRID
    rerun = launch(tmp_path / "rerun.log", *grid(out), "--rerun", "all", TLBENCH_TEST_SLEEP="3")
    wait_until(midway(rerun, out), rerun)
    rerun.send_signal(signal.SIGKILL)
    rerun.wait()

    after = passed_rows(out)
    assert len(after) == GRID and set(after) == set(before)
    assert {n: row[2] for n, row in after.items()} == {n: row[2] for n, row in before.items()}, "metrics changed"
    replaced = {n for (n,) in query(out, "SELECT node_id FROM attempts WHERE pid = ? AND stored = 1", rerun.pid)}
    assert 1 <= len(replaced) < GRID
    assert all(after[n] == before[n] for n in set(before) - replaced), "a result not rerun must stay as it was"
    (interrupted,) = shown_attempts(cli, out)
    assert interrupted["status"] == "interrupted" and interrupted["pid"] == rerun.pid
    assert interrupted["id"] in before and interrupted["id"] not in replaced
    again = cli(*grid(out))
    assert again.exit_code == 0 and f"0 to run, {GRID} done" in again.output


def test_ctrl_c_during_a_rerun_keeps_the_passed_row(cli, out, tmp_path):
    assert cli(*grid(out)).exit_code == 0
    before = passed_rows(out)
    log = tmp_path / "rerun.log"
    rerun = launch(log, *grid(out), "--rerun", "all", TLBENCH_TEST_SLEEP="3")
    wait_until(midway(rerun, out), rerun)
    rerun.send_signal(signal.SIGINT)
    assert rerun.wait(timeout=120) == 130, log.read_text()
    assert "interrupted" in log.read_text()

    after = passed_rows(out)
    assert set(after) == set(before) and {n: r[2] for n, r in after.items()} == {n: r[2] for n, r in before.items()}
    assert attempts_of(rerun, out, "running") == 0, "the interrupted attempt is forgotten, and only it"
    assert shown_attempts(cli, out) == []


def test_a_failed_rerun_keeps_the_passed_row_and_says_so(cli, out, monkeypatch):
    assert cli(*grid(out)).exit_code == 0
    before = passed_rows(out)
    monkeypatch.setenv("TLBENCH_TEST_FAIL", "1")
    failed = cli(*grid(out), "--rerun", "all")
    assert failed.exit_code == 1
    assert f"{GRID} rerun(s) failed; the earlier passed results are kept" in failed.output
    assert passed_rows(out) == before
    attempts = shown_attempts(cli, out)  # each failed, was retried once, and failed the same way: not again
    assert len(attempts) == 2 * GRID and {a["id"] for a in attempts} == set(before)
    assert all(a["status"] == "failed" and "TLBENCH_TEST_FAIL is set" in a["error"] for a in attempts)
    board = cli("show", "--out", out, "--format", "md").output
    assert "random FE" not in board and "steady" in board  # the kept results still make the board

    # without a passed result to keep, a failed attempt is the experiment's row, as always
    assert cli(*grid(out, seeds="9")).exit_code == 1
    assert {s for (s,) in query(out, "SELECT status FROM experiments WHERE seed = 9")} == {"failed"}
    monkeypatch.delenv("TLBENCH_TEST_FAIL")
    assert cli(*grid(out, seeds="9"), "--rerun", "failed").exit_code == 0
    assert {s for (s,) in query(out, "SELECT status FROM experiments WHERE seed = 9")} == {"passed"}


def test_an_attempt_whose_process_died_is_interrupted_and_runs_again(cli, out, tmp_path):
    first = launch(tmp_path / "first.log", *grid(out), TLBENCH_TEST_SLEEP="1")
    wait_until(midway(first, out), first)
    first.send_signal(signal.SIGKILL)
    first.wait()
    done = len(passed_rows(out))
    (stale,) = query(out, "SELECT node_id FROM attempts WHERE status = 'running'")

    leases = sorted((out / LEASES).iterdir())
    (interrupted,) = shown_attempts(cli, out)
    assert (interrupted["id"], interrupted["status"], interrupted["pid"]) == (stale[0], "interrupted", first.pid)
    assert Store(out).status_of(interrupted["config_hash"]) == "interrupted"
    plan = cli(*grid(out), "--collect-only").output
    line = next(line for line in plan.splitlines() if stale[0] in line)
    assert line.startswith("pending") and "interrupted in an earlier run" in line
    assert sorted((out / LEASES).iterdir()) == leases, "show and --collect-only take no lease"

    again = cli(*grid(out))
    assert again.exit_code == 0 and f"{GRID - done} to run, {done} done" in again.output
    assert len(passed_rows(out)) == GRID


def test_an_older_store_opens_and_its_rows_left_running_run_again(cli, out):
    assert cli(*grid(out)).exit_code == 0
    db = sqlite3.connect(out / "tlbench.sqlite")
    with db:  # the store as tlbench wrote it before attempts: a killed run left its rows running
        db.execute("DROP TABLE attempts")
        db.execute("UPDATE experiments SET status = 'running', metrics = NULL WHERE seed = 2")
    db.close()
    shown = json.loads(cli("show", "--out", out, "--format", "json").output)
    assert sorted(e["status"] for e in shown["experiments"]) == ["interrupted"] * 2 + ["passed"] * (GRID - 2)
    again = cli(*grid(out))
    assert again.exit_code == 0 and f"2 to run, {GRID - 2} done" in again.output
    assert len(passed_rows(out)) == GRID and len(query(out, "SELECT id FROM attempts")) == 2


def test_two_runs_on_one_folder_run_each_experiment_once_and_train_the_source_once(cli, out, tmp_path):
    plan = cli(*grid(out, source="tiny_src"), "--collect-only").output.replace("\n", "")
    weights = Path(re.search(r"tiny_src: model to train ?\((.+?\.pt)\)", plan).group(1))
    runs = tmp_path / "runs.txt"  # the steady method's own record of each time it ran
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    # held as if a third process were training the source, until both runs wait for it (their source jobs come
    # before any experiment): then one trains it while the other waits again
    with exclusive(weights.with_suffix(".lock")):
        processes = [launch(log, *grid(out, source="tiny_src"), TLBENCH_TEST_SLEEP="1", TLBENCH_TEST_RUNS=str(runs))
                     for log in logs]
        wait_until(lambda: all("waiting for another process" in log.read_text() for log in logs), *processes)
    for process, log in zip(processes, logs, strict=True):
        assert process.wait(timeout=600) == 0, log.read_text()
    outputs = [log.read_text() for log in logs]

    assert len(passed_rows(out)) == GRID
    attempts = query(out, "SELECT config_hash, pid, status FROM attempts")
    assert len(attempts) == GRID and len({a[0] for a in attempts}) == GRID
    assert {a[2] for a in attempts} == {"passed"}
    assert {a[1] for a in attempts} == {p.pid for p in processes}, "both runs should have taken a share"
    ran = runs.read_text().splitlines()
    assert len(ran) == GRID and len({line.split()[0] for line in ran}) == GRID
    assert sum(output.count("source tiny_src: training its model") for output in outputs) == 1
    assert sum(output.count("source tiny_src: waiting for another process") for output in outputs) == 2
    assert any("left to another tlbench process" in output for output in outputs)
