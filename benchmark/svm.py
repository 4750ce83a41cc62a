"""The linear SVM on frozen features, scored by its decision function."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

from .presets import Preset
from .torchsvm import TorchLinearSVC, TorchSVC

SVM_BACKENDS = ("auto", "sklearn", "torch")


def resolve_svm_backend(choice: str, preset: Preset, device: torch.device) -> str:
    """``sklearn`` or ``torch`` for ``--svm choice``.

    ``auto`` is torch on CUDA and scikit-learn elsewhere: the torch solvers fit the same models as
    ``LinearSVC`` and ``SVC(kernel="linear")`` (see :mod:`benchmark.torchsvm`), but scikit-learn is the
    reference and is faster on a CPU.
    """
    if choice not in SVM_BACKENDS:
        raise ValueError(f"unknown --svm {choice!r}: use one of {', '.join(SVM_BACKENDS)}")
    if choice == "auto":
        return "torch" if device.type == "cuda" else "sklearn"
    return choice


def svm_scores(
    train_features: np.ndarray, train_labels: np.ndarray, test_features: np.ndarray, num_classes: int,
    preset: Preset, seed: int, backend: str = "sklearn", device: torch.device | str = "cpu",
) -> np.ndarray:
    """Fit a one-vs-rest linear SVM on the training features; return (n_test, num_classes) scores.

    Binary tasks use one SVM whose decision ``d`` becomes the scores ``(-d, d)``. ``backend`` ``torch``
    fits the same model in torch on ``device`` (:class:`TorchLinearSVC` or :class:`TorchSVC`).
    """
    if preset.standardize_features:
        scaler = StandardScaler().fit(train_features)
        train_features, test_features = scaler.transform(train_features), scaler.transform(test_features)
    if preset.svm not in ("svc", "linearsvc"):
        raise ValueError(f"unknown svm {preset.svm!r}: use 'svc' or 'linearsvc'")
    if backend == "torch":
        base = (TorchSVC if preset.svm == "svc" else TorchLinearSVC)(C=preset.svm_c, device=device)
    elif preset.svm == "svc":
        base = SVC(kernel="linear", C=preset.svm_c)
    else:
        base = LinearSVC(C=preset.svm_c, random_state=seed, max_iter=5000)
    if num_classes == 2:
        decision = base.fit(train_features, train_labels).decision_function(test_features)
        return np.stack([-decision, decision], axis=1)
    model = (base if backend == "torch" else OneVsRestClassifier(base)).fit(train_features, train_labels)
    decision = model.decision_function(test_features)
    if decision.ndim == 1:  # only two classes in the training split: one SVM between them
        decision = np.stack([-decision, decision], axis=1)
    # a class missing from the training split can never win
    scores = np.full((len(test_features), num_classes), decision.min() - 1.0)
    scores[:, model.classes_] = decision
    return scores
