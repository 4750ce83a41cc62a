"""Launchers: where the jobs of a run execute (this process, one worker process per GPU, a Ray cluster, SLURM).

The driver (``tlbench run``) plans, orders and records; a launcher only executes. It opens a :class:`Session`
whose :meth:`Session.submit` takes one job (:class:`benchmark.run.jobs.Job`: a pure unit of work, its whole
configuration in, its result out) and returns a :class:`concurrent.futures.Future` of the job's
:class:`benchmark.run.jobs.JobResult`. A job that could not finish because its worker died (killed, out of memory,
node lost) sets the future's exception to :class:`WorkerLost`; a job whose code raised still returns a result (a
failed one, with its traceback). The driver keeps at most :attr:`Session.capacity` jobs submitted and not done,
so a launcher needs no queue of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# jobs (benchmark.run.jobs.Job) and specs (benchmark.run.jobs.WorkSpec) are typed Any here: importing them, even
# for type checking only, would be an import circle (benchmark.run.jobs imports this module through the catalog)

# how the error of an experiment whose worker died begins: such a failure is the machine's, not the experiment's,
# so a later run retries it (see benchmark.run.resume)
WORKER_LOST = "tlbench: worker lost"


class WorkerLost(Exception):
    """The job's worker died before the job ended; the message says how (exit code, signal, lost node)."""


class LaunchError(Exception):
    """The launcher cannot run jobs with these options here (no cluster at the address given, no GPU for a CUDA
    run, a parameter it refuses, a submission refused); the message says what to do. The run stops; its
    unfinished experiments stay unrecorded."""


@dataclass(frozen=True)
class LaunchOptions:
    """What the user chose for the launcher (``tlbench run`` options, else the config file's ``[launcher]`` table).

    ``jobs_per_gpu``: jobs sharing one GPU (threads of one worker under ``local``; a fraction of a GPU under Ray and
    SLURM); ``cpus_per_job``: CPU cores a job is given (torch's thread count inside it; None: the launcher's
    default); ``ray_address``: a Ray cluster (``auto``: the one this machine belongs to; None: a local Ray);
    ``slurm``: SLURM parameters (``partition``, ``time_min``, ``gpus_per_job``, ``array_parallelism``,
    ``executor``: ``slurm``, or ``local``/``debug`` to run without SLURM); ``run_dir``: the run folder, shared with
    every worker (as is the cache folder).
    """

    run_dir: Path
    jobs_per_gpu: int = 1
    cpus_per_job: int | None = None
    ray_address: str | None = None
    slurm: dict = field(default_factory=dict)


# what a session reports of a job: ("started", slot) when it starts on a slot (``gpu0/1``: device, then slot; a
# launcher that cannot tell names no device, as ``ray``), then ("epoch", record) for each epoch of a training
Event = tuple[str, object]
EventHandler = Callable[[Event], None]


class Session:
    """An open launcher: submit jobs, read their futures, close it (as a context manager).

    ``capacity`` is how many jobs may run at once.
    """

    capacity: int = 1

    def submit(self, job: Any, on_event: EventHandler, avoid: str = "") -> Future:
        """Start ``job`` (or queue it, to start at :meth:`flush`); its future. ``on_event`` may be called from
        another thread, or before ``submit`` returns. ``avoid``: a slot the job failed on, to be avoided when
        another is free."""
        raise NotImplementedError

    def flush(self) -> None:
        """Send what :meth:`submit` held back (SLURM submits one job array per flush)."""

    def close(self) -> None:
        """Stop the workers; jobs still running are abandoned (the driver records them as interrupted)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Launcher:
    """Base class of launcher plugins.

    ``open(spec, options)`` returns a :class:`Session` whose workers can rebuild what a job needs from ``spec``
    (:class:`benchmark.run.jobs.WorkSpec`: plugins, config file, settings); ``describe(jobs, spec, options)``
    returns, without running or writing anything, the lines that say what it would run: commands or job
    specifications (``--launcher dry-run`` prints them). ``available()`` is None, or why the launcher cannot be
    used here (a missing optional extra). A launcher that does not ``execute`` (``dry-run``) only describes: the
    run prints every other launcher's description instead of running. ``open`` raises :class:`LaunchError` when
    it cannot start (a cluster not found, no GPU for a CUDA run).
    """

    name: str = ""
    description: str = ""
    executes: bool = True

    def available(self) -> str | None:
        return None

    def open(self, spec: Any, options: LaunchOptions) -> Session:
        raise NotImplementedError

    def describe(self, jobs: list[Any], spec: Any, options: LaunchOptions) -> list[str]:
        raise NotImplementedError
