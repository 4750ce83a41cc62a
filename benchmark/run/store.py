"""The run store: each experiment's result, and every attempt to run one, committed as soon as it changes."""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import logging
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from benchmark.files.locks import Lease, lease_alive
from benchmark.run.rowcheck import BadRow, decode_estimate, decode_experiment, row_id

log = logging.getLogger(__name__)

STORE_FILE = "tlbench.sqlite"

_EXPERIMENTS_SCHEMA = (
    """CREATE TABLE experiments (
    config_hash TEXT PRIMARY KEY,
    node_id TEXT NOT NULL,
    target TEXT NOT NULL,
    source TEXT NOT NULL,
    method TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,
    config TEXT NOT NULL,
    split_hash TEXT,
    metrics TEXT,
    scores TEXT,
    history TEXT,
    durations TEXT,
    versions TEXT,
    device TEXT,
    error TEXT,
    started_at TEXT,
    finished_at TEXT,
    preset TEXT,
    notes TEXT
)""",
    "CREATE INDEX experiments_node ON experiments (node_id)",
)
# finish_order: the order in which attempts ended; stored: whether the attempt became its experiment's row
_ATTEMPTS_SCHEMA = (
    """CREATE TABLE attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    config_hash TEXT NOT NULL,
    node_id TEXT NOT NULL,
    target TEXT NOT NULL,
    source TEXT NOT NULL,
    method TEXT NOT NULL,
    seed INTEGER NOT NULL,
    config TEXT NOT NULL,
    device TEXT,
    preset TEXT,
    notes TEXT,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    lease TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    finish_order INTEGER,
    stored INTEGER NOT NULL DEFAULT 0,
    error TEXT
)""",
    "CREATE INDEX attempts_config ON attempts (config_hash)",
)
# transferability estimates (``tlbench estimate``): created by the first one saved, so that opening a store never
# needs to write to it for them
_ESTIMATES_SCHEMA = """CREATE TABLE IF NOT EXISTS estimates (
    config_hash TEXT PRIMARY KEY,
    target TEXT NOT NULL,
    source TEXT NOT NULL,
    estimator TEXT NOT NULL,
    seed INTEGER NOT NULL,
    config TEXT NOT NULL,
    preset TEXT NOT NULL,
    score REAL NOT NULL,
    seconds REAL NOT NULL,
    feature_seconds REAL NOT NULL,
    n_samples INTEGER NOT NULL,
    finished_at TEXT NOT NULL
)"""
# columns added to experiments since the first schema, with their types: an older store gains them when opened
_ADDED_COLUMNS = {"preset": "TEXT", "notes": "TEXT"}
# columns an older store has and this one does not: the display label "preset · backbone @ Npx" (the rows carry the
# preset's fields); dropped when such a store is opened, since it was NOT NULL and new rows do not write it
_DROPPED_COLUMNS = ("profile",)
# what an attempt records when it starts, and hands to its experiment's row when it becomes the result
_START_COLUMNS = ("config_hash", "node_id", "target", "source", "method", "seed", "config", "device", "started_at",
                  "preset", "notes")
_JSON_COLUMNS = ("config", "metrics", "scores", "history", "durations", "versions", "preset", "notes")
# tlbench before the attempts table marked a running experiment in its row; such a row left behind is interrupted
_LEGACY_RUNNING = "running"
# the tables whose rows are checked as they are read (:mod:`benchmark.run.rowcheck`), with each one's decoder
CHECKED_TABLES = {"experiments": decode_experiment, "estimates": decode_estimate}
QUARANTINE_SUFFIX = "_quarantine"  # experiments_quarantine: rows moved aside by `tlbench doctor --quarantine`


class StoreError(Exception):
    """The run folder's database cannot be opened, read or written; the message says what to do."""


def store_error(path: Path, error: Exception) -> StoreError:
    """One line for what went wrong with the database at ``path``, and what to do about it."""
    text = str(error).lower()
    if "full" in text or getattr(error, "errno", None) == errno.ENOSPC:
        return StoreError(f"no space left on the device of {path}: free some and run again (every result "
                          "committed so far is kept)")
    if "readonly" in text or "read-only" in text or isinstance(error, PermissionError):
        return StoreError(f"{path} cannot be written (read-only): choose a writable run folder with --out")
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return StoreError(f"{path} is damaged ({error}): `tlbench doctor --out {path.parent}` salvages its "
                          "readable rows into a new file and keeps the damaged one beside it")
    if isinstance(error, (FileExistsError, NotADirectoryError)):
        return StoreError(f"--out {path.parent}: not a folder (a file of that name is in the way)")
    return StoreError(f"{path}: {error}")


def _reporting_errors(method):
    """Turn a method's SQLite errors (a damaged page met while reading) into :class:`StoreError`."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as error:
            raise store_error(self.path, error) from error

    return wrapper


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _fields(row: sqlite3.Row) -> dict:
    """A row read with its rowid, as its table's columns alone."""
    return {key: row[key] for key in row.keys() if key != "rowid"}


def _placeholders(count: int) -> str:
    return ", ".join("?" * count)


class Store:
    """Results of a run folder. ``experiments`` holds one row per experiment, its result: ``passed`` or
    ``failed``. ``attempts`` holds every attempt to run one, which runs beside the result it may replace and
    takes its place only when it passes, or when no passed result is there to keep. An attempt ``running`` in a
    process that is gone (its :class:`~benchmark.files.locks.Lease` released) is ``interrupted``: not done.

    Several processes may share a run folder: :meth:`start` claims an experiment for this one, so that between
    them each experiment runs once.

    Every row is checked as it is read (:mod:`benchmark.run.rowcheck`): one that does not hold is logged once, with
    its id and what is wrong, and read as absent (its experiment runs again); it stays in its table until a new
    result replaces it or ``tlbench doctor --quarantine`` moves it aside, into ``<table>_quarantine``."""

    def __init__(self, run_dir: Path):
        """Open (or create) the store of ``run_dir``; :class:`StoreError` when it cannot be read or written."""
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / STORE_FILE
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # autocommit, with explicit write transactions; usable from the runner's job threads, which call the
            # store one at a time
            self.db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self._inode = os.stat(self.path).st_ino
            self._upgrade()
            # attempts that end after this point were not known to the plan made from this store
            self._finish_order_at_open = self.db.execute(
                "SELECT COALESCE(MAX(finish_order), 0) FROM attempts").fetchone()[0]
        except (sqlite3.Error, OSError) as error:
            raise store_error(self.path, error) from error
        self._lease: Lease | None = None  # taken by the first attempt: reading the store takes none
        self._attempts: dict[str, int] = {}  # config hash -> id of this process's running attempt
        self._reported: set[tuple[str, int]] = set()  # (table, rowid) of the bad rows logged so far
        # (table, rowid) -> (the row's columns as read, its decoded record or None): a command reads the same rows
        # several times (planning, status, the board), and checking a row costs far more than comparing its text
        self._decoded: dict[tuple[str, int], tuple[dict, dict | None]] = {}

    def close(self) -> None:
        if self._lease is not None:
            self._lease.release()
        self.db.close()

    def still_there(self) -> bool:
        """Whether the database file this store opened is still at its path (not deleted or replaced)."""
        try:
            return os.stat(self.path).st_ino == self._inode
        except OSError:
            return False

    @contextlib.contextmanager
    def _transaction(self):
        """A write transaction holding SQLite's write lock from its start, so what it reads stays true until it
        commits (other processes wait for it, up to the connection's timeout). :class:`StoreError` when the
        file is gone, full, read-only or damaged: nothing of the transaction is kept, all before it is."""
        if not self.still_there():
            raise StoreError(f"{self.path} was deleted or replaced while this run went on: stopping, as nothing "
                             "more could be kept; run again to start a new store there")
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise store_error(self.path, error) from error
        try:
            yield
            self.db.execute("COMMIT")
        except BaseException as error:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            if isinstance(error, sqlite3.Error):
                raise store_error(self.path, error) from error
            raise

    def _upgrades(self) -> list[str]:
        """The statements that bring the file to the current schema; none when it is current."""
        tables = {name for (name,) in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "experiments" not in tables:
            return [*_EXPERIMENTS_SCHEMA, *_ATTEMPTS_SCHEMA]
        present = {row["name"] for row in self.db.execute("PRAGMA table_info(experiments)")}
        statements = [f"ALTER TABLE experiments ADD COLUMN {column} {kind}"
                      for column, kind in _ADDED_COLUMNS.items() if column not in present]
        for table in ("experiments", "attempts"):
            if table in tables:
                columns = {row["name"] for row in self.db.execute(f"PRAGMA table_info({table})")}
                statements += [f"ALTER TABLE {table} DROP COLUMN {c}" for c in _DROPPED_COLUMNS if c in columns]
        return statements + ([] if "attempts" in tables else list(_ATTEMPTS_SCHEMA))

    def _upgrade(self) -> None:
        """Create the tables, or add what an older store lacks; the write transaction is taken only when needed."""
        if not self._upgrades():
            return
        with self._transaction():
            for statement in self._upgrades():  # asked again: another process may have upgraded it meanwhile
                self.db.execute(statement)

    def _checked(self, table: str, row: sqlite3.Row) -> dict | None:
        """``row`` of ``table`` decoded, or None when it does not hold (logged once per row). A row read before with
        the same columns is decoded once: the record returned is a new dict whose nested values are shared with
        earlier reads, so readers must not change them."""
        fields = _fields(row)
        known = self._decoded.get((table, row["rowid"]))
        if known is not None and known[0] == fields:
            return None if known[1] is None else dict(known[1])
        record = self._decoded_now(table, row, fields)
        self._decoded[(table, row["rowid"])] = (fields, record)
        return None if record is None else dict(record)

    def _decoded_now(self, table: str, row: sqlite3.Row, fields: dict) -> dict | None:
        try:
            return CHECKED_TABLES[table](fields)
        except BadRow as error:
            if (table, row["rowid"]) not in self._reported:
                self._reported.add((table, row["rowid"]))
                consequence = ("its experiment runs again" if table == "experiments"
                               else "`tlbench estimate` replaces it")
                log.warning("%s row %s cannot be used and is left out (%s): %s; `tlbench doctor --out %s "
                            "--quarantine` moves such rows aside", table, row_id(row), consequence, error,
                            self.run_dir)
            return None

    def _result(self, config_hash: str) -> dict | None:
        """The experiment's stored row, decoded; None when there is none or it does not hold."""
        row = self.db.execute("SELECT rowid, * FROM experiments WHERE config_hash = ?", (config_hash,)).fetchone()
        return self._checked("experiments", row) if row else None

    def _result_status(self, config_hash: str) -> str | None:
        result = self._result(config_hash)
        return result["status"] if result else None

    @_reporting_errors
    def problem_of(self, config_hash: str) -> str:
        """What is wrong with the experiment's stored row ("" when it holds, or there is none)."""
        row = self.db.execute("SELECT * FROM experiments WHERE config_hash = ?", (config_hash,)).fetchone()
        try:
            if row is not None:
                decode_experiment(dict(row))
        except BadRow as error:
            return str(error)
        return ""

    @_reporting_errors
    def status_of(self, config_hash: str) -> str | None:
        """The stored result's status, ``passed`` or ``failed``; without one, ``running`` while a live process
        attempts the experiment, ``interrupted`` when its attempt's process is gone, None when never attempted."""
        status = self._result_status(config_hash)
        if status in ("passed", "failed"):
            return status
        leases = [lease for (lease,) in self.db.execute(
            "SELECT lease FROM attempts WHERE config_hash = ? AND status = 'running'", (config_hash,)).fetchall()]
        if any(lease_alive(self.run_dir, lease) for lease in leases):
            return "running"
        return "interrupted" if leases or status == _LEGACY_RUNNING else None

    @_reporting_errors
    def error_of(self, config_hash: str) -> str:
        """The stored result's error ("" when it has none)."""
        result = self._result(config_hash)
        return (result["error"] or "") if result else ""

    @_reporting_errors
    def start(self, planned, device: str, preset: dict | None = None, notes: dict | None = None) -> bool:
        """Claim ``planned`` for this process and record its attempt as running; ``preset`` holds every field of
        the preset in force (the config holds only those that decide the result), ``notes`` facts found before it
        ran (a leak audit). False, recording nothing, when the experiment is another process's: one that is
        alive runs it, or an attempt at it ended after this store was opened."""
        exp = planned.experiment
        lease = self._take_lease()
        values = (planned.config_hash, exp.node_id, exp.target, exp.source, exp.method, exp.seed,
                  json.dumps(planned.config), device, _now(), json.dumps(preset), json.dumps(notes))
        with self._transaction():
            if self._claimed_elsewhere(planned.config_hash):
                return False
            cursor = self.db.execute(
                f"INSERT INTO attempts ({', '.join(_START_COLUMNS)}, pid, host, lease, status) "
                f"VALUES ({_placeholders(len(_START_COLUMNS) + 3)}, 'running')",
                (*values, lease.pid, lease.host, lease.name),
            )
        self._attempts[planned.config_hash] = cursor.lastrowid
        return True

    def _take_lease(self) -> Lease:
        if self._lease is None:
            self._lease = Lease(self.run_dir)
        return self._lease

    def _claimed_elsewhere(self, config_hash: str) -> bool:
        rows = self.db.execute(
            "SELECT status, lease FROM attempts WHERE config_hash = ? AND (status = 'running' OR finish_order > ?) "
            "AND lease != ?", (config_hash, self._finish_order_at_open, self._lease.name),
        ).fetchall()
        return any(row["status"] != "running" or lease_alive(self.run_dir, row["lease"]) for row in rows)

    @_reporting_errors
    def finish(self, config_hash: str, status: str, **fields) -> None:
        """End this process's attempt at ``config_hash`` as ``passed`` or ``failed``, with any of the JSON and text
        columns. It becomes the experiment's row unless it failed while a passed result is stored: that result is
        kept, and the failure (``error``) stays on the attempt (see :meth:`attempts`)."""
        attempt = self._attempts.pop(config_hash)
        values = {k: json.dumps(v) if k in _JSON_COLUMNS else v for k, v in fields.items()}
        finished_at = _now()
        with self._transaction():
            stored = status == "passed" or self._result_status(config_hash) != "passed"
            self.db.execute(
                "UPDATE attempts SET status = ?, finished_at = ?, stored = ?, error = ?, "
                "finish_order = (SELECT COALESCE(MAX(finish_order), 0) + 1 FROM attempts) WHERE id = ?",
                (status, finished_at, stored, values.get("error"), attempt),
            )
            if stored:
                self._quarantine_if_bad("experiments", config_hash, "replaced by a new result")
                self._store_result(attempt, {**values, "status": status, "finished_at": finished_at})

    def _store_result(self, attempt: int, result: dict) -> None:
        """Replace the experiment's row by ``attempt``'s: its start columns with ``result``'s columns."""
        self.db.execute(
            f"INSERT OR REPLACE INTO experiments ({', '.join((*_START_COLUMNS, *result))}) "
            f"SELECT {', '.join(_START_COLUMNS)}, {_placeholders(len(result))} FROM attempts WHERE id = ?",
            (*result.values(), attempt),
        )

    @_reporting_errors
    def forget(self, config_hash: str) -> None:
        """Drop this process's attempt at ``config_hash`` (interrupted by the user); a stored result stays."""
        attempt = self._attempts.pop(config_hash, None)
        if attempt is not None:
            with self._transaction():
                self.db.execute("DELETE FROM attempts WHERE id = ?", (attempt,))

    @_reporting_errors
    def attempts(self) -> list[dict]:
        """The attempts that are not an experiment's row, oldest first, each with its ``status``: ``running``,
        ``interrupted`` (its process is gone), or ``failed`` beside a passed result that was kept."""
        found = []
        for row in self.db.execute(
                "SELECT id, config_hash, node_id, status, pid, host, lease, started_at, finished_at, error "
                "FROM attempts WHERE stored = 0 ORDER BY id").fetchall():
            attempt = dict(row)
            if attempt["status"] == "running" and not lease_alive(self.run_dir, attempt["lease"]):
                attempt["status"] = "interrupted"
            del attempt["lease"]
            found.append(attempt)
        return found

    @_reporting_errors
    def passed_configs(self) -> dict[str, dict]:
        """The config of the latest passed result of each node id."""
        latest = {}
        for row in sorted(self.rows("passed"), key=lambda r: r["finished_at"] or ""):
            latest[row["node_id"]] = row["config"]
        return latest

    @_reporting_errors
    def rows(self, status: str | None = None) -> list[dict]:
        """The experiments' rows that hold, JSON columns decoded; a row an older tlbench left running is
        ``interrupted``."""
        query = "SELECT rowid, * FROM experiments"
        params: tuple = ()
        if status:
            query, params = query + " WHERE status = ?", (status,)
        rows = []
        # ordered in Python: a damaged row may hold a value of any type in these columns
        for row in self.db.execute(query, params):
            record = self._checked("experiments", row)
            if record is None:
                continue
            if record["status"] == _LEGACY_RUNNING:
                record["status"] = "interrupted"
            rows.append(record)
        return sorted(rows, key=lambda r: (r["target"], r["source"], r["method"], r["seed"]))

    @_reporting_errors
    def bad_rows(self) -> list[tuple[str, int, str, str]]:
        """(table, rowid, row id as :func:`~benchmark.run.rowcheck.row_id` gives it, what is wrong) of each row
        that does not hold, in the tables of :data:`CHECKED_TABLES`."""
        found = []
        for table, decode in CHECKED_TABLES.items():
            if not self.has_table(table):
                continue
            for row in self.db.execute(f"SELECT rowid, * FROM {table} ORDER BY rowid"):
                try:
                    decode(_fields(row))
                except BadRow as error:
                    found.append((table, row["rowid"], row_id(row), str(error)))
        return found

    @_reporting_errors
    def quarantine(self, bad: list[tuple[str, int, str, str]]) -> None:
        """Move the rows ``bad`` (as :meth:`bad_rows` gives them) into their table's quarantine table, with what
        is wrong and when they were moved."""
        with self._transaction():
            for table, rowid, _, problem in bad:
                self._move_aside(table, rowid, problem)

    @_reporting_errors
    def quarantined(self) -> dict[str, int]:
        """How many rows each quarantine table holds (tables without one left out)."""
        return {table: self.db.execute(f"SELECT COUNT(*) FROM {table}{QUARANTINE_SUFFIX}").fetchone()[0]
                for table in CHECKED_TABLES if self.has_table(f"{table}{QUARANTINE_SUFFIX}")}

    def has_table(self, name: str) -> bool:
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return self.db.execute(query, (name,)).fetchone() is not None

    def _quarantine_if_bad(self, table: str, config_hash: str, why: str) -> None:
        """Inside a transaction: move ``table``'s row of ``config_hash`` aside when it does not hold, so that
        replacing it loses nothing."""
        if not self.has_table(table):
            return
        row = self.db.execute(f"SELECT rowid, * FROM {table} WHERE config_hash = ?", (config_hash,)).fetchone()
        if row is None:
            return
        try:
            CHECKED_TABLES[table](_fields(row))
        except BadRow as error:
            self._move_aside(table, row["rowid"], f"{error} ({why})")

    def _move_aside(self, table: str, rowid: int, problem: str) -> None:
        """Inside a transaction: copy row ``rowid`` of ``table``, values as they are, into its quarantine table
        (made with the table's columns, untyped, plus problem and quarantined_at), then delete it."""
        aside = f"{table}{QUARANTINE_SUFFIX}"
        self.db.execute(f"CREATE TABLE IF NOT EXISTS {aside} AS SELECT *, '' AS problem, '' AS quarantined_at "
                        f"FROM {table} WHERE 0")
        kept = {row["name"] for row in self.db.execute(f"PRAGMA table_info({aside})")}
        columns = [row["name"] for row in self.db.execute(f"PRAGMA table_info({table})") if row["name"] in kept]
        self.db.execute(f"INSERT INTO {aside} ({', '.join(columns)}, problem, quarantined_at) "
                        f"SELECT {', '.join(columns)}, ?, ? FROM {table} WHERE rowid = ?", (problem, _now(), rowid))
        self.db.execute(f"DELETE FROM {table} WHERE rowid = ?", (rowid,))

    @_reporting_errors
    def save_estimate(self, config_hash: str, target: str, source: str, estimator: str, seed: int, config: dict,
                      preset: dict, score: float, seconds: float, feature_seconds: float, n_samples: int) -> None:
        """Record one transferability estimate (replacing an earlier one of the same ``config_hash``): ``config``
        is what determines it, ``preset`` every field of the preset in force, ``seconds`` the estimator's own
        time and ``feature_seconds`` the time its features (and source predictions) took."""
        values = (config_hash, target, source, estimator, seed, json.dumps(config), json.dumps(preset), score,
                  seconds, feature_seconds, n_samples, _now())
        with self._transaction():
            self.db.execute(_ESTIMATES_SCHEMA)
            self._quarantine_if_bad("estimates", config_hash, "replaced by a new estimate")
            self.db.execute(f"INSERT OR REPLACE INTO estimates VALUES ({_placeholders(len(values))})", values)

    @_reporting_errors
    def estimates(self) -> list[dict]:
        """The stored transferability estimates that hold, JSON columns decoded, oldest first; none before the
        first."""
        if not self.has_table("estimates"):
            return []
        rows = self.db.execute("SELECT rowid, * FROM estimates ORDER BY rowid")
        found = [self._checked("estimates", row) for row in rows]
        # ordered in Python: a damaged row may hold a value of any type in finished_at
        return sorted((record for record in found if record is not None), key=lambda r: r["finished_at"])
