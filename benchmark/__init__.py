"""tlbench: a plugin-based benchmark of transfer learning to small medical datasets.

This module is the public API for plugin authors: implement the hooks with ``@hookimpl`` and
register subclasses of :class:`Dataset`, :class:`Source`, :class:`Method` or :class:`Visualizer`.
"""

from .datasets import SOURCE, TARGET, Dataset, DatasetStatus, ImageSet, Task
from .filedatasets import FileDataset, ImageFiles
from .hookspecs import hookimpl
from .methods import ExperimentContext, Method, MethodResult
from .presets import PRESETS, Preset
from .settings import RunSettings
from .sources import Source
from .visualizers import Visualizer, VisualizerContext

__all__ = [
    "SOURCE", "TARGET", "Dataset", "DatasetStatus", "FileDataset", "ImageFiles", "ImageSet", "Task", "hookimpl",
    "ExperimentContext", "Method", "MethodResult", "PRESETS", "Preset", "RunSettings", "Source", "Visualizer",
    "VisualizerContext",
]
