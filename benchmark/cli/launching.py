"""The options of ``tlbench run`` that choose and configure the launcher; the config file's ``[launcher]`` table
gives their defaults (see :mod:`benchmark.run.launching`)."""

from __future__ import annotations

import functools

import click

from benchmark.run.launching import DEFAULT_LAUNCHER, DEFAULT_RETRIES


def launcher_options(command):
    """Add the launcher options to ``command``."""
    options = [
        click.option("--launcher", default=None,
                     help=f"Where jobs run: a registered launcher (`tlbench list` lists them and their options) "
                          f"[default: [launcher] name in tlbench.toml, else {DEFAULT_LAUNCHER}]; dry-run prints what "
                          f"each would run."),
        click.option("--launcher-option", "launcher_options", multiple=True, metavar="KEY=VALUE",
                     help="An option of the launcher (repeatable; also its [launcher.NAME] table in tlbench.toml), "
                          "e.g. address=auto for ray, partition=gpu or executor=local for submitit."),
        click.option("--retries", type=click.IntRange(min=0), default=None,
                     help=f"Runs again of a failed job (an exception, or its worker's death), on another slot where "
                          f"one is free; a failure with the same traceback as the one before is not retried "
                          f"[default: {DEFAULT_RETRIES}]."),
        click.option("--cpus-per-job", type=click.IntRange(min=1), default=None,
                     help="CPU cores given to each job, its torch threads [default: local: the cores over the GPUs; "
                          "ray: 1; submitit: the cores SLURM gives]."),
    ]
    return functools.reduce(lambda cmd, option: option(cmd), reversed(options), command)


def parse_launcher_options(pairs: tuple[str, ...]) -> dict[str, str]:
    """``KEY=VALUE`` options as text values by key (the launcher converts each to its option's type)."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"--launcher-option {pair!r}: give KEY=VALUE, e.g. --launcher-option "
                                   "executor=local")
        parsed[key.strip()] = value
    return parsed
