"""Run-wide settings: the preset in force, the device, where data, caches and weights live."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from benchmark.engine.acceleration import Acceleration
from benchmark.presets import Preset


def resolve_device(name: str) -> torch.device:
    """``auto`` is the first CUDA device when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device {name!r} is not a device: use auto, cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {name!r}: tlbench runs on cpu or cuda")
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
    strict: bool = False  # an unreadable image fails the run instead of being skipped with a warning
    max_unreadable: float = 0.01  # the share of a dataset's files that may be unreadable before it fails
    compile: bool = False  # run forward passes through torch.compile
    svm_backend: str = "sklearn"  # "sklearn" (the reference) or "torch" (see benchmark.engine.svm.resolve_svm_backend)
    svm_auto: bool = False  # the backend was chosen by --svm auto, so torch may fall back to sklearn
    jobs_per_gpu: int = 1  # experiments run side by side on one GPU (threads)

    @property
    def acceleration(self) -> Acceleration:
        """How training and inference use the device (channels_last; bf16 on CUDA)."""
        return Acceleration.for_device(self.device, self.compile)

    @property
    def runtime(self) -> dict:
        """The device type and precision: both change a result's float rounding, so both are in its config."""
        return {"device": self.device.type, "precision": "bf16" if self.acceleration.bf16 else "fp32"}
