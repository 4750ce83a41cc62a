"""tlbench: a plugin-based benchmark of transfer learning to small medical datasets.

This module is the public API for plugin authors: implement the hooks with ``@hookimpl`` and
register subclasses of :class:`Dataset`, :class:`Source`, :class:`Method`, :class:`Visualizer`, :class:`Estimator`
or :class:`Launcher`.

Each name is imported from its module on first use (PEP 562), so ``tlbench --help`` does not wait for torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from benchmark.engine.threads import prefer_brief_spinning

prefer_brief_spinning()  # before anything imports torch: OpenMP reads its wait settings once, at load

if TYPE_CHECKING:
    from benchmark.data.filedatasets import (
        FileDataset,
        ImageFiles,
        files_status,
        first_existing,
        image_files,
        missing_status,
        scan_class_folders,
    )
    from benchmark.datasets import SOURCE, TARGET, Dataset, DatasetStatus, ImageSet, Task
    from benchmark.engine.knnprobe import choose_k, nearest
    from benchmark.engine.metrics import macro_roc_curve
    from benchmark.engine.models import create_backbone
    from benchmark.engine.pretrainedsource import PretrainedSource
    from benchmark.engine.seeding import seeded
    from benchmark.estimators import Estimator, check_inputs
    from benchmark.hashing import digest_of, state_dict_hash
    from benchmark.hookspecs import hookimpl
    from benchmark.inputs import InputConvention
    from benchmark.launchers import Launcher, LauncherOption, LaunchError, LaunchOptions, Session, WorkerLost
    from benchmark.methods import Method, MethodResult
    from benchmark.report import filters as filter_analysis
    from benchmark.report.estimates import compare
    from benchmark.report.figures import VisualizerContext
    from benchmark.report.style import DPI, GREY, colour_of, column_line, method_colour, save, styled
    from benchmark.run.context import ExperimentContext
    from benchmark.run.grid import GridError, GridResult, run_grid
    from benchmark.run.jobs import Job, WorkSpec, execute
    from benchmark.run.schedule import simulate
    from benchmark.settings import RunSettings
    from benchmark.sources import Source
    from benchmark.visualizers import BoardVisualizer, Figure, Visualizer

_MODULES = {
    "benchmark.data.filedatasets": ("FileDataset", "ImageFiles", "files_status", "first_existing", "image_files",
                                    "missing_status", "scan_class_folders"),
    "benchmark.datasets": ("SOURCE", "TARGET", "Dataset", "DatasetStatus", "ImageSet", "Task"),
    "benchmark.estimators": ("Estimator", "check_inputs"),
    "benchmark.engine.knnprobe": ("choose_k", "nearest"),
    "benchmark.engine.metrics": ("macro_roc_curve",),
    "benchmark.engine.models": ("create_backbone",),
    "benchmark.engine.pretrainedsource": ("PretrainedSource",),
    "benchmark.engine.seeding": ("seeded",),
    "benchmark.hashing": ("digest_of", "state_dict_hash"),
    "benchmark.hookspecs": ("hookimpl",),
    "benchmark.inputs": ("InputConvention",),
    "benchmark.launchers": ("Launcher", "LauncherOption", "Session", "LaunchOptions", "WorkerLost", "LaunchError"),
    "benchmark.methods": ("Method", "MethodResult"),
    "benchmark.report.estimates": ("compare",),
    "benchmark.report.figures": ("VisualizerContext",),
    "benchmark.report.style": ("styled", "save", "colour_of", "method_colour", "column_line", "GREY", "DPI"),
    "benchmark.run.context": ("ExperimentContext",),
    "benchmark.run.grid": ("run_grid", "GridResult", "GridError"),
    "benchmark.run.schedule": ("simulate",),
    "benchmark.run.jobs": ("Job", "WorkSpec", "execute"),
    "benchmark.settings": ("RunSettings",),
    "benchmark.sources": ("Source",),
    "benchmark.visualizers": ("Visualizer", "BoardVisualizer", "Figure"),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}
# a whole module as one name: the filter analysis, for the visualisers that draw it (its names: its __all__)
_PACKAGES = {"filter_analysis": "benchmark.report.filters"}

# What plugin authors and callers need; docs/plugins.md says in one line what each is for.
__all__ = [
    # plugins: the hook marker and the kinds a plugin registers
    "hookimpl", "Dataset", "FileDataset", "Source", "PretrainedSource", "Method", "Visualizer", "BoardVisualizer",
    "Estimator", "Launcher", "LauncherOption",
    # running a grid from Python
    "run_grid", "GridResult", "GridError",
    # what plugins are given and return
    "SOURCE", "TARGET", "Task", "DatasetStatus", "ImageSet", "ImageFiles", "ExperimentContext", "MethodResult",
    "VisualizerContext", "Figure", "RunSettings", "InputConvention",
    # launchers: sessions, their jobs and the worker's entry point
    "Session", "LaunchOptions", "WorkerLost", "LaunchError", "Job", "WorkSpec", "execute", "simulate",
    # file datasets
    "image_files", "scan_class_folders", "first_existing", "missing_status", "files_status",
    # models, seeding and digests
    "create_backbone", "seeded", "digest_of", "state_dict_hash",
    # estimators and probes
    "check_inputs", "compare", "nearest", "choose_k",
    # figures: one style, the study's ROC curve, and the filter analysis
    "styled", "save", "colour_of", "method_colour", "column_line", "GREY", "DPI", "macro_roc_curve", "filter_analysis",
]


def __getattr__(name: str):
    """A public name, imported from its module the first time it is asked for (and kept)."""
    if name in _PACKAGES:
        value = importlib.import_module(_PACKAGES[name])
    elif name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), name)
    else:
        raise AttributeError(f"module 'benchmark' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
