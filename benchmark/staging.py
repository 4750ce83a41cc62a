"""Where a trainer's uint8 images live: on the GPU when they fit, else streamed from pinned host memory."""

from __future__ import annotations

import torch

# The share of the GPU's free memory one copy of a dataset may take; the rest is for the model.
DEVICE_SHARE = 0.3


def fits_on_device(nbytes: int, device: torch.device, share: float = DEVICE_SHARE) -> bool:
    """Whether ``nbytes`` fit in ``share`` of the free memory of the CUDA ``device``."""
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes <= share * free


def upload(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``tensor`` on ``device``; a host tensor goes to a GPU through pinned memory, so the copy is
    asynchronous (from pageable memory CUDA would first wait for the device's queue to drain)."""
    if tensor.device.type == device.type:
        return tensor
    if device.type == "cuda":
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
