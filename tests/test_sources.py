import dataclasses
from pathlib import Path

import pytest
import timm
import torch

from benchmark.data.taskdata import TaskData
from benchmark.datasets import DatasetStatus
from benchmark.engine.models import create_backbone
from benchmark.engine.pretrainedsource import PretrainedSource
from benchmark.hashing import state_dict_hash
from benchmark.inputs import named
from benchmark.presets import CPU_QUICK
from benchmark.registry.catalog import Catalog
from benchmark.registry.trainedsources import DatasetSource
from benchmark.run.planner import skip_reason
from benchmark.run.skips import LEAK
from benchmark.settings import RunSettings
from benchmark.sources import Source
from tlbench_plugins.sources.builtin import ImageNetSource, RandomSource

TINY_PRESET = CPU_QUICK.with_overrides(image_size=16, max_epochs=2)


def settings(tmp_path, **kwargs):
    return RunSettings(TINY_PRESET, torch.device("cpu"), Path("data"), tmp_path / "cache", **kwargs)


def test_imagenet_from_a_local_weights_file(tmp_path):
    reference = create_backbone("test_resnet", 1000)
    weights = tmp_path / "weights.pth"
    torch.save(reference.state_dict(), weights)
    source = ImageNetSource()
    run = settings(tmp_path, imagenet_weights=weights)
    assert source.status(run) == (True, f"weights from {weights}")
    model = source.build(run, num_classes=3, seed=2)
    expected = reference.state_dict()
    loaded = model.state_dict()
    body = [k for k in expected if not k.startswith("fc.")]
    assert body and all(torch.equal(loaded[k], expected[k]) for k in body)
    assert loaded["fc.weight"].shape[0] == 3
    assert source.identity(run)["weights_sha256"] == state_dict_hash(reference.state_dict())


def test_imagenet_without_weights_is_unavailable_with_what_to_do(tmp_path):
    ok, reason = ImageNetSource().status(settings(tmp_path))
    assert not ok and "--imagenet-weights" in reason and "--online" in reason
    ok, reason = ImageNetSource().status(settings(tmp_path, imagenet_weights=tmp_path / "nope.pth"))
    assert not ok and "does not exist" in reason
    with pytest.raises(FileNotFoundError):
        ImageNetSource().build(settings(tmp_path), 2, seed=0)


def test_random_source_is_seeded():
    run = RunSettings(TINY_PRESET, torch.device("cpu"), Path("data"), Path("cache"))
    a, b, c = (RandomSource().build(run, 2, seed).state_dict()["conv1.0.weight"] for seed in (2, 2, 5))
    assert torch.equal(a, b) and not torch.equal(a, c)
    torch.manual_seed(2)  # the stream it always drew from: the global generator seeded with the seed
    assert torch.equal(a, create_backbone(TINY_PRESET.backbone, 2).state_dict()["conv1.0.weight"])


def test_a_dataset_source_is_trained_once_and_reused(tmp_path):
    from tiny_plugin import TinySource

    dataset = TinySource()
    source = DatasetSource(dataset, dataset.tasks()[0])
    run = settings(tmp_path)
    data = TaskData(run)
    source.prepare(run, data)
    path = source.trained_model_path(run)
    stamp = path.stat().st_mtime_ns
    source.prepare(run, data)
    assert path.stat().st_mtime_ns == stamp
    model = source.build(run, num_classes=3, seed=0)
    saved = torch.load(path, weights_only=True)
    body = [k for k in saved if not k.startswith("fc.")]
    assert all(torch.equal(model.state_dict()[k], saved[k]) for k in body)
    other = RunSettings(TINY_PRESET.with_overrides(lr=0.5), run.device, run.data_root, run.cache_dir)
    assert source.trained_model_path(other) != path


def test_imagenet_from_the_hugging_face_cache(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    reference = create_backbone("test_resnet", 1000)
    repo = tmp_path / "hub" / "models--timm--test_resnet.r160_in1k"
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, snapshot / "model.safetensors")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    run = settings(tmp_path)
    ok, reason = ImageNetSource().status(run)
    assert ok and "model.safetensors" in reason
    model = ImageNetSource().build(run, num_classes=2, seed=0)
    assert torch.equal(model.state_dict()["conv1.0.weight"], reference.state_dict()["conv1.0.weight"])
    # the identity is the weights' content, whichever way they were found
    pth = tmp_path / "same.pth"
    torch.save(reference.state_dict(), pth)
    assert ImageNetSource().identity(run) == ImageNetSource().identity(settings(tmp_path, imagenet_weights=pth))


def test_imagenet_weights_get_their_own_input_convention(tmp_path):
    weights = tmp_path / "weights.pth"
    torch.save(create_backbone("test_resnet", 1000).state_dict(), weights)
    thesis_like = RunSettings(TINY_PRESET.with_overrides(normalize="unit"), torch.device("cpu"), Path("data"),
                              tmp_path, imagenet_weights=weights)
    own = ImageNetSource().input_convention(thesis_like)
    cfg = timm.models.get_pretrained_cfg("test_resnet").to_dict()
    assert own.mean == tuple(cfg["mean"]) and own.std == tuple(cfg["std"]) and own.name.startswith("imagenet")
    assert RandomSource().input_convention(thesis_like) == named("unit")
    # part of the source's identity, so a run that feeds the weights another input is another experiment
    as_run = dataclasses.replace(thesis_like, preset=thesis_like.preset.with_overrides(pretrained_input="preset"))
    assert ImageNetSource().input_convention(as_run) == named("unit")
    assert ImageNetSource().identity(as_run) != ImageNetSource().identity(thesis_like)


def test_own_heads_are_the_weights_as_trained(tmp_path):
    reference = create_backbone("test_resnet", 1000)
    weights = tmp_path / "weights.pth"
    torch.save(reference.state_dict(), weights)
    run = settings(tmp_path, imagenet_weights=weights)
    own = ImageNetSource().build_with_own_head(run).state_dict()
    assert all(torch.equal(own[k], v) for k, v in reference.state_dict().items())  # the ImageNet classifier too
    assert RandomSource().build_with_own_head(run) is None

    from tiny_plugin import TinySource

    dataset = TinySource()
    source = DatasetSource(dataset, dataset.tasks()[0])
    source.prepare(run, TaskData(run))
    saved = torch.load(source.trained_model_path(run), weights_only=True)
    own = source.build_with_own_head(run).state_dict()
    assert own["fc.weight"].shape[0] == 4 and all(torch.equal(own[k], v) for k, v in saved.items())


def test_trained_on_names_the_data_the_harness_trains_a_source_on(tmp_path):
    from tiny_plugin import TinySource

    dataset = TinySource()
    task = dataset.tasks()[0]
    run = settings(tmp_path)
    trained = DatasetSource(dataset, task)
    assert trained.trained_on == (dataset, task)
    assert trained.trained_model_path(run).parent == run.cache_dir / "sources"
    for other in (RandomSource(), ImageNetSource(), PretrainedSource("test_resnet.r160_in1k")):
        assert other.trained_on is None and other.trained_model_path(run) is None


def test_any_source_that_says_what_it_was_trained_on_is_kept_from_targets_sharing_those_images():
    from tiny_plugin import TinySource, TinyTarget

    target = TinyTarget()

    class TrainedOnTheTarget(Source):  # a plugin's own trained source: no DatasetSource, only the property
        name = "own_training"

        @property
        def trained_on(self):
            return target, target.tasks()[0]

    available = DatasetStatus("available")
    reason = skip_reason(target, TrainedOnTheTarget(), "own_training", available, None)
    assert reason is not None and reason.kind == LEAK and "own dataset" in reason.message
    other = TinySource()
    assert skip_reason(target, DatasetSource(other, other.tasks()[0]), "tiny_src", available, None) is None
    assert skip_reason(target, RandomSource(), "random", available, None) is None


def test_the_catalog_builds_each_trained_source_once_and_refreshes_its_identity(tmp_path):
    from tiny_plugin import TinySource

    dataset = TinySource()
    catalog = Catalog()
    catalog.add("datasets", dataset, "tiny_plugin")
    catalog.add("sources", RandomSource(), "sources")
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    run = RunSettings(TINY_PRESET, torch.device("cpu"), Path("data"), blocked / "cache")
    source = catalog.all_sources()["tiny_src"]
    assert catalog.all_sources()["tiny_src"] is source and catalog.all_sources()["random"] is catalog.sources["random"]
    # what the object holds lasts: the model it could not write to the cache is there for a later lookup
    source.prepare(run, TaskData(run))
    assert not source.trained_model_path(run).exists()
    model = catalog.all_sources()["tiny_src"].build(run, num_classes=2, seed=0)
    assert model.fc.out_features == 2
    # its identity follows the data as it is at each lookup (a plan made later sees changed data)
    before = source.identity(run)
    dataset.seed = 5
    assert source.identity(run) == before
    assert catalog.all_sources()["tiny_src"].identity(run)["data"] != before["data"]


def test_a_trained_source_on_a_full_disk_leaves_no_partial_file_and_keeps_its_model_in_memory(tmp_path,
                                                                                                  monkeypatch):
    from tiny_plugin import TinySource

    from benchmark.files import cachefiles

    monkeypatch.setattr(cachefiles, "has_room", lambda folder, nbytes: nbytes == 0)  # room for the description only
    dataset = TinySource()
    source = DatasetSource(dataset, dataset.tasks()[0])
    run = settings(tmp_path)
    source.prepare(run, TaskData(run))
    folder = source.trained_model_path(run).parent
    assert [p for p in folder.iterdir() if p.suffix != ".lock"] == []  # neither the weights nor their description
    assert source.build(run, num_classes=2, seed=0).fc.out_features == 2
