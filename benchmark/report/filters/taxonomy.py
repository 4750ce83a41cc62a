"""The filter taxonomy of the study, automated: each filter image is complex, direction, colour or noise.

A filter image is a float array (H, W, 3) on the display scale [0, 1] (an activation-maximisation image
after the usual per-image stretch). Its channels are turned into one luminance and two chroma channels
(an orthonormal opponent basis, so their energies add up), the mean is removed, a Hann window tapers the
borders and the 2-D power spectrum is measured in cycles per image, so a pattern drawn at 32 or 64 px
reads the same (an image magnified by repeating pixels in k x k blocks is measured at its own resolution).
The *structure band* is every frequency above :data:`SMOOTH_RADIUS` cycles per image up to the Nyquist
frequency. The rule is a decision list, first match wins:

1. colour: the image is flat (its pixel standard deviation is below :data:`FLAT_CONTRAST`);
2. colour: it is smooth (:data:`SMOOTH_SHARE` or more of its energy lies below the structure band: flat
   colour, colour gradients);
3. noise: its structure band has no peaks (the strongest 5% of its frequencies carry less than
   :data:`NOISE_CONCENTRATION` of its energy: white noise spreads its energy evenly over all of them,
   while any pattern, even one drowned in noise, piles it up at its own frequencies);
4. direction: one orientation dominates (:data:`DIRECTION_SHARE` or more of the structure band's
   energy lies in one 45-degree span of orientations: stripes, gratings, oriented edges);
5. complex: anything else (structure at several orientations: textures, grids, blobs with edges, rings).

Structure in colour counts as structure (the eye sees a red-green grating as stripes), so colour means
flat or smooth colour only. Structural filters (:data:`STRUCTURAL`) are complex and direction ones.
:func:`agreement` scores the rule against a person's labels (Cohen's kappa, the confusion matrix).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import fft
from sklearn.metrics import cohen_kappa_score, confusion_matrix

CLASSES = ("complex", "direction", "colour", "noise")
STRUCTURAL = frozenset({"complex", "direction"})

# Pixel standard deviation (on [0, 1]) below which an image shows nothing but one flat colour: about 10
# grey levels of 255, a faint mottle at most. Channels that no image excites end as such a mottle (about 0.02
# in the hand-labelled set, where every structural filter lies above 0.05); it was 0.01 before that set showed it.
FLAT_CONTRAST = 0.04
# Highest frequency, in cycles per image, that still counts as smooth: a gradient across the image has
# half a cycle; a grating with two or more cycles is structure.
SMOOTH_RADIUS = 1.5
# Share of the energy below SMOOTH_RADIUS from which an image is a flat colour or a colour gradient.
SMOOTH_SHARE = 0.7
# Share of the structure band's energy in its strongest 5% of frequencies below which it is white noise:
# white noise of 24 px or more puts 0.1-0.24 there (smaller images scatter more), a grating nearly all, and
# activation-maximisation images that show strokes or a grid through their noise 0.3 or more.
NOISE_CONCENTRATION = 0.27
# Share of the structure band's energy in the densest 45-degree span of orientations from which one
# orientation dominates: an isotropic pattern puts a quarter there, a grating nearly all, three gratings
# 60 degrees apart about a third.
DIRECTION_SHARE = 0.6

# Share of the structure band's frequencies, the strongest, whose energy share is the concentration.
_TOP = 0.05
# Radial bands of the flatness measure (equal widths of normalised frequency up to Nyquist) and 15-degree
# orientation bins, three of which make the 45-degree window.
_BANDS = 8
_ORIENTATIONS = 12
_WINDOW = 3
# Least side, in pixels, that undoing a magnification may leave: enough frequencies for the statistics.
_MIN_SIDE = 16
# Images transformed at once: bounds the spectra held in memory when classifying thousands of filters.
_CHUNK = 256
# Orthonormal opponent basis: luminance (R+G+B)/sqrt(3), red-green, yellow-blue.
_OPPONENT = np.array([[1, 1, 1], [1, -1, 0], [1, 1, -2]], dtype=np.float64)
_OPPONENT /= np.linalg.norm(_OPPONENT, axis=1, keepdims=True)
_TINY = 1e-12


def filter_properties(image: np.ndarray) -> dict[str, float]:
    """The measured properties of one filter image (H, W, 3) on [0, 1], by name (shares are 0-1).
    :func:`classify` uses ``contrast``, ``smooth_share``, ``concentration`` and ``orientation_share`` (see
    the module docstring); ``saturation`` (mean chroma magnitude), ``luminance_share`` (of the structure
    band's energy), ``spectral_flatness`` (of its radially averaged spectrum, near 1 for white noise) and
    ``autocorrelation`` (of neighbouring pixels, near 0 for white noise) describe it further."""
    return {name: float(values[0]) for name, values in _properties(_native(np.asarray(image))[None]).items()}


def classify(image: np.ndarray) -> str:
    """The class (one of :data:`CLASSES`) of one filter image (H, W, 3) on [0, 1], by the module's rule."""
    return classify_many([image])[0]


def classify_many(images: Sequence[np.ndarray] | np.ndarray) -> list[str]:
    """The class of each filter image; images of one size are measured together, in chunks."""
    images = [_native(np.asarray(image)) for image in images]
    labels: list[str] = [""] * len(images)
    by_shape: dict[tuple, list[int]] = {}
    for index, image in enumerate(images):
        by_shape.setdefault(np.shape(image), []).append(index)
    for indices in by_shape.values():
        for start in range(0, len(indices), _CHUNK):
            chunk = indices[start:start + _CHUNK]
            properties = _properties(np.stack([images[i] for i in chunk]))
            for i, label in zip(chunk, _decide(properties), strict=True):
                labels[i] = label
    return labels


def _native(image: np.ndarray) -> np.ndarray:
    """``image`` at its own resolution: one pixel per block if it is made of k x k blocks of equal pixels."""
    if image.ndim != 3:
        return image
    height, width = image.shape[:2]
    for k in range(min(height, width) // _MIN_SIDE, 1, -1):
        if height % k or width % k:
            continue
        small = image[::k, ::k]
        if np.array_equal(np.repeat(np.repeat(small, k, axis=0), k, axis=1), image):
            return small
    return image


def _decide(p: dict[str, np.ndarray]) -> list[str]:
    colour = (p["contrast"] < FLAT_CONTRAST) | (p["smooth_share"] >= SMOOTH_SHARE)
    noise = ~colour & (p["concentration"] < NOISE_CONCENTRATION)
    direction = ~colour & ~noise & (p["orientation_share"] >= DIRECTION_SHARE)
    return np.select([colour, noise, direction], ["colour", "noise", "direction"], "complex").tolist()


def _properties(images: np.ndarray) -> dict[str, np.ndarray]:
    """The properties of a batch (N, H, W, 3) as arrays of N values."""
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"filter images must be (H, W, 3); got {images.shape[1:]}")
    height, width = images.shape[1:3]
    # single precision halves the time; the shares it feeds need no more
    opponent = images.astype(np.float32) @ _OPPONENT.T.astype(np.float32)  # (N, H, W, 3)
    # the mean accumulated in double precision, so a flat image centres to exactly zero
    centred = opponent - opponent.mean(axis=(1, 2), keepdims=True, dtype=np.float64).astype(np.float32)
    energy = (centred ** 2).sum(axis=(1, 2, 3))  # the opponent basis keeps the RGB energy
    contrast = np.sqrt(energy / centred[0].size)
    saturation = np.hypot(opponent[..., 1], opponent[..., 2]).mean(axis=(1, 2))
    lag = (centred[:, 1:] * centred[:, :-1]).sum(axis=(1, 2, 3)) + (
        centred[:, :, 1:] * centred[:, :, :-1]).sum(axis=(1, 2, 3))
    autocorrelation = lag / np.maximum(2 * energy, _TINY)

    window = np.outer(np.hanning(height + 2)[1:-1], np.hanning(width + 2)[1:-1]).astype(np.float32)
    spectrum = fft.fft2(centred * window[:, :, None], axes=(1, 2))
    power = spectrum.real ** 2 + spectrum.imag ** 2
    frequency_y, frequency_x = np.meshgrid(fft.fftfreq(height) * height, fft.fftfreq(width) * width, indexing="ij")
    radius = np.hypot(frequency_y, frequency_x)
    nyquist = min(height, width) / 2
    band = (radius > SMOOTH_RADIUS) & (radius <= nyquist)
    structure = power[:, band]  # (N, frequencies, 3)
    structure_energy = structure.sum(axis=(1, 2))
    smooth_share = power[:, radius <= SMOOTH_RADIUS].sum(axis=(1, 2)) / np.maximum(power.sum(axis=(1, 2, 3)), _TINY)
    luminance_share = structure[..., 0].sum(axis=1) / np.maximum(structure_energy, _TINY)

    per_frequency = structure.sum(axis=2)
    top = max(1, round(_TOP * per_frequency.shape[1]))
    concentration = np.partition(per_frequency, -top, axis=1)[:, -top:].sum(axis=1) / np.maximum(
        structure_energy, _TINY)
    bands = np.minimum((radius[band] / nyquist * _BANDS).astype(int), _BANDS - 1)
    counts = np.bincount(bands, minlength=_BANDS)
    radial = (per_frequency @ np.eye(_BANDS, dtype=np.float32)[bands])[:, counts > 0] / counts[counts > 0] + _TINY
    flatness = np.exp(np.log(radial).mean(axis=1)) / radial.mean(axis=1)

    angle = np.mod(np.arctan2(frequency_y, frequency_x), np.pi)[band]
    bins = np.minimum((angle / np.pi * _ORIENTATIONS).astype(int), _ORIENTATIONS - 1)
    by_angle = per_frequency @ np.eye(_ORIENTATIONS, dtype=np.float32)[bins]
    windows = sum(np.roll(by_angle, -shift, axis=1) for shift in range(_WINDOW))
    orientation_share = windows.max(axis=1) / np.maximum(by_angle.sum(axis=1), _TINY)
    return {"contrast": contrast, "saturation": saturation, "smooth_share": smooth_share,
            "concentration": concentration, "luminance_share": luminance_share, "spectral_flatness": flatness,
            "orientation_share": orientation_share, "autocorrelation": autocorrelation}


def agreement(human: Sequence[str], machine: Sequence[str]) -> dict:
    """How well ``machine`` labels agree with ``human`` ones (same filters, same order): ``kappa`` (Cohen's,
    None when undefined, e.g. a single class on both sides), ``accuracy``, ``n``, ``confusion`` (rows human,
    columns machine, in :data:`CLASSES` order) and ``structural_kappa`` (structural or not)."""
    if len(human) != len(machine):
        raise ValueError(f"{len(human)} human labels against {len(machine)} machine labels")
    unknown = (set(human) | set(machine)) - set(CLASSES)
    if unknown:
        raise ValueError(f"unknown classes {sorted(unknown)}; the classes are {', '.join(CLASSES)}")
    n = len(human)
    human_structural = [label in STRUCTURAL for label in human]
    machine_structural = [label in STRUCTURAL for label in machine]
    return {
        "kappa": _kappa(human, machine),
        "accuracy": sum(h == m for h, m in zip(human, machine, strict=True)) / n if n else None,
        "n": n,
        "confusion": confusion_matrix(human, machine, labels=list(CLASSES)).tolist() if n else
        [[0] * len(CLASSES) for _ in CLASSES],
        "structural_kappa": _kappa(human_structural, machine_structural),
    }


def _kappa(a: Sequence, b: Sequence) -> float | None:
    # Cohen's kappa is 0/0 when both raters use one and the same class throughout; scikit-learn returns nan.
    if not a or len(set(a) | set(b)) < 2:
        return None
    return float(cohen_kappa_score(a, b))
