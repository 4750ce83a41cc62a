"""Input conventions: how a model wants its pixels (scale, channel order, mean and std), part of the weight-source
contract (:meth:`benchmark.Source.input_convention`). Tagging a model with its convention and reading timm's
``pretrained_cfg`` live in :mod:`benchmark.engine.inputs`."""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Caffe's ImageNet mean in BGR order and 0-255 (Keras' VGG16 preprocess_input, mode "caffe")
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


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
        import torch  # torch is loaded by whoever holds a tensor; the contract itself stays light

        if self.scale != 1 / 255:
            x = x * (255.0 * self.scale)
        if self.bgr:
            x = x.flip(1)
        if self.mean != (0.0, 0.0, 0.0) or self.std != (1.0, 1.0, 1.0):
            mean, std = _stats(self.mean, self.std, x.device)
            x = (x - mean) / std
        if channels_last:
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
