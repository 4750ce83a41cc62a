"""Sources of pretrained weights for a backbone of their own, with no code: a weights file declared in the config
(:class:`WeightsFileSource`), or a timm pretrained tag from the local Hugging Face cache (:class:`TimmSource`).

Experiments using them build that backbone, not the preset's, at the preset's image size and with the source's own
model arguments (``model_args``: ``pad_type="same"`` for TensorFlow-ported weights), which are part of its identity.
"""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path

import timm
import torch

from benchmark.engine.inputs import InputConvention, from_pretrained_cfg, named, pretrained_input
from benchmark.engine.models import create_backbone
from benchmark.engine.weightfiles import (
    WeightsFileError,
    file_tensors,
    head_classes,
    hub_cached_file,
    load_weights,
    tensors_digest,
    timm_layout,
)
from benchmark.hashing import state_dict_hash
from benchmark.registry.config import SourceDeclaration
from benchmark.settings import RunSettings
from benchmark.sources import Source

TIMM_PREFIX = "timm:"


def pretrained_cfg(name: str) -> dict | None:
    """timm's pretrained_cfg of a model name (with or without a tag), or None when it has none."""
    try:
        cfg = timm.models.get_pretrained_cfg(name)
    except RuntimeError:  # a tag the architecture does not have
        return None
    return cfg.to_dict() if cfg is not None else None


class WeightsFileSource(Source):
    """A timm ``backbone`` carrying the weights of a file declared in the config (see
    :mod:`benchmark.engine.weightfiles` for the formats); the input the declaration gives, else the backbone's
    pretrained_cfg's."""

    def __init__(self, declaration: SourceDeclaration, config_path: Path):
        self.declaration, self.config_path = declaration, config_path
        self.name = declaration.name
        self.description = declaration.description or f"{declaration.backbone} weights from {declaration.weights}"

    @property
    def path(self) -> Path:
        return self.declaration.weights

    def status(self, settings: RunSettings) -> tuple[bool, str]:
        """Available when the file holds finite floating-point weights (it is read once per process)."""
        if not self.path.is_file():
            what = "is not a regular file" if self.path.exists() else "does not exist"
            return False, (f"weights file {self.path} {what}: put it there, or change weights of "
                           f"[sources.{self.name}] in {self.config_path}")
        try:
            tensors_digest(self.path, self.declaration.prefix)
        except WeightsFileError as error:
            return False, f"{error} (weights of [sources.{self.name}] in {self.config_path})"
        return True, f"{self.declaration.backbone} weights from {self.path}"

    def input_convention(self, settings: RunSettings) -> InputConvention:
        """The declared input (a named convention, or mean, std and interpolation, each else the backbone's
        pretrained_cfg's), as the preset's ``pretrained_input`` feeds pretrained weights."""
        return pretrained_input(self._own_input(), settings.preset)

    def _own_input(self) -> InputConvention:
        given = self.declaration
        if given.input:
            return dataclasses.replace(named(given.input), name=f"{self.name} (declared {given.input})")
        cfg = pretrained_cfg(given.backbone)  # registration made sure there is one
        origin = "declared" if given.mean and given.std else f"{given.backbone} pretrained_cfg"
        label = f"{self.name} ({origin})"
        merged = {"mean": given.mean or cfg["mean"], "std": given.std or cfg["std"],
                  "interpolation": given.interpolation or cfg.get("interpolation")}
        return from_pretrained_cfg(merged, label)

    def identity(self, settings: RunSettings) -> dict:
        """The backbone, the digest of the tensors taken from the file, the prefix and the input."""
        ok, reason = self.status(settings)
        digest = tensors_digest(self.path, self.declaration.prefix) if ok else f"unavailable: {reason}"
        return {"kind": "weights-file", "backbone": self.declaration.backbone, "weights_sha256": digest,
                "prefix": self.declaration.prefix, "input": self.input_convention(settings).as_dict(),
                **_model_args_identity(self.declaration.model_args)}

    def prepare(self, settings: RunSettings, data, on_epoch=None) -> None:
        """Check once that the file's weights fit the backbone (the error names every key that does not)."""
        self.build(settings, 1, 0)

    def _tensors(self, model: torch.nn.Module) -> dict[str, torch.Tensor]:
        return timm_layout(file_tensors(self.path, self.declaration.prefix), model)

    def _backbone(self, settings: RunSettings, num_classes: int) -> torch.nn.Module:
        return create_backbone(self.declaration.backbone, num_classes, image_size=settings.preset.image_size,
                               **dict(self.declaration.model_args))

    def build(self, settings: RunSettings, num_classes: int, seed: int) -> torch.nn.Module:
        model = self._backbone(settings, num_classes)
        return load_weights(model, self._tensors(model), f"{self.path} (source {self.name})")

    def build_with_own_head(self, settings: RunSettings) -> torch.nn.Module | None:
        """The backbone with the file's classifier, when the file holds one shaped for it."""
        probe = self._backbone(settings, 1)
        classes = head_classes(self._tensors(probe), probe)
        if classes is None:
            return None
        model = self._backbone(settings, classes)
        return load_weights(model, self._tensors(model), f"{self.path} (source {self.name})", with_head=True)


class TimmSource(Source):
    """timm's pretrained weights of ``model_name`` (``resnet18.a1_in1k``; a name without a tag means timm's default
    tag), named ``timm:<model_name>`` unless declared in the config under a ``name`` with ``model_args``: from the
    local Hugging Face cache, or with ``--online`` downloaded by timm."""

    def __init__(self, model_name: str, name: str = "", model_args: tuple[tuple[str, object], ...] = (),
                 description: str = ""):
        cfg = pretrained_cfg(model_name)
        if cfg is None or not timm.is_model(model_name):
            near = difflib.get_close_matches(model_name, timm.list_pretrained(), n=3, cutoff=0.6)
            raise ValueError(f"timm has no pretrained weights named {model_name!r}"
                             + (f"; did you mean {', '.join(near)}?" if near else "")
                             + f" (timm.list_pretrained('{model_name.split('.')[0]}*') lists them)")
        self.model_name, self.cfg, self.model_args = model_name, cfg, model_args
        self.name = name or TIMM_PREFIX + model_name
        self.description = description or f"timm's pretrained {model_name} weights"
        self._digests: dict[bool, str] = {}

    def status(self, settings: RunSettings) -> tuple[bool, str]:
        path = hub_cached_file(self.model_name)
        if path is not None:
            try:
                tensors_digest(path)
            except WeightsFileError as error:
                return False, f"{error}; delete it from the Hugging Face cache and fetch it again"
            return True, f"weights from {path}"
        if settings.online:
            return True, "timm downloads the weights"
        repo = self.cfg.get("hf_hub_id") or ""
        fetch = f", or fetch them once with `huggingface-cli download {repo.split('@')[0]}`" if repo else ""
        return False, (f"the weights of {self.model_name} are not in the Hugging Face cache (HF_HUB_CACHE or HF_HOME): "
                       f"pass --online to let timm download them{fetch}")

    def input_convention(self, settings: RunSettings) -> InputConvention:
        return pretrained_input(from_pretrained_cfg(self.cfg, f"{self.name} pretrained_cfg"), settings.preset)

    def identity(self, settings: RunSettings) -> dict:
        """The model name, the weights' content digest and the input they get."""
        if settings.online not in self._digests:
            self._digests[settings.online] = self._weights_digest(settings)
        return {"kind": "timm", "backbone": self.model_name, "weights_sha256": self._digests[settings.online],
                "input": self.input_convention(settings).as_dict(), **_model_args_identity(self.model_args)}

    def _weights_digest(self, settings: RunSettings) -> str:
        path = hub_cached_file(self.model_name)
        if path is not None:
            return tensors_digest(path)
        ok, reason = self.status(settings)
        if not ok:
            return f"unavailable: {reason}"
        # online without a cached file: timm downloads the weights now, and their tensors are hashed
        return state_dict_hash(create_backbone(self.model_name, 0, pretrained=True).state_dict())

    def _pretrained(self, settings: RunSettings, num_classes: int) -> torch.nn.Module:
        ok, reason = self.status(settings)
        if not ok:
            raise FileNotFoundError(reason)
        path = hub_cached_file(self.model_name)
        overlay = {"file": str(path)} if path is not None else None
        return create_backbone(self.model_name, num_classes, image_size=settings.preset.image_size, pretrained=True,
                               pretrained_cfg_overlay=overlay, **dict(self.model_args))

    def build(self, settings: RunSettings, num_classes: int, seed: int) -> torch.nn.Module:
        return self._pretrained(settings, num_classes)

    def build_with_own_head(self, settings: RunSettings) -> torch.nn.Module | None:
        """The model with its pretrained classifier (ImageNet's 1000 classes for most tags), or None for a
        headless tag (DINOv2)."""
        classes = self.cfg.get("num_classes") or 0
        return self._pretrained(settings, classes) if classes > 0 else None


def _model_args_identity(model_args: tuple[tuple[str, object], ...]) -> dict:
    """Model arguments as part of a source's identity: absent when there are none, so that a source declared
    before they existed keeps its identity."""
    return {"model_args": dict(model_args)} if model_args else {}
