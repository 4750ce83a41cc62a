"""Fine-tuning scored with the network's own head: train all layers from the source's weights, then softmax."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmark import Method, MethodResult, hookimpl

if TYPE_CHECKING:
    from benchmark import ExperimentContext


class FineTune(Method):
    name = "ft"
    label = "FT-head"
    # frozen against fine-tuned with the same kind of classifier on top (a linear softmax layer), as the study's
    # FT column is compared with FE with an SVM on both; Kumar et al. 2022 compare FT with LP the same way
    compared_with = "linear-probe"
    description = ("Fine-tune all layers from the source (the preset's optimiser and early stopping), scored on the "
                   "network's own softmax head (Kornblith et al. 2019)")
    trains = True
    shared_training = "fine-tune"  # the network ft-svm scores with an SVM: trained once for both

    def score(self, ctx: ExperimentContext, model) -> MethodResult:
        return MethodResult(ctx.softmax_scores(model))


@hookimpl
def tlbench_register_methods(register):
    register(FineTune())
