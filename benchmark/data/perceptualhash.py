"""Perceptual hashes of images and the search for near-duplicate pairs among them.

The hash is the classic pHash widened to 144 bits: the grey image's centre square is resized to
32x32, its 2-D DCT taken, and the 12x12 lowest frequencies after the first row and column (pHash's
block, which leaves out the DC term) are thresholded at their median. It survives resizing, JPEG
recompression and MedMNIST's 28 px downsizing. 64 bits (the classic 8x8 block) do not tell chest
X-rays of different patients apart: at the distance that finds 98% of chest_xray's PneumoniaMNIST
copies, 3e-5 of such pairs matched; at 144 bits none did (README, "Leak audit").

A square image may be a copy squashed from a wider or taller original, whose centre square another
dataset holds (Kermany's chest X-rays here, squashed to 224x224, against PneumoniaMNIST, centre
cropped). A square image therefore also gets one hash per :data:`CROP_FRACTIONS` of its width and of
its height (centre crops, stretched back to square); a pair's distance is the smallest between one
image's crops and the other's centre square. A non-square image's crop rows repeat its centre square.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

HASH_SIDE = 32
BLOCK = 12
BITS = BLOCK * BLOCK
WORDS = (BITS + 63) // 64
THRESHOLD = 17  # largest Hamming distance of two near-duplicates' hashes (measured: README, "Leak audit")
CROP_FRACTIONS = tuple(round(0.5 + 0.025 * k, 3) for k in range(20))  # 0.5 ... 0.975
VARIANTS = 1 + 2 * len(CROP_FRACTIONS)
# Bump when anything above changes: cached hashes are then recomputed.
HASH_VERSION = "dct32-block12-median-crops0.025-v1"
_CHUNK_ELEMENTS = 1 << 22  # hash pairs compared at once (32 MiB of XOR)


def _boxes(width: int, height: int) -> list[tuple[float, float, float, float]]:
    """The centre square (at sub-pixel precision: a half-pixel shift moves the higher frequencies),
    then, for a square image only, its centre crops by width and by height."""
    side = min(width, height)
    left, top = (width - side) / 2, (height - side) / 2
    boxes = [(left, top, left + side, top + side)]
    if width != height:
        return boxes
    for fraction in CROP_FRACTIONS:
        margin = side * (1 - fraction) / 2
        boxes.append((margin, 0.0, side - margin, side))
    for fraction in CROP_FRACTIONS:
        margin = side * (1 - fraction) / 2
        boxes.append((0.0, margin, side, side - margin))
    return boxes


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Boolean (..., BITS) as uint64 (..., WORDS)."""
    packed = np.packbits(bits, axis=-1, bitorder="little")
    padding = np.zeros(packed.shape[:-1] + (WORDS * 8 - packed.shape[-1],), dtype=np.uint8)
    return np.concatenate([packed, padding], axis=-1).view("<u8")


def dct_hashes(thumbnails: np.ndarray, workers: int = 1) -> np.ndarray:
    """Hashes of grey (..., HASH_SIDE, HASH_SIDE) thumbnails as uint64 (..., WORDS), the transforms
    spread over ``workers`` threads."""
    from scipy.fft import dctn  # here: scipy takes 0.4 s to import, which `tlbench audit --help` need not wait

    spectrum = dctn(np.asarray(thumbnails, dtype=np.float32), type=2, norm="ortho", axes=(-2, -1), workers=workers)
    low = spectrum[..., 1:BLOCK + 1, 1:BLOCK + 1].reshape(*spectrum.shape[:-2], BITS)
    middle = np.partition(low, (BITS // 2 - 1, BITS // 2), axis=-1)[..., BITS // 2 - 1:BITS // 2 + 1]
    return pack_bits(low > middle.mean(axis=-1, keepdims=True))  # np.median's value, without its overhead


def grey_image_hashes(grey: Image.Image) -> np.ndarray:
    """The (VARIANTS, WORDS) hashes of one grey PIL image: centre square first, then the crops."""
    thumbnails = [np.asarray(grey.resize((HASH_SIDE, HASH_SIDE), Image.BILINEAR, box=box))
                  for box in _boxes(*grey.size)]
    hashes = dct_hashes(np.stack(thumbnails))
    return hashes if len(hashes) == VARIANTS else np.repeat(hashes, VARIANTS, axis=0)


def file_hashes(path: Path | str) -> np.ndarray:
    """:func:`grey_image_hashes` of an image file; JPEGs are decoded at the smallest DCT scale that
    keeps half the short side at :data:`HASH_SIDE` or more."""
    with Image.open(path) as image:
        image.draft("L", (2 * HASH_SIDE, 2 * HASH_SIDE))
        return grey_image_hashes(image.convert("L"))


def array_hashes(images: np.ndarray, workers: int = 1) -> np.ndarray:
    """Hashes of uint8 (N, H, W, 3) images as (N, VARIANTS, WORDS), equal to :func:`grey_image_hashes` of
    each image; ``workers`` threads share the transforms. Images of HASH_SIDE px squares (how the audit
    loads datasets without files) go a batch at a time: each of their crops needs one resampling pass,
    which PIL then does for the whole batch."""
    if images.shape[1:3] != (HASH_SIDE, HASH_SIDE):
        return np.stack([grey_image_hashes(Image.fromarray(image).convert("L")) for image in images])
    hashes = np.empty((len(images), VARIANTS, WORDS), dtype=np.uint64)
    for start in range(0, len(images), _BATCH_IMAGES):
        batch = images[start:start + _BATCH_IMAGES]
        grey = np.asarray(Image.fromarray(batch.reshape(-1, HASH_SIDE, 3)).convert("L"))
        thumbnails = np.stack([_batch_thumbnails(grey.reshape(-1, HASH_SIDE, HASH_SIDE), box)
                               for box in _boxes(HASH_SIDE, HASH_SIDE)], axis=1)
        hashes[start:start + len(batch)] = dct_hashes(thumbnails, workers)
    return hashes


_BATCH_IMAGES = 512


def _batch_thumbnails(grey: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """PIL's bilinear ``resize((HASH_SIDE, HASH_SIDE), box=box)`` of each grey (count, HASH_SIDE,
    HASH_SIDE) image, for a box that spans the full height or the full width, so PIL resamples only
    rows or only columns: one call resamples the rows of images stacked one above another, or the
    columns of images set side by side, and no image's pixels reach another's."""
    count, side = len(grey), HASH_SIDE
    left, top, right, bottom = box
    if (left, right) != (0, side):
        stacked = Image.fromarray(grey.reshape(count * side, side))
        resized = stacked.resize((side, count * side), Image.BILINEAR, box=(left, 0, right, count * side))
        return np.asarray(resized).reshape(count, side, side)
    if (top, bottom) != (0, side):
        beside = Image.fromarray(np.ascontiguousarray(grey.transpose(1, 0, 2)).reshape(side, count * side))
        resized = beside.resize((count * side, side), Image.BILINEAR, box=(0, top, count * side, bottom))
        return np.asarray(resized).reshape(side, count, side).transpose(1, 0, 2)
    return grey


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bitwise distances of broadcastable uint64 (..., WORDS) hashes."""
    return np.bitwise_count(a ^ b).sum(axis=-1, dtype=np.int64)


def near_pairs(a: np.ndarray, b: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (i, j, distance) with ``hamming(a[i], b[j]) <= threshold``, for (n, WORDS) and (m, WORDS)
    hashes; memory stays bounded by comparing chunks of ``a`` against all of ``b``."""
    found = []
    rows = max(1, _CHUNK_ELEMENTS // max(len(b), 1))
    for start in range(0, len(a), rows):
        chunk = a[start:start + rows]
        # the first word alone bounds the distance from below: only its candidates get the full count
        i, j = np.nonzero(np.bitwise_count(chunk[:, None, 0] ^ b[None, :, 0]) <= threshold)
        distance = hamming(chunk[i], b[j])
        keep = distance <= threshold
        found.append((i[keep] + start, j[keep], distance[keep]))
    if not found:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64)
    return tuple(np.concatenate(parts) for parts in zip(*found, strict=True))


def _crop_rows(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The crop hashes that differ from their image's centre square, with their image's index."""
    differs = (hashes[:, 1:] != hashes[:, :1]).any(axis=-1)
    owner, variant = np.nonzero(differs)
    return hashes[owner, variant + 1], owner


def near_duplicates(a: np.ndarray, b: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (i, j, distance) of every pair of images of ``a`` and ``b`` ((n, VARIANTS, WORDS) and
    (m, VARIANTS, WORDS)) within ``threshold``, each pair once at its smallest distance, sorted by i, j."""
    a_crops, a_owner = _crop_rows(a)
    b_crops, b_owner = _crop_rows(b)
    i0, j0, d0 = near_pairs(a[:, 0], b[:, 0], threshold)
    i1, j1, d1 = near_pairs(a_crops, b[:, 0], threshold)
    i2, j2, d2 = near_pairs(a[:, 0], b_crops, threshold)
    i = np.concatenate([i0, a_owner[i1], i2])
    j = np.concatenate([j0, j1, b_owner[j2]])
    distance = np.concatenate([d0, d1, d2])
    order = np.lexsort((distance, j, i))
    i, j, distance = i[order], j[order], distance[order]
    first = np.ones(len(i), dtype=bool)
    first[1:] = (i[1:] != i[:-1]) | (j[1:] != j[:-1])
    return i[first], j[first], distance[first]


def near_duplicates_within(hashes: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (i, j, distance), i < j, of the near-duplicate pairs among one set of images, by their centre
    squares only (one dataset's images share one preprocessing)."""
    i, j, distance = near_pairs(hashes[:, 0], hashes[:, 0], threshold)
    upper = i < j
    return i[upper], j[upper], distance[upper]
