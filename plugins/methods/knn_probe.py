"""kNN probe: cosine nearest neighbours among the source's frozen training features, k chosen on validation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmark import Method, MethodResult, hookimpl

if TYPE_CHECKING:
    from benchmark import ExperimentContext


class KNNProbe(Method):
    name = "knn-probe"
    label = "kNN"
    compared_with = "linear-probe"  # the same frozen features, read without fitting anything
    description = ("Frozen source features, cosine k nearest training features voting with weight exp(sim/0.07), "
                   "k chosen by validation AUC (Wu et al. 2018; Caron et al. 2021)")

    def run(self, ctx: ExperimentContext) -> MethodResult:
        from benchmark import choose_k, nearest  # the probe's numerics load when an experiment runs, not at listing

        with ctx.timed("features"):
            train, val, test = ctx.features(ctx.source_model())
        labels = ctx.data.train.labels.numpy()
        with ctx.timed("probe"):
            k, _ = choose_k(train, labels, val, ctx.data.val.labels.numpy(), ctx.num_classes, ctx.settings.preset.auc)
            scores = nearest(train, test, k).scores(labels, k, ctx.num_classes)
        ctx.info["knn_k"] = k
        return MethodResult(scores)


@hookimpl
def tlbench_register_methods(register):
    register(KNNProbe())
