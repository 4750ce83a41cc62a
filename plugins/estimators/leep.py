"""LEEP, the log expected empirical prediction (Nguyen et al. 2020, "LEEP: a new measure to evaluate
transferability of learned representations", ICML)."""

from __future__ import annotations

import numpy as np

from benchmark import Estimator, check_inputs, hookimpl


def leep(labels: np.ndarray, source_probs: np.ndarray) -> float:
    """The mean log-likelihood of the target labels under the "expected empirical predictor": the source's
    soft predictions theta(x) over its classes z, turned into target classes y by the empirical conditional
    P(y | z) = P(y, z) / P(z), where P(y, z) = 1/n * sum over the images of class y of theta(x)_z.
    Its values are at most 0; 0 means the source's predictions determine the target label."""
    n = len(labels)
    classes = int(labels.max()) + 1
    joint = np.zeros((classes, source_probs.shape[1]))
    np.add.at(joint, labels, source_probs / n)
    conditional = joint / joint.sum(axis=0, keepdims=True).clip(min=np.finfo(float).tiny)
    expected = np.einsum("nz,nz->n", source_probs, conditional[labels])
    return float(np.mean(np.log(expected)))


class LEEP(Estimator):
    name = "leep"
    description = "LEEP (Nguyen et al. 2020): log-likelihood of the labels through the source's soft predictions"
    needs_head = True

    def score(self, features, labels, source_probs):
        check_inputs(features, labels, source_probs)
        return leep(labels, source_probs.astype(np.float64))


@hookimpl
def tlbench_register_estimators(register):
    register(LEEP())
