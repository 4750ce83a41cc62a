"""The launcher a run uses and its options: what the caller asked for (:class:`LaunchRequest`), else the config
file's ``[launcher]`` table, else the defaults::

    [launcher]
    name = "submitit"         # the launcher used when none is asked for [default: local]
    retries = 2
    cpus_per_job = 4

    [launcher.submitit]       # a launcher's own options (`tlbench plugins -v` lists them)
    partition = "gpu"
    time_min = 240

    [launcher.ray]
    address = "auto"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from benchmark.launchers import Launcher, LauncherOption, LaunchError, LaunchOptions

DEFAULT_LAUNCHER = "local"
DEFAULT_RETRIES = 1
_SHARED_KEYS = ("name", "retries", "cpus_per_job")
# the shared counts, checked as a launcher's own options are
_COUNTS = {"retries": LauncherOption("retries", int, minimum=0),
           "cpus_per_job": LauncherOption("cpus_per_job", int, minimum=1)}
# keys of the [launcher] table that became a launcher's own options: where each went
_MOVED = {"ray_address": "[launcher.ray] address",
          "slurm": "[launcher.submitit] (partition, time_min, gpus_per_job, array_parallelism, executor)"}


@dataclass(frozen=True)
class LaunchRequest:
    """What the caller asked for; None (or nothing in ``options``) leaves it to the config file, then the
    default. ``options``: the launcher's own options (``KEY: VALUE``, a value as text or of its type)."""

    name: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    retries: int | None = None
    cpus_per_job: int | None = None


class Launch(NamedTuple):
    """The launcher chosen, the options it opens with, and how often a failed job runs again."""

    launcher: Launcher
    options: LaunchOptions
    retries: int


def launcher_table(table: Mapping[str, Any], launchers: Mapping[str, Launcher], where: str) -> dict:
    """The config's ``[launcher]`` table, its keys checked: the shared ones, and a table per registered launcher.
    ValueError naming the key and what is known (or where a key that moved went)."""
    table = dict(table or {})
    for key, value in table.items():
        if key in _MOVED:
            raise ValueError(f"{where}: [launcher] {key} is now {_MOVED[key]}")
        if key in _SHARED_KEYS:
            continue
        if isinstance(value, Mapping):
            if key not in launchers:
                raise ValueError(f"{where}: [launcher.{key}]: no launcher {key} is registered (registered: "
                                 f"{', '.join(sorted(launchers))})")
            continue
        raise ValueError(f"{where}: [launcher] has unknown key(s) {key}; known: {', '.join(_SHARED_KEYS)}, and a "
                         f"[launcher.NAME] table of options for each launcher ({', '.join(sorted(launchers))})")
    return table


def options_for(launcher: Launcher, request: LaunchRequest, table: Mapping[str, Any], run_dir: Path,
                jobs_per_gpu: int, only_declared: bool = False) -> LaunchOptions:
    """``launcher``'s options: the request's over its ``[launcher.NAME]`` table's, checked by the launcher
    (LaunchError for a key it does not declare or a value that does not fit). ``only_declared``: pass it only
    the requested options it declares (``dry-run`` describes every launcher with the same request)."""
    own_table = table.get(launcher.name, {})
    requested = dict(request.options)
    if only_declared:
        declared = {option.name for option in launcher.options}
        requested = {key: value for key, value in requested.items() if key in declared}
    own = {**launcher.check_options(own_table, f"[launcher.{launcher.name}]"),
           **{key: value for key, value in launcher.check_options(requested, "launcher option").items()
              if key in requested}}
    cpus_per_job = request.cpus_per_job if request.cpus_per_job is not None else table.get("cpus_per_job")
    cpus_per_job = None if cpus_per_job is None else _count("cpus_per_job", cpus_per_job)
    return LaunchOptions(run_dir=run_dir, jobs_per_gpu=jobs_per_gpu, cpus_per_job=cpus_per_job, own=own)


def resolve_launch(request: LaunchRequest, launchers: Mapping[str, Launcher], table: Mapping[str, Any],
                   run_dir: Path, jobs_per_gpu: int) -> Launch:
    """The launcher ``request`` chooses (else the table's ``name``, else local), its options, its retries.
    ValueError for an unknown or unusable launcher; LaunchError for an option the launcher refuses. Under a
    launcher that only describes (``dry-run``) an option no launcher declares is an error, and each other
    launcher is given those it declares (``options_for(..., only_declared=True)``)."""
    name = request.name or table.get("name") or DEFAULT_LAUNCHER
    if name not in launchers:
        raise ValueError(f"--launcher {name!r}: no such launcher (registered: {', '.join(sorted(launchers))})")
    chosen = launchers[name]
    problem = chosen.available()
    if problem:
        raise ValueError(f"--launcher {name}: {problem}")
    if chosen.executes:
        options = options_for(chosen, request, table, run_dir, jobs_per_gpu)
    else:
        declared = {option.name for launcher in launchers.values() for option in launcher.options}
        unknown = sorted(set(request.options) - declared)
        if unknown:
            raise LaunchError(f"launcher option: no launcher has an option {', '.join(unknown)} (their options: "
                              f"{', '.join(sorted(declared)) or 'none'})")
        options = options_for(chosen, request, table, run_dir, jobs_per_gpu, only_declared=True)
    retries = request.retries if request.retries is not None else table.get("retries", DEFAULT_RETRIES)
    return Launch(chosen, options, _count("retries", retries))


def _count(name: str, value: Any) -> int:
    """``value`` of the shared count ``name`` (from the command line, a ``[launcher]`` table or ``run_grid``'s
    arguments), checked by :data:`_COUNTS`; ValueError saying what to give."""
    try:
        return _COUNTS[name].convert(value)
    except ValueError as error:
        raise ValueError(f"{name} = {value!r}: {error} (on the command line, in tlbench.toml's [launcher] table or "
                         "to run_grid)") from None
