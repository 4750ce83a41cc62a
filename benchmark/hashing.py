"""Stable hashes of configurations and files."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path


def config_hash(config: dict) -> str:
    """A short hash of a JSON-serialisable configuration, independent of key order."""
    text = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=64)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def file_hash(path: Path) -> str:
    """The content hash of a file, computed once per process for an unchanged file."""
    stat = Path(path).stat()
    return _file_digest(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
