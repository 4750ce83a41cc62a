"""The built-in weight sources: ``random`` initialisation and timm's ``imagenet`` weights."""

from __future__ import annotations

import os
from pathlib import Path

import timm
import torch

from benchmark import (
    InputConvention,
    RunSettings,
    Source,
    create_backbone,
    from_pretrained_cfg,
    hookimpl,
    hub_cached_file,
    pretrained_input,
    seeded,
    state_dict_hash,
    tensors_digest,
)

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
        with seeded(seed):
            return create_backbone(settings.preset.backbone, num_classes, **settings.preset.backbone_kwargs())


class ImageNetSource(Source):
    """timm's ImageNet weights for the backbone: from a local file, the Hugging Face cache, or
    (with ``--online``) downloaded by timm. Never a silent random initialisation."""

    name = "imagenet"
    description = "timm's ImageNet-pretrained weights for the backbone"

    def __init__(self):
        self._digests: dict[tuple, str] = {}

    def _local_file(self, settings: RunSettings) -> Path | None:
        configured = settings.imagenet_weights or os.environ.get(WEIGHTS_ENV)
        if configured:
            return Path(configured)
        return hub_cached_file(settings.preset.backbone)

    def status(self, settings: RunSettings) -> tuple[bool, str]:
        path = self._local_file(settings)
        if path is not None:
            if path.is_file():
                return True, f"weights from {path}"
            return False, f"weights file {path} does not exist"
        if settings.online:
            return True, "timm downloads the weights"
        backbone = settings.preset.backbone
        return False, (
            f"no ImageNet weights for {backbone} on this machine: pass --imagenet-weights FILE "
            f"(or set {WEIGHTS_ENV}) with a timm state dict, put them in the Hugging Face cache, "
            "or pass --online to let timm download them"
        )

    def input_convention(self, settings: RunSettings) -> InputConvention:
        """The weights' own mean, std and interpolation (timm's pretrained_cfg for the backbone), as the preset's
        ``pretrained_input`` feeds pretrained weights."""
        cfg = timm.models.get_pretrained_cfg(settings.preset.backbone)
        if cfg is None:
            raise ValueError(f"timm has no pretrained configuration for {settings.preset.backbone!r}, so the "
                             "input its ImageNet weights expect is unknown")
        own = from_pretrained_cfg(cfg.to_dict(), f"imagenet ({settings.preset.backbone} pretrained_cfg)")
        return pretrained_input(own, settings.preset)

    def identity(self, settings: RunSettings) -> dict:
        """The weights' content digest, however they were found, and the input they get."""
        key = (settings.preset.backbone, settings.imagenet_weights, settings.online)
        if key not in self._digests:
            self._digests[key] = self._weights_digest(settings)
        return {"kind": "imagenet", "backbone": settings.preset.backbone, "weights_sha256": self._digests[key],
                "input": self.input_convention(settings).as_dict()}

    def _weights_digest(self, settings: RunSettings) -> str:
        path = self._local_file(settings)
        if path is not None and path.is_file():
            return tensors_digest(path)
        ok, reason = self.status(settings)
        if not ok:
            return f"unavailable: {reason}"
        # online without a cached file: timm downloads the weights now, and their tensors are hashed
        model = create_backbone(settings.preset.backbone, 0, pretrained=True, **settings.preset.backbone_kwargs())
        return state_dict_hash(model.state_dict())

    def build(self, settings: RunSettings, num_classes: int, seed: int) -> torch.nn.Module:
        ok, reason = self.status(settings)
        if not ok:
            raise FileNotFoundError(reason)
        path = self._local_file(settings)
        overlay = {"file": str(path)} if path is not None else None
        with seeded(seed):  # the new head's initial weights
            return create_backbone(settings.preset.backbone, num_classes, pretrained=True,
                                   pretrained_cfg_overlay=overlay, **settings.preset.backbone_kwargs())

    def build_with_own_head(self, settings: RunSettings) -> torch.nn.Module | None:
        """The pretrained model with its ImageNet classifier (as many classes as timm's pretrained_cfg says), or
        None when that configuration gives the weights no classifier."""
        ok, reason = self.status(settings)
        if not ok:
            raise FileNotFoundError(reason)
        cfg = timm.models.get_pretrained_cfg(settings.preset.backbone)
        classes = cfg.num_classes if cfg is not None else 0
        if not classes:
            return None
        path = self._local_file(settings)
        overlay = {"file": str(path)} if path is not None else None
        return create_backbone(settings.preset.backbone, classes, pretrained=True, pretrained_cfg_overlay=overlay,
                               **settings.preset.backbone_kwargs())


@hookimpl
def tlbench_register_sources(register):
    register(RandomSource())
    register(ImageNetSource())
