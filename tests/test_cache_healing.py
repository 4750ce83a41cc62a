"""Caches heal: a damaged entry is a miss named in a warning and rebuilt, leftovers of dead processes are
removed, an unwritable or full cache falls back to memory with a warning, a damaged source model is retrained."""

import errno
import logging
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from conftest import TINY
from fakedata import write_image

from benchmark.data.imagecache import ImageCache
from benchmark.files import cachefiles


def files(tmp_path, n=5):
    return [write_image(tmp_path / "img" / f"{i}.jpg", i % 3) for i in range(n)]


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.mark.parametrize("damage", ["truncated array", "garbage metadata", "metadata of another entry"])
def test_a_damaged_image_cache_entry_is_named_and_rebuilt(tmp_path, caplog, damage):
    paths = files(tmp_path)
    first = ImageCache(tmp_path / "cache").load("toy", {}, paths, 16)
    expected = np.asarray(first.images).copy()
    array = first.path
    meta = array.with_suffix(".json")
    if damage == "truncated array":
        array.write_bytes(array.read_bytes()[:200])
    elif damage == "garbage metadata":
        meta.write_text("{not json")
    else:
        meta.write_text('{"kept": [0, 1], "failures": []}')
    with caplog.at_level(logging.WARNING, logger="benchmark.data.imagecache"):
        again = ImageCache(tmp_path / "cache").load("toy", {}, paths, 16)
    assert again.decoded == 5 and "is damaged" in caplog.text and array.stem in caplog.text
    np.testing.assert_array_equal(np.asarray(again.images), expected)
    assert ImageCache(tmp_path / "cache").load("toy", {}, paths, 16).decoded == 0, "the rebuilt entry is whole"


def test_leftovers_of_dead_processes_are_removed_and_a_live_ones_kept(tmp_path):
    paths = files(tmp_path)
    folder = tmp_path / "cache" / "images"
    folder.mkdir(parents=True)
    dead = folder / f"toy-16px-abc.{dead_pid()}.partial.npy"
    live = folder / f"toy-16px-abc.{os.getppid()}.partial.npy"
    dead.write_bytes(b"x" * 100)
    live.write_bytes(b"x" * 100)
    ImageCache(tmp_path / "cache").load("other", {}, paths, 16)
    assert not dead.exists() and live.exists()


def test_an_unwritable_cache_keeps_the_images_in_memory(tmp_path, caplog):
    paths = files(tmp_path)
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder should be")
    with caplog.at_level(logging.WARNING, logger="benchmark.data.imagecache"):
        cached = ImageCache(blocked).load("toy", {}, paths, 16)
    assert cached.decoded == 5 and len(cached.images) == 5 and cached.path is None
    assert "cannot write to" in caplog.text and "in memory" in caplog.text


def test_a_full_disk_keeps_the_images_in_memory(tmp_path, caplog, monkeypatch):
    paths = files(tmp_path)
    monkeypatch.setattr(cachefiles, "has_room", lambda folder, nbytes: False)
    with caplog.at_level(logging.WARNING, logger="benchmark.data.imagecache"):
        cached = ImageCache(tmp_path / "cache").load("toy", {}, paths, 16)
    assert cached.decoded == 5 and cached.path is None and "not enough free space" in caplog.text
    assert not list((tmp_path / "cache" / "images").glob("*.npy"))


def test_a_write_that_fails_midway_leaves_no_entry_and_the_run_goes_on(tmp_path, caplog, monkeypatch):
    paths = files(tmp_path)

    def full(temporary, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cachefiles, "_publish", full)
    with caplog.at_level(logging.WARNING, logger="benchmark.data.imagecache"):
        cached = ImageCache(tmp_path / "cache").load("toy", {}, paths, 16)
    assert len(cached.images) == 5 and "could not write" in caplog.text
    assert not list((tmp_path / "cache" / "images").glob("toy-16px-*.npy"))


def test_an_atomic_write_publishes_the_whole_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "entries" / "a.bin"
    with cachefiles.write_atomically(path, nbytes=3) as temporary:
        assert temporary.parent == path.parent and temporary != path and not path.exists()
        temporary.write_bytes(b"new")
    assert path.read_bytes() == b"new" and [p.name for p in path.parent.iterdir()] == ["a.bin"]


def test_an_atomic_write_that_fails_keeps_the_old_file_and_removes_its_temporary(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="killed midway"):
        with cachefiles.write_atomically(path) as temporary:
            temporary.write_bytes(b"ha")
            raise RuntimeError("killed midway")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_an_atomic_write_without_room_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(cachefiles, "has_room", lambda folder, nbytes: nbytes < 100)
    written = []
    with pytest.raises(OSError, match="not enough free space") as refused:
        with cachefiles.write_atomically(tmp_path / "big.bin", nbytes=100) as temporary:
            written.append(temporary)
    assert refused.value.errno == errno.ENOSPC and written == [] and list(tmp_path.iterdir()) == []
    with cachefiles.write_atomically(tmp_path / "small.bin", nbytes=99) as temporary:
        temporary.write_bytes(b"fits")
    assert (tmp_path / "small.bin").read_bytes() == b"fits"


def test_an_atomic_write_removes_dead_writers_leftovers_and_keeps_live_ones(tmp_path):
    dead = [tmp_path / f"a.bin.{dead_pid()}-7.partial", tmp_path / f"a.npy.{dead_pid()}.partial.npy",
            tmp_path / f"b.pt.{dead_pid()}.tmp"]
    live = tmp_path / f"a.bin.{os.getppid()}-7.partial"
    for leftover in (*dead, live):
        leftover.write_bytes(b"half")
    with cachefiles.write_atomically(tmp_path / "a.bin") as temporary:
        temporary.write_bytes(b"whole")
    assert not any(p.exists() for p in dead) and live.exists()


def test_another_hosts_temporary_file_in_a_shared_cache_is_left_until_a_day_old(tmp_path):
    other_host = "0123abcd" if cachefiles.HOST != "0123abcd" else "fedc4321"
    writing = tmp_path / f"a.bin.{dead_pid()}-7-h{other_host}.partial"  # its pid means nothing on this host
    stale = tmp_path / f"b.bin.{dead_pid()}-7-h{other_host}.partial"
    ours = tmp_path / f"c.bin.{dead_pid()}-7-h{cachefiles.HOST}.partial"
    for leftover in (writing, stale, ours):
        leftover.write_bytes(b"half")
    day_old = time.time() - cachefiles.FOREIGN_LEFTOVER_AGE - 60
    os.utime(stale, (day_old, day_old))
    with cachefiles.write_atomically(tmp_path / "d.bin") as temporary:
        assert temporary.name.endswith(f"-h{cachefiles.HOST}.partial")
        temporary.write_bytes(b"whole")
    assert writing.exists() and not stale.exists() and not ours.exists()


def test_nested_atomic_writes_publish_the_inner_file_first(tmp_path):
    data, description = tmp_path / "entry.npy", tmp_path / "entry.json"
    with cachefiles.write_atomically(data) as data_partial:
        data_partial.write_bytes(b"rows")
        with cachefiles.write_atomically(description) as description_partial:
            description_partial.write_text("{}")
        assert description.exists() and not data.exists()
    assert data.read_bytes() == b"rows"


def test_threads_of_one_process_write_to_different_temporary_files(tmp_path):
    names, both_writing = [], threading.Barrier(2)  # a finished thread's id may be given to the next one

    def write():
        with cachefiles.write_atomically(tmp_path / "a") as temporary:
            names.append(temporary)
            both_writing.wait()
            temporary.write_text(str(threading.get_ident()))

    workers = [threading.Thread(target=write) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(set(names)) == 2 and {cachefiles.writer_of(n.name) for n in names} == {os.getpid()}


def test_has_room_counts_the_headroom(tmp_path):
    assert cachefiles.has_room(tmp_path, 1)
    assert not cachefiles.has_room(tmp_path, 1 << 60)
    assert not cachefiles.has_room(tmp_path / "missing", 1)


def test_a_damaged_source_model_is_trained_again(cli, tmp_path):
    out = tmp_path / "runs"
    args = ["-p", "tiny_plugin", "run", "-d", "tiny_tgt", "-s", "tiny_src", "-m", "fe-svm", "--seeds", "2",
            "--no-audit", "--out", out, *TINY]
    assert cli(*args).exit_code == 0
    (weights,) = (tmp_path / "cache" / "sources").glob("tiny_src-*.pt")
    weights.write_bytes(weights.read_bytes()[:100])
    again = cli(*args, "--rerun", "all")
    flat = " ".join(again.output.split())
    assert again.exit_code == 0 and "is damaged" in flat and "training it again" in flat
    assert "PASSED tiny_tgt::tiny_src::fe-svm[seed=2]" in again.output


def test_the_feature_cache_removes_leftovers_of_dead_processes(tmp_path):
    from benchmark.engine.featurecache import FeatureCache

    tmp_path.joinpath("features").mkdir()
    dead = tmp_path / "features" / f"abc.npz.{dead_pid()}-1234.tmp"
    dead.write_bytes(b"half a file")
    FeatureCache(tmp_path / "features")
    assert not dead.exists()


def test_an_unwritable_cache_keeps_the_source_model_in_memory(cli, tmp_path, monkeypatch):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    monkeypatch.setenv("TLBENCH_CACHE", str(blocked))
    result = cli("-p", "tiny_plugin", "run", "-d", "tiny_tgt", "-s", "tiny_src", "-m", "fe-svm", "-m", "ft-svm",
                 "--seeds", "2", "--no-audit", "--out", tmp_path / "runs", *TINY)
    flat = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert "keeping it in memory for this run" in flat and "in memory" in flat
    assert flat.count("training its model") == 1, "trained once, shared by both experiments"


def test_the_audit_hash_cache_is_written_only_with_room_and_a_damaged_entry_is_named(tmp_path, caplog,
                                                                                        monkeypatch):
    from benchmark.data import audithashes

    path = tmp_path / "audit" / "entry.npz"
    audithashes.HashCache._write(path, {"hashes": np.zeros((3, 2), dtype=np.uint64)})
    assert audithashes.HashCache._read(path)["hashes"].shape == (3, 2)
    path.write_bytes(b"PK not a zip")
    with caplog.at_level(logging.WARNING, logger="benchmark.data.audithashes"):
        assert audithashes.HashCache._read(path) is None
    assert "is damaged" in caplog.text
    monkeypatch.setattr(cachefiles, "has_room", lambda folder, nbytes: False)
    with caplog.at_level(logging.WARNING, logger="benchmark.data.audithashes"):
        audithashes.HashCache._write(tmp_path / "audit" / "other.npz", {"hashes": np.zeros(3)})
    assert "not enough free space" in caplog.text and not (tmp_path / "audit" / "other.npz").exists()
