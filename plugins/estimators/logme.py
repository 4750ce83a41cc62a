"""LogME, the log maximum evidence of a Bayesian linear model on the features (You et al. 2021, "LogME:
practical assessment of pre-trained models for transfer learning", ICML)."""

from __future__ import annotations

import numpy as np

from benchmark import Estimator, check_inputs, hookimpl

MAX_ITERATIONS = 1000
TOLERANCE = 1e-12  # relative change of alpha and beta between iterations at which they count as converged


def log_evidence(singular: np.ndarray, projected: np.ndarray, outside: float, n: int, dim: int,
                 alpha: float, beta: float) -> float:
    """log p(y | F, alpha, beta) of y = F w + noise, w ~ N(0, I / alpha), noise ~ N(0, 1 / beta), written with
    the thin SVD F = U diag(s) V^T: ``singular`` s (r = min(n, D) values), ``projected`` U^T y and ``outside``
    the squared norm of y outside U's span. With t = alpha + beta s^2, the posterior mean m has
    |m|^2 = sum (beta s z / t)^2, |F m - y|^2 = sum (alpha z / t)^2 + outside and
    log|alpha I + beta F^T F| = sum log t + (D - r) log alpha."""
    t = alpha + beta * singular**2
    mean_sq = np.sum((beta * singular * projected / t) ** 2)
    residual_sq = np.sum((alpha * projected / t) ** 2) + outside
    log_det = np.sum(np.log(t)) + (dim - len(singular)) * np.log(alpha)
    return float(n / 2 * np.log(beta) + dim / 2 * np.log(alpha) - n / 2 * np.log(2 * np.pi)
                 - beta / 2 * residual_sq - alpha / 2 * mean_sq - log_det / 2)


def maximise_evidence(singular: np.ndarray, projected: np.ndarray, outside: float, n: int) -> tuple[float, float]:
    """The alpha, beta at which the evidence is stationary, by the paper's fixed-point iteration (MacKay's
    updates): gamma = sum beta s^2 / t, alpha = gamma / |m|^2, beta = (n - gamma) / |F m - y|^2."""
    alpha, beta = 1.0, 1.0
    sq = singular**2
    for _ in range(MAX_ITERATIONS):
        t = alpha + beta * sq
        gamma = np.sum(beta * sq / t)
        mean_sq = np.sum((beta * singular * projected / t) ** 2)
        residual_sq = np.sum((alpha * projected / t) ** 2) + outside
        new_alpha, new_beta = gamma / mean_sq, (n - gamma) / residual_sq
        converged = abs(new_alpha - alpha) <= TOLERANCE * alpha and abs(new_beta - beta) <= TOLERANCE * beta
        alpha, beta = new_alpha, new_beta
        if converged:
            break
    return float(alpha), float(beta)


def logme(features: np.ndarray, labels: np.ndarray) -> float:
    """The mean over the classes present of the maximum log evidence per sample, each class's one-hot column
    the regression target."""
    features = np.asarray(features, dtype=np.float64)
    n, dim = features.shape
    u, singular, _ = np.linalg.svd(features, full_matrices=False)
    evidences = []
    for c in np.unique(labels):
        y = (labels == c).astype(np.float64)
        projected = u.T @ y
        outside = max(float(y @ y - projected @ projected), 0.0)
        alpha, beta = maximise_evidence(singular, projected, outside, n)
        evidences.append(log_evidence(singular, projected, outside, n, dim, alpha, beta) / n)
    return float(np.mean(evidences))


class LogME(Estimator):
    name = "logme"
    description = "LogME (You et al. 2021): maximum evidence of a Bayesian linear model from features to labels"

    def score(self, features, labels, source_probs):
        check_inputs(features, labels)
        return logme(features, labels)


@hookimpl
def tlbench_register_estimators(register):
    register(LogME())
