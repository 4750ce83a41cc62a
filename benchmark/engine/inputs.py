"""Input conventions: how a model wants its pixels (scale, channel order, mean and std).

Pretrained weights carry the convention they were trained with (timm's ``pretrained_cfg`` for ImageNet
weights); a model trained here carries the preset's. A model built for an experiment is tagged with its
convention (:func:`attach`), so feature extraction and fine-tuning feed every model what it expects.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from benchmark.inputs import InputConvention, named

if TYPE_CHECKING:
    import torch

_ATTRIBUTE = "tlbench_input"


def from_pretrained_cfg(cfg: dict, label: str) -> InputConvention:
    """The convention of timm pretrained weights, from their ``pretrained_cfg``."""
    mean, std = tuple(float(m) for m in cfg["mean"]), tuple(float(s) for s in cfg["std"])
    if len(mean) != 3 or len(std) != 3:
        raise ValueError(f"{label}: tlbench feeds RGB images, but the weights expect {len(mean)} channels")
    return InputConvention(label, mean, std, interpolation=cfg.get("interpolation") or "bilinear")


def pretrained_input(own: InputConvention, preset) -> InputConvention:
    """What pretrained weights whose own convention is ``own`` are fed under ``preset.pretrained_input``: ``own``
    ("source"), the preset's normalisation ("preset"), or ``own`` without its mean subtracted ("unshifted": for
    Caffe-style weights raw BGR 0-255, the study's input; for other weights the same offset, the mean, in their own
    units)."""
    if preset.pretrained_input == "preset":
        return named(preset.normalize)
    if preset.pretrained_input == "unshifted":
        return dataclasses.replace(own, name=f"{own.name}, mean not subtracted", mean=(0.0, 0.0, 0.0))
    return own


def attach(model: torch.nn.Module, convention: InputConvention) -> torch.nn.Module:
    """Tag ``model`` with the input convention of its weights."""
    setattr(model, _ATTRIBUTE, convention)
    return model


def input_of(model: torch.nn.Module, preset) -> InputConvention:
    """The convention ``model`` was tagged with, else the preset's (a model trained from random weights)."""
    return getattr(model, _ATTRIBUTE, None) or named(preset.normalize)
