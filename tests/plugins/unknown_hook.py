"""A plugin implementing a hook that does not exist (a typo)."""

from benchmark import hookimpl


@hookimpl
def tlbench_register_dataset(register):
    pass
