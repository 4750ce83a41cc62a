"""No transfer: train the backbone from random initialisation and score its own softmax."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmark import Method, MethodResult, hookimpl

if TYPE_CHECKING:
    from benchmark import ExperimentContext


class Scratch(Method):
    name = "scratch"
    label = "scratch"
    description = "Train from random initialisation on the target; scored on its own softmax"
    trains = True
    uses_source = False

    def run(self, ctx: ExperimentContext) -> MethodResult:
        model = ctx.random_model()
        history = ctx.train(model)
        return MethodResult(ctx.softmax_scores(model), history)


@hookimpl
def tlbench_register_methods(register):
    register(Scratch())
