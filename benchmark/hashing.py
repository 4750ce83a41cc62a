"""Stable hashes of configurations and files."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np


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


def cell_config_hash(config: dict) -> str:
    """The hash of what an experiment's configuration shares with the other seeds of its cell: all of it but its
    seeds. A source tlbench trains has one too, 0 for every seed of a preset or each seed's own (``source_training``),
    so it never tells two configurations of one cell apart."""
    shared = {k: v for k, v in config.items() if k != "seed"}
    source = shared.get("source")
    if isinstance(source, dict) and source.get("kind") == "dataset":
        shared["source"] = {k: v for k, v in source.items() if k != "seed"}
    return config_hash(shared)


def config_changes(old: dict, new: dict, limit: int = 3) -> list[str]:
    """What differs between two configurations, as ``path: old -> new`` lines (at most ``limit``, then a count);
    a changed data fingerprint reads as ``data of TASK changed``."""
    changes: list[str] = []

    def walk(a, b, path: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                walk(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))
        elif a != b:
            if path.endswith(".data") and isinstance(a, str) and isinstance(b, str):
                changes.append(f"data of {path.rsplit('.', 1)[0]} changed")
            else:
                changes.append(f"{path}: {json.dumps(a, default=str)} -> {json.dumps(b, default=str)}")

    walk(old, new, "")
    if len(changes) > limit:
        changes = changes[:limit] + [f"and {len(changes) - limit} more"]
    return changes


def state_dict_hash(state: dict) -> str:
    """The content hash of a model's tensors, by name."""
    import torch  # only a caller holding tensors gets here: hashing a configuration must not load torch

    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()[:16]


def digest_of(*parts) -> str:
    """A short digest of JSON-serialisable values and numpy arrays (dtype, shape and bytes)."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            array = np.ascontiguousarray(part)
            if array.dtype.kind in "OU":
                array = np.asarray([str(x) for x in array.ravel()]).astype("U")
            digest.update(f"{array.dtype}{array.shape}".encode())
            digest.update(array.tobytes())
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
        digest.update(b"|")
    return digest.hexdigest()[:16]
