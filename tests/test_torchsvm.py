"""The torch SVM solves LinearSVC's objective: same AUC within 0.005, and the backend choice is explicit."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

from benchmark.engine.svm import svm_scores
from benchmark.engine.torchsvm import TorchLinearSVC, TorchSVC
from benchmark.presets import CPU_QUICK, THESIS
from benchmark.settings import resolve_svm_backend


def _digits(classes):
    """Real 8x8 digit images (scikit-learn's bundled set) as 64 features, standardised on training."""
    features, labels = load_digits(return_X_y=True)
    keep = np.isin(labels, classes)
    features, labels = features[keep], np.searchsorted(classes, labels[keep])
    order = np.random.default_rng(0).permutation(len(labels))
    features, labels = features[order], labels[order]
    cut = len(labels) * 2 // 3
    scaler = StandardScaler().fit(features[:cut])
    return scaler.transform(features[:cut]), labels[:cut], scaler.transform(features[cut:]), labels[cut:]


def _mean_auc(labels, scores):
    if scores.ndim == 1:
        return roc_auc_score(labels == 1, scores)
    return np.mean([roc_auc_score(labels == c, scores[:, c]) for c in range(scores.shape[1])])


def _assert_same_model(classes, reference, solver, noise_seed):
    """``solver`` and the scikit-learn ``reference`` (one-vs-rest beyond two classes) reach the same optimum
    on noisy digits: the same AUC within 0.005 and, beyond the ranking, nearly the same scores."""
    train_x, train_y, test_x, test_y = _digits(np.array(classes))
    # noisy features so that the classes overlap and AUC is below 1, where a solver difference would show
    rng = np.random.default_rng(noise_seed)
    train_x = train_x + rng.normal(0, 2.0, train_x.shape)
    test_x = test_x + rng.normal(0, 2.0, test_x.shape)
    if len(classes) > 2:
        reference = OneVsRestClassifier(reference)
    expected = reference.fit(train_x, train_y).decision_function(test_x)
    got = solver.fit(train_x, train_y).decision_function(test_x)
    assert got.shape == expected.shape
    expected_auc, got_auc = _mean_auc(test_y, expected), _mean_auc(test_y, got)
    assert 0.7 < expected_auc < 0.999
    assert abs(got_auc - expected_auc) < 0.005
    assert np.corrcoef(got.ravel(), expected.ravel())[0, 1] > 0.999


@pytest.mark.parametrize("classes", [(3, 8), (1, 3, 5, 7, 8, 9)])
def test_torch_svm_matches_linearsvc_auc(classes):
    _assert_same_model(classes, LinearSVC(C=0.1, max_iter=5000, random_state=0), TorchLinearSVC(C=0.1), 1)


def test_intercept_is_penalised_like_liblinear():
    """Far-off-centre data: liblinear shrinks the intercept toward 0, and so must the torch solver."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(5.0, 1.0, (40, 2)), rng.normal(6.0, 1.0, (40, 2))])
    y = np.repeat([0, 1], 40)
    expected = LinearSVC(C=0.01, max_iter=20000, tol=1e-8).fit(x, y)
    got = TorchLinearSVC(C=0.01).fit(x, y)
    assert got.intercept_.item() == pytest.approx(expected.intercept_[0], abs=2e-3)
    np.testing.assert_allclose(got.coef_.numpy()[0], expected.coef_[0], atol=2e-3)


def test_svm_scores_backends_agree_and_fill_missing_classes():
    train_x, train_y, test_x, test_y = _digits(np.array([0, 1, 2, 3]))
    train_y = np.where(train_y == 3, 2, train_y)  # class 3 never seen in training
    sklearn_scores = svm_scores(train_x, train_y, test_x, 4, CPU_QUICK, seed=0)
    torch_scores = svm_scores(train_x, train_y, test_x, 4, CPU_QUICK, seed=0, backend="torch")
    assert torch_scores.shape == sklearn_scores.shape == (len(test_x), 4)
    assert (torch_scores[:, 3] < torch_scores[:, :3].min()).all()
    for c in range(3):
        assert abs(roc_auc_score(test_y == c, torch_scores[:, c]) - roc_auc_score(test_y == c, sklearn_scores[:, c])) \
            < 0.005


def test_backend_resolution():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_svm_backend("auto", cpu) == "sklearn"
    assert resolve_svm_backend("auto", cuda) == "torch"  # for both presets' SVMs
    assert resolve_svm_backend("torch", cpu) == "torch"
    assert resolve_svm_backend("sklearn", cuda) == "sklearn"
    with pytest.raises(ValueError, match="unknown --svm"):
        resolve_svm_backend("gpu", cpu)


@pytest.mark.parametrize("classes,c", [((3, 8), 1.0), ((1, 3, 5, 7, 8, 9), 1.0), ((1, 3, 5, 7, 8, 9), 0.01)])
def test_torch_svc_matches_libsvm(classes, c):
    """The interior-point dual solver reaches SVC(kernel="linear")'s optimum, with bounded and free support
    vectors (the classes overlap)."""
    _assert_same_model(classes, SVC(kernel="linear", C=c), TorchSVC(C=c), 2)


def test_thesis_svm_scores_backends_agree():
    train_x, train_y, test_x, test_y = _digits(np.array([0, 1, 2]))
    train_x = train_x + np.random.default_rng(3).normal(0, 3.0, train_x.shape)
    sklearn_scores = svm_scores(train_x, train_y, test_x, 3, THESIS, seed=0)
    torch_scores = svm_scores(train_x, train_y, test_x, 3, THESIS, seed=0, backend="torch")
    for k in range(3):
        assert abs(roc_auc_score(test_y == k, torch_scores[:, k]) - roc_auc_score(test_y == k, sklearn_scores[:, k])) \
            < 0.005
