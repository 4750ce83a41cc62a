"""Leak-audit thresholds: recall of augmented copies per transform and false positives per modality, each
modality at its imaging kind's threshold (:func:`imaging_threshold`).

    python perf/audit_thresholds.py --data-root ../shared/data [--sample 100] [--unrelated 1500]

Recall: ``--sample`` real images of each modality get each transform of :data:`TRANSFORMS` (the study's
leaks were augmented copies); a copy is found when the audit's distance (:func:`near_duplicates_within`
on the original and the copy, hashed less the modality's centre) is at most the modality's threshold. Off-centre
crops and shifts are drawn at random positions. Shifts move the content by 10 px of a 224 px image
(4.5% of the side), whatever the size.

False positives: unrelated images of one modality searched against each other as the ``within`` audit
does (every comparison but ``aspect``; centred on the modality's mean and plain both matching; plain alone too, for
comparison), counted per pair and per image (the share of images with any match). X-ray: chest_xray,
pairs of different patients only. Cells: the 367 original BCCD smears (blood_cells/dataset-master; TRAIN
and TEST are augmented copies of a few hundred cells, so their matches are true leaks; not used
here). Natural: cifar10 and natural_images. Fundus and dermoscopy: there is no such real image here
and none can be downloaded, so both are *synthetic stand-ins* drawn by :func:`synthetic_fundus` and
:func:`synthetic_dermoscopy` (a shared round frame and black border, the feature that made two real
fundus photos of different patients match the old hash); their rates say how the hash treats that
framing, not how it treats real fundus or skin photographs.

A last column, not what the audit does, measures the alternative to fundus's lower threshold: the same
fundus stand-ins cut to the inscribed square of their round field (:func:`inscribed_square`, after any
transform), at the default threshold.

Also printed: each chest_xray image against its PneumoniaMNIST counterpart (the ``aspect`` comparison,
between datasets), as the threshold was first measured.
"""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from benchmark.data.audithashes import HashCache
from benchmark.data.perceptualhash import (
    BITS,
    MATCHES,
    THRESHOLD,
    block_hashes,
    dataset_centre,
    grey_image_blocks,
    imaging_threshold,
    near_duplicates,
    near_duplicates_within,
)
from benchmark.registry.pluginmanager import load_catalog

THRESHOLDS = (11, 13, 15, 17, 19, 21)


def _crop(image: Image.Image, rng: np.random.Generator, centred: bool) -> Image.Image:
    w, h = image.size
    left, top = (0.1, 0.1) if centred else rng.uniform(0, 0.2, 2)
    return image.crop((round(left * w), round(top * h), round((left + 0.8) * w), round((top + 0.8) * h)))


def _shift(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    step = 10 / 224 * min(image.size)
    angle = rng.uniform(0, 2 * np.pi)
    dx, dy = step * np.cos(angle), step * np.sin(angle)
    return image.transform(image.size, Image.AFFINE, (1, 0, -dx, 0, 1, -dy), Image.BILINEAR)


def _reencode(image: Image.Image) -> Image.Image:
    buffer = io.BytesIO()
    image.resize((max(8, round(image.width * 0.6)), max(8, round(image.height * 0.6))), Image.BICUBIC).save(
        buffer, "JPEG", quality=50)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


TRANSFORMS = {
    "flip h": lambda im, rng: im.transpose(Image.FLIP_LEFT_RIGHT),
    "flip v": lambda im, rng: im.transpose(Image.FLIP_TOP_BOTTOM),
    "rot 90": lambda im, rng: im.transpose(Image.ROTATE_90),
    "rot 180": lambda im, rng: im.transpose(Image.ROTATE_180),
    "rot 270": lambda im, rng: im.transpose(Image.ROTATE_270),
    "transpose": lambda im, rng: im.transpose(Image.TRANSPOSE),
    "rot 10°": lambda im, rng: im.rotate(rng.choice([-10, 10]), Image.BILINEAR),
    "rot 7° ": lambda im, rng: im.rotate(rng.choice([-7, 7]), Image.BILINEAR),
    "crop 80% centre": lambda im, rng: _crop(im, rng, True),
    "crop 80% off-centre": lambda im, rng: _crop(im, rng, False),
    "shift 10 px": _shift,
    "invert": lambda im, rng: ImageOps.invert(im),
    "re-encode": lambda im, rng: _reencode(im),
}


def synthetic_fundus(rng: np.random.Generator, side: int = 256) -> Image.Image:
    """A fundus-photo stand-in: black frame, orange disc darker to its rim, a bright optic disc, a tree of
    dark vessels and a few spots, all drawn at random."""
    y, x = np.mgrid[:side, :side] / side - 0.5
    radius = np.hypot(x, y)
    shade = np.clip(1 - (radius / 0.46) ** 2 * 0.6, 0, 1) * (radius < 0.46)
    base = np.stack([200 * shade, 90 * shade, 40 * shade], -1) * rng.uniform(0.8, 1.1)
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    disc = rng.uniform([0.3, 0.4], [0.7, 0.6]) * side
    draw.ellipse([*(disc - side * 0.06), *(disc + side * 0.06)], fill=(250, 220, 150))
    for _ in range(rng.integers(6, 10)):  # vessels leave the optic disc and wander towards the rim
        point, heading = disc.copy(), rng.uniform(0, 2 * np.pi)
        width = int(rng.integers(2, 5))
        for _ in range(40):
            heading += rng.normal(0, 0.25)
            step = point + side * 0.012 * np.array([np.cos(heading), np.sin(heading)])
            draw.line([*point, *step], fill=(120, 30, 20), width=width)
            point = step
    for _ in range(rng.integers(0, 8)):
        centre, size = rng.uniform(0.2, 0.8, 2) * side, rng.uniform(2, 6)
        draw.ellipse([*(centre - size), *(centre + size)], fill=(240, 200, 120) if rng.random() < 0.5 else (90, 10, 10))
    mask = Image.fromarray(((radius < 0.46) * 255).astype(np.uint8))
    return Image.composite(image.filter(ImageFilter.GaussianBlur(1)), Image.new("RGB", image.size), mask)


def synthetic_dermoscopy(rng: np.random.Generator, side: int = 256) -> Image.Image:
    """A dermoscopy stand-in: skin-tone texture, a darker irregular lesion near the centre, hairs, and the
    dermatoscope's round black vignette."""
    y, x = np.mgrid[:side, :side] / side - 0.5
    noise = np.asarray(Image.fromarray(rng.integers(0, 255, (side // 8, side // 8), dtype=np.uint8)).resize(
        (side, side), Image.BICUBIC), dtype=float) / 255
    tone = rng.uniform([190, 140, 120], [230, 180, 160])
    skin = tone * (0.9 + 0.15 * noise[..., None])
    angle = np.arctan2(y, x)
    boundary = 0.18 + sum(rng.uniform(0, 0.04) * np.cos(k * angle + rng.uniform(0, 6)) for k in range(2, 6))
    centre = rng.normal(0, 0.04, 2)
    inside = np.hypot(x - centre[0], y - centre[1]) < boundary
    lesion = rng.uniform([80, 40, 30], [140, 90, 70]) * (0.8 + 0.4 * noise[..., None])
    image = np.where(inside[..., None], lesion, skin)
    image *= (np.hypot(x, y) < rng.uniform(0.5, 0.6))[..., None]
    picture = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1))
    draw = ImageDraw.Draw(picture)
    for _ in range(rng.integers(0, 6)):
        start = rng.uniform(0, side, 2)
        draw.line([*start, *(start + rng.normal(0, side / 4, 2))], fill=(40, 30, 25), width=1)
    return picture


def inscribed_square(image: Image.Image) -> Image.Image:
    """The square inside :func:`synthetic_fundus`'s round field (radius 0.46 of the side, centred)."""
    w, h = image.size
    half = 0.46 / np.sqrt(2)
    return image.crop((round((0.5 - half) * w), round((0.5 - half) * h), round((0.5 + half) * w),
                       round((0.5 + half) * h)))


def _files(root: Path, pattern: str) -> list[Path]:
    return sorted(root.glob(pattern))


def modalities(root: Path, rng: np.random.Generator, unrelated: int) -> dict[str, dict]:
    """For each modality: image loaders (``images``), their groups (same group: may truly match), its
    imaging kind, and ``prepare``, applied to each image (after any transform) before hashing."""
    chest = _files(root, "chest_xray/train/*/*.jpeg")
    patients = {row.split(",")[0]: row.split(",")[2] for row in
                (root / "chest_xray" / "manifest.csv").read_text().splitlines()[1:]}
    natural = _files(root, "cifar10/train/*/*.jpg")[::4] + _files(root, "natural_images/*/*.jpg")[::3]

    def sample(paths, count):
        return [paths[k] for k in sorted(rng.choice(len(paths), min(count, len(paths)), replace=False))]

    chest = sample(chest, unrelated)
    synthetic = {name: [draw(np.random.default_rng(seed)) for seed in range(min(unrelated, 400))]
                 for name, draw in (("fundus", synthetic_fundus), ("dermoscopy", synthetic_dermoscopy))}
    return {
        "X-ray (chest_xray)": {"images": chest, "groups": [_patient(p, patients) for p in chest], "imaging": "xray"},
        "cells (BCCD originals)": {"images": _files(root, "blood_cells/dataset-master/JPEGImages/*.jpg"),
                                   "groups": None, "imaging": "cells"},
        "natural (cifar10, natural_images)": {"images": sample(natural, unrelated), "groups": None,
                                              "imaging": "natural"},
        "fundus (synthetic stand-in)": {"images": synthetic["fundus"], "groups": None, "imaging": "fundus"},
        "dermoscopy (synthetic stand-in)": {"images": synthetic["dermoscopy"], "groups": None,
                                            "imaging": "dermoscopy"},
        "fundus stand-in, field's inscribed square (alternative)": {
            "images": synthetic["fundus"], "groups": None, "imaging": "other", "prepare": inscribed_square},
    }


def _patient(path: Path, patients: dict[str, str]) -> str:
    key = next((k for k in (str(path), path.name, f"{path.parent.name}/{path.name}") if k in patients), None)
    return patients[key] if key else path.name


def _open(item) -> Image.Image:
    if isinstance(item, Image.Image):
        return item.convert("RGB")
    with Image.open(item) as image:
        return image.convert("RGB")


def _blocks(image: Image.Image, prepare=None) -> np.ndarray:
    return grey_image_blocks((prepare(image) if prepare else image).convert("L"))


def centre_of(images: list, prepare=None) -> np.ndarray:
    """The modality's centre, as the audit takes a dataset's: from up to 256 of its images, evenly spaced."""
    picked = np.unique(np.linspace(0, len(images) - 1, min(len(images), 256)).round().astype(int))
    return dataset_centre(np.stack([_blocks(_open(images[k]), prepare)[0] for k in picked]))


def recall(images: list, count: int, rng: np.random.Generator, centre: np.ndarray, threshold: int,
           prepare=None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """For each transform: whether the audit (hashes less the modality's ``centre`` and plain ones, as
    within a dataset) finds each of ``count`` images' copy at ``threshold``, and the copy's distance (the
    smallest over every comparison; BITS + 1: none)."""
    results = {name: ([], []) for name in TRANSFORMS}
    for item in images[:count]:
        original = _blocks(_open(item), prepare)
        for name, transform in TRANSFORMS.items():
            blocks = np.stack([original, _blocks(transform(_open(item), rng), prepare)])
            pair, plain = block_hashes(blocks, centre), block_hashes(blocks)
            _, _, distance, _ = near_duplicates_within(pair, BITS, plain)
            results[name][0].append(len(near_duplicates_within(pair, threshold, plain)[0]) > 0)
            results[name][1].append(distance[0] if len(distance) else BITS + 1)
    return {name: (np.array(found), np.array(distance)) for name, (found, distance) in results.items()}


def false_positives(images: list, groups, centre: np.ndarray | None, threshold: int,
                    prepare=None) -> tuple[np.ndarray, np.ndarray, int, list]:
    """Pairs and images the audit matches at each of THRESHOLDS and at ``threshold`` (last) among unrelated
    images (hashed less ``centre`` and plain, or plain only if None), the pairs compared, and the
    comparisons that matched at ``threshold``."""
    blocks = [_blocks(_open(item), prepare) for item in images]
    hashes = np.stack([block_hashes(b, centre) for b in blocks])
    plain = None if centre is None else np.stack([block_hashes(b) for b in blocks])
    groups = None if groups is None else np.asarray(groups)
    sizes = np.unique(groups, return_counts=True)[1] if groups is not None else np.ones(len(images), int)
    total = int((len(images) ** 2 - (sizes ** 2).sum()) // 2)
    pairs, flagged, matched = [], [], []
    for tried in (*THRESHOLDS, threshold):
        i, j, _, how = near_duplicates_within(hashes, tried, plain)
        if groups is not None:
            keep = groups[i] != groups[j]
            i, j, how = i[keep], j[keep], how[keep]
        pairs.append(len(i))
        flagged.append(len(np.unique(np.concatenate([i, j]))))
        if tried == threshold:
            matched = sorted({MATCHES[m] for m in how})
    return np.array(pairs), np.array(flagged) / len(images), total, matched


def chest_counterparts(root: Path, cache_dir: Path) -> None:
    """Each chest_xray image's distance to its nearest PneumoniaMNIST image (both come from Kermany's set)."""
    catalog, cache = load_catalog(), HashCache(cache_dir)
    chest, pnm = (cache.task_images(*catalog.tasks()[name], root) for name in ("chest_xray", "pneumoniamnist"))
    i, _, _, how = near_duplicates(chest.hashes, pnm.hashes, THRESHOLD)
    print(f"chest_xray images with a PneumoniaMNIST image within {THRESHOLD} (between datasets, every comparison): "
          f"{len(np.unique(i)) / len(chest.hashes):.3f}; matched by {sorted({MATCHES[m] for m in how})}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--sample", type=int, default=100, help="images per modality for the recall table")
    parser.add_argument("--unrelated", type=int, default=1500, help="images per modality for false positives")
    parser.add_argument("--skip-counterparts", action="store_true", help="leave out chest_xray x PneumoniaMNIST")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    sets = modalities(args.data_root, rng, args.unrelated)

    thresholds = {name: imaging_threshold(spec["imaging"]) for name, spec in sets.items()}
    print(f"Recall at each modality's threshold (of {BITS} bits: its imaging kind's, in the header; "
          f"{args.sample} images per modality; in brackets the median distance, the smallest over every comparison):")
    print("| transform | " + " | ".join(f"{name}, t={thresholds[name]}" for name in sets) + " |")
    print("|---|" + "---|" * len(sets))
    centres = {name: centre_of(spec["images"], spec.get("prepare")) for name, spec in sets.items()}
    found = {name: recall(spec["images"], args.sample, rng, centres[name], thresholds[name], spec.get("prepare"))
             for name, spec in sets.items()}
    for transform in TRANSFORMS:
        cells = [f"{found[m][transform][0].mean():.2f} ({np.median(found[m][transform][1]):.0f})" for m in sets]
        print(f"| {transform.strip()} | " + " | ".join(cells) + " |")

    print("\nFalse positives among unrelated images (per pair / share of images with a match), hashes "
          "centred on the modality and plain, both within the threshold, as the audit decides within a dataset; "
          "then plain alone:")
    columns = " | ".join(f"t={t}" for t in THRESHOLDS)
    print(f"| modality | hashes | images | pairs | {columns} | at its threshold | matched by there |")
    print("|---|---|---|---|" + "---|" * len(THRESHOLDS) + "---|---|")
    for name, spec in sets.items():
        for label, centre in (("centred and plain", centres[name]), ("plain", None)):
            pairs, per_image, total, matched = false_positives(spec["images"], spec["groups"], centre,
                                                               thresholds[name], spec.get("prepare"))
            cells = [f"{p / total:.1e} / {f:.1e}" if p else "0" for p, f in zip(pairs, per_image, strict=True)]
            print(f"| {name} | {label} | {len(spec['images'])} | {total:.3g} | " + " | ".join(cells[:-1]) +
                  f" | t={thresholds[name]}: {cells[-1]} | {', '.join(matched) or '-'} |")
    if not args.skip_counterparts:
        chest_counterparts(args.data_root, Path(tempfile.mkdtemp()))


if __name__ == "__main__":
    main()
