"""How often the filter taxonomy calls a grating detector's image *direction*, in both drawing styles.

    python perf/taxonomy_direction.py [--sizes 32 64]

A one-layer model whose channels are oriented Gabor filters (12 orientations 15 degrees apart x periods of 3,
4, 6 and 8 px, an 11 px kernel, the same on the three colour channels, then a ReLU) has a known answer: each
channel is excited by a grating of its orientation, so its activation-maximisation image should be classed
direction. Its controls are plaids (two Gabors 90 degrees apart, 3 orientations x the 4 periods), whose images
hold two orientations and should not be. Every channel is drawn in both styles
(:mod:`benchmark.report.filters.activationmax`) and classified (:mod:`benchmark.report.filters.taxonomy`); the script
prints, per size and style, the direction recall on the gratings and the share of plaids called direction.
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np
import torch

from benchmark.inputs import named
from benchmark.report.filters.activationmax import STYLES, maximise
from benchmark.report.filters.taxonomy import classify_many

KERNEL, SIGMA = 11, 3.0
ANGLES = tuple(range(0, 180, 15))
PERIODS = (3, 4, 6, 8)
PLAID_ANGLES = (0, 30, 60)


def gabor(angle: float, period: float) -> np.ndarray:
    """A cosine Gabor (KERNEL x KERNEL, Gaussian envelope SIGMA px) whose stripes run across ``angle`` degrees."""
    offsets = np.arange(KERNEL) - (KERNEL - 1) / 2
    y, x = np.meshgrid(offsets, offsets, indexing="ij")
    across = x * np.cos(np.deg2rad(angle)) + y * np.sin(np.deg2rad(angle))
    return np.exp(-(x ** 2 + y ** 2) / (2 * SIGMA ** 2)) * np.cos(2 * np.pi * across / period)


def detector(angles=ANGLES, periods=PERIODS, plaid_angles=PLAID_ANGLES) -> tuple[torch.nn.Module, list[str]]:
    """The grating detector (conv, ReLU) and each channel's kind: "grating" or "plaid"."""
    kernels = [gabor(a, p) for p in periods for a in angles]
    kinds = ["grating"] * len(kernels)
    kernels += [gabor(a, p) + gabor(a + 90, p) for p in periods for a in plaid_angles]
    kinds += ["plaid"] * (len(kernels) - len(kinds))
    weights = np.stack(kernels)
    weights -= weights.mean(axis=(1, 2), keepdims=True)  # no response to flat colour
    weights /= np.linalg.norm(weights, axis=(1, 2), keepdims=True)
    conv = torch.nn.Conv2d(3, len(weights), KERNEL, padding=KERNEL // 2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(np.repeat(weights[:, None], 3, axis=1) / np.sqrt(3), dtype=torch.float32))
    return torch.nn.Sequential(conv, torch.nn.ReLU()), kinds


def direction_shares(model: torch.nn.Module, kinds: list[str], size: int, style: str) -> dict[str, float]:
    """The share of each kind's channels whose image (``size`` px, ``style``) the taxonomy calls direction."""
    images, _ = maximise(model, model[-1], range(len(kinds)), size, named("unit"), "cpu", style)
    labels = classify_many(list(images))
    return {kind: float(np.mean([label == "direction" for label, k in zip(labels, kinds, strict=True) if k == kind]))
            for kind in sorted(set(kinds))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64], help="image sides to draw at")
    args = parser.parse_args(argv)
    model, kinds = detector()
    counts = Counter(kinds)
    print(f"{counts['grating']} gratings, {counts['plaid']} plaids")
    for size in args.sizes:
        for style in STYLES:
            shares = direction_shares(model, kinds, size, style)
            print(f"{size} px {style}: direction recall on gratings {shares['grating']:.2f}, plaids called direction "
                  f"{shares['plaid']:.2f}")


if __name__ == "__main__":
    main()
