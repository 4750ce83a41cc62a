import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from benchmark.data.perceptualhash import (
    DIHEDRAL_ROWS,
    HASH_SIDE,
    VARIANTS,
    array_blocks,
    array_hashes,
    dataset_centre,
    grey_image_hashes,
    hamming,
)


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
