"""OS file locks (``flock``) that the kernel releases when their process dies: a run's lease in its run folder,
which tells other processes whether the attempts it started are still running, and the lock under which one
process trains a source model while others wait for it."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

LEASES = "leases"  # the folder of lease files, in the run folder


class Lease:
    """This process's lease on a run folder: an exclusive ``flock`` on a file of its own, held until
    :meth:`release` or the process's death. Each attempt records the lease's name, so any process can tell
    whether the attempt's process still lives (:func:`lease_alive`), on this host or another sharing the folder
    (where the filesystem's locks reach every host, as NFS's do); a reused pid is never mistaken for it."""

    def __init__(self, run_dir: Path):
        folder = Path(run_dir) / LEASES
        folder.mkdir(parents=True, exist_ok=True)
        _remove_dead_leases(folder)
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.name = f"{self.host}-{self.pid}-{uuid.uuid4().hex[:12]}"
        self.path = folder / f"{self.name}.lock"
        # locked before it takes its name, so a sweeping process never finds it unlocked
        partial = folder / f"{self.name}.partial"
        self._file = open(partial, "w")
        fcntl.flock(self._file, fcntl.LOCK_EX)
        partial.replace(self.path)

    def release(self) -> None:
        self.path.unlink(missing_ok=True)
        self._file.close()


def lease_alive(run_dir: Path, name: str) -> bool:
    """Whether the process that took lease ``name`` in ``run_dir`` still holds it. A shared lock that the
    holder's exclusive one refuses: alive; granted, or no file: the process is gone."""
    try:
        descriptor = os.open(Path(run_dir) / LEASES / f"{name}.lock", os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False


def _remove_dead_leases(folder: Path) -> None:
    for path in folder.glob("*.lock"):
        if not lease_alive(folder.parent, path.stem):
            path.unlink(missing_ok=True)


@contextlib.contextmanager
def exclusive(path: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the block, first waiting for any other
    process holding it; ``on_wait`` is called before such a wait."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield
