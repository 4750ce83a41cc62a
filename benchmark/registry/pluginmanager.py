"""Finding plugins (entry points, ``-p``, ``TLBENCH_PLUGINS``), isolating broken ones, and collecting
what each registers into a :class:`Catalog`."""

from __future__ import annotations

import importlib
import os
import traceback
from collections.abc import Iterable
from importlib.metadata import entry_points

import pluggy

import benchmark.hookspecs as hookspecs
from benchmark.registry.catalog import KINDS, Catalog, PluginInfo

ENTRY_POINT_GROUP = "tlbench"
ENV_VAR = "TLBENCH_PLUGINS"


def parse_plugin_args(args: Iterable[str], environ=os.environ) -> tuple[list[str], set[str]]:
    """Split ``-p`` values and ``TLBENCH_PLUGINS`` (comma-separated) into modules to load and blocked names."""
    values = [v.strip() for v in environ.get(ENV_VAR, "").split(",") if v.strip()] + list(args)
    modules = [v for v in values if not v.startswith("no:")]
    blocked = {v[3:] for v in values if v.startswith("no:")}
    return modules, blocked


def _builtin(ep) -> bool:
    return ep.dist is not None and ep.dist.metadata["Name"] == "tlbench"


def _short_error(error: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(error), error)).strip()


class PluginLoader:
    """Loads plugins one by one so that a failure stays with the plugin that caused it."""

    def __init__(self):
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: list[PluginInfo] = []
        self._modules: dict[str, object] = {}

    def _add(self, info: PluginInfo, load) -> None:
        self.plugins.append(info)
        try:
            module = load()
            self.pm.register(module, name=info.name)
            self.pm.check_pending()
        except Exception as error:  # a plugin's own failure must not stop the others
            if self.pm.has_plugin(info.name):
                self.pm.unregister(name=info.name)
            info.status, info.error = "broken", _short_error(error)
            return
        self._modules[info.name] = module

    def load(self, plugin_args: Iterable[str] = (), environ=os.environ) -> None:
        modules, blocked = parse_plugin_args(plugin_args, environ)
        # tlbench's own plugins first: on a name clash the built-in keeps its name, the newcomer is broken
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (not _builtin(e), e.name)):
            dist = ep.dist
            info = PluginInfo(
                ep.name, ep.value, "entry point",
                distribution=dist.metadata["Name"] if dist else "", version=dist.version if dist else "",
            )
            if ep.name in blocked or ep.value in blocked:
                info.status = "blocked"
                self.plugins.append(info)
                continue
            self._add(info, ep.load)
        for module_name in modules:
            if module_name in blocked or any(p.name == module_name for p in self.plugins):
                continue
            info = PluginInfo(module_name, module_name, "-p")
            self._add(info, lambda m=module_name: importlib.import_module(m))
            if info.status == "ok":
                info.version = str(getattr(self._modules[module_name], "__version__", ""))

    def collect(self) -> Catalog:
        """Call every plugin's register hooks into a fresh catalog."""
        catalog = Catalog()
        for info in self.plugins:
            if info.status != "ok":
                continue
            for kind in KINDS:
                hook = getattr(self.pm.hook, f"tlbench_register_{kind}")
                for impl in hook.get_hookimpls():
                    if impl.plugin_name != info.name:
                        continue
                    try:
                        impl.function(register=lambda obj, k=kind, i=info: self._register(catalog, i, k, obj))
                    except Exception as error:
                        info.status = "broken"
                        info.error = f"tlbench_register_{kind}: {_short_error(error)}"
        catalog.plugins = self.plugins
        return catalog

    def _register(self, catalog: Catalog, info: PluginInfo, kind: str, obj) -> None:
        """Add one object; a name already taken is refused and recorded on the second plugin."""
        owner = catalog.add(kind, obj, info.name)
        if owner is None:
            info.provides.setdefault(kind, []).append(obj.name)
            return
        info.status = "broken"
        message = (
            f"duplicate {kind[:-1]} name {obj.name!r}: plugin {info.name!r} registers it, but plugin "
            f"{owner!r} already did; rename one, or block one with -p no:NAME"
        )
        info.error = f"{info.error}; {message}" if info.error else message


def load_catalog(plugin_args: Iterable[str] = (), environ=os.environ) -> Catalog:
    """Discover, load and collect all plugins."""
    loader = PluginLoader()
    loader.load(plugin_args, environ)
    return loader.collect()
