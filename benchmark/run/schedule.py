"""Which job runs next: harness-trained sources first (the jobs that need them wait for them), then the longest
shared trainings (with the experiments that score them) and experiments first, so that the last hour of a run is
not one long job running alone on one GPU.

A job's cost is its forecast seconds: the images it passes through the backbone (a training method's image
count times its epochs plus one, a method that only extracts features its image count once), times seconds per
image-pass learnt from the store's earlier results of the same backbone, image size and device kind, else a
default rate. :func:`simulate` runs the same :class:`Scheduler` against given durations, for the wall-time
forecast a run prints and for ``perf/scaling_sim.py``.
"""

from __future__ import annotations

import heapq
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from benchmark.run.jobs import SOURCE_JOB, Job

# seconds per image passed through the backbone once (forward and backward in training), at 224 px, until the
# store holds an earlier result of the same backbone, image size and device kind to learn from. Until then they
# only set the forecast's scale: training and extracting jobs share the rate, so the order the scheduler picks (by
# the ratios of the costs) does not depend on it. A CPU's rate is a small backbone's, a GPU's VGG16's
DEFAULT_SECONDS_PER_IMAGE = {"cpu": 0.02, "cuda": 1 / 5500}


def image_passes(trains: bool, images: int, max_epochs: int) -> float:
    """The images a job passes through the backbone: every image once per epoch and once more to score it."""
    return images * (max_epochs + 1) if trains else images


@dataclass
class CostModel:
    """Seconds per image-pass, by whether the job trains: learnt from earlier results where there are some."""

    device: str
    image_size: int
    learnt: dict[bool, float] = field(default_factory=dict)
    basis: str = "default rates"

    def seconds(self, trains: bool, passes: float) -> float:
        default = DEFAULT_SECONDS_PER_IMAGE[self.device] * (self.image_size / 224) ** 2
        return passes * self.learnt.get(trains, default)

    @classmethod
    def learn(cls, device: str, image_size: int, samples: Iterable[tuple[bool, float, float]]) -> CostModel:
        """From ``(trains, image_passes, seconds)`` of earlier results run like this one: the median rate of each
        kind (a kind without samples keeps the default rate)."""
        rates: dict[bool, list[float]] = {True: [], False: []}
        for trains, passes, seconds in samples:
            if passes > 0 and seconds > 0:
                rates[trains].append(seconds / passes)
        model = cls(device, image_size, {kind: statistics.median(found) for kind, found in rates.items() if found})
        count = sum(len(found) for found in rates.values())
        if count:
            model.basis = f"{count} earlier result{'s' if count > 1 else ''}"
        return model


class Scheduler:
    """The queue of a run's jobs: :meth:`next` gives the most urgent job that may start (a source job before
    others, the one whose dependents cost most first; then shared trainings and experiments, costliest first, a
    training's cost counting the experiments that score it); a job becomes ready when the job it ``needs`` has
    passed (:meth:`finished`), taking its model digest (a source's, or a shared training's)."""

    def __init__(self, jobs: Iterable[Job]):
        jobs = list(jobs)
        self._waiting: dict[str, list[Job]] = {}
        self._ready: list[tuple] = []
        self._order = 0
        needs = {job.id: job.needs for job in jobs}
        chain_cost = {job.id: job.cost for job in jobs}  # a job's cost and that of every job waiting for it
        for job in jobs:
            ancestor = job.needs
            while ancestor:
                chain_cost[ancestor] = chain_cost.get(ancestor, 0.0) + job.cost
                ancestor = needs.get(ancestor, "")
        self._priority = {job.id: (0 if job.kind == SOURCE_JOB else 1, -chain_cost[job.id]) for job in jobs}
        for job in jobs:
            if job.needs:
                self._waiting.setdefault(job.needs, []).append(job)
            else:
                self.push(job)

    def push(self, job: Job) -> None:
        """Queue ``job`` (again: a retry keeps its priority)."""
        self._order += 1
        heapq.heappush(self._ready, (self._priority[job.id], self._order, job))

    def next(self) -> Job | None:
        return heapq.heappop(self._ready)[2] if self._ready else None

    def finished(self, job: Job, passed: bool, digest: str | None = None) -> list[Job]:
        """Record that ``job`` ended for good. A passed source or training job readies the jobs waiting for it (with
        the model's ``digest``); a failed one returns them, never to run (the caller records why)."""
        waiting = self._waiting.pop(job.id, [])
        if not passed:
            return waiting
        field_name = "source_digest" if job.kind == SOURCE_JOB else "training_digest"
        for dependent in waiting:
            self.push(replace(dependent, **{field_name: digest}))
        return []


def dispatch_order(jobs: Iterable[Job]) -> list[Job]:
    """``jobs`` in the order the :class:`Scheduler` hands them out when each ends as soon as it starts."""
    scheduler, order = Scheduler(jobs), []
    while (job := scheduler.next()) is not None:
        order.append(job)
        scheduler.finished(job, True)
    return order


@dataclass
class Simulation:
    """A simulated run: its wall time, the seconds each slot was busy, and when each job started and ended."""

    wall: float
    busy: list[float]
    timeline: list[tuple[str, int, float, float]]  # job id, slot, start, end

    @property
    def busy_share(self) -> float:
        return sum(self.busy) / (len(self.busy) * self.wall) if self.wall else 0.0


def simulate(jobs: Iterable[Job], slots: int, durations: dict[str, float] | None = None) -> Simulation:
    """Run the :class:`Scheduler` over ``jobs`` on ``slots`` identical slots, each job lasting
    ``durations[job.id]`` (default: its forecast cost)."""
    jobs = list(jobs)
    durations = durations or {}
    scheduler = Scheduler(jobs)
    free = list(range(slots))
    running: list[tuple[float, int, int, Job]] = []  # end, tie-break, slot, job
    clock, count = 0.0, 0
    busy = [0.0] * slots
    timeline = []
    while True:
        while free:
            job = scheduler.next()
            if job is None:
                break
            slot = free.pop(0)
            seconds = durations.get(job.id, job.cost)
            count += 1
            heapq.heappush(running, (clock + seconds, count, slot, job))
            busy[slot] += seconds
            timeline.append((job.id, slot, clock, clock + seconds))
        if not running:
            break
        clock, _, slot, job = heapq.heappop(running)
        free.append(slot)
        free.sort()
        scheduler.finished(job, True)
    return Simulation(clock, busy, timeline)
