"""The perceptual hashes of each task's images, computed once and kept under ``cache_dir/audit``.

A file dataset's images are its original files (not the run's squashed copies), hashed by one process
per core; its entry is keyed by every file's path, size and modification time, so a changed file is
hashed again. A dataset without files is loaded at :data:`~benchmark.data.perceptualhash.HASH_SIDE` px
(the size the hash works at) and keyed by its name, version and task. The near-duplicate pairs found
between two entries are kept too, keyed by both entries and the threshold, so an audit on a warm cache
neither decodes nor compares. Every write is atomic; an unreadable entry is recomputed.

Each task keeps two sets of hashes: plain ones (compared with other datasets) and ones centred on the
task's own mean (:func:`~benchmark.data.perceptualhash.dataset_centre`, from up to :data:`CENTRE_SAMPLE`
of its images, evenly spaced), compared within the task.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.data.filedatasets import FileDataset
from benchmark.data.perceptualhash import (
    HASH_SIDE,
    HASH_VERSION,
    VARIANTS,
    WORDS,
    array_blocks,
    array_hashes,
    block_hashes,
    dataset_centre,
    file_blocks,
)
from benchmark.datasets import Dataset, Task
from benchmark.engine.threads import usable_cores
from benchmark.files.cachefiles import write_atomically
from benchmark.hashing import config_hash
from benchmark.names import file_stem

log = logging.getLogger(__name__)

CHUNK = 64  # files per task sent to a worker process
CENTRE_SAMPLE = 256  # images a task's centre is the mean of


@dataclass
class TaskImages:
    """The hashed images of one task, in the task's order less any unreadable file, with what its
    split is made from. ``key`` identifies the hashes; ``names`` are file paths or ``task[index]``."""

    task: str
    key: str
    names: list[str]
    hashes: np.ndarray  # (N, VARIANTS, WORDS) uint64, plain: compared with other tasks
    centred: np.ndarray  # the same, less the task's centre: compared within the task
    labels: np.ndarray
    groups: np.ndarray | None = None
    official_split: np.ndarray | None = None
    official_by_default: bool = False
    official_split_default: bool = False  # the dataset's (Dataset.official_split_default)


def _whole_blocks(paths: Sequence[str]) -> np.ndarray:
    """The whole-image blocks of the readable ``paths`` (what a centre is the mean of)."""
    blocks = []
    for path in paths:
        try:
            blocks.append(file_blocks(path)[0])
        except Exception:  # an unreadable file is reported when the hashes are made
            continue
    return np.array(blocks, dtype=np.float32).reshape(len(blocks), -1)


def _hash_chunk(paths: Sequence[str], centre: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[tuple[int, str]]]:
    """Plain and centred hashes of ``paths``; failures come back as (position, reason)."""
    hashes = np.zeros((2, len(paths), VARIANTS, WORDS), dtype=np.uint64)
    failures = []
    for i, path in enumerate(paths):
        try:
            blocks = file_blocks(path)
        except Exception as error:  # any decoder error is reported by file name, not raised
            failures.append((i, f"{path}: {type(error).__name__}: {error}"))
            continue
        hashes[0, i], hashes[1, i] = block_hashes(blocks), block_hashes(blocks, centre)
    return hashes[0], hashes[1], failures


def _usable(entry: dict | None, *names: str) -> bool:
    """Whether a read entry has both sets of hashes, of the current shape, and ``names``."""
    return (entry is not None and {"hashes", "centred", *names} <= set(entry)
            and entry["hashes"].shape[1:] == (VARIANTS, WORDS) and entry["centred"].shape == entry["hashes"].shape)


def _evenly_spaced(count: int) -> np.ndarray:
    return np.unique(np.linspace(0, count - 1, min(count, CENTRE_SAMPLE)).round().astype(np.int64))


def _entry_prefix(dataset: Dataset, task: Task) -> str:
    """The start of the file names of a task's hash entries (see :func:`benchmark.names.file_stem`)."""
    return f"{file_stem(f'{dataset.name}-{task.name}')}-"


def _optional(arrays: dict, name: str) -> np.ndarray | None:
    return arrays[name] if name in arrays else None


class HashCache:
    """Task hashes and near-duplicate pairs under ``cache_dir/audit``. ``decoded`` counts the images
    this object hashed (0 when the cache answered)."""

    def __init__(self, cache_dir: Path, workers: int | None = None):
        self.folder = Path(cache_dir) / "audit"
        self.workers = workers or usable_cores()
        self.decoded = 0

    def task_images(self, dataset: Dataset, task: Task, root: Path) -> TaskImages:
        if isinstance(dataset, FileDataset):
            return self._file_task(dataset, task, root)
        return self._array_task(dataset, task, root)

    def pairs(self, kind: str, a: TaskImages, b: TaskImages, threshold: int, find) -> tuple[np.ndarray, ...]:
        """``find(a, b, threshold)``'s (i, j, distance, how), from the cache when it has them."""
        path = self.folder / "pairs" / f"{kind}-{a.key}-{b.key}-t{threshold}.npz"
        names = ("i", "j", "distance", "how")
        cached = self._read(path)
        if cached is not None and set(names) <= set(cached):
            return tuple(cached[name] for name in names)
        found = find(a, b, threshold)
        self._write(path, dict(zip(names, found, strict=True)))
        return found

    def findings(self, key: str, compute: Callable[[], list[dict]]) -> list[dict]:
        """``compute()``'s findings (JSON values), from the cache when stored under ``key``: the caller's key holds
        every input they depend on (the hashes' key among them), so changed images or settings miss."""
        path = self.folder / "findings" / f"{key}.npz"
        cached = self._read(path)
        if cached is not None and "json" in cached:
            return json.loads(str(cached["json"]))
        found = compute()
        self._write(path, {"json": np.array(json.dumps(found))})
        return found

    def _file_task(self, dataset: FileDataset, task: Task, root: Path) -> TaskImages:
        files = dataset.files(task, root)
        stamps = []
        for path in files.paths:
            stat = os.stat(path)
            stamps.append((str(path), stat.st_size, stat.st_mtime_ns))
        key = config_hash({"dataset": dataset.name, "version": dataset.version, "task": task.name,
                           "hash": HASH_VERSION, "files": stamps})
        path = self.folder / f"{_entry_prefix(dataset, task)}{key}.npz"
        entry = self._read(path)
        if not _usable(entry, "kept"):
            entry = self._hash_files([str(p) for p in files.paths], task.name)
            self._replace(path, entry, _entry_prefix(dataset, task))
        kept = entry["kept"]

        def pick(values):
            return None if values is None else np.asarray(values)[kept]

        return TaskImages(task.name, key, [str(files.paths[i]) for i in kept], entry["hashes"], entry["centred"],
                          files.labels[kept], pick(files.groups), pick(files.official_split),
                          files.official_by_default, dataset.official_split_default)

    def _hash_files(self, paths: list[str], name: str) -> dict:
        hashes = np.empty((2, len(paths), VARIANTS, WORDS), dtype=np.uint64)
        sample = [paths[i] for i in _evenly_spaced(len(paths))]
        processes = max(1, min(self.workers, len(paths) // CHUNK))
        if processes == 1:
            centre = dataset_centre(_whole_blocks(sample))
            results = [_hash_chunk(paths[start:start + CHUNK], centre) for start in range(0, len(paths), CHUNK)]
        else:
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
            with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context(method)) as pool:
                share = -(-len(sample) // processes)
                parts = pool.map(_whole_blocks, [sample[k:k + share] for k in range(0, len(sample), share)])
                centre = dataset_centre(np.concatenate(list(parts)))
                chunks = [paths[start:start + CHUNK] for start in range(0, len(paths), CHUNK)]
                results = list(pool.map(_hash_chunk, chunks, [centre] * len(chunks)))
        failures = []
        for number, (plain, centred, chunk_failures) in enumerate(results):
            hashes[:, number * CHUNK:number * CHUNK + len(plain)] = plain, centred
            failures += [(number * CHUNK + i, reason) for i, reason in chunk_failures]
        self.decoded += len(paths)
        failed = {i for i, _ in failures}
        if failures:
            log.warning("audit: %d unreadable image(s) of %s left out:\n  %s", len(failures), name,
                        "\n  ".join(reason for _, reason in failures))
        log.info("audit: hashed %d images of %s (%d processes)", len(paths), name, processes)
        kept = np.array([i for i in range(len(paths)) if i not in failed], dtype=np.int64)
        return {"hashes": hashes[0, kept], "centred": hashes[1, kept], "kept": kept}

    def _array_task(self, dataset: Dataset, task: Task, root: Path) -> TaskImages:
        key = config_hash({"dataset": dataset.name, "version": dataset.version, "task": task.name,
                           "hash": HASH_VERSION, "size": HASH_SIDE})
        path = self.folder / f"{_entry_prefix(dataset, task)}{key}.npz"
        entry = self._read(path)
        if not _usable(entry, "labels", "official_by_default"):
            imageset = dataset.load(task, root, HASH_SIDE)
            sample = imageset.images[_evenly_spaced(len(imageset.images))]
            centre = dataset_centre(array_blocks(sample, self.workers)[:, 0])
            plain, centred = array_hashes(imageset.images, centre, self.workers)
            entry = {"hashes": plain, "centred": centred, "labels": imageset.labels,
                     "official_by_default": np.array(imageset.official_by_default)}
            for name in ("groups", "official_split"):
                if getattr(imageset, name) is not None:
                    # unicode, not object arrays: entries are read without pickle
                    values = np.asarray(getattr(imageset, name))
                    entry[name] = values.astype(str) if values.dtype == object else values
            self.decoded += len(imageset.labels)
            log.info("audit: hashed %d images of %s", len(imageset.labels), task.name)
            self._replace(path, entry, _entry_prefix(dataset, task))
        names = [f"{task.name}[{i}]" for i in range(len(entry["labels"]))]
        return TaskImages(task.name, key, names, entry["hashes"], entry["centred"], entry["labels"],
                          _optional(entry, "groups"),
                          _optional(entry, "official_split"), bool(entry["official_by_default"]),
                          dataset.official_split_default)

    def _replace(self, path: Path, arrays: dict, prefix: str) -> None:
        """Write ``path`` and remove the entries it supersedes."""
        self._write(path, arrays)
        for stale in path.parent.glob(f"{prefix}*.npz"):
            if stale != path:
                stale.unlink(missing_ok=True)

    @staticmethod
    def _read(path: Path) -> dict | None:
        """The arrays of an entry, or None when it is absent or damaged (a warning names a damaged one)."""
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as error:
            log.warning("audit: hash cache entry %s is damaged (%s); hashing again", path, error)
            return None

    @staticmethod
    def _write(path: Path, arrays: dict) -> None:
        """Write the entry atomically; a cache that cannot be written only costs hashing again next time."""
        try:
            with write_atomically(path, sum(np.asarray(a).nbytes for a in arrays.values())) as partial:
                with open(partial, "wb") as handle:
                    np.savez(handle, **arrays)
        except OSError as error:
            log.warning("audit: could not write the hash cache entry %s (%s)", path, error)
