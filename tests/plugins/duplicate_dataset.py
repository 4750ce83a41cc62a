"""A plugin that registers a dataset under a name the synthetic plugin already uses."""

from benchmark import hookimpl
from tlbench_plugins.datasets.synthetic import SyntheticXray


@hookimpl
def tlbench_register_datasets(register):
    register(SyntheticXray())
