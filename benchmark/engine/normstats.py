"""Normalisation statistics re-estimated on a task's images (Li et al. 2016, "Revisiting batch normalization for
practical domain adaptation": AdaBN)."""

from __future__ import annotations

import torch

from benchmark.acceleration import Acceleration
from benchmark.engine.models import to_unit
from benchmark.engine.staging import StagedImages
from benchmark.inputs import InputConvention


@torch.no_grad()
def recalibrate_norm_statistics(model: torch.nn.Module, images: torch.Tensor, inputs: InputConvention,
                                device: torch.device, batch_size: int, accel: Acceleration | None = None) -> int:
    """Replace the running statistics of ``model``'s normalisation layers that track them (batch norm) with their
    exact average over ``images`` (uint8, (N, 3, H, W)) in batches of ``batch_size``, as training mode computes
    them; nothing else changes. Afterwards the model in evaluation mode normalises as it does while training on
    these images, so what it computes in evaluation mode (a probe's features) is what training feeds onwards.
    Returns the number of layers recalibrated; the model is left in evaluation mode."""
    norms = [m for m in model.modules() if getattr(m, "track_running_stats", False)]
    if not norms:
        return 0
    accel = accel or Acceleration.for_device(device)
    accel.place(model.train(), device)
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over the batches, not an exponential one
    staged = StagedImages(images, device)
    try:
        for start in range(0, len(staged), batch_size):
            if min(start + batch_size, len(staged)) - start < 2:  # batch norm cannot train on a single image
                continue
            x = inputs.apply(to_unit(staged.range(start, start + batch_size)), accel.channels_last)
            with accel.autocast(device):
                model(x)
    finally:
        for norm, momentum in zip(norms, momenta, strict=True):
            norm.momentum = momentum
        model.eval()
    return len(norms)
