"""Training-time augmentation: parameters drawn from the trainer's CPU generator, pixels moved on the device.

Drawing on the CPU keeps a seed's augmentations the same on every device; applying them to the batch
already on the device keeps the host out of the pixel work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from benchmark.engine.staging import upload


@dataclass(frozen=True)
class Augmentation:
    """``flip``: mirror half the images left-right; ``rotation``: rotate by an angle uniform in
    [-rotation, rotation] degrees, edges repeated; ``crop_scale`` < 1: random resized crop covering an area
    fraction uniform in [crop_scale, 1] with aspect ratio in [3/4, 4/3], resized back to the input size."""

    flip: bool = False
    rotation: float = 0.0
    crop_scale: float = 1.0

    @classmethod
    def from_preset(cls, preset) -> Augmentation:
        """The preset's augmentation."""
        return cls(preset.augment_flip, preset.augment_rotation, preset.augment_crop_scale)

    @property
    def geometric(self) -> bool:
        return self.rotation > 0 or self.crop_scale < 1

    def draw(self, n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Random parameters for ``n`` images (empty when nothing is switched on)."""
        params: dict[str, torch.Tensor] = {}
        if self.flip:
            params["flip"] = torch.rand(n, generator=generator) < 0.5
        if self.rotation > 0:
            params["angle"] = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(self.rotation)
        if self.crop_scale < 1:
            area = self.crop_scale + (1 - self.crop_scale) * torch.rand(n, generator=generator)
            log_ratio = math.log(3 / 4) + math.log(16 / 9) * torch.rand(n, generator=generator)
            ratio = log_ratio.exp()
            params["width"] = (area * ratio).sqrt().clamp(max=1.0)
            params["height"] = (area / ratio).sqrt().clamp(max=1.0)
            params["centre"] = (torch.rand(n, 2, generator=generator) * 2 - 1) * torch.stack(
                [1 - params["width"], 1 - params["height"]], dim=1
            )
        return params

    def apply(self, x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """Augment the float batch ``x`` (B, C, H, W) on its device with parameters from :meth:`draw` (on the
        host or, to spare the step a copy, already on ``x``'s device)."""
        if not params:
            return x
        device = x.device
        if not self.geometric:
            flip = upload(params["flip"], device)
            return torch.where(flip[:, None, None, None], x.flip(-1), x)
        theta = upload(self._theta(params, len(x)), device)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    @staticmethod
    def _theta(params: dict[str, torch.Tensor], n: int) -> torch.Tensor:
        """(n, 2, 3) maps from output to input coordinates: mirror, then rotate, then take the crop window
        (on the parameters' device)."""
        device = next(iter(params.values())).device
        ones, zeros = torch.ones(n, device=device), torch.zeros(n, device=device)
        sign = torch.where(params["flip"], -1.0, 1.0) if "flip" in params else ones
        angle = params.get("angle", zeros)
        width, height = params.get("width", ones), params.get("height", ones)
        centre = params.get("centre", torch.zeros(n, 2, device=device))
        cos, sin = angle.cos(), angle.sin()
        theta = torch.zeros(n, 2, 3, device=device)
        theta[:, 0, 0] = width * cos * sign
        theta[:, 0, 1] = -width * sin
        theta[:, 1, 0] = height * sin * sign
        theta[:, 1, 1] = height * cos
        theta[:, :, 2] = centre
        return theta
