"""The board's bootstrap replicates, kept beside the run's results store so that ``show``, ``report`` and a rerun
do not resample what an earlier call already did.

One entry per stored result and metric: the result's ``replicates`` values of the metric on the shared resamples of
its test set (:func:`benchmark.report.leaderboard.build_boards`). Its key is a digest of everything that decides
those values: :data:`STATISTICS_VERSION`, the metric, the replicate count, the resampling's seed (target and test
set), the test set's labels and groups, and the result's own scores. A changed row therefore has a new key and is
resampled afresh; an entry no row asks for any more is never read again.

The file is a small SQLite database (``bootstrap.sqlite`` in the run folder): several processes may read and
write it at once. A folder that cannot be written (a read-only copy of a run) computes as before and keeps
nothing; a damaged file reads as a miss (with a warning), never as a result.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from benchmark.hashing import digest_of

log = logging.getLogger(__name__)

CACHE_FILE = "bootstrap.sqlite"
# Raise when resampling or a metric's weighted computation changes what it returns: every stored entry is then
# a miss (benchmark.report.stats, benchmark.report.weighted).
STATISTICS_VERSION = 1


def replicate_key(metric: str, replicates: int, target: str, test_set: int, labels: np.ndarray,
                  groups: np.ndarray | None, scores: np.ndarray) -> str:
    """The key of one result's replicates: what decides them, and nothing else."""
    return digest_of(STATISTICS_VERSION, metric, replicates, target, test_set, np.asarray(labels),
                     "no groups" if groups is None else np.asarray(groups), np.asarray(scores, dtype=np.float64))


class ReplicateCache:
    """Stored replicates by key (:func:`replicate_key`), in ``run_dir``'s :data:`CACHE_FILE`."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / CACHE_FILE

    def load(self, keys: list[str], replicates: int) -> dict[str, np.ndarray]:
        """The stored replicates of those ``keys`` that are stored whole, ``replicates`` values each (as float64
        arrays); an entry of another length is damaged and counts as a miss."""
        if not keys or not self.path.exists():
            return {}
        found = {}
        try:
            with self._connected() as db:
                for start in range(0, len(keys), 500):  # SQLite's bound on a statement's parameters
                    chunk = keys[start:start + 500]
                    marks = ",".join("?" * len(chunk))
                    for key, blob in db.execute(f"SELECT key, replicates FROM replicates WHERE key IN ({marks})",
                                                chunk):
                        if isinstance(blob, bytes) and len(blob) == 8 * replicates:  # else damaged: a miss
                            found[key] = np.frombuffer(blob, dtype=np.float64).copy()
        except sqlite3.DatabaseError as error:
            log.warning("bootstrap replicates in %s not read (%s): resampling instead", self.path, error)
            return {}
        return found

    def save(self, entries: dict[str, np.ndarray]) -> None:
        """Store ``entries`` (key -> replicates); a folder or file that cannot be written keeps nothing."""
        if not entries:
            return
        try:
            with self._connected() as db:
                db.executemany("INSERT OR REPLACE INTO replicates (key, replicates) VALUES (?, ?)",
                               [(key, np.ascontiguousarray(values, dtype=np.float64).tobytes())
                                for key, values in entries.items()])
        except (sqlite3.DatabaseError, OSError) as error:
            log.warning("bootstrap replicates not kept in %s (%s)", self.path, error)

    @contextmanager
    def _connected(self) -> Iterator[sqlite3.Connection]:
        """The database in one transaction, closed after."""
        db = sqlite3.connect(self.path, timeout=30)
        try:
            with db:
                db.execute("CREATE TABLE IF NOT EXISTS replicates (key TEXT PRIMARY KEY, replicates BLOB NOT NULL)")
                yield db
        finally:
            db.close()
