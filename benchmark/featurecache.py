"""Penultimate features extracted once per (weights, task, image size, normalisation) and reused.

Features are stored per image of the task, so a split of another seed reuses every image an earlier
split already passed through the same weights; only images never seen before are extracted.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import torch

from .hashing import config_hash

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
    """In-process store of features by key and image position, least recently used dropped beyond
    ``max_bytes``; safe to share between threads. ``extracted`` and ``reused`` count images."""

    def __init__(self, max_bytes: int = 4 << 30):
        self.max_bytes = max_bytes
        self.extracted = self.reused = 0
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def features(
        self, key: str, positions: np.ndarray, images: torch.Tensor, extract: Callable[[torch.Tensor], np.ndarray]
    ) -> np.ndarray:
        """Features of ``images``, where ``images[i]`` is image ``positions[i]`` of the task; only images
        not cached under ``key`` go through ``extract`` (uint8 images to (n, D) float32 features)."""
        positions = np.asarray(positions, dtype=np.int64)
        with self._lock:
            entry = self._entries.setdefault(key, _Entry())
            self._entries.move_to_end(key)
            known = positions < len(entry.filled)
            known[known] = entry.filled[positions[known]]
        missing = np.flatnonzero(~known)
        fresh = extract(images[torch.from_numpy(missing)]) if len(missing) else None
        with self._lock:
            if fresh is not None:
                entry.reserve(int(positions.max()) + 1, fresh.shape[1])
                entry.values[positions[missing]] = fresh
                entry.filled[positions[missing]] = True
            self.extracted += len(missing)
            self.reused += len(positions) - len(missing)
            result = entry.values[positions]
            self._evict(keep=key)
        return result

    def _evict(self, keep: str) -> None:
        while sum(e.nbytes for e in self._entries.values()) > self.max_bytes and len(self._entries) > 1:
            oldest = next(iter(self._entries))
            if oldest == keep:
                self._entries.move_to_end(keep)
                continue
            del self._entries[oldest]
