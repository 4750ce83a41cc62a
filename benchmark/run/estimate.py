"""Transferability estimates of each source for a target: the sources' features (and own predictions) on the
target's training split, scored by each estimator, timed, and recorded in the run's store."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from benchmark.data.filedatasets import status_allowing
from benchmark.data.taskdata import TaskData
from benchmark.data.taskstatus import task_status
from benchmark.engine.featurecache import FeatureCache
from benchmark.engine.inputs import attach
from benchmark.engine.models import predict
from benchmark.estimators import Estimator
from benchmark.hashing import config_hash
from benchmark.registry.catalog import Catalog
from benchmark.run.context import ExperimentContext
from benchmark.run.planner import skip_reason, target_identity
from benchmark.run.skips import SkipReason
from benchmark.run.store import Store
from benchmark.settings import RunSettings

NO_HEAD = "no classifier of its own"


@dataclass(frozen=True)
class Estimate:
    """One estimator's score of one source for one target (None, with ``note`` saying why, where it cannot
    score that source); ``seconds`` is the estimator's own time, ``feature_seconds`` the time the source's
    features and predictions took (shared by the estimators of that source)."""

    target: str
    source: str
    estimator: str
    score: float | None
    seconds: float
    feature_seconds: float
    n_samples: int
    note: str = ""


class Estimation:
    """Estimates for the targets of one run folder under ``settings``, on the split of the preset's first seed;
    features go through the run's on-disk feature cache, so that estimating after
    ``tlbench run`` reuses what its frozen-feature experiments extracted."""

    def __init__(self, catalog: Catalog, settings: RunSettings, store: Store):
        self.catalog, self.settings, self.store = catalog, settings, store
        self.seed = settings.preset.seeds[0]
        self.data = TaskData(settings)
        self.features = FeatureCache(settings.cache_dir / "features")
        self.sources = catalog.all_sources()
        self._fingerprints: dict[str, str] = {}

    def usable_sources(self, target: str,
                       wanted: tuple[str, ...] = ()) -> tuple[list[str], list[tuple[str, SkipReason]]]:
        """The sources (``wanted``, or all) that may be estimated on ``target``, and the others with the reason the
        planner would skip their experiments for: missing data or weights, or a leak (a source sharing images
        with the target)."""
        dataset, task = self.catalog.tasks()[target]
        target_state = task_status(dataset, task, self.settings.data_root,
                                   status_allowing(dataset, self.settings.data_root, self.settings.max_unreadable))
        usable, skipped = [], []
        for name in wanted or self.sources:
            source = self.sources[name]
            reason = skip_reason(dataset, source, name, target_state, source.status(self.settings))
            if reason:
                skipped.append((name, reason))
            else:
                usable.append(name)
        return usable, skipped

    def estimate(self, target: str, sources: list[str], estimators: list[Estimator]) -> list[Estimate]:
        """Every estimator's score of every source on ``target``, each stored as it is made."""
        dataset, task = self.catalog.tasks()[target]
        split = self.data.split(dataset, task, self.seed)
        labels = split.train.labels.numpy()
        found = []
        for name in sources:
            source = self.sources[name].for_seed(self.settings, self.seed)
            started = time.perf_counter()
            try:
                source.prepare(self.settings, self.data)  # a harness-trained source is trained once, then cached
                started = time.perf_counter()
                ctx = ExperimentContext(split, self.settings, self.seed, source, feature_cache=self.features)
                features = ctx.train_features(ctx.source_model())
                needs_head = any(e.needs_head for e in estimators)
                probs = self._source_probs(source, split.train.images) if needs_head else None
            except Exception as error:  # a source whose weights cannot be had leaves the other sources' estimates
                note = f"source failed: {type(error).__name__}: {error}"
                found += [Estimate(target, name, e.name, None, 0.0, time.perf_counter() - started, len(labels), note)
                          for e in estimators]
                continue
            feature_seconds = time.perf_counter() - started
            for estimator in estimators:
                if estimator.needs_head and probs is None:
                    found.append(Estimate(target, name, estimator.name, None, 0.0, feature_seconds, len(labels),
                                          NO_HEAD))
                    continue
                started = time.perf_counter()
                try:
                    score = float(estimator.score(features, labels, probs if estimator.needs_head else None))
                except Exception as error:  # one estimator's failure (a plugin's bug, a singular case) is its own
                    found.append(Estimate(target, name, estimator.name, None, time.perf_counter() - started,
                                          feature_seconds, len(labels), f"failed: {type(error).__name__}: {error}"))
                    continue
                estimate = Estimate(target, name, estimator.name, score, time.perf_counter() - started,
                                    feature_seconds, len(labels))
                self._save(estimate, dataset, task, source, estimator)
                found.append(estimate)
        return found

    def _source_probs(self, source, images) -> np.ndarray | None:
        """The source classifier's softmax outputs over its own classes, or None where it has none."""
        model = source.build_with_own_head(self.settings)
        if model is None:
            return None
        convention = source.input_convention(self.settings)
        return predict(attach(model, convention), images, convention, self.settings.device,
                       accel=self.settings.acceleration).astype(np.float64)

    def _save(self, estimate: Estimate, dataset, task, source, estimator: Estimator) -> None:
        config = {
            "target": target_identity(dataset, task, self.settings, self._fingerprints),
            "source": source.identity(self.settings),
            "estimator": {"name": estimator.name, "version": estimator.version},
            "seed": self.seed, "preset": self.settings.preset.hashable(), "runtime": self.settings.runtime,
        }
        self.store.save_estimate(
            config_hash(config), estimate.target, estimate.source, estimate.estimator, self.seed, config,
            dataclasses.asdict(self.settings.preset), estimate.score, estimate.seconds, estimate.feature_seconds,
            estimate.n_samples)
