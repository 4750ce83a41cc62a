"""The CUDA paths keep results: bf16 + channels_last training and extraction close to fp32 on the CPU,
the pinned-memory stream serving the same batches as device-resident data, torch.compile close to eager,
and the torch SVMs matching scikit-learn on the GPU.

Skipped without a GPU (CI has none); `perf/device_check.sh` runs them on one.
"""

import warnings

import numpy as np
import pytest
import timm
import torch
from fakedata import red_or_blue
from sklearn.datasets import make_classification
from sklearn.metrics import roc_auc_score
from sklearn.svm import SVC, LinearSVC

import benchmark.engine.staging
from benchmark.acceleration import Acceleration
from benchmark.engine.models import create_backbone, predict
from benchmark.engine.staging import StagedImages
from benchmark.engine.torchsvm import TorchLinearSVC, TorchSVC
from benchmark.engine.training import LabelledImages, train_classifier
from benchmark.presets import CPU_QUICK

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
# timm's test models came with timm 1.0.12; a GPU image may hold an older timm
BACKBONE = "test_resnet" if timm.list_models("test_resnet") else "resnet10t"
PRESET = CPU_QUICK.with_overrides(image_size=32, max_epochs=3, patience=10, batch_size=16, augment_rotation=10.0,
                                  augment_crop_scale=0.8)


def _images(n: int, seed: int = 0) -> LabelledImages:
    return red_or_blue(n, seed, size=32)


def _train(device: torch.device, accel: Acceleration) -> list[dict]:
    torch.manual_seed(0)
    model = create_backbone(BACKBONE, 2)
    return train_classifier(model, _images(96), _images(32, seed=1), 2, PRESET, device, seed=3, accel=accel)


def _assert_close_histories(got: list[dict], expected: list[dict], rel: float, abs_: float) -> None:
    assert len(got) == len(expected) == PRESET.max_epochs
    for a, b in zip(expected, got, strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=rel, abs=abs_)
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=rel, abs=abs_)
    assert expected[-1]["train_loss"] < expected[0]["train_loss"]  # it learned: the comparison means something


def test_cuda_defaults_are_bf16_and_channels_last():
    assert Acceleration.for_device(CUDA) == Acceleration(bf16=True, channels_last=True, compile=False)


def test_tuned_cuda_training_matches_fp32_on_the_cpu():
    """Same seed, same augmentation draws: the tuned GPU trainer follows the fp32 CPU losses."""
    _assert_close_histories(_train(CUDA, Acceleration.for_device(CUDA)), _train(CPU, Acceleration()), 0.05, 0.02)


def test_compiled_cuda_training_matches_eager():
    eager = _train(CUDA, Acceleration.for_device(CUDA))
    compiled = _train(CUDA, Acceleration.for_device(CUDA, compile=True))
    _assert_close_histories(compiled, eager, 0.05, 0.02)


def test_training_steps_do_not_make_the_host_wait():
    """The host synchronises with the GPU a fixed number of times per epoch (its end), whatever the number
    of steps: 3 steps an epoch and 10 steps an epoch count the same synchronising calls."""

    def synchronisations(n: int) -> int:
        torch.manual_seed(0)
        model = create_backbone(BACKBONE, 2)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                train_classifier(model, _images(n), _images(32, seed=1), 2, PRESET, CUDA, seed=3)
            finally:
                torch.cuda.set_sync_debug_mode("default")
        return sum("synchroniz" in str(w.message) for w in caught)

    synchronisations(48)  # first calls in a process synchronise once (cached constants, cudnn autotuning)
    assert synchronisations(48) == synchronisations(160)


def test_pinned_stream_serves_the_device_resident_batches(monkeypatch):
    images = _images(40).images
    resident = StagedImages(images, CUDA)
    assert resident.on_device and resident.images.device.type == "cuda"
    with monkeypatch.context() as patch:
        patch.setattr(benchmark.engine.staging, "fits_on_device", lambda *args, **kwargs: False)
        streamed = StagedImages(images, CUDA)
        # the trainer on streamed data follows the same losses as on resident data
        streamed_history = _train(CUDA, Acceleration.for_device(CUDA))
    assert not streamed.on_device and streamed.images.device.type == "cpu"
    index = torch.tensor([31, 0, 7, 7, 19])
    for batch in (streamed.take(index), streamed.range(5, 21)):
        assert batch.device.type == "cuda" and batch.dtype == torch.uint8
    assert torch.equal(streamed.take(index).cpu(), images[index])
    assert torch.equal(streamed.range(5, 21).cpu(), resident.range(5, 21).cpu())
    _assert_close_histories(streamed_history, _train(CUDA, Acceleration.for_device(CUDA)), 0.02, 0.01)


def test_bf16_cuda_features_match_fp32_cpu_features():
    torch.manual_seed(0)
    model = create_backbone(BACKBONE, 3)
    images = _images(64).images
    cpu = predict(model, images, "imagenet", CPU, features=True, accel=Acceleration())
    gpu = predict(model, images, "imagenet", CUDA, features=True)
    assert gpu.dtype == np.float32 and gpu.shape == cpu.shape
    assert np.abs(gpu - cpu).max() < 0.03 * np.abs(cpu).max()


@pytest.mark.parametrize(("reference", "solver"), [
    (SVC(kernel="linear", C=1.0), TorchSVC(C=1.0, device="cuda")),
    (LinearSVC(C=0.1, max_iter=5000, random_state=0), TorchLinearSVC(C=0.1, device="cuda")),
])
def test_torch_svms_on_cuda_match_scikit_learn(reference, solver):
    features, labels = make_classification(n_samples=900, n_features=256, n_informative=8, flip_y=0.1,
                                           random_state=0)
    train, test = slice(0, 600), slice(600, None)
    expected = reference.fit(features[train], labels[train]).decision_function(features[test])
    got = solver.fit(features[train], labels[train]).decision_function(features[test])
    expected_auc = roc_auc_score(labels[test], expected)
    assert 0.7 < expected_auc < 0.999
    assert abs(roc_auc_score(labels[test], got) - expected_auc) < 0.005


def _aucs(tmp_path, jobs: int) -> dict[str, float]:
    from click.testing import CliRunner

    from benchmark.cli import main
    from benchmark.run.store import Store

    out = tmp_path / f"jobs{jobs}"
    result = CliRunner().invoke(main, [
        "run", "-d", "synth_cells", "-s", "synth_shapes", "-s", "none", "-m", "scratch", "-m", "fe-svm", "-m", "ft-svm",
        "--seeds", "2,5", "--max-epochs", "2", "--preset", "cpu-quick", "--backbone", BACKBONE, "--device", "cuda",
        "--out", str(out), "--cache-dir", str(tmp_path / f"cache{jobs}"), "--jobs-per-gpu", str(jobs),
    ])
    assert result.exit_code == 0, result.output
    return {row["node_id"]: row["metrics"]["auc"] for row in Store(out).rows() if row["status"] == "passed"}


def test_jobs_side_by_side_on_their_own_streams_match_one_at_a_time(tmp_path):
    """Streams change when kernels run, not what they compute: the same AUCs up to GPU rounding."""
    sequential = _aucs(tmp_path, 1)
    assert len(sequential) == 6
    side_by_side = _aucs(tmp_path, 3)
    assert side_by_side.keys() == sequential.keys()
    for node, auc in sequential.items():
        assert side_by_side[node] == pytest.approx(auc, abs=0.03), node
