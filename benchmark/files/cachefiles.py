"""Cache files that a crash, a full disk or a read-only folder cannot turn into a failed run.

Every cache entry and kept model is written through :func:`write_atomically`: temporary files that processes
which died left in the folder are removed, the free space is checked, the entry is written to a temporary file
named with the writing process and thread, flushed to the disk and renamed into place. A reader sees the old
entry or the whole new one. Readers treat an entry they cannot read as missing (the caller warns and rebuilds it).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

# the room kept free beyond an entry's own size, so that a cache never fills the disk to the last byte
HEADROOM = 64 << 20
# the temporary names of :func:`_temporary_beside`, and those of earlier versions (``.tmp``, ``.partial.npy``)
_LEFTOVER = re.compile(r"\.(\d+)(?:-\d+)?\.(?:partial|tmp)(?:\.npy)?$")


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
    """A temporary name next to ``path`` that carries this process's and thread's ids (see
    :func:`remove_leftovers`)."""
    return path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.partial")


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


def remove_leftovers(folder: Path) -> list[Path]:
    """Delete the temporary files in ``folder`` whose writing process is gone; return them."""
    removed = []
    if not folder.is_dir():
        return removed
    for candidate in folder.iterdir():
        pid = writer_of(candidate.name)
        if pid is not None and pid != os.getpid() and not process_alive(pid):
            try:
                candidate.unlink()
            except OSError:
                continue
            removed.append(candidate)
    return removed
