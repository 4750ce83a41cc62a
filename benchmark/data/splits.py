"""Seeded train/validation/test splits: stratified, grouped where groups exist, or official."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from benchmark.hashing import digest_of


@dataclass(frozen=True)
class Split:
    """Index arrays into an :class:`~benchmark.datasets.ImageSet`; ``hash`` identifies the split."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    kind: str
    note: str = ""  # how the split departs from what was asked for (a tiny official validation part replaced)

    @property
    def hash(self) -> str:
        digest = hashlib.sha256()
        for part in (self.train, self.val, self.test):
            digest.update(np.sort(part).astype(np.int64).tobytes())
            digest.update(b"|")
        return digest.hexdigest()[:16]


MIN_PER_CLASS = 3  # a seeded split gives each class an image for training, validation and test


def split_problem(classes: Sequence[str], counts: Sequence[int], seeded: bool) -> str:
    """'' when labels with these per-class image counts can be split, else why not: fewer than two classes
    with images, or (for a seeded split) a class with fewer than MIN_PER_CLASS images, named with its count."""
    present = [name for name, count in zip(classes, counts, strict=True) if count > 0]
    if len(present) < 2:
        return (f"only {len(present)} class has images ({', '.join(present) or 'none'}): a classifier needs at "
                "least two")
    small = [f"{name} ({count})" for name, count in zip(classes, counts, strict=True) if 0 < count < MIN_PER_CLASS]
    if seeded and small:
        return (f"too few images to split: {', '.join(small)}; a stratified train/validation/test split needs at "
                f"least {MIN_PER_CLASS} images per class")
    return ""


def _grouped_holdout(labels, groups, fraction, seed, indices):
    """Hold out about ``fraction`` of ``indices`` with whole groups, keeping class balance."""
    from sklearn.model_selection import StratifiedGroupKFold  # when a split is made: planning never loads sklearn

    n_splits = max(2, round(1 / fraction))
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    rest, held = next(folds.split(indices, labels[indices], groups[indices]))
    return indices[rest], indices[held]


def _holdout(labels, fraction, seed, indices):
    from sklearn.model_selection import train_test_split

    counts = np.bincount(labels[indices])
    stratify = labels[indices] if counts[counts > 0].min() >= 2 else None
    rest, held = train_test_split(indices, test_size=fraction, random_state=seed, stratify=stratify)
    return np.sort(rest), np.sort(held)


_MEMO: dict[str, Split] = {}
_MEMO_ENTRIES = 64


def make_split(
    labels: np.ndarray,
    seed: int,
    test_fraction: float,
    val_fraction: float,
    groups: np.ndarray | None = None,
    official: np.ndarray | None = None,
    counts: tuple[int, int] | None = None,
    min_val: tuple[int, int] = (0, 0),
) -> Split:
    """Split ``labels`` into train, validation and test indices.

    ``official`` (``train``/``val``/``test`` per sample) is used as given, except that a missing
    validation part is carved out of the training part, and so is one too small to select on: under ``min_val`` =
    (images, images of each class), the official validation part joins the training part before the carving, and
    the split's ``note`` says so. Otherwise the test and validation parts are
    ``test_fraction`` and ``val_fraction`` of the whole, or about ``counts`` = (test, validation) images,
    stratified by label and, when ``groups`` are given, with no group on two sides.

    A split is a function of these arguments alone, so the last few are kept: every experiment of a task
    and seed, and the leak audit, ask for the same one (a grouped split costs scikit-learn a quarter second).
    Each call gets arrays of its own.
    """
    key = digest_of(np.asarray(labels), seed, test_fraction, val_fraction, _or_empty(groups), _or_empty(official),
                    counts, min_val)
    if key not in _MEMO:
        if len(_MEMO) >= _MEMO_ENTRIES:
            del _MEMO[next(iter(_MEMO))]
        _MEMO[key] = _make_split(np.asarray(labels), seed, test_fraction, val_fraction, groups, official, counts,
                                 min_val)
    kept = _MEMO[key]
    return Split(kept.train.copy(), kept.val.copy(), kept.test.copy(), kept.kind, kept.note)


def _or_empty(values) -> np.ndarray:
    return np.zeros(0) if values is None else np.asarray(values)


def uses_official(requested: bool | None, has_official: bool, always: bool, dataset_default: bool) -> bool:
    """Whether a task's own split is used: never when it has none; always when it is the only leak-free one
    (``always``); else as the preset's ``official_splits`` says (``requested``), and where that is ``None``, as
    the dataset's ``official_split_default`` says."""
    if not has_official:
        return False
    if always:
        return True
    return dataset_default if requested is None else requested


def _make_split(labels, seed, test_fraction, val_fraction, groups, official, counts, min_val=(0, 0)) -> Split:
    """:func:`make_split` itself, uncached."""
    everything = np.arange(len(labels))
    counts_per_class = np.bincount(labels) if len(labels) else np.zeros(0, dtype=np.int64)
    problem = split_problem([f"class {i}" for i in range(len(counts_per_class))], counts_per_class,
                            seeded=official is None)
    if problem:
        raise ValueError(problem)
    if counts is not None:
        test_count, val_count = counts
        if test_count + val_count >= len(labels):
            raise ValueError(f"split counts {test_count} test + {val_count} validation leave no training images "
                             f"of {len(labels)}")
        test_fraction, val_fraction = test_count / len(labels), val_count / len(labels)
    if official is not None:
        official = np.asarray(official)
        test = everything[official == "test"]
        val = everything[official == "val"]
        train = everything[official == "train"]
        note = _too_small(labels[val], *min_val) if len(val) else ""
        if note:
            train = np.sort(np.concatenate([train, val]))
        if len(val) == 0 or note:
            carve = counts[1] / len(train) if counts else val_fraction / (1 - test_fraction)
            train, val = _split_off(labels, groups, carve, seed, train)
        if note:
            how = "grouped by patient" if groups is not None else "stratified"
            note = (f"{note}: validation is {len(val)} images of the official training part instead ({how}, seed "
                    f"{seed})")
        return Split(train, val, test, "official", note)
    rest, test = _split_off(labels, groups, test_fraction, seed, everything)
    train, val = _split_off(labels, groups, val_fraction / (1 - test_fraction), seed, rest)
    return Split(train, val, test, "grouped" if groups is not None else "stratified")


def _too_small(val_labels: np.ndarray, min_images: int, min_per_class: int) -> str:
    """Why an official validation part with these labels is too small to select epochs or C on, or ''."""
    per_class = np.bincount(val_labels)
    if len(val_labels) >= min_images and per_class[per_class > 0].min() >= min_per_class:
        return ""
    return (f"the official validation part ({len(val_labels)} images, at least {per_class[per_class > 0].min()} per "
            f"class) is too small to select on (under {min_images} images or {min_per_class} of a class)")


def _split_off(labels, groups, fraction, seed, indices):
    if groups is not None:
        return _grouped_holdout(labels, np.asarray(groups), fraction, seed, indices)
    return _holdout(labels, fraction, seed, indices)
