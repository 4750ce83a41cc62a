"""The hooks a tlbench plugin implements.

Each hook receives a ``register`` callback and calls it once per object it provides. A plugin
implements only the hooks it needs; the names and signatures here are the whole contract.
"""

import pluggy

PROJECT = "tlbench"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def tlbench_register_datasets(register):
    """Call ``register(dataset)`` for each :class:`benchmark.Dataset` this plugin provides."""


@hookspec
def tlbench_register_sources(register):
    """Call ``register(source)`` for each :class:`benchmark.Source` (pretrained weights) provided."""


@hookspec
def tlbench_register_methods(register):
    """Call ``register(method)`` for each :class:`benchmark.Method` (transfer method) provided."""


@hookspec
def tlbench_register_visualizers(register):
    """Call ``register(visualizer)`` for each :class:`benchmark.Visualizer` provided."""


@hookspec
def tlbench_register_estimators(register):
    """Call ``register(estimator)`` for each :class:`benchmark.Estimator` (transferability estimator) provided."""


@hookspec
def tlbench_register_launchers(register):
    """Call ``register(launcher)`` for each :class:`benchmark.Launcher` (where and how jobs execute) provided."""
