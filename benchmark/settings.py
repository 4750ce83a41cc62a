"""Run-wide settings: the preset in force, the device, where data, caches and weights live."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .presets import Preset


def default_cache_dir() -> Path:
    return Path(os.environ.get("TLBENCH_CACHE", Path.home() / ".cache" / "tlbench"))


def default_data_root() -> Path:
    return Path(os.environ.get("TLBENCH_DATA", "data"))


def resolve_device(name: str) -> torch.device:
    """``auto`` is the first CUDA device when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: no CUDA device is visible; use --device cpu or auto")
    return device


@dataclass(frozen=True)
class RunSettings:
    """What every experiment of one run shares."""

    preset: Preset
    device: torch.device
    data_root: Path
    cache_dir: Path
    imagenet_weights: Path | None = None
    online: bool = False

    @property
    def profile(self) -> str:
        """A label for results that are comparable with each other."""
        return f"{self.preset.name} · {self.preset.backbone} @ {self.preset.image_size}px"
