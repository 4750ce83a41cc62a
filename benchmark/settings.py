"""Run-wide settings: the preset in force, the device, where data, caches and weights live."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmark.engine.acceleration import Acceleration, resolve_precision
from benchmark.engine.svmbackend import resolve_svm_backend
from benchmark.presets import Preset, resolve_preset


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
    precision: str = "auto"  # fp32 or bf16 (build resolves auto: benchmark.engine.acceleration.resolve_precision)
    svm_backend: str = "sklearn"  # "sklearn" (the reference) or "torch" (see benchmark.engine.svm.resolve_svm_backend)
    svm_auto: bool = False  # the backend was chosen by --svm auto, so torch may fall back to sklearn
    jobs_per_gpu: int = 1  # experiments run side by side on one GPU (threads)
    keep_models: str = "auto"  # which trained models stay under the run folder (benchmark.run.keptmodels)

    @classmethod
    def build(cls, *, device: str = "auto", preset: str = "auto", data_root: Path, cache_dir: Path,
              imagenet_weights: Path | None = None, online: bool = False, strict: bool = False,
              precision: str = "auto", **overrides) -> RunSettings:
        """Settings for a device name and a preset name with its field ``overrides`` (backbone, image_size,
        max_epochs, batch_size, official_splits; None keeps the preset's), the precision resolved for the device
        here (so that every worker of the run uses the driver's); ValueError for a device or value that cannot
        be."""
        torch_device = resolve_device(device)
        chosen = resolve_preset(preset, torch_device.type).with_overrides(**overrides)
        return cls(preset=chosen, device=torch_device, data_root=data_root, cache_dir=cache_dir,
                   imagenet_weights=imagenet_weights, online=online, strict=strict,
                   precision=resolve_precision(precision, torch_device))

    def with_speed(self, compile: bool, svm_backend: str, jobs_per_gpu: int) -> RunSettings:
        """These settings with torch.compile, the SVM solver (``auto`` resolved for the device) and the
        concurrent jobs chosen; none changes results beyond float rounding, or 0.005 AUC for the torch SVM.
        ValueError for combinations that cannot run."""
        if compile and jobs_per_gpu > 1:
            raise ValueError("--compile cannot be combined with --jobs-per-gpu above 1: torch.compile is not "
                             "thread-safe (pytorch/pytorch#118260); choose one of them")
        backend = resolve_svm_backend(svm_backend, self.device)
        return dataclasses.replace(self, compile=compile, svm_backend=backend, svm_auto=svm_backend == "auto",
                                   jobs_per_gpu=jobs_per_gpu)

    @property
    def acceleration(self) -> Acceleration:
        """How training and inference use the device (channels_last; the precision)."""
        return Acceleration.for_device(self.device, self.compile, self.precision)

    @property
    def runtime(self) -> dict:
        """The device type and precision: both change a result's float rounding, so both are in its config."""
        return {"device": self.device.type, "precision": self.acceleration.precision}
