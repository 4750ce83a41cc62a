"""Feature extraction: the source's frozen penultimate features into a linear SVM."""

from benchmark import ExperimentContext, Method, MethodResult, hookimpl


class FeatureExtractionSVM(Method):
    name = "fe-svm"
    label = "FE"
    description = "Frozen source features (penultimate layer, VGG16 fc2) into a one-vs-rest linear SVM"

    def run(self, ctx: ExperimentContext) -> MethodResult:
        return MethodResult(ctx.svm_scores(ctx.source_model()))


@hookimpl
def tlbench_register_methods(register):
    register(FeatureExtractionSVM())
