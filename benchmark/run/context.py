"""The context an experiment hands its method: data, settings, seed, source, and the means to train and score."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import timm
import torch

from benchmark.data.taskdata import SplitData
from benchmark.engine.featurecache import FeatureCache, weights_fingerprint
from benchmark.engine.inputs import attach, input_of
from benchmark.engine.logisticprobe import LogisticProbe, fit_logistic_probe
from benchmark.engine.models import backbone_of, create_backbone, predict
from benchmark.engine.normstats import recalibrate_norm_statistics
from benchmark.engine.seeding import seeded
from benchmark.engine.svm import svm_scores
from benchmark.engine.training import EpochCallback, fit
from benchmark.hashing import config_hash, state_dict_hash
from benchmark.inputs import named
from benchmark.settings import RunSettings

if TYPE_CHECKING:
    from benchmark.sources import Source


@dataclass
class ExperimentContext:
    """Everything one experiment needs: its data split, settings, seed and source of weights, and the
    run's feature cache (features of unchanged weights are extracted once, and with the cache on disk,
    once across runs). ``info`` collects facts of how the experiment ran (the SVM backend that fitted it),
    which the runner stores with the experiment's versions; ``timings`` the seconds spent training, extracting
    features and fitting SVMs and probes; ``trained_model`` the last model :meth:`train` trained (kept with
    ``--keep-models``)."""

    data: SplitData
    settings: RunSettings
    seed: int
    source: Source | None
    on_epoch: EpochCallback | None = None
    feature_cache: FeatureCache | None = None
    # ids of the models this experiment trained: their weights are never seen again, so their features
    # would only fill the cache (on disk, one file per fine-tuning)
    _trained: set[int] = field(default_factory=set, init=False, repr=False)
    info: dict = field(default_factory=dict, init=False)
    timings: dict = field(default_factory=dict, init=False)
    trained_model: torch.nn.Module | None = field(default=None, init=False, repr=False)

    @contextmanager
    def timed(self, part: str):
        """A block whose seconds add to ``timings[part]`` (the `time` figure shows ``training``, ``features``,
        ``svm`` and ``probe`` apart, and the rest of a method's time as one)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[part] = self.timings.get(part, 0.0) + time.perf_counter() - started

    @property
    def num_classes(self) -> int:
        return self.data.task.num_classes

    def random_model(self) -> torch.nn.Module:
        """The backbone with random weights (seeded), a head for this task and the preset's input."""
        with seeded(self.seed):
            preset = self.settings.preset
            model = create_backbone(preset.backbone, self.num_classes, **preset.backbone_kwargs())
        return attach(model, named(self.settings.preset.normalize))

    def source_model(self) -> torch.nn.Module:
        """A fresh copy of the source's weights with a new head for this task, fed the input its weights
        expect (``info["input"]`` says which)."""
        if self.source is None:
            raise RuntimeError("this experiment has no source; the method must not ask for one")
        with seeded(self.seed):
            model = self.source.build(self.settings, self.num_classes, self.seed)
        convention = self.source.input_convention(self.settings)
        self.info["input"] = convention.describe()
        return attach(model, convention)

    def train(self, model: torch.nn.Module) -> list[dict]:
        """Train all of ``model`` on the training split, early-stopped on the validation split. The digest of the
        weights it starts from goes to ``info["initial_weights"]``: two results that share it share a training.
        Refused from a source that is not ``fine_tunable``: a method that trains must say so (``trains``), so that
        the grid never pairs it with random weights."""
        if self.source is not None and not self.source.fine_tunable:
            raise RuntimeError(f"this method trains a network, and source {self.source.name} is random weights for "
                               "frozen methods only (fine-tuning them is training from scratch, the none::scratch "
                               "column): set `trains = True` on the method, and the grid pairs it with other sources")
        self.info["initial_weights"] = state_dict_hash(model.state_dict())
        self._trained.add(id(model))
        self.trained_model = model
        with self.timed("training"):
            return fit(model, self.data, self.settings, self.seed, self.on_epoch)

    def adopt_trained(self, model: torch.nn.Module) -> None:
        """Treat ``model``, which a shared training job trained (:attr:`Method.shared_training`), as trained by this
        experiment: its features are never cached, and it is its ``trained_model``."""
        self._trained.add(id(model))
        self.trained_model = model

    def softmax_scores(self, model: torch.nn.Module) -> np.ndarray:
        """The model's own class probabilities on the test split."""
        return predict(model, self.data.test.images, input_of(model, self.settings.preset), self.settings.device,
                       accel=self.settings.acceleration)

    def recalibrate_norms(self, model: torch.nn.Module) -> int:
        """Re-estimate the running statistics of ``model``'s batch norms on the training split's images (see
        :func:`benchmark.engine.normstats.recalibrate_norm_statistics`; timed as feature extraction); returns the
        layers recalibrated."""
        self._trained.add(id(model))  # statistics of this seed's training split: its features would only fill the cache
        with self.timed("features"):
            return recalibrate_norm_statistics(model, self.data.train.images, input_of(model, self.settings.preset),
                                               self.settings.device, self.settings.preset.batch_size,
                                               self.settings.acceleration)

    def features(self, model: torch.nn.Module) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Penultimate features of the training, validation and test splits, from the feature cache when
        ``model``'s weights (its head aside) already went through these very images (the task's images
        digest) with the same input convention, device kind, acceleration and library versions, in this run
        or, with the cache on disk, an earlier one (augmented training images, and models this experiment
        trained, are always extracted afresh)."""
        extract, key = self._extraction(model)
        if key is None:
            return extract(self.data.train.images), extract(self.data.val.images), extract(self.data.test.images)
        split = self.data.split
        train = self._cached_train(extract, key)
        val = self.feature_cache.features(key, split.val, self.data.val.images, extract)
        return train, val, self.feature_cache.features(key, split.test, self.data.test.images, extract)

    def train_features(self, model: torch.nn.Module) -> np.ndarray:
        """Penultimate features of the training split alone, through the feature cache as :meth:`features`."""
        extract, key = self._extraction(model)
        return extract(self.data.train.images) if key is None else self._cached_train(extract, key)

    def _cached_train(self, extract: Callable[[torch.Tensor], np.ndarray], key: str) -> np.ndarray:
        split, images = self.data.split, self.data.train.images
        train = self.feature_cache.features(key, split.train, images[: len(split.train)], extract)
        if self.data.augmented:  # images made from this split's training images have no task position
            train = np.concatenate([train, extract(images[len(split.train) :])])
        return train

    def _extraction(self, model: torch.nn.Module) -> tuple[Callable[[torch.Tensor], np.ndarray], str | None]:
        """How ``model``'s features are extracted, and their feature-cache key (None: not cached)."""
        preset, settings = self.settings.preset, self.settings
        inputs = input_of(model, preset)

        def extract(images: torch.Tensor) -> np.ndarray:
            return predict(model, images, inputs, settings.device, features=True, accel=settings.acceleration)

        if self.feature_cache is None or id(model) in self._trained:
            return extract, None
        # what changes the features' float rounding is in the key too: the cache outlives the run, and a
        # later run on another device or library version must not get features computed another way
        key = config_hash({
            "weights": weights_fingerprint(model), "task": self.data.task.name, "images": self.data.images_digest,
            "backbone": backbone_of(model, preset.backbone), "image_size": preset.image_size, "input": inputs.as_dict(),
            "device": settings.device.type, "acceleration": asdict(settings.acceleration),
            "torch": torch.__version__, "timm": timm.__version__,
        })
        return extract, key

    def svm_scores(self, model: torch.nn.Module) -> np.ndarray:
        """Penultimate features of train and test into a linear SVM (C chosen on the validation features when
        the preset has a grid); its test decision scores. A torch SVM too big for the device falls back to
        scikit-learn only when ``--svm auto`` chose torch; the backend that fitted it goes to
        ``info["svm_backend"]``, the C to ``info["svm_c"]``."""
        with self.timed("features"):
            train, val, test = self.features(model)
        with self.timed("svm"):
            return svm_scores(
                train, self.data.train.labels.numpy(), test, self.num_classes, self.settings.preset, self.seed,
                self.settings.svm_backend, self.settings.device, fallback=self.settings.svm_auto, info=self.info,
                validation=(val, self.data.val.labels.numpy()),
            )

    def linear_probe(self, model: torch.nn.Module, standardize: bool = True) -> tuple[LogisticProbe, np.ndarray]:
        """The logistic-regression probe on ``model``'s penultimate features of the training split (standardised
        unless ``standardize`` is off), its C chosen by validation AUC (the preset's definition;
        ``info["probe_c"]``), and the test split's features."""
        with self.timed("features"):
            train, val, test = self.features(model)
        with self.timed("probe"):
            probe = fit_logistic_probe(train, self.data.train.labels.numpy(), val, self.data.val.labels.numpy(),
                                       self.num_classes, self.settings.preset.auc, standardize=standardize)
        self.info["probe_c"] = probe.c
        return probe, test
