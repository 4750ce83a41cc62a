"""Datasets, a source and a method whose names are valid but hostile in every output format: spreadsheet
formulas, HTML, rich markup, Markdown table syntax, LaTeX commands, path separators. Load with ``-p hostile_names``."""

from __future__ import annotations

import numpy as np
from tiny_plugin import TinyDataset

from benchmark import SOURCE, Method, MethodResult, hookimpl

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
        images = ctx.data.test.images.float()
        half = images.shape[-1] // 2
        corners = [images[:, :, y * half:(y + 1) * half, x * half:(x + 1) * half].mean(dim=(1, 2, 3))
                   for y in (0, 1) for x in (0, 1)]
        return MethodResult(np.stack([c.numpy() for c in corners], axis=1)[:, : ctx.num_classes])


@hookimpl
def tlbench_register_datasets(register):
    register(HostileSource())
    register(HostileTarget())


@hookimpl
def tlbench_register_methods(register):
    register(Corners())
