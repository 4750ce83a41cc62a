"""Where a trainer's uint8 images live: on the GPU when they fit, else streamed from pinned host memory."""

from __future__ import annotations

import torch

# The share of the GPU's free memory one copy of a dataset may take; the rest is for the model.
DEVICE_SHARE = 0.3


def cuda_free_bytes(device: torch.device) -> int:
    """Bytes a new allocation on the CUDA ``device`` can use: the driver's free memory plus what torch's
    caching allocator holds unused (after a large job, most of the memory may be cached by torch)."""
    free, _ = torch.cuda.mem_get_info(device)
    return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)


def fits_on_device(nbytes: int, device: torch.device, share: float = DEVICE_SHARE) -> bool:
    """Whether ``nbytes`` fit in ``share`` of the free memory of the CUDA ``device``."""
    return nbytes <= share * cuda_free_bytes(device)


def _same_device(a: torch.device, b: torch.device) -> bool:
    """Whether ``a`` and ``b`` are one device (``cuda`` without an index is the current one)."""
    if a.type != b.type:
        return False
    if a.type != "cuda" or a.index == b.index:
        return True
    current = torch.cuda.current_device()
    return (current if a.index is None else a.index) == (current if b.index is None else b.index)


def upload(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``tensor`` on ``device``; a host tensor goes to a GPU through pinned memory, so the copy is
    asynchronous (from pageable memory CUDA would first wait for the device's queue to drain)."""
    if _same_device(tensor.device, device):
        return tensor
    if device.type == "cuda" and tensor.device.type == "cpu":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


class StagedImages:
    """uint8 (N, 3, H, W) images served to ``device`` in batches.

    On CUDA the whole tensor is copied to the GPU once when it fits, and batches are gathered there;
    otherwise each batch is gathered on the host into pinned memory and copied without blocking.
    On the CPU the images are used where they are.
    """

    def __init__(self, images: torch.Tensor, device: torch.device):
        self.device = device
        self.on_device = device.type != "cuda" or fits_on_device(images.nelement() * images.element_size(), device)
        self.images = images.to(device) if self.on_device else images

    def __len__(self) -> int:
        return len(self.images)

    @property
    def index_device(self) -> torch.device:
        """Where :meth:`take` wants its indices: with the images (an index elsewhere costs a copy)."""
        return self.images.device

    def take(self, index: torch.Tensor) -> torch.Tensor:
        """The images at int64 ``index`` as a uint8 batch on the device."""
        return upload(self.images[index.to(self.images.device)], self.device)

    def range(self, start: int, stop: int) -> torch.Tensor:
        """The images ``start:stop`` as a uint8 batch on the device."""
        return upload(self.images[start:stop], self.device)
