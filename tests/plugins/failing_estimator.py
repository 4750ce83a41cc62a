"""An estimator that always raises, to show that one estimator's failure leaves the others' estimates: load
with ``-p failing_estimator`` (this folder on sys.path)."""

from benchmark import Estimator, hookimpl


class Failing(Estimator):
    name = "failing"
    description = "raises on every input"

    def score(self, features, labels, source_probs):
        raise ArithmeticError("this estimator always fails")


@hookimpl
def tlbench_register_estimators(register):
    register(Failing())
