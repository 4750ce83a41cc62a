"""Classification metrics from per-class scores: both ROC AUC definitions, accuracy, balanced accuracy."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import auc as area_under
from sklearn.metrics import balanced_accuracy_score, roc_auc_score, roc_curve


class MetricError(ValueError):
    """The test split cannot be scored (for example it holds a single class)."""


def _check(labels: np.ndarray, scores: np.ndarray, classes: tuple[str, ...]) -> None:
    if scores.ndim != 2 or scores.shape != (len(labels), len(classes)):
        raise MetricError(f"scores must be (n_samples, {len(classes)}), got {scores.shape}")
    present = np.unique(labels)
    if len(present) < 2:
        only = classes[int(present[0])] if len(present) else "nothing"
        raise MetricError(
            f"the test split holds only class {only!r}: ROC AUC needs at least two classes. "
            "Use a larger dataset or a larger test fraction, or check the labels."
        )


def auc_macro_curve(labels: np.ndarray, scores: np.ndarray) -> float:
    """The study's AUC: per-class ROC curves, TPRs interpolated on the union of their FPR points and
    averaged, then the area under that macro-averaged curve. Classes absent from ``labels`` are left out.
    Every threshold's point is kept, so the value does not hang on scikit-learn's point-dropping heuristic.
    With two classes the two curves are mirror images, and averaging them would add nothing but the
    interpolation's upward bias at vertical steps, so the binary AUC is returned.
    """
    if scores.shape[1] == 2:
        return auc_ovr(labels, scores)
    return float(area_under(*macro_roc_curve(labels, scores)))


def macro_roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) of the study's macro-averaged ROC curve (:func:`auc_macro_curve`): each present class's
    one-vs-rest curve interpolated on the union of their FPR points and averaged; with two classes the binary
    curve of the score difference."""
    if scores.shape[1] == 2:
        fpr, tpr, _ = roc_curve(labels == 1, scores[:, 1] - scores[:, 0], drop_intermediate=False)
        return fpr, tpr
    curves = []
    for c in range(scores.shape[1]):
        positives = labels == c
        if positives.all() or not positives.any():
            continue
        fpr, tpr, _ = roc_curve(positives, scores[:, c], drop_intermediate=False)
        curves.append((fpr, tpr))
    grid = np.unique(np.concatenate([fpr for fpr, _ in curves]))
    return grid, np.mean([np.interp(grid, fpr, tpr) for fpr, tpr in curves], axis=0)


def auc_ovr(labels: np.ndarray, scores: np.ndarray) -> float:
    """scikit-learn's definition: the mean of per-class one-vs-rest AUCs (the binary AUC for 2 classes).

    Computed per class from raw scores, because ``roc_auc_score(multi_class="ovr")`` wants probabilities.
    """
    if scores.shape[1] == 2:
        return float(roc_auc_score(labels == 1, scores[:, 1] - scores[:, 0]))
    per_class = [
        roc_auc_score(labels == c, scores[:, c])
        for c in range(scores.shape[1])
        if 0 < (labels == c).sum() < len(labels)
    ]
    return float(np.mean(per_class))


def auc_of(definition: str, labels: np.ndarray, scores: np.ndarray) -> float | None:
    """The AUC of ``definition`` (``macro_curve`` or ``ovr``), or ``None`` when ``labels`` hold fewer than two
    classes (a validation split too small to rank)."""
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        return None
    return auc_macro_curve(labels, scores) if definition == "macro_curve" else auc_ovr(labels, scores)


def predicted_classes(scores: np.ndarray) -> np.ndarray:
    """The class each row of ``scores`` predicts: its highest score, the lowest class index on a tie.

    On softmax outputs this is MedMNIST's evaluator rule (``medmnist.Evaluator``, ``getACC``): two classes
    predict class 1 when its probability exceeds 0.5 (``p1 > 0.5`` is ``p1 > p0``, and a tie at 0.5 is class 0),
    more classes their argmax. On SVM decision values it is the SVM's own prediction.
    """
    return np.asarray(scores).argmax(axis=1)


def compute_metrics(labels: np.ndarray, scores: np.ndarray, classes: tuple[str, ...], primary: str) -> dict:
    """All metrics of one experiment; ``auc`` is the preset's ``primary`` definition."""
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    _check(labels, scores, classes)
    predictions = predicted_classes(scores)
    metrics = {
        "auc_macro_curve": auc_macro_curve(labels, scores),
        "auc_ovr": auc_ovr(labels, scores),
        "accuracy": float((predictions == labels).mean()),
        "balanced_accuracy": float(balanced_accuracy_score(labels, predictions)),
        "n_test": int(len(labels)),
    }
    metrics["auc"] = metrics[f"auc_{primary}"]
    return metrics
