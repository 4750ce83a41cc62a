"""Before a grid runs: the sources it must train, the leak audit of its images, and what it says it will do."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from benchmark.run.planner import DONE, FAILED, NO_SOURCE, PENDING, SKIPPED, Plan
from benchmark.run.skips import LEAK_AUDIT, SOURCE, TARGET, SkipReason, count_by_reason

if TYPE_CHECKING:
    from benchmark.registry.catalog import Catalog
    from benchmark.settings import RunSettings
    from benchmark.sources import Source


def trained_sources(plan: Plan, catalog: Catalog, settings: RunSettings) -> dict[str, Source]:
    """The harness-trained sources of the pending experiments by label (a model each: one per seed where a source
    is trained per seed), in label order."""
    sources, found = catalog.all_sources(), {}
    for planned in plan.by_state(PENDING):
        source = sources.get(planned.experiment.source)
        if source is not None and source.trained_on is not None:
            seeded = source.for_seed(settings, planned.experiment.seed)
            found[seeded.label] = seeded
    return dict(sorted(found.items()))


def sources_to_train(plan: Plan, catalog: Catalog, settings: RunSettings) -> list[str]:
    """The labels of the harness-trained sources of the pending experiments whose models are not cached yet."""
    return [label for label, source in trained_sources(plan, catalog, settings).items()
            if not source.trained_model_path(settings).exists()]


def audit_plan(plan: Plan, catalog: Catalog, settings: RunSettings, console: Console) -> None:
    """Audit the pending experiments' images; a leak is a warning and a note stored with each experiment it
    touches, or under ``settings.strict`` a skip."""
    from benchmark.run.audit import WITHIN, audit_pairs

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
        if settings.strict:
            planned.state = SKIPPED
            planned.reason = SkipReason(LEAK_AUDIT, "", "leak audit (--strict): " + "; ".join(
                f"{leak.name} shares {leak.images} near-duplicate image(s)" for leak in found))


def announce(plan: Plan, console: Console) -> None:
    """How many are selected, to run, done, skipped and failed before; one line for everything skipped for
    missing data or weights, one per other reason."""
    skipped = plan.by_state(SKIPPED)
    console.print(f"{len(plan.experiments)} selected: {len(plan.by_state(PENDING))} to run, "
                  f"{len(plan.by_state(DONE))} done, {len(skipped)} skipped, {len(plan.by_state(FAILED))} failed "
                  "before")
    missing: dict[str, set[str]] = {TARGET: set(), SOURCE: set()}
    others = []
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
