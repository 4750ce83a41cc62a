"""A plugin whose register hook raises after registering one method."""

from benchmark import Method, hookimpl


class Fine(Method):
    name = "fine"


@hookimpl
def tlbench_register_methods(register):
    register(Fine())
    raise RuntimeError("registration blew up")
