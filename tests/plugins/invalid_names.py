"""A plugin whose names are not valid names: a dataset name with a line break and a LaTeX command, a class name
of 300 characters, a method label with a carriage return. Load with ``-p invalid_names``: it is listed as broken,
each name refused with its reason, and the other plugins keep working."""

from __future__ import annotations

from tiny_plugin import TinyDataset

from benchmark import Method, hookimpl

NEWLINE_NAME = "derm\n\\input{/etc/passwd}"
LONG_CLASS = "c" * 300


class NewlineDataset(TinyDataset):
    name = NEWLINE_NAME


class LongClassDataset(TinyDataset):
    name = "long_classes"
    classes = ("a", LONG_CLASS)


class ReturnLabel(Method):
    name = "return_label"
    uses_source = False

    @property
    def label(self) -> str:
        return "FE\rFT"


@hookimpl
def tlbench_register_datasets(register):
    register(NewlineDataset())
    register(LongClassDataset())


@hookimpl
def tlbench_register_methods(register):
    register(ReturnLabel())
