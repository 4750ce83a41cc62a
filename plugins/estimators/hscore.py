"""The H-score (Bao et al. 2019, "An information-theoretic approach to transferability in task transfer
learning", ICIP), with the pseudo-inverse of the feature covariance as in the paper (not the shrinkage variant
of Ibrahim et al. 2022)."""

from __future__ import annotations

import numpy as np

from benchmark import Estimator, check_inputs, hookimpl

# eigenvalues of the feature covariance below this share of the largest count as zero in its pseudo-inverse
RELATIVE_CUTOFF = 1e-8


def hscore(features: np.ndarray, labels: np.ndarray) -> float:
    """tr(cov(f)^+ cov(E[f | y])): how much of the features' variance lies between the classes, measured in the
    features' own metric. Between 0 and C - 1 (C classes); features equal to the one-hot labels score C - 1."""
    features = np.asarray(features, dtype=np.float64)
    centred = features - features.mean(axis=0)
    classes = int(labels.max()) + 1
    sums = np.zeros((classes, features.shape[1]))
    np.add.at(sums, labels, centred)
    class_means = sums / np.bincount(labels, minlength=classes).clip(min=1)[:, None]
    between = class_means[labels]  # each image's feature replaced by its class's mean
    n = len(labels)
    cov_features = centred.T @ centred / n
    cov_between = between.T @ between / n
    inverse = np.linalg.pinv(cov_features, rcond=RELATIVE_CUTOFF, hermitian=True)
    return float(np.trace(inverse @ cov_between))


class HScore(Estimator):
    name = "hscore"
    description = "H-score (Bao et al. 2019): tr(cov(f)^+ cov(E(f|y))), the class-separating share of the features"

    def score(self, features, labels, source_probs):
        check_inputs(features, labels)
        return hscore(features, labels)


@hookimpl
def tlbench_register_estimators(register):
    register(HScore())
