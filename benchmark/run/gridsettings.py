"""A grid's :class:`RunSettings` in one step: a preset name (or settings already built) with overrides, the
environment and the config file filling what is not given."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmark.acceleration import resolve_precision
from benchmark.presets import model_args_pairs
from benchmark.registry.config import Config, resolve_cache_dir, resolve_data_root
from benchmark.settings import RunSettings, resolve_device

# the preset's fields a grid may override, and the run's
PRESET_OVERRIDES = ("backbone", "image_size", "max_epochs", "batch_size", "official_splits", "model_args",
                    "source_training")
RUN_OVERRIDES = ("device", "data_root", "cache_dir", "imagenet_weights", "online", "strict", "max_unreadable",
                 "compile", "precision", "svm_backend", "jobs_per_gpu", "keep_models")
_PATHS = ("data_root", "cache_dir", "imagenet_weights")


def grid_settings(settings: str | RunSettings, overrides: Mapping[str, Any], config: Config) -> RunSettings:
    """``settings`` (a preset name, or :class:`RunSettings`) with ``overrides`` (a value of None keeps what is
    there). From a preset name: the device ``auto`` unless given, the data root and cache folder from the
    environment or the config file unless given, the config's ``model_args`` under the overrides', the precision
    ``auto`` and the SVM solver ``auto``. ValueError for an unknown key, preset, device or value."""
    unknown = sorted(set(overrides) - set(PRESET_OVERRIDES) - set(RUN_OVERRIDES))
    if unknown:
        raise ValueError(f"overrides: unknown key(s) {', '.join(unknown)}; known: the preset's "
                         f"{', '.join(PRESET_OVERRIDES)} and the run's {', '.join(RUN_OVERRIDES)}")
    given = {key: value for key, value in overrides.items() if value is not None}
    if not given.get("model_args", True):  # no model arguments given: the preset's (and config's) stay
        del given["model_args"]
    given.update({key: Path(given[key]) for key in _PATHS if key in given})
    preset_fields = {key: given.pop(key) for key in PRESET_OVERRIDES if key in given}
    if isinstance(settings, str):
        model_args = {**dict(config.model_args), **dict(preset_fields.pop("model_args", {}))}
        if model_args:
            preset_fields["model_args"] = model_args_pairs(model_args)
        built = RunSettings.build(
            device=given.pop("device", "auto"), preset=settings,
            data_root=resolve_data_root(given.pop("data_root", None), config),
            cache_dir=resolve_cache_dir(given.pop("cache_dir", None), config),
            imagenet_weights=given.pop("imagenet_weights", None), online=given.pop("online", False),
            strict=given.pop("strict", False), precision=given.pop("precision", "auto"), **preset_fields)
        speed = {"compile": False, "svm_backend": "auto", "jobs_per_gpu": 1}
    elif isinstance(settings, RunSettings):
        built = settings
        if "model_args" in preset_fields:
            preset_fields["model_args"] = model_args_pairs(dict(preset_fields["model_args"]))
        if preset_fields:
            built = dataclasses.replace(built, preset=built.preset.with_overrides(**preset_fields))
        if "device" in given:
            built = dataclasses.replace(built, device=resolve_device(given.pop("device")))
        if "precision" in given:  # resolved here, for the device in force (a device alone keeps the precision)
            built = dataclasses.replace(built, precision=resolve_precision(given.pop("precision"), built.device))
        speed = {"compile": built.compile, "svm_backend": "auto" if built.svm_auto else built.svm_backend,
                 "jobs_per_gpu": built.jobs_per_gpu}
    else:
        raise ValueError(f"settings {settings!r}: give a preset name (`tlbench presets` lists them) or RunSettings")
    speed.update({key: given.pop(key) for key in list(speed) if key in given})
    return dataclasses.replace(built.with_speed(**speed), **given)
