"""The k-nearest-neighbour probe on frozen features: cosine similarity, votes weighted by exp(similarity / T).

The weighting is the one of Wu et al. 2018 ("Unsupervised feature learning via non-parametric instance
discrimination") that DINO's kNN evaluation uses (Caron et al. 2021), with their T = 0.07: it makes the scores
graded, where a plain majority of k votes ties often and leaves AUC little to rank.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.engine.metrics import compute_metrics

KNN_K_GRID = (1, 3, 5, 10, 20, 50, 100)
TEMPERATURE = 0.07
CHUNK = 1024  # query rows per similarity block: a block is CHUNK x n_train float64


@dataclass
class Neighbours:
    """Each query's ``k`` most similar training features, most similar first: similarities and indices."""

    similarity: np.ndarray  # (n_queries, k)
    index: np.ndarray  # (n_queries, k)

    def scores(self, train_labels: np.ndarray, k: int, num_classes: int,
               temperature: float = TEMPERATURE) -> np.ndarray:
        """(n_queries, num_classes): each class's share of the weight of the ``k`` nearest votes."""
        weight = np.exp((self.similarity[:, :k] - 1.0) / temperature)  # shifted by the largest similarity, 1
        votes = np.zeros((len(weight), num_classes))
        np.add.at(votes, (np.arange(len(weight))[:, None], train_labels[self.index[:, :k]]), weight)
        return votes / votes.sum(axis=1, keepdims=True)


def nearest(train: np.ndarray, queries: np.ndarray, k: int) -> Neighbours:
    """The ``k`` training features most cosine-similar to each query (ties by training order)."""
    if not 1 <= k <= len(train):
        raise ValueError(f"k = {k} nearest neighbours need 1 to {len(train)} (the training features), not {k}")
    train = _unit(train)
    similarity = np.empty((len(queries), k))
    index = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), CHUNK):
        block = _unit(queries[start : start + CHUNK]) @ train.T
        order = np.argsort(-block, axis=1, kind="stable")[:, :k]
        index[start : start + CHUNK] = order
        similarity[start : start + CHUNK] = np.take_along_axis(block, order, axis=1)
    return Neighbours(similarity, index)


def choose_k(train: np.ndarray, train_labels: np.ndarray, val: np.ndarray, val_labels: np.ndarray, num_classes: int,
             auc: str, grid: tuple[int, ...] = KNN_K_GRID) -> tuple[int, dict[int, float]]:
    """The k of ``grid`` (those up to the number of training features) whose scores on the validation split have
    the best AUC (``auc``: the preset's definition), the larger k among equals (more votes, less variance); and
    the validation AUC of each k tried."""
    ks = sorted(k for k in grid if 1 <= k <= len(train))
    if not ks:
        raise ValueError(f"no k of {grid} fits {len(train)} training features: give a k from 1 to {len(train)}")
    neighbours = nearest(train, val, ks[-1])
    classes = tuple(range(num_classes))
    aucs = {k: compute_metrics(val_labels, neighbours.scores(train_labels, k, num_classes), classes, auc)["auc"]
            for k in ks}
    return max(k for k, value in aucs.items() if value == max(aucs.values())), aucs


def _unit(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
