"""The linear probe: multinomial logistic regression on standardised frozen features, its L2 strength chosen on
the validation split (Kornblith et al. 2019, "Do better ImageNet models transfer better?"), and the same model
as the weights of a network's linear head."""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from benchmark.engine.metrics import compute_metrics

PROBE_C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
MAX_ITER = 2000


@dataclass
class LogisticProbe:
    """A fitted probe: ``scaler`` standardises raw features (or passes them on as they are), ``classifier`` is the
    logistic regression on them (fitted with C = ``c``), ``validation_aucs`` the validation AUC of each C tried."""

    scaler: StandardScaler
    classifier: LogisticRegression
    num_classes: int
    c: float
    validation_aucs: dict[float, float]

    def scores(self, features: np.ndarray) -> np.ndarray:
        """(n, num_classes) class probabilities of raw ``features``; a class absent from training scores 0."""
        return _padded(self.classifier, self.scaler.transform(features), self.num_classes)

    def head(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(classes, W, b) of a linear head on *raw* features whose logits ``x @ W.T + b`` are the probe's
        decision function: one row per class in ``classes`` (those seen in training). The standardisation is
        folded in, W' = W / sigma and b' = b - W mu / sigma; a binary probe's single decision d becomes the rows
        -d/2 and d/2, whose softmax is the probe's sigmoid."""
        weight, bias = self.classifier.coef_, self.classifier.intercept_
        if len(self.classifier.classes_) == 2:
            weight, bias = np.concatenate([-weight, weight]) / 2, np.concatenate([-bias, bias]) / 2
        if self.scaler.scale_ is not None:  # standardised
            weight = weight / self.scaler.scale_
            bias = bias - weight @ self.scaler.mean_
        return self.classifier.classes_, weight, bias

    def write_into(self, model: torch.nn.Module) -> None:
        """Make ``model``'s classifier (``model.get_classifier()``) this probe: the rows of the classes seen in
        training get :meth:`head`'s weights, those of a class the probe never saw keep their own. The classifier
        must be a linear layer with a bias on the penultimate features, which the probe was fitted on."""
        classifier = model.get_classifier()
        classes, weight, bias = self.head()
        if not (isinstance(classifier, torch.nn.Linear) and classifier.bias is not None
                and classifier.in_features == weight.shape[1] and classifier.out_features == self.num_classes):
            raise ValueError(
                f"cannot write a linear probe of {weight.shape[1]} features and {self.num_classes} classes into the "
                f"classifier {classifier!r}: it needs a torch.nn.Linear with a bias from the penultimate features; "
                "use a backbone whose classifier is one (timm's ResNets, VGGs and ViTs have one)")
        rows = torch.as_tensor(classes, device=classifier.weight.device)
        with torch.no_grad():
            classifier.weight[rows] = torch.as_tensor(weight, dtype=classifier.weight.dtype,
                                                      device=classifier.weight.device)
            classifier.bias[rows] = torch.as_tensor(bias, dtype=classifier.bias.dtype, device=classifier.bias.device)


def fit_logistic_probe(train: np.ndarray, train_labels: np.ndarray, val: np.ndarray, val_labels: np.ndarray,
                       num_classes: int, auc: str, grid: tuple[float, ...] = PROBE_C_GRID,
                       standardize: bool = True) -> LogisticProbe:
    """The probe, fitted on the training features, whose C from ``grid`` scores the best validation AUC (``auc``:
    the preset's definition; the smaller C among equals). Features are standardised on the training features
    unless ``standardize`` is off. The grid is walked from the smallest C up, each fit starting from the last
    one's solution (the optimum of each C is unique: the start changes only how soon it is reached); lbfgs draws
    nothing at random, so the same features give the same probe."""
    if not grid:
        raise ValueError("the linear probe needs at least one C to try")
    scaler = StandardScaler(with_mean=standardize, with_std=standardize).fit(train)
    train_z, val_z = scaler.transform(train), scaler.transform(val)
    classifier = LogisticRegression(max_iter=MAX_ITER, warm_start=True)  # lbfgs: multinomial from three classes
    fitted, aucs = {}, {}
    for c in sorted(grid):
        with warnings.catch_warnings():
            # a large C on separable features improves the loss without end; the fit stops at MAX_ITER
            warnings.simplefilter("ignore", ConvergenceWarning)
            fitted[c] = copy.deepcopy(classifier.set_params(C=c).fit(train_z, train_labels))
        scores = _padded(fitted[c], val_z, num_classes)
        aucs[c] = compute_metrics(val_labels, scores, tuple(range(num_classes)), auc)["auc"]
    best = next(c for c, value in aucs.items() if value == max(aucs.values()))
    return LogisticProbe(scaler, fitted[best], num_classes, best, aucs)


def _padded(classifier: LogisticRegression, features: np.ndarray, num_classes: int) -> np.ndarray:
    scores = np.zeros((len(features), num_classes))
    scores[:, classifier.classes_] = classifier.predict_proba(features)
    return scores
