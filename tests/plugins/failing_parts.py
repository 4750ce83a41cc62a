"""An estimator that always raises and a source whose weights cannot be built, to show that either failure
leaves the other estimates: load with ``-p failing_parts`` (this folder on sys.path)."""

from benchmark import Estimator, Source, hookimpl


class FailingEstimator(Estimator):
    name = "failing"
    description = "raises on every input"

    def score(self, features, labels, source_probs):
        raise ArithmeticError("this estimator always fails")


class BrokenSource(Source):
    name = "broken_src"
    description = "weights that cannot be built"

    def identity(self, settings):
        return {"kind": "broken"}

    def build(self, settings, num_classes, seed):
        raise OSError("the weights file is unreadable")


@hookimpl
def tlbench_register_estimators(register):
    register(FailingEstimator())


@hookimpl
def tlbench_register_sources(register):
    register(BrokenSource())
