"""Decode-once image cache.

Image files are decoded and squashed to ``size`` x ``size`` RGB once, with one thread per core, into
a uint8 ``.npy`` array that later runs memory-map without opening an image file. An entry is keyed by
what determines its pixels (the caller's key, the image size, :data:`PREPROCESSING` and every file's
path, size and modification time) and is rebuilt when any of them changes. Unreadable files are
skipped and reported by name, never dropped silently. Under a window that each split chooses
(:class:`~benchmark.data.windows.PercentileWindow`), the images of more than 8 bits are also kept at their own
depth, float32 grey, in a ``.levels.npy`` array beside the entry.
"""

from __future__ import annotations

import contextlib
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

from benchmark.data.windows import PercentileWindow, Window, own_range, to_uint8
from benchmark.engine.threads import usable_cores
from benchmark.files.cachefiles import write_atomically, writer_of
from benchmark.hashing import config_hash
from benchmark.names import file_stem

log = logging.getLogger(__name__)

# Bump when decoding changes: every entry is then rebuilt.
PREPROCESSING = "pil-draft-rgb-squash-bilinear-v2"  # v2: 16-bit, 32-bit and float images scaled by their range
CHUNK = 64
LEVELS_DTYPE = np.float32  # images of more than 8 bits kept at their own depth (resized values are fractional)


# PIL modes of more than 8 bits per pixel: one grey channel of integers or floats
_WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


def to_rgb(image: Image.Image, window: tuple[float, float] | None = None) -> Image.Image:
    """An image in any PIL mode as 8-bit RGB. Grey images of 16 or 32 bits, or floats (common in medical
    imaging), are mapped linearly to 0-255 (PIL alone would clip them to white): from the fixed ``window`` (low,
    high; values outside it clipped), which keeps an image's level (CT in Hounsfield units, an X-ray's exposure),
    or without one from the image's own minimum and maximum, which erases it; a constant image becomes black."""
    if image.mode in _WIDE_MODES:
        values = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(to_uint8(values, *(window if window is not None else own_range(values))))
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


def decode_levels(path: Path | str, size: int) -> np.ndarray | None:
    """A file of more than 8 bits per pixel as float32 (size, size) grey values at its own depth, squashed with
    bilinear filtering; None for a file of 8 bits or fewer per channel."""
    with Image.open(path) as image:
        if image.mode not in _WIDE_MODES:
            return None
        values = np.asarray(image, dtype=LEVELS_DTYPE)
    return np.asarray(Image.fromarray(values).resize((size, size), Image.BILINEAR), dtype=LEVELS_DTYPE)


@dataclass
class _Decoded:
    """What a chunk of files decoded to: uint8 ``images``, the ``levels`` of its ``wide`` files (when kept) and
    the failures as (position, reason)."""

    images: np.ndarray
    levels: np.ndarray | None
    wide: np.ndarray
    failures: list[tuple[int, str]]


def _decode_chunk(paths: Sequence[str], size: int, window: Window | None = None) -> _Decoded:
    """Decode ``paths``; failures leave a black image. With a :class:`PercentileWindow` the files of more than 8
    bits keep their values (:func:`decode_levels`) and their image is scaled by its own range until a split
    maps it."""
    keep_levels = isinstance(window, PercentileWindow)
    images = np.zeros((len(paths), size, size, 3), dtype=np.uint8)
    levels = np.zeros((len(paths), size, size), dtype=LEVELS_DTYPE) if keep_levels else None
    wide = np.zeros(len(paths), dtype=bool)
    failures = []
    for i, path in enumerate(paths):
        try:
            values = decode_levels(path, size) if keep_levels else None
            if values is None:
                images[i] = decode_image(path, size, None if keep_levels else window)
            else:
                levels[i], wide[i] = values, True
                images[i] = to_uint8(values, *own_range(values))[..., None]
        except Exception as error:  # any decoder error is reported by file name, not raised here
            failures.append((i, f"{path}: {type(error).__name__}: {error}"))
    return _Decoded(images, levels, wide, failures)


def _listing(paths: Sequence[Path]) -> list[tuple[str, int, int]]:
    """Each file's path, size and modification time (-1 for a missing file)."""
    files = []
    for path in paths:
        stat = os.stat(path) if os.path.exists(path) else None
        files.append((str(path), stat.st_size if stat else -1, stat.st_mtime_ns if stat else -1))
    return files


def _beside(stem: Path, suffix: str) -> Path:
    """``stem`` with ``suffix`` appended (names may hold dots, so not ``with_suffix``)."""
    return stem.parent / f"{stem.name}{suffix}"


@dataclass
class CachedImages:
    """``images[i]`` is the file ``kept[i]`` of the request; ``failures`` name the files left out;
    ``decoded`` is how many files this call decoded (0 when the cache answered). Under a
    :class:`PercentileWindow`, ``levels`` holds the float32 values of the images of more than 8 bits, at the
    positions ``wide_rows`` of ``images``."""

    images: np.ndarray
    kept: np.ndarray
    failures: list[str] = field(default_factory=list)
    decoded: int = 0
    path: Path | None = None
    wide_rows: np.ndarray | None = None
    levels: np.ndarray | None = None


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

    def entry_key(self, key: dict, paths: Sequence[Path], size: int, window: Window | None = None) -> str:
        if isinstance(window, PercentileWindow):  # the values, not the percentiles, are what the entry holds
            windowed = {"levels": np.dtype(LEVELS_DTYPE).name}
        else:
            windowed = {"window": list(window)} if window is not None else {}
        return config_hash({"key": key, "size": size, "preprocessing": PREPROCESSING, "files": _listing(paths),
                            **windowed})

    def load(self, name: str, key: dict, paths: Sequence[Path], size: int,
             window: Window | None = None) -> CachedImages:
        """The images of ``paths`` at ``size``, from the cache entry ``name`` when it is current. Images of more than
        8 bits are mapped through a fixed ``window`` (see :func:`to_rgb`), or under a :class:`PercentileWindow`
        kept at their own depth as well (:attr:`CachedImages.levels`)."""
        if self.folder is None:
            return self._decode(name, paths, size, None, window)
        prefix = f"{file_stem(name)}-{size}px-"
        stem = self.folder / f"{prefix}{self.entry_key(key, paths, size, window)}"
        keep_levels = isinstance(window, PercentileWindow)
        with self._lock:
            cached = self._read(stem, keep_levels)
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

    def _read(self, stem: Path, keep_levels: bool = False) -> CachedImages | None:
        """The entry at ``stem`` (with its levels when ``keep_levels``), or None when it is absent or damaged (a
        warning names a damaged one, which the caller then replaces)."""
        array, meta, levels_file = _beside(stem, ".npy"), _beside(stem, ".json"), _beside(stem, ".levels.npy")
        if not (array.exists() and meta.exists() and (levels_file.exists() or not keep_levels)):
            return None
        levels = rows = None
        try:
            info = json.loads(meta.read_text())
            images = np.load(array, mmap_mode="c")  # copy-on-write: writable for torch, file untouched
            kept = np.asarray(info["kept"], dtype=np.int64)
            failures = list(info["failures"])
            if len(images) != len(kept) or images.dtype != np.uint8 or images.ndim != 4:
                raise ValueError(f"{len(images)} images of {images.dtype} for {len(kept)} kept files")
            if keep_levels:
                rows = np.asarray(info["wide_rows"], dtype=np.int64)
                levels = np.load(levels_file, mmap_mode="c")
                if levels.dtype != LEVELS_DTYPE or levels.shape != (len(rows), *images.shape[1:3]):
                    raise ValueError(f"levels {levels.dtype} {levels.shape} for {len(rows)} images of more than 8 bits")
                if len(rows) and (rows.min() < 0 or rows.max() >= len(kept)):
                    raise ValueError(f"positions of images of more than 8 bits outside 0..{len(kept) - 1}")
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("image cache: entry %s is damaged (%s); decoding its images again", stem, error)
            return None
        return CachedImages(images, kept, failures, 0, array, rows, levels)

    def _decode(self, name: str, paths: Sequence[Path], size: int, stem: Path | None,
                window: Window | None = None) -> CachedImages:
        """Decode ``paths`` into memory (``stem`` None) or into the cache entry ``stem``, published when whole (with
        its levels under a :class:`PercentileWindow`)."""
        keep_levels = isinstance(window, PercentileWindow)
        shape = (len(paths), size, size, 3)
        if stem is None:
            images = np.empty(shape, dtype=np.uint8)
            levels = np.empty(shape[:3], dtype=LEVELS_DTYPE) if keep_levels else None
            kept, reasons, rows = self._decode_logged(images, levels, name, paths, size, window)
            if keep_levels and len(rows) < len(paths):
                levels = levels[kept[rows]]
            return CachedImages(images[kept] if reasons else images, kept, reasons, len(paths), None, rows, levels)
        levels_bytes = len(paths) * size * size * np.dtype(LEVELS_DTYPE).itemsize
        levels_entry = (write_atomically(_beside(stem, ".levels.npy"), levels_bytes) if keep_levels
                        else contextlib.nullcontext())
        with write_atomically(_beside(stem, ".npy"), len(paths) * size * size * 3) as partial, \
                levels_entry as levels_partial:  # published in reverse: the levels, then the images
            images = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=shape)
            levels = None
            if keep_levels:
                levels = np.lib.format.open_memmap(levels_partial, mode="w+", dtype=LEVELS_DTYPE, shape=shape[:3])
            kept, reasons, rows = self._decode_logged(images, levels, name, paths, size, window)
            if reasons:
                kept_images = np.asarray(images)[kept]
                del images
                with open(partial, "wb") as handle:
                    np.save(handle, kept_images)  # rewrite without the unreadable files' rows
            else:
                images.flush()
                del images
            if keep_levels and len(rows) < len(paths):
                kept_levels = np.asarray(levels)[kept[rows]]
                del levels
                with open(levels_partial, "wb") as handle:
                    np.save(handle, kept_levels)  # only the kept files of more than 8 bits
            elif keep_levels:
                levels.flush()
                del levels
            with write_atomically(_beside(stem, ".json")) as meta:  # published first: the array appears last
                meta.write_text(json.dumps({"kept": kept.tolist(), "failures": reasons,
                                            **({"wide_rows": rows.tolist()} if keep_levels else {})}))
        cached = self._read(stem, keep_levels)
        cached.decoded = len(paths)
        return cached

    def _decode_logged(self, images: np.ndarray, levels: np.ndarray | None, name: str, paths: Sequence[Path],
                       size: int, window: Window | None) -> tuple[np.ndarray, list[str], np.ndarray | None]:
        """Fill ``images`` (and ``levels``, see :func:`_decode_chunk`); return the kept files' positions, the
        unreadable files' reasons and, with ``levels``, the positions among the kept files of those of more than 8
        bits."""
        started = time.perf_counter()
        wide = np.zeros(len(paths), dtype=bool)
        failures = self._decode_into(images, levels, wide, [str(p) for p in paths], size, window)
        failed = {i for i, _ in failures}
        kept = np.array([i for i in range(len(paths)) if i not in failed], dtype=np.int64)
        self.decoded += len(paths)
        seconds = time.perf_counter() - started
        log.info("image cache: decoded %d images of %s at %dpx in %.1fs (%.0f images/s, %d threads)",
                 len(paths), name, size, seconds, len(paths) / max(seconds, 1e-9), self._threads(len(paths)))
        rows = np.flatnonzero(wide[kept]) if levels is not None else None
        return kept, [reason for _, reason in failures], rows

    def _threads(self, count: int) -> int:
        return max(1, min(self.workers, count // CHUNK))

    def _decode_into(self, images: np.ndarray, levels: np.ndarray | None, wide: np.ndarray, paths: list[str],
                     size: int, window: Window | None = None) -> list[tuple[int, str]]:
        """Fill ``images`` (and ``levels`` and ``wide``, see :func:`_decode_chunk`) from ``paths`` chunk by chunk;
        return the failures as (index, reason).

        Threads, not processes: Pillow releases the GIL while it decodes and resizes, so threads decode in
        parallel, and unlike a process pool they work inside the local launcher's daemon worker processes
        (which may not have children) and in a process that already runs threads (where fork is unsafe)."""
        chunks = [paths[start:start + CHUNK] for start in range(0, len(paths), CHUNK)]
        threads = self._threads(len(paths))
        failures = []

        def store(number, decoded: _Decoded):
            where = slice(number * CHUNK, number * CHUNK + len(decoded.images))
            images[where] = decoded.images
            wide[where] = decoded.wide
            if levels is not None:
                levels[where] = decoded.levels
            failures.extend((number * CHUNK + i, reason) for i, reason in decoded.failures)

        if threads == 1:
            for number, chunk in enumerate(chunks):
                store(number, _decode_chunk(chunk, size, window))
            return failures
        with ThreadPoolExecutor(threads, thread_name_prefix="tlbench-decode") as pool:
            for number, result in enumerate(pool.map(_decode_chunk, chunks, [size] * len(chunks),
                                                     [window] * len(chunks))):
                store(number, result)
        return failures
