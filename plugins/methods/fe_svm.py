"""Feature extraction: the source's frozen penultimate features into a linear SVM."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmark import Method, MethodResult, hookimpl

if TYPE_CHECKING:
    from benchmark import ExperimentContext


class FeatureExtractionSVM(Method):
    name = "fe-svm"
    label = "FE"
    description = "Frozen source features (penultimate layer, VGG16 fc2) into a one-vs-rest linear SVM"

    def run(self, ctx: ExperimentContext) -> MethodResult:
        return MethodResult(ctx.svm_scores(ctx.source_model()))


@hookimpl
def tlbench_register_methods(register):
    register(FeatureExtractionSVM())
