"""A method that names a shared training but says it trains nothing: refused at registration."""

from benchmark import Method, MethodResult, hookimpl


class Confused(Method):
    name = "confused"
    description = "names the fine-tuning but says it trains nothing"
    shared_training = "fine-tune"

    def score(self, ctx, model):
        return MethodResult(ctx.softmax_scores(model))


@hookimpl
def tlbench_register_methods(register):
    register(Confused())
