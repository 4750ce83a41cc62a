"""Not a plugin: the cheap scorer the test plugins' methods share."""

import numpy as np

from benchmark import MethodResult


def corner_scores(ctx) -> MethodResult:
    """Each test image's mean brightness per corner, one corner per class (at most four classes)."""
    images = ctx.data.test.images.float()
    half = images.shape[-1] // 2
    corners = [images[:, :, y * half:(y + 1) * half, x * half:(x + 1) * half].mean(dim=(1, 2, 3))
               for y in (0, 1) for x in (0, 1)]
    return MethodResult(np.stack([c.numpy() for c in corners], axis=1)[:, : ctx.num_classes])
