"""No transfer: train the backbone from random initialisation and score its own softmax."""

from benchmark import ExperimentContext, Method, MethodResult, hookimpl


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
