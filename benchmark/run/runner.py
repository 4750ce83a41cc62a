"""Running the pending experiments of a plan and recording each one as it ends."""

from __future__ import annotations

import contextlib
import platform
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from enum import Enum
from importlib.metadata import PackageNotFoundError, version

import torch

from benchmark.data.taskdata import TaskData
from benchmark.engine.featurecache import FeatureCache
from benchmark.engine.inputs import input_of
from benchmark.engine.metrics import compute_metrics
from benchmark.engine.models import backbone_of
from benchmark.methods import ExperimentContext
from benchmark.registry.catalog import Catalog
from benchmark.run.keeppolicy import should_keep
from benchmark.run.keptmodels import save_model
from benchmark.run.planner import FAILED, PENDING, Plan, PlannedExperiment
from benchmark.run.progress import RunProgress
from benchmark.run.store import Store
from benchmark.settings import RunSettings


def library_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in ("tlbench", "torch", "timm", "scikit-learn", "numpy"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


class Ended(Enum):
    """How one experiment that this process set out to run ended."""

    PASSED = "passed"
    FAILED = "failed"
    FAILED_KEPT = "failed; the earlier passed result is kept"
    ELSEWHERE = "another process on the run folder claimed it first"

    @property
    def failed(self) -> bool:
        return self in (Ended.FAILED, Ended.FAILED_KEPT)


@dataclass
class RunOutcome:
    passed: int = 0
    failed: int = 0
    kept: int = 0  # of the failed: reruns that left the earlier passed result in place
    elsewhere: int = 0  # run by another process sharing the run folder
    stopped_early: bool = False

    def count(self, ended: Ended) -> None:
        self.passed += ended is Ended.PASSED
        self.failed += ended.failed
        self.kept += ended is Ended.FAILED_KEPT
        self.elsewhere += ended is Ended.ELSEWHERE


class _Serialized:
    """``target``'s methods called one at a time, whichever thread calls them."""

    def __init__(self, target):
        self._target, self._lock = target, threading.Lock()

    def __getattr__(self, name):
        attribute = getattr(self._target, name)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
            with self._lock:
                return attribute(*args, **kwargs)

        return call


class Runner:
    """Runs experiments, ``settings.jobs_per_gpu`` at a time (threads sharing the device, the run's data
    and feature cache; 1: one after another); an experiment that raises is recorded as failed, one that another
    process sharing the run folder claimed first is left to it.

    With several jobs, model initialisation is still seeded per experiment (see :mod:`benchmark.engine.seeding`),
    a source model is prepared once while the experiments that need it wait, and the store, the progress
    display and the task data (loading and splitting) are called one thread at a time. On CUDA each job
    thread queues its work on a stream of its own, so the GPU can run kernels of several experiments at
    once (on one stream they would only take turns).
    """

    def __init__(self, catalog: Catalog, settings: RunSettings, store: Store, progress: RunProgress):
        self.catalog, self.settings, self.store, self.progress = catalog, settings, store, progress
        self._source_lock = threading.Lock()
        self._thread = threading.local()
        self.data = TaskData(settings)
        if settings.jobs_per_gpu > 1:
            self.store, self.progress, self.data = _Serialized(store), _Serialized(progress), _Serialized(self.data)
        self.sources = catalog.all_sources()
        self.source_errors: dict[str, str] = {}
        self.prepared: set[str] = set()
        # how it ran, beside what with: none of it is in the config hash; an experiment's own facts (the SVM
        # backend that actually fitted it) override these run-wide ones in its row
        self.versions = {**library_versions(), "svm_backend": settings.svm_backend, "compile": settings.compile}
        self.features = FeatureCache(settings.cache_dir / "features")

    def run(self, plan: Plan, exitfirst: bool = False) -> RunOutcome:
        outcome = RunOutcome()
        pending = plan.by_state(PENDING)
        # grouping by source lets a source model be trained once, before its first use
        pending.sort(key=lambda p: (p.experiment.source, p.experiment.target, p.experiment.method, p.experiment.seed))
        if self.settings.jobs_per_gpu > 1:
            return self._run_side_by_side(pending, exitfirst)
        for planned in pending:
            if self._tally(planned, self.run_one(planned), outcome, exitfirst):
                break
        return outcome

    @staticmethod
    def _tally(planned: PlannedExperiment, ended: Ended, outcome: RunOutcome, exitfirst: bool) -> bool:
        """Count how ``planned`` ended; whether the run stops there (after a failure, with ``exitfirst``)."""
        outcome.count(ended)
        if not ended.failed:
            return False
        planned.state = FAILED
        outcome.stopped_early = exitfirst
        return exitfirst

    def _run_side_by_side(self, pending: list[PlannedExperiment], exitfirst: bool) -> RunOutcome:
        outcome = RunOutcome()
        pool = ThreadPoolExecutor(self.settings.jobs_per_gpu, thread_name_prefix="tlbench-job")
        try:
            futures = {pool.submit(self.run_one, planned): planned for planned in pending}
            for future in as_completed(futures):
                if self._tally(futures[future], future.result(), outcome, exitfirst):
                    break
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # running experiments end and are recorded
        return outcome

    def _prepare_source(self, name: str) -> None:
        with self._source_lock:
            self._prepare_source_once(name)

    def _prepare_source_once(self, name: str) -> None:
        if name in self.source_errors:
            earlier = self.source_errors[name]
            raise RuntimeError(f"source {name!r} could not be prepared earlier in this run:\n{earlier}")
        if name in self.prepared:
            return
        self.progress.begin(f"preparing source {name}")
        started = time.perf_counter()
        try:
            self.sources[name].prepare(self.settings, self.data, self.progress.epoch)
        except Exception:
            self.source_errors[name] = traceback.format_exc()
            self.progress.source_end(name, time.perf_counter() - started, failed=True)
            raise
        self.prepared.add(name)
        self.progress.source_end(name, time.perf_counter() - started)

    def _job_stream(self):
        """The context running a job on this thread's own CUDA stream (side by side on CUDA only)."""
        if self.settings.jobs_per_gpu == 1 or self.settings.device.type != "cuda":
            return contextlib.nullcontext()
        if not hasattr(self._thread, "stream"):
            self._thread.stream = torch.cuda.Stream(self.settings.device)
        return torch.cuda.stream(self._thread.stream)

    def _keep(self, planned: PlannedExperiment, ctx: ExperimentContext, task) -> None:
        """Keep the model the experiment trained under the run folder, as ``--keep-models`` says (before its
        result is stored, so that a stored result's kept model is complete)."""
        model = ctx.trained_model
        if model is None or not should_keep(self.settings.keep_models, model):
            return
        exp = planned.experiment
        about = {"node_id": exp.node_id, "target": exp.target, "source": exp.source, "method": exp.method,
                 "seed": exp.seed, "config_hash": planned.config_hash}
        try:
            path = save_model(self.store.run_dir, planned.config_hash, model,
                              backbone_of(model, self.settings.preset.backbone), task.num_classes,
                              input_of(model, self.settings.preset), about, self.settings.preset.image_size)
        except OSError as error:  # the result matters more than its model: store it, say why the model is missing
            ctx.info["kept_model"] = f"not kept: {error}"
            return
        ctx.info["kept_model"] = str(path.relative_to(self.store.run_dir))

    def run_one(self, planned: PlannedExperiment) -> Ended:
        """Run and record one experiment, unless another process sharing the run folder claimed it first."""
        with self._job_stream():
            return self._run_one(planned)

    def _run_one(self, planned: PlannedExperiment) -> Ended:
        exp = planned.experiment
        if not self.store.start(planned, str(self.settings.device), asdict(self.settings.preset),
                                planned.notes or None):
            self.progress.end(exp.node_id, "elsewhere", 0.0, Ended.ELSEWHERE.value)
            return Ended.ELSEWHERE
        durations: dict[str, float] = {}
        started = time.perf_counter()
        try:
            source = self.sources.get(exp.source)
            if source is not None:  # its training (or the wait for it) is the source's step, not this experiment's
                self._prepare_source(exp.source)
                durations["source"] = time.perf_counter() - started
                started = time.perf_counter()
            self.progress.begin(exp.node_id)
            dataset, task = self.catalog.tasks()[exp.target]
            split = self.data.split(dataset, task, exp.seed)
            ctx = ExperimentContext(split, self.settings, exp.seed, source, self.progress.epoch, self.features)
            method_started = time.perf_counter()
            result = self.catalog.methods[exp.method].run(ctx)
            durations["method"] = time.perf_counter() - method_started
            durations.update(ctx.timings)
            labels = split.test.labels.numpy()
            metrics = compute_metrics(labels, result.scores, task.classes, self.settings.preset.auc)
            metrics["n_test_groups"] = split.n_test_groups
        except KeyboardInterrupt:
            self.store.forget(planned.config_hash)
            raise
        except BaseException as error:  # SystemExit from a plugin too: it fails this experiment, not the run
            durations["total"] = time.perf_counter() - started
            self.store.finish(
                planned.config_hash, "failed", error=traceback.format_exc(), durations=durations,
                versions=self.versions,
            )
            kept = self.store.status_of(planned.config_hash) == "passed"
            detail = f"{type(error).__name__}: {error}" + ("; the earlier passed result is kept" if kept else "")
            self.progress.end(exp.node_id, "failed", durations["total"], detail)
            return Ended.FAILED_KEPT if kept else Ended.FAILED
        durations["total"] = time.perf_counter() - started
        self._keep(planned, ctx, task)
        self.store.finish(
            planned.config_hash, "passed", split_hash=split.split.hash, metrics=metrics,
            scores={"labels": labels.tolist(), "scores": result.scores.round(6).tolist(),
                    "indices": split.split.test.tolist(),
                    "groups": None if split.test_groups is None else [str(g) for g in split.test_groups]},
            history=result.history, durations=durations, versions={**self.versions, **ctx.info, **result.info},
        )
        self.progress.end(exp.node_id, "passed", durations["total"], f"auc={metrics['auc']:.3f}")
        return Ended.PASSED
