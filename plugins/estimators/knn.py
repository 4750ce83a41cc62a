"""A k-nearest-neighbour score: how well the target's classes separate in the source's feature space, judged
by leave-one-out cosine kNN on the training split, reported as ROC AUC like the benchmark's methods."""

from __future__ import annotations

import numpy as np

from benchmark import Estimator, check_inputs, hookimpl

NEIGHBOURS = 20
_BLOCK = 1024  # rows of the similarity matrix computed at a time


def knn_auc(features: np.ndarray, labels: np.ndarray, k: int = NEIGHBOURS) -> float:
    """Leave-one-out: each image's class scores are the shares of its ``k`` most cosine-similar other images in
    each class (unweighted votes; ``k`` at most n - 1); the score is the ROC AUC of those shares (binary: of the
    second class; more classes: the mean of per-class one-vs-rest AUCs)."""
    from sklearn.metrics import roc_auc_score  # imported when scoring: listing the estimators must not load it

    features = np.asarray(features, dtype=np.float64)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    unit = features / np.where(norms > 0, norms, 1.0)  # an all-zero feature is equally far from every other
    n, classes = len(labels), int(labels.max()) + 1
    k = min(k, n - 1)
    votes = np.zeros((n, classes))
    for start in range(0, n, _BLOCK):
        similarity = unit[start:start + _BLOCK] @ unit.T
        rows = np.arange(len(similarity))
        similarity[rows, start + rows] = -np.inf  # leave the image itself out
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        for c in range(classes):
            votes[start + rows, c] = (labels[nearest] == c).mean(axis=1)
    if classes == 2:
        return float(roc_auc_score(labels, votes[:, 1]))
    return float(roc_auc_score(labels, votes, multi_class="ovr", average="macro", labels=np.arange(classes)))


class KNN(Estimator):
    name = "knn"
    description = f"Leave-one-out cosine {NEIGHBOURS}-NN ROC AUC on the target's training features"

    def score(self, features, labels, source_probs):
        check_inputs(features, labels)
        return knn_auc(features, labels)


@hookimpl
def tlbench_register_estimators(register):
    register(KNN())
