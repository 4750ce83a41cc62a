"""Run-wide settings: the preset in force, the device, where data, caches and weights live."""

from __future__ import annotations

import ctypes.util
import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from benchmark.acceleration import Acceleration, resolve_precision
from benchmark.presets import Preset, resolve_preset

if TYPE_CHECKING:
    import torch

SVM_BACKENDS = ("auto", "sklearn", "torch")
KEEP_POLICIES = ("auto", "all", "none")  # --keep-models: which trained models stay (benchmark.run.keptmodels)


def resolve_svm_backend(choice: str, device: torch.device | Device) -> str:
    """``sklearn`` or ``torch`` for ``--svm choice``.

    ``auto`` is torch on CUDA and scikit-learn elsewhere: the torch solvers fit the same models as
    ``LinearSVC`` and ``SVC(kernel="linear")`` (see :mod:`benchmark.engine.torchsvm`), but scikit-learn is the
    reference and is faster on a CPU.
    """
    if choice not in SVM_BACKENDS:
        raise ValueError(f"unknown --svm {choice!r}: use one of {', '.join(SVM_BACKENDS)}")
    if choice == "auto":
        return "torch" if device.type == "cuda" else "sklearn"
    return choice


class Device(str):
    """A device name (``cpu``, ``cuda``, ``cuda:1``) that reads like a ``torch.device`` (``.type``, ``.index``) and
    that torch takes wherever it takes a device, so that settings are made, hashed and compared without torch."""

    @property
    def type(self) -> str:
        return self.partition(":")[0]

    @property
    def index(self) -> int | None:
        _, _, index = self.partition(":")
        return int(index) if index else None


_DEVICE_NAME = re.compile(r"(?P<type>[a-z_]+)(?::(?P<index>\d+))?")
# torch's other device types: a device, just not one tlbench runs on
_OTHER_TORCH_DEVICES = frozenset({"mps", "xpu", "hip", "meta", "xla", "hpu", "mtia", "maia", "ipu", "lazy", "vulkan",
                                  "ve", "fpga", "mkldnn", "ideep", "opengl", "opencl", "privateuseone"})
_DRIVER_FILES = ("/proc/driver/nvidia/version", "/dev/nvidiactl")


def _cuda_visible() -> bool:
    """Whether torch sees a CUDA device; torch is asked only where an NVIDIA driver is installed, so that a machine
    without one resolves ``auto`` without loading torch (seconds a command that only reads would wait)."""
    if not (any(os.path.exists(path) for path in _DRIVER_FILES) or ctypes.util.find_library("cuda")
            or ctypes.util.find_library("nvcuda")):
        return False
    import torch

    return torch.cuda.is_available()


def resolve_device(name: str) -> Device:
    """``auto`` is the first CUDA device when there is one, else the CPU."""
    if name == "auto":
        return Device("cuda" if _cuda_visible() else "cpu")
    match = _DEVICE_NAME.fullmatch(name)
    if match is None or match["type"] not in {"cpu", "cuda", *_OTHER_TORCH_DEVICES}:
        raise ValueError(f"--device {name!r} is not a device: use auto, cpu, cuda or cuda:N")
    if match["type"] not in ("cpu", "cuda"):
        raise ValueError(f"--device {name!r}: tlbench runs on cpu or cuda")
    if match["type"] == "cuda" and not _cuda_visible():
        raise ValueError(f"--device {name}: no CUDA device is visible; use --device cpu or auto")
    return Device(name)


@dataclass(frozen=True)
class RunSettings:
    """What every experiment of one run shares."""

    preset: Preset
    device: torch.device | Device  # built from a name: a Device
    data_root: Path
    cache_dir: Path
    imagenet_weights: Path | None = None
    online: bool = False
    strict: bool = False  # an unreadable image fails the run instead of being skipped with a warning
    max_unreadable: float = 0.01  # the share of a dataset's files that may be unreadable before it fails
    compile: bool = False  # run forward passes through torch.compile
    precision: str = "auto"  # fp32 or bf16 (build resolves auto: benchmark.acceleration.resolve_precision)
    svm_backend: str = "sklearn"  # "sklearn" (the reference) or "torch" (see resolve_svm_backend)
    svm_auto: bool = False  # the backend was chosen by --svm auto, so torch may fall back to sklearn
    jobs_per_gpu: int = 1  # experiments run side by side on one GPU (threads)
    keep_models: str = "auto"  # one of KEEP_POLICIES

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
