"""The source models the harness trains on source datasets: trained once, locked while training, cached."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from benchmark.data.filedatasets import status_allowing
from benchmark.datasets import SOURCE, Dataset, Task
from benchmark.files.cachefiles import write_atomically
from benchmark.files.locks import exclusive
from benchmark.hashing import config_hash
from benchmark.names import file_stem
from benchmark.settings import RunSettings
from benchmark.sources import Source

if TYPE_CHECKING:
    import torch

    from benchmark.data.taskdata import TaskData
    from benchmark.engine.training import EpochCallback

log = logging.getLogger(__name__)


class DatasetSource(Source):
    """A backbone trained from scratch on a source task, as the study did, cached on disk by the hash
    of everything that determines it and shared by every experiment that uses it: trained once with seed 0, or,
    under the preset's ``source_training = "per-seed"``, once per experiment seed with that seed (:meth:`for_seed`)."""

    ONCE_SEED = 0

    def __init__(self, dataset: Dataset, task: Task, training_seed: int = ONCE_SEED, per_seed: bool = False):
        self.dataset, self.task, self.training_seed, self.per_seed = dataset, task, training_seed, per_seed
        self.name = task.name
        self.description = f"{task.description or dataset.description} (trained from scratch here)".strip()
        self._identities: dict[RunSettings, dict] = {}
        self._unsaved: dict[Path, dict] = {}  # weights that could not be written to the cache, by their path
        self._seeded: dict[int, DatasetSource] = {}

    @property
    def label(self) -> str:
        return f"{self.name}[seed={self.training_seed}]" if self.per_seed else self.name

    def for_seed(self, settings: RunSettings, seed: int) -> DatasetSource:
        if settings.preset.source_training == "once":
            return self
        if seed not in self._seeded:
            self._seeded[seed] = DatasetSource(self.dataset, self.task, seed, per_seed=True)
        return self._seeded[seed]

    @property
    def trained_on(self) -> tuple[Dataset, Task]:
        return self.dataset, self.task

    def status(self, settings: RunSettings) -> tuple[bool, str]:
        state = status_allowing(self.dataset, settings.data_root, settings.max_unreadable)
        return state.available, state.message

    def refresh(self) -> None:
        """Forget the identities worked out so far: the next one fingerprints the data as it is now."""
        self._identities.clear()
        for seeded in self._seeded.values():
            seeded.refresh()

    def identity(self, settings: RunSettings) -> dict:
        """What determines the trained weights: the source task and its data, the training seed and settings
        (none of the scoring ones), the device type and precision. Computed once per settings (it reads the data's
        fingerprint)."""
        if settings not in self._identities:
            training = settings.preset.training_fields()
            training.pop("split_counts")
            training.pop("source_split_counts")
            training.pop("source_training", None)  # the seed says which training; seed 0's model is one either way
            self._identities[settings] = {
                "kind": "dataset", "dataset": self.dataset.name, "version": self.dataset.version,
                "task": self.task.name, "data": self.dataset.fingerprint(self.task, settings.data_root),
                "seed": self.training_seed, "training": training,
                "split_counts": settings.preset.counts_for(self.dataset.name, source=True),
                "runtime": settings.runtime,
            }
        return self._identities[settings]

    def trained_model_path(self, settings: RunSettings) -> Path:
        digest = config_hash(self.identity(settings))
        return settings.cache_dir / "sources" / f"{file_stem(self.name)}-{digest}.pt"

    def prepare(self, settings: RunSettings, data: TaskData, on_epoch: EpochCallback | None = None) -> None:
        """Train the source model unless it is cached. One process trains it at a time (a lock file beside it):
        another that needs it meanwhile waits, then finds it cached."""
        path = self.trained_model_path(settings)
        if path in self._unsaved or self._usable(path):
            return
        waiting = functools.partial(log.info, "source %s: waiting for another process training it", self.name)
        with contextlib.ExitStack() as held:
            try:
                held.enter_context(exclusive(path.with_suffix(".lock"), on_wait=waiting))
            except OSError as error:  # an unwritable cache: no lock to share, nor a file to share the model by
                log.warning("source %s: cannot use the cache folder %s (%s)", self.name, path.parent, error)
            if not self._usable(path):
                self._train(settings, data, on_epoch, path)

    def _usable(self, path: Path) -> bool:
        """Whether the cached model at ``path`` can be loaded; a damaged one is named in a warning and removed,
        to be trained again."""
        if not path.exists():
            return False
        import torch  # here and below, not at load: listing and planning read a source's identity without torch

        try:
            torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # a torn or damaged file fails in many ways (zip, pickle, EOF)
            log.warning("source %s: cached model %s is damaged (%s: %s); training it again", self.name, path,
                        type(error).__name__, error)
            path.unlink(missing_ok=True)
            return False
        return True

    def _train(self, settings: RunSettings, data: TaskData, on_epoch: EpochCallback | None, path: Path) -> None:
        import torch

        from benchmark.engine.inputs import attach
        from benchmark.engine.models import create_backbone, predict
        from benchmark.engine.seeding import seeded
        from benchmark.engine.training import fit

        log.info("source %s: training its model into %s", self.name, path)
        split = data.split(self.dataset, self.task, self.training_seed, role=SOURCE)
        with seeded(self.training_seed):
            model = attach(create_backbone(settings.preset.backbone, self.task.num_classes,
                                           **settings.preset.backbone_kwargs()),
                           self.input_convention(settings))
        history = fit(model, split, settings, self.training_seed, on_epoch)
        scores = predict(model, split.test.images, self.input_convention(settings), settings.device,
                         accel=settings.acceleration)
        accuracy = float((scores.argmax(1) == split.test.labels.numpy()).mean())
        state = model.cpu().state_dict()
        meta = {"identity": self.identity(settings), "history": history, "test_accuracy": accuracy,
                "classes": list(self.task.classes), "input": self.input_convention(settings).as_dict()}
        nbytes = sum(t.numel() * t.element_size() for t in state.values())
        try:
            with write_atomically(path, nbytes) as partial:
                torch.save(state, partial)
                with write_atomically(path.with_suffix(".json")) as meta_partial:  # published first: weights last
                    meta_partial.write_text(json.dumps(meta, indent=1))
        except OSError as error:  # the model is right, only not kept for later runs
            log.warning("source %s: could not write its model to %s (%s); keeping it in memory for this run",
                        self.name, path, error)
            self._unsaved[path] = state

    def build(self, settings: RunSettings, num_classes: int, seed: int) -> torch.nn.Module:
        from benchmark.engine.models import replace_head

        return replace_head(self.build_with_own_head(settings), num_classes)

    def build_with_own_head(self, settings: RunSettings) -> torch.nn.Module:
        """The trained model as it was trained, with its classifier over the source task's classes."""
        path = self.trained_model_path(settings)
        if path not in self._unsaved and not path.exists():
            raise FileNotFoundError(f"source model {path} is missing; prepare() the source first")
        import torch

        from benchmark.engine.models import create_backbone

        model = create_backbone(settings.preset.backbone, self.task.num_classes, **settings.preset.backbone_kwargs())
        model.load_state_dict(self._unsaved.get(path) or torch.load(path, map_location="cpu", weights_only=True))
        return model
