"""``run_grid``: plan and run a grid of experiments from Python, as ``tlbench run`` does, and get its results.

``tlbench run`` parses its options into one call of :func:`run_grid` and prints what it returns. The modules
that import torch are imported inside the functions, so that ``tlbench --help`` does not wait for them.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from benchmark.run.launching import LaunchRequest, launcher_table, options_for, resolve_launch
from benchmark.run.store import STORE_FILE, StoreError

if TYPE_CHECKING:
    from benchmark.registry.catalog import Catalog
    from benchmark.registry.config import Config
    from benchmark.run.launching import Launch
    from benchmark.run.planner import Plan
    from benchmark.run.runner import RunOutcome
    from benchmark.settings import RunSettings

RERUN = ("failed", "all")
_MAX_SEED = 2**32 - 1  # numpy's and torch's seeds


class GridError(ValueError):
    """The arguments select nothing or cannot be used (an unknown name, preset, launcher or value); the message
    says what to change."""


@dataclass(frozen=True)
class DryRun:
    """What a run under a launcher that only describes (``dry-run``) would do: the forecast's ``basis``, the
    chosen launcher's lines (the jobs in the order handed out) and each executing launcher's description of
    them (or why it is unavailable)."""

    basis: str
    lines: list[str]
    launchers: dict[str, list[str]]


@dataclass
class GridResult:
    """The grid a call of :func:`run_grid` selected and what became of it.

    ``rows``: the stored rows of the selected experiments (``row["metrics"]["auc"]``, ``row["status"]``; this
    run's and those recorded before it); ``plan``: every selected experiment with its state and skip reason;
    ``outcome``: what this run did (None when nothing ran: ``collect_only`` or a dry run); ``dry_run``: what a
    describing launcher printed; ``to_train``: the harness-trained sources whose models were to be trained."""

    plan: Plan
    settings: RunSettings
    catalog: Catalog
    run_dir: Path
    rows: list[dict] = field(default_factory=list)
    outcome: RunOutcome | None = None
    dry_run: DryRun | None = None
    to_train: list[str] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, int]:
        """How many of the selected experiments have passed and failed (as stored), were skipped, and are not run
        (left to another process, stopped early by ``exitfirst``, or not run at all: ``collect_only``)."""
        from benchmark.run.planner import SKIPPED

        status = {row["config_hash"]: row["status"] for row in self.rows}
        counts = {"selected": len(self.plan.experiments), "passed": 0, "failed": 0, "skipped": 0, "not run": 0}
        for planned in self.plan.experiments:
            if planned.state == SKIPPED:
                counts["skipped"] += 1
            elif status.get(planned.config_hash) in ("passed", "failed"):
                counts[status[planned.config_hash]] += 1
            else:
                counts["not run"] += 1
        return counts


def _config(config: Config | str | Path | None) -> Config:
    from benchmark.registry.config import Config, load_config

    return config if isinstance(config, Config) else load_config(None if config is None else Path(config))


def _seeds(seeds: Iterable[int]) -> tuple[int, ...]:
    """The seeds as ints (numpy's integers included); GridError for anything else."""
    seeds = tuple(seeds)
    if any(isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= _MAX_SEED
           for seed in seeds):
        raise GridError(f"seeds {list(seeds)}: give whole numbers in 0..{_MAX_SEED} (numpy's and torch's range)")
    return tuple(int(seed) for seed in seeds)


def run_grid(settings: str | RunSettings = "auto", *, overrides: Mapping[str, Any] | None = None,
             datasets: Sequence[str] = (), sources: Sequence[str] = (), methods: Sequence[str] = (),
             seeds: Iterable[int] = (), keyword: str = "", launcher: str | None = None,
             launcher_options: Mapping[str, Any] | None = None, retries: int | None = None,
             cpus_per_job: int | None = None, threads: int | None = None, store: str | Path = "tlbench-runs",
             rerun: str | None = None, exitfirst: bool = False, audit: bool = True, collect_only: bool = False,
             plugins: Iterable[str] = (), config: Config | str | Path | None = None,
             console: Console | None = None, quiet: bool = False) -> GridResult:
    """Plan the grid ``datasets x sources x methods x seeds`` (an empty filter selects every one; ``keyword``
    selects node ids by a ``-k`` expression) and run what the store ``store`` (a run folder) does not hold yet.

    Settings: ``settings`` is a preset name (``auto``: ``thesis`` on a GPU, ``cpu-quick`` otherwise) or
    :class:`RunSettings`; ``overrides`` replaces its fields (the preset's ``backbone``, ``image_size``,
    ``max_epochs``, ``batch_size``, ``official_splits``, ``model_args``, ``source_training``; the run's ``device``,
    ``data_root``, ``cache_dir``, ``imagenet_weights``, ``online``, ``strict``, ``max_unreadable``, ``compile``,
    ``precision``, ``svm_backend``, ``jobs_per_gpu``, ``keep_models``), the environment and ``config`` (a
    :class:`Config`, or the folder whose ``tlbench.toml`` applies; None: the working directory's) filling the rest.

    Execution: ``launcher`` (a registered launcher's name; None: the config's ``[launcher]`` name, else
    ``local``) with ``launcher_options`` (its own options, checked by it), ``retries``, ``cpus_per_job``;
    ``threads``: torch's CPU threads, set for the whole process (None: ``OMP_NUM_THREADS``, else the cores);
    ``rerun`` (``failed`` or ``all``) runs recorded experiments again; ``exitfirst`` stops at the first failure;
    ``audit`` looks for near-duplicate images first; ``collect_only`` plans and runs nothing. ``plugins``:
    plugin modules to load by import path (installed ones load anyway). ``console`` gets the progress and the
    warnings (None: nothing is printed); ``quiet`` leaves only the warnings and the failures on it.

    Returns a :class:`GridResult` (``rows``, ``summary``). Raises GridError for arguments that cannot be used,
    :class:`benchmark.LaunchError` for launcher options the launcher refuses or a launcher that cannot start,
    StoreError for a run folder that cannot be used; an experiment's own failure is a failed row, not an error.
    """
    from benchmark.engine.threads import set_threads
    from benchmark.registry.assemble import assemble_catalog
    from benchmark.registry.config import ConfigError
    from benchmark.run.gridsettings import grid_settings
    from benchmark.run.jobs import WorkSpec
    from benchmark.run.planner import Selection, build_plan
    from benchmark.run.preflight import announce, audit_plan, sources_to_train
    from benchmark.run.resume import mark_recorded
    from benchmark.run.selection import ExpressionError
    from benchmark.run.store import Store

    console = console or Console(quiet=True)
    seeds = _seeds(seeds)
    if rerun not in (None, *RERUN):
        raise GridError(f"rerun {rerun!r}: use None, {' or '.join(RERUN)}")
    plugins, run_dir, timm_sources = tuple(plugins), Path(store), [s for s in sources if s.startswith("timm:")]
    request = LaunchRequest(launcher, dict(launcher_options or {}), retries, cpus_per_job)
    try:
        config = _config(config)
        threads, threads_origin = set_threads(threads)
        chosen_settings = grid_settings(settings, overrides or {}, config)
        catalog = assemble_catalog(plugins, chosen_settings.data_root, config, timm_sources)
        table = launcher_table(config.table.get("launcher", {}), catalog.launchers, str(config.path))
        launch = resolve_launch(request, catalog.launchers, table, run_dir, chosen_settings.jobs_per_gpu)
    except (ConfigError, ValueError) as error:
        raise GridError(str(error)) from error
    _print_start(console, catalog, chosen_settings, settings, threads, threads_origin, quiet)
    try:
        plan = build_plan(catalog, chosen_settings, Selection(datasets, sources, methods, seeds, keyword))
    except ExpressionError as error:
        raise GridError(str(error)) from error
    if plan.problems:
        raise GridError("; ".join(plan.problems))
    if not plan.experiments:
        raise GridError("nothing selected: no experiment matches these filters (`tlbench list` names the datasets, "
                        "sources and methods; -k matches node ids such as isic2017::random::fe-svm[seed=2])")
    spec = WorkSpec.of_this_process(chosen_settings, run_dir, plugins, timm_sources, launch.options.cpus_per_job)
    result = GridResult(plan, chosen_settings, catalog, run_dir)
    if not launch.launcher.executes:  # writes nothing: not even an empty store
        found = Store(run_dir) if (run_dir / STORE_FILE).exists() else None
        if found is not None:
            mark_recorded(plan, found, rerun)
            result.rows = _selected_rows(plan, found)
        result.dry_run = _describe(plan, result, found, launch, spec, request, table)
        return result
    found = Store(run_dir)
    mark_recorded(plan, found, rerun)
    if collect_only:
        result.to_train = sources_to_train(plan, catalog, chosen_settings)
        result.rows = _selected_rows(plan, found)
        return result
    if audit:
        audit_plan(plan, catalog, chosen_settings, console)
    if not quiet:
        announce(plan, console)
    result.to_train = sources_to_train(plan, catalog, chosen_settings)
    result.outcome = _execute(plan, result, found, launch, spec, exitfirst, console, quiet)
    result.rows = _selected_rows(plan, found)
    return result


def _print_start(console: Console, catalog: Catalog, settings: RunSettings, asked: str | RunSettings, threads: int,
                 origin: str, quiet: bool) -> None:
    for plugin in catalog.plugins:
        if plugin.status == "broken":
            console.print(f"[red]broken plugin {escape(plugin.name)}:[/] {escape(plugin.error)}")
    if quiet:
        return
    note = "" if settings.device.type == "cuda" or asked != "auto" else \
        " (no GPU: a small backbone; --preset thesis runs VGG16 at 224)"
    console.print(f"tlbench {version('tlbench')} · device {settings.device} · preset {settings.preset.name}: "
                  f"{settings.preset.backbone} @ {settings.preset.image_size}px{note} · {threads} CPU thread"
                  f"{'s' if threads > 1 else ''} ({origin})")


def _selected_rows(plan: Plan, store) -> list[dict]:
    selected = {p.config_hash for p in plan.experiments}
    return [row for row in store.rows() if row["config_hash"] in selected]


def _describe(plan: Plan, result: GridResult, store, launch: Launch, spec, request: LaunchRequest,
              table: Mapping[str, Any]) -> DryRun:
    """Each executing launcher's description of the jobs, with the requested options it declares."""
    from benchmark.run.runner import build_jobs
    from benchmark.run.schedule import dispatch_order

    jobs, basis = build_jobs(plan, result.catalog, result.settings, store)
    jobs = dispatch_order(jobs)
    described = {}
    for name, other in result.catalog.launchers.items():
        if not other.executes:
            continue
        problem = other.available()
        options = None if problem else options_for(other, request, table, result.run_dir,
                                                   result.settings.jobs_per_gpu, only_declared=True)
        described[name] = [f"unavailable: {problem}"] if problem else other.describe(jobs, spec, options)
    return DryRun(str(basis), launch.launcher.describe(jobs, spec, launch.options), described)


def _execute(plan: Plan, result: GridResult, store, launch: Launch, spec, exitfirst: bool,
             console: Console, quiet: bool) -> RunOutcome:
    """Run the pending experiments with a progress display on ``console`` (``quiet``: failures alone);
    KeyboardInterrupt goes through (what finished is stored)."""
    from benchmark.run.planner import PENDING
    from benchmark.run.progress import RunProgress
    from benchmark.run.runner import Runner

    def forecast(seconds, slots, basis):
        if not quiet:
            console.print(f"launcher {launch.launcher.name}: {slots} slot{'s' if slots > 1 else ''}; forecast "
                          f"wall time {duration(seconds)} (from {basis})")

    with RunProgress(console, len(plan.by_state(PENDING)), result.to_train, quiet) as progress:
        runner = Runner(result.catalog, result.settings, store, progress, launch.launcher, launch.options, spec,
                        launch.retries)
        outcome = runner.run(plan, exitfirst, on_forecast=forecast)
    if not store.still_there():
        raise StoreError(f"{store.path} was deleted or replaced while this run went on: the results of this run "
                         "are lost with it; run again")
    return outcome


def duration(seconds: float) -> str:
    """``1h 02m``, ``3m 05s`` or ``42s``."""
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"

