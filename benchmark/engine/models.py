"""Backbones from timm, their inputs and their penultimate-layer features."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import timm
import torch

import benchmark.engine.medmnistnets  # noqa: F401 (registers MedMNIST's ResNets with timm)
from benchmark.acceleration import Acceleration
from benchmark.engine.staging import StagedImages
from benchmark.inputs import InputConvention, named

_BACKBONE = "tlbench_backbone"
_MODEL_ARGS = "tlbench_model_args"
# create_model's arguments that choose weights, not the architecture
_WEIGHT_ARGS = ("pretrained", "pretrained_cfg_overlay")


def create_backbone(name: str, num_classes: int, image_size: int | None = None, **kwargs) -> torch.nn.Module:
    """A timm model by name with a fresh ``num_classes`` head and no dropout (as in the study), tagged with its
    name (:func:`backbone_of`) and architecture arguments (:func:`model_args_of`). ``image_size`` is passed on to
    models built for one input size (ViTs: timm's ``fixed_input_size``); the others take any size as they are.
    Other ``kwargs`` go to ``timm.create_model`` (``pad_type="same"`` for TensorFlow-ported weights)."""
    if image_size is not None and _fixed_input_size(name):
        kwargs["img_size"] = image_size
    try:
        model = timm.create_model(name, num_classes=num_classes, drop_rate=0.0, **kwargs)
    except RuntimeError as error:
        if "Unknown model" in str(error):
            raise ValueError(
                f"unknown backbone {name!r}: pass any timm model name (see timm.list_models())"
            ) from error
        raise
    except TypeError as error:
        if "img_size" in str(error):
            raise ValueError(f"backbone {name!r} is built for one input size but takes no img_size, so it cannot "
                             f"run at {image_size}px: choose --image-size to match it, or another backbone") from error
        if "unexpected keyword argument" in str(error):
            raise ValueError(f"backbone {name!r} does not take a model argument it was given ({error}); "
                             "check the names in model_args or --model-arg") from error
        raise
    setattr(model, _BACKBONE, name)
    setattr(model, _MODEL_ARGS, {k: v for k, v in kwargs.items() if k not in _WEIGHT_ARGS})
    return model


def _fixed_input_size(name: str) -> bool:
    try:
        cfg = timm.models.get_pretrained_cfg(name)
    except Exception:  # a name timm does not know: create_model says so
        return False
    return bool(cfg and cfg.fixed_input_size)


def backbone_of(model: torch.nn.Module, default: str) -> str:
    """The timm name ``model`` was created by, else ``default`` (a model made elsewhere)."""
    return getattr(model, _BACKBONE, default)


def model_args_of(model: torch.nn.Module) -> dict:
    """The architecture arguments ``model`` was created with (img_size included), so that it can be built again;
    empty for a model made elsewhere."""
    return dict(getattr(model, _MODEL_ARGS, {}))


def replace_head(model: torch.nn.Module, num_classes: int) -> torch.nn.Module:
    """Give ``model`` a freshly initialised classifier for ``num_classes`` classes."""
    model.reset_classifier(num_classes)
    return model


def to_images_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) array to a uint8 (N, 3, H, W) tensor, still 0-255."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()


def to_unit(batch: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, H, W) to float32 in [0, 1] on the batch's device."""
    return batch.float().div_(255.0)


def penultimate(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The features the classifier sees (VGG16: fc2 after ReLU), flattened to (B, D)."""
    return _pre_logits(model, model.forward_features(x))


def _pre_logits(model: torch.nn.Module, trunk_output: torch.Tensor) -> torch.Tensor:
    features = model.forward_head(trunk_output, pre_logits=True)
    if features.ndim == 4:
        features = features.mean(dim=(2, 3))
    return features.flatten(1)


def forward_pass(model: torch.nn.Module, device: torch.device, accel: Acceleration,
                 features: bool = False) -> Callable[[torch.Tensor], torch.Tensor]:
    """``model``'s forward pass as tlbench trains and scores it: float32 logits (or, with ``features``, the
    penultimate features) of a batch.

    Only the trunk (``forward_features``) goes through ``torch.compile`` when ``accel`` asks: every model of one
    architecture then shares one compiled graph whatever its class count, where a whole-model compile recompiles
    for each new head and, past Dynamo's recompile limit (8), silently runs eagerly. Autocast covers the trunk and
    the pre-logits; the final linear classifier runs in fp32, so that close scores do not tie at bf16's 8-bit
    mantissa. A model without timm's ``forward_features`` / ``get_classifier`` runs whole, as it is."""
    classifier = model.get_classifier() if hasattr(model, "get_classifier") else None
    if not (hasattr(model, "forward_features") and isinstance(classifier, torch.nn.Linear)):
        whole = accel.compiled(model)

        def run_whole(x: torch.Tensor) -> torch.Tensor:
            with accel.autocast(device):
                return whole(x).float()

        return run_whole
    trunk = accel.compiled(model.forward_features)

    def run(x: torch.Tensor) -> torch.Tensor:
        with accel.autocast(device):
            pre_logits = _pre_logits(model, trunk(x)).float()
        if features:
            return pre_logits
        with torch.autocast(device.type, enabled=False):
            return classifier(pre_logits)

    return run


@torch.no_grad()
def predict(
    model: torch.nn.Module, images: torch.Tensor, inputs: InputConvention | str, device: torch.device,
    batch_size: int = 256, features: bool = False, accel: Acceleration | None = None,
) -> np.ndarray:
    """Softmax outputs (or penultimate features when ``features``) for uint8 ``images``, as float32.

    ``inputs`` is the model's input convention, or a preset's normalisation name; ``accel`` defaults to
    :meth:`Acceleration.for_device`; outputs stay on the device until the end.
    """
    inputs = named(inputs) if isinstance(inputs, str) else inputs
    accel = accel or Acceleration.for_device(device)
    accel.place(model.eval(), device)
    staged = StagedImages(images, device)
    forward = forward_pass(model, device, accel, features)
    outputs = []
    for start in range(0, len(staged), batch_size):
        y = forward(inputs.apply(to_unit(staged.range(start, start + batch_size)), accel.channels_last))
        outputs.append(y if features else y.softmax(dim=1))
    return torch.cat(outputs).cpu().numpy()
