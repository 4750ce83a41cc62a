"""The feature cache on disk: a later cache (a later run) on the same folder reuses features bit for bit,
extends them, treats a broken file as a miss, and never serves features of other images."""

import threading

import numpy as np
import pytest
import torch
from conftest import TINY
from fakedata import no_builtin_datasets

from benchmark.data.splits import Split
from benchmark.data.taskdata import SplitData, TaskData, images_digest
from benchmark.datasets import Task
from benchmark.engine.featurecache import FeatureCache
from benchmark.engine.models import create_backbone
from benchmark.engine.training import LabelledImages
from benchmark.presets import CPU_QUICK
from benchmark.run.context import ExperimentContext
from benchmark.run.store import Store
from benchmark.settings import RunSettings

# image i is filled with the value i, so extract can tell which positions it was given
IMAGES = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 3, 2, 2).contiguous()


class Extract:
    """Features no float rounds exactly (so a lossy round trip would show); records positions asked for."""

    def __init__(self):
        self.calls: list[list[int]] = []

    def __call__(self, batch: torch.Tensor) -> np.ndarray:
        self.calls.append(batch[:, 0, 0, 0].tolist())
        return np.sin(batch[:, :, 0, 0].numpy().astype(np.float32) * 0.37 + np.arange(3, dtype=np.float32))


def ask(cache: FeatureCache, positions: list[int], extract: Extract, key: str = "k") -> np.ndarray:
    return cache.features(key, np.array(positions), IMAGES[positions], extract)


def test_a_second_cache_on_the_folder_reuses_the_features_bit_for_bit(tmp_path):
    first_extract, second_extract = Extract(), Extract()
    first = ask(FeatureCache(tmp_path), [4, 1, 7], first_extract)
    assert first_extract.calls == [[4, 1, 7]] and list(tmp_path.glob("*.npz"))
    second = FeatureCache(tmp_path)
    again = ask(second, [7, 4, 1], second_extract)
    assert second_extract.calls == [] and second.extracted == 0 and second.reused == 3
    np.testing.assert_array_equal(again, first[[2, 0, 1]])
    assert again.tobytes() == first[[2, 0, 1]].tobytes()


def test_a_later_cache_extracts_only_the_images_not_on_disk(tmp_path):
    ask(FeatureCache(tmp_path), [0, 1, 2], Extract())
    extract = Extract()
    second = FeatureCache(tmp_path)
    features = ask(second, [1, 2, 3, 4], extract)
    assert extract.calls == [[3, 4]] and second.extracted == 2 and second.reused == 2
    third_extract = Extract()
    np.testing.assert_array_equal(ask(FeatureCache(tmp_path), [4, 3, 2, 1, 0], third_extract)[:4], features[::-1])
    assert third_extract.calls == []  # the extension was written back


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong arrays"])
def test_a_broken_file_is_a_miss_and_is_rewritten(tmp_path, damage):
    expected = ask(FeatureCache(tmp_path), [0, 1, 2], Extract())
    (path,) = tmp_path.glob("*.npz")
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00not a zip" * 50)
    else:
        with open(path, "wb") as handle:
            np.savez(handle, values=np.zeros((3, 3)), filled=np.ones(3, dtype=bool))  # float64
    extract = Extract()
    assert ask(FeatureCache(tmp_path), [0, 1, 2], extract).tobytes() == expected.tobytes()
    assert extract.calls == [[0, 1, 2]]
    reread = Extract()
    assert ask(FeatureCache(tmp_path), [0, 1, 2], reread).tobytes() == expected.tobytes() and reread.calls == []
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind


def test_threads_sharing_a_cache_leave_every_feature_on_disk(tmp_path):
    cache = FeatureCache(tmp_path)
    threads = [threading.Thread(target=ask, args=(cache, [i, (i + 3) % 10], Extract())) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    extract = Extract()
    ask(FeatureCache(tmp_path), list(range(10)), extract)
    assert extract.calls == []


def test_memory_only_cache_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cache = FeatureCache()
    ask(cache, [0, 1, 2], Extract())
    extract = Extract()
    ask(cache, [2, 3], extract)
    assert extract.calls == [[3]]
    assert list(tmp_path.iterdir()) == []  # TLBENCH_CACHE (tmp_path / "cache") not created either


def test_images_digest_follows_the_pixels():
    images = torch.randint(0, 256, (5, 3, 8, 8), dtype=torch.uint8)
    assert images_digest(images) == images_digest(images.clone())
    changed = images.clone()
    changed[4, 2, 7, 7] ^= 1
    assert images_digest(changed) != images_digest(images)
    assert images_digest(images.reshape(5, 3, 4, 16)) != images_digest(images)


def test_splits_carry_their_task_images_digest(tmp_path):
    from tiny_plugin import TinyTarget

    settings = RunSettings(CPU_QUICK.with_overrides(image_size=16), torch.device("cpu"), tmp_path, tmp_path / "cache")
    dataset = TinyTarget()
    (task,) = dataset.tasks()
    data = TaskData(settings)
    digest = images_digest(data.imageset(dataset, task)[1])
    assert data.split(dataset, task, 2).images_digest == data.split(dataset, task, 5).images_digest == digest
    dataset.seed = 7  # the same task with other pixels, as after its files changed
    assert TaskData(settings).split(dataset, task, 2).images_digest != digest


def _context(digest: str, cache: FeatureCache) -> ExperimentContext:
    g = torch.Generator().manual_seed(0)
    images, labels = torch.randint(0, 255, (20, 3, 24, 24), generator=g, dtype=torch.uint8), torch.arange(20) % 2
    split = Split(train=np.arange(12), val=np.arange(12, 15), test=np.arange(15, 20), kind="test")

    def part(index):
        return LabelledImages(images[index], labels[index])

    data = SplitData(Task("toy", ("a", "b"), frozenset({"target"})), split, part(split.train), part(split.val),
                     part(split.test), images_digest=digest)
    settings = RunSettings(CPU_QUICK.with_overrides(image_size=24), torch.device("cpu"), data_root=None, cache_dir=None)
    return ExperimentContext(data, settings, 0, source=None, feature_cache=cache)


def test_experiment_features_are_reused_only_for_the_same_images(tmp_path):
    torch.manual_seed(0)
    model = create_backbone("test_resnet", 2)
    first = _context("digest-a", FeatureCache(tmp_path)).features(model)
    cache = FeatureCache(tmp_path)
    again = _context("digest-a", cache).features(model)
    assert cache.extracted == 0 and cache.reused == 20
    assert all(a.tobytes() == b.tobytes() for a, b in zip(first, again, strict=True))
    other = FeatureCache(tmp_path)
    _context("digest-b", other).features(model)  # the task's files changed: nothing stale is served
    assert other.extracted == 20 and other.reused == 0


def test_a_later_run_reuses_the_features_of_an_earlier_one(cli, tmp_path):
    """TLBENCH_CACHE is tmp_path / "cache" (conftest)."""
    out, features = tmp_path / "runs", tmp_path / "cache" / "features"
    args = ["-p", "tiny_plugin", *(a for flag in no_builtin_datasets() for a in ("-p", flag)), "run", "-d", "tiny_tgt",
            "-s", "random", "-m", "fe-svm", "--seeds", "2", "--out", out, *TINY]
    assert cli(*args).exit_code == 0
    files = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in features.glob("*.npz")}
    (first,) = Store(out).rows()
    assert files and first["status"] == "passed"
    rerun = cli(*args, "--rerun", "all")
    assert rerun.exit_code == 0 and "PASSED tiny_tgt::random::fe-svm[seed=2]" in rerun.output
    (second,) = Store(out).rows()
    assert second["metrics"]["auc"] == first["metrics"]["auc"]
    assert second["scores"] == first["scores"]
    # every feature came from disk: nothing was extracted, so nothing was written
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in features.glob("*.npz")} == files


def test_fine_tuned_models_leave_no_features_on_disk(cli, tmp_path):
    """A fine-tuned model's weights are never seen again: its features bypass the cache."""
    args = ["-p", "tiny_plugin", *(a for flag in no_builtin_datasets() for a in ("-p", flag)), "run", "-d", "tiny_tgt",
            "-s", "tiny_src", "-m", "ft-svm", "--seeds", "2", "--out", tmp_path / "runs", *TINY]
    result = cli(*args)
    assert result.exit_code == 0 and "PASSED tiny_tgt::tiny_src::ft-svm[seed=2]" in result.output
    assert not list((tmp_path / "cache" / "features").glob("*.npz"))
