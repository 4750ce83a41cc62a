"""The transferability estimators against values worked by hand, an independent computation (LogME) and the
invariances they must have."""

import numpy as np
import pytest
from scipy.optimize import minimize

from benchmark.registry.pluginmanager import load_catalog
from tlbench_plugins.estimators.hscore import hscore
from tlbench_plugins.estimators.knn import knn_auc
from tlbench_plugins.estimators.leep import leep
from tlbench_plugins.estimators.logme import logme
from tlbench_plugins.estimators.nce import nce

# 4 images, 2 target classes (y), 2 source classes (z): the source's softmax theta(x) per image
THETA = np.array([[0.8, 0.2], [0.4, 0.6], [0.3, 0.7], [0.1, 0.9]])
Y = np.array([0, 0, 1, 1])


def test_leep_by_hand():
    # joint P(y, z) = 1/4 * sum of theta over the images of class y:
    #   P(0, 0) = (0.8 + 0.4) / 4 = 0.3   P(0, 1) = (0.2 + 0.6) / 4 = 0.2
    #   P(1, 0) = (0.3 + 0.1) / 4 = 0.1   P(1, 1) = (0.7 + 0.9) / 4 = 0.4
    # P(z=0) = 0.4, P(z=1) = 0.6, so P(y|z): P(0|0) = 3/4, P(1|0) = 1/4, P(0|1) = 1/3, P(1|1) = 2/3
    # expected empirical prediction of each image's own label, sum_z P(y_i|z) theta(x_i)_z:
    #   x1 (y=0): 0.8 * 3/4 + 0.2 * 1/3 = 2/3      x2 (y=0): 0.4 * 3/4 + 0.6 * 1/3 = 1/2
    #   x3 (y=1): 0.3 * 1/4 + 0.7 * 2/3 = 13/24    x4 (y=1): 0.1 * 1/4 + 0.9 * 2/3 = 5/8
    expected = np.mean(np.log([2 / 3, 1 / 2, 13 / 24, 5 / 8]))
    assert leep(Y, THETA) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(-0.545430, abs=1e-6)


def test_nce_by_hand():
    # hard source labels z = argmax theta = (0, 1, 1, 1); joint counts / 4:
    #   P(0, 0) = 1/4, P(0, 1) = 1/4, P(1, 1) = 2/4; P(z=0) = 1/4, P(z=1) = 3/4
    # -H(Y|Z) = 1/4 log(1) + 1/4 log(1/3) + 1/2 log(2/3)
    expected = 0.25 * np.log(1 / 3) + 0.5 * np.log(2 / 3)
    assert nce(Y, THETA.argmax(1)) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(-0.477386, abs=1e-6)


def test_nce_and_leep_reach_zero_when_the_source_decides_the_label():
    probs = np.eye(2)[Y]
    assert nce(Y, probs.argmax(1)) == pytest.approx(0.0)
    assert leep(Y, probs) == pytest.approx(0.0)


def test_leep_is_invariant_to_the_order_of_the_source_classes():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(5), size=40)
    labels = rng.integers(0, 3, size=40)
    permuted = probs[:, rng.permutation(5)]
    assert leep(labels, permuted) == pytest.approx(leep(labels, probs), abs=1e-12)
    assert nce(labels, permuted.argmax(1)) == pytest.approx(nce(labels, probs.argmax(1)), abs=1e-12)


def _slow_log_evidence(features, y, alpha, beta):
    """log p(y | F, alpha, beta) of Bayesian linear regression, straight from its definition with dense
    matrices: n/2 log beta + D/2 log alpha - n/2 log 2pi - beta/2 |F m - y|^2 - alpha/2 |m|^2 - 1/2 log|A|,
    A = alpha I + beta F^T F, m = beta A^-1 F^T y."""
    n, dim = features.shape
    a = alpha * np.eye(dim) + beta * features.T @ features
    m = beta * np.linalg.solve(a, features.T @ y)
    _, log_det = np.linalg.slogdet(a)
    return (n / 2 * np.log(beta) + dim / 2 * np.log(alpha) - n / 2 * np.log(2 * np.pi)
            - beta / 2 * np.sum((features @ m - y) ** 2) - alpha / 2 * m @ m - log_det / 2)


def _slow_logme(features, labels):
    """The mean over classes of the evidence per sample, maximised over (log alpha, log beta) by scipy."""
    values = []
    for c in range(labels.max() + 1):
        y = (labels == c).astype(float)
        best = minimize(lambda p, y=y: -_slow_log_evidence(features, y, *np.exp(p)), x0=np.zeros(2),
                        method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000})
        values.append(-best.fun / len(y))
    return float(np.mean(values))


@pytest.mark.parametrize(("n", "dim"), [(60, 8), (20, 30)])  # more samples than features, and fewer
def test_logme_matches_the_evidence_maximised_directly(n, dim):
    rng = np.random.default_rng(n)
    labels = np.arange(n) % 3
    features = rng.normal(size=(n, dim)) + 0.8 * np.eye(3)[labels] @ rng.normal(size=(3, dim))
    assert logme(features, labels) == pytest.approx(_slow_logme(features, labels), abs=1e-6)


def test_logme_is_invariant_to_sample_order_and_prefers_separable_features():
    rng = np.random.default_rng(1)
    labels = np.arange(80) % 2
    informative = rng.normal(size=(80, 6)) + 2.0 * labels[:, None]
    noise = rng.normal(size=(80, 6))
    order = rng.permutation(80)
    assert logme(informative[order], labels[order]) == pytest.approx(logme(informative, labels), abs=1e-10)
    assert logme(informative, labels) > logme(noise, labels)


def bao_hscore(features, labels):
    """The original H-score (Bao et al. 2019): the pseudo-inverse of the sample covariance."""
    centred = features - features.mean(axis=0)
    between = np.stack([centred[labels == c].mean(axis=0) for c in labels])
    return np.trace(np.linalg.pinv(centred.T @ centred) @ (between.T @ between))


def test_hscore_of_one_hot_features_is_the_number_of_classes_less_one():
    labels = np.arange(4000) % 4
    assert hscore(np.eye(4)[labels], labels) == pytest.approx(3.0, abs=0.01)
    # class-independent features carry no between-class variance
    assert hscore(np.ones((10, 3)) + np.arange(3), labels[:10]) == 0.0


def test_hscore_with_many_more_images_than_dimensions_is_the_original():
    rng = np.random.default_rng(3)
    labels = np.arange(6000) % 3
    features = rng.normal(size=(6000, 8)) + 2 * np.eye(3, 8)[labels]
    assert hscore(features, labels) == pytest.approx(bao_hscore(features, labels), rel=0.01)


def test_hscore_tells_informative_from_noise_features_with_fewer_images_than_dimensions():
    # n = 600 <= D = 1024: the original scores C - 1 = 2 for both (the class means lie in the data's span)
    rng = np.random.default_rng(4)
    labels = np.arange(600) % 3
    noise = rng.normal(size=(600, 1024))
    informative = rng.normal(size=(600, 1024))
    informative[:, :64] += 0.5 * rng.normal(size=(3, 64))[labels]  # class means apart in 64 dimensions
    assert bao_hscore(noise, labels) == pytest.approx(2.0) == bao_hscore(informative, labels)
    assert hscore(noise, labels) < 0.05 < 0.2 < hscore(informative, labels) < 2.0


def test_knn_separates_clusters_and_not_noise():
    rng = np.random.default_rng(2)
    labels = np.arange(100) % 2
    clustered = rng.normal(size=(100, 5)) * 0.1 + np.where(labels[:, None] == 1, 1.0, -1.0) * np.ones(5)
    assert knn_auc(clustered, labels) == pytest.approx(1.0)
    assert abs(knn_auc(rng.normal(size=(100, 5)), labels) - 0.5) < 0.15


def test_the_estimators_are_registered_and_check_their_inputs():
    catalog = load_catalog()
    assert {"leep", "logme", "nce", "hscore", "knn"} <= set(catalog.estimators)
    assert {n for n, e in catalog.estimators.items() if e.needs_head} >= {"leep", "nce"}
    with pytest.raises(ValueError, match="at least two classes"):
        catalog.estimators["logme"].score(np.ones((4, 2)), np.zeros(4, dtype=int), None)
    with pytest.raises(ValueError, match="softmax"):
        catalog.estimators["leep"].score(np.ones((4, 2)), Y, THETA * 2)
