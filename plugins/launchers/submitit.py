"""The ``submitit`` launcher: each job a SLURM job, submitted with submitit as one job array per batch handed out.

The driver (``tlbench run``) stays where it was started, a login node, while the jobs run on the cluster's
nodes: each array task unpickles its job and the run's :class:`benchmark.WorkSpec` from ``RUN/submitit`` and
calls :func:`run_job`; the driver polls for the results there and alone writes the store. So the run folder, the
cache folder (``--cache-dir``) and tlbench itself (the same environment) must be visible on every node.

Its options (``--launcher-option KEY=VALUE``, or the ``[launcher.submitit]`` table) are :data:`OPTIONS`. The
option ``executor=local`` runs the same jobs through submitit's stand-in on this machine (a process per job, all
started at once, so no more at a time than the cores allow) and ``debug`` in this process, one at a time (a job
that raises drops into pdb); both to try a run without SLURM.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path

import benchmark  # benchmark.execute: the engine loads when a job runs, not when the plugin does
from benchmark import Launcher, LauncherOption, LaunchError, LaunchOptions, Session, WorkerLost, hookimpl

EXECUTORS = ("slurm", "local", "debug")
DEFAULT_TIME_MIN = 240
DEFAULT_ARRAY_PARALLELISM = 64
POLL_SECONDS = 1.0
_TAIL_BYTES = 4096
CONTROLLERS_LOG = "local-controllers.log"  # the stderr of the local stand-in's job controllers
OPTIONS = (
    LauncherOption("executor", str, "slurm", "slurm, or local / debug: submitit's stand-ins on this machine, "
                   "without SLURM", choices=EXECUTORS),
    LauncherOption("partition", str, None, "the SLURM partition (sinfo lists them) [default: the cluster's]"),
    LauncherOption("time_min", int, DEFAULT_TIME_MIN, "each job's time limit, minutes", minimum=1),
    LauncherOption("gpus_per_job", int, None, "GPUs per job [default: 1 where the run's device is CUDA, else 0]",
                   minimum=0),
    LauncherOption("array_parallelism", int, DEFAULT_ARRAY_PARALLELISM, "jobs of an array running at once",
                   minimum=1),
)


def run_job(spec, job):
    """What every array task runs: ``job`` executed with the run's ``spec`` (its result pickled back by submitit).

    The job runs in a thread of its own: SLURM's warning signal (time limit near, or preemption) makes submitit's
    handler raise or requeue in the main thread, which must be here, waiting, and not inside the job, whose
    every exception is recorded as the experiment's own failure."""
    results = []
    worker = threading.Thread(target=lambda: results.append(benchmark.execute(spec, job)), name="tlbench-job",
                              daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(POLL_SECONDS)
    if not results:
        raise RuntimeError(f"the job {job.label} ended without a result (interrupted)")
    return results[0]


@dataclass(frozen=True)
class SlurmParameters:
    """The launcher's options (``--launcher-option``, else ``[launcher.submitit]``, else the defaults), checked."""

    executor: str
    partition: str | None
    time_min: int
    gpus_per_job: int
    array_parallelism: int
    cpus_per_job: int | None

    @classmethod
    def of(cls, options: LaunchOptions, spec) -> SlurmParameters:
        """LaunchError for a value SLURM or submitit would refuse, naming the option."""
        own = SubmititLauncher().check_options(options.own, "submitit option")
        gpus = own["gpus_per_job"] if own["gpus_per_job"] is not None else int(spec.settings.device.type == "cuda")
        return cls(own["executor"], own["partition"], own["time_min"], gpus, own["array_parallelism"],
                   options.cpus_per_job)

    def for_submitit(self) -> dict:
        """submitit's AutoExecutor parameters (the ``slurm_`` ones are ignored by its stand-ins)."""
        given = {"timeout_min": self.time_min, "gpus_per_node": self.gpus_per_job or None,
                 "cpus_per_task": self.cpus_per_job, "slurm_partition": self.partition,
                 "slurm_array_parallelism": self.array_parallelism}
        return {key: value for key, value in given.items() if value is not None}

    def sbatch_header(self, tasks: int) -> list[str]:
        """The ``#SBATCH`` lines that choose resources, for an array of ``tasks`` tasks."""
        lines = [f"#SBATCH --partition={self.partition}"] if self.partition else []
        lines.append(f"#SBATCH --time={self.time_min}")
        if self.gpus_per_job:
            lines.append(f"#SBATCH --gpus-per-node={self.gpus_per_job}")
        if self.cpus_per_job:
            lines.append(f"#SBATCH --cpus-per-task={self.cpus_per_job}")
        lines.append(f"#SBATCH --array=0-{tasks - 1}%{min(tasks, self.array_parallelism)}")
        return lines

    def capacity(self) -> int:
        """Jobs at once: the array's parallelism; the local stand-in starts every job it is given at once, so no
        more than this machine's cores allow; debug runs one at a time."""
        if self.executor == "debug":
            return 1
        if self.executor == "local":
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
            return max(1, min(self.array_parallelism, cores // (self.cpus_per_job or 1)))
        return self.array_parallelism


def _tail(path, lines: int = 1) -> str:
    """The last non-empty ``lines`` of a log file ("" when there is none)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - _TAIL_BYTES))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return " | ".join([line.strip() for line in text.splitlines() if line.strip()][-lines:])


def _lost_reason(handle, error: Exception) -> str:
    """Why a submitit job left no result: its state, the last line of its log (SLURM's time limit or
    out-of-memory notice, or a traceback's last line), and where that log is."""
    try:
        state = handle.state
    except Exception:  # the cluster could not be asked: the rest still says enough
        state = "unknown state"
    why = _tail(handle.paths.stderr) or (str(error).strip().splitlines() or [type(error).__name__])[0]
    return f"submitit job {handle.job_id} ({state}) left no result: {why}; log: {handle.paths.stderr}"


def _outcome(handle):
    """What the future of the ended submitit job ``handle`` gets: its result, or WorkerLost when it left none."""
    from submitit.core.utils import UncompletedJobError

    try:
        return handle.result()
    except UncompletedJobError as error:  # FailedJobError is one too
        return WorkerLost(_lost_reason(handle, error))


@contextlib.contextmanager
def stderr_into(log: Path | None) -> Iterator[None]:
    """Processes started inside the block write their stderr to ``log`` (appended; None: where this one's goes).

    submitit's local stand-in starts a controller process per job, in the driver's process group and with its
    stderr: on Ctrl-C the controllers stop their jobs but print KeyboardInterrupt tracebacks, which go to the log
    instead of the terminal, after tlbench's own "interrupted" line."""
    if log is None:
        yield
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(log, "ab") as handle:
            os.dup2(handle.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class SubmititSession(Session):
    """Jobs held by :meth:`submit` go out as one job array at :meth:`flush`; a thread polls the submitted jobs
    and settles each one's future: its result, or :class:`benchmark.WorkerLost` when the job died (killed,
    timed out, out of memory, node lost) or its Python could not run the job (tlbench missing on the node).
    ``children_log``: where the processes started on this machine (``local`` executor) write their stderr."""

    def __init__(self, executor, spec, capacity: int, children_log: Path | None = None):
        self.executor, self.spec, self.capacity = executor, spec, capacity
        self.children_log = children_log
        self._held: list[tuple[object, object, Future]] = []  # job, event handler, future
        self._running: dict[str, tuple[object, Future]] = {}  # submitit job id -> its handle, future
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="tlbench-submitit", daemon=True)
        self._watcher.start()

    def submit(self, job, on_event, avoid: str = "") -> Future:
        future: Future = Future()
        self._held.append((job, on_event, future))
        return future

    def flush(self) -> None:
        """Submit the held jobs as one array; LaunchError when the cluster refuses it (a wrong partition, a
        time over the partition's limit)."""
        if not self._held:
            return
        held, self._held = self._held, []
        try:
            with stderr_into(self.children_log):
                handles = self.executor.map_array(run_job, [self.spec] * len(held), [job for job, _, _ in held])
        except Exception as error:
            for _, _, future in held:
                future.cancel()
            raise LaunchError(f"submitit could not submit {len(held)} job(s): {error}".strip()) from error
        with self._lock:
            for (_, _, future), handle in zip(held, handles, strict=True):
                self._running[handle.job_id] = (handle, future)
        for (_, on_event, _), handle in zip(held, handles, strict=True):
            on_event(("started", f"slurm {handle.job_id}"))  # no "/": the node is unknown until it runs

    def _watch(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            with self._lock:
                running = list(self._running.items())
            for job_id, (handle, future) in running:
                if self._stop.is_set():
                    return
                try:
                    if not handle.done():  # the debug stand-in runs the job here
                        continue
                    outcome = _outcome(handle)
                except Exception as error:  # its state or result could not be read: its future says so
                    outcome = error
                with self._lock:
                    if self._running.pop(job_id, None) is None:  # close() settled it meanwhile
                        continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    def close(self) -> None:
        """Stop polling and cancel the jobs still queued or running (their results would go unrecorded)."""
        self._stop.set()
        self._watcher.join(timeout=10 * POLL_SECONDS)
        with self._lock:
            running, self._running = list(self._running.values()), {}
        for handle, future in running:
            try:
                handle.cancel(check=False)
            except OSError:  # scancel gone: the job ends at its time limit
                pass
            future.set_exception(WorkerLost(f"submitit job {handle.job_id} cancelled: the run ended before it"))
        for _, _, future in self._held:
            future.cancel()
        self._held = []


class SubmititLauncher(Launcher):
    name = "submitit"
    description = ("SLURM through submitit: each job an array task (options partition, time_min, gpus_per_job, "
                   "array_parallelism; --cpus-per-job); option executor=local/debug tries it without SLURM")
    options = OPTIONS

    def available(self) -> str | None:
        try:
            import submitit  # noqa: F401
        except ImportError:
            return "submitit is not installed: pip install 'tlbench[slurm]'"
        return None

    def open(self, spec, options: LaunchOptions) -> Session:
        import submitit

        parameters = SlurmParameters.of(options, spec)
        if parameters.executor == "slurm" and shutil.which("srun") is None:
            raise LaunchError("--launcher submitit: no SLURM here (srun is not on PATH): run tlbench on the "
                              "cluster's login node, or add --launcher-option executor=local to try it on this machine")
        executor = submitit.AutoExecutor(folder=options.run_dir / "submitit", cluster=parameters.executor)
        try:
            executor.update_parameters(**parameters.for_submitit())
        except (ValueError, AssertionError) as error:
            raise LaunchError(f"submitit refuses these SLURM parameters: {error}") from error
        children_log = options.run_dir / "submitit" / CONTROLLERS_LOG if parameters.executor == "local" else None
        # torch's threads are the CPUs each task asked for, as on Ray: a training's float sums depend on the count
        threads = parameters.cpus_per_job or spec.threads
        return SubmititSession(executor, replace(spec, threads=threads), parameters.capacity(), children_log)

    def describe(self, jobs, spec, options: LaunchOptions) -> list[str]:
        parameters = SlurmParameters.of(options, spec)
        if not jobs:
            return ["nothing to submit"]
        capacity = parameters.capacity()
        timeline = sorted(benchmark.simulate(jobs, capacity).timeline, key=lambda t: t[2])
        # the first flush: as many jobs as may run, of those that wait for no source's training
        first = [job.id for job in jobs if not job.needs][:capacity]
        folder = options.run_dir / "submitit"
        if parameters.executor == "slurm":
            lines = [f"sbatch job arrays from {folder}, at most {capacity} job(s) at once; the first array:",
                     *(f"  {line}" for line in parameters.sbatch_header(len(first)))]
        else:
            lines = [f"submitit's {parameters.executor} executor: on this machine instead of SLURM, at most "
                     f"{capacity} job(s) at once, logs in {folder}"]
        lines.append(f"  each task runs {__name__}.run_job(spec, job); later jobs go out as others end, in arrays "
                     "of their own")
        by_id = {job.id: job for job in jobs}
        lines += [f"  task {i}: {by_id[job_id].label} (~{by_id[job_id].cost:.0f}s)" for i, job_id in enumerate(first)]
        lines += [f"  at +{start:.0f}s: {by_id[job_id].label} (~{end - start:.0f}s)"
                  for job_id, _, start, end in timeline if job_id not in first]
        return lines


@hookimpl
def tlbench_register_launchers(register):
    register(SubmititLauncher())
