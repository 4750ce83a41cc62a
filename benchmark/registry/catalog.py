"""Everything the loaded plugins provide, by kind and name."""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmark.datasets import SOURCE, TARGET, Dataset, Task
from benchmark.estimators import Estimator
from benchmark.launchers import Launcher
from benchmark.methods import Method, shared_training_problem
from benchmark.names import check_name
from benchmark.registry.trainedsources import DatasetSource
from benchmark.sources import Source
from benchmark.visualizers import Visualizer

KINDS = ("datasets", "sources", "methods", "visualizers", "estimators", "launchers")
_TYPES = {"datasets": Dataset, "sources": Source, "methods": Method, "visualizers": Visualizer,
          "estimators": Estimator, "launchers": Launcher}


def _check_names(kind: str, obj) -> None:
    """Every name ``obj`` gives that tlbench writes out (see :mod:`benchmark.names`)."""
    noun = kind[:-1]
    check_name(noun, obj.name)
    if kind == "datasets":
        for task in obj.tasks():
            check_name(f"dataset {obj.name}: task", task.name)
            for name in task.classes:
                check_name(f"dataset {obj.name}, task {task.name}: class", name)
    if kind == "methods":
        check_name(f"method {obj.name}: label", obj.label)
        if problem := shared_training_problem(obj):
            raise ValueError(problem)


@dataclass
class PluginInfo:
    """One plugin as ``tlbench plugins`` reports it."""

    name: str
    module: str
    origin: str  # "entry point" or "-p"
    distribution: str = ""
    version: str = ""
    status: str = "ok"  # ok, broken or blocked
    error: str = ""
    provides: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "name": self.name, "module": self.module, "origin": self.origin,
            "distribution": self.distribution, "version": self.version, "status": self.status,
            "error": self.error, "provides": self.provides,
        }


@dataclass
class Catalog:
    """Registered datasets, sources, methods, visualisers, estimators and launchers, each with the plugin that owns
    it."""

    datasets: dict[str, Dataset] = field(default_factory=dict)
    sources: dict[str, Source] = field(default_factory=dict)
    methods: dict[str, Method] = field(default_factory=dict)
    visualizers: dict[str, Visualizer] = field(default_factory=dict)
    estimators: dict[str, Estimator] = field(default_factory=dict)
    launchers: dict[str, Launcher] = field(default_factory=dict)
    owners: dict[tuple[str, str], str] = field(default_factory=dict)
    plugins: list[PluginInfo] = field(default_factory=list)
    # the sources the harness trains, by task name: built once, so that what they work out holds for the catalog
    _trained: dict[str, DatasetSource] = field(default_factory=dict, init=False, repr=False, compare=False)

    def add(self, kind: str, obj, plugin: str) -> str | None:
        """Add ``obj``; return the owning plugin's name instead if the name is taken.
        :class:`~benchmark.names.InvalidName` when one of its names (a dataset's tasks and classes, a method's
        label too) is not a valid name."""
        if not isinstance(obj, _TYPES[kind]):
            raise TypeError(f"register() for {kind} takes a {_TYPES[kind].__name__}, got {type(obj).__name__}")
        if not getattr(obj, "name", ""):
            raise ValueError(f"a registered {_TYPES[kind].__name__} needs a non-empty name")
        _check_names(kind, obj)
        if (kind, obj.name) in self.owners:
            return self.owners[(kind, obj.name)]
        if kind == "datasets":
            known = self.tasks()
            for task in obj.tasks():
                if task.name in known:
                    return self.owners[("datasets", known[task.name][0].name)]
        getattr(self, kind)[obj.name] = obj
        self.owners[(kind, obj.name)] = plugin
        return None

    def provider(self, kind: str, name: str) -> dict:
        """Who provides an object: its plugin, and that plugin's distribution and version."""
        plugin = self.owners.get((kind, name), "")
        info = next((p for p in self.plugins if p.name == plugin), None)
        return {"plugin": plugin, "distribution": info.distribution if info else "",
                "version": info.version if info else ""}

    def tasks(self) -> dict[str, tuple[Dataset, Task]]:
        """Every task of every dataset, by task name."""
        return {task.name: (ds, task) for ds in self.datasets.values() for task in ds.tasks()}

    def target_tasks(self) -> dict[str, tuple[Dataset, Task]]:
        return {name: pair for name, pair in self.tasks().items() if TARGET in pair[1].roles}

    def all_sources(self) -> dict[str, Source]:
        """Registered sources, then the source the harness trains on each task with the source role: built once,
        the same object on every call (with what it holds, such as a model it could not write to the cache), its
        identity worked out afresh after each call, so that every plan sees the data as it is then."""
        for name, (ds, task) in self.tasks().items():
            if SOURCE in task.roles and name not in self.sources:
                if name in self._trained:
                    self._trained[name].refresh()
                else:
                    self._trained[name] = DatasetSource(ds, task)
        return {**self.sources, **{name: src for name, src in self._trained.items() if name not in self.sources}}
