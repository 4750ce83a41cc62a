"""The built-in weight sources: ``random`` initialisation and timm's ``imagenet`` weights."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from benchmark import PretrainedSource, RunSettings, Source, hookimpl

if TYPE_CHECKING:
    import torch

WEIGHTS_ENV = "TLBENCH_IMAGENET_WEIGHTS"


class RandomSource(Source):
    """Seeded random weights, for frozen features and probes only: its weights are scratch's initialisation, so a
    fine-tuning from them would be scratch again (docs/methods.md)."""

    name = "random"
    description = "Random initialisation (seeded), frozen: the floor any real source's features should beat"
    fine_tunable = False

    def identity(self, settings: RunSettings) -> dict:
        return {"kind": "random", "input": self.input_convention(settings).as_dict()}

    def build(self, settings: RunSettings, num_classes: int, seed: int) -> torch.nn.Module:
        from benchmark import create_backbone, seeded  # timm and torch: when a model is built, not when listed

        with seeded(seed):
            return create_backbone(settings.preset.backbone, num_classes, **settings.preset.backbone_kwargs())


class ImageNetSource(PretrainedSource):
    """timm's ImageNet weights for the preset's backbone, with the preset's model arguments: from the file
    ``--imagenet-weights`` (or ``TLBENCH_IMAGENET_WEIGHTS``) names, the Hugging Face cache, or (with ``--online``)
    downloaded by timm. Never a silent random initialisation."""

    name = "imagenet"
    description = "timm's ImageNet-pretrained weights for the backbone"
    kind = "imagenet"

    def architecture(self, settings: RunSettings) -> str:
        return settings.preset.backbone

    def weights_file(self, settings: RunSettings) -> Path | None:
        configured = settings.imagenet_weights or os.environ.get(WEIGHTS_ENV)
        return Path(configured) if configured else None

    def model_kwargs(self, settings: RunSettings) -> dict:
        return settings.preset.backbone_kwargs()

    @property
    def weights_setting(self) -> str:
        return f"--imagenet-weights (or {WEIGHTS_ENV})"

    def missing(self, settings: RunSettings) -> str:
        return (f"no ImageNet weights for {settings.preset.backbone} on this machine: pass --imagenet-weights FILE "
                f"(or set {WEIGHTS_ENV}) with a timm state dict, put them in the Hugging Face cache, "
                "or pass --online to let timm download them")


@hookimpl
def tlbench_register_sources(register):
    register(RandomSource())
    register(ImageNetSource())
