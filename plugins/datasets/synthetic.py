"""The embedded default: three synthetic datasets generated deterministically, offline, at any size.

- ``synth_shapes`` (source, natural-like, 2,000 images): six kinds of coloured shape on textured backgrounds.
- ``synth_xray`` (target, medical, grey, 1,200 images): chest-radiograph-like images; the finding is a
  diffuse opacity in a lung field. Two images per synthetic patient, so splits must be grouped.
- ``synth_cells`` (target, medical, stained, 1,100 images): one white blood cell among red cells; the four
  types differ in the shape of the nucleus (and granules), as in the blood-cell dataset.

The source and the targets share low-level structure at similar scales, which is what gives transfer a
mechanism: edges of filled regions (shapes; cells and nuclei; body and lung outlines), round blobs (circles
and rings; red cells and nucleus lobes; opacities) and periodic textures (backgrounds; ribs).

The targets are sized for the ``cpu-quick`` preset's absolute split counts (``Preset.split_counts``): 600
test and 200-300 validation images, which cost only forward passes and keep a seed's test AUC from moving by
sampling, and 300 training images, so the targets stay small where it matters. With 200 training images
the random-feature cell of ``synth_xray`` spread 0.06 over the seeds; with 300, every cell stays within 0.045
under one and two threads (README, "The embedded default"). Under the plain fractions (1/5 test, 1/10
validation) the same images are split that way instead.

Each image is drawn from its own seeded generator, so a dataset is identical at every run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark import SOURCE, TARGET, Dataset, DatasetStatus, ImageSet, Task, digest_of, hookimpl


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    axis = (np.arange(size) + 0.5) / size
    return np.meshgrid(axis, axis, indexing="ij")


def _soft(inside_distance: np.ndarray, size: int) -> np.ndarray:
    """Anti-aliased mask from a signed distance (positive inside), in units of the image side."""
    return np.clip(inside_distance * size + 0.5, 0.0, 1.0)


def _texture(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, waves: int = 4) -> np.ndarray:
    """A smooth random texture in [-1, 1] made of a few sinusoids."""
    field = np.zeros_like(yy)
    for _ in range(waves):
        fy, fx = rng.uniform(-9, 9, size=2)
        field += np.sin(2 * np.pi * (fy * yy + fx * xx) + rng.uniform(0, 2 * np.pi))
    return field / waves


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)


class SyntheticDataset(Dataset):
    """A generated dataset with one task; subclasses draw one image per call of :meth:`draw`."""

    modality = "medical"
    homepage = "embedded in tlbench: generated on the fly, nothing to download"
    n_images = 600
    roles: frozenset[str] = frozenset({TARGET})
    classes: tuple[str, ...] = ()
    seed = 0
    _drawn: tuple[int, np.ndarray] | None = None  # (image size, images) of the last drawing

    def tasks(self) -> list[Task]:
        return [Task(self.name, self.classes, self.roles, self.description)]

    def status(self, root: Path) -> DatasetStatus:
        return DatasetStatus("available", "generated in memory")

    def labels_and_groups(self) -> tuple[np.ndarray, np.ndarray | None]:
        return np.arange(self.n_images) % len(self.classes), None

    def class_counts(self, task: Task, root: Path) -> tuple[np.ndarray, bool]:
        labels, _ = self.labels_and_groups()
        return np.bincount(labels, minlength=len(self.classes)), False

    def draw(self, rng: np.random.Generator, label: int, size: int, group_rng: np.random.Generator | None):
        raise NotImplementedError

    def fingerprint(self, task: Task, root: Path) -> str:
        """Generated images are a function of this code alone, identified by :attr:`version` (bumped with
        any change to the drawing) and the generator's seed, size and labels: nothing to load."""
        labels, groups = self.labels_and_groups()
        return digest_of(self.version, type(self).__qualname__, self.seed, self.n_images, list(self.classes), labels,
                         np.zeros(0) if groups is None else groups)

    def load(self, task: Task, root: Path, image_size: int) -> ImageSet:
        """The dataset drawn at ``image_size``; the last size drawn is kept, so the leak audit and the run
        (both at 32 px on ``cpu-quick``) draw it once."""
        labels, groups = self.labels_and_groups()
        drawn = self._drawn
        if drawn is None or drawn[0] != image_size:
            images = np.empty((len(labels), image_size, image_size, 3), dtype=np.uint8)
            for i, label in enumerate(labels):
                rng = np.random.default_rng([self.seed, i])
                group_rng = None if groups is None else np.random.default_rng([self.seed, 10**6 + int(groups[i])])
                images[i] = self.draw(rng, int(label), image_size, group_rng)
            drawn = self._drawn = (image_size, images)
        return ImageSet(drawn[1].copy(), labels, self.classes, groups=groups)


class SyntheticShapes(SyntheticDataset):
    name = "synth_shapes"
    imaging = "natural"
    modality = "natural"
    description = "Synthetic natural-like images: six coloured shapes on textured backgrounds"
    roles = frozenset({SOURCE})
    classes = ("circle", "square", "triangle", "cross", "ring", "star")
    n_images = 2000
    version = "2"  # version 1: 3,000 images
    seed = 11

    def draw(self, rng, label, size, group_rng):
        yy, xx = _grid(size)
        base = rng.uniform(0.2, 0.8, size=3)
        image = base + 0.18 * _texture(rng, yy, xx)[..., None] * rng.uniform(-1, 1, size=3)
        cy, cx = rng.uniform(0.3, 0.7, size=2)
        radius = rng.uniform(0.16, 0.3)
        angle = rng.uniform(0, 2 * np.pi)
        dy, dx = yy - cy, xx - cx
        u = np.cos(angle) * dx + np.sin(angle) * dy
        v = -np.sin(angle) * dx + np.cos(angle) * dy
        r, theta = np.hypot(u, v), np.arctan2(v, u)
        shape = self.classes[label]
        if shape == "circle":
            inside = radius - r
        elif shape == "square":
            inside = 0.8 * radius - np.maximum(np.abs(u), np.abs(v))
        elif shape == "triangle":
            edges = [np.cos(theta - a) * r for a in (0, 2 * np.pi / 3, 4 * np.pi / 3)]
            inside = 0.5 * radius - np.max(edges, axis=0)
        elif shape == "cross":
            arm = 0.3 * radius
            inside = np.maximum(np.minimum(arm - np.abs(u), radius - np.abs(v)),
                                np.minimum(arm - np.abs(v), radius - np.abs(u)))
        elif shape == "ring":
            inside = 0.28 * radius - np.abs(r - 0.72 * radius)
        else:  # star: five points
            inside = radius * (0.6 + 0.35 * np.cos(5 * theta)) - r
        colour = rng.uniform(0, 1, size=3)
        colour[rng.integers(3)] = rng.choice([0.05, 0.95])  # keep the shape saturated against the background
        mask = _soft(inside, size)[..., None]
        image = image * (1 - mask) + colour * mask
        image += rng.normal(0, 0.03, size=image.shape)
        return _to_uint8(image)


class SyntheticXray(SyntheticDataset):
    name = "synth_xray"
    imaging = "xray"
    description = "Synthetic chest radiographs: normal vs a diffuse lung opacity (grouped by patient)"
    classes = ("normal", "opacity")
    n_images = 1200
    version = "3"  # 1: 400 images, narrower anatomy, fainter opacities, more exposure and texture; 2: no own pattern
    seed = 23
    images_per_patient = 2

    def labels_and_groups(self):
        rng = np.random.default_rng(self.seed)
        labels = (rng.random(self.n_images) < 0.6).astype(np.int64)  # unbalanced, as chest X-ray is
        groups = np.arange(self.n_images) // self.images_per_patient
        return labels, groups

    def draw(self, rng, label, size, group_rng):
        yy, xx = _grid(size)
        # the patient's anatomy comes from the group generator, so both images share it; it varies as patients
        # do (build, lung size and height), so that no two patients' radiographs are near-duplicates
        body_w, lung_h = group_rng.uniform(0.34, 0.5), group_rng.uniform(0.26, 0.4)
        gap, rib_freq = group_rng.uniform(0.04, 0.1), group_rng.uniform(6, 9)
        lung_w, lung_y = group_rng.uniform(0.4, 0.46) * (body_w - gap), group_rng.uniform(0.44, 0.56)
        shift_y, shift_x = rng.normal(0, 0.02, size=2)
        yy, xx = yy - shift_y, xx - shift_x
        body = _soft(1 - np.hypot((xx - 0.5) / body_w, (yy - 0.55) / 0.55), size / 8)
        image = 0.08 + 0.55 * body
        lungs = np.zeros_like(yy)
        centres = []
        for side in (-1, 1):
            cx = 0.5 + side * (gap + lung_w)
            lung = _soft(1 - np.hypot((xx - cx) / lung_w, (yy - lung_y) / lung_h), size / 6)
            lungs = np.maximum(lungs, lung)
            centres.append(cx)
        ribs = 0.5 + 0.5 * np.sin(2 * np.pi * rib_freq * yy + 3 * (xx - 0.5) ** 2)
        image -= lungs * (0.38 - 0.1 * ribs)
        # the patient's own soft-tissue pattern: two patients of alike build still differ (version 2 without it
        # drew one pair of look-alike patients that the leak audit flagged across splits)
        image += 0.04 * body * _texture(group_rng, yy, xx, waves=4)
        if label == 1:
            for _ in range(rng.integers(1, 3)):
                cx = centres[rng.integers(2)] + rng.normal(0, 0.05)
                cy = lung_y + rng.uniform(-0.5, 0.5) * lung_h
                spread = rng.uniform(0.06, 0.12)
                image += rng.uniform(0.2, 0.4) * lungs * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * spread**2))
        image += 0.03 * _texture(rng, yy, xx, waves=6) + rng.normal(0, 0.035, size=yy.shape)
        image *= rng.uniform(0.95, 1.05)
        return _to_uint8(np.repeat(image[..., None], 3, axis=2))


class SyntheticCells(SyntheticDataset):
    name = "synth_cells"
    imaging = "cells"
    description = "Synthetic stained blood smears: four white-cell types told apart by nucleus shape"
    classes = ("eosinophil", "lymphocyte", "monocyte", "neutrophil")
    n_images = 1100
    version = "2"  # version 1: 320 images
    seed = 37

    def draw(self, rng, label, size, group_rng):
        yy, xx = _grid(size)
        background = np.array([0.93, 0.82, 0.84]) + rng.normal(0, 0.02, size=3)
        image = np.broadcast_to(background, yy.shape + (3,)).copy()
        red_cell = np.array([0.86, 0.55, 0.58])
        for _ in range(rng.integers(4, 9)):
            cy, cx, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.08, 0.13)
            mask = _soft(r - np.hypot(yy - cy, xx - cx), size)[..., None]
            image = image * (1 - mask) + red_cell * mask
        cy, cx = 0.5 + rng.normal(0, 0.06, size=2)
        cell_r = rng.uniform(0.2, 0.26)
        angle = rng.uniform(0, 2 * np.pi)
        dy, dx = yy - cy, xx - cx
        u = np.cos(angle) * dx + np.sin(angle) * dy
        v = -np.sin(angle) * dx + np.cos(angle) * dy
        cytoplasm = _soft(cell_r - np.hypot(u, v), size)[..., None]
        image = image * (1 - cytoplasm) + np.array([0.8, 0.72, 0.86]) * cytoplasm
        kind = self.classes[label]
        if kind == "lymphocyte":  # one large round nucleus
            nucleus = 0.78 * cell_r - np.hypot(u, v)
        elif kind == "monocyte":  # kidney-shaped: a disc with a bite taken out
            disc = 0.62 * cell_r - np.hypot(u, v)
            bite = 0.4 * cell_r - np.hypot(u - 0.55 * cell_r, v)
            nucleus = np.minimum(disc, -bite)
        else:  # eosinophil: two lobes; neutrophil: three to five small lobes on an arc
            lobes = 2 if kind == "eosinophil" else int(rng.integers(3, 6))
            lobe_r = (0.36 if lobes == 2 else 0.26) * cell_r
            spread = np.linspace(-0.5, 0.5, lobes) * (1.6 if lobes == 2 else 2.6)
            nucleus = np.max([lobe_r - np.hypot(u - 0.42 * cell_r * np.sin(a), v + 0.2 * cell_r * np.cos(a))
                              for a in spread], axis=0)
        mask = _soft(nucleus, size)[..., None]
        stain = np.array([0.36, 0.18, 0.5]) + rng.normal(0, 0.04, size=3)
        image = image * (1 - mask) + stain * mask
        if kind == "eosinophil":  # orange-red granules in the cytoplasm
            for _ in range(18):
                gu, gv = rng.uniform(-1, 1, size=2) * cell_r * 0.8
                granule = _soft(0.035 * cell_r + 0.012 - np.hypot(u - gu, v - gv), size)[..., None] * cytoplasm
                image = image * (1 - 0.35 * granule) + np.array([0.92, 0.45, 0.3]) * 0.35 * granule
        image += rng.normal(0, 0.03, size=image.shape)
        image *= rng.uniform(0.9, 1.08, size=3)
        return _to_uint8(image)


@hookimpl
def tlbench_register_datasets(register):
    for dataset in (SyntheticShapes(), SyntheticXray(), SyntheticCells()):
        register(dataset)
