"""``tlbench run``: select, plan, audit, run, and print the leaderboard; ``tlbench new``."""

from __future__ import annotations

import dataclasses
import sys
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.markup import escape

from benchmark.cli.app import (
    EXIT_FAILED,
    EXIT_NOTHING_RAN,
    _catalog,
    _config,
    _log_to,
    _settings,
    console,
    data_root_option,
    main,
    out_option,
    plugin_option,
    precision_option,
)
from benchmark.cli.launching import launcher_options, resolve_launch
from benchmark.engine.threads import set_threads
from benchmark.presets import PRESETS
from benchmark.run.keeppolicy import KEEP_POLICIES
from benchmark.run.selection import ExpressionError
from benchmark.run.store import STORE_FILE, StoreError
from benchmark.settings import SVM_BACKENDS

if TYPE_CHECKING:
    from benchmark.registry.catalog import Catalog
    from benchmark.run.planner import Plan
    from benchmark.settings import RunSettings


def _sources_to_train(plan: Plan, catalog: Catalog, settings: RunSettings) -> list[str]:
    """The harness-trained sources of the pending experiments whose models are not cached yet."""
    from benchmark.run.planner import PENDING

    sources = catalog.all_sources()
    return sorted(name for name in {p.experiment.source for p in plan.by_state(PENDING)}
                  if name in sources and sources[name].trained_on is not None
                  and not sources[name].trained_model_path(settings).exists())


def _print_plan(plan: Plan, catalog: Catalog, settings: RunSettings, verbose: bool) -> None:
    """The sources to train, then one line per pending, done or failed experiment; the skipped ones one line each
    under ``verbose``, else one line per reason with how many it skips."""
    from benchmark.run.planner import DONE, FAILED, PENDING, SKIPPED
    from benchmark.run.skips import count_by_reason

    styles = {PENDING: "cyan", DONE: "green", SKIPPED: "yellow", FAILED: "red"}
    sources = catalog.all_sources()
    to_train = _sources_to_train(plan, catalog, settings)
    for name in sorted({p.experiment.source for p in plan.by_state(PENDING)}):
        if name in sources and sources[name].trained_on is not None:
            state = "to train" if name in to_train else "cached"
            console.print(f"[magenta]source  [/] {escape(name)}: model {state} "
                          f"({escape(str(sources[name].trained_model_path(settings)))})")
    for planned in plan.experiments:
        if planned.state == SKIPPED and not verbose:
            continue
        reason = f"  [dim]{escape(str(planned.reason))}[/]" if planned.reason else ""
        console.print(f"[{styles[planned.state]}]{planned.state:8}[/] {escape(planned.experiment.node_id)}{reason}")
    if not verbose:
        for count, reason in count_by_reason(p.reason for p in plan.by_state(SKIPPED)):
            console.print(f"[yellow]{count} skipped:[/] {escape(str(reason))}", soft_wrap=True)  # one line each
    counts = {state: len(plan.by_state(state)) for state in styles}
    console.print(", ".join(f"{n} {state}" for state, n in counts.items())
                  + ("" if verbose or not counts[SKIPPED] else " (-v lists each skipped experiment)"))


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


def _print_dry_run(plan: Plan, catalog: Catalog, settings: RunSettings, store, chosen, spec, launch) -> None:
    """The jobs in the order they would be handed out, then what each launcher would run them as."""
    from benchmark.run.runner import build_jobs
    from benchmark.run.schedule import dispatch_order

    jobs, basis = build_jobs(plan, catalog, settings, store)
    jobs = dispatch_order(jobs)
    console.print(f"dry run: nothing runs, nothing is written; costs forecast from {escape(str(basis))}")
    for line in chosen.describe(jobs, spec, launch):
        console.print(escape(line), soft_wrap=True)
    for name, launcher in catalog.launchers.items():
        if not launcher.executes:
            continue
        console.print(f"[bold]--launcher {escape(name)}[/]")
        problem = launcher.available()
        lines = [f"unavailable: {problem}"] if problem else launcher.describe(jobs, spec, launch)
        for line in lines:
            console.print("  " + escape(line), soft_wrap=True)


def _audit_plan(plan: Plan, catalog: Catalog, settings: RunSettings, strict: bool) -> None:
    """Audit the pending experiments' images; a leak is a warning and a note stored with each experiment it
    touches, or under ``strict`` a skip."""
    from benchmark.run.audit import WITHIN, audit_pairs
    from benchmark.run.planner import NO_SOURCE, PENDING, SKIPPED
    from benchmark.run.skips import LEAK_AUDIT, SkipReason

    pending = plan.by_state(PENDING)
    if not pending:
        return
    pairs = {(p.experiment.target, None if p.experiment.source == NO_SOURCE else p.experiment.source)
             for p in pending}
    seeds = sorted({p.experiment.seed for p in pending})
    report = audit_pairs(catalog, settings, pairs, seeds=seeds)
    for leak in report.leaks:
        console.print(f"[red]leak audit:[/] {escape(leak.name)}: {leak.near_duplicates} near-duplicate image pair(s), "
                      f"{leak.images} image(s) involved (`tlbench audit` lists examples)")
    for planned in pending:
        exp = planned.experiment
        found = [leak for leak in report.leaks
                 if leak.target == exp.target and (leak.seed == exp.seed if leak.kind == WITHIN
                                                   else leak.source == exp.source)]
        if not found:
            continue
        planned.notes["leak_audit"] = [{"kind": leak.kind, "pair": leak.name, "near_duplicates": leak.near_duplicates,
                                        "images": leak.images} for leak in found]
        if strict:
            planned.state = SKIPPED
            planned.reason = SkipReason(LEAK_AUDIT, "", "leak audit (--strict): " + "; ".join(
                f"{leak.name} shares {leak.images} near-duplicate image(s)" for leak in found))


def _summarise_skips(plan: Plan) -> None:
    """One line for everything skipped for missing data or weights, one per other reason."""
    from benchmark.run.planner import SKIPPED
    from benchmark.run.skips import SOURCE, TARGET, count_by_reason

    missing: dict[str, set[str]] = {TARGET: set(), SOURCE: set()}
    others = []
    skipped = plan.by_state(SKIPPED)
    for planned in skipped:
        if planned.reason.kind in missing:
            missing[planned.reason.kind].add(planned.reason.name)
        else:
            others.append(planned.reason)
    if missing[TARGET] or missing[SOURCE]:
        parts = [f"{kind}s {', '.join(sorted(names))}" for kind, names in missing.items() if names]
        console.print(f"[yellow]skipped {len(skipped) - len(others)}[/] for want of data or weights: "
                      f"{escape('; '.join(parts))}. `tlbench list` says what each needs; --collect-only -v gives "
                      "every experiment's reason.")
    for count, reason in count_by_reason(others):
        console.print(f"[yellow]skipped {count}:[/] {escape(str(reason))}", soft_wrap=True)


@main.command("run")
@plugin_option
@click.option("--all", "select_all", is_flag=True, help="Run every registered combination.")
@click.option("-d", "--dataset", "datasets", multiple=True, help="Target dataset or task (repeatable).")
@click.option("-s", "--source", "sources", multiple=True,
              help="Source (repeatable); 'none' is scratch's; timm:MODEL[.TAG] is timm's pretrained weights from the "
                   "local Hugging Face cache (or, with --online, downloaded).")
@click.option("-m", "--method", "methods", multiple=True, help="Method (repeatable).")
@click.option("--seeds", default=None, help="Comma-separated seeds [default: the preset's].")
@click.option("-k", "keyword", default="", help="Select node ids by expression, e.g. 'cells and not scratch'.")
@click.option("--collect-only", is_flag=True, help="Print the plan and exit: each experiment to run, done or failed, "
              "and how many are skipped for each reason.")
@click.option("-v", "--verbose", is_flag=True, help="With --collect-only, list every skipped experiment too.")
@out_option
@click.option("--rerun", type=click.Choice(["failed", "all"]), default=None, help="Run again what is recorded.")
@click.option("-x", "--exitfirst", is_flag=True, help="Stop at the first failed experiment.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--preset", default="auto", show_default=True,
              help=f"Protocol preset: auto (thesis on a GPU, cpu-quick otherwise) or one of {', '.join(PRESETS)}.")
@click.option("--backbone", default=None, help="Any timm model name [default: the preset's].")
@click.option("--image-size", type=click.IntRange(min=8), default=None,
              help="Square input size [default: the preset's].")
@click.option("--max-epochs", type=click.IntRange(min=1), default=None, help="Epoch limit [default: the preset's].")
@click.option("--batch-size", type=click.IntRange(min=2), default=None,
              help="Training batch size [default: the preset's]; a result records it.")
@click.option("--official-splits/--no-official-splits", default=None,
              help="Use every dataset's own train/val/test split where it has one, or none [default: the preset's; "
                   "presets that do not say use MedMNIST's official splits only].")
@click.option("--model-arg", "model_args", multiple=True, metavar="KEY=VALUE",
              help="Keyword argument of timm.create_model for the preset's backbone (repeatable; also model_args in "
                   "tlbench.toml), e.g. drop_path_rate=0.1; part of every result's preset.")
@data_root_option
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="Cache for decoded images and source models [env TLBENCH_CACHE, or cache_dir in tlbench.toml; "
                   "default ~/.cache/tlbench].")
@click.option("--imagenet-weights", type=click.Path(path_type=Path), default=None,
              help="Local file of the backbone's ImageNet weights [env TLBENCH_IMAGENET_WEIGHTS].")
@click.option("--online", is_flag=True, help="Let timm download ImageNet weights that are not cached.")
@click.option("--strict", is_flag=True, help="Fail on an unreadable image instead of skipping it with a warning, and "
              "skip experiments whose images the leak audit finds near-duplicated across train and test.")
@click.option("--max-unreadable", type=click.FloatRange(0, 1), default=0.01, show_default=True,
              help="Share of a dataset's image files that may be unreadable (each skipped and named) before the "
                   "dataset fails.")
@click.option("--audit/--no-audit", default=True, show_default=True,
              help="Look for near-duplicate images between the parts of each target's split, and between a "
                   "harness-trained source's images and its targets', before running (see tlbench audit).")
@click.option("--compile", "compile_model", is_flag=True, help="Run forward passes through torch.compile.")
@precision_option
@click.option("--svm", "svm_backend", type=click.Choice(SVM_BACKENDS), default="auto", show_default=True,
              help="Linear SVM solver: sklearn (the reference), torch (the same LinearSVC or SVC model solved on "
                   "the device), or auto (torch on CUDA, sklearn elsewhere).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="torch's CPU threads [default: OMP_NUM_THREADS, else the cores this process may use].")
@click.option("--jobs-per-gpu", type=click.IntRange(min=1), default=1, show_default=True,
              help="Experiments run side by side (threads sharing the device, its data and feature cache).")
@click.option("--keep-models", type=click.Choice(KEEP_POLICIES), default="auto", show_default=True,
              help="Keep the models experiments trained (fine-tuning, scratch) under OUT/models for `tlbench report`'s "
                   "filter figures: auto keeps those of at most 64 MiB (not VGG16's 528 MB), all or none.")
@launcher_options
@click.pass_context
def run_command(ctx, plugin_args, select_all, datasets, sources, methods, seeds, keyword, collect_only, verbose,
                out_dir, rerun, exitfirst, device, preset, backbone, image_size, max_epochs, batch_size,
                official_splits, model_args, data_root, cache_dir, imagenet_weights, online, strict, max_unreadable,
                audit, compile_model, precision,
                svm_backend, threads, jobs_per_gpu, keep_models, launcher, retries, cpus_per_job,
                ray_address, slurm_partition, slurm_time_min, slurm_gpus_per_job, array_parallelism,
                slurm_executor):
    """Run the selected experiments (target x source x method x seed) and print the leaderboard."""
    from benchmark.registry.declaredsources import add_timm_sources
    from benchmark.report import leaderboard, render
    from benchmark.run.jobs import WorkSpec
    from benchmark.run.planner import DONE, FAILED, PENDING, SKIPPED, Selection, build_plan
    from benchmark.run.progress import RunProgress
    from benchmark.run.resume import mark_recorded
    from benchmark.run.runner import Runner
    from benchmark.run.store import Store

    if not (select_all or datasets or sources or methods or keyword or seeds or collect_only):
        raise click.UsageError("nothing selected: pass --all, or filters such as -d, -s, -m, -k")
    try:
        seed_list = tuple(int(s) for s in seeds.split(",")) if seeds else ()
    except ValueError:
        raise click.UsageError(f"--seeds {seeds!r}: give comma-separated integers, e.g. 2,5,7") from None
    if any(not 0 <= seed < 2**32 for seed in seed_list):
        raise click.UsageError(f"--seeds {seeds!r}: seeds must lie in 0..{2**32 - 1} (numpy's and torch's range)")
    try:
        threads, threads_origin = set_threads(threads)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    catalog = _catalog(ctx, plugin_args, data_root)
    try:
        add_timm_sources(catalog, sources)
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    settings = _settings(ctx, data_root, device, preset, backbone, image_size, max_epochs, cache_dir,
                         imagenet_weights, online, strict, batch_size, official_splits, model_args, precision)
    try:
        settings = settings.with_speed(compile_model, svm_backend, jobs_per_gpu)
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    settings = dataclasses.replace(settings, max_unreadable=max_unreadable, keep_models=keep_models)
    chosen, launch, retries = resolve_launch(_config(ctx), catalog.launchers, out_dir, jobs_per_gpu, launcher, retries,
                                             cpus_per_job, ray_address, slurm_partition, slurm_time_min,
                                             slurm_gpus_per_job, array_parallelism, slurm_executor)
    _log_to(console)
    for plugin in catalog.plugins:
        if plugin.status == "broken":
            console.print(f"[red]broken plugin {escape(plugin.name)}:[/] {escape(plugin.error)}")
    note = "" if settings.device.type == "cuda" or preset != "auto" else \
        " (no GPU: a small backbone; --preset thesis runs VGG16 at 224)"
    console.print(f"tlbench {version('tlbench')} · device {settings.device} · preset {settings.preset.name}: "
                  f"{settings.preset.backbone} @ {settings.preset.image_size}px{note} · {threads} CPU thread"
                  f"{'s' if threads > 1 else ''} ({threads_origin})")
    try:
        plan = build_plan(catalog, settings, Selection(datasets, sources, methods, seed_list, keyword))
    except ExpressionError as error:
        raise click.UsageError(str(error)) from error
    if plan.problems:
        raise click.UsageError("; ".join(plan.problems))
    if not plan.experiments:
        raise click.UsageError("nothing selected: no experiment matches these filters (`tlbench list` names the "
                               "datasets, sources and methods; -k matches node ids such as "
                               "isic2017::random::fe-svm[seed=2])")
    spec = WorkSpec.of_this_process(settings, out_dir, tuple(ctx.obj.get("plugins", ())) + tuple(plugin_args),
                                    [s for s in sources if s.startswith("timm:")], launch.cpus_per_job)
    if not chosen.executes:  # writes nothing: not even an empty store
        store = Store(out_dir) if (out_dir / STORE_FILE).exists() else None
        if store is not None:
            mark_recorded(plan, store, rerun)
        _print_dry_run(plan, catalog, settings, store, chosen, spec, launch)
        return
    store = Store(out_dir)
    mark_recorded(plan, store, rerun)
    if collect_only:
        _print_plan(plan, catalog, settings, verbose)
        return
    if audit:
        _audit_plan(plan, catalog, settings, strict)
    pending = plan.by_state(PENDING)
    console.print(f"{len(plan.experiments)} selected: {len(pending)} to run, {len(plan.by_state(DONE))} done, "
                  f"{len(plan.by_state(SKIPPED))} skipped, {len(plan.by_state(FAILED))} failed before")
    _summarise_skips(plan)
    try:
        with RunProgress(console, len(pending), _sources_to_train(plan, catalog, settings)) as progress:
            runner = Runner(catalog, settings, store, progress, chosen, launch, spec, retries)
            outcome = runner.run(plan, exitfirst, on_forecast=lambda seconds, slots, basis: console.print(
                f"launcher {chosen.name}: {slots} slot{'s' if slots > 1 else ''}; forecast wall time "
                f"{_duration(seconds)} (from {basis})"))
    except KeyboardInterrupt:
        console.print(f"[red]interrupted[/]: finished results, and the passed results that unfinished reruns would "
                      f"replace, are kept in {store.path}; run again to resume")
        sys.exit(130)
    if not store.still_there():
        raise StoreError(f"{store.path} was deleted or replaced while this run went on: the results of this run "
                         "are lost with it; run again")
    selected = {p.config_hash for p in plan.experiments}
    rows = [r for r in store.rows() if r["config_hash"] in selected]
    boards = leaderboard.build_boards(rows, methods=catalog.methods, run_dir=out_dir)
    if boards:
        console.print(render.render_rich(boards))
    console.print(f"results: {escape(str(store.path))}")
    if outcome.wall:
        busy = ", ".join(f"{device} {share:.0%}" for device, share in sorted(outcome.busy.items()))
        console.print(f"wall time {_duration(outcome.wall)} (forecast {_duration(outcome.forecast)}); busy: "
                      f"{busy or '-'}" + (f"; {outcome.retried} attempt(s) retried" if outcome.retried else ""))
    if outcome.elsewhere:
        console.print(f"{outcome.elsewhere} experiment(s) left to another tlbench process running on "
                      f"{escape(str(out_dir))}")
    if outcome.kept:
        console.print(f"[red]{outcome.kept} rerun(s) failed; the earlier passed results are kept[/] (`tlbench show "
                      f"--out {escape(str(out_dir))} --format json` lists the failed attempts)")
    failed = len(plan.by_state(FAILED))
    if failed:
        console.print(f"[red]{failed} experiment(s) failed[/]: `tlbench show --out {escape(str(out_dir))} "
                      "--format json` has their tracebacks")
        sys.exit(EXIT_FAILED)
    if outcome.passed == 0 and not outcome.elsewhere and not plan.by_state(DONE):
        console.print("[yellow]nothing ran: every selected experiment was skipped[/]")
        sys.exit(EXIT_NOTHING_RAN)
