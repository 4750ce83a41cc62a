"""The watch beside a driver that started a Ray of its own: when the driver ends, however it ends (kill -9
included), the agents of that Ray (its dashboard and runtime-env agents, and any worker left) are stopped at once.

Ray stops its GCS and raylet with the driver, but an agent that sees its raylet gone unexpectedly first tries to
report it to the dead GCS, for 60 s (a fixed timeout in Ray), before it exits. The watch is a process of its own,
started by :func:`watch_ray`, that notes the raylet's children while the driver lives and stops them when the
driver's end of a pipe closes (the driver is gone). Linux only (it reads ``/proc``); elsewhere no watch is
started.

Run as ``python -m tlbench_plugins.launchers.raywatch RAYLET_PID``.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

PROC = Path("/proc")
GRACE_SECONDS = 2.0
POLL_SECONDS = 1.0


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # gone meanwhile, or another user's
        return b""


def _stat(pid: int | str) -> tuple[int, int] | None:
    """(parent pid, start time) of a process, from ``/proc/PID/stat``; None when it is gone."""
    stat = _read(PROC / str(pid) / "stat").decode(errors="replace")
    if ") " not in stat:
        return None
    fields = stat.rsplit(") ", 1)[1].split()  # after "pid (comm": comm may hold spaces and parentheses
    return int(fields[1]), int(fields[19])


def children(parent: int) -> dict[int, int]:
    """``parent``'s children: process id -> start time."""
    found = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (stat := _stat(entry.name)) is not None and stat[0] == parent:
            found[int(entry.name)] = stat[1]
    return found


def child_named(parent: int, name: str) -> int | None:
    """The process id of ``parent``'s child whose command is ``name`` (``/proc/PID/comm``), if any."""
    return next((pid for pid in children(parent) if _read(PROC / str(pid) / "comm").strip() == name.encode()), None)


def still_running(known: dict[int, int]) -> list[int]:
    """Those of ``known`` (pid -> start time) that run still: the same pid with the same start time."""
    return [pid for pid, started in known.items() if (stat := _stat(pid)) is not None and stat[1] == started]


def stop(pids: list[int]) -> None:
    """SIGTERM to each of ``pids``, then SIGKILL to those alive after :data:`GRACE_SECONDS`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + GRACE_SECONDS
        while sig == signal.SIGTERM and time.monotonic() < deadline and any(PROC.joinpath(str(p)).exists()
                                                                            for p in pids):
            time.sleep(0.1)


def watch_ray() -> subprocess.Popen | None:
    """Start the watch of the Ray this process has just started (None where there is no ``/proc`` or no
    raylet child). The watch ends with the driver: close its stdin to end it sooner."""
    raylet = child_named(os.getpid(), "raylet") if PROC.is_dir() else None
    if raylet is None:
        return None
    return subprocess.Popen([sys.executable, "-m", __name__, str(raylet)], stdin=subprocess.PIPE,
                            start_new_session=True)  # not in the terminal's process group: Ctrl-C is the driver's


def main(raylet: int) -> None:
    """Note the raylet's children (its agents, its workers) every :data:`POLL_SECONDS` until the driver's pipe
    ends, then stop those still running: once the raylet is gone they are no longer its children."""
    known: dict[int, int] = {}
    while not select.select([sys.stdin], [], [], POLL_SECONDS)[0]:
        known.update(children(raylet))
    stop(still_running(known))


if __name__ == "__main__":
    main(int(sys.argv[1]))
