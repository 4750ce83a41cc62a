"""A plugin method that scores the fine-tuned network of ``ft`` and ``ft-svm`` another way (a logistic probe on its
features), declaring it with ``shared_training``; and one whose declaration contradicts itself."""

from benchmark import Method, MethodResult, hookimpl


class FineTuneProbe(Method):
    name = "ft-probe"
    description = "The shared fine-tuning's features into a logistic-regression probe"
    trains = True
    shared_training = "fine-tune"

    def score(self, ctx, model):
        probe, test = ctx.linear_probe(model)
        return MethodResult(probe.scores(test))


@hookimpl
def tlbench_register_methods(register):
    register(FineTuneProbe())
