"""The ``ray`` launcher: each job a Ray task, on a local Ray started for the run or on a Ray cluster.

Its option ``address`` (``--launcher-option address=auto``, or ``address`` in ``[launcher.ray]``) joins a cluster
(``auto``: the one this machine belongs to); without it a Ray is started on
this machine and shut down at the end, unless this process already has one (then it is used and left running);
the Ray started here is watched so that its agents end with this process even when it is killed (see
:mod:`tlbench_plugins.launchers.raywatch`).
A task asks for ``1/--jobs-per-gpu`` of a GPU when the run's device is CUDA, and ``--cpus-per-job`` CPUs
(default 1), torch's thread count inside it. Ray never retries a task itself: the driver does (``--retries``),
so that a job that fails the same way twice is not run a third time. A task whose worker or node died (killed,
out of memory) ends as :class:`benchmark.WorkerLost`. Every node needs tlbench and the plugins installed, the
same data paths, and the cache and run folders on a shared file system.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from concurrent.futures import Future

import benchmark  # benchmark.execute: the engine loads when a job runs, not when the plugin does
from benchmark import Launcher, LauncherOption, LaunchError, LaunchOptions, Session, WorkerLost, hookimpl
from tlbench_plugins.launchers.raywatch import watch_ray

# the driver's variables a task's worker gets (plugins may be steered by them, as under the local launcher)
_FORWARDED_PREFIX = "TLBENCH_"


def _ray():
    import ray

    return ray


def task_options(spec, options: LaunchOptions) -> dict:
    """The Ray resources of each job's task."""
    return {"num_gpus": 1 / options.jobs_per_gpu if spec.settings.device.type == "cuda" else 0,
            "num_cpus": options.cpus_per_job or 1, "max_retries": 0}


def task_spec(spec, options: LaunchOptions, environ=os.environ):
    """The spec each task gets: torch's threads are its CPUs, and the driver's ``TLBENCH_*`` variables are set in
    its worker (in the spec rather than a Ray runtime_env, whose every change starts fresh worker processes)."""
    forwarded = {**dict(spec.environ), **{k: v for k, v in environ.items() if k.startswith(_FORWARDED_PREFIX)}}
    return dataclasses.replace(spec, threads=task_options(spec, options)["num_cpus"],
                               environ=tuple(sorted(forwarded.items())))


def capacity_of(resources: dict, spec, options: LaunchOptions) -> int:
    """Jobs the cluster's ``resources`` (``ray.cluster_resources()``) run at once: its GPUs times
    ``jobs_per_gpu`` on CUDA, else its CPUs over ``cpus_per_job``; at least 1."""
    if spec.settings.device.type == "cuda":
        slots = int(resources.get("GPU", 0) * options.jobs_per_gpu)
    else:
        slots = int(resources.get("CPU", 0) // (options.cpus_per_job or 1))
    return max(1, slots)


def _worker_death_errors() -> tuple[type[BaseException], ...]:
    """Ray's errors for a task that could not finish because a process, node or object of it was lost."""
    errors = _ray().exceptions
    return (errors.WorkerCrashedError, errors.NodeDiedError, errors.OutOfMemoryError, errors.ObjectLostError,
            errors.RayActorError, errors.LocalRayletDiedError)


def deliver(done: Future, future: Future, lost: tuple[type[BaseException], ...]) -> None:
    """Settle ``future`` from a Ray task's ``done`` one: its result; WorkerLost for an error in ``lost``; any other
    error as it is (the task raised although execute() catches what a job raises: the launcher's own error)."""
    error = done.exception()
    if error is None:
        future.set_result(done.result())
    elif isinstance(error, lost):
        future.set_exception(WorkerLost(f"Ray {type(error).__name__}: {error}"))
    else:
        future.set_exception(error)


class RaySession(Session):
    """Jobs submitted as Ray tasks; their futures carry the JobResult, or WorkerLost when the task's worker died."""

    def __init__(self, spec, options: LaunchOptions):
        ray = _ray()
        self._pending: set = set()
        self._lock = threading.Lock()
        self._started = not ray.is_initialized()
        self._watch = None
        address = options.own.get("address")
        if self._started:
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            try:
                ray.init(address=address or None, include_dashboard=False,
                         logging_level=logging.WARNING, log_to_driver=False)
            except ConnectionError as error:
                raise LaunchError(f"--launcher ray: no Ray cluster at address {address}: {error} (start one with "
                                  "`ray start --head`, or leave the launcher option address out for a local "
                                  "Ray)") from error
        # a Ray started here has its agents stopped with this process, even one killed with kill -9
        self._watch = watch_ray() if self._started and not address else None
        resources = ray.cluster_resources()
        if spec.settings.device.type == "cuda" and not resources.get("GPU"):
            self.close()
            raise LaunchError("--launcher ray: the run's device is CUDA and the Ray cluster has no GPU: add GPU "
                              "nodes, or run with --device cpu")
        self._spec = task_spec(spec, options)
        self._remote = ray.remote(benchmark.execute).options(**task_options(spec, options))
        self._lost = _worker_death_errors()
        self.capacity = capacity_of(resources, spec, options)

    def submit(self, job, on_event, avoid: str = "") -> Future:
        reference = self._remote.remote(self._spec, job)
        with self._lock:
            self._pending.add(reference)
        on_event(("started", "ray"))
        future: Future = Future()
        reference.future().add_done_callback(lambda done: self._settle(reference, done, future))
        return future

    def _settle(self, reference, done: Future, future: Future) -> None:
        with self._lock:
            self._pending.discard(reference)
        deliver(done, future, self._lost)

    def close(self) -> None:
        ray = _ray()
        with self._lock:
            running, self._pending = self._pending, set()
        for reference in running:
            ray.cancel(reference, force=True)
        if self._started:
            ray.shutdown()
        if self._watch is not None:
            self._watch.stdin.close()  # the watch stops what shutdown left of this Ray, then ends
            self._watch.wait()
            self._watch = None


class RayLauncher(Launcher):
    name = "ray"
    description = ("Ray: each job a task on a local Ray or a cluster (option address), 1/--jobs-per-gpu GPU on CUDA, "
                   "--cpus-per-job CPUs")
    options = (LauncherOption("address", str, None, "the Ray cluster to join (auto: the one this machine belongs to) "
                                                     "[default: a Ray started on this machine for the run]"),)

    def available(self) -> str | None:
        try:
            import ray  # noqa: F401
        except ImportError:
            return "Ray is not installed: install it with pip install 'tlbench[ray]'"
        return None

    def open(self, spec, options: LaunchOptions) -> Session:
        return RaySession(spec, options)

    def describe(self, jobs, spec, options: LaunchOptions) -> list[str]:
        settings, sent = task_options(spec, options), task_spec(spec, options)
        address = options.own.get("address")
        where = f"the Ray cluster at {address}" if address else \
            "a Ray started on this machine (or this process's own)"
        lines = [f"{len(jobs)} Ray task(s) on {where}, each ray.remote(num_gpus={settings['num_gpus']:g}, "
                 f"num_cpus={settings['num_cpus']}, max_retries={settings['max_retries']}); runtime: torch threads "
                 f"{sent.threads}, environment {dict(sent.environ)}, sys.path of this process; tlbench and the "
                 "plugins installed on every node"]
        lines += [f"  task {i}: {job.label}" + (f" (after {job.needs})" if job.needs else "")
                  for i, job in enumerate(jobs, 1)]
        return lines


@hookimpl
def tlbench_register_launchers(register):
    register(RayLauncher())
