"""Fine-tuning: train all layers from the source's weights, then features into a linear SVM."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmark import Method, MethodResult, hookimpl

if TYPE_CHECKING:
    from benchmark import ExperimentContext


class FineTuneSVM(Method):
    name = "ft-svm"
    label = "FT"
    compared_with = "fe-svm"
    description = "Fine-tune all layers from the source (SGD, early stopping), then features into a linear SVM"
    trains = True
    shared_training = "fine-tune"  # the network ft scores with its own head: trained once for both

    def score(self, ctx: ExperimentContext, model) -> MethodResult:
        return MethodResult(ctx.svm_scores(model))


@hookimpl
def tlbench_register_methods(register):
    register(FineTuneSVM())
