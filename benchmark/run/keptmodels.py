"""Trained models kept under the run folder (``models/<config hash>.pt``), for figures made after the run;
which ones, :mod:`benchmark.run.keeppolicy` decides."""

from __future__ import annotations

import errno
from pathlib import Path

import torch

from benchmark.engine.inputs import InputConvention, attach
from benchmark.engine.models import create_backbone, model_args_of
from benchmark.run.cachefiles import has_room, publish, remove_leftovers, temporary_beside
from benchmark.run.keeppolicy import model_bytes

MODELS_DIR = "models"
_FORMAT = 1


def kept_path(run_dir: Path, config_hash: str) -> Path:
    return Path(run_dir) / MODELS_DIR / f"{config_hash}.pt"


def save_model(run_dir: Path, config_hash: str, model: torch.nn.Module, backbone: str, num_classes: int,
               convention: InputConvention, about: dict, image_size: int | None = None) -> Path:
    """Write ``model``'s weights (on the CPU) with what rebuilds it (``image_size``: the size a ViT was built
    for; the model arguments it was created with), as the cache writes its files (a temporary file flushed and
    renamed, so a reader never sees half a file; OSError when the disk lacks the room)."""
    path = kept_path(run_dir, config_hash)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not has_room(path.parent, model_bytes(model)):
        raise OSError(errno.ENOSPC, f"not enough free space in {path.parent} for the kept model")
    remove_leftovers(path.parent)
    payload = {
        "format": _FORMAT, "backbone": backbone, "num_classes": num_classes, "image_size": image_size,
        "input": convention.as_dict(), "about": about, "model_args": model_args_of(model),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    partial = temporary_beside(path)
    torch.save(payload, partial)
    publish(partial, path)
    return path


def load_model(path: Path) -> tuple[torch.nn.Module, dict]:
    """The kept model (eval mode, on the CPU, tagged with its input convention) and its ``about`` record
    (node_id, source, target, method, seed)."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload.get("format") != _FORMAT:
        raise ValueError(f"{path}: kept by another tlbench version (format {payload.get('format')}); rerun the "
                         "experiment with --rerun all to keep it again")
    args = {"image_size": payload.get("image_size"), **payload.get("model_args", {})}
    model = create_backbone(payload["backbone"], payload["num_classes"], **args)
    model.load_state_dict(payload["state_dict"])
    convention = payload["input"]
    convention = InputConvention(**{**convention, "mean": tuple(convention["mean"]), "std": tuple(convention["std"])})
    return attach(model.eval(), convention), payload["about"]
