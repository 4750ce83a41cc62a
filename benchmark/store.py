"""The run store: one SQLite row per experiment, committed as soon as the experiment ends."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

STORE_FILE = "tlbench.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (
    config_hash TEXT PRIMARY KEY,
    node_id TEXT NOT NULL,
    target TEXT NOT NULL,
    source TEXT NOT NULL,
    method TEXT NOT NULL,
    seed INTEGER NOT NULL,
    profile TEXT NOT NULL,
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
);
CREATE INDEX IF NOT EXISTS experiments_node ON experiments (node_id);
"""
# columns added since the first schema, with their types: an older store gains them when opened
_ADDED_COLUMNS = {"preset": "TEXT", "notes": "TEXT"}

_JSON_COLUMNS = ("config", "metrics", "scores", "history", "durations", "versions", "preset", "notes")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Store:
    """Results of a run folder. A row is ``running`` while its experiment runs, then ``passed`` or
    ``failed``; a row left ``running`` by a killed process counts as not done."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / STORE_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # usable from the runner's job threads, which call the store one at a time
        self.db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)
        present = {row["name"] for row in self.db.execute("PRAGMA table_info(experiments)")}
        with self.db:
            for column, kind in _ADDED_COLUMNS.items():
                if column not in present:
                    self.db.execute(f"ALTER TABLE experiments ADD COLUMN {column} {kind}")

    def close(self) -> None:
        self.db.close()

    def status_of(self, config_hash: str) -> str | None:
        row = self.db.execute("SELECT status FROM experiments WHERE config_hash = ?", (config_hash,)).fetchone()
        return row["status"] if row else None

    def start(self, planned, profile: str, device: str, preset: dict | None = None, notes: dict | None = None) -> None:
        """Record that ``planned`` is running; ``preset`` holds every field of the preset in force (the config
        holds only those that decide the result), ``notes`` facts found before it ran (a leak audit)."""
        exp = planned.experiment
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO experiments (config_hash, node_id, target, source, method, seed, "
                "profile, status, config, device, started_at, preset, notes) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?)",
                (planned.config_hash, exp.node_id, exp.target, exp.source, exp.method, exp.seed, profile,
                 json.dumps(planned.config), device, _now(), json.dumps(preset), json.dumps(notes)),
            )

    def finish(self, config_hash: str, status: str, **fields) -> None:
        """Record the outcome (``passed`` or ``failed``) with any of the JSON and text columns."""
        values = {k: json.dumps(v) if k in _JSON_COLUMNS else v for k, v in fields.items()}
        values.update(status=status, finished_at=_now())
        assignments = ", ".join(f"{k} = ?" for k in values)
        with self.db:
            self.db.execute(
                f"UPDATE experiments SET {assignments} WHERE config_hash = ?", (*values.values(), config_hash)
            )

    def forget(self, config_hash: str) -> None:
        """Drop a row whose experiment was interrupted."""
        with self.db:
            self.db.execute("DELETE FROM experiments WHERE config_hash = ? AND status = 'running'", (config_hash,))

    def passed_configs(self) -> dict[str, dict]:
        """The config of the latest passed result of each node id."""
        latest = {}
        for node_id, config in self.db.execute(
                "SELECT node_id, config FROM experiments WHERE status = 'passed' ORDER BY finished_at"):
            latest[node_id] = json.loads(config)
        return latest

    def rows(self, status: str | None = None) -> list[dict]:
        query = "SELECT * FROM experiments"
        params: tuple = ()
        if status:
            query, params = query + " WHERE status = ?", (status,)
        rows = []
        for row in self.db.execute(query + " ORDER BY target, source, method, seed", params):
            record = dict(row)
            for column in _JSON_COLUMNS:
                if record[column] is not None:
                    record[column] = json.loads(record[column])
            rows.append(record)
        return rows
