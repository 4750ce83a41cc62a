"""tlbench: a plugin-based benchmark of transfer learning to small medical datasets.

This module is the public API for plugin authors: implement the hooks with ``@hookimpl`` and
register subclasses of :class:`Dataset`, :class:`Source`, :class:`Method` or :class:`Visualizer`.
"""

from benchmark.engine.threads import prefer_brief_spinning

prefer_brief_spinning()  # before anything imports torch: OpenMP reads its wait settings once, at load

from benchmark.data.filedatasets import (  # noqa: E402
    FileDataset,
    ImageFiles,
    class_folders,
    files_status,
    first_existing,
    image_files,
    missing_status,
    scan_class_folders,
)
from benchmark.datasets import SOURCE, TARGET, Dataset, DatasetStatus, ImageSet, Task  # noqa: E402
from benchmark.engine.inputs import InputConvention, from_pretrained_cfg  # noqa: E402
from benchmark.engine.models import create_backbone  # noqa: E402
from benchmark.engine.seeding import seeded  # noqa: E402
from benchmark.hashing import digest_of, file_hash, state_dict_hash  # noqa: E402
from benchmark.hookspecs import hookimpl  # noqa: E402
from benchmark.methods import ExperimentContext, Method, MethodResult  # noqa: E402
from benchmark.presets import PRESETS, Preset  # noqa: E402
from benchmark.report.figures import VisualizerContext  # noqa: E402
from benchmark.settings import RunSettings  # noqa: E402
from benchmark.sources import Source  # noqa: E402
from benchmark.visualizers import Visualizer  # noqa: E402

__all__ = [
    # plugin kinds and their registration
    "hookimpl", "Dataset", "FileDataset", "Source", "Method", "Visualizer",
    # what plugins receive and return
    "SOURCE", "TARGET", "Task", "DatasetStatus", "ImageSet", "ImageFiles", "ExperimentContext", "MethodResult",
    "VisualizerContext", "RunSettings", "Preset", "PRESETS",
    # helpers for file datasets
    "image_files", "class_folders", "scan_class_folders", "first_existing", "missing_status", "files_status",
    # models, their input, seeding and digests
    "create_backbone", "seeded", "InputConvention", "from_pretrained_cfg", "digest_of", "file_hash", "state_dict_hash",
]
