"""Linear probe: the source's frozen penultimate features into a logistic regression, C chosen on validation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmark import Method, MethodResult, hookimpl

if TYPE_CHECKING:
    from benchmark import ExperimentContext


class LinearProbe(Method):
    name = "linear-probe"
    label = "LP"
    # the study's frozen-feature column with today's classifier: the pair says whether the classifier matters
    compared_with = "fe-svm"
    description = ("Frozen source features, standardised, into a logistic regression with C chosen by validation "
                   "AUC (Kornblith et al. 2019)")

    def run(self, ctx: ExperimentContext) -> MethodResult:
        probe, test = ctx.linear_probe(ctx.source_model())
        with ctx.timed("probe"):
            scores = probe.scores(test)
        return MethodResult(scores)


@hookimpl
def tlbench_register_methods(register):
    register(LinearProbe())
