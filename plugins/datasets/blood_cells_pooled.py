"""Opt-in: blood cells with the study's pooled random split, as ``blood_cells_pooled``.

Load it with ``tlbench -p tlbench_plugins.datasets.blood_cells_pooled``; it leaks augmented copies of
one cell between train and test, so it only serves to reproduce the study's numbers.
"""

from benchmark import hookimpl

from .blood_cells import BloodCells


@hookimpl
def tlbench_register_datasets(register):
    register(BloodCells(pooled=True))
