"""Intensity windows for images of more than 8 bits per pixel (16-bit PNGs, 32-bit and float TIFFs).

A window maps the pixel values from low to high onto black through white. It is fixed, (low, high), and then
applied as each file is decoded; or it is a :class:`PercentileWindow`, the low and high percentiles of the pixel
values of a split's training images (:func:`training_window`). A split is known only after the images are decoded,
so such images are kept at their own depth (:class:`~benchmark.datasets.WideImages`) and mapped when a split's
arrays are assembled (:func:`windowed`): the validation and test images never choose the window they are seen
through.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.datasets import WideImages

PERCENTILE_GRID = 64  # each training image gives a grid of at most this many pixels a side
PERCENTILE_IMAGES = 2048  # at most this many training images, evenly spaced, give their grid
_RENDER_CHUNK = 256  # images mapped at a time (bounds the float temporaries)


@dataclass(frozen=True)
class PercentileWindow:
    """A window from the ``low`` and ``high`` percentiles of the pixel values of each split's training images of
    more than 8 bits (:func:`training_window`)."""

    low: float = 0.5
    high: float = 99.5
    kind = "dataset-percentiles"

    def __post_init__(self):
        if not 0 <= self.low < self.high <= 100:
            raise ValueError(f"window percentiles must be 0 <= low < high <= 100, got [{self.low}, {self.high}]")


Window = tuple[float, float] | PercentileWindow


def window_identity(window: Window | None) -> tuple:
    """What a window adds to a data fingerprint (nothing for per-image scaling)."""
    if window is None:
        return ()
    if isinstance(window, PercentileWindow):
        return ("window", window.kind, window.low, window.high)
    return ("window", *window)


def own_range(values: np.ndarray) -> tuple[float, float]:
    """The smallest and largest finite value of ``values``; (0, 0) when there is none."""
    finite = values[np.isfinite(values)]
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)


def to_uint8(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """``values`` mapped linearly from [``low``, ``high``] onto 0-255, clipped outside it; NaN becomes black;
    all black when ``high <= low`` (a constant image)."""
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    finite = np.nan_to_num(values, nan=low, posinf=high, neginf=low)
    return np.clip(np.round((finite - low) * (255 / (high - low))), 0, 255).astype(np.uint8)


def training_window(wide: WideImages, train: np.ndarray) -> tuple[float, float] | None:
    """``wide.percentiles`` of the pixel values of the images of ``wide`` among the training positions ``train``:
    a grid of at most :data:`PERCENTILE_GRID` pixels a side of each (every pixel up to 127 px a side), from at most
    :data:`PERCENTILE_IMAGES` of them evenly spaced; None when the training part holds none of them (or only
    values that are not finite)."""
    chosen = np.flatnonzero(np.isin(wide.rows, train))
    if not len(chosen):
        return None
    if len(chosen) > PERCENTILE_IMAGES:
        chosen = chosen[np.linspace(0, len(chosen) - 1, PERCENTILE_IMAGES).round().astype(np.int64)]
    height, width = wide.values.shape[1:]
    steps = max(1, height // PERCENTILE_GRID), max(1, width // PERCENTILE_GRID)
    samples = np.asarray(wide.values[chosen, ::steps[0], ::steps[1]], dtype=np.float64).ravel()
    samples = samples[np.isfinite(samples)]
    if not samples.size:
        return None
    low, high = np.percentile(samples, list(wide.percentiles))
    return float(low), float(high)


def windowed(images: np.ndarray, wide: WideImages, window: tuple[float, float] | None) -> np.ndarray:
    """uint8 (N, H, W, 3) ``images`` with the rows of ``wide`` mapped through ``window`` from their own values
    (a copy); ``images`` itself when ``window`` is None (those rows stay scaled by their own range)."""
    if window is None:
        return images
    out = np.array(images, dtype=np.uint8)
    for start in range(0, len(wide.rows), _RENDER_CHUNK):
        rows = wide.rows[start:start + _RENDER_CHUNK]
        out[rows] = to_uint8(np.asarray(wide.values[start:start + _RENDER_CHUNK]), *window)[..., None]
    return out
