"""How training and inference use the device: bf16 autocast, channels_last, cudnn autotuning, torch.compile.

None of these change what is computed beyond float rounding. The defaults: channels_last everywhere; bf16 on
CUDA and on CPUs with bf16 arithmetic units (AVX-512 BF16 or AMX), fp32 elsewhere; compile when asked. A
contract beside the settings that choose it: torch is imported only by the methods that act on a model (and,
off Linux, by the CPU check).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

PRECISIONS = ("auto", "fp32", "bf16")
# CPU features with bf16 arithmetic: AVX-512 BF16 (AMD Zen 4, Intel Cooper Lake and later) and AMX (Sapphire Rapids)
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
CPUINFO = Path("/proc/cpuinfo")


@functools.lru_cache(maxsize=1)
def cpu_reports_bf16() -> bool:
    """Whether the processor reports AVX-512 BF16 or AMX bf16 units: the flags of Linux's ``/proc/cpuinfo`` (read
    without loading torch), elsewhere torch's cpuinfo (``torch.cpu.get_capabilities``, in recent torch).

    Not ``torch.ops.mkldnn._is_mkldnn_bf16_supported()``: that is true on any AVX-512 CPU, where oneDNN emulates
    bf16 and runs it slower than fp32.
    """
    try:
        text = CPUINFO.read_text()
    except OSError:
        import torch

        capabilities = getattr(torch.cpu, "get_capabilities", None)
        return capabilities is not None and any(capabilities().get(flag, False) for flag in BF16_CPU_FLAGS)
    flags = {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split()}
    return any(flag in flags for flag in BF16_CPU_FLAGS)


def resolve_precision(requested: str, device: torch.device) -> str:
    """``fp32`` or ``bf16``: as requested, or for ``auto`` bf16 on CUDA and on a CPU that reports bf16 units
    (:func:`cpu_reports_bf16`), fp32 elsewhere (``device``: anything with a ``type``, as the settings' Device).
    ValueError for another name."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision {requested!r}: use one of {', '.join(PRECISIONS)}")
    if requested != "auto":
        return requested
    if device.type == "cuda" or (device.type == "cpu" and cpu_reports_bf16()):
        return "bf16"
    return "fp32"


@dataclass(frozen=True)
class Acceleration:
    """``bf16``: autocast convolutions and matmuls to bfloat16; ``channels_last``: NHWC weights and inputs;
    ``compile``: run the forward pass through ``torch.compile``."""

    bf16: bool = False
    channels_last: bool = False
    compile: bool = False

    @classmethod
    def for_device(cls, device: torch.device, compile: bool = False, precision: str = "auto") -> Acceleration:
        """The ``precision`` resolved by :func:`resolve_precision` (``auto``: bf16 on CUDA and on CPUs with bf16
        units); channels_last on every device (oneDNN's CPU convolutions prefer NHWC too: on 2 cores, the
        embedded default's scratch and fine-tuning experiments ran 15% faster than in NCHW); ``compile`` as
        asked."""
        return cls(bf16=resolve_precision(precision, device) == "bf16", channels_last=True, compile=compile)

    @property
    def precision(self) -> str:
        """``bf16`` or ``fp32``: what a result's config records."""
        return "bf16" if self.bf16 else "fp32"

    def __str__(self) -> str:
        """What is on, e.g. ``bf16 + channels_last``; ``fp32`` when nothing is."""
        switched_on = [name for name in ("bf16", "channels_last", "compile") if getattr(self, name)]
        return " + ".join(switched_on) if switched_on else "fp32"

    def autocast(self, device: torch.device):
        """The autocast context for a forward pass on ``device`` (bf16 works on CPU and CUDA)."""
        if self.bf16:
            import torch

            return torch.autocast(device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def place(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """Move ``model`` to ``device`` in the chosen memory format and let cudnn pick its fastest kernels."""
        import torch

        model.to(device)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        return model

    def compiled(self, function: Callable) -> Callable:
        """``function`` (a module or a callable) under ``torch.compile`` when asked, else itself."""
        if not self.compile:
            return function
        import torch

        return torch.compile(function)
