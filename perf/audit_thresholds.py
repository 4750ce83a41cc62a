"""Leak-audit threshold: Hamming distances of true copies against those of unrelated image pairs.

    python perf/audit_thresholds.py --data-root ../shared/data [--cache-dir DIR]

True copies: each chest_xray image against its PneumoniaMNIST counterpart (found by pixel correlation
at 28 px over centre crops of 0.44 to 1.0 of the width, kept when the correlation is 0.97 or more),
the closest PneumoniaMNIST hash of each chest image, and re-encodes of a sample of chest_xray, blood
cell and natural images (resized to 0.6x, JPEG quality 50). Unrelated pairs: cifar10 x chest_xray,
natural_images x blood_cells, cifar10 x natural_images, and two sets of one modality, chest_xray x the
PneumoniaMNIST test part (Kermany's test patients) and chest_xray x chest_xray of different patients.
Prints, for each threshold, the share of true copies found and the false positives per pair and per
image (the share of the first set's images with any match).
"""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from benchmark.data.audit import THRESHOLD
from benchmark.data.audithashes import HashCache
from benchmark.data.perceptualhash import (
    file_hashes,
    grey_image_hashes,
    hamming,
    near_duplicates,
    near_duplicates_within,
)
from benchmark.registry.config import DatasetDeclaration
from benchmark.registry.declared import declared_dataset
from benchmark.registry.pluginmanager import load_catalog

THRESHOLDS = range(9, 24, 2)
LOOSEST = max(THRESHOLDS)
SAMPLE = 300


def task(catalog, root, cache, name):
    dataset, spec = catalog.tasks()[name]
    return cache.task_images(dataset, spec, root)


def pair_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The audit's distance of aligned (n, VARIANTS, WORDS) hashes: the smallest between one image's
    crops and the other's centre square."""
    return np.minimum(hamming(a, b[:, :1]).min(axis=1), hamming(a[:, :1], b).min(axis=1))


def counterparts(chest_paths: list[str], pnm_images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each chest image, the PneumoniaMNIST image that correlates best with one of its centre
    crops, and whether that correlation is 0.97 or more."""
    def standardise(images):
        flat = images.reshape(len(images), -1).astype(np.float32)
        flat -= flat.mean(axis=1, keepdims=True)
        return flat / (np.linalg.norm(flat, axis=1, keepdims=True) + 1e-6)

    targets = standardise(pnm_images)
    greys = [Image.open(path).convert("L") for path in chest_paths]
    best, match = np.full(len(greys), -1.0), np.zeros(len(greys), dtype=np.int64)
    for fraction in np.round(np.arange(0.44, 1.0001, 0.02), 2):
        crops = []
        for grey in greys:
            margin = grey.width * (1 - fraction) / 2
            box = (margin, 0, grey.width - margin, grey.height)
            crops.append(np.asarray(grey.resize((28, 28), Image.BILINEAR, box=box)))
        correlation = standardise(np.stack(crops)) @ targets.T
        top = correlation.argmax(axis=1)
        value = correlation[np.arange(len(top)), top]
        better = value > best
        best[better], match[better] = value[better], top[better]
    return match, best >= 0.97


def reencoded_distances(paths: list[str]) -> np.ndarray:
    distances = []
    for path in paths:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
        buffer = io.BytesIO()
        rgb.resize((round(rgb.width * 0.6), round(rgb.height * 0.6)), Image.BICUBIC).save(buffer, "JPEG", quality=50)
        buffer.seek(0)
        copy = grey_image_hashes(Image.open(buffer).convert("L"))
        distances.append(pair_distance(file_hashes(path)[None], copy[None])[0])
    return np.array(distances)


def unrelated_counts(a: np.ndarray, b: np.ndarray, same_group=None) -> tuple[np.ndarray, np.ndarray, int]:
    """Pairs and first-set images with a match at each threshold, and the number of pairs compared."""
    if same_group is None:
        i, j, distance = near_duplicates(a, b, LOOSEST)
        total = len(a) * len(b)
    else:  # one set against itself by centre squares, as the within audit compares
        i, j, distance = near_duplicates_within(a, LOOSEST)
        keep = same_group[i] != same_group[j]
        i, j, distance = i[keep], j[keep], distance[keep]
        sizes = np.unique(same_group, return_counts=True)[1]
        total = int((len(a) ** 2 - (sizes ** 2).sum()) // 2)
    pairs = np.array([(distance <= t).sum() for t in THRESHOLDS])
    images = np.array([len(np.unique(i[distance <= t])) for t in THRESHOLDS])
    return pairs, images / len(a), total


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()
    root = args.data_root
    cache = HashCache(args.cache_dir or Path(tempfile.mkdtemp()))
    catalog = load_catalog()
    catalog.add("datasets", declared_dataset(DatasetDeclaration(
        "cifar10", "imagefolder", root / "cifar10", modality="natural", roles=frozenset({"source"})), root), "script")
    chest, pnm = task(catalog, root, cache, "chest_xray"), task(catalog, root, cache, "pneumoniamnist")
    blood, natural = task(catalog, root, cache, "blood_cells"), task(catalog, root, cache, "natural_images")
    cifar = task(catalog, root, cache, "cifar10")

    dataset, spec = catalog.tasks()["pneumoniamnist"]
    pnm_images = dataset.load(spec, root, 28).images[..., 0]
    match, confident = counterparts(chest.names, pnm_images)
    truth = pair_distance(chest.hashes[confident], pnm.hashes[match[confident]])
    print(f"chest_xray images with a PneumoniaMNIST counterpart (pixel correlation >= 0.97): {confident.sum()} of "
          f"{len(confident)}; distance to it, percentiles 50/90/99: {np.percentile(truth, [50, 90, 99])}")
    closest = np.full(len(chest.hashes), LOOSEST + 1)
    i, _, distance = near_duplicates(chest.hashes, pnm.hashes, LOOSEST)
    np.minimum.at(closest, i, distance)
    print(f"closest PneumoniaMNIST hash of each chest_xray image, percentiles 10/50/90/99: "
          f"{np.percentile(closest, [10, 50, 90, 99])} ({LOOSEST + 1}: none within {LOOSEST})")
    rng = np.random.default_rng(0)
    reencoded = {}
    for images in (chest, blood, natural):
        reencoded[images.task] = reencoded_distances(rng.choice(images.names, SAMPLE, replace=False))
        print(f"{SAMPLE} {images.task} images resized to 0.6x and re-encoded at JPEG quality 50: distance "
              f"percentiles 50/90/99 {np.percentile(reencoded[images.task], [50, 90, 99])}")

    test_part = pnm.official_split == "test"
    unrelated = {
        "cifar10 x chest_xray": unrelated_counts(cifar.hashes, chest.hashes),
        "natural_images x blood_cells": unrelated_counts(natural.hashes, blood.hashes),
        "cifar10 x natural_images": unrelated_counts(cifar.hashes, natural.hashes),
        "chest_xray x pneumoniamnist test": unrelated_counts(chest.hashes, pnm.hashes[test_part]),
        "chest_xray x chest_xray, other patients": unrelated_counts(chest.hashes, chest.hashes, chest.groups),
    }
    for name, (_, _, total) in unrelated.items():
        print(f"unrelated {name}: {total:.3g} pairs")
    header = "threshold  counterparts  re-encoded: " + " ".join(reencoded) + "  unrelated: " + "  ".join(
        f"{name} (per pair / per image)" for name in unrelated)
    print(header)
    for k, threshold in enumerate(THRESHOLDS):
        rates = "  ".join(f"{pairs[k] / total:.1e} / {per_image[k]:.1e}"
                          for pairs, per_image, total in unrelated.values())
        marker = "  <- THRESHOLD" if threshold == THRESHOLD else ""
        caught = " ".join(f"{(distances <= threshold).mean():.3f}" for distances in reencoded.values())
        print(f"{threshold:9d}  {(truth <= threshold).mean():12.3f}  {caught}  {rates}{marker}")


if __name__ == "__main__":
    main()
