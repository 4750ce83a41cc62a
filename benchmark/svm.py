"""The linear SVM on frozen features, scored by its decision function."""

from __future__ import annotations

import numpy as np
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

from .presets import Preset


def svm_scores(
    train_features: np.ndarray, train_labels: np.ndarray, test_features: np.ndarray, num_classes: int,
    preset: Preset, seed: int,
) -> np.ndarray:
    """Fit a one-vs-rest linear SVM on the training features; return (n_test, num_classes) scores.

    Binary tasks use one SVM whose decision ``d`` becomes the scores ``(-d, d)``.
    """
    if preset.standardize_features:
        scaler = StandardScaler().fit(train_features)
        train_features, test_features = scaler.transform(train_features), scaler.transform(test_features)
    if preset.svm == "svc":
        base = SVC(kernel="linear", C=preset.svm_c)
    elif preset.svm == "linearsvc":
        base = LinearSVC(C=preset.svm_c, random_state=seed, max_iter=5000)
    else:
        raise ValueError(f"unknown svm {preset.svm!r}: use 'svc' or 'linearsvc'")
    if num_classes == 2:
        decision = base.fit(train_features, train_labels).decision_function(test_features)
        return np.stack([-decision, decision], axis=1)
    model = OneVsRestClassifier(base).fit(train_features, train_labels)
    decision = model.decision_function(test_features)
    # a class missing from the training split can never win
    scores = np.full((len(test_features), num_classes), decision.min() - 1.0)
    scores[:, model.classes_] = decision
    return scores
