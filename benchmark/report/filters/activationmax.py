"""Activation maximisation: for each channel of a module's output, an image that excites it most.

Channels go through in batches, each image of a batch maximising its own channel (the gradient of the
sum of their mean activations, which in eval mode reaches each image from its own channel only). Every
channel draws its starting point and its jitter from a generator of its own (``seed``, channel), so a
batched call gives what per-channel calls give. The forward pass stops at the module.

Two styles:

* ``"thesis"``: the study's method. Noise x 20 + 128 on the 0-255 scale, :data:`THESIS_STEPS` steps of
  gradient ascent of size 1 with the gradient divided by its RMS; shown percentile-stretched (1-99 %).
* ``"regularised"`` (default): Olah, Mordvintsev and Schubert (2017), *Feature Visualization*. The image is
  parameterised by a 1/f-scaled Fourier spectrum in a decorrelated colour space, squashed into [0, 1] by
  a sigmoid; every step sees it jittered, scaled and rotated a little; Adam (lr :data:`LR`) for
  :data:`STEPS` steps.

Cost: every channel takes :data:`STEPS` (regularised) or :data:`THESIS_STEPS` (thesis) forward and backward passes
of the model up to the module, so a stage's forward pass stops at its module (deeper layers cost nothing), and
channels go through in batches of :data:`BATCH_PIXELS` pixels, which bound the memory whatever the image size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.inputs import InputConvention

STYLES = ("regularised", "thesis")
STEPS, LR, THESIS_STEPS, THESIS_STEP_SIZE = 64, 0.05, 20, 1.0
# images per batch: this many pixels' worth (64 images at 224 px; every channel of a small model at 32 px)
BATCH_PIXELS = 64 * 224 * 224
# the square root of the colour correlation of ImageNet (Olah et al.'s lucid), normalised below
_COLOUR_SQRT = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=np.float32)
_COLOUR = _COLOUR_SQRT / np.max(np.linalg.norm(_COLOUR_SQRT, axis=0))
# ten times lucid's starting spread: channels silent on a flat grey start (a ReLU passes no gradient) wake on this
SPECTRUM_SD, DECAY = 0.1, 1.0
# per-step transforms at 224 px (lucid's standard ones), scaled with the image size
JITTER_224, SCALES, DEGREES = 12, (0.9, 1.1), 10.0


class _Reached(Exception):
    """Raised by the hook to stop the forward pass once the module's output is captured."""


def maximise(model: torch.nn.Module, module: torch.nn.Module, channels: Sequence[int], size: int,
             inputs: InputConvention, device: torch.device | str, style: str = "regularised", seed: int = 0,
             batch: int | None = None, steps: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images (float32 (C, size, size, 3) in [0, 1], ready to show) that maximise the mean activation of
    each of ``channels`` of ``module``'s output, and that mean activation (C,) reached on each image as
    optimised (un-jittered; for ``"thesis"``, before the display stretch). ``model`` is put in eval mode on
    ``device``. ``steps`` overrides the style's number of steps (0: the starting images)."""
    if style not in STYLES:
        raise ValueError(f"unknown filter style {style!r}: use one of {', '.join(STYLES)}")
    device = torch.device(device)
    model.eval().to(device)
    channels = list(channels)
    batch = batch or max(1, BATCH_PIXELS // (size * size))
    optimise = _thesis if style == "thesis" else _regularised
    images, activations = [], []
    for start in range(0, len(channels), batch):
        chunk = torch.tensor(channels[start : start + batch], device=device)
        objective = _Objective(model, module, chunk, inputs)
        image, reached = optimise(objective, chunk.tolist(), size, device, seed, steps)
        images.append(image)
        activations.append(reached)
    if not channels:
        return np.zeros((0, size, size, 3), np.float32), np.zeros(0, np.float32)
    return np.concatenate(images), np.concatenate(activations)


def forward_until(model: torch.nn.Module, module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``module``'s output for model input ``x``, the forward pass stopped there."""
    captured = {}

    def hook(_module, _inputs, output):
        captured["out"] = output
        raise _Reached

    handle = module.register_forward_hook(hook)
    try:
        model(x)
    except _Reached:
        pass
    finally:
        handle.remove()
    return captured["out"]


class _Objective:
    """The mean activation of image ``i``'s own channel, for a batch of [0, 1] RGB images."""

    def __init__(self, model, module, channels: torch.Tensor, inputs: InputConvention):
        self.model, self.module, self.channels, self.inputs = model, module, channels, inputs

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        out = forward_until(self.model, self.module, self.inputs.apply(images))
        return out[torch.arange(len(out), device=out.device), self.channels].mean(dim=(1, 2))


def _generator(seed: int, channel: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + channel)


def _thesis(objective, channels, size, device, seed, steps):
    steps = THESIS_STEPS if steps is None else steps
    x = torch.stack([torch.rand(3, size, size, generator=_generator(seed, c)) for c in channels]) * 20 + 128
    x = x.to(device)
    for _ in range(steps):
        x.requires_grad_(True)
        (gradient,) = torch.autograd.grad(objective(x / 255.0).sum(), x)
        rms = gradient.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt() + 1e-5
        x = (x + THESIS_STEP_SIZE * gradient / rms).detach()
    with torch.no_grad():
        reached = objective(x / 255.0)
    x = x.permute(0, 2, 3, 1).cpu().numpy()
    low, high = np.percentile(x, (1, 99), axis=(1, 2, 3), keepdims=True)
    shown = np.clip((x - low) / np.maximum(high - low, 1e-6), 0, 1)
    return shown.astype(np.float32), reached.cpu().numpy()


def _spectrum_scale(size: int) -> torch.Tensor:
    """Lucid's 1/f scale of the spectrum (every frequency starts with about equal energy in the image)."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    scale = 1.0 / np.maximum(np.sqrt(fx * fx + fy * fy), 1.0 / size) ** DECAY
    return torch.tensor(scale * size, dtype=torch.float32)


def _to_rgb(spectrum: torch.Tensor, scale: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 3, size, size//2+1, 2) spectrum parameters to (B, 3, size, size) RGB in [0, 1]."""
    image = torch.fft.irfft2(torch.view_as_complex(spectrum) * scale, s=(size, size)) / 4.0
    colour = torch.as_tensor(_COLOUR, device=image.device)
    return torch.sigmoid(torch.einsum("bchw,dc->bdhw", image, colour))


def _transforms(channels, seed, steps, size) -> torch.Tensor:
    """Each channel's per-step affine matrices (steps, B, 2, 3): jitter, scale, rotation, from its own
    generator (drawn after its starting spectrum)."""
    shift = 2.0 * max(1, round(JITTER_224 * size / 224)) / size  # pixels in grid_sample's [-1, 1] units
    matrices = []
    for channel in channels:
        g = _generator(seed, channel)
        torch.randn(3, size, size // 2 + 1, 2, generator=g)  # the spectrum's draw, skipped
        u = torch.rand(steps, 4, generator=g)
        scale = SCALES[0] + (SCALES[1] - SCALES[0]) * u[:, 0]
        angle = torch.deg2rad(DEGREES * (2 * u[:, 1] - 1))
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        tx, ty = shift * (2 * u[:, 2] - 1), shift * (2 * u[:, 3] - 1)
        matrices.append(torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1))
    return torch.stack(matrices, 1)


def _regularised(objective, channels, size, device, seed, steps):
    steps = STEPS if steps is None else steps
    spectrum = torch.stack([SPECTRUM_SD * torch.randn(3, size, size // 2 + 1, 2, generator=_generator(seed, c))
                            for c in channels]).to(device).requires_grad_(True)
    scale = _spectrum_scale(size).to(device)
    affine = _transforms(channels, seed, steps, size).to(device)
    optimiser = torch.optim.Adam([spectrum], lr=LR)
    for step in range(steps):
        image = _to_rgb(spectrum, scale, size)
        grid = F.affine_grid(affine[step], list(image.shape), align_corners=False)
        seen = F.grid_sample(image, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        (spectrum.grad,) = torch.autograd.grad(-objective(seen).sum(), spectrum)
        optimiser.step()
    with torch.no_grad():
        image = _to_rgb(spectrum, scale, size)
        reached = objective(image)
    return image.permute(0, 2, 3, 1).cpu().numpy().astype(np.float32), reached.cpu().numpy()


def high_frequency_share(images: np.ndarray, cutoff: float = 0.25) -> np.ndarray:
    """Per image (N, H, W, 3), the share of its spectral energy (mean removed) above ``cutoff`` cycles
    per pixel: near 0 for smooth images, near 0.7 for white noise."""
    grey = images.mean(axis=-1)
    grey = grey - grey.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.rfft2(grey)) ** 2
    fy = np.fft.fftfreq(grey.shape[1])[:, None]
    fx = np.fft.rfftfreq(grey.shape[2])[None, :]
    high = np.sqrt(fx * fx + fy * fy) > cutoff
    return power[:, high].sum(axis=1) / np.maximum(power.reshape(len(power), -1).sum(axis=1), 1e-12)

