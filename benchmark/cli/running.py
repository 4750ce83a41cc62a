"""``tlbench run``: select, plan, audit, run, and print the leaderboard; ``tlbench new``."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.markup import escape

from benchmark.cli.app import (
    EXIT_FAILED,
    EXIT_NOTHING_RAN,
    _config,
    _log_to,
    console,
    data_root_option,
    main,
    out_option,
    parse_model_args,
    plugin_option,
    precision_option,
)
from benchmark.cli.launching import launcher_options, parse_launcher_options
from benchmark.cli.sections import SectionedCommand
from benchmark.presets import PRESETS, SOURCE_TRAININGS
from benchmark.run.grid import RERUN, duration
from benchmark.run.store import STORE_FILE
from benchmark.settings import KEEP_POLICIES, SVM_BACKENDS

if TYPE_CHECKING:
    from benchmark.run.grid import DryRun, GridResult


def _print_plan(result: GridResult, verbose: bool) -> None:
    """The sources to train, then one line per pending, done or failed experiment; the skipped ones one line each
    under ``verbose``, else one line per reason with how many it skips."""
    from benchmark.run.planner import DONE, FAILED, PENDING, SKIPPED
    from benchmark.run.preflight import trained_sources
    from benchmark.run.skips import count_by_reason

    plan, settings = result.plan, result.settings
    styles = {PENDING: "cyan", DONE: "green", SKIPPED: "yellow", FAILED: "red"}
    for label, source in trained_sources(plan, result.catalog, settings).items():
        state = "to train" if label in result.to_train else "cached"
        console.print(f"[magenta]source  [/] {escape(label)}: model {state} "
                      f"({escape(str(source.trained_model_path(settings)))})")
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


def _print_dry_run(dry_run: DryRun) -> None:
    """The jobs in the order they would be handed out, then what each launcher would run them as."""
    console.print(f"dry run: nothing runs, nothing is written; costs forecast from {escape(dry_run.basis)}")
    for line in dry_run.lines:
        console.print(escape(line), soft_wrap=True)
    for name, lines in dry_run.launchers.items():
        console.print(f"[bold]--launcher {escape(name)}[/]")
        for line in lines:
            console.print("  " + escape(line), soft_wrap=True)


def _print_outcome(result: GridResult, out_dir: Path, quiet: bool) -> None:
    """The leaderboard of the selected experiments, then the wall time (not when ``quiet``) and what did not pass;
    exit 1 when an experiment failed, 5 when nothing ran."""
    from benchmark.report import leaderboard, render
    from benchmark.run.planner import DONE, FAILED

    outcome, plan = result.outcome, result.plan
    boards = leaderboard.build_boards(result.rows, methods=result.catalog.methods, run_dir=out_dir)
    if boards:
        console.print(render.render_rich(boards))
    console.print(f"results: {escape(str(out_dir / STORE_FILE))}")
    if outcome.wall and not quiet:
        busy = ", ".join(f"{device} {share:.0%}" for device, share in sorted(outcome.busy.items()))
        console.print(f"wall time {duration(outcome.wall)} (forecast {duration(outcome.forecast)}); busy: "
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


# the sections of `tlbench run --help`: what runs, what determines its results, how and where it runs, what it keeps
RUN_HELP_SECTIONS = {
    "Selection": ("plugin_args", "select_all", "datasets", "sources", "methods", "seeds", "keyword", "collect_only",
                  "verbose"),
    "Protocol": ("preset", "backbone", "image_size", "max_epochs", "batch_size", "official_splits", "model_args",
                 "source_training", "precision", "imagenet_weights", "strict", "max_unreadable", "audit"),
    "Execution": ("device", "data_root", "cache_dir", "online", "compile_model", "svm_backend", "threads",
                  "jobs_per_gpu", "launcher", "launcher_options", "retries", "cpus_per_job", "rerun", "exitfirst"),
    "Output": ("out_dir", "keep_models", "quiet"),
}


@main.command("run", cls=SectionedCommand, sections=RUN_HELP_SECTIONS)
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
@click.option("-q", "--quiet", is_flag=True, help="Print only warnings, failures, the leaderboard and where the "
              "results are: no header, plan counts, progress, passed experiments or timings.")
@out_option
@click.option("--rerun", type=click.Choice(RERUN), default=None, help="Run again what is recorded.")
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
@click.option("--source-training", type=click.Choice(SOURCE_TRAININGS), default=None,
              help="Sources tlbench trains on a dataset: once (seed 0, one model shared by every seed, as the study "
                   "did) or per-seed (a model for each seed, so that ± and tests include another training of the "
                   "source) [default: the preset's, once].")
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
                quiet, out_dir, rerun, exitfirst, device, preset, backbone, image_size, max_epochs, batch_size,
                official_splits, model_args, source_training, data_root, cache_dir, imagenet_weights, online, strict,
                max_unreadable, audit, compile_model, precision, svm_backend, threads, jobs_per_gpu, keep_models,
                launcher, launcher_options, retries, cpus_per_job):
    """Run the selected experiments (target x source x method x seed) and print the leaderboard."""
    from benchmark.run.grid import GridError, run_grid

    if not (select_all or datasets or sources or methods or keyword or seeds or collect_only):
        raise click.UsageError("nothing selected: pass --all, or filters such as -d, -s, -m, -k")
    try:
        seed_list = tuple(int(s) for s in seeds.split(",")) if seeds else ()
    except ValueError:
        raise click.UsageError(f"--seeds {seeds!r}: give comma-separated integers, e.g. 2,5,7") from None
    overrides = {"device": device, "backbone": backbone, "image_size": image_size, "max_epochs": max_epochs,
                 "batch_size": batch_size, "official_splits": official_splits,
                 "model_args": parse_model_args(model_args), "source_training": source_training,
                 "data_root": data_root, "cache_dir": cache_dir,
                 "imagenet_weights": imagenet_weights, "online": online, "strict": strict,
                 "max_unreadable": max_unreadable, "compile": compile_model, "precision": precision,
                 "svm_backend": svm_backend,
                 "jobs_per_gpu": jobs_per_gpu, "keep_models": keep_models}
    _log_to(console)
    logging.getLogger("benchmark").setLevel(logging.WARNING if quiet else logging.INFO)
    try:
        result = run_grid(
            preset, overrides=overrides, datasets=datasets, sources=sources, methods=methods, seeds=seed_list,
            keyword=keyword, launcher=launcher, launcher_options=parse_launcher_options(launcher_options),
            retries=retries, cpus_per_job=cpus_per_job, threads=threads, store=out_dir, rerun=rerun,
            exitfirst=exitfirst, audit=audit, collect_only=collect_only,
            plugins=tuple(ctx.obj.get("plugins", ())) + tuple(plugin_args), config=_config(ctx), console=console,
            quiet=quiet)
    except GridError as error:
        raise click.UsageError(str(error)) from error
    except KeyboardInterrupt:
        console.print(f"[red]interrupted[/]: finished results, and the passed results that unfinished reruns would "
                      f"replace, are kept in {escape(str(out_dir / STORE_FILE))}; run again to resume")
        sys.exit(130)
    if result.dry_run is not None:
        _print_dry_run(result.dry_run)
    elif collect_only:
        _print_plan(result, verbose)
    else:
        _print_outcome(result, out_dir, quiet)
