"""LP-FT: a linear probe on the source's frozen features becomes the head, then all layers are fine-tuned."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmark import Method, MethodResult, hookimpl

if TYPE_CHECKING:
    from benchmark import ExperimentContext


class LinearProbeThenFineTune(Method):
    """Kumar et al. 2022 ("Fine-tuning can distort pretrained features") start fine-tuning from a fitted head, so
    that the first steps do not push a random head's large gradients into the features.

    Batch norm normalises with each batch's own statistics while training, and with its running statistics (the
    source's) when features are extracted: a probe fitted on the latter meets other features in the first
    training step, and its weights, scaled by 1/std of features that hardly vary, turn the difference into
    losses in the thousands (measured on the embedded default). The running statistics are therefore first
    re-estimated on the target's training images (which changes no training step: training normalises with batch
    statistics). The fine-tuning keeps the preset's learning rate and schedule (Kumar et al. lower it after the
    probe), so that it differs from ``ft`` in the head's start alone."""

    name = "lp-ft"
    label = "LP-FT"
    compared_with = "ft"  # the same fine-tuning from a fitted head instead of a random one
    description = ("Logistic-regression probe on the frozen source features as the head, then fine-tune all "
                   "layers, scored on the head (Kumar et al. 2022)")
    trains = True

    def run(self, ctx: ExperimentContext) -> MethodResult:
        model = ctx.source_model()
        ctx.info["recalibrated_norms"] = ctx.recalibrate_norms(model)
        probe, _ = ctx.linear_probe(model)
        probe.write_into(model)
        history = ctx.train(model)
        return MethodResult(ctx.softmax_scores(model), history)


@hookimpl
def tlbench_register_methods(register):
    register(LinearProbeThenFineTune())
