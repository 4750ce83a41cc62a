"""Penultimate features extracted once per (weights, images, image size, normalisation) and reused.

Features are stored per image of the task, so a split of another seed reuses every image an earlier
split already passed through the same weights; only images never seen before are extracted. With a
directory, every key's features also live on disk (one ``<key>.npz`` of ``values`` and ``filled``), so
later runs reuse them too.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from benchmark.files.cachefiles import remove_leftovers, write_atomically
from benchmark.hashing import config_hash

log = logging.getLogger(__name__)

# sampled elements per tensor in a fingerprint, on top of each tensor's sum and sum of squares
_SAMPLE = 4096


def weights_fingerprint(model: torch.nn.Module) -> str:
    """A short fingerprint of ``model``'s weights and buffers outside its classifier head.

    The head is left out because it does not change the penultimate features (a source model gets a
    fresh head per experiment). Each tensor contributes its name, shape, dtype, float64 sum and sum of
    squares, and a strided sample of its values: cheap on a large model, and different for any two
    trained or differently seeded models.
    """
    head = model.get_classifier() if hasattr(model, "get_classifier") else None
    head_prefixes = tuple(f"{name}." for name, module in model.named_modules() if module is head and name)
    names, stats, samples = [], [], []
    for name, tensor in sorted(model.state_dict().items()):
        if name.startswith(head_prefixes):
            continue
        flat = tensor.detach().reshape(-1)
        if not flat.is_floating_point():
            flat = flat.double()  # integer buffers (batch counts) are small
        names.append((name, tuple(tensor.shape), str(tensor.dtype)))
        # no float64 copy of a large weight: sum in float64, square-sum as a dot product
        stats.append(torch.stack([flat.sum(dtype=torch.float64), torch.dot(flat, flat).double()]))
        samples.append(flat[:: max(1, flat.numel() // _SAMPLE)].double())
    values = torch.cat(stats + samples).cpu().numpy() if stats else np.zeros(0)
    return config_hash({"tensors": names, "values": values.tobytes().hex()})


class _Entry:
    def __init__(self):
        self.values = np.zeros((0, 0), dtype=np.float32)
        self.filled = np.zeros(0, dtype=bool)

    @property
    def nbytes(self) -> int:
        return self.values.nbytes

    def reserve(self, size: int, dim: int) -> None:
        """Room for images ``0 .. size - 1`` with ``dim`` features each."""
        if size <= len(self.filled):
            return
        values = np.zeros((size, dim), dtype=np.float32)
        if len(self.values):
            values[: len(self.values)] = self.values
        filled = np.zeros(len(values), dtype=bool)
        filled[: len(self.filled)] = self.filled
        self.values, self.filled = values, filled


class FeatureCache:
    """Store of features by key and image position, least recently used dropped from memory beyond
    ``max_bytes``; safe to share between threads. ``extracted`` and ``reused`` count images.

    With a ``directory``, a key not in memory is read from ``<directory>/<key>.npz`` and a key that got
    new features is written back there. Values and mask share one file, replaced atomically, so a reader
    never pairs one writer's mask with another's values; several processes may write one key (the last
    writer wins). An unreadable file is a miss. ``directory=None`` keeps everything in memory.
    """

    def __init__(self, directory: Path | None = None, max_bytes: int = 4 << 30):
        self.directory = Path(directory) if directory is not None else None
        self.max_bytes = max_bytes
        self.extracted = self.reused = 0
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # one write at a time: the file only ever gains features
        if self.directory is not None:
            for leftover in remove_leftovers(self.directory):
                log.info("feature cache: removed %s, left by a process that ended", leftover)

    def features(
        self, key: str, positions: np.ndarray, images: torch.Tensor, extract: Callable[[torch.Tensor], np.ndarray]
    ) -> np.ndarray:
        """Features of ``images``, where ``images[i]`` is image ``positions[i]`` of the task; only images
        not cached under ``key`` go through ``extract`` (uint8 images to (n, D) float32 features)."""
        positions = np.asarray(positions, dtype=np.int64)
        with self._lock:
            entry = self._entries.get(key)
        if entry is None:
            entry = self._read(key)  # outside the lock: reading a large file must not stall other threads
        with self._lock:
            entry = self._entries.setdefault(key, entry)
            self._entries.move_to_end(key)
            known = positions < len(entry.filled)
            known[known] = entry.filled[positions[known]]
        missing = np.flatnonzero(~known)
        fresh = extract(images[torch.from_numpy(missing)]) if len(missing) else None
        added = False
        with self._lock:
            if fresh is not None:
                entry.reserve(int(positions.max()) + 1, fresh.shape[1])
                # a filled row never changes (another thread may have filled it meanwhile), so _write
                # can read the rows its mask marks filled without holding the lock
                rows = positions[missing]
                new = ~entry.filled[rows]
                entry.values[rows[new]] = fresh[new]
                entry.filled[rows[new]] = True
                added = bool(new.any())
            self.extracted += len(missing)
            self.reused += len(positions) - len(missing)
            result = entry.values[positions]
            self._evict(keep=key)
        if added and self.directory is not None:
            self._write(key, entry)
        return result

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.npz"

    def _read(self, key: str) -> _Entry:
        """``key``'s entry from disk, or an empty one when there is no readable file. Read whole, not
        memory-mapped: the entry must be a writable array that can grow, and counts in ``max_bytes``."""
        entry = _Entry()
        if self.directory is None:
            return entry
        path = self._path(key)
        if not path.exists():
            return entry
        try:
            with np.load(path) as stored:
                values, filled = stored["values"], stored["filled"]
        except Exception as error:  # a torn or corrupt file fails in many ways (zip, CRC, header); all a miss
            log.warning("feature cache: ignoring unreadable %s (%s: %s)", path, type(error).__name__, error)
            return entry
        if values.dtype != np.float32 or values.ndim != 2 or filled.dtype != bool or filled.shape != values.shape[:1]:
            log.warning("feature cache: ignoring %s, which holds arrays of unexpected shape or type", path)
            return entry
        entry.values, entry.filled = values, filled
        return entry

    def _write(self, key: str, entry: _Entry) -> None:
        """Save ``entry`` through a temporary file in the same folder, so a reader (or a kill) sees the
        old file or the new one, never part of one. A failed write is logged, not raised: the features
        are still right, only not kept for later runs."""
        path = self._path(key)
        with self._write_lock:
            with self._lock:
                values, filled = entry.values, entry.filled.copy()
            try:
                with write_atomically(path, values.nbytes + filled.nbytes) as temporary:
                    with open(temporary, "wb") as handle:
                        np.savez(handle, values=values, filled=filled)
            except OSError as error:
                log.warning("feature cache: could not write %s (%s)", path, error)

    def _evict(self, keep: str) -> None:
        while sum(e.nbytes for e in self._entries.values()) > self.max_bytes and len(self._entries) > 1:
            oldest = next(iter(self._entries))
            if oldest == keep:
                self._entries.move_to_end(keep)
                continue
            del self._entries[oldest]
