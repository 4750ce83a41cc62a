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
        class_folders,
        files_status,
        first_existing,
        image_files,
        missing_status,
        scan_class_folders,
    )
    from benchmark.datasets import SOURCE, TARGET, Dataset, DatasetStatus, ImageSet, Task
    from benchmark.engine.inputs import from_pretrained_cfg, pretrained_input
    from benchmark.engine.knnprobe import choose_k, nearest
    from benchmark.engine.logisticprobe import LogisticProbe, fit_logistic_probe
    from benchmark.engine.metrics import macro_roc_curve
    from benchmark.engine.models import create_backbone
    from benchmark.engine.pretrainedsource import PretrainedSource
    from benchmark.engine.seeding import seeded
    from benchmark.engine.weightfiles import hub_cached_file, tensors_digest
    from benchmark.estimators import Estimator, check_inputs
    from benchmark.hashing import digest_of, file_hash, state_dict_hash
    from benchmark.hookspecs import hookimpl
    from benchmark.inputs import InputConvention
    from benchmark.launchers import Launcher, LauncherOption, LaunchError, LaunchOptions, Session, WorkerLost
    from benchmark.methods import Method, MethodResult
    from benchmark.presets import PRESETS, Preset
    from benchmark.report.estimates import compare, weighted_tau
    from benchmark.report.figures import VisualizerContext
    from benchmark.report.filters.filtersets import ModelFilters, filter_pairs, model_filters
    from benchmark.report.filters.taxonomy import CLASSES, STRUCTURAL, classify_many
    from benchmark.report.filters.taxonomyfigures import share_bars, share_scatter
    from benchmark.report.filters.transfer import class_shares, filter_change, spearman, structural_share
    from benchmark.report.style import DPI, GREY, colour_of, column_line, method_colour, save, styled
    from benchmark.run.context import ExperimentContext
    from benchmark.run.grid import GridError, GridResult, run_grid
    from benchmark.run.jobs import Job, JobResult, WorkSpec, execute
    from benchmark.run.schedule import simulate
    from benchmark.settings import RunSettings
    from benchmark.sources import Source
    from benchmark.visualizers import BoardVisualizer, Figure, Visualizer

_MODULES = {
    "benchmark.data.filedatasets": ("FileDataset", "ImageFiles", "class_folders", "files_status", "first_existing",
                                    "image_files", "missing_status", "scan_class_folders"),
    "benchmark.datasets": ("SOURCE", "TARGET", "Dataset", "DatasetStatus", "ImageSet", "Task"),
    "benchmark.estimators": ("Estimator", "check_inputs"),
    "benchmark.engine.inputs": ("InputConvention", "from_pretrained_cfg", "pretrained_input"),
    "benchmark.engine.knnprobe": ("choose_k", "nearest"),
    "benchmark.engine.logisticprobe": ("LogisticProbe", "fit_logistic_probe"),
    "benchmark.engine.metrics": ("macro_roc_curve",),
    "benchmark.engine.models": ("create_backbone",),
    "benchmark.engine.pretrainedsource": ("PretrainedSource",),
    "benchmark.engine.seeding": ("seeded",),
    "benchmark.engine.weightfiles": ("hub_cached_file", "tensors_digest"),
    "benchmark.hashing": ("digest_of", "file_hash", "state_dict_hash"),
    "benchmark.hookspecs": ("hookimpl",),
    "benchmark.launchers": ("Launcher", "LauncherOption", "Session", "LaunchOptions", "WorkerLost", "LaunchError"),
    "benchmark.methods": ("Method", "MethodResult"),
    "benchmark.presets": ("PRESETS", "Preset"),
    "benchmark.report.estimates": ("compare", "weighted_tau"),
    "benchmark.report.figures": ("VisualizerContext",),
    "benchmark.report.filters.filtersets": ("ModelFilters", "model_filters", "filter_pairs"),
    "benchmark.report.style": ("styled", "save", "colour_of", "method_colour", "column_line", "GREY", "DPI"),
    "benchmark.report.filters.taxonomy": ("CLASSES", "STRUCTURAL", "classify_many"),
    "benchmark.report.filters.taxonomyfigures": ("share_bars", "share_scatter"),
    "benchmark.report.filters.transfer": ("class_shares", "structural_share", "spearman", "filter_change"),
    "benchmark.run.context": ("ExperimentContext",),
    "benchmark.run.grid": ("run_grid", "GridResult", "GridError"),
    "benchmark.run.schedule": ("simulate",),
    "benchmark.run.jobs": ("Job", "JobResult", "WorkSpec", "execute"),
    "benchmark.settings": ("RunSettings",),
    "benchmark.sources": ("Source",),
    "benchmark.visualizers": ("Visualizer", "BoardVisualizer", "Figure"),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    # running a grid from Python
    "run_grid", "GridResult", "GridError",
    # plugin kinds and their registration
    "hookimpl", "Dataset", "FileDataset", "Source", "Method", "Visualizer", "BoardVisualizer", "Figure", "Estimator",
    "check_inputs", "Launcher", "Session", "LaunchOptions", "WorkerLost", "LaunchError", "Job", "JobResult",
    "WorkSpec", "execute", "simulate",
    "LauncherOption",
    # what plugins receive and return
    "SOURCE", "TARGET", "Task", "DatasetStatus", "ImageSet", "ImageFiles", "ExperimentContext", "MethodResult",
    "VisualizerContext", "RunSettings", "Preset", "PRESETS",
    # helpers for file datasets
    "image_files", "class_folders", "scan_class_folders", "first_existing", "missing_status", "files_status",
    # models, their input, seeding and digests
    "create_backbone", "seeded", "InputConvention", "from_pretrained_cfg", "pretrained_input", "digest_of", "file_hash",
    "state_dict_hash", "hub_cached_file", "tensors_digest",
    # pretrained weights from timm, the Hugging Face cache or a file (subclass it for weights chosen per run)
    "PretrainedSource",
    # probes on frozen features: logistic regression and k nearest neighbours
    "LogisticProbe", "fit_logistic_probe", "nearest", "choose_k",
    # figures: one style, and the study's ROC curve
    "styled", "save", "colour_of", "method_colour", "column_line", "GREY", "DPI", "macro_roc_curve",
    # filter images, their taxonomy, and the taxonomy against transfer
    "ModelFilters", "model_filters", "filter_pairs", "CLASSES", "STRUCTURAL", "classify_many", "class_shares",
    "structural_share", "spearman", "filter_change", "share_bars", "share_scatter",
    # transferability estimates against measured results
    "compare", "weighted_tau",
]


def __getattr__(name: str):
    """A public name, imported from its module the first time it is asked for (and kept)."""
    if name not in _HOME:
        raise AttributeError(f"module 'benchmark' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
