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

from collections.abc import Callable, Mapping
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
    """What the user chose for the launcher (``run_grid``'s arguments, ``tlbench run``'s options, else the config
    file's ``[launcher]`` table): what every launcher shares, and ``own``, the chosen launcher's own options.

    ``jobs_per_gpu``: jobs sharing one GPU (threads of one worker under ``local``; a fraction of a GPU under Ray and
    SLURM); ``cpus_per_job``: CPU cores a job is given (torch's thread count inside it; None: the launcher's
    default); ``run_dir``: the run folder, shared with every worker (as is the cache folder); ``own``: every option
    the launcher declares (:attr:`Launcher.options`), checked, with its default where none was given.
    """

    run_dir: Path
    jobs_per_gpu: int = 1
    cpus_per_job: int | None = None
    own: dict = field(default_factory=dict)


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")
_WANTED = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}  # the types, as asked for


@dataclass(frozen=True)
class LauncherOption:
    """An option a launcher declares: set as ``--launcher-option NAME=VALUE`` (text, converted to ``type``), as
    ``NAME = VALUE`` in the config file's ``[launcher.LAUNCHER]`` table, or in ``run_grid``'s
    ``launcher_options``. ``type`` is str, int, float or bool; ``choices`` (if any) are the values allowed;
    ``minimum`` bounds a number from below; ``default`` is what the launcher gets when none is given (None: the
    launcher decides)."""

    name: str
    type: type = str
    default: Any = None
    help: str = ""
    choices: tuple = ()
    minimum: float | None = None

    def __post_init__(self):
        if self.type not in _WANTED:
            raise TypeError(f"launcher option {self.name}: type {self.type!r}; use str, int, float or bool")

    def convert(self, value: Any) -> Any:
        """``value`` as this option's type; ValueError saying what to give."""
        if isinstance(value, str) and self.type is not str:
            value = self._parse(value)
        wanted = _WANTED[self.type]
        if self.minimum is not None:
            wanted += f" of at least {self.minimum:g}"
        fits = isinstance(value, self.type) and not (self.type is int and isinstance(value, bool))
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value, fits = float(value), True
        if not fits:
            raise ValueError(f"give {wanted}")
        if self.choices and value not in self.choices:
            raise ValueError(f"use one of {', '.join(map(str, self.choices))}")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"give {wanted}")
        return value

    def _parse(self, text: str) -> Any:
        if self.type is bool:
            lowered = text.strip().lower()
            return True if lowered in _TRUE else False if lowered in _FALSE else text
        try:
            return self.type(text.strip())
        except ValueError:
            return text

    def describe(self) -> str:
        """One line: the name, its type or choices, the default and the help."""
        kind = "|".join(map(str, self.choices)) if self.choices else self.type.__name__
        default = "" if self.default is None else f" [default: {self.default}]"
        return f"{self.name}={kind}: {self.help}{default}"


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

    ``options`` are the launcher's own settings (:class:`LauncherOption`): the user sets them with
    ``--launcher-option KEY=VALUE``, the config file's ``[launcher.NAME]`` table or ``run_grid``'s
    ``launcher_options``, and the launcher reads them, checked by :meth:`check_options`, from
    ``LaunchOptions.own``.
    """

    name: str = ""
    description: str = ""
    executes: bool = True
    options: tuple[LauncherOption, ...] = ()

    def check_options(self, given: Mapping[str, Any], where: str = "launcher option") -> dict:
        """Every declared option: its value in ``given`` converted, else (absent or None) its default. LaunchError
        for a key it does not declare (naming those it does) or a value that does not fit; ``where`` says where
        the values came from (``[launcher.ray]``, ``--launcher-option``)."""
        declared = {option.name: option for option in self.options}
        unknown = sorted(set(given) - set(declared))
        if unknown:
            valid = ", ".join(sorted(declared)) or "none"
            raise LaunchError(f"{where}: launcher {self.name} has no option {', '.join(unknown)} "
                              f"(its options: {valid})")
        checked = {}
        for name, option in declared.items():
            if given.get(name) is None:
                checked[name] = option.default
                continue
            try:
                checked[name] = option.convert(given[name])
            except ValueError as error:
                raise LaunchError(f"{where}: {name} = {given[name]!r}: {error}") from None
        return checked

    def available(self) -> str | None:
        return None

    def open(self, spec: Any, options: LaunchOptions) -> Session:
        raise NotImplementedError

    def describe(self, jobs: list[Any], spec: Any, options: LaunchOptions) -> list[str]:
        raise NotImplementedError
