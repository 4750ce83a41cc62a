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

    def run(self, ctx: ExperimentContext) -> MethodResult:
        model = ctx.source_model()
        history = ctx.train(model)
        return MethodResult(ctx.svm_scores(model), history)


@hookimpl
def tlbench_register_methods(register):
    register(FineTuneSVM())
