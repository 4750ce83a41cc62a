"""The torch SVC checks its n^2 memory before allocating; --svm auto falls back to scikit-learn, --svm torch
fails with a clear message, and each stored experiment names the SVM backend that actually fitted it."""

import json
import logging
import sqlite3

import numpy as np
import pytest
from conftest import TINY
from fakedata import no_builtin_datasets
from sklearn.datasets import load_digits

import benchmark.engine.torchsvm
import benchmark.settings
from benchmark.engine.svm import svm_scores
from benchmark.engine.torchsvm import SVMMemoryError, TorchSVC, svc_peak_bytes
from benchmark.presets import THESIS

ONE_KIB = 1024


@pytest.fixture
def free_memory(monkeypatch):
    """Set the free bytes TorchSVC sees on any device."""
    return lambda free: monkeypatch.setattr(benchmark.engine.torchsvm, "_free_bytes", lambda device: free)


def _digits(n_train=90, classes=(0, 1, 2)):
    features, labels = load_digits(return_X_y=True)
    keep = np.isin(labels, classes)
    features, labels = features[keep], labels[keep]
    return features[:n_train], labels[:n_train], features[n_train:], labels[n_train:]


def test_torch_svc_refuses_before_allocating_when_memory_is_short(free_memory, monkeypatch):
    train_x, train_y, _, _ = _digits(n_train=50)
    free_memory(ONE_KIB)

    def no_allocation(*args):
        raise AssertionError("a tensor was made before the memory check")

    monkeypatch.setattr(TorchSVC, "_tensor", no_allocation)
    model = TorchSVC()
    with pytest.raises(SVMMemoryError, match="50 training samples") as raised:
        model.fit(train_x, train_y)
    assert isinstance(raised.value, MemoryError)
    assert "use --svm sklearn (scikit-learn's SVC, on the CPU)" in str(raised.value)
    assert raised.value.samples == 50 and raised.value.free == ONE_KIB
    assert not hasattr(model, "coef_") and not hasattr(model, "classes_")


def test_torch_svc_fits_when_the_estimate_just_fits_or_free_memory_is_unknown(free_memory):
    train_x, train_y, _, _ = _digits(n_train=50)
    needed = svc_peak_bytes(*train_x.shape)
    free_memory(needed - 1)
    with pytest.raises(SVMMemoryError):
        TorchSVC().fit(train_x, train_y)
    for free in (needed, None):
        free_memory(free)
        assert TorchSVC().fit(train_x, train_y).coef_.shape == (3, 64)


def test_the_estimate_is_four_gram_sized_matrices_with_headroom():
    assert svc_peak_bytes(9_000, 0) == pytest.approx(1.2 * 4 * 8 * 9_000**2)
    assert benchmark.engine.torchsvm._free_bytes(benchmark.engine.torchsvm.torch.device("cpu")) > 0


def test_fallback_fits_scikit_learn_and_warns(free_memory, caplog):
    train_x, train_y, test_x, _ = _digits()
    expected = svm_scores(train_x, train_y, test_x, 3, THESIS, seed=0)
    free_memory(ONE_KIB)
    info = {}
    with caplog.at_level(logging.WARNING, logger="benchmark.engine.svm"):
        got = svm_scores(train_x, train_y, test_x, 3, THESIS, seed=0, backend="torch", fallback=True, info=info)
    np.testing.assert_array_equal(got, expected)
    assert info == {"svm_backend": "sklearn", "svm_c": 1.0}
    assert "90 training samples" in caplog.text and "scikit-learn" in caplog.text


def test_without_fallback_the_memory_error_propagates(free_memory):
    train_x, train_y, test_x, _ = _digits()
    free_memory(ONE_KIB)
    with pytest.raises(SVMMemoryError, match="--svm sklearn"):
        svm_scores(train_x, train_y, test_x, 3, THESIS, seed=0, backend="torch")


def test_memory_running_out_during_the_fit_also_falls_back(monkeypatch):
    """Side-by-side jobs can take memory after the check: a CUDA out-of-memory error in the solver falls
    back like a failed check, and without fallback propagates."""
    train_x, train_y, test_x, _ = _digits()

    def out_of_memory(self, x, y):
        raise benchmark.engine.torchsvm.torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(TorchSVC, "_solve", out_of_memory)
    info = {}
    got = svm_scores(train_x, train_y, test_x, 3, THESIS, seed=0, backend="torch", fallback=True, info=info)
    np.testing.assert_array_equal(got, svm_scores(train_x, train_y, test_x, 3, THESIS, seed=0))
    assert info == {"svm_backend": "sklearn", "svm_c": 1.0}
    with pytest.raises(benchmark.engine.torchsvm.torch.OutOfMemoryError):
        svm_scores(train_x, train_y, test_x, 3, THESIS, seed=0, backend="torch")


def test_info_names_the_torch_backend_when_it_fits():
    train_x, train_y, test_x, _ = _digits()
    info = {}
    svm_scores(train_x, train_y, test_x, 3, THESIS, seed=0, backend="torch", fallback=True, info=info)
    assert info == {"svm_backend": "torch", "svm_c": 1.0}


def _stored(out) -> list[dict]:
    db = sqlite3.connect(out / "tlbench.sqlite")
    db.row_factory = sqlite3.Row
    return [dict(r) for r in db.execute("SELECT * FROM experiments ORDER BY node_id")]


def test_runs_record_the_backend_that_fitted_each_experiment(cli, tmp_path, free_memory, monkeypatch):
    """--svm torch fails with the message; --svm auto choosing torch (as on CUDA) falls back to sklearn and
    the row says so, although the run-wide setting is torch."""
    out = tmp_path / "runs"
    plugins = ["-p", "tiny_plugin", *(arg for flag in no_builtin_datasets() for arg in ("-p", flag))]
    tiny_svc = [*TINY[: TINY.index("--preset")], "--preset", "thesis"]  # thesis: SVC(kernel="linear")
    args = [*plugins, "run", "-m", "fe-svm", "-s", "random", "--seeds", "2", "--out", out, *tiny_svc]
    free_memory(ONE_KIB)

    assert cli(*args, "--svm", "torch").exit_code == 1
    failed = _stored(out)
    assert failed and all(r["status"] == "failed" and "--svm sklearn" in r["error"] for r in failed)

    monkeypatch.setattr(benchmark.settings, "resolve_svm_backend", lambda choice, device: "torch")
    assert cli(*args, "--svm", "auto", "--rerun", "failed").exit_code == 0
    passed = _stored(out)
    assert len(passed) == len(failed) and all(r["status"] == "passed" for r in passed)
    assert all(json.loads(r["versions"])["svm_backend"] == "sklearn" for r in passed)
