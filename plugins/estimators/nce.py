"""NCE, the negative conditional entropy of the target labels given the source's hard predictions (Tran et
al. 2019, "Transferability and hardness of supervised classification tasks", ICCV)."""

from __future__ import annotations

import numpy as np

from benchmark import Estimator, check_inputs, hookimpl


def nce(labels: np.ndarray, source_labels: np.ndarray) -> float:
    """-H(Y | Z) = sum over (y, z) of P(y, z) log P(y | z), from the empirical joint distribution of the target
    labels y and the source's predicted classes z. At most 0; 0 when z determines y."""
    pairs, counts = np.unique(np.stack([labels, source_labels]), axis=1, return_counts=True)
    joint = counts / len(labels)
    _, z_index, z_counts = np.unique(pairs[1], return_inverse=True, return_counts=True)
    z_marginal = np.bincount(z_index, weights=joint, minlength=len(z_counts))
    return float(np.sum(joint * np.log(joint / z_marginal[z_index])))


class NCE(Estimator):
    name = "nce"
    description = "NCE (Tran et al. 2019): -H(target label | source's predicted class)"
    needs_head = True

    def score(self, features, labels, source_probs):
        check_inputs(features, labels, source_probs)
        return nce(labels, source_probs.argmax(axis=1))


@hookimpl
def tlbench_register_estimators(register):
    register(NCE())
