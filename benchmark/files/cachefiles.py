"""Cache files that a crash, a full disk or a read-only folder cannot turn into a failed run.

A cache entry is written to a temporary file named with the writing process's id, flushed to the disk and
renamed into place: a reader sees the old entry or the whole new one. Before a large write the free space is
checked. Temporary files left by processes that died are removed. Readers treat an entry they cannot read as
missing (the caller warns and rebuilds it).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

# the room kept free beyond an entry's own size, so that a cache never fills the disk to the last byte
HEADROOM = 64 << 20
_LEFTOVER = re.compile(r"\.(\d+)(?:-\d+)?\.(?:partial|tmp)(?:\.npy)?$")


def has_room(folder: Path, nbytes: int) -> bool:
    """Whether ``folder``'s file system has ``nbytes`` free beyond :data:`HEADROOM`."""
    try:
        return shutil.disk_usage(folder).free >= nbytes + HEADROOM
    except OSError:
        return False


def temporary_beside(path: Path, suffix: str = ".partial") -> Path:
    """A temporary name next to ``path`` that carries this process's id (see :func:`remove_leftovers`)."""
    return path.with_name(f"{path.name}.{os.getpid()}{suffix}")


def publish(temporary: Path, path: Path) -> None:
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
    """The process id in a temporary file's name (see :func:`temporary_beside`), or None for other names."""
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
