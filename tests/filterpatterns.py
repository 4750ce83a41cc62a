"""Synthetic filter images of known class, drawn in image coordinates so a pattern looks alike at any size."""

import numpy as np

TINT = np.array([1.0, 0.9, 0.8])


def _coordinates(size):
    centres = (np.arange(size) + 0.5) / size
    return np.meshgrid(centres, centres, indexing="ij")  # (y, x) in [0, 1]


def _tinted(values):
    return np.clip(values[..., None] * TINT, 0, 1)


def grating(size, angle=30.0, cycles=4.0, noise=0.05, seed=0):
    """A sine grating of ``cycles`` per image at ``angle`` degrees, slightly tinted, with Gaussian noise."""
    y, x = _coordinates(size)
    theta = np.deg2rad(angle)
    values = 0.5 + 0.4 * np.sin(2 * np.pi * cycles * (x * np.cos(theta) + y * np.sin(theta)))
    return np.clip(_tinted(values) + np.random.default_rng(seed).normal(0, noise, (size, size, 3)), 0, 1)


def uniform(size, colour=(0.8, 0.2, 0.3)):
    return np.broadcast_to(np.asarray(colour, dtype=float), (size, size, 3)).copy()


def colour_gradient(size):
    """Red on the left to blue on the right, green rising downwards."""
    y, x = _coordinates(size)
    return np.stack([x, 0.3 + 0.4 * y, 1 - x], axis=2)


def white_noise(size, grey=True, seed=0):
    rng = np.random.default_rng(seed)
    return np.repeat(rng.uniform(0, 1, (size, size, 1)), 3, axis=2) if grey else rng.uniform(0, 1, (size, size, 3))


def blob_and_checkerboard(size):
    """A Gaussian blob in the upper left, a checkerboard patch in the lower right."""
    y, x = _coordinates(size)
    blob = np.exp(-((x - 0.3) ** 2 + (y - 0.3) ** 2) / (2 * 0.1 ** 2))
    checkerboard = (np.floor(x * 8) + np.floor(y * 8)) % 2 * ((x > 0.5) & (y > 0.5))
    return _tinted(0.2 + 0.5 * blob + 0.3 * checkerboard)


def three_gratings(size):
    """The sum of gratings at 0, 60 and 120 degrees."""
    y, x = _coordinates(size)
    waves = sum(np.sin(2 * np.pi * 5 * (x * np.cos(a) + y * np.sin(a))) for a in np.deg2rad([0, 60, 120]))
    return _tinted(0.5 + waves / 6)


def grid(size, cycles=6, noise=0.0, seed=1):
    """Horizontal plus vertical gratings (a grid of dots, as early filters often show), with Gaussian noise."""
    y, x = _coordinates(size)
    values = 0.5 + 0.2 * np.sin(2 * np.pi * cycles * x) + 0.2 * np.sin(2 * np.pi * cycles * y)
    return np.clip(_tinted(values) + np.random.default_rng(seed).normal(0, noise, (size, size, 3)), 0, 1)


def ring(size):
    y, x = _coordinates(size)
    radius = np.hypot(x - 0.5, y - 0.5)
    return _tinted(0.2 + 0.6 * np.exp(-((radius - 0.3) ** 2) / (2 * 0.04 ** 2)))


def examples(size):
    """(name, image, class) of every kind of pattern above."""
    return [
        ("grating", grating(size), "direction"),
        ("uniform", uniform(size), "colour"),
        ("gradient", colour_gradient(size), "colour"),
        ("grey noise", white_noise(size), "noise"),
        ("colour noise", white_noise(size, grey=False), "noise"),
        ("blob and checkerboard", blob_and_checkerboard(size), "complex"),
        ("three gratings", three_gratings(size), "complex"),
        ("ring", ring(size), "complex"),
    ]
