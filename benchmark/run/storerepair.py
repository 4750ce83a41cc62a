"""``tlbench doctor``: check a run folder's store and, when it is damaged, salvage its readable rows; then check
each row's values, and move the rows that cannot be used aside when asked.

SQLite can still read the intact pages of a damaged file: rows are copied one rowid at a time, so a damaged
page loses the rows on it and not the table. The damaged file (with its WAL) is kept beside the new one,
renamed, never deleted. A file that is not a database at all has nothing to salvage and is only moved aside.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from benchmark.run.store import _ESTIMATES_SCHEMA, CHECKED_TABLES, STORE_FILE, Store

TABLES = ("experiments", "attempts")
# tables made by their first row (transferability estimates), absent from most stores, with their schema
OPTIONAL_TABLES = {"estimates": _ESTIMATES_SCHEMA}


@dataclass
class Repair:
    """What ``doctor`` found and did: ``damaged`` says whether the store needed salvage; ``salvaged`` and
    ``lost`` count rows per table (lost: rowids in the table's range that could not be read); ``kept`` is
    where the damaged file now is."""

    path: Path
    damaged: bool
    problem: str = ""
    salvaged: dict[str, int] = field(default_factory=dict)
    lost: dict[str, int] = field(default_factory=dict)
    kept: Path | None = None


def check(path: Path) -> str:
    """'' for a store SQLite reads whole, else what is wrong with it."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            problems = [row[0] for row in db.execute("PRAGMA integrity_check")]
            present = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            for table in (*TABLES, *(t for t in OPTIONAL_TABLES if t in present)):
                db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
        finally:
            db.close()
    except sqlite3.Error as error:
        return str(error)
    return "" if problems == ["ok"] else "; ".join(problems[:3])


def repair(run_dir: Path) -> Repair:
    """Check ``run_dir``'s store; when damaged, move it aside and copy its readable rows into a new store.

    FileNotFoundError when the folder has no store."""
    path = Path(run_dir) / STORE_FILE
    if not path.exists():
        raise FileNotFoundError(f"no store in {run_dir} (no {STORE_FILE})")
    problem = check(path)
    if not problem:
        return Repair(path, damaged=False)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    kept = path.with_name(f"{STORE_FILE}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        side = Path(f"{path}{suffix}")
        if side.exists():
            side.rename(f"{kept}{suffix}")
    result = Repair(path, damaged=True, problem=problem, kept=kept)
    fresh = Store(run_dir)  # the current schema, empty
    try:
        for table in TABLES:
            result.salvaged[table], result.lost[table] = _copy_readable(kept, fresh.db, table)
        for table, schema in OPTIONAL_TABLES.items():
            fresh.db.execute(schema)
            copied, lost = _copy_readable(kept, fresh.db, table)
            if copied or lost:
                result.salvaged[table], result.lost[table] = copied, lost
    finally:
        fresh.close()
    return result


def _copy_readable(damaged: Path, target: sqlite3.Connection, table: str) -> tuple[int, int]:
    """Copy the rows of ``table`` that can be read from ``damaged`` into ``target``: (copied, unreadable)."""
    try:
        source = sqlite3.connect(f"file:{damaged}?mode=ro", uri=True)
    except sqlite3.Error:
        return 0, 0
    try:
        try:
            low, high = source.execute(f"SELECT MIN(rowid), MAX(rowid) FROM {table}").fetchone()
            columns = [row[1] for row in source.execute(f"PRAGMA table_info({table})")]
        except sqlite3.Error:  # no readable table or schema: nothing to copy
            return 0, 0
        wanted = {row[1] for row in target.execute(f"PRAGMA table_info({table})")}
        columns = [c for c in columns if c in wanted]
        copied = unreadable = 0
        for rowid in range(low or 0, (high or -1) + 1):
            try:
                row = source.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE rowid = ?", (rowid,)).fetchone()
            except sqlite3.Error:
                unreadable += 1
                continue
            if row is None:
                continue
            target.execute(f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) "
                           f"VALUES ({', '.join('?' * len(columns))})", row)
            copied += 1
        return copied, unreadable
    finally:
        source.close()


@dataclass
class RowCheck:
    """The rows ``doctor`` checked per table, those that cannot be used as (table, rowid, row id, what is wrong),
    whether they were moved aside, and how many rows each quarantine table holds now."""

    checked: dict[str, int]
    bad: list[tuple[str, int, str, str]]
    moved: bool
    quarantined: dict[str, int]


def check_rows(run_dir: Path, quarantine: bool = False) -> RowCheck:
    """Check every row of ``run_dir``'s store (:mod:`benchmark.run.rowcheck`); with ``quarantine``, move those
    that cannot be used into their table's quarantine table. The store's pages must be readable (see
    :func:`repair`)."""
    store = Store(run_dir)
    try:
        checked = {table: store.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                   for table in CHECKED_TABLES if store.has_table(table)}
        bad = store.bad_rows()
        if quarantine and bad:
            store.quarantine(bad)
        return RowCheck(checked, bad, quarantine and bool(bad), store.quarantined())
    finally:
        store.close()
