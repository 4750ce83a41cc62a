"""tlbench: a plugin-based benchmark of transfer learning to small medical datasets.

This module is the public API for plugin authors: implement the hooks with ``@hookimpl`` and
register subclasses of :class:`Dataset`, :class:`Source`, :class:`Method` or :class:`Visualizer`.
"""

from .threads import prefer_brief_spinning

prefer_brief_spinning()  # before anything imports torch: OpenMP reads its wait settings once, at load

from .datasets import SOURCE, TARGET, Dataset, DatasetStatus, ImageSet, Task  # noqa: E402
from .filedatasets import FileDataset, ImageFiles  # noqa: E402
from .hashing import digest_of  # noqa: E402
from .hookspecs import hookimpl  # noqa: E402
from .methods import ExperimentContext, Method, MethodResult  # noqa: E402
from .presets import PRESETS, Preset  # noqa: E402
from .settings import RunSettings  # noqa: E402
from .sources import Source  # noqa: E402
from .visualizers import Visualizer, VisualizerContext  # noqa: E402

__all__ = [
    "SOURCE", "TARGET", "Dataset", "DatasetStatus", "FileDataset", "ImageFiles", "ImageSet", "Task", "digest_of",
    "hookimpl", "ExperimentContext", "Method", "MethodResult", "PRESETS", "Preset", "RunSettings", "Source",
    "Visualizer", "VisualizerContext",
]
