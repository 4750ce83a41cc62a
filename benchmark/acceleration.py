"""How training and inference use the device: bf16 autocast, channels_last, cudnn autotuning, torch.compile.

None of these change what is computed beyond float rounding. The defaults: channels_last everywhere, bf16 on
CUDA only, compile when asked. A contract beside the settings that choose it: torch is imported only by the
methods that act on a model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Acceleration:
    """``bf16``: autocast convolutions and matmuls to bfloat16; ``channels_last``: NHWC weights and inputs;
    ``compile``: run the forward pass through ``torch.compile``."""

    bf16: bool = False
    channels_last: bool = False
    compile: bool = False

    @classmethod
    def for_device(cls, device: torch.device, compile: bool = False) -> Acceleration:
        """bf16 on CUDA, fp32 elsewhere; channels_last on every device (oneDNN's CPU convolutions prefer NHWC
        too: on 2 cores, the embedded default's scratch and fine-tuning experiments ran 15% faster than in
        NCHW); ``compile`` as asked."""
        return cls(bf16=device.type == "cuda", channels_last=True, compile=compile)

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
