"""Leak audit: near-duplicate images found by content where a benchmark must not have them.

Two kinds of pair are compared, by the perceptual hashes of :mod:`benchmark.data.perceptualhash`, which
also find flipped, turned, rotated, cropped, shifted and inverted copies:

- ``within``: a target task's images across the train, validation and test parts of the split each
  of the preset's seeds gives it (as the runs make it: grouped, stratified or official);
- ``source-target``: every image a harness-trained source (one with :attr:`~benchmark.sources.Source.trained_on`)
  learns from against every image of a target (the test part changes with the seed), except a source
  against a target of its own dataset, which the planner never pairs.

Two images at a Hamming distance of the threshold or less are near-duplicates: unless one is given, the
threshold of the datasets' imaging kind (:func:`~benchmark.data.perceptualhash.imaging_threshold`:
:data:`~benchmark.data.perceptualhash.THRESHOLD` but for fundus), the lower of the two between datasets
of two kinds (measured: docs/audit.md). Each example names the comparison that matched (``match``:
one of :data:`~benchmark.data.perceptualhash.MATCHES`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from benchmark.data.audithashes import HashCache, TaskImages
from benchmark.data.filedatasets import status_allowing
from benchmark.data.perceptualhash import (
    HASH_VERSION,
    MATCHES,
    imaging_threshold,
    near_duplicates,
    near_duplicates_within,
)
from benchmark.data.splits import make_split, uses_official
from benchmark.datasets import IMAGING
from benchmark.hashing import config_hash, digest_of
from benchmark.registry.catalog import Catalog
from benchmark.settings import RunSettings

EXAMPLES = 5
# Raise when _within or the splits it makes change what they return: stored within-audits are then found again.
WITHIN_VERSION = 1
WITHIN, SOURCE_TARGET = "within", "source-target"
PARTS = ("train", "val", "test")


@dataclass
class PairAudit:
    """The near-duplicates of one compared pair at ``threshold``: ``near_duplicates`` image pairs, ``images``
    distinct target images among them (for ``within``: held-out images with a copy in an earlier part), and
    up to :data:`EXAMPLES` of the closest pairs."""

    kind: str
    target: str
    threshold: int
    source: str | None = None
    seed: int | None = None
    near_duplicates: int = 0
    images: int = 0
    examples: list[dict] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.target} [seed={self.seed}]" if self.kind == WITHIN else f"{self.source} -> {self.target}"


@dataclass
class AuditReport:
    """Every compared pair, the tasks left out and why, and the threshold given for all pairs (None: each
    pair's imaging kinds chose theirs)."""

    threshold: int | None
    pairs: list[PairAudit] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def leaks(self) -> list[PairAudit]:
        return [pair for pair in self.pairs if pair.near_duplicates > 0]

    def as_dict(self) -> dict:
        return {"threshold": self.threshold, "hash": HASH_VERSION, "leaks": len(self.leaks),
                "pairs": [{"name": pair.name, **asdict(pair)} for pair in self.pairs], "skipped": self.skipped}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=1)


def _official(settings: RunSettings, images: TaskImages) -> np.ndarray | None:
    """The dataset's own split where the runs use it (as :class:`~benchmark.data.taskdata.TaskData` decides)."""
    official = images.official_split
    if not uses_official(settings.preset.official_splits, official is not None, images.official_by_default,
                         images.official_split_default):
        return None
    if not (official == "test").any():
        raise ValueError(f"task {images.task!r}: the preset asks for official splits but there are no official "
                         "test images under the data root")
    return official


def _within(images: TaskImages, found: tuple, threshold: int, settings: RunSettings,
            seeds: Sequence[int]) -> list[PairAudit]:
    i, j, distance, how = found
    audits = []
    for seed in seeds:
        preset = settings.preset
        split = make_split(images.labels, seed, preset.test_fraction, preset.val_fraction, groups=images.groups,
                           official=_official(settings, images), min_val=(preset.min_val_images,
                                                                          preset.min_val_per_class))
        part = np.full(len(images.labels), -1)
        for number, indices in enumerate((split.train, split.val, split.test)):
            part[indices] = number
        crossing = (part[i] != part[j]) & (part[i] >= 0) & (part[j] >= 0)
        early = np.where(part[i] <= part[j], i, j)[crossing]
        late = np.where(part[i] <= part[j], j, i)[crossing]
        examples = [{"a": images.names[a], "a_part": PARTS[part[a]], "b": images.names[b], "b_part": PARTS[part[b]],
                     "distance": int(d), "match": MATCHES[m]}
                    for a, b, d, m in _closest(early, late, distance[crossing], how[crossing])]
        audits.append(PairAudit(WITHIN, images.task, threshold, None, seed, int(crossing.sum()),
                                len(np.unique(late)), examples))
    return audits


def _within_key(images: TaskImages, threshold: int, settings: RunSettings, seeds: Sequence[int]) -> str:
    """What a task's within-audit depends on: its images (their hashes' key, names, labels and groups), the
    threshold, the seeds and what makes their splits."""
    preset, official = settings.preset, _official(settings, images)
    return config_hash({
        "kind": WITHIN, "version": WITHIN_VERSION, "images": images.key, "threshold": threshold, "seeds": list(seeds),
        "rows": digest_of(np.asarray(images.names), images.labels, "none" if images.groups is None else images.groups),
        "split": [preset.test_fraction, preset.val_fraction, preset.min_val_images, preset.min_val_per_class],
        "official": None if official is None else digest_of(np.asarray(official)),
    })


def _source_target(source: TaskImages, target: TaskImages, found: tuple, threshold: int) -> PairAudit:
    i, j, distance, how = found
    examples = [{"a": source.names[a], "b": target.names[b], "distance": int(d), "match": MATCHES[m]}
                for a, b, d, m in _closest(i, j, distance, how)]
    return PairAudit(SOURCE_TARGET, target.task, threshold, source.task, None, len(i), len(np.unique(j)), examples)


def _closest(a: np.ndarray, b: np.ndarray, distance: np.ndarray, how: np.ndarray):
    """The :data:`EXAMPLES` closest of the pairs (a, b, distance, how)."""
    order = np.argsort(distance, kind="stable")[:EXAMPLES]
    return zip(a[order], b[order], distance[order], how[order], strict=True)


def _audit(catalog: Catalog, settings: RunSettings, within: Iterable[str], crossed: Iterable[tuple[str, str]],
           threshold: int | None, seeds: Sequence[int] | None) -> AuditReport:
    """Audit ``within`` each of these target tasks and each (source task, target task) of ``crossed``, at
    ``threshold`` or, if None, at the threshold of the tasks' datasets' imaging kinds."""
    tasks = catalog.tasks()
    cache = HashCache(settings.cache_dir)
    report = AuditReport(threshold)
    states, loaded, kinds = {}, {}, {}

    def threshold_of(*names: str) -> int:
        return threshold if threshold is not None else imaging_threshold(*(kinds[name] for name in names))

    def images(name: str) -> TaskImages | None:
        dataset, task = tasks[name]
        if dataset.name not in states:
            states[dataset.name] = status_allowing(dataset, settings.data_root, settings.max_unreadable)
        state = states[dataset.name]
        if not state.available:
            line = f"{name}: dataset {dataset.name} is {state.state}"
            if line not in report.skipped:
                report.skipped.append(line)
            return None
        if name not in loaded:
            if dataset.imaging not in IMAGING:
                raise ValueError(f"dataset {dataset.name}: imaging must be one of {', '.join(IMAGING)} (the kind of "
                                 f"picture, which sets the audit's threshold), got {dataset.imaging!r}")
            kinds[name] = dataset.imaging
            loaded[name] = cache.task_images(dataset, task, settings.data_root)
        return loaded[name]

    for name in dict.fromkeys(within):
        target = images(name)
        if target is None:
            continue
        chosen, chosen_seeds = threshold_of(name), list(seeds or settings.preset.seeds)

        def audit_within(target=target, chosen=chosen, chosen_seeds=chosen_seeds) -> list[dict]:
            found = cache.pairs(WITHIN, target, target, chosen,
                                lambda a, _, t: near_duplicates_within(a.centred, t, a.hashes))
            return [asdict(audit) for audit in _within(target, found, chosen, settings, chosen_seeds)]

        try:
            report.pairs += [PairAudit(**audit) for audit in cache.findings(
                _within_key(target, chosen, settings, chosen_seeds), audit_within)]
        except ValueError as error:
            report.skipped.append(f"{name} (within): its split fails: {error}")
    for source_name, target_name in dict.fromkeys(crossed):
        source, target = images(source_name), images(target_name)
        if source is not None and target is not None:
            chosen = threshold_of(source_name, target_name)
            found = cache.pairs(SOURCE_TARGET, source, target, chosen,
                                lambda a, b, t: near_duplicates(a.hashes, b.hashes, t))
            report.pairs.append(_source_target(source, target, found, chosen))
    return report


def _crossed(catalog: Catalog, target: str, sources: Iterable[str]) -> list[tuple[str, str]]:
    """(source task, target) for the harness-trained ``sources``, less a source of the target's dataset."""
    known = catalog.all_sources()
    dataset = catalog.tasks()[target][0]
    pairs = []
    for name in sources:
        trained = known[name].trained_on if name in known else None
        if trained is not None and trained[0].name != dataset.name:
            pairs.append((trained[1].name, target))
    return pairs


def audit_pairs(catalog: Catalog, settings: RunSettings, pairs: Iterable[tuple[str, str | None]],
                threshold: int | None = None, seeds: Sequence[int] | None = None) -> AuditReport:
    """The audit of the experiments about to run, given as (target task, source name or None): within
    each target (for ``seeds``, default the preset's) and between each harness-trained source and its
    targets; other sources (random, imagenet, none) add nothing; ``threshold`` None: per imaging kind.
    Cheap on a warm cache."""
    pairs = list(pairs)
    tasks = catalog.tasks()
    unknown = sorted({target for target, _ in pairs if target not in tasks})
    if unknown:
        raise ValueError(f"unknown task(s) {', '.join(unknown)}")
    crossed = [pair for target, source in pairs if source for pair in _crossed(catalog, target, [source])]
    return _audit(catalog, settings, [target for target, _ in pairs], crossed, threshold, seeds)


def audit_catalog(catalog: Catalog, settings: RunSettings, selected: Sequence[str] = (),
                  threshold: int | None = None) -> AuditReport:
    """The audit of every target task and harness-trained source, or of those pairs that involve one of
    the ``selected`` tasks or datasets, at ``threshold`` (None: per imaging kind); unavailable tasks are
    listed in ``skipped``."""
    tasks = catalog.tasks()
    known = set(tasks) | {dataset.name for dataset, _ in tasks.values()}
    unknown = [name for name in selected if name not in known]
    if unknown:
        raise ValueError(f"unknown dataset or task(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")

    def chosen(name: str) -> bool:
        return not selected or name in selected or tasks[name][0].name in selected

    sources = [name for name, source in catalog.all_sources().items() if source.trained_on is not None]
    targets = list(catalog.target_tasks())
    crossed = [(source, target) for target in targets for source, _ in _crossed(catalog, target, sources)
               if chosen(source) or chosen(target)]
    return _audit(catalog, settings, [t for t in targets if chosen(t)], crossed, threshold, None)
