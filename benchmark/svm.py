"""The linear SVM on frozen features, scored by its decision function."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

from .presets import Preset
from .torchsvm import TorchLinearSVC

SVM_BACKENDS = ("auto", "sklearn", "torch")


def resolve_svm_backend(choice: str, preset: Preset, device: torch.device) -> str:
    """``sklearn`` or ``torch`` for ``--svm choice``.

    ``auto`` is torch on CUDA when the preset's SVM is ``linearsvc`` (the objective the torch solver
    shares with liblinear), scikit-learn otherwise. ``torch`` with an ``svc`` preset is refused:
    ``SVC(kernel="linear")`` (hinge loss, unpenalised intercept) is a different model, so its results would
    not be the preset's.
    """
    if choice not in SVM_BACKENDS:
        raise ValueError(f"unknown --svm {choice!r}: use one of {', '.join(SVM_BACKENDS)}")
    if choice == "auto":
        return "torch" if device.type == "cuda" and preset.svm == "linearsvc" else "sklearn"
    if choice == "torch" and preset.svm != "linearsvc":
        raise ValueError(
            f"--svm torch implements LinearSVC (squared hinge), but preset {preset.name!r} asks for "
            f"{preset.svm!r}; use --svm sklearn (or auto) for it"
        )
    return choice


def svm_scores(
    train_features: np.ndarray, train_labels: np.ndarray, test_features: np.ndarray, num_classes: int,
    preset: Preset, seed: int, backend: str = "sklearn", device: torch.device | str = "cpu",
) -> np.ndarray:
    """Fit a one-vs-rest linear SVM on the training features; return (n_test, num_classes) scores.

    Binary tasks use one SVM whose decision ``d`` becomes the scores ``(-d, d)``. ``backend`` ``torch``
    fits the ``linearsvc`` objective with :class:`TorchLinearSVC` on ``device``.
    """
    if preset.standardize_features:
        scaler = StandardScaler().fit(train_features)
        train_features, test_features = scaler.transform(train_features), scaler.transform(test_features)
    if backend == "torch":
        if preset.svm != "linearsvc":
            raise ValueError(f"the torch SVM implements 'linearsvc', not {preset.svm!r}")
        base = TorchLinearSVC(C=preset.svm_c, device=device)
    elif preset.svm == "svc":
        base = SVC(kernel="linear", C=preset.svm_c)
    elif preset.svm == "linearsvc":
        base = LinearSVC(C=preset.svm_c, random_state=seed, max_iter=5000)
    else:
        raise ValueError(f"unknown svm {preset.svm!r}: use 'svc' or 'linearsvc'")
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
