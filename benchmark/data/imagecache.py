"""Decode-once image cache.

Image files are decoded and squashed to ``size`` x ``size`` RGB once, with one thread per core, into
a uint8 ``.npy`` array that later runs memory-map without opening an image file. An entry is keyed by
what determines its pixels (the caller's key, the image size, :data:`PREPROCESSING` and every file's
path, size and modification time) and is rebuilt when any of them changes. Unreadable files are
skipped and reported by name, never dropped silently.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from benchmark.engine.threads import usable_cores
from benchmark.files.cachefiles import write_atomically, writer_of
from benchmark.hashing import config_hash
from benchmark.names import file_stem

log = logging.getLogger(__name__)

# Bump when decoding changes: every entry is then rebuilt.
PREPROCESSING = "pil-draft-rgb-squash-bilinear-v2"  # v2: 16-bit, 32-bit and float images scaled by their range
CHUNK = 64


# PIL modes of more than 8 bits per pixel: one grey channel of integers or floats
_WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


@dataclass(frozen=True)
class PercentileWindow:
    """A window from the dataset's own pixel values: its ``low`` and ``high`` percentiles over every file of the
    dataset (all parts, the test part included: the split is not known when images are decoded), from a grid of
    at most :data:`PERCENTILE_GRID` x :data:`PERCENTILE_GRID` pixels of each image of more than 8 bits."""

    low: float = 0.5
    high: float = 99.5
    kind = "dataset-percentiles"

    def __post_init__(self):
        if not 0 <= self.low < self.high <= 100:
            raise ValueError(f"window percentiles must be 0 <= low < high <= 100, got [{self.low}, {self.high}]")


PERCENTILE_GRID = 64
Window = tuple[float, float] | PercentileWindow


def window_identity(window: Window | None) -> tuple:
    """What a window adds to a data fingerprint (nothing for per-image scaling)."""
    if window is None:
        return ()
    if isinstance(window, PercentileWindow):
        return ("window", window.kind, window.low, window.high)
    return ("window", *window)


def dataset_percentiles(paths: Sequence[Path | str], window: PercentileWindow) -> tuple[float, float] | None:
    """``window``'s percentiles of the pixel values of the images of more than 8 bits among ``paths`` (None when
    there are none); unreadable files are left to the decoder to report."""
    samples = []
    for path in paths:
        try:
            with Image.open(path) as image:
                if image.mode not in _WIDE_MODES:
                    continue
                values = np.asarray(image, dtype=np.float64)
        except Exception:  # any decoder error: reported by file name when the images are decoded
            continue
        steps = [max(1, side // PERCENTILE_GRID) for side in values.shape[:2]]
        grid = values[::steps[0], ::steps[1]].ravel()
        samples.append(grid[np.isfinite(grid)])
    pooled = np.concatenate(samples) if samples else np.empty(0)
    if not pooled.size:
        return None
    low, high = np.percentile(pooled, [window.low, window.high])
    return float(low), float(high)


def to_rgb(image: Image.Image, window: tuple[float, float] | None = None) -> Image.Image:
    """An image in any PIL mode as 8-bit RGB. Grey images of 16 or 32 bits, or floats (common in medical
    imaging), are mapped linearly to 0-255 (PIL alone would clip them to white): from the fixed ``window`` (low,
    high; values outside it clipped), which keeps an image's level (CT in Hounsfield units, an X-ray's exposure),
    or without one from the image's own minimum and maximum, which erases it; a constant image becomes black."""
    if image.mode in _WIDE_MODES:
        values = np.asarray(image, dtype=np.float64)
        finite = values[np.isfinite(values)]
        low, high = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
        if window is not None:
            low, high = window
        scaled = np.zeros_like(values) if high <= low else (np.nan_to_num(values, nan=low) - low) * (255 / (high - low))
        image = Image.fromarray(np.clip(np.round(scaled), 0, 255).astype(np.uint8))
    return image.convert("RGB")


def decode_image(path: Path | str, size: int, window: tuple[float, float] | None = None) -> np.ndarray:
    """One file as uint8 (size, size, 3): grey, palette and wide images become RGB (:func:`to_rgb` with
    ``window``), the whole
    image is squashed (aspect ratio not kept) with bilinear filtering, as the study did. JPEGs are decoded
    at the smallest DCT scale that still covers ``size``."""
    with Image.open(path) as image:
        image.draft("RGB", (size, size))
        rgb = to_rgb(image, window).resize((size, size), Image.BILINEAR)
        return np.asarray(rgb, dtype=np.uint8)


def _decode_chunk(paths: Sequence[str], size: int, window: tuple[float, float] | None = None,
                  ) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Decode ``paths``; failures come back as (position, reason) and leave a black image."""
    images = np.zeros((len(paths), size, size, 3), dtype=np.uint8)
    failures = []
    for i, path in enumerate(paths):
        try:
            images[i] = decode_image(path, size, window)
        except Exception as error:  # any decoder error is reported by file name, not raised here
            failures.append((i, f"{path}: {type(error).__name__}: {error}"))
    return images, failures


def _listing(paths: Sequence[Path]) -> list[tuple[str, int, int]]:
    """Each file's path, size and modification time (-1 for a missing file)."""
    files = []
    for path in paths:
        stat = os.stat(path) if os.path.exists(path) else None
        files.append((str(path), stat.st_size if stat else -1, stat.st_mtime_ns if stat else -1))
    return files


def _window_of(stored: dict) -> tuple[float, float] | None:
    values = stored["window"]
    return None if values is None else (float(values[0]), float(values[1]))


def _beside(stem: Path, suffix: str) -> Path:
    """``stem`` with ``suffix`` appended (names may hold dots, so not ``with_suffix``)."""
    return stem.parent / f"{stem.name}{suffix}"


@dataclass
class CachedImages:
    """``images[i]`` is the file ``kept[i]`` of the request; ``failures`` name the files left out;
    ``decoded`` is how many files this call decoded (0 when the cache answered)."""

    images: np.ndarray
    kept: np.ndarray
    failures: list[str] = field(default_factory=list)
    decoded: int = 0
    path: Path | None = None


class ImageCache:
    """Decodes image files once into ``folder`` (``None``: decode in memory, cache nothing).

    ``decoded`` counts the files decoded through this object, so a caller can tell a cached run.
    Threads sharing one cache build an entry once: the others wait and read it.
    """

    def __init__(self, folder: Path | None, workers: int | None = None):
        self.folder = Path(folder) / "images" if folder is not None else None
        self.workers = workers or usable_cores()
        self.decoded = 0
        self._lock = threading.Lock()

    def entry_key(self, key: dict, paths: Sequence[Path], size: int,
                  window: tuple[float, float] | None = None) -> str:
        windowed = {"window": list(window)} if window is not None else {}
        return config_hash({"key": key, "size": size, "preprocessing": PREPROCESSING, "files": _listing(paths),
                            **windowed})

    def percentile_window(self, name: str, paths: Sequence[Path], window: PercentileWindow,
                          ) -> tuple[float, float] | None:
        """:func:`dataset_percentiles` of ``paths``, computed once: kept beside the cache's entries, keyed by the
        files (path, size, modification time) and the percentiles."""
        if self.folder is None:
            return dataset_percentiles(paths, window)
        key = config_hash({"files": _listing(paths), "window": window_identity(window), "grid": PERCENTILE_GRID})
        prefix = f"{file_stem(name)}-window-"
        path = self.folder / f"{prefix}{key}.json"
        try:
            return _window_of(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError, KeyError):
            pass
        values = dataset_percentiles(paths, window)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for stale in self.folder.glob(f"{prefix}*.json"):
                stale.unlink(missing_ok=True)
            with write_atomically(path) as temporary:
                temporary.write_text(json.dumps({"window": values}))
        except OSError as error:  # the window is still right; it is computed again next time
            log.warning("image cache: could not keep the window of %s in %s (%s)", name, self.folder, error)
        return values

    def load(self, name: str, key: dict, paths: Sequence[Path], size: int,
             window: tuple[float, float] | None = None) -> CachedImages:
        """The images of ``paths`` at ``size`` (wide images mapped through ``window``, see :func:`to_rgb`), from the
        cache entry ``name`` when it is current."""
        if self.folder is None:
            return self._decode(name, paths, size, None, window)
        prefix = f"{file_stem(name)}-{size}px-"
        stem = self.folder / f"{prefix}{self.entry_key(key, paths, size, window)}"
        with self._lock:
            cached = self._read(stem)
            if cached is not None:
                log.info("image cache: read %d images of %s from %s (no image decoded)", len(cached.kept), name,
                         cached.path)
                return cached
            for stale in self.folder.glob(f"{prefix}*"):
                if writer_of(stale.name) is None:  # another process's entry being written is left to it
                    stale.unlink(missing_ok=True)
            if not self._writable(name):
                return self._decode(name, paths, size, None, window)
            try:
                return self._decode(name, paths, size, stem, window)
            except OSError as error:  # full or read-only: the images are still right, in memory
                log.warning("image cache: could not write %s (%s); keeping %s in memory for this run", stem, error,
                            name)
                return self._decode(name, paths, size, None, window)

    def _writable(self, name: str) -> bool:
        """Whether the cache folder can be written; a warning says why not (the run goes on in memory)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            log.warning("image cache: cannot write to %s (%s); keeping %s in memory for this run", self.folder,
                        error, name)
            return False
        if not os.access(self.folder, os.W_OK):
            log.warning("image cache: %s is read-only; keeping %s in memory for this run", self.folder, name)
            return False
        return True

    def _read(self, stem: Path) -> CachedImages | None:
        """The entry at ``stem``, or None when it is absent or damaged (a warning names a damaged one, which
        the caller then replaces)."""
        array, meta = _beside(stem, ".npy"), _beside(stem, ".json")
        if not (array.exists() and meta.exists()):
            return None
        try:
            info = json.loads(meta.read_text())
            images = np.load(array, mmap_mode="c")  # copy-on-write: writable for torch, file untouched
            kept = np.asarray(info["kept"], dtype=np.int64)
            failures = list(info["failures"])
            if len(images) != len(kept) or images.dtype != np.uint8 or images.ndim != 4:
                raise ValueError(f"{len(images)} images of {images.dtype} for {len(kept)} kept files")
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("image cache: entry %s is damaged (%s); decoding its images again", stem, error)
            return None
        return CachedImages(images, kept, failures, 0, array)

    def _decode(self, name: str, paths: Sequence[Path], size: int, stem: Path | None,
                window: tuple[float, float] | None = None) -> CachedImages:
        """Decode ``paths`` into memory (``stem`` None) or into the cache entry ``stem``, published when whole."""
        shape = (len(paths), size, size, 3)
        if stem is None:
            images = np.empty(shape, dtype=np.uint8)
            kept, reasons = self._decode_logged(images, name, paths, size, window)
            return CachedImages(images[kept] if reasons else images, kept, reasons, len(paths))
        with write_atomically(_beside(stem, ".npy"), len(paths) * size * size * 3) as partial:
            images = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=shape)
            kept, reasons = self._decode_logged(images, name, paths, size, window)
            if reasons:
                rows = np.asarray(images)[kept]
                del images
                with open(partial, "wb") as handle:
                    np.save(handle, rows)  # rewrite without the unreadable files' rows
            else:
                images.flush()
                del images
            with write_atomically(_beside(stem, ".json")) as meta:  # published first: the array appears last
                meta.write_text(json.dumps({"kept": kept.tolist(), "failures": reasons}))
        cached = self._read(stem)
        cached.decoded = len(paths)
        return cached

    def _decode_logged(self, images: np.ndarray, name: str, paths: Sequence[Path], size: int,
                       window: tuple[float, float] | None) -> tuple[np.ndarray, list[str]]:
        """Fill ``images``; return the kept files' positions and the unreadable files' reasons."""
        started = time.perf_counter()
        failures = self._decode_into(images, [str(p) for p in paths], size, window)
        failed = {i for i, _ in failures}
        kept = np.array([i for i in range(len(paths)) if i not in failed], dtype=np.int64)
        self.decoded += len(paths)
        seconds = time.perf_counter() - started
        log.info("image cache: decoded %d images of %s at %dpx in %.1fs (%.0f images/s, %d threads)",
                 len(paths), name, size, seconds, len(paths) / max(seconds, 1e-9), self._threads(len(paths)))
        return kept, [reason for _, reason in failures]

    def _threads(self, count: int) -> int:
        return max(1, min(self.workers, count // CHUNK))

    def _decode_into(self, images: np.ndarray, paths: list[str], size: int,
                     window: tuple[float, float] | None = None) -> list[tuple[int, str]]:
        """Fill ``images`` from ``paths`` chunk by chunk; return the failures as (index, reason).

        Threads, not processes: Pillow releases the GIL while it decodes and resizes, so threads decode in
        parallel, and unlike a process pool they work inside the local launcher's daemon worker processes
        (which may not have children) and in a process that already runs threads (where fork is unsafe)."""
        chunks = [paths[start:start + CHUNK] for start in range(0, len(paths), CHUNK)]
        threads = self._threads(len(paths))
        failures = []

        def store(number, result):
            chunk_images, chunk_failures = result
            images[number * CHUNK:number * CHUNK + len(chunk_images)] = chunk_images
            failures.extend((number * CHUNK + i, reason) for i, reason in chunk_failures)

        if threads == 1:
            for number, chunk in enumerate(chunks):
                store(number, _decode_chunk(chunk, size, window))
            return failures
        with ThreadPoolExecutor(threads, thread_name_prefix="tlbench-decode") as pool:
            for number, result in enumerate(pool.map(_decode_chunk, chunks, [size] * len(chunks),
                                                     [window] * len(chunks))):
                store(number, result)
        return failures
