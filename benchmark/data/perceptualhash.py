"""Perceptual hashes of images and the search for near-duplicate pairs among them, augmented copies included.

The hash is the classic pHash widened to 144 bits: a grey 32x32 thumbnail's 2-D DCT, whose 12x12 lowest
frequencies after the first row and column (pHash's block, which leaves out the DC term) are thresholded
at their median. It survives resizing, JPEG recompression and MedMNIST's 28 px downsizing; 64 bits (the
classic 8x8 block) do not tell chest X-rays of different patients apart (docs/audit.md).

One hash cannot see an augmented copy: a flip, a 90° turn, a 10° rotation, an 80% crop or a 10-px shift
moves the phases the bits encode. Each image therefore gets several hashes (:data:`VARIANTS` rows, laid
out by the ``*_ROWS`` ranges below), and a pair's distance is the smallest over the comparisons of
:data:`COMPARISONS`, each an *anchor* row of one image against *reference* rows of the other:

- ``copy``: the whole image squashed to 32x32 against the other's (the one comparison of old);
- ``dihedral``: the whole image under the 7 flips and right-angle turns, against the other's whole
  image, :data:`EXACT_MARGIN` bits below the threshold (the transforms are exact);
- ``inverted``: the whole image negated (an inverted copy negates every coefficient), as strictly;
- ``crop``: the whole image against windows of 80% of the other's side at every offset of a grid
  (:data:`GRID_STEPS` px of its 40 px view), so an 80% crop anywhere is found;
- ``shift``: the centre 80% window against the same grid, so a shifted copy is found;
- ``rotation``: the whole image and its centre window against the other's turned by :data:`ANGLES`;
- ``aspect`` (between datasets only): centre crops of 50% to 97.5% of the width or height, stretched back
  to square, against the other's whole image: a copy squashed from a wider original (Kermany's chest
  X-rays squashed to 224x224 against PneumoniaMNIST's centre squares).

Images of one dataset often share a frame (a fundus photo's black border and round field, an X-ray's
layout) that dominates the low frequencies, so different images hash alike. Within one dataset the bits
are therefore taken from the coefficients less the dataset's mean (:func:`dataset_centre`, made
invariant to the 8 flips and turns so that they stay exact), and a pair must match in the plain hashes
too; the plain hashes alone serve between datasets.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
from PIL import Image

HASH_SIDE = 32
BLOCK = 12
BITS = BLOCK * BLOCK
WORDS = (BITS + 63) // 64
THRESHOLD = 17  # largest Hamming distance of two near-duplicates' hashes (measured: docs/audit.md)
# Lower thresholds for the imaging kinds (benchmark.datasets.IMAGING) where THRESHOLD matches unrelated images:
# 400 synthetic fundus stand-ins (shared round field, black border) had 4 pairs (1.8% of images) at 12-13,
# 0 at 11, where flips, turns, inversions, 10° turns and centre crops stay found (docs/audit.md).
IMAGING_THRESHOLDS = {"fundus": 11}
CROP_FRACTIONS = tuple(round(0.5 + 0.025 * k, 3) for k in range(20))  # 0.5 ... 0.975
VIEW_SIDE = 40  # the view augmented windows are cut from: an 80% window is HASH_SIDE px, offsets whole pixels
GRID_STEPS = tuple(range(0, VIEW_SIDE - HASH_SIDE + 1))  # offsets of the 80% windows, 0 ... 8 px (2.5% steps)
CENTRE = (VIEW_SIDE - HASH_SIDE) // 2
ANGLES = (-10.0, -5.0, 5.0, 10.0)

DIHEDRAL_ROWS = range(0, 8)  # row 0: the whole image as it is
ASPECT_ROWS = range(8, 8 + 2 * len(CROP_FRACTIONS))
GRID_ROWS = range(ASPECT_ROWS.stop, ASPECT_ROWS.stop + len(GRID_STEPS) ** 2)
CENTRE_ROW = GRID_ROWS.start + GRID_STEPS.index(CENTRE) * len(GRID_STEPS) + GRID_STEPS.index(CENTRE)
TURNED_ROWS = range(GRID_ROWS.stop, GRID_ROWS.stop + len(ANGLES))  # the whole image turned
TURNED_CENTRE_ROWS = range(TURNED_ROWS.stop, TURNED_ROWS.stop + len(ANGLES))  # its centre window turned
INVERTED_ROWS = range(TURNED_CENTRE_ROWS.stop, TURNED_CENTRE_ROWS.stop + 1)  # the whole image negated
VARIANTS = INVERTED_ROWS.stop

EXACT_MARGIN = 5  # how much closer than the threshold a flipped, turned or inverted copy must come
# (name, anchor rows of one image, reference rows of the other, margin below the threshold); "aspect" only
# between two datasets. A flip, turn or inversion is exact, so such a copy differs only by its re-encoding
# (0 to 4 bits on the real data), while each of the 8 extra views is another chance for two unrelated
# images to meet: a synth_shapes image mirrored met a synth_cells one at 16 bits.
COMPARISONS = (
    ("copy", range(0, 1), range(0, 1), 0),
    ("dihedral", range(1, 8), range(0, 1), EXACT_MARGIN),
    ("inverted", INVERTED_ROWS, range(0, 1), EXACT_MARGIN),
    ("crop", range(0, 1), GRID_ROWS, 0),
    ("shift", range(CENTRE_ROW, CENTRE_ROW + 1), GRID_ROWS, 0),
    ("rotation", range(0, 1), TURNED_ROWS, 0),
    ("rotation", range(CENTRE_ROW, CENTRE_ROW + 1), TURNED_CENTRE_ROWS, 0),
    ("aspect", ASPECT_ROWS, range(0, 1), 0),
)
MATCHES = tuple(dict.fromkeys(name for name, *_ in COMPARISONS))  # a pair's ``how`` indexes this
# Bump when anything above changes: cached hashes are then recomputed.
HASH_VERSION = "dct32-block12-median-dihedral-grid40-turns-centred-both-margin5-f32-v6"
_CHUNK_ELEMENTS = 1 << 22  # hash pairs compared at once (32 MiB of XOR)


def imaging_threshold(*kinds: str) -> int:
    """The threshold for images of these imaging kinds: the strictest (lowest) of theirs."""
    return min(IMAGING_THRESHOLDS.get(kind, THRESHOLD) for kind in kinds)


def _aspect_boxes(width: int, height: int) -> list[tuple[float, float, float, float]]:
    """Centre crops of the whole image by width, then by height."""
    boxes = []
    for fraction in CROP_FRACTIONS:
        margin = width * (1 - fraction) / 2
        boxes.append((margin, 0.0, width - margin, height))
    for fraction in CROP_FRACTIONS:
        margin = height * (1 - fraction) / 2
        boxes.append((0.0, margin, width, height - margin))
    return boxes


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Boolean (..., BITS) as uint64 (..., WORDS)."""
    packed = np.packbits(bits, axis=-1, bitorder="little")
    padding = np.zeros(packed.shape[:-1] + (WORDS * 8 - packed.shape[-1],), dtype=np.uint8)
    return np.concatenate([packed, padding], axis=-1).view("<u8")


def dct_blocks(thumbnails: np.ndarray, workers: int = 1) -> np.ndarray:
    """The float32 (..., BITS) low-frequency blocks of grey (..., HASH_SIDE, HASH_SIDE) thumbnails'
    DCTs, the transforms spread over ``workers`` threads."""
    from scipy.fft import dctn  # here: scipy takes 0.4 s to import, which `tlbench audit --help` need not wait

    spectrum = dctn(np.asarray(thumbnails, dtype=np.float32), type=2, norm="ortho", axes=(-2, -1), workers=workers)
    return spectrum[..., 1:BLOCK + 1, 1:BLOCK + 1].reshape(*spectrum.shape[:-2], BITS)


def block_hashes(blocks: np.ndarray, centre: np.ndarray | None = None) -> np.ndarray:
    """uint64 (..., WORDS) hashes of (..., BITS) blocks less ``centre``: each bit, whether its coefficient
    is above the block's median."""
    low = blocks if centre is None else blocks - centre
    middle = np.partition(low, (BITS // 2 - 1, BITS // 2), axis=-1)[..., BITS // 2 - 1:BITS // 2 + 1]
    return pack_bits(low > middle.mean(axis=-1, keepdims=True))  # np.median's value, without its overhead


def _dihedral_maps(block: np.ndarray) -> list[np.ndarray]:
    """The 8 images of a (BLOCK, BLOCK) coefficient block under the flips and turns of its picture: a
    flip negates the odd frequencies across it, a transpose swaps the axes."""
    odd = (-1.0) ** np.arange(1, BLOCK + 1)
    out = []
    for transposed in (block, block.T):
        for vertical in (np.ones(BLOCK), odd):
            for horizontal in (np.ones(BLOCK), odd):
                out.append(transposed * vertical[:, None] * horizontal[None, :])
    return out


def dataset_centre(whole_blocks: np.ndarray) -> np.ndarray:
    """The float32 (BITS,) centre of a dataset: the mean of its images' whole-image blocks (n, BITS),
    averaged over the 8 flips and turns so that centring keeps a flipped copy at distance 0."""
    mean = np.asarray(whole_blocks, dtype=np.float64).mean(axis=0).reshape(BLOCK, BLOCK)
    return np.mean(_dihedral_maps(mean), axis=0).reshape(BITS).astype(np.float32)


def _dihedral(thumbnail: np.ndarray) -> list[np.ndarray]:
    """The 8 images of ``thumbnail`` (..., H, W) under flips and right-angle turns, itself first."""
    out = []
    for turns in range(4):
        turned = np.rot90(thumbnail, turns, axes=(-2, -1))
        out += [turned, np.swapaxes(turned, -1, -2)]
    return out


@functools.lru_cache(maxsize=64)
def _turns(aspect: float) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Where, in the VIEW_SIDE px view of an image ``aspect`` (width / height) times as wide as tall, each
    pixel of a HASH_SIDE px thumbnail samples to show the whole view, then its centre window, turned by
    each of :data:`ANGLES` about the centre in the image's own geometry (the view squashes it square)."""
    coordinates = []
    for side in (VIEW_SIDE, HASH_SIDE):
        offsets = (np.arange(HASH_SIDE) + 0.5 - HASH_SIDE / 2) * side / HASH_SIDE
        x, y = np.meshgrid(offsets, offsets)
        for angle in ANGLES:
            cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
            centre = VIEW_SIDE / 2 - 0.5
            coordinates.append((centre + cos * x - sin * y / aspect, centre + sin * aspect * x + cos * y))
    return tuple(coordinates)


def _bilinear(views: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(N, VIEW_SIDE, VIEW_SIDE) views sampled at float coordinates; black outside, as a turned copy's corners."""
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = (x - x0).astype(np.float32), (y - y0).astype(np.float32)
    padded = np.pad(views, ((0, 0), (1, 2), (1, 2)))
    x0, y0 = np.clip(x0 + 1, 0, VIEW_SIDE + 1), np.clip(y0 + 1, 0, VIEW_SIDE + 1)
    top = padded[:, y0, x0] * (1 - fx) + padded[:, y0, x0 + 1] * fx
    bottom = padded[:, y0 + 1, x0] * (1 - fx) + padded[:, y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def view_thumbnails(views: np.ndarray, aspect: float) -> np.ndarray:
    """The grid windows, then the turned whole views and centre windows, of grey (N, VIEW_SIDE,
    VIEW_SIDE) views of images ``aspect`` times as wide as tall, as (N, rows, HASH_SIDE, HASH_SIDE)."""
    views = np.asarray(views, dtype=np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(views, (HASH_SIDE, HASH_SIDE), axis=(1, 2))
    grid = windows[:, GRID_STEPS][:, :, GRID_STEPS].reshape(len(views), -1, HASH_SIDE, HASH_SIDE)
    turned = np.stack([_bilinear(views, x, y) for x, y in _turns(round(aspect, 3))], axis=1)
    return np.concatenate([grid, turned.astype(np.float32)], axis=1)


def thumbnails(grey: Image.Image) -> np.ndarray:
    """The (VARIANTS - 8, HASH_SIDE, HASH_SIDE) thumbnails of one grey image: whole, aspect crops, views."""
    size = (HASH_SIDE, HASH_SIDE)
    whole = [np.asarray(grey.resize(size, Image.BILINEAR), dtype=np.float32)]
    aspect = [np.asarray(grey.resize(size, Image.BILINEAR, box=box), dtype=np.float32)
              for box in _aspect_boxes(*grey.size)]
    view = np.asarray(grey.resize((VIEW_SIDE, VIEW_SIDE), Image.BILINEAR), dtype=np.float32)
    return np.concatenate([np.stack(whole + aspect), view_thumbnails(view[None], grey.width / grey.height)[0]])


def _blocks(thumbs: np.ndarray, workers: int = 1) -> np.ndarray:
    """(N, VARIANTS - 8, side, side) thumbnails (whole image first) as (N, VARIANTS, BITS) blocks."""
    whole = thumbs[:, 0]
    stacked = np.concatenate([np.stack(_dihedral(whole), axis=1), thumbs[:, 1:]], axis=1)
    blocks = dct_blocks(stacked, workers)
    return np.concatenate([blocks, -blocks[:, :1]], axis=1)  # a negated picture negates every coefficient


def grey_image_blocks(grey: Image.Image) -> np.ndarray:
    """The (VARIANTS, BITS) coefficient blocks of one grey PIL image, rows as laid out above."""
    return _blocks(thumbnails(grey)[None])[0]


def grey_image_hashes(grey: Image.Image, centre: np.ndarray | None = None) -> np.ndarray:
    """The (VARIANTS, WORDS) hashes of one grey PIL image, less a dataset's ``centre`` if given."""
    return block_hashes(grey_image_blocks(grey), centre)


def file_blocks(path: Path | str) -> np.ndarray:
    """:func:`grey_image_blocks` of an image file; JPEGs are decoded at the smallest DCT scale that
    keeps half the short side at :data:`VIEW_SIDE` or more."""
    with Image.open(path) as image:
        image.draft("L", (2 * VIEW_SIDE, 2 * VIEW_SIDE))
        return grey_image_blocks(image.convert("L"))


def array_blocks(images: np.ndarray, workers: int = 1) -> np.ndarray:
    """:func:`grey_image_blocks` of each uint8 (N, H, W, 3) image, as (N, VARIANTS, BITS); ``workers``
    threads share the transforms."""
    thumbs = np.stack([thumbnails(Image.fromarray(image).convert("L")) for image in images])
    return _blocks(thumbs, workers)


def array_hashes(images: np.ndarray, centre: np.ndarray, workers: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """:func:`grey_image_hashes` of each uint8 (N, H, W, 3) image as (N, VARIANTS, WORDS), plain and less
    ``centre``, a batch at a time (the blocks of all images at once need not fit in memory)."""
    plain, centred = (np.empty((len(images), VARIANTS, WORDS), dtype=np.uint64) for _ in range(2))
    for start in range(0, len(images), _BATCH_IMAGES):
        blocks = array_blocks(images[start:start + _BATCH_IMAGES], workers)
        plain[start:start + len(blocks)], centred[start:start + len(blocks)] = (block_hashes(blocks),
                                                                                block_hashes(blocks, centre))
    return plain, centred


_BATCH_IMAGES = 64


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


def _compare(a: np.ndarray, b: np.ndarray, anchors: range, references: range, threshold: int, also=None):
    """(i, j, distance) of the images whose ``anchors`` rows (of ``a``) come within ``threshold`` of one
    of the ``references`` rows (of ``b``); with ``also`` (a second hashing of the same images, as
    ``(a, b)``), the same rows there too, at the larger of the two distances."""
    def rows(hashes, picked):
        return hashes[:, picked.start:picked.stop].reshape(-1, WORDS)

    left, right = rows(a, anchors), rows(b, references)
    i, j, distance = near_pairs(left, right, threshold)
    if also is not None:
        distance = np.maximum(distance, hamming(rows(also[0], anchors)[i], rows(also[1], references)[j]))
        keep = distance <= threshold
        i, j, distance = i[keep], j[keep], distance[keep]
    return i // len(anchors), j // len(references), distance


def _closest_per_pair(i, j, distance, how):
    """Each (i, j) once, at its smallest distance, sorted by i, j."""
    order = np.lexsort((distance, j, i))
    i, j, distance, how = i[order], j[order], distance[order], how[order]
    first = np.ones(len(i), dtype=bool)
    first[1:] = (i[1:] != i[:-1]) | (j[1:] != j[:-1])
    return i[first], j[first], distance[first], how[first]


def _search(a: np.ndarray, b: np.ndarray, threshold: int, aspect: bool, both_ways: bool, also=None):
    parts = []
    for name, anchors, references, margin in COMPARISONS:
        if (name == "aspect" and not aspect) or threshold < margin:
            continue
        how = MATCHES.index(name)
        i, j, distance = _compare(a, b, anchors, references, threshold - margin, also)
        parts.append((i, j, distance, np.full(len(i), how)))
        if both_ways and name not in ("copy", "dihedral", "inverted"):  # those are symmetric
            j, i, distance = _compare(b, a, anchors, references, threshold - margin)
            parts.append((i, j, distance, np.full(len(i), how)))
    return tuple(np.concatenate(column) for column in zip(*parts, strict=True))


def near_duplicates(a: np.ndarray, b: np.ndarray, threshold: int) -> tuple[np.ndarray, ...]:
    """The (i, j, distance, how) of every pair of images of ``a`` and ``b`` ((n, VARIANTS, WORDS) and
    (m, VARIANTS, WORDS)) within ``threshold`` by any comparison, each pair once at its smallest distance
    (``how`` indexes :data:`MATCHES`), sorted by i, j."""
    return _closest_per_pair(*_search(a, b, threshold, aspect=True, both_ways=True))


def near_duplicates_within(hashes: np.ndarray, threshold: int,
                           plain: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """The (i, j, distance, how), i < j, of the near-duplicate pairs among one set of images, by every
    comparison but ``aspect`` (one dataset's images share one preprocessing). Given the ``plain`` hashes of
    centred ``hashes``, a pair must match in both, at the larger distance: centring takes a shared frame
    out, but may bring two images that differ elsewhere closer."""
    also = None if plain is None else (plain, plain)
    i, j, distance, how = _search(hashes, hashes, threshold, aspect=False, both_ways=False, also=also)
    keep = i != j
    low, high = np.minimum(i, j)[keep], np.maximum(i, j)[keep]
    return _closest_per_pair(low, high, distance[keep], how[keep])
