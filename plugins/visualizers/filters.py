"""Filter images of every source model by activation maximisation, as the study drew them.

For every source that the run folder's experiments used, and the first three stages of the backbone,
each channel's mean activation is maximised by gradient
ascent from a noise image (noise x 20 + 128 on the 0-255 scale), with the gradient normalised by its
RMS, 20 steps of size 1. The images of up to 64 channels per stage go into one grid.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmark import (  # noqa: E402
    InputConvention,  # noqa: E402
    Visualizer,
    VisualizerContext,
    hookimpl,
)

STEPS, STEP_SIZE, MAX_CHANNELS, STAGES = 20, 1.0, 64, 3


def maximise_channels(model: torch.nn.Module, module: torch.nn.Module, channels: int, size: int,
                      inputs: InputConvention, seed: int = 0) -> np.ndarray:
    """One image (0-255 scale, (C, H, W, 3)) per channel of ``module``'s output that excites it most."""
    captured = {}
    handle = module.register_forward_hook(lambda _m, _i, out: captured.__setitem__("out", out))
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(channels, 3, size, size, generator=generator) * 20 + 128
    model.eval()
    try:
        for _ in range(STEPS):
            x.requires_grad_(True)
            model(inputs.apply(x / 255.0))
            activation = captured["out"][torch.arange(channels), torch.arange(channels)].mean(dim=(1, 2))
            (gradient,) = torch.autograd.grad(activation.sum(), x)
            rms = gradient.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt() + 1e-5
            x = (x + STEP_SIZE * gradient / rms).detach()
    finally:
        handle.remove()
    return x.permute(0, 2, 3, 1).numpy()


def _grid_figure(images: np.ndarray, title: str, path: Path) -> Path:
    side = math.ceil(math.sqrt(len(images)))
    fig, axes = plt.subplots(side, side, figsize=(side, side))
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, image in zip(np.ravel(axes), images, strict=False):
        low, high = np.percentile(image, (1, 99))
        ax.imshow(np.clip((image - low) / max(high - low, 1e-6), 0, 1))
    fig.suptitle(title, fontsize=8)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


class FilterVisualizer(Visualizer):
    name = "filters"
    description = "Activation-maximisation images of the filters of stages 1-3 of every source model"

    def render(self, ctx: VisualizerContext) -> list[Path]:
        sources = ctx.catalog.all_sources()
        paths = []
        for name, settings in ctx.used_sources():
            source = sources.get(name)
            if source is None or not source.status(settings)[0]:
                continue
            model = source.build(settings, 2, seed=0)
            modules = dict(model.named_modules())
            label = f"{settings.preset.backbone}-{settings.preset.image_size}px"
            for stage, info in enumerate(model.feature_info[:STAGES], start=1):
                channels = min(info["num_chs"], MAX_CHANNELS)
                images = maximise_channels(model, modules[info["module"]], channels,
                                           settings.preset.image_size, source.input_convention(settings))
                path = ctx.out_dir / f"filters-{name}-{label}-stage{stage}.png"
                title = f"{name} · stage {stage} · {settings.preset.name} · {label}"
                paths.append(_grid_figure(images, title, path))
        return paths


@hookimpl
def tlbench_register_visualizers(register):
    register(FilterVisualizer())
