"""Datasets, a source and a method whose names are valid but hostile in every output format: spreadsheet
formulas, HTML, rich markup, Markdown table syntax, LaTeX commands, path separators. Load with ``-p hostile_names``."""

from __future__ import annotations

from corner_scores import corner_scores
from tiny_plugin import TinyDataset

from benchmark import SOURCE, Method, hookimpl

TARGET_NAME = '=HYPERLINK("http://x")|<img src=x onerror=alert(1)>[/]\\input{/etc/passwd}%'
SOURCE_NAME = "@src/../[bold]x*_|"
METHOD_NAME = "+cmd[/]"
METHOD_LABEL = "-lbl|<b>[red]"
CLASSES = ("<i>a</i>", "b|[/]")


class HostileTarget(TinyDataset):
    name = TARGET_NAME
    classes = CLASSES
    seed = 2


class HostileSource(TinyDataset):
    name = SOURCE_NAME
    modality = "natural"
    classes = ("w", "x", "y", "z")
    roles = frozenset({SOURCE})
    n = 64
    seed = 1


class Corners(Method):
    """Scores the test images by their mean brightness per corner (no training: seconds)."""

    name = METHOD_NAME
    description = "[/]brightness per corner <script>"
    uses_source = False

    @property
    def label(self) -> str:
        return METHOD_LABEL

    def run(self, ctx):
        return corner_scores(ctx)


@hookimpl
def tlbench_register_datasets(register):
    register(HostileSource())
    register(HostileTarget())


@hookimpl
def tlbench_register_methods(register):
    register(Corners())
