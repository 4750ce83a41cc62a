"""Input conventions: how a model wants its pixels (scale, channel order, mean and std).

Pretrained weights carry the convention they were trained with (timm's ``pretrained_cfg`` for ImageNet
weights); a model trained here carries the preset's. A model built for an experiment is tagged with its
convention (:func:`attach`), so feature extraction and fine-tuning feed every model what it expects.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Caffe's ImageNet mean in BGR order and 0-255 (Keras' VGG16 preprocess_input, mode "caffe")
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_ATTRIBUTE = "tlbench_input"


@dataclass(frozen=True)
class InputConvention:
    """Model input from RGB pixels in [0, 1]: multiplied by ``255 * scale`` (``scale`` 1/255 keeps [0, 1]),
    reordered to BGR when ``bgr``, then ``(x - mean) / std`` per channel (in the model's channel order).
    ``interpolation`` is the resize filter the weights were trained with (tlbench resizes bilinearly)."""

    name: str
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    scale: float = 1 / 255
    bgr: bool = False
    interpolation: str = "bilinear"

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """One line for a leaderboard's notes."""
        order = "BGR" if self.bgr else "RGB"
        scale = "0-255" if self.scale == 1 else "0-1"
        if self.mean == (0.0, 0.0, 0.0) and self.std == (1.0, 1.0, 1.0):
            return f"{self.name}: {order} {scale}"
        mean = ", ".join(f"{m:g}" for m in self.mean)
        std = ", ".join(f"{s:g}" for s in self.std)
        return f"{self.name}: {order} {scale}, mean ({mean}), std ({std}), {self.interpolation}"

    def apply(self, x: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
        """Float RGB [0, 1] images (B, 3, H, W) to model input, in channels_last memory format when asked."""
        if self.scale != 1 / 255:
            x = x * (255.0 * self.scale)
        if self.bgr:
            x = x.flip(1)
        if self.mean != (0.0, 0.0, 0.0) or self.std != (1.0, 1.0, 1.0):
            mean, std = _stats(self.mean, self.std, x.device)
            x = (x - mean) / std
        if channels_last:
            import torch  # a convention is also a source's identity: naming one must not load torch

            x = x.contiguous(memory_format=torch.channels_last)
        return x


@functools.lru_cache(maxsize=16)
def _stats(mean: tuple, std: tuple, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std on ``device``, made once so that no batch waits for a host copy."""
    import torch

    return (torch.tensor(mean, device=device).view(1, 3, 1, 1), torch.tensor(std, device=device).view(1, 3, 1, 1))


NAMED = {
    "unit": InputConvention("unit"),
    "imagenet": InputConvention("imagenet", IMAGENET_MEAN, IMAGENET_STD),
    "bgr255": InputConvention("bgr255", scale=1.0, bgr=True),
    # [0, 1] to [-1, 1]: torchvision's Normalize(mean=.5, std=.5), as MedMNIST's experiment code feeds its models
    "half": InputConvention("half", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    # what Caffe-derived weights (Keras' VGG16) expect: BGR, 0-255, the ImageNet mean subtracted per channel
    "caffe": InputConvention("caffe", CAFFE_MEAN_BGR, scale=1.0, bgr=True),
}


def named(name: str) -> InputConvention:
    """A preset's ``normalize`` value as a convention."""
    try:
        return NAMED[name]
    except KeyError:
        raise ValueError(f"unknown normalisation {name!r}: use one of {', '.join(NAMED)}") from None


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
