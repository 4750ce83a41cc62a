"""The fast paths keep results: bf16 close to fp32, a seed reproducible, augmentation and staging exact,
and the feature cache extracting each image once per set of weights."""

import numpy as np
import pytest
import torch
from fakedata import red_or_blue

from benchmark.acceleration import Acceleration
from benchmark.data.splits import Split
from benchmark.data.taskdata import SplitData
from benchmark.datasets import Task
from benchmark.engine.augment import Augmentation
from benchmark.engine.featurecache import FeatureCache, weights_fingerprint
from benchmark.engine.models import create_backbone, predict
from benchmark.engine.staging import StagedImages
from benchmark.engine.training import LabelledImages, train_classifier
from benchmark.presets import CPU_QUICK
from benchmark.run.context import ExperimentContext
from benchmark.settings import RunSettings

CPU = torch.device("cpu")
# 24 px: at 16 px test_resnet's last stage is 1x1, where CPU bf16 training turned NaN within two epochs
PRESET = CPU_QUICK.with_overrides(image_size=24, max_epochs=3, patience=10, batch_size=16)


def _images(n: int, seed: int = 0) -> LabelledImages:
    return red_or_blue(n, seed, size=24)


def _train(accel: Acceleration | None = None, seed: int = 3):
    torch.manual_seed(0)
    model = create_backbone("test_resnet", 2)
    history = train_classifier(model, _images(64), _images(32, seed=1), 2, PRESET, CPU, seed, accel=accel)
    return model, history


def test_fixed_seed_gives_identical_training():
    model_a, history_a = _train()
    model_b, history_b = _train()
    assert all(0 < h["train_seconds"] <= h["seconds"] for h in history_a)  # steps alone, then with validation
    losses = [(h["train_loss"], h["val_loss"]) for h in history_a]
    assert losses == [(h["train_loss"], h["val_loss"]) for h in history_b]
    for (name, a), b in zip(model_a.state_dict().items(), model_b.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    _, other_seed = _train(seed=4)
    assert [h["train_loss"] for h in other_seed] != [h["train_loss"] for h in history_a]


@pytest.mark.parametrize("restore_best", [True, False])
def test_the_best_validation_epoch_is_restored(restore_best):
    """Noisy labels and a high lr: validation loss improves for three epochs, then worsens. The returned
    model has the best epoch's validation loss (or, without restore_best, the last epoch's)."""
    preset = PRESET.with_overrides(max_epochs=6, lr=0.05, restore_best=restore_best)
    train, val = red_or_blue(64, 0, strength=30, flip=0.4), red_or_blue(32, 1, strength=30)
    torch.manual_seed(0)
    model = create_backbone("test_resnet", 2)
    history = train_classifier(model, train, val, 2, preset, CPU, seed=3)
    losses = [h["val_loss"] for h in history]
    best = int(np.argmin(losses))
    assert len(losses) == 6 and best >= 2 and losses[-1] > losses[best]  # improved more than once, then worse
    probabilities = predict(model, val.images, preset.normalize, CPU)
    loss = -np.log(probabilities[np.arange(len(val)), val.labels.numpy()]).mean()  # unweighted, as the study's
    assert loss == pytest.approx(losses[best] if restore_best else losses[-1], rel=1e-4)


def test_bf16_training_matches_fp32():
    fp32_model, fp32 = _train()
    bf16_model, bf16 = _train(Acceleration(bf16=True))
    assert len(fp32) == len(bf16) == PRESET.max_epochs
    for a, b in zip(fp32, bf16, strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=0.05, abs=0.02)
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=0.05, abs=0.02)
    assert fp32[-1]["train_loss"] < fp32[0]["train_loss"]  # it learned, so the comparison means something
    images = _images(32, seed=2).images
    p32 = predict(fp32_model, images, PRESET.normalize, CPU)
    p16 = predict(bf16_model, images, PRESET.normalize, CPU, accel=Acceleration(bf16=True))
    assert np.abs(p32 - p16).max() < 0.1


def test_bf16_inference_matches_fp32_on_the_same_weights():
    torch.manual_seed(0)
    model = create_backbone("test_resnet", 3)
    images = _images(16).images
    fp32 = predict(model, images, "imagenet", CPU, features=True)
    bf16 = predict(model, images, "imagenet", CPU, features=True, accel=Acceleration(bf16=True))
    assert bf16.dtype == np.float32 and bf16.shape == fp32.shape
    scale = np.abs(fp32).max()
    assert np.abs(bf16 - fp32).max() < 0.03 * scale
    assert not np.array_equal(bf16, fp32)  # bf16 really ran


def test_compiled_training_matches_eager_and_compiles_once_per_architecture():
    """``--compile`` on the CPU (inductor, C++): the same losses as eager, and a second model of the same
    architecture (the next experiment) reuses the compiled graphs instead of compiling again."""
    from torch._dynamo.utils import counters

    counters.clear()
    eager_model, eager = _train()
    compiled_model, compiled = _train(Acceleration(compile=True))
    graphs = counters["stats"]["unique_graphs"]
    assert graphs > 0  # compilation really happened
    for a, b in zip(eager, compiled, strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-4)
    for (name, a), b in zip(eager_model.state_dict().items(), compiled_model.state_dict().values(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-3, atol=1e-4, msg=name)
    _train(Acceleration(compile=True), seed=4)
    assert counters["stats"]["unique_graphs"] == graphs


def test_compiled_models_with_other_class_counts_share_the_trunks_graphs_within_the_recompile_limit(monkeypatch):
    """A worker trains a source (3 classes), then fine-tunes and scores targets of other class counts: more
    models than Dynamo's recompile limit, which a whole-model compile passes (one recompile per new head), after
    which it silently runs eagerly. The compiled trunk is shared: no new graph after the first model. Recompiles
    are Dynamo's guards, whatever the backend: aot_eager keeps inductor's C++ build out of the test's time (the
    test above runs inductor itself)."""
    from functools import partial

    from torch._dynamo.utils import counters

    monkeypatch.setattr(torch, "compile", partial(torch.compile, backend="aot_eager"))
    accel = Acceleration(compile=True)
    preset = PRESET.with_overrides(max_epochs=1)
    counters.clear()
    graphs = None
    class_counts = [3, 2, 4, 5, 6, 7, 8, 9, 10, 2]
    assert len(class_counts) > torch._dynamo.config.recompile_limit
    for classes in class_counts:
        torch.manual_seed(0)
        model = create_backbone("test_resnet", classes)
        train = LabelledImages(_images(32).images, torch.arange(32) % classes)
        train_classifier(model, train, _images(16, seed=1), classes, preset, CPU, seed=3, accel=accel)
        predict(model, train.images, "imagenet", CPU, features=True, accel=accel)
        graphs = graphs or counters["stats"]["unique_graphs"]
        assert counters["stats"]["unique_graphs"] == graphs, f"recompiled for {classes} classes"
    assert not [key for key in counters["frames"] if key not in ("total", "ok")]  # no frame fell back to eager


def test_the_final_classifier_runs_in_fp32_under_bf16_autocast():
    """Scores from a bf16 trunk still differ where bf16 logits would tie: the classifier sees fp32 features."""
    torch.manual_seed(0)
    model = create_backbone("test_resnet", 2).eval()
    seen = []
    model.get_classifier().register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    scores = predict(model, _images(64).images, PRESET.normalize, CPU, accel=Acceleration(bf16=True))
    assert seen and set(seen) == {torch.float32}
    assert len(np.unique(scores[:, 1])) == len(scores)


def test_acceleration_names_what_is_on():
    assert str(Acceleration()) == "fp32"
    assert str(Acceleration(bf16=True, channels_last=True, compile=True)) == "bf16 + channels_last + compile"


def test_flip_only_augmentation_mirrors_the_drawn_images():
    x = torch.rand(6, 3, 5, 5)
    augmentation = Augmentation(flip=True)
    params = augmentation.draw(6, torch.Generator().manual_seed(0))
    out = augmentation.apply(x, params)
    for i in range(6):
        assert torch.equal(out[i], x[i].flip(-1) if params["flip"][i] else x[i])


def test_geometric_augmentation_with_identity_parameters_keeps_the_image():
    x = torch.rand(2, 3, 8, 8)
    augmentation = Augmentation(flip=True, rotation=10.0, crop_scale=0.5)
    identity = {"flip": torch.tensor([False, True]), "angle": torch.zeros(2), "width": torch.ones(2),
                "height": torch.ones(2), "centre": torch.zeros(2, 2)}
    out = augmentation.apply(x, identity)
    torch.testing.assert_close(out[0], x[0])
    torch.testing.assert_close(out[1], x[1].flip(-1))
    drawn = augmentation.draw(2, torch.Generator().manual_seed(0))
    assert set(drawn) == {"flip", "angle", "width", "height", "centre"}
    assert (drawn["angle"].abs() <= np.radians(10)).all() and (drawn["width"] <= 1).all()
    assert augmentation.apply(x, drawn).shape == x.shape


def test_preset_without_extra_fields_keeps_flip_only():
    assert Augmentation.from_preset(PRESET) == Augmentation(flip=True)


def test_staged_images_on_cpu_serve_the_same_batches():
    images = _images(10).images
    staged = StagedImages(images, CPU)
    index = torch.tensor([7, 2, 2, 9])
    assert torch.equal(staged.take(index), images[index])
    assert torch.equal(staged.range(3, 6), images[3:6])


def test_weights_fingerprint_ignores_the_head_only():
    torch.manual_seed(0)
    model = create_backbone("test_resnet", 2)
    before = weights_fingerprint(model)
    model.reset_classifier(5)
    assert weights_fingerprint(model) == before
    with torch.no_grad():
        next(model.parameters())[0, 0, 0, 0] += 1e-3
    assert weights_fingerprint(model) != before


def test_feature_cache_extracts_each_image_once():
    cache = FeatureCache()
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 3, 2, 2).contiguous()
    calls = []

    def extract(batch):
        calls.append(len(batch))
        return batch[:, 0, 0, :1].float().numpy() * 2

    first = cache.features("w", np.array([4, 1, 7]), images[[4, 1, 7]], extract)
    np.testing.assert_array_equal(first[:, 0], [8, 2, 14])
    again = cache.features("w", np.array([7, 4, 1]), images[[7, 4, 1]], extract)
    np.testing.assert_array_equal(again[:, 0], [14, 8, 2])
    mixed = cache.features("w", np.array([1, 9]), images[[1, 9]], extract)
    np.testing.assert_array_equal(mixed[:, 0], [2, 18])
    assert calls == [3, 1] and cache.extracted == 4 and cache.reused == 4
    cache.features("other weights", np.array([1]), images[[1]], extract)
    assert calls == [3, 1, 1]


def _context(seed: int, cache: FeatureCache) -> ExperimentContext:
    data = _images(40)
    order = np.random.default_rng(seed).permutation(40)
    split = Split(train=order[:24], val=order[24:30], test=order[30:], kind="test")

    def part(index):
        return LabelledImages(data.images[index], data.labels[index])

    split_data = SplitData(Task("toy", ("a", "b"), frozenset({"target"})), split,
                           part(split.train), part(split.val), part(split.test))
    settings = RunSettings(PRESET, CPU, data_root=None, cache_dir=None)
    return ExperimentContext(split_data, settings, seed, source=None, feature_cache=cache)


def test_feature_extraction_reuses_features_across_seeds():
    cache = FeatureCache()
    torch.manual_seed(0)
    model = create_backbone("test_resnet", 2)
    ctx = _context(2, cache)
    cached = ctx.features(model)
    assert cache.extracted == 40 and cache.reused == 0  # train, validation and test
    uncached = _context(2, None).features(model)
    for a, b in zip(cached, uncached, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    model.reset_classifier(2)  # a new head, as the next experiment's source model gets
    _context(5, cache).features(model)
    assert cache.extracted == 40 and cache.reused == 40  # every image is known: another seed only reorders them


def _run_scores(tmp_path, jobs: int) -> dict:
    from click.testing import CliRunner

    from benchmark.cli import main
    from benchmark.run.store import Store

    out = tmp_path / f"jobs{jobs}"
    result = CliRunner().invoke(main, [
        "run", "-d", "synth_cells", "-s", "random", "-s", "none", "-m", "scratch", "-m", "fe-svm",
        "--seeds", "2,5", "--max-epochs", "1", "--image-size", "24", "--device", "cpu", "--out", str(out),
        "--cache-dir", str(tmp_path / "cache"), "--jobs-per-gpu", str(jobs),
    ])
    assert result.exit_code == 0, result.output
    return {row["node_id"]: (row["status"], row["scores"]) for row in Store(out).rows()}


def test_jobs_side_by_side_give_the_sequential_results(tmp_path):
    sequential = _run_scores(tmp_path, 1)
    assert len(sequential) == 4 and {status for status, _ in sequential.values()} == {"passed"}
    assert _run_scores(tmp_path, 2) == sequential


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_cpu_optimizers_are_fused_and_step_as_torchs_default(optimizer):
    """One fused kernel per step on the CPU (torch 2.4 and later), moving the weights as torch's default does."""
    from benchmark.engine.training import _fused_on_cpu, make_optimizer

    preset = PRESET.with_overrides(optimizer=optimizer, lr=0.01)
    torch.manual_seed(0)
    fused_model = create_backbone("test_resnet", 2)
    default_model = create_backbone("test_resnet", 2)
    default_model.load_state_dict(fused_model.state_dict())
    start = {name: tensor.clone() for name, tensor in fused_model.state_dict().items()}
    fused = make_optimizer(fused_model, preset)
    if not _fused_on_cpu(fused_model, type(fused)):
        pytest.skip("this torch has no fused CPU kernel for this optimizer")
    assert fused.defaults["fused"] is True
    default = type(fused)(default_model.parameters(), **{**fused.defaults, "fused": None})
    x = torch.randn(8, 3, 24, 24)
    for _ in range(3):
        for model, opt in ((fused_model, fused), (default_model, default)):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
    for (name, a), b in zip(fused_model.state_dict().items(), default_model.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-5), name
    assert not torch.allclose(fused_model.state_dict()["fc.weight"], start["fc.weight"])  # the steps moved it
