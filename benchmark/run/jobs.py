"""The unit of work: a job's whole configuration in, its result out, in whatever process a launcher runs it.

A :class:`Job` is a harness-trained source (its model trained once into the cache folder, the file's digest
returned), a shared training (the network that the methods naming one :attr:`Method.shared_training` score, trained
once for a target, source and seed into the cache folder, the file's digest returned) or one experiment (its
config and config hash, the digests of the source model and of the shared training it must find).
:func:`execute` runs a job in this process, building the plugins' catalog and the run's data once per process
from the :class:`WorkSpec` (so a worker process, a Ray task or a SLURM job needs nothing but the spec); the
driver alone writes the store.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import platform
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from benchmark.hashing import config_hash
from benchmark.launchers import EventHandler
from benchmark.methods import SHARED_TRAININGS
from benchmark.registry.catalog import Catalog
from benchmark.run.keptmodels import kept_path, save_model, should_keep
from benchmark.run.planner import Experiment
from benchmark.run.trainings import TrainedNetworks, training_identity
from benchmark.settings import RunSettings

# The engine (torch, timm, scikit-learn) loads where a job runs (Worker), not where jobs are planned and handed
# out: a rerun with nothing left to do never needs it.
if TYPE_CHECKING:
    import torch

    from benchmark.run.context import ExperimentContext

log = logging.getLogger(__name__)

SOURCE_JOB, TRAINING_JOB, EXPERIMENT_JOB = "source", "training", "experiment"
# the environment that decides which plugins load: a worker on another machine gets the driver's
_PLUGIN_ENVIRON = ("TLBENCH_PLUGINS", "TLBENCH_DISTRIBUTIONS")


@dataclass(frozen=True)
class WorkSpec:
    """What every job of a run shares, enough for any process to rebuild the run's catalog and settings: the
    ``-p`` plugins, the folder whose config file applies, the ``timm:`` sources named, the settings, the run
    folder, the driver's plugin environment and import path, and the CPU threads each job may use (None: this
    process's)."""

    settings: RunSettings
    run_dir: Path
    plugin_args: tuple[str, ...] = ()
    config_dir: Path | None = None
    timm_sources: tuple[str, ...] = ()
    environ: tuple[tuple[str, str], ...] = ()
    sys_path: tuple[str, ...] = ()
    threads: int | None = None

    @classmethod
    def of_this_process(cls, settings: RunSettings, run_dir: Path, plugin_args=(), timm_sources=(),
                        threads: int | None = None) -> WorkSpec:
        return cls(settings, Path(run_dir).resolve(), tuple(plugin_args), Path.cwd(), tuple(timm_sources),
                   tuple((k, os.environ[k]) for k in _PLUGIN_ENVIRON if k in os.environ),
                   tuple(p for p in sys.path if p), threads)

    @property
    def key(self) -> str:
        return config_hash(repr(self))


@dataclass(frozen=True)
class Job:
    """One unit of work. ``id``: the experiment's config hash, ``source:<weights file>`` or ``training:<key>``;
    ``cost``: its forecast seconds (the scheduler's); ``needs``: the job it waits for (a source job, or an
    experiment's shared training job); ``source_digest``: the sha256 of the source model file it must find (filled
    in when the source job ends); ``seed``: a source job's experiment seed (which model it trains, where the source
    is trained per seed); ``training``: the key of the shared training a training job trains or an
    experiment scores (:mod:`benchmark.run.trainings`), with ``training_digest`` the sha256 of its weights file
    (filled in when the training job ends); ``trains``: whether the job trains a network (a source or shared
    training not cached yet, an experiment whose method trains its own). A training job's ``experiment`` and
    ``config`` are those of the first experiment that scores it."""

    kind: str
    id: str
    label: str  # the node id, or ``source NAME``
    source: str
    experiment: Experiment | None = None
    config: dict | None = None
    notes: dict = field(default_factory=dict)
    needs: str = ""
    source_digest: str | None = None
    cost: float = 0.0
    training: str = ""
    training_digest: str | None = None
    trains: bool = False
    seed: int = 0


@dataclass
class JobResult:
    """How a job ended. ``fields``: the store columns of an experiment's result; ``error``: the traceback of a
    failed one; ``detail``: one line for the progress display; ``worker``: host, process and device it ran on;
    ``started``/``ended``: wall-clock seconds since the epoch; ``digest``: a source job's model file digest."""

    status: str
    fields: dict = field(default_factory=dict)
    error: str = ""
    detail: str = ""
    worker: str = ""
    started: float = 0.0
    ended: float = 0.0
    digest: str | None = None

    @property
    def seconds(self) -> float:
        return self.ended - self.started


def library_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in ("tlbench", "torch", "timm", "scikit-learn", "numpy"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def file_digest(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            hasher.update(block)
    return hasher.hexdigest()


class Worker:
    """Runs jobs in this process, several at once from several threads (``jobs_per_gpu``): the task data, feature
    cache and source models are shared, a source is prepared once while the jobs that need it wait, and on CUDA
    each thread queues its work on a stream of its own (on one stream kernels of several jobs only take turns)."""

    def __init__(self, catalog: Catalog, settings: RunSettings, run_dir: Path):
        from benchmark.data.taskdata import TaskData
        from benchmark.engine.featurecache import FeatureCache

        self.catalog, self.settings, self.run_dir = catalog, settings, Path(run_dir)
        self.data = TaskData(settings)
        self._data_lock = threading.Lock()
        self._source_lock = threading.Lock()
        self._digests: dict[tuple, str] = {}
        self._thread = threading.local()
        self.sources = catalog.all_sources()
        self.source_errors: dict[str, str] = {}  # by the source's label (its name, and seed where trained per seed)
        self.prepared: set[str] = set()
        # how it ran, beside what with: none of it is in the config hash; an experiment's own facts (the SVM
        # backend that actually fitted it) override these run-wide ones in its row
        self.versions = {**library_versions(), "svm_backend": settings.svm_backend, "compile": settings.compile}
        self.features = FeatureCache(settings.cache_dir / "features")
        self.trainings = TrainedNetworks(settings.cache_dir)
        self.label = f"{socket.gethostname()}:{os.getpid()}:{os.environ.get('CUDA_VISIBLE_DEVICES') or settings.device}"

    def execute(self, job: Job, on_event: EventHandler | None = None) -> JobResult:
        """Run ``job``; an exception of the job's own (even SystemExit from a plugin) is a failed result with its
        traceback. KeyboardInterrupt passes through."""
        started = time.time()
        on_epoch = (lambda record: on_event(("epoch", record))) if on_event else None
        try:
            with self._job_stream():
                if job.kind == SOURCE_JOB:
                    result = self._prepare_source(job.source, job.seed, on_epoch, again=True)
                elif job.kind == TRAINING_JOB:
                    result = self._shared_training(job, on_epoch)
                else:
                    result = self._experiment(job, on_epoch)
        except KeyboardInterrupt:
            raise
        except BaseException as error:
            result = JobResult("failed", {"versions": self.versions}, traceback.format_exc(),
                               f"{type(error).__name__}: {error}")
            if isinstance(error, _Timed):
                result.fields["durations"] = error.durations
                result.error = error.text
                result.detail = error.detail
        result.worker, result.started, result.ended = self.label, started, time.time()
        return result

    def _job_stream(self):
        if self.settings.jobs_per_gpu == 1 or self.settings.device.type != "cuda":
            return contextlib.nullcontext()
        import torch

        if not hasattr(self._thread, "stream"):
            self._thread.stream = torch.cuda.Stream(self.settings.device)
        return torch.cuda.stream(self._thread.stream)

    def _digest(self, path: Path) -> str:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in self._digests:
            self._digests[key] = file_digest(path)
        return self._digests[key]

    def _source_of(self, name: str, seed: int):
        """The source ``name`` as the experiments of ``seed`` use it."""
        return self.sources[name].for_seed(self.settings, seed)

    def _prepare_source(self, name: str, seed: int, on_epoch=None, again: bool = False) -> JobResult:
        """Train source ``name`` (for ``seed``) unless its model is cached (once per process, or ``again`` for a
        source job: a process serving several runs checks the cache anew; under the source's file lock across
        processes); the result carries the model file's digest."""
        source = self._source_of(name, seed)
        label = source.label
        with self._source_lock:
            if again:
                self.prepared.discard(label)
                self.source_errors.pop(label, None)
            if label in self.source_errors:
                raise RuntimeError(f"source {label!r} could not be prepared earlier in this process:\n"
                                   f"{self.source_errors[label]}")
            if label not in self.prepared:
                try:
                    source.prepare(self.settings, _Locked(self.data, self._data_lock), on_epoch)
                except Exception:
                    self.source_errors[label] = traceback.format_exc()
                    raise
                self.prepared.add(label)
        digest = None
        path = source.trained_model_path(self.settings)
        if path is not None and path.exists():
            digest = self._digest(path)
        return JobResult("passed", detail="model ready", digest=digest)

    def _check_source(self, job: Job) -> None:
        """The source model this process will use is the one the source job made (by digest), on a shared cache."""
        path = self._source_of(job.source, job.experiment.seed).trained_model_path(self.settings)
        if path is not None:
            self._check_made(path, job.source_digest, "source model")

    def _check_training(self, job: Job) -> None:
        """The shared training this process will score is the one its job made (by digest), on a shared cache."""
        self._check_made(self.trainings.weights_path(job.training), job.training_digest, "trained network")

    def _check_made(self, path: Path, digest: str | None, what: str) -> None:
        """``path`` holds what an earlier job made, whose sha256 was ``digest`` (None: nothing to check)."""
        if digest is None:
            return
        if not path.exists():
            raise FileNotFoundError(
                f"{what} {path} is not visible to this worker ({self.label}): the cache folder must be "
                "shared by every worker; set --cache-dir (or TLBENCH_CACHE) to a folder on a shared file system")
        found = self._digest(path)
        if found != digest:
            raise RuntimeError(f"{what} {path} changed after its job ended (sha256 {found[:12]}, expected "
                               f"{digest[:12]}): something else writes this cache folder; run again")

    def _context(self, exp: Experiment, on_epoch) -> tuple[ExperimentContext, object]:
        """The context of experiment ``exp`` (its source already prepared) and its task."""
        from benchmark.run.context import ExperimentContext

        dataset, task = self.catalog.tasks()[exp.target]
        with self._data_lock:
            split = self.data.split(dataset, task, exp.seed)
        source = self._source_of(exp.source, exp.seed) if exp.source in self.sources else None
        return ExperimentContext(split, self.settings, exp.seed, source, on_epoch, self.features), task

    def _shared_training(self, job: Job, on_epoch) -> JobResult:
        """Train the network of ``job``'s shared training unless it is cached (under its lock across processes),
        and keep it under the run folder as ``--keep-models`` says; the result carries its weights file's digest."""
        shared = SHARED_TRAININGS[self.catalog.methods[job.experiment.method].shared_training]
        source_model = self._source_model(job, on_epoch)
        ctx, task = self._context(job.experiment, on_epoch)
        how = ["found in the cache"]
        self.trainings.ensure(job.training, self._trainer(job, ctx, shared, how, source_model),
                              _outdated_by(source_model))
        kept = self._keep_shared(job, ctx, task, shared, replace=how[0] == "trained")
        path = self.trainings.weights_path(job.training)
        digest = self._digest(path) if path.exists() else None
        return JobResult("passed", detail=how[0] + (f"; {kept}" if kept else ""), digest=digest)

    def _source_model(self, job: Job, on_epoch=None) -> str | None:
        """Prepare ``job``'s source where tlbench trains it, and return its model file's sha256 (None for a source
        it does not train, or whose model is kept in memory only)."""
        if job.experiment.source not in self.sources:
            return None
        self._check_source(job)
        return self._prepare_source(job.experiment.source, job.experiment.seed, on_epoch).digest

    def _trainer(self, job: Job, ctx: ExperimentContext, shared, how: list[str], source_model: str | None):
        """The function that makes ``job``'s shared training from the source model ``source_model`` (a digest):
        restored from the run folder's kept model where there is one from that source model, else trained in
        ``ctx``; it returns the state dict and record, and says in ``how[0]`` which."""

        def train() -> tuple[dict, dict]:
            kept = self._kept_training(job)
            if kept is not None and not _outdated_by(source_model)(kept[1]):
                how[0] = "restored from its kept model"
                return kept
            how[0], model = "trained", shared.start(ctx)
            history = ctx.train(model)
            return model.state_dict(), {"identity": training_identity(job.config, shared.name, self.settings),
                                        "source_model": source_model, "history": history, "info": ctx.info,
                                        "seconds": ctx.timings["training"]}

        return train

    def _kept_training(self, job: Job) -> tuple[dict, dict] | None:
        """The weights and record of ``job``'s training from the model the run folder keeps of it (a run resumed
        with another cache folder, or after the cache was cleared), or None where there is none to read."""
        import torch

        path = kept_path(self.run_dir, job.training)
        if not path.is_file():
            return None
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            return payload["state_dict"], payload["about"]["record"]
        except Exception:  # unreadable, or kept by a tlbench that did not record the training: train it again
            return None

    def _scored_network(self, job: Job, ctx: ExperimentContext, source_model: str | None) \
            -> tuple[torch.nn.Module, dict]:
        """The network of ``job``'s shared training (from the source model ``source_model``), rebuilt as its
        training built it and given its trained weights, and the training's record."""
        self._check_training(job)
        shared = SHARED_TRAININGS[self.catalog.methods[job.experiment.method].shared_training]
        try:
            state, record = self.trainings.load(job.training)
        except FileNotFoundError:
            # its job ran in another process, which could not write it to the cache folder (read-only or full)
            log.warning("training %s: not in the cache folder %s (its job could not write it there); training it "
                        "again for %s", job.training[:12], self.trainings.folder, job.experiment.node_id)
            self.trainings.ensure(job.training, self._trainer(job, ctx, shared, ["trained"], source_model))
            state, record = self.trainings.load(job.training)
        model = shared.start(ctx)
        model.load_state_dict(state)
        ctx.adopt_trained(model)
        ctx.info.update(record["info"])
        ctx.info["training"] = job.training
        return model, record

    def _experiment(self, job: Job, on_epoch) -> JobResult:
        import torch

        from benchmark.engine.metrics import compute_metrics

        exp = job.experiment
        durations: dict[str, float] = {}
        started = time.perf_counter()
        try:
            source_model = None
            if exp.source in self.sources:  # its training (or the wait for it) is the source's step, not this one's
                source_model = self._source_model(job, on_epoch)
                durations["source"] = time.perf_counter() - started
                started = time.perf_counter()
            ctx, task = self._context(exp, on_epoch)
            split = ctx.data
            method = self.catalog.methods[exp.method]
            method_started = time.perf_counter()
            if job.training:
                model, training = self._scored_network(job, ctx, source_model)
                result = method.score(ctx, model)
                result.history = result.history or training["history"]
                # the shared training's seconds, spent once for all the methods that score it, count in each
                shared_seconds = ctx.timings["training"] = training["seconds"]
            else:
                result, shared_seconds = method.run(ctx), 0.0
            durations["method"] = time.perf_counter() - method_started + shared_seconds
            durations.update(ctx.timings)
            labels = split.test.labels.numpy()
            metrics = compute_metrics(labels, result.scores, task.classes, self.settings.preset.auc)
            metrics["n_test_groups"] = split.n_test_groups
        except KeyboardInterrupt:
            raise
        except BaseException as error:
            durations["total"] = time.perf_counter() - started
            raise _Timed(traceback.format_exc(), f"{type(error).__name__}: {error}", durations) from error
        durations["total"] = time.perf_counter() - started + shared_seconds
        self._keep(job, ctx, task)
        fields = {
            "split_hash": split.split.hash, "metrics": metrics,
            "scores": {"labels": labels.tolist(), "scores": result.scores.round(6).tolist(),
                       "indices": split.split.test.tolist(),
                       "groups": None if split.test_groups is None else [str(g) for g in split.test_groups]},
            "history": result.history, "durations": durations,
            # on the CPU the thread count changes a training's float sums, so its result: each result says it
            "versions": {**self.versions, "threads": torch.get_num_threads(), **ctx.info, **result.info,
                         **({"source_model": source_model} if source_model else {}),
                         **({"split_note": split.split.note} if split.split.note else {})},
        }
        return JobResult("passed", fields, detail=f"auc={metrics['auc']:.3f}")

    def _keep(self, job: Job, ctx: ExperimentContext, task) -> None:
        """Keep the model the experiment trained under the run folder, as ``--keep-models`` says (before its
        result is stored, so that a stored result's kept model is complete)."""
        from benchmark.engine.inputs import input_of
        from benchmark.engine.models import backbone_of

        model = ctx.trained_model
        if model is None or not should_keep(self.settings.keep_models, model):
            return
        if job.training:  # kept once, by its training job
            path = kept_path(self.run_dir, job.training)
            ctx.info["kept_model"] = str(path.relative_to(self.run_dir)) if path.exists() else \
                "not kept: its training job could not write it (its line in the run's output says why)"
            return
        exp = job.experiment
        about = {"node_id": exp.node_id, "target": exp.target, "source": exp.source, "method": exp.method,
                 "seed": exp.seed, "config_hash": job.id}
        try:
            path = save_model(self.run_dir, job.id, model, backbone_of(model, self.settings.preset.backbone),
                              task.num_classes, input_of(model, self.settings.preset), about,
                              self.settings.preset.image_size)
        except OSError as error:  # the result matters more than its model: store it, say why the model is missing
            ctx.info["kept_model"] = f"not kept: {error}"
            return
        ctx.info["kept_model"] = str(path.relative_to(self.run_dir))

    def _keep_shared(self, job: Job, ctx: ExperimentContext, task, shared, replace: bool) -> str:
        """Keep the network of ``job``'s shared training under the run folder (``models/<training key>.pt``) as
        ``--keep-models`` says, unless it is there (or even then, to ``replace`` it: it was trained again); '' or
        why it could not be kept."""
        from benchmark.engine.inputs import input_of
        from benchmark.engine.models import backbone_of

        path = kept_path(self.run_dir, job.training)
        if self.settings.keep_models == "none" or (path.exists() and not replace):
            return ""
        state, record = self.trainings.load(job.training)
        model = shared.start(ctx)
        model.load_state_dict(state)
        if not should_keep(self.settings.keep_models, model):
            return ""
        exp = job.experiment
        about = {"training": job.training, "target": exp.target, "source": exp.source, "seed": exp.seed,
                 "shared_training": shared.name, "record": record}
        try:
            save_model(self.run_dir, job.training, model, backbone_of(model, self.settings.preset.backbone),
                       task.num_classes, input_of(model, self.settings.preset), about, self.settings.preset.image_size)
        except OSError as error:  # its experiments are stored without it, saying why
            return f"not kept: {error}"
        return ""


def _outdated_by(source_model: str | None) -> Callable[[dict], str]:
    """Whether a shared training's record was trained from another model of its source than ``source_model`` (the
    source was trained again since: its cached model was damaged or removed), and how; a record written before
    tlbench recorded its source model is taken as current."""

    def outdated(record: dict) -> str:
        found = record.get("source_model", source_model)
        if found == source_model:
            return ""
        return (f"was trained from another model of its source ({_short(found)}, now {_short(source_model)}: the "
                "source was trained again)")

    return outdated


def _short(digest: str | None) -> str:
    return f"sha256 {digest[:12]}" if digest else "one not in the cache"


class _Timed(Exception):
    """A failed experiment's traceback with the seconds it ran."""

    def __init__(self, text: str, detail: str, durations: dict):
        super().__init__(detail)
        self.text, self.detail, self.durations = text, detail, durations


class _Locked:
    """``target``'s methods called one at a time, whichever thread calls them."""

    def __init__(self, target, lock: threading.Lock):
        self._target, self._lock = target, lock

    def __getattr__(self, name):
        attribute = getattr(self._target, name)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
            with self._lock:
                return attribute(*args, **kwargs)

        return call


_workers: dict[str, Worker] = {}
_workers_lock = threading.Lock()


def worker_for(spec: WorkSpec) -> Worker:
    """This process's worker for ``spec``, built on first use: the plugins loaded as the driver loaded them, the
    settings' CUDA device mapped to this process's first visible one (a launcher pins each worker to its GPU)."""
    import torch

    with _workers_lock:
        if spec.key not in _workers:
            for entry in reversed(spec.sys_path):
                if entry not in sys.path:
                    sys.path.insert(0, entry)
            os.environ.update(dict(spec.environ))
            if spec.threads is not None:
                torch.set_num_threads(spec.threads)
            from benchmark.registry.assemble import assemble_catalog

            settings = spec.settings
            if settings.device.type == "cuda":
                if not torch.cuda.is_available():
                    raise RuntimeError(f"this worker ({socket.gethostname()}) sees no CUDA device, and the run's "
                                       f"device is {settings.device}: give the launcher GPU workers, or run with "
                                       "--device cpu")
                settings = dataclasses.replace(settings, device=torch.device("cuda"))
            catalog = assemble_catalog(spec.plugin_args, settings.data_root, spec.config_dir, spec.timm_sources)
            _workers[spec.key] = Worker(catalog, settings, spec.run_dir)
        return _workers[spec.key]


def adopt(spec: WorkSpec, catalog: Catalog) -> None:
    """Let jobs of ``spec`` run in this process use ``catalog`` (the driver's own) instead of rebuilding one."""
    with _workers_lock:
        _workers[spec.key] = Worker(catalog, spec.settings, spec.run_dir)


def execute(spec: WorkSpec, job: Job, on_event: EventHandler | None = None) -> JobResult:
    """Run ``job`` in this process (the function a worker process, Ray task or SLURM job calls)."""
    try:
        worker = worker_for(spec)
    except Exception as error:
        return JobResult("failed", error=traceback.format_exc(), detail=f"worker setup: {error}",
                         worker=f"{socket.gethostname()}:{os.getpid()}", started=time.time(), ended=time.time())
    return worker.execute(job, on_event)


def as_row_fields(result: JobResult) -> dict:
    """The store columns of a result (a failed one's traceback in ``error``), with where it ran in ``versions``."""
    fields = dict(result.fields)
    if result.status == "failed":
        fields["error"] = result.error
    fields["versions"] = {**fields.get("versions", {}), "worker": result.worker}
    return fields

