"""The experiment grid: target task x source x method x seed, what of it can run, and why not."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from benchmark.data.filedatasets import status_allowing
from benchmark.data.splits import split_problem, uses_official
from benchmark.data.taskstatus import task_status
from benchmark.hashing import config_hash
from benchmark.registry.catalog import Catalog
from benchmark.run.selection import compile_expression
from benchmark.run.skips import LEAK, SOURCE, TARGET, SkipReason
from benchmark.settings import RunSettings

NO_SOURCE = "none"

PENDING, DONE, FAILED, SKIPPED = "pending", "done", "failed", "skipped"


@dataclass(frozen=True)
class Experiment:
    target: str
    source: str
    method: str
    seed: int

    @property
    def node_id(self) -> str:
        return f"{self.target}::{self.source}::{self.method}[seed={self.seed}]"


@dataclass
class PlannedExperiment:
    """An experiment with its full configuration and what this run will do with it."""

    experiment: Experiment
    config: dict
    config_hash: str
    state: str = PENDING
    reason: SkipReason | str = ""  # a skipped one's SkipReason; for the others a note on their state, or ""
    notes: dict = field(default_factory=dict)  # facts found before it runs, stored with its result


@dataclass
class Selection:
    """The user's filters; empty tuples select everything."""

    datasets: Sequence[str] = ()
    sources: Sequence[str] = ()
    methods: Sequence[str] = ()
    seeds: Sequence[int] = ()
    keyword: str = ""


@dataclass
class Plan:
    """The selected experiments, and ``problems``: what of the selection names nothing known, or leaves a
    requested method or source without any experiment (each saying what to change)."""

    experiments: list[PlannedExperiment] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    images: dict[str, int] = field(default_factory=dict)  # images of each target task that can run

    def by_state(self, state: str) -> list[PlannedExperiment]:
        return [p for p in self.experiments if p.state == state]


def _check_names(kind: str, wanted: Sequence[str], known: set[str]) -> list[str]:
    return [f"unknown {kind} {name!r} (known: {', '.join(sorted(known)) or 'none'})"
            for name in wanted if name not in known]


def paired_sources(method, sources: dict) -> list[str]:
    """The sources ``method`` runs from: none (``NO_SOURCE``) for a method without one; for a method that trains,
    only the sources whose weights are worth fine-tuning (``Source.fine_tunable``: fine-tuning random weights is
    training from scratch, which the ``none::scratch`` column already is)."""
    if not method.uses_source:
        return [NO_SOURCE]
    return [name for name, source in sources.items() if source.fine_tunable or not method.trains]


def _unpaired(selection: Selection, methods: dict, sources: dict, planned: list[PlannedExperiment]) -> list[str]:
    """A requested method or source that no experiment has because the other filter excludes its pairing."""
    used_methods = {p.experiment.method for p in planned}
    used_sources = {p.experiment.source for p in planned}
    chosen = [methods[m] for m in selection.methods if m in methods] or list(methods.values())
    problems = []
    for name in selection.methods:
        if name not in methods or name in used_methods or not selection.sources:
            continue
        if not methods[name].uses_source and NO_SOURCE not in selection.sources:
            problems.append(f"method {name} uses no source: add -s {NO_SOURCE}")
        elif methods[name].uses_source and not set(selection.sources) & set(sources):
            problems.append(f"method {name} needs a source and -s {NO_SOURCE} is for methods without one: add -s "
                            f"with one of {', '.join(sorted(sources))}")
        elif methods[name].uses_source and not set(selection.sources) & set(paired_sources(methods[name], sources)):
            frozen = ", ".join(sorted(set(selection.sources) & set(sources)))
            problems.append(f"method {name} trains, and source {frozen} pairs with frozen methods only (its weights "
                            f"are a random initialisation: fine-tuning them is training from scratch, -s {NO_SOURCE} "
                            f"-m scratch); add -s with one of "
                            f"{', '.join(sorted(paired_sources(methods[name], sources)))}")
    for name in selection.sources:
        if name in used_sources or (name != NO_SOURCE and name not in sources):
            continue
        if name == NO_SOURCE and all(m.uses_source for m in chosen):
            without = sorted(m.name for m in methods.values() if not m.uses_source)
            problems.append(f"source {NO_SOURCE} is for methods without a source: add -m with one of "
                            f"{', '.join(without) or '(none registered)'}")
        elif name != NO_SOURCE and not any(name in paired_sources(m, sources) for m in chosen):
            users = sorted(m.name for m in methods.values() if name in paired_sources(m, sources))
            problems.append(f"source {name}: no selected method uses a source: add -m with one of "
                            f"{', '.join(users) or '(none registered)'}")
    return problems


def skip_reason(dataset, source, source_name: str, target_state, source_state) -> SkipReason | None:
    """Why an experiment cannot run, or None when it can."""
    if not target_state.available:
        return SkipReason(TARGET, dataset.name, target_state.message)
    if source_state is not None and not source_state[0]:
        return SkipReason(SOURCE, source_name, source_state[1])
    trained = source.trained_on if source is not None else None
    if trained is not None:
        if trained[0].name == dataset.name:
            return SkipReason(LEAK, "", "trained on the target's own dataset (its test images would leak)")
        shared = trained[0].collections & dataset.collections
        if shared:
            return SkipReason(LEAK, "", f"shares images of {', '.join(sorted(shared))} with the target (its test "
                                        f"images may be among the training images of source {source_name})")
    return None


def target_identity(dataset, task, settings: RunSettings, fingerprints: dict) -> dict:
    """What determines a target task's data: the dataset's version, the task and its data's fingerprint."""
    if task.name not in fingerprints:
        fingerprints[task.name] = dataset.fingerprint(task, settings.data_root)
    return {"dataset": dataset.name, "version": dataset.version, "task": task.name, "data": fingerprints[task.name]}


def _split_problem(dataset, task, settings: RunSettings, problems: dict, images: dict) -> SkipReason | None:
    """Why the task's classes cannot be split (:meth:`Dataset.class_counts`), or None; ``images`` gains the
    task's image count."""
    if task.name not in problems:
        counts, official = dataset.class_counts(task, settings.data_root)
        images[task.name] = int(counts.sum())
        # a dataset that always uses its own split says so only once loaded: planning checks it as seeded
        seeded = not uses_official(settings.preset.official_splits, official, False, dataset.official_split_default)
        problem = "" if seeded else _missing_official_test(dataset, task, settings)
        problem = problem or split_problem(task.classes, counts, seeded)
        problems[task.name] = SkipReason(TARGET, task.name, problem) if problem else None
    return problems[task.name]


def _missing_official_test(dataset, task, settings: RunSettings) -> str:
    """Why the official split the preset asks for cannot be used (it has no test part here), or ''."""
    parts = dataset.official_parts(task, settings.data_root)
    if "test" in parts:
        return ""
    return (f"the preset asks for official splits, but the official split of {dataset.name} under the data root has "
            f"no test part (only {', '.join(sorted(parts))}): add that part, or pass --no-official-splits to split "
            "it by seed")


def build_plan(catalog: Catalog, settings: RunSettings, selection: Selection) -> Plan:
    """Enumerate the selected grid and mark what cannot run (as skipped, with the reason)."""
    targets = catalog.target_tasks()
    sources = catalog.all_sources()
    methods = catalog.methods
    plan = Plan()
    plan.problems += _check_names("dataset", selection.datasets, {ds.name for ds, _ in targets.values()} | set(targets))
    plan.problems += _check_names("source", selection.sources, set(sources) | {NO_SOURCE})
    plan.problems += _check_names("method", selection.methods, set(methods))
    keyword = compile_expression(selection.keyword) if selection.keyword else None
    seeds = tuple(selection.seeds) or settings.preset.seeds
    source_states = {name: source.status(settings) for name, source in sources.items()}
    # by source, and by seed where it is trained per seed (None: one for every seed)
    identities: dict[tuple[str, int | None], dict] = {}
    fingerprints: dict[str, str] = {}
    split_problems: dict[str, SkipReason | None] = {}
    unreadable: dict[str, SkipReason] = {}  # task -> why its data could not be read at planning
    dataset_states, target_states = {}, {}
    for task_name, (dataset, task) in targets.items():
        if selection.datasets and dataset.name not in selection.datasets and task_name not in selection.datasets:
            continue
        if dataset.name not in dataset_states:
            dataset_states[dataset.name] = status_allowing(dataset, settings.data_root, settings.max_unreadable)
        target_states[task_name] = task_status(dataset, task, settings.data_root, dataset_states[dataset.name])
        for method_name, method in methods.items():
            if selection.methods and method_name not in selection.methods:
                continue
            for source_name in paired_sources(method, sources):
                if selection.sources and source_name not in selection.sources:
                    continue
                source = sources.get(source_name)
                for seed in seeds:
                    experiment = Experiment(task_name, source_name, method_name, seed)
                    if keyword and not keyword(experiment.node_id):
                        continue
                    reason = skip_reason(dataset, source, source_name, target_states[task_name],
                                          source_states.get(source_name))
                    target = {"dataset": dataset.name, "version": dataset.version, "task": task_name}
                    if not reason and task_name not in unreadable:
                        try:
                            target = target_identity(dataset, task, settings, fingerprints)
                        except Exception as error:  # a plugin's data that cannot even be read: this target only
                            unreadable[task_name] = SkipReason(
                                TARGET, task_name, f"dataset {dataset.name!r} (plugin module "
                                                   f"{type(dataset).__module__}) could not be read: {error}")
                    reason = reason or unreadable.get(task_name)
                    if not reason:
                        reason = _split_problem(dataset, task, settings, split_problems, plan.images)
                    usable = not reason
                    seeded = source.for_seed(settings, seed) if source is not None else None
                    key = (source_name, None if seeded is source else seed)
                    if seeded is not None and key not in identities and usable:
                        identities[key] = seeded.identity(settings)
                    config = {
                        # an experiment that cannot run has no data or weights to fingerprint
                        "target": {**target, "provider": catalog.provider("datasets", dataset.name)},
                        "source": identities.get(key, {"name": source_name}) if source else None,
                        "method": {"name": method_name, "version": method.version},
                        "seed": seed,
                        "preset": settings.preset.hashable(),
                        "runtime": settings.runtime,
                    }
                    planned = PlannedExperiment(experiment, config, config_hash(config))
                    if reason:
                        planned.state, planned.reason = SKIPPED, reason
                    plan.experiments.append(planned)
    plan.problems += _unpaired(selection, methods, sources, plan.experiments)
    return plan
