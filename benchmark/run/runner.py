"""The driver: a plan's pending experiments turned into jobs, handed to a launcher in the scheduler's order, and
each result recorded in the store as it comes back (workers never write the store)."""

from __future__ import annotations

import re
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import asdict, dataclass, field
from enum import Enum

from benchmark.launchers import WORKER_LOST, Launcher, LaunchOptions, WorkerLost
from benchmark.registry.catalog import Catalog
from benchmark.run.jobs import (
    EXPERIMENT_JOB,
    SOURCE_JOB,
    TRAINING_JOB,
    Job,
    JobResult,
    WorkSpec,
    adopt,
    as_row_fields,
)
from benchmark.run.planner import FAILED, PENDING, Plan, PlannedExperiment
from benchmark.run.progress import RunProgress
from benchmark.run.schedule import CostModel, Scheduler, image_passes, simulate
from benchmark.run.store import Store
from benchmark.run.trainings import TrainedNetworks, training_key
from benchmark.settings import RunSettings
from benchmark.sources import Source


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
    retried: int = 0  # attempts run again after a failure
    stopped_early: bool = False
    forecast: float = 0.0  # the wall time the scheduler's simulation forecast, seconds
    wall: float = 0.0
    busy: dict[str, float] = field(default_factory=dict)  # device -> share of the wall time it ran a job

    def count(self, ended: Ended) -> None:
        self.passed += ended is Ended.PASSED
        self.failed += ended.failed
        self.kept += ended is Ended.FAILED_KEPT
        self.elsewhere += ended is Ended.ELSEWHERE


def _comparable(error: str) -> str:
    """A traceback without what differs between two runs of the same failure (addresses, worker, timing)."""
    return re.sub(r"0x[0-9a-f]+|\d+\.\d+s", "", error)


def build_jobs(plan: Plan, catalog: Catalog, settings: RunSettings, store: Store | None) -> tuple[list[Job], str]:
    """The pending experiments as jobs, preceded by a job per harness-trained source they use and a job per shared
    training they score (one per target, source, seed and training settings: the methods naming the same
    :attr:`Method.shared_training` score one network), each with its forecast seconds; and what the forecast is
    based on."""
    preset = settings.preset
    methods, sources = catalog.methods, catalog.all_sources()
    images = plan.images

    def like_this_run(row: dict) -> bool:
        return (row["preset"] or {}).get("backbone") == preset.backbone and \
            (row["preset"] or {}).get("image_size") == preset.image_size and \
            row["config"].get("runtime", {}).get("device") == settings.device.type

    samples = [(methods[row["method"]].trains, image_passes(methods[row["method"]].trains, images[row["target"]],
                                                            row["preset"]["max_epochs"]),
                row["durations"]["total"])
               for row in (store.rows("passed") if store is not None else [])
               if row["method"] in methods and row["target"] in images and row["durations"] and like_this_run(row)]
    model = CostModel.learn(settings.device.type, preset.image_size, samples)
    jobs, source_jobs, training_jobs = [], {}, {}
    trainings = TrainedNetworks(settings.cache_dir)
    for planned in plan.by_state(PENDING):
        exp = planned.experiment
        source = sources.get(exp.source)
        needs = ""
        if source is not None and source.trained_on is not None:
            seeded = source.for_seed(settings, exp.seed)
            path = seeded.trained_model_path(settings)
            if path.name not in source_jobs:
                cost = 0.0 if path.exists() else model.seconds(True, image_passes(
                    True, _image_count(source, settings), preset.max_epochs))
                source_jobs[path.name] = Job(SOURCE_JOB, f"source:{path.name}", f"source {seeded.label}", exp.source,
                                             cost=cost, trains=not path.exists(), seed=exp.seed)
            needs = source_jobs[path.name].id
        method = methods[exp.method]
        passes = image_passes(method.trains, images.get(exp.target, 0), preset.max_epochs)
        key = training_key(planned.config, method.shared_training, settings) if method.shared_training else ""
        if key:
            if key not in training_jobs:
                cached = trainings.weights_path(key).exists()
                training_jobs[key] = Job(
                    TRAINING_JOB, f"training:{key}", f"{exp.target}::{exp.source}::{method.shared_training}"
                    f"[seed={exp.seed}]", exp.source, exp, planned.config, needs=needs,
                    cost=0.0 if cached else model.seconds(True, passes), training=key, trains=not cached)
            needs, passes = training_jobs[key].id, image_passes(False, images.get(exp.target, 0), 0)
        cost = model.seconds(method.trains and not key, passes)
        jobs.append(Job(EXPERIMENT_JOB, planned.config_hash, exp.node_id, exp.source, exp, planned.config,
                        planned.notes, needs, cost=cost, training=key, trains=method.trains and not key))
    return [*source_jobs.values(), *training_jobs.values(), *jobs], model.basis


def _image_count(source: Source, settings: RunSettings) -> int:
    """How many images the harness trains ``source`` on."""
    dataset, task = source.trained_on
    counts, _ = dataset.class_counts(task, settings.data_root)
    return int(counts.sum())


def _device_of(slot: str, worker: str) -> str:
    """The device a job ran on: its slot's (``gpu0/1``: ``gpu0``), else its worker's host and device."""
    if "/" in slot:
        return slot.split("/")[0]
    host, _, rest = worker.partition(":")
    return f"{host}:{rest.partition(':')[2]}"


def _busy_shares(intervals: dict[str, list[tuple[float, float]]], started: float, ended: float) -> dict[str, float]:
    """Each device's share of ``started``..``ended`` during which at least one of its jobs ran."""
    shares = {}
    for device, spans in intervals.items():
        covered, reach = 0.0, started
        for begin, end in sorted(spans):
            begin = max(begin, reach)
            if end > begin:
                covered, reach = covered + end - begin, end
        shares[device] = covered / (ended - started) if ended > started else 0.0
    return shares


class Runner:
    """Runs a plan's pending experiments through ``launcher``: harness-trained sources first (each once, its
    experiments waiting for it), then the costliest experiments first, at most the session's capacity at once.
    Each experiment is claimed in the store as it is handed out (another process sharing the run folder may have
    claimed it first: it is left to it) and recorded when its result comes back. A failure (an exception, or the
    worker's death) is retried up to ``retries`` times, on another slot where one is free, unless it failed with
    the same traceback as the attempt before; ``exitfirst`` stops handing out work at the first failure."""

    def __init__(self, catalog: Catalog, settings: RunSettings, store: Store, progress: RunProgress,
                 launcher: Launcher, options: LaunchOptions, spec: WorkSpec, retries: int = 1):
        self.catalog, self.settings, self.store, self.progress = catalog, settings, store, progress
        self.launcher, self.options, self.spec, self.retries = launcher, options, spec, retries
        self.preset = asdict(settings.preset)
        self.claimed: set[str] = set()  # experiments claimed in the store and not recorded yet
        self.lines: dict[str, str] = {}  # job id -> its progress line, while it runs

    def run(self, plan: Plan, exitfirst: bool = False, on_forecast=None) -> RunOutcome:
        """Run the plan; ``on_forecast(seconds, slots, basis)`` is called with the scheduler's forecast once the
        session is open."""
        outcome = RunOutcome()
        planned_by_id = {p.config_hash: p for p in plan.by_state(PENDING)}
        jobs, basis = build_jobs(plan, self.catalog, self.settings, self.store)
        if not jobs:
            return outcome
        adopt(self.spec, self.catalog)  # a session running jobs in this process uses this catalog, not a rebuilt one
        scheduler = Scheduler(jobs)
        tries: dict[str, int] = {}
        last_error: dict[str, str] = {}
        slots: dict[str, str] = {}
        intervals: dict[str, list[tuple[float, float]]] = {}
        in_flight: dict[Future, Job] = {}
        stopping = False
        started = time.time()
        with self.launcher.open(self.spec, self.options) as session:
            outcome.forecast = simulate(jobs, session.capacity).wall
            if on_forecast is not None:
                on_forecast(outcome.forecast, session.capacity, basis)
            try:
                while True:
                    while not stopping and len(in_flight) < session.capacity:
                        job = scheduler.next()
                        if job is None:
                            break
                        if job.kind == EXPERIMENT_JOB and not self._claim(planned_by_id[job.id], outcome):
                            scheduler.finished(job, False)
                            continue
                        tries[job.id] = tries.get(job.id, 0) + 1
                        future = session.submit(job, self._events(job, slots), avoid=slots.get(job.id, ""))
                        in_flight[future] = job
                    session.flush()
                    if not in_flight:
                        break
                    done, _ = wait(in_flight, timeout=1.0, return_when=FIRST_COMPLETED)
                    for future in done:
                        job = in_flight.pop(future)
                        result = self._result_of(future)
                        slot = slots.get(job.id, "")
                        self.progress.idle(self._release_line(job))
                        if result.started:
                            intervals.setdefault(_device_of(slot, result.worker), []).append(
                                (result.started, result.ended))
                        retry = result.status == "failed" and self._may_retry(job, result, tries, last_error,
                                                                              exitfirst)
                        if job.kind != EXPERIMENT_JOB:
                            self._prerequisite_ended(job, result, retry, scheduler, planned_by_id, outcome)
                        else:
                            self._experiment_ended(job, result, retry, planned_by_id[job.id], outcome)
                        if retry:
                            outcome.retried += 1
                            self.progress.retry(job.label, tries[job.id], self.retries, result.detail)
                            scheduler.push(job)
                        elif result.status == "passed" and job.kind != EXPERIMENT_JOB:
                            scheduler.finished(job, True, result.digest)
                        if outcome.failed and exitfirst:
                            stopping = outcome.stopped_early = True
            except BaseException:  # interrupted: what is still running is not recorded as run
                for config_hash in self.claimed:
                    self.store.forget(config_hash)
                raise
        outcome.wall = time.time() - started
        outcome.busy = _busy_shares(intervals, started, started + outcome.wall)
        return outcome

    def _events(self, job: Job, slots: dict[str, str]):
        def on_event(event) -> None:
            kind, value = event
            if kind == "started":
                slots[job.id] = value
                self.progress.begin(job.label, self._take_line(job, value))
            elif kind == "epoch":
                self.progress.epoch(value, self.lines.get(job.id, ""))
        return on_event

    def _take_line(self, job: Job, slot: str) -> str:
        """The progress line of a job started on ``slot``: the slot's own, or a numbered one beside it where a
        launcher names no slot of its own (every Ray task is on ``ray``)."""
        line, number = slot, 2
        while line in self.lines.values():
            line, number = f"{slot} #{number}", number + 1
        self.lines[job.id] = line
        return line

    def _release_line(self, job: Job) -> str:
        return self.lines.pop(job.id, "")

    def _claim(self, planned: PlannedExperiment, outcome: RunOutcome) -> bool:
        if self.store.start(planned, str(self.settings.device), self.preset, planned.notes or None):
            self.claimed.add(planned.config_hash)
            return True
        self.progress.end(planned.experiment.node_id, "elsewhere", 0.0, Ended.ELSEWHERE.value)
        outcome.count(Ended.ELSEWHERE)
        return False

    @staticmethod
    def _result_of(future: Future) -> JobResult:
        """The job's result; a worker's death, or a launcher's error, as a failed one."""
        try:
            return future.result()
        except WorkerLost as error:
            return JobResult("failed", error=f"{WORKER_LOST}: {error}", detail=f"worker lost: {error}")
        except Exception as error:  # the launcher could not run it (pickling, a cluster's own error)
            return JobResult("failed", error=traceback.format_exc(), detail=f"launcher: {type(error).__name__}: "
                                                                            f"{error}")

    def _may_retry(self, job: Job, result: JobResult, tries: dict, last_error: dict, exitfirst: bool) -> bool:
        """Whether ``job``'s failure is retried: retries left, no -x, and not the same traceback as the last."""
        previous = last_error.get(job.id)
        last_error[job.id] = _comparable(result.error)
        if exitfirst or tries[job.id] > self.retries:
            return False
        return previous is None or previous != last_error[job.id]

    def _experiment_ended(self, job: Job, result: JobResult, retry: bool, planned: PlannedExperiment,
                          outcome: RunOutcome) -> None:
        """Record the attempt; count it, unless it is retried."""
        fields = as_row_fields(result)
        self.store.finish(job.id, result.status, **fields)
        self.claimed.discard(job.id)
        if retry:
            return
        seconds = (fields.get("durations") or {}).get("total", result.seconds)
        if result.status == "passed":
            ended = Ended.PASSED
        else:
            ended = Ended.FAILED_KEPT if self.store.status_of(job.id) == "passed" else Ended.FAILED
            planned.state = FAILED
        detail = result.detail + ("; the earlier passed result is kept" if ended is Ended.FAILED_KEPT else "")
        self.progress.end(job.label, result.status, seconds, detail)
        outcome.count(ended)

    def _prerequisite_ended(self, job: Job, result: JobResult, retry: bool, scheduler: Scheduler,
                            planned_by_id: dict[str, PlannedExperiment], outcome: RunOutcome) -> None:
        """A source or shared training job ended: when it failed for good, so does every experiment that needs it
        (a source's, through its training jobs too)."""
        if result.status == "passed" or retry:
            if result.status == "passed":
                self._announce(job, result)
            return
        self._announce(job, result, failed=True)
        why = (f"source {_source_shown(job)!r} could not be prepared" if job.kind == SOURCE_JOB
               else f"its shared training {job.label} failed")
        for dependent in _stranded(scheduler, job):
            planned = planned_by_id[dependent.id]
            if not self._claim(planned, outcome):
                continue
            failed = JobResult("failed", error=f"{why}:\n{result.error}", detail=f"{why}: {result.detail}")
            self._experiment_ended(dependent, failed, False, planned, outcome)

    def _announce(self, job: Job, result: JobResult, failed: bool = False) -> None:
        if job.kind == SOURCE_JOB:
            self.progress.source_end(_source_shown(job), result.seconds, failed=failed)
        else:
            self.progress.training_end(job.label, result.seconds, result.detail, failed=failed)


def _source_shown(job: Job) -> str:
    """A source job's source as the run's output names it: its label (with the seed where trained per seed)."""
    return job.label.removeprefix("source ")


def _stranded(scheduler: Scheduler, job: Job) -> list[Job]:
    """The experiments that can no longer run now that ``job`` failed for good: those waiting for it, and those
    waiting for a training job that waits for it."""
    stranded = []
    for dependent in scheduler.finished(job, False):
        stranded += _stranded(scheduler, dependent) if dependent.kind == TRAINING_JOB else [dependent]
    return stranded
