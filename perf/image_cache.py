"""Image cache benchmark: cache-build throughput and a cached load against a fresh decode.

    python perf/image_cache.py [--data-root ../shared/data] [--dataset chest_xray] [--size 64]

Uses a file dataset under the data root when it is available, else writes fake JPEGs to a temporary
folder. Prints images/s for building the cache (one thread per core, and one thread), the time of a
second, cached load (memory-map plus reading every pixel), and the ratio of the two.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmark.data.filedatasets import FileDataset
from benchmark.data.imagecache import ImageCache
from benchmark.engine.threads import usable_cores
from benchmark.registry.pluginmanager import load_catalog


def real_files(root: Path, name: str, limit: int) -> list[Path] | None:
    dataset = load_catalog().datasets.get(name)
    if not isinstance(dataset, FileDataset) or not dataset.status(root).available:
        return None
    paths = dataset.files(dataset.tasks()[0], root).paths
    return [paths[i] for i in np.linspace(0, len(paths) - 1, min(limit, len(paths))).astype(int)]


def fake_files(folder: Path, count: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        pixels = rng.integers(0, 255, size=(32, 32, 3), dtype=np.uint8)
        path = folder / f"{i}.jpg"
        Image.fromarray(pixels).resize((256, 256), Image.BILINEAR).save(path, quality=90)
        paths.append(path)
    return paths


def timed(function):
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=Path(os.environ.get("TLBENCH_DATA", "../shared/data")))
    parser.add_argument("--dataset", default="chest_xray")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--limit", type=int, default=3000, help="at most this many images")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        paths = real_files(args.data_root, args.dataset, args.limit)
        source = f"{args.dataset} under {args.data_root}"
        if paths is None:
            (scratch / "fake").mkdir()
            paths = fake_files(scratch / "fake", min(args.limit, 2000))
            source = "fake 256x256 JPEGs"
        print(f"{len(paths)} images of {source}, squashed to {args.size}px")
        workers = usable_cores()
        build, build_s = timed(lambda: ImageCache(scratch / "cache", workers).load("bench", {}, paths, args.size))
        print(f"cache build, {workers} thread(s): {build_s:6.2f}s  {len(paths) / build_s:8.0f} images/s")
        _, single_s = timed(lambda: ImageCache(None, 1).load("bench", {}, paths, args.size))
        print(f"fresh decode, 1 thread:      {single_s:6.2f}s  {len(paths) / single_s:8.0f} images/s")
        cache = ImageCache(scratch / "cache", workers)
        cached, cached_s = timed(lambda: np.array(cache.load("bench", {}, paths, args.size).images))
        assert cache.decoded == 0 and np.array_equal(cached, np.asarray(build.images))
        print(f"cached load (no decode):     {cached_s:6.3f}s  {len(paths) / cached_s:8.0f} images/s")
        print(f"cached load / fresh decode:  {cached_s / build_s:.4f} ({build_s / cached_s:.0f}x faster than a "
              f"{workers}-thread decode, {single_s / cached_s:.0f}x faster than one thread)")


if __name__ == "__main__":
    main()
