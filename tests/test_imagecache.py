"""The decode-once image cache: pixels, keys, rebuilds, unreadable files and worker processes."""

import logging
import os

import numpy as np
import pytest
from fakedata import colour, write_image
from PIL import Image

from benchmark.data.filedatasets import FileDataset, ImageFiles, LoadOptions, UnreadableImagesError, load_options
from benchmark.data.imagecache import CHUNK, ImageCache, decode_image
from benchmark.datasets import Task


def test_decode_squashes_to_square_rgb_and_repeats_grey(tmp_path):
    rgb = decode_image(write_image(tmp_path / "a.jpg", 3, size=(40, 10)), 16)
    grey = decode_image(write_image(tmp_path / "b.png", 5, grey=True), 16)
    assert rgb.shape == grey.shape == (16, 16, 3) and rgb.dtype == np.uint8
    assert np.abs(rgb.reshape(-1, 3).mean(0) - colour(3)).max() < 4
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    assert abs(int(grey[8, 8, 0]) - colour(5)[0]) <= 1


def _files(tmp_path, n=5):
    return [write_image(tmp_path / "img" / f"{i}.jpg", i % 3) for i in range(n)]


def test_second_load_reads_the_cache_without_decoding(tmp_path):
    paths = _files(tmp_path)
    cache = ImageCache(tmp_path / "cache")
    first = cache.load("toy", {"v": 1}, paths, 16)
    assert first.decoded == 5 and first.path.exists()
    again = ImageCache(tmp_path / "cache")
    second = again.load("toy", {"v": 1}, paths, 16)
    assert second.decoded == 0 and again.decoded == 0
    assert isinstance(second.images, np.memmap)
    np.testing.assert_array_equal(np.asarray(second.images), np.asarray(first.images))
    assert second.images.flags.writeable  # copy-on-write: torch can wrap it without a warning
    second.images[0] = 0
    assert np.asarray(ImageCache(tmp_path / "cache").load("toy", {"v": 1}, paths, 16).images[0]).any()


def test_names_with_dots_keep_their_own_entry(tmp_path):
    paths = _files(tmp_path)
    cache = ImageCache(tmp_path / "cache")
    cache.load("my.data-my.data", {}, paths, 8)
    cache.load("my.other-my.other", {}, paths[:2], 8)
    assert ImageCache(tmp_path / "cache").load("my.data-my.data", {}, paths, 8).decoded == 0
    assert len(list((tmp_path / "cache" / "images").glob("*.npy"))) == 2


@pytest.mark.parametrize("change", ["size", "key", "file"])
def test_any_change_rebuilds_and_replaces_the_entry(tmp_path, change):
    paths = _files(tmp_path)
    cache = ImageCache(tmp_path / "cache")
    cache.load("toy", {"v": 1}, paths, 16)
    size, key = 16, {"v": 1}
    if change == "size":
        size = 8
    elif change == "key":
        key = {"v": 2}
    else:
        write_image(paths[0], 2, size=(22, 14))
        os.utime(paths[0], ns=(1, 1))
    rebuilt = cache.load("toy", key, paths, size)
    assert rebuilt.decoded == 5 and rebuilt.images.shape == (5, size, size, 3)
    if change != "size":
        assert len(list((tmp_path / "cache" / "images").glob("toy-16px-*.npy"))) == 1


def test_unreadable_files_are_skipped_and_named(tmp_path):
    paths = _files(tmp_path)
    paths[1].write_bytes(b"not an image")
    (tmp_path / "img" / "gone.jpg").unlink(missing_ok=True)
    paths.append(tmp_path / "img" / "gone.jpg")
    cached = ImageCache(tmp_path / "cache").load("toy", {}, paths, 16)
    assert cached.kept.tolist() == [0, 2, 3, 4]
    assert len(cached.images) == 4
    assert [f.split(":")[0] for f in cached.failures] == [str(paths[1]), str(paths[5])]
    reread = ImageCache(tmp_path / "cache").load("toy", {}, paths, 16)
    assert reread.decoded == 0 and reread.failures == cached.failures


def test_decoding_threads_give_the_same_pixels_as_one_thread(tmp_path):
    paths = [write_image(tmp_path / "img" / f"{i}.png", i % 8) for i in range(2 * CHUNK + 3)]
    paths[CHUNK + 1].write_bytes(b"")
    pooled = ImageCache(None, workers=2)
    assert pooled._threads(len(paths)) == 2
    in_pool = pooled.load("toy", {}, paths, 8)
    alone = ImageCache(None, workers=1).load("toy", {}, paths, 8)
    np.testing.assert_array_equal(in_pool.images, alone.images)
    assert in_pool.kept.tolist() == alone.kept.tolist() == [i for i in range(len(paths)) if i != CHUNK + 1]
    assert in_pool.images[CHUNK + 1, 0, 0].tolist() == list(colour((CHUNK + 2) % 8))


class Toy(FileDataset):
    name = "toy"

    def __init__(self, paths):
        self.paths = paths

    def tasks(self):
        return [Task("toy", ("a", "b"))]

    def files(self, task, root):
        return ImageFiles(self.paths, [i % 2 for i in range(len(self.paths))], root,
                          groups=[f"g{i}" for i in range(len(self.paths))])


def test_file_dataset_skips_with_a_warning_or_fails_under_strict(tmp_path, caplog):
    paths = _files(tmp_path, 6)
    paths[2].write_bytes(b"\xff\xd8\xff broken jpeg")
    dataset, task = Toy(paths), Toy(paths).tasks()[0]
    with caplog.at_level(logging.WARNING):
        with load_options(LoadOptions(ImageCache(tmp_path / "cache"), max_unreadable=0.2)):
            imageset = dataset.load(task, tmp_path, 16)
    assert len(imageset) == 5 and imageset.groups.tolist() == ["g0", "g1", "g3", "g4", "g5"]
    assert imageset.labels.tolist() == [0, 1, 1, 0, 1]
    assert str(paths[2]) in caplog.text and str(paths[2]) in imageset.notes[0]
    with pytest.raises(UnreadableImagesError, match="2.jpg"), load_options(LoadOptions(strict=True)):
        dataset.load(task, tmp_path, 16)
    with pytest.raises(UnreadableImagesError, match="1 of 6 images of toy are unreadable, more than the 1%"):
        dataset.load(task, tmp_path, 16)  # outside any load_options: the defaults


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "YCbCr", "I;16", "I;16B", "I", "F"])
def test_every_pil_mode_decodes_to_rgb_with_its_contrast(tmp_path, mode):

    ramp = np.linspace(0, 1, 16)[None, :] * np.ones((16, 1))  # dark left, bright right
    wide = {"I;16": ("<u2", 4095), "I;16B": (">u2", 4095), "I": ("<i4", 70000), "F": ("<f4", 0.37)}
    if mode in wide:  # 12-bit values in 16 bits, values beyond 16 bits, floats: never 0-255
        dtype, peak = wide[mode]
        image = Image.frombytes(mode, (16, 16), (ramp * peak + (1000 if "16" in mode else 0)).astype(dtype).tobytes())
    else:
        image = Image.fromarray((ramp * 255).astype(np.uint8)).convert(mode)
    path = tmp_path / ("x.png" if mode in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16") else "x.tiff")
    image.save(path)
    decoded = decode_image(path, 8)
    assert decoded.shape == (8, 8, 3) and decoded.dtype == np.uint8
    left, right = decoded[:, :2].mean(), decoded[:, -2:].mean()
    assert right - left > 150, (mode, left, right)  # never a white (or black) square
