"""Cache files that a crash, a full disk or a read-only folder cannot turn into a failed run.

Every cache entry and kept model is written through :func:`write_atomically`: temporary files that processes
which died left in the folder are removed, the free space is checked, the entry is written to a temporary file
named with the writing process and thread, flushed to the disk and renamed into place. A reader sees the old
entry or the whole new one. Readers treat an entry they cannot read as missing (the caller warns and rebuilds it).

A cache folder may be shared by the nodes of a cluster: a temporary name also carries a digest of the writer's host,
and a leftover of another host, whose processes this one cannot see, is removed only once it is a day old.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

# the room kept free beyond an entry's own size, so that a cache never fills the disk to the last byte
HEADROOM = 64 << 20
# the temporary names of :func:`_temporary_beside`, and those of earlier versions (``.tmp``, ``.partial.npy``)
_LEFTOVER = re.compile(r"\.(\d+)(?:-\d+)?(?:-h([0-9a-f]{8}))?\.(?:partial|tmp)(?:\.npy)?$")
# this host, as temporary names carry it
HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
# how old another host's temporary file must be before it counts as left by a writer that died
FOREIGN_LEFTOVER_AGE = 24 * 3600


@contextlib.contextmanager
def write_atomically(path: Path, nbytes: int = 0) -> Iterator[Path]:
    """Write ``path`` whole or not at all: yield a temporary path beside it for the block to write, then publish
    it as ``path``. Before the block, the folder is created, leftovers of dead writers in it are removed, and an
    ``OSError`` (ENOSPC) is raised when it lacks room for ``nbytes`` beyond :data:`HEADROOM`. If the block or the
    publishing fails, the temporary file is removed and the error propagates; ``path`` is then untouched.

    Nested blocks publish inner first: write an entry's description inside the block of its data, so the data
    appears last and a reader that finds it finds both."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in remove_leftovers(path.parent):
        log.info("removed %s, left by a process that ended", leftover)
    if not has_room(path.parent, nbytes):
        raise OSError(errno.ENOSPC, f"not enough free space in {path.parent} for {max(nbytes >> 20, 1)} MB")
    temporary = _temporary_beside(path)
    try:
        yield temporary
        _publish(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):  # a folder that cannot be written may not let us clean it either
            temporary.unlink(missing_ok=True)
        raise


def has_room(folder: Path, nbytes: int) -> bool:
    """Whether ``folder``'s file system has ``nbytes`` free beyond :data:`HEADROOM`."""
    try:
        return shutil.disk_usage(folder).free >= nbytes + HEADROOM
    except OSError:
        return False


def _temporary_beside(path: Path) -> Path:
    """A temporary name next to ``path`` that carries this process's and thread's ids and this host (see
    :func:`remove_leftovers`)."""
    return path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}-h{HOST}.partial")


def _publish(temporary: Path, path: Path) -> None:
    """Flush ``temporary`` to the disk and rename it to ``path`` (atomic within one file system)."""
    with open(temporary, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    try:
        directory = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(directory)  # the rename itself, on file systems that need it
    except OSError:
        pass
    finally:
        os.close(directory)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def writer_of(name: str) -> int | None:
    """The process id in a temporary file's name (see :func:`_temporary_beside`), or None for other names."""
    match = _LEFTOVER.search(name)
    return int(match.group(1)) if match else None


def _writer_gone(path: Path) -> bool:
    """Whether the temporary file ``path`` was left by a writer that ended: a process of this host (or of a name
    without a host) that is gone, or another host's file a day old."""
    match = _LEFTOVER.search(path.name)
    if match is None:
        return False
    pid, host = int(match.group(1)), match.group(2)
    if host is None or host == HOST:
        return pid != os.getpid() and not process_alive(pid)
    try:
        return time.time() - path.stat().st_mtime > FOREIGN_LEFTOVER_AGE
    except OSError:
        return False


def remove_leftovers(folder: Path) -> list[Path]:
    """Delete the temporary files in ``folder`` whose writer ended (:func:`_writer_gone`); return them."""
    removed = []
    if not folder.is_dir():
        return removed
    for candidate in folder.iterdir():
        if _writer_gone(candidate):
            try:
                candidate.unlink()
            except OSError:
                continue
            removed.append(candidate)
    return removed
