import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from benchmark.data.perceptualhash import (
    BITS,
    DIHEDRAL_ROWS,
    EXACT_MARGIN,
    HASH_SIDE,
    IMAGING_THRESHOLDS,
    MATCHES,
    THRESHOLD,
    VARIANTS,
    array_blocks,
    array_hashes,
    dataset_centre,
    grey_image_hashes,
    hamming,
    imaging_threshold,
    near_duplicates_within,
    pack_bits,
)
from benchmark.datasets import IMAGING


def one_by_one(images, centre=None):
    return np.stack([grey_image_hashes(Image.fromarray(image).convert("L"), centre) for image in images])


def pictures(shape):
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
    # smooth, high-contrast pictures too: their low frequencies carry the hash
    smooth = np.clip(gaussian_filter(noise.astype(float), (0, 2, 2, 0)) * 3 - 250, 0, 255).astype(np.uint8)
    return noise, smooth


@pytest.mark.parametrize("shape", [(70, HASH_SIDE, HASH_SIDE), (7, 48, 48), (5, 40, 57)])
def test_array_hashes_equal_each_image_hashed_alone(shape):
    checked = np.r_[0:5, 60:70][np.r_[0:5, 60:70] < shape[0]]  # both sides of a batch boundary
    for images in pictures(shape):
        centre = dataset_centre(array_blocks(images[:20])[:, 0])
        plain, centred = array_hashes(images, centre, workers=2)
        assert plain.shape[:2] == (shape[0], VARIANTS)
        assert np.array_equal(plain[checked], one_by_one(images[checked]))
        assert np.array_equal(centred[checked], one_by_one(images[checked], centre))
        assert not np.array_equal(plain, centred)


def test_centring_keeps_flipped_and_turned_copies_exact():
    _, smooth = pictures((12, 48, 48))
    # a lopsided dataset: its mean picture is bright on the left, so an uncentred mean would break flips
    smooth[:, :, :16] = np.maximum(smooth[:, :, :16], 200)
    centre = dataset_centre(array_blocks(smooth)[:, 0])
    original = Image.fromarray(smooth[0]).convert("L")
    hashes = grey_image_hashes(original, centre)
    copies = [original.transpose(op) for op in (Image.FLIP_LEFT_RIGHT, Image.FLIP_TOP_BOTTOM, Image.ROTATE_90,
                                                 Image.ROTATE_180, Image.ROTATE_270, Image.TRANSPOSE)]
    for copy in copies:  # PIL resamples rows, then columns, rounding between: a turn may move a bit or two
        whole = grey_image_hashes(copy, centre)[0]
        assert min(hamming(whole, hashes[row]) for row in DIHEDRAL_ROWS) <= 4


def random_hashes(count, seed):
    bits = np.random.default_rng(seed).random((count, VARIANTS, BITS)) < 0.5
    return pack_bits(bits), bits


def with_flips(bits, count, seed):
    """``bits`` (BITS,) with ``count`` of them flipped, packed."""
    flipped = bits.copy()
    flipped[np.random.default_rng(seed).choice(BITS, count, replace=False)] ^= True
    return pack_bits(flipped)


def test_a_flipped_view_must_come_closer_than_a_plain_copy():
    hashes, bits = random_hashes(2, 0)
    hashes[1, 1] = with_flips(bits[0, 0], THRESHOLD - 3, 1)  # image 1 mirrored is 14 bits from image 0
    assert len(near_duplicates_within(hashes, THRESHOLD)[0]) == 0
    assert [MATCHES[h] for h in near_duplicates_within(hashes, THRESHOLD + EXACT_MARGIN)[3]] == ["dihedral"]
    hashes[1, 0] = with_flips(bits[0, 0], THRESHOLD - 3, 2)  # as it is, 14 bits: a copy
    i, j, distance, how = near_duplicates_within(hashes, THRESHOLD)
    assert (list(i), list(j), list(distance), [MATCHES[h] for h in how]) == ([0], [1], [THRESHOLD - 3], ["copy"])


def test_within_a_dataset_centred_and_plain_hashes_must_both_match():
    centred, bits = random_hashes(2, 3)
    plain, plain_bits = random_hashes(2, 4)
    centred[1, 0] = with_flips(bits[0, 0], 6, 5)
    assert len(near_duplicates_within(centred, THRESHOLD)[0]) == 1
    assert len(near_duplicates_within(centred, THRESHOLD, plain)[0]) == 0  # the plain hashes are far apart
    plain[1, 0] = with_flips(plain_bits[0, 0], 12, 6)
    assert list(near_duplicates_within(centred, THRESHOLD, plain)[2]) == [12]  # the larger distance


def test_each_imaging_kind_has_a_threshold_and_two_kinds_take_the_lower():
    assert set(IMAGING_THRESHOLDS) <= set(IMAGING)
    assert {kind: imaging_threshold(kind) for kind in IMAGING if kind != "fundus"} == dict.fromkeys(
        set(IMAGING) - {"fundus"}, THRESHOLD)
    assert imaging_threshold("xray", "fundus") == imaging_threshold("fundus", "natural") == IMAGING_THRESHOLDS["fundus"]
    assert imaging_threshold("xray", "cells") == THRESHOLD > IMAGING_THRESHOLDS["fundus"]
