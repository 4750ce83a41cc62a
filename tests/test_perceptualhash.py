import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from benchmark.data.perceptualhash import HASH_SIDE, VARIANTS, array_hashes, grey_image_hashes


def one_by_one(images):
    return np.stack([grey_image_hashes(Image.fromarray(image).convert("L")) for image in images])


@pytest.mark.parametrize("shape", [(600, HASH_SIDE, HASH_SIDE), (7, 48, 48), (5, 40, 57)])
def test_array_hashes_equal_each_image_hashed_alone(shape):
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
    # smooth, high-contrast pictures too: their low frequencies carry the hash
    smooth = np.clip(gaussian_filter(noise.astype(float), (0, 2, 2, 0)) * 3 - 250, 0, 255).astype(np.uint8)
    for images in (noise, smooth):
        hashes = array_hashes(images, workers=2)
        assert hashes.shape[:2] == (shape[0], VARIANTS)
        assert np.array_equal(hashes, one_by_one(images))
