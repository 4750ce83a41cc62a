"""The H-score (Bao et al. 2019, "An information-theoretic approach to transferability in task transfer
learning", ICIP) with the shrinkage estimator of the feature covariance of Ibrahim et al. 2022 ("Newer is not
always better: rethinking transferability metrics, their peculiarities, stability and performance", ECML PKDD).

The original divides by the sample covariance of the features (its pseudo-inverse). With no more training
images than feature dimensions (n <= D: VGG16's fc2 has 4,096 dimensions, ISIC fewer training images) the class
means lie in the span of the data and that score is C - 1 for any features, informative or noise. Ledoit-Wolf
shrinkage ((1 - a) S + a tr(S)/D I, the weight a estimated from the data) makes the covariance invertible and
the score tell features apart; with many more images than dimensions a is near 0 and the score is the
original's."""

from __future__ import annotations

import numpy as np

from benchmark import Estimator, check_inputs, hookimpl


def hscore(features: np.ndarray, labels: np.ndarray) -> float:
    """The regularised H-score tr(S_a^-1 (1 - a) cov(E[f | y])), S_a the Ledoit-Wolf shrunk covariance of the
    features and a its shrinkage weight: how much of the features' variance lies between the classes, measured in
    the features' own metric. Between 0 and C - 1 (C classes); features that do not vary score 0."""
    import scipy.linalg  # imported when scoring: listing the estimators must not load scipy and scikit-learn
    from sklearn.covariance import LedoitWolf

    features = np.asarray(features, dtype=np.float64)
    centred = features - features.mean(axis=0)
    if not centred.any():
        return 0.0
    shrunk = LedoitWolf(assume_centered=True).fit(centred)
    classes = int(labels.max()) + 1
    counts = np.bincount(labels, minlength=classes)
    sums = np.zeros((classes, features.shape[1]))
    np.add.at(sums, labels, centred)
    present = counts > 0
    class_means = sums[present] / counts[present, None]
    weights = counts[present] / len(labels)
    # tr(S_a^-1 M^T diag(w) M) = sum_c w_c m_c^T S_a^-1 m_c, M the class means: C solves instead of a D x D inverse
    try:
        solved = scipy.linalg.solve(shrunk.covariance_, class_means.T, assume_a="pos")
    except np.linalg.LinAlgError as error:
        raise ValueError("the features' covariance is singular even after shrinkage (no shrinkage was estimated): "
                         "drop the features that are constant or copies of others") from error
    return float((1.0 - shrunk.shrinkage_) * np.einsum("c,cd,dc->", weights, class_means, solved))


class HScore(Estimator):
    name = "hscore"
    version = "2"  # 1: the pseudo-inverse of the sample covariance, C - 1 for any features when n <= D
    description = ("H-score (Bao et al. 2019) with Ledoit-Wolf shrinkage of the feature covariance (Ibrahim et al. "
                   "2022): the class-separating share of the features")

    def score(self, features, labels, source_probs):
        check_inputs(features, labels)
        return hscore(features, labels)


@hookimpl
def tlbench_register_estimators(register):
    register(HScore())
