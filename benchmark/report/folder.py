"""A report folder written as the caches write their files: into a temporary folder beside it, then renamed into
place. A reader sees the previous report or the whole new one; a full disk or an unwritable folder leaves the
previous one as it was; nothing is ever written through a symbolic link.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from benchmark.files.cachefiles import process_alive

MARK = "report.md"  # an existing folder holding it is a report, which a new one may replace


class ReportFolderError(Exception):
    """The report cannot be written there; the message is one line saying what to do."""


def _staging_names(target: Path) -> re.Pattern:
    return re.compile(rf"^\.{re.escape(target.name)}\.(\d+)\.(tmp|old)$")


def check_target(target: Path) -> None:
    """ReportFolderError when ``target`` is a symbolic link, a file, or a folder holding files that are not a
    tlbench report (replacing it would delete them)."""
    if target.is_symlink():
        raise ReportFolderError(f"{target} is a symbolic link; tlbench writes a report only into a real folder: "
                                "remove the link, or pass --to a folder")
    if target.exists() and not target.is_dir():
        raise ReportFolderError(f"{target} is a file: pass --to a folder (new, or a previous report's)")
    if target.is_dir() and any(target.iterdir()) and not (target / MARK).is_file():
        raise ReportFolderError(f"{target} holds files that are not a tlbench report (no {MARK}); pass --to a new "
                                "folder, or a previous report's")


def _clear_leftovers(target: Path) -> None:
    """Remove the temporary folders of reports whose writer died; a previous report set aside by a writer that
    died before putting the new one in place is put back."""
    pattern = _staging_names(target)
    for candidate in target.parent.iterdir():
        found = pattern.match(candidate.name)
        if found is None or process_alive(int(found.group(1))) or candidate.is_symlink():
            continue
        if found.group(2) == "old" and not os.path.lexists(target):
            os.rename(candidate, target)
        else:
            shutil.rmtree(candidate, ignore_errors=True)


def _swap(staging: Path, target: Path) -> None:
    """Put ``staging`` in the place of ``target`` (its previous content removed)."""
    previous = target.with_name(f".{target.name}.{os.getpid()}.old")
    had_previous = target.exists()
    if had_previous:
        os.rename(target, previous)
    try:
        os.rename(staging, target)
    except OSError:
        if had_previous:
            os.rename(previous, target)
        raise
    if had_previous:
        shutil.rmtree(previous, ignore_errors=True)


@contextlib.contextmanager
def staged(target: Path) -> Iterator[Path]:
    """A new empty folder beside ``target`` to write the report into; when the block ends without an error it
    replaces ``target``. ReportFolderError (one line) for a target that cannot take a report, or when writing
    fails for want of space or permission; the temporary folder is removed and ``target`` left as it was."""
    target = Path(os.path.abspath(target))
    check_target(target)
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _clear_leftovers(target)
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
    except OSError as error:
        raise ReportFolderError(f"cannot write a report beside {target} ({error.strerror or error}): pass --to a "
                                "folder you may write to") from None
    previous = "the previous report is unchanged" if target.exists() else "nothing was left there"
    try:
        yield staging
        _swap(staging, target)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise ReportFolderError(f"could not write the report into {target} ({error.strerror or error}): free space "
                                f"on its disk or make it writable, or pass --to a folder elsewhere; {previous}"
                                ) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
