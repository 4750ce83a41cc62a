"""Pretrained weights for a timm architecture, with no training here: from a local file, from the Hugging Face cache,
or (with ``--online``) downloaded by timm. One implementation behind the built-in ``imagenet`` source, ``timm:MODEL``
names and the sources declared in the config (``[sources.NAME]``).

Experiments using such a source build its architecture at the preset's image size with the source's own model
arguments (``model_args``: ``pad_type="same"`` for TensorFlow-ported weights), which are part of its identity; the
new head is initialised from the experiment's seed.
"""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from typing import TYPE_CHECKING

from benchmark.engine.inputs import from_pretrained_cfg, pretrained_input
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
from benchmark.inputs import InputConvention, named
from benchmark.settings import RunSettings
from benchmark.sources import Source

if TYPE_CHECKING:  # timm and torch load where a model is built or timm is asked: naming a source needs neither
    import torch

TIMM_PREFIX = "timm:"


def pretrained_cfg(name: str) -> dict | None:
    """timm's pretrained_cfg of a model name (with or without a tag), or None when it has none."""
    import timm

    try:
        cfg = timm.models.get_pretrained_cfg(name)
    except RuntimeError:  # a tag the architecture does not have
        return None
    return cfg.to_dict() if cfg is not None else None


class PretrainedSource(Source):
    """The pretrained weights of timm architecture ``model_name`` (``resnet18.a1_in1k``; a name without a tag means
    timm's default tag): from the file ``weights`` when given (keeping only the keys under ``prefix``, see
    :mod:`benchmark.engine.weightfiles` for the formats), else from the local Hugging Face cache, else with
    ``--online`` downloaded by timm. The input is the given one (a named ``input`` convention, or ``mean``, ``std``
    and ``interpolation``, each else timm's pretrained_cfg's), as the preset's ``pretrained_input`` feeds pretrained
    weights. ``declared_in`` names the config file that declared the source, for its messages.

    ``kind`` names the source in its identity: ``timm`` for timm's weights, ``weights-file`` for a declared file;
    subclasses whose architecture or file depend on the run (the built-in ``imagenet``) set their own and override
    :meth:`architecture`, :meth:`weights_file`, :meth:`model_kwargs`, :attr:`weights_setting` and :meth:`missing`."""

    kind: str = ""

    def __init__(self, model_name: str = "", name: str = "", description: str = "", *, weights: Path | None = None,
                 prefix: str = "", model_args: tuple[tuple[str, object], ...] = (), input: str = "",
                 mean: tuple[float, float, float] | None = None, std: tuple[float, float, float] | None = None,
                 interpolation: str | None = None, declared_in: Path | None = None):
        if model_name:
            _check_model(model_name, tagged=weights is None)
        self.model_name, self.weights, self.prefix, self.model_args = model_name, weights, prefix, model_args
        self.given_input, self.mean, self.std, self.interpolation = input, mean, std, interpolation
        self.declared_in = declared_in
        self.kind = self.kind or ("weights-file" if weights is not None else "timm")
        self.name = name or self.name or TIMM_PREFIX + model_name
        origin = f"{model_name} weights from {weights}" if weights else f"timm's pretrained {model_name} weights"
        self.description = description or self.description or origin
        self._digests: dict[tuple, str] = {}

    def architecture(self, settings: RunSettings) -> str:
        """The timm model name (with its pretrained tag, if any) the weights are for."""
        return self.model_name

    def weights_file(self, settings: RunSettings) -> Path | None:
        """The file the weights must come from, or None to find them in the Hugging Face cache or download them."""
        return self.weights

    def model_kwargs(self, settings: RunSettings) -> dict:
        """What :func:`~benchmark.engine.models.create_backbone` takes besides the name and the classes."""
        return {"image_size": settings.preset.image_size, **dict(self.model_args)}

    def _local_file(self, settings: RunSettings) -> Path | None:
        """The file the weights are read from: the given one, else the Hugging Face cache's, else None."""
        return self.weights_file(settings) or hub_cached_file(self.architecture(settings))

    def status(self, settings: RunSettings) -> tuple[bool, str]:
        """Available when the file holds finite floating-point weights (read once per process), or when timm may
        download them (``--online``)."""
        given = self.weights_file(settings)
        if given is not None:
            if not given.is_file():
                what = "is not a regular file" if given.exists() else "does not exist"
                return False, f"weights file {given} {what}: put it there, or change {self.weights_setting}"
            try:
                tensors_digest(given, self.prefix)
            except WeightsFileError as error:
                return False, f"{error} ({self.weights_setting})"
            return True, f"weights from {given}"
        cached = hub_cached_file(self.architecture(settings))
        if cached is not None:
            try:
                tensors_digest(cached, self.prefix)
            except WeightsFileError as error:
                return False, f"{error}; delete it from the Hugging Face cache and fetch it again"
            return True, f"weights from {cached}"
        if settings.online:
            return True, "timm downloads the weights"
        return False, self.missing(settings)

    @property
    def weights_setting(self) -> str:
        """Where the user sets the weights file, for messages about it."""
        return f"weights of [sources.{self.name}]" + (f" in {self.declared_in}" if self.declared_in else "")

    def missing(self, settings: RunSettings) -> str:
        """What to do when the weights are nowhere on this machine and the run is offline."""
        model_name = self.architecture(settings)
        repo = (pretrained_cfg(model_name) or {}).get("hf_hub_id") or ""
        fetch = f", or fetch them once with `huggingface-cli download {repo.split('@')[0]}`" if repo else ""
        return (f"the weights of {model_name} are not in the Hugging Face cache (HF_HUB_CACHE or HF_HOME): "
                f"pass --online to let timm download them{fetch}")

    def input_convention(self, settings: RunSettings) -> InputConvention:
        return pretrained_input(self._own_input(settings), settings.preset)

    def _own_input(self, settings: RunSettings) -> InputConvention:
        if self.given_input:
            return dataclasses.replace(named(self.given_input), name=f"{self.name} (declared {self.given_input})")
        model_name = self.architecture(settings)
        cfg = pretrained_cfg(model_name)
        if cfg is None:
            raise ValueError(f"timm has no pretrained configuration for {model_name!r}, so the input its weights "
                             "expect is unknown")
        if self.kind == "timm":  # the label enters the identity: timm sources keep theirs
            label = f"{self.name} pretrained_cfg"
        else:
            label = f"{self.name} ({'declared' if self.mean and self.std else f'{model_name} pretrained_cfg'})"
        merged = {"mean": self.mean or cfg["mean"], "std": self.std or cfg["std"],
                  "interpolation": self.interpolation or cfg.get("interpolation")}
        return from_pretrained_cfg(merged, label)

    def identity(self, settings: RunSettings) -> dict:
        """The architecture, the digest of the weights' tensors (however they were found), the input they get, and
        the prefix and model arguments when the source has them."""
        extras = {"prefix": self.prefix} if self.kind == "weights-file" else {}
        if self.model_args:  # absent when none, so that a source declared before they existed keeps its identity
            extras["model_args"] = dict(self.model_args)
        return {"kind": self.kind, "backbone": self.architecture(settings), "weights_sha256": self._digest(settings),
                "input": self.input_convention(settings).as_dict(), **extras}

    def _digest(self, settings: RunSettings) -> str:
        """The weights' tensor digest, memoised by architecture, file and whether the run is online."""
        path = self._local_file(settings)
        key = (self.architecture(settings), path, settings.online)
        if key not in self._digests:
            ok, reason = self.status(settings)
            if not ok:
                return f"unavailable: {reason}"
            self._digests[key] = tensors_digest(path, self.prefix) if path is not None else self._downloaded(settings)
        return self._digests[key]

    def _downloaded(self, settings: RunSettings) -> str:
        """Online without a local file: timm downloads the weights now; the digest of the file it keeps in the Hugging
        Face cache (what later runs find), else of the downloaded tensors."""
        from benchmark.engine.models import create_backbone  # with timm and torch: only where a model is built

        model = create_backbone(self.architecture(settings), 0, pretrained=True, **self.model_kwargs(settings))
        path = hub_cached_file(self.architecture(settings))
        return tensors_digest(path, self.prefix) if path is not None else state_dict_hash(model.state_dict())

    def prepare(self, settings: RunSettings, data, on_epoch=None) -> None:
        """Check once that the weights fit the architecture (the error names every key that does not)."""
        self.build(settings, 1, 0)

    def build(self, settings: RunSettings, num_classes: int, seed: int) -> torch.nn.Module:
        """The architecture with the weights and a new head of ``num_classes``, initialised from ``seed``."""
        return self._pretrained(settings, num_classes, seed, with_head=False)

    def build_with_own_head(self, settings: RunSettings) -> torch.nn.Module | None:
        """The model with its pretrained classifier (ImageNet's 1000 classes for most weights), or None for weights
        without one (a headless tag such as DINOv2's, a file without a classifier shaped for the architecture)."""
        path = self._reachable_file(settings)
        if path is None:
            classes = (pretrained_cfg(self.architecture(settings)) or {}).get("num_classes") or 0
        else:
            from benchmark.engine.models import create_backbone

            probe = create_backbone(self.architecture(settings), 1, **self.model_kwargs(settings))
            classes = head_classes(self._file_tensors(path, probe), probe) or 0
        return self._pretrained(settings, classes, 0, with_head=True) if classes > 0 else None

    def _pretrained(self, settings: RunSettings, num_classes: int, seed: int, with_head: bool) -> torch.nn.Module:
        from benchmark.engine.models import create_backbone
        from benchmark.engine.seeding import seeded

        path = self._reachable_file(settings)
        with seeded(seed):  # the new head's initial weights
            if path is None:
                return create_backbone(self.architecture(settings), num_classes, pretrained=True,
                                       **self.model_kwargs(settings))
            model = create_backbone(self.architecture(settings), num_classes, **self.model_kwargs(settings))
        return load_weights(model, self._file_tensors(path, model), f"{path} (source {self.name})",
                            with_head=with_head)

    def _reachable_file(self, settings: RunSettings) -> Path | None:
        """The local file of the weights (a damaged one fails as it loads: :class:`WeightsFileError`), or None when
        timm downloads them; FileNotFoundError saying what to do when they are nowhere."""
        path = self._local_file(settings)
        if path is None or not path.exists():
            ok, reason = self.status(settings)
            if not ok:
                raise FileNotFoundError(reason)
        return path

    def _file_tensors(self, path: Path, model: torch.nn.Module) -> dict[str, torch.Tensor]:
        return timm_layout(file_tensors(path, self.prefix), model)


def _check_model(model_name: str, tagged: bool) -> None:
    """ValueError unless timm knows ``model_name`` with a pretrained configuration (and, when ``tagged``, the tag)."""
    import timm

    if timm.is_model(model_name) and pretrained_cfg(model_name) is not None:
        return
    if not tagged:
        raise ValueError(f"timm has no model {model_name!r} (timm.list_models() names them, timm.list_pretrained() "
                         "their tags)")
    near = difflib.get_close_matches(model_name, timm.list_pretrained(), n=3, cutoff=0.6)
    raise ValueError(f"timm has no pretrained weights named {model_name!r}"
                     + (f"; did you mean {', '.join(near)}?" if near else "")
                     + f" (timm.list_pretrained('{model_name.split('.')[0]}*') lists them)")
