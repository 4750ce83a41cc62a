"""Launchers' children end with their driver (issue 27): after a Ctrl-C, submitit's local job controllers print
no KeyboardInterrupt traceback on the driver's terminal (it goes to their log) and none of them is left; after a
kill -9 of a driver that started its own Ray, Ray's dashboard and runtime-env agents are stopped within seconds,
not a minute later."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TINY, subprocess_env
from fakedata import no_builtin_datasets

from tlbench_plugins.launchers import raywatch

TLBENCH = str(Path(sys.executable).parent / "tlbench")
BASE = ["-p", "tiny_plugin", *(arg for flag in no_builtin_datasets() for arg in ("-p", flag)), "-p", "fault_plugin"]


def in_session(log: Path, args: list[str], **env) -> subprocess.Popen:
    """``tlbench args`` as a terminal starts it: a process group of its own, SIGINT at its default."""
    with open(log, "w") as output:
        return subprocess.Popen([TLBENCH, *args], env=subprocess_env(**env), stdout=output, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def session_processes(leader: int) -> list[str]:
    """The live processes of ``leader``'s session but the leader: their commands."""
    listing = subprocess.run(["ps", "-eo", "pid=,sid=,stat=,args="], capture_output=True, text=True).stdout
    rows = [line.split(None, 3) for line in listing.splitlines()]
    return [args for pid, sid, stat, args in rows if sid == str(leader) and pid != str(leader) and stat[0] != "Z"]


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and not stat.read_text().rsplit(") ", 1)[1].startswith("Z")


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def test_ctrl_c_under_submitits_local_executor_prints_no_child_traceback(tmp_path):
    out, log = tmp_path / "run", tmp_path / "driver.log"
    driver = in_session(log, [*BASE, "run", "-d", "tiny_tgt", "-s", "random", "-m", "steady", "--seeds", "2,5",
                              "--out", str(out), *TINY, "--no-audit", "--launcher", "submitit", "--launcher-option",
                              "executor=local"], TLBENCH_TEST_SLEEP="60")
    try:
        wait_for(lambda: sum("submitit.core._submit" in p for p in session_processes(driver.pid)) == 2, 120,
                 "the two jobs did not start")
        time.sleep(2)  # the jobs are inside the method's sleep
        os.killpg(driver.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        assert driver.wait(timeout=60) == 130
        time.sleep(3)  # a controller printing late would print now
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    output = log.read_text()
    assert "interrupted: finished results" in output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    assert "KeyboardInterrupt" in (out / "submitit" / "local-controllers.log").read_text()
    wait_for(lambda: session_processes(driver.pid) == [], 10, "a job or controller outlived the driver")


def test_the_watch_stops_the_children_noted_once_the_driver_ends(tmp_path):
    """A stand-in raylet (a parent with a child that ignores SIGTERM): once the driver's pipe closes, the child the
    watch noted is stopped, although its parent died first."""
    code = ("import signal, subprocess, sys, time; "
            "child = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
            "signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); time.sleep(600)']); "
            "print(child.pid, flush=True); time.sleep(600)")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    watch = subprocess.Popen([sys.executable, "-m", raywatch.__name__, str(parent.pid)], stdin=subprocess.PIPE)
    try:
        wait_for(lambda: child in raywatch.children(parent.pid), 30, "the child did not start")
        time.sleep(2 * raywatch.POLL_SECONDS)  # the watch notes it
        parent.kill()
        parent.wait()
        assert raywatch.still_running({child: raywatch._stat(child)[1]}) == [child]  # orphaned, alive
        watch.stdin.close()  # the driver is gone
        assert watch.wait(timeout=30) == 0
        wait_for(lambda: not alive(child), 10, "the noted child outlived the watch")
    finally:
        for process in (parent, watch):
            if process.poll() is None:
                process.kill()
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_kill_9_of_a_driver_that_started_ray_leaves_no_ray_agent(tmp_path):
    pytest.importorskip("ray")
    log = tmp_path / "driver.log"
    driver = in_session(log, [*BASE, "run", "-d", "tiny_tgt", "-s", "random", "-m", "steady", "--seeds", "2",
                              "--out", str(tmp_path / "run"), *TINY, "--no-audit", "--launcher", "ray"],
                        TLBENCH_TEST_SLEEP="60", RAY_USAGE_STATS_ENABLED="0")
    try:
        wait_for(lambda: {"ray::DashboardAgent", "ray::RuntimeEnvAgent"} <= set(session_processes(driver.pid))
                 and any("raywatch" in p for p in subprocess.run(["ps", "-eo", "args="], capture_output=True,
                                                                text=True).stdout.splitlines()), 180,
                 "Ray's agents or the watch did not start:\n" + log.read_text() if log.exists() else "")
        time.sleep(2)
        driver.kill()
        driver.wait()
        # Ray alone leaves its agents for about 60 s (they report the raylet's death to a GCS that is gone)
        wait_for(lambda: not any(p.startswith("ray::") for p in session_processes(driver.pid)), 20,
                 f"Ray's processes outlived the driver: {session_processes(driver.pid)}")
    finally:
        if driver.poll() is None:
            driver.kill()
