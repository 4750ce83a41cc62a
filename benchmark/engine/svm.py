"""The linear SVM on frozen features, scored by its decision function."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import torch
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

from benchmark.engine.metrics import compute_metrics
from benchmark.engine.torchsvm import SVMMemoryError, TorchLinearSVC, TorchSVC
from benchmark.presets import Preset

log = logging.getLogger(__name__)

def svm_scores(
    train_features: np.ndarray, train_labels: np.ndarray, test_features: np.ndarray, num_classes: int,
    preset: Preset, seed: int, backend: str = "sklearn", device: torch.device | str = "cpu",
    fallback: bool = False, info: dict | None = None, validation: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Fit a one-vs-rest linear SVM on the training features; return (n_test, num_classes) scores.

    Features are multiplied by ``preset.feature_scale`` and, when the preset says so, standardised on the
    training features. With a ``preset.svm_c_grid``, C is the grid value whose SVM scores the best AUC (the
    preset's definition) on the ``validation`` (features, labels), the smaller C on a tie; otherwise
    ``preset.svm_c``. ``info`` gets the chosen ``svm_c``.
    Binary tasks use one SVM whose decision ``d`` becomes the scores ``(-d, d)``. ``backend`` ``torch``
    fits the same model in torch on ``device`` (:class:`TorchLinearSVC` or :class:`TorchSVC`). When the
    torch SVC does not fit in the device's memory it raises :class:`SVMMemoryError` (or torch's
    ``OutOfMemoryError`` when memory ran out during the fit), or with ``fallback`` logs a warning and fits
    scikit-learn's instead. ``info``, when given, gets ``svm_backend``: the backend that fitted the SVM.
    """
    if preset.svm not in ("svc", "linearsvc"):
        raise ValueError(f"unknown svm {preset.svm!r}: use 'svc' or 'linearsvc'")
    train_features, test_features = train_features * preset.feature_scale, test_features * preset.feature_scale
    if preset.standardize_features:
        scaler = StandardScaler().fit(train_features)
        train_features, test_features = scaler.transform(train_features), scaler.transform(test_features)
    if preset.svm_c_grid:
        if validation is None:
            raise ValueError("the preset chooses C on the validation split, but no validation features were given")
        val_features = validation[0] * preset.feature_scale
        if preset.standardize_features:
            val_features = scaler.transform(val_features)
        preset = replace(preset, svm_c=_best_c(train_features, train_labels, val_features, validation[1],
                                               num_classes, preset, seed, backend, device))
    if info is not None:
        info["svm_c"] = preset.svm_c
    data = (train_features, train_labels, test_features, num_classes, preset, seed)
    try:
        scores = _fitted_scores(*data, backend, device)
    except (SVMMemoryError, torch.OutOfMemoryError) as error:
        # the check before the fit cannot see memory that side-by-side jobs take during it
        if not fallback:
            raise
        torch.cuda.empty_cache()
        log.warning("the torch SVM does not fit in the memory of %s with %d training samples (%s): fitting "
                    "scikit-learn's SVC on the CPU instead", device, len(train_features), error)
        backend = "sklearn"
        scores = _fitted_scores(*data, backend, device)
    if info is not None:
        info["svm_backend"] = backend
    return scores


def _best_c(train_features, train_labels, val_features, val_labels, num_classes: int, preset: Preset, seed: int,
            backend: str, device) -> float:
    """The C of ``preset.svm_c_grid`` with the best validation AUC (the smallest C among equals)."""
    def validation_auc(c: float) -> float:
        scores = _fitted_scores(train_features, train_labels, val_features, num_classes, replace(preset, svm_c=c),
                                seed, backend, device)
        return compute_metrics(val_labels, scores, tuple(range(num_classes)), preset.auc)["auc"]

    aucs = {c: validation_auc(c) for c in sorted(preset.svm_c_grid)}
    best = max(aucs.values())
    return next(c for c, auc in aucs.items() if auc == best)


def _fitted_scores(
    train_features: np.ndarray, train_labels: np.ndarray, test_features: np.ndarray, num_classes: int,
    preset: Preset, seed: int, backend: str, device: torch.device | str,
) -> np.ndarray:
    """The scores of :func:`svm_scores` from the SVM of ``backend``, on features already standardised."""
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
