"""Backbones from timm, their inputs and their penultimate-layer features."""

from __future__ import annotations

import contextlib

import numpy as np
import timm
import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def create_backbone(name: str, num_classes: int, **kwargs) -> torch.nn.Module:
    """A timm model by name with a fresh ``num_classes`` head and no dropout (as in the study)."""
    try:
        return timm.create_model(name, num_classes=num_classes, drop_rate=0.0, **kwargs)
    except RuntimeError as error:
        if "Unknown model" in str(error):
            raise ValueError(
                f"unknown backbone {name!r}: pass any timm model name (see timm.list_models())"
            ) from error
        raise


def replace_head(model: torch.nn.Module, num_classes: int) -> torch.nn.Module:
    """Give ``model`` a freshly initialised classifier for ``num_classes`` classes."""
    model.reset_classifier(num_classes)
    return model


def to_images_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) array to a uint8 (N, 3, H, W) tensor, still 0-255."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()


def prepare_batch(
    batch: torch.Tensor, normalize: str, device: torch.device, flip: torch.Tensor | None = None
) -> torch.Tensor:
    """uint8 (B, 3, H, W) to float model input on ``device``; ``flip`` marks images to mirror."""
    x = batch.to(device, non_blocking=True).float().div_(255.0)
    if flip is not None and bool(flip.any()):
        flip = flip.to(device)
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if normalize == "imagenet":
        mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
        x = (x - mean) / std
    elif normalize != "unit":
        raise ValueError(f"unknown normalisation {normalize!r}: use 'unit' or 'imagenet'")
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def autocast(device: torch.device):
    """bf16 autocast on CUDA, nothing elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def penultimate(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The features the classifier sees (VGG16: fc2 after ReLU), flattened to (B, D)."""
    features = model.forward_head(model.forward_features(x), pre_logits=True)
    if features.ndim == 4:
        features = features.mean(dim=(2, 3))
    return features.flatten(1)


@torch.no_grad()
def predict(
    model: torch.nn.Module, images: torch.Tensor, normalize: str, device: torch.device, batch_size: int = 256,
    features: bool = False,
) -> np.ndarray:
    """Softmax outputs (or penultimate features when ``features``) for uint8 ``images``, as float32."""
    model.eval().to(device)
    outputs = []
    for start in range(0, len(images), batch_size):
        x = prepare_batch(images[start : start + batch_size], normalize, device)
        with autocast(device):
            y = penultimate(model, x) if features else model(x).float().softmax(dim=1)
        outputs.append(y.float().cpu())
    return torch.cat(outputs).numpy()
