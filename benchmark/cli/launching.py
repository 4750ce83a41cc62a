"""The options of ``tlbench run`` that choose and configure the launcher, and the config file's ``[launcher]``
table that gives their defaults::

    [launcher]
    name = "ray"              # the launcher --launcher chooses when not given [default: local]
    retries = 2
    cpus_per_job = 4
    ray_address = "auto"

    [launcher.slurm]
    partition = "gpu"
    time_min = 240
    gpus_per_job = 1
    array_parallelism = 64
    executor = "slurm"        # or local / debug: submitit's stand-ins, without SLURM
"""

from __future__ import annotations

import functools
from pathlib import Path

import click

from benchmark.launchers import LaunchOptions

DEFAULT_LAUNCHER = "local"
DEFAULT_RETRIES = 1
_KEYS = {"name", "retries", "cpus_per_job", "ray_address", "slurm"}
_SLURM_KEYS = {"partition", "time_min", "gpus_per_job", "array_parallelism", "executor"}


def launcher_options(command):
    """Add the launcher options to ``command``."""
    options = [
        click.option("--launcher", default=None,
                     help=f"Where jobs run: a registered launcher (`tlbench plugins` lists them) [default: [launcher] "
                          f"name in tlbench.toml, else {DEFAULT_LAUNCHER}]; dry-run prints what each would run."),
        click.option("--retries", type=click.IntRange(min=0), default=None,
                     help=f"Runs again of a failed job (an exception, or its worker's death), on another slot where "
                          f"one is free; a failure with the same traceback as the one before is not retried "
                          f"[default: {DEFAULT_RETRIES}]."),
        click.option("--cpus-per-job", type=click.IntRange(min=1), default=None,
                     help="CPU cores given to each job, its torch threads [default: local: the cores over the GPUs; "
                          "ray: 1; submitit: the cores SLURM gives]."),
        click.option("--ray-address", default=None,
                     help="Ray cluster to join (auto: the one this machine belongs to) [default: a local Ray]."),
        click.option("--slurm-partition", default=None, help="SLURM partition (submitit launcher)."),
        click.option("--slurm-time", "slurm_time_min", type=click.IntRange(min=1), default=None,
                     help="SLURM time limit of each job, minutes (submitit launcher)."),
        click.option("--slurm-gpus", "slurm_gpus_per_job", type=click.IntRange(min=0), default=None,
                     help="GPUs per SLURM job (submitit launcher) [default: 1 where the run's device is CUDA]."),
        click.option("--array-parallelism", type=click.IntRange(min=1), default=None,
                     help="Jobs of a SLURM array running at once (submitit launcher) [default: 64]."),
        click.option("--slurm-executor", type=click.Choice(["slurm", "local", "debug"]), default=None,
                     help="submitit's executor: slurm, or local/debug to run its jobs on this machine without SLURM."),
    ]
    return functools.reduce(lambda cmd, option: option(cmd), reversed(options), command)


def _table(config) -> dict:
    table = dict(config.table.get("launcher", {}) or {})
    unknown = set(table) - _KEYS
    if unknown:
        raise click.UsageError(f"{config.path}: [launcher] has unknown key(s) {', '.join(sorted(unknown))}; "
                               f"known: {', '.join(sorted(_KEYS))}")
    slurm = dict(table.get("slurm", {}) or {})
    unknown = set(slurm) - _SLURM_KEYS
    if unknown:
        raise click.UsageError(f"{config.path}: [launcher.slurm] has unknown key(s) {', '.join(sorted(unknown))}; "
                               f"known: {', '.join(sorted(_SLURM_KEYS))}")
    table["slurm"] = slurm
    return table


def resolve_launch(config, launchers: dict, run_dir: Path, jobs_per_gpu: int, launcher, retries, cpus_per_job,
                   ray_address, slurm_partition, slurm_time_min, slurm_gpus_per_job, array_parallelism,
                   slurm_executor):
    """The launcher chosen, its options and the retries: each option, else the config's ``[launcher]`` value,
    else the default. UsageError for an unknown or unusable launcher."""
    table = _table(config)
    name = launcher or table.get("name") or DEFAULT_LAUNCHER
    if name not in launchers:
        raise click.UsageError(f"--launcher {name!r}: no such launcher (registered: {', '.join(sorted(launchers))})")
    chosen = launchers[name]
    problem = chosen.available()
    if problem:
        raise click.UsageError(f"--launcher {name}: {problem}")
    given = {"partition": slurm_partition, "time_min": slurm_time_min, "gpus_per_job": slurm_gpus_per_job,
             "array_parallelism": array_parallelism, "executor": slurm_executor}
    slurm = {**table["slurm"], **{k: v for k, v in given.items() if v is not None}}
    options = LaunchOptions(run_dir=run_dir, jobs_per_gpu=jobs_per_gpu,
                            cpus_per_job=cpus_per_job if cpus_per_job is not None else table.get("cpus_per_job"),
                            ray_address=ray_address if ray_address is not None else table.get("ray_address"),
                            slurm=slurm)
    retries = retries if retries is not None else table.get("retries", DEFAULT_RETRIES)
    return chosen, options, retries
