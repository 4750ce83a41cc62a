"""Transferability estimators: a score of how well a source's weights will transfer to a target task, computed
in seconds from the source's features (and, for some, its own classifier's outputs) on the target's training
split, without fine-tuning anything."""

from __future__ import annotations

import numpy as np


class Estimator:
    """Base class of estimator plugins.

    ``score(features, labels, source_probs)`` takes the penultimate features (n, D) of the target's training
    images under the source's weights, their integer labels (n,) in 0..C-1, and, when ``needs_head``, the
    source classifier's softmax outputs (n, Z) over the source's own classes (otherwise None); it returns one
    float, higher meaning a better expected transfer unless ``higher_is_better`` is False. A source whose
    weights have no classifier of their own (random weights) gets no score from an estimator that
    ``needs_head``. Bump ``version`` when the score an estimator gives changes.
    """

    name: str = ""
    description: str = ""
    version: str = "1"
    needs_head: bool = False
    higher_is_better: bool = True

    def score(self, features: np.ndarray, labels: np.ndarray, source_probs: np.ndarray | None) -> float:
        raise NotImplementedError


def check_inputs(features: np.ndarray, labels: np.ndarray, source_probs: np.ndarray | None = None) -> None:
    """Raise ValueError, saying what is wrong, unless the inputs are as :meth:`Estimator.score` takes them."""
    if features.ndim != 2 or len(features) != len(labels):
        raise ValueError(f"features must be (n, D) with one row per label; got {features.shape} for "
                         f"{len(labels)} labels")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or (labels < 0).any():
        raise ValueError("labels must be a 1-d array of non-negative integer class indices")
    if len(np.unique(labels)) < 2:
        raise ValueError("a transferability estimate needs at least two classes among the labels")
    if not np.isfinite(features).all():
        raise ValueError("features hold NaN or infinite values; the source model's outputs are broken")
    if source_probs is not None:
        if source_probs.shape[0] != len(labels) or source_probs.ndim != 2:
            raise ValueError(f"source_probs must be (n, Z) with one row per label; got {source_probs.shape}")
        if (source_probs < 0).any() or not np.allclose(source_probs.sum(1), 1.0, atol=1e-3):
            raise ValueError("source_probs must be the source classifier's softmax outputs (rows summing to 1)")
