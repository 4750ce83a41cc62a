"""The ``--svm`` choices and which solver each means on a device (no torch import: the CLI's options use it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

SVM_BACKENDS = ("auto", "sklearn", "torch")


def resolve_svm_backend(choice: str, device: torch.device) -> str:
    """``sklearn`` or ``torch`` for ``--svm choice``.

    ``auto`` is torch on CUDA and scikit-learn elsewhere: the torch solvers fit the same models as
    ``LinearSVC`` and ``SVC(kernel="linear")`` (see :mod:`benchmark.engine.torchsvm`), but scikit-learn is the
    reference and is faster on a CPU.
    """
    if choice not in SVM_BACKENDS:
        raise ValueError(f"unknown --svm {choice!r}: use one of {', '.join(SVM_BACKENDS)}")
    if choice == "auto":
        return "torch" if device.type == "cuda" else "sklearn"
    return choice
