"""Finding plugins (entry points, ``-p``, ``TLBENCH_PLUGINS``), isolating broken ones, and collecting
what each registers into a :class:`Catalog`.

A ``-p`` value is, in this order: the name of an entry point of the ``tlbench`` group (loaded already) or of
the ``tlbench.optional`` group (opt-in plugins, loaded only when named), the name of a built-in plugin module
under ``tlbench_plugins``, or an importable module path.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import pkgutil
import sys
import traceback
from collections.abc import Iterable
from importlib.metadata import entry_points

import pluggy

import benchmark.hookspecs as hookspecs
from benchmark.names import InvalidName
from benchmark.registry.catalog import KINDS, Catalog, PluginInfo

ENTRY_POINT_GROUP = "tlbench"
OPTIONAL_GROUP = "tlbench.optional"  # opt-in plugins, loaded by -p NAME
ENV_VAR = "TLBENCH_PLUGINS"
# Comma-separated distributions whose entry points are loaded (unset: every installed one); the tests set it to
# tlbench so that an installed third-party plugin does not change what they see.
DISTRIBUTIONS_VAR = "TLBENCH_DISTRIBUTIONS"
BUILTIN_PACKAGE = "tlbench_plugins"


def parse_plugin_args(args: Iterable[str], environ=os.environ) -> tuple[list[str], set[str]]:
    """Split ``-p`` values and ``TLBENCH_PLUGINS`` (comma-separated) into modules to load and blocked names."""
    values = [v.strip() for v in environ.get(ENV_VAR, "").split(",") if v.strip()] + list(args)
    modules = [v for v in values if not v.startswith("no:")]
    blocked = {v[3:] for v in values if v.startswith("no:")}
    return modules, blocked


def _builtin(ep) -> bool:
    return ep.dist is not None and ep.dist.metadata["Name"] == "tlbench"


def _entry_points(group: str, environ) -> list:
    """The group's entry points, of the distributions ``TLBENCH_DISTRIBUTIONS`` names when it is set."""
    found = list(entry_points(group=group))
    if environ.get(DISTRIBUTIONS_VAR) is None:
        return found
    allowed = {name.strip() for name in environ[DISTRIBUTIONS_VAR].split(",") if name.strip()}
    return [ep for ep in found if ep.dist is not None and ep.dist.metadata["Name"] in allowed]


def _builtin_modules() -> dict[str, str]:
    """Short name -> import path of each built-in plugin module (``blood_cells_pooled`` ->
    ``tlbench_plugins.datasets.blood_cells_pooled``)."""
    package = importlib.import_module(BUILTIN_PACKAGE)
    return {info.name.rpartition(".")[2]: info.name
            for info in pkgutil.walk_packages(package.__path__, f"{BUILTIN_PACKAGE}.") if not info.ispkg}


def _importable(name: str) -> bool:
    """Whether ``name`` is a module that exists (importing it may still fail: that is the plugin's error), or
    one already imported (a module made in memory has no spec to find)."""
    if name in sys.modules:
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a parent package that is missing, or a malformed name
        return False
    except Exception:  # a parent package that fails as it imports: loading it reports how
        return True


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
        for ep in sorted(_entry_points(ENTRY_POINT_GROUP, environ), key=lambda e: (not _builtin(e), e.name)):
            info = self._entry_point_info(ep, "entry point")
            if ep.name in blocked or ep.value in blocked:
                info.status = "blocked"
                self.plugins.append(info)
                continue
            self._add(info, ep.load)
        optional = {ep.name: ep for ep in _entry_points(OPTIONAL_GROUP, environ)}
        for name in modules:
            # a module an entry point loaded already (a package's tests run before and after `pip install`)
            if name in blocked or any(name in (p.name, p.module) for p in self.plugins):
                continue
            if name in optional:
                self._add(self._entry_point_info(optional[name], "-p"), optional[name].load)
                continue
            importable = _importable(name)
            builtins = {} if importable else _builtin_modules()
            module_name = name if importable else builtins.get(name)
            info = PluginInfo(name, module_name or name, "-p")
            if module_name is None:
                known = sorted({*(p.name for p in self.plugins), *optional, *builtins})
                close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
                info.status, info.error = "broken", (
                    f"no plugin {name!r}: not an entry point of {ENTRY_POINT_GROUP} or {OPTIONAL_GROUP}, a built-in "
                    f"plugin module, or an importable module"
                    + (f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(known)}"))
                self.plugins.append(info)
                continue
            self._add(info, lambda m=module_name: importlib.import_module(m))
            if info.status == "ok":
                info.version = str(getattr(self._modules[name], "__version__", ""))

    @staticmethod
    def _entry_point_info(ep, origin: str) -> PluginInfo:
        dist = ep.dist
        return PluginInfo(ep.name, ep.value, origin, distribution=dist.metadata["Name"] if dist else "",
                          version=dist.version if dist else "")

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
        """Add one object; a name already taken, or one that is not a valid name, is refused and recorded on the
        plugin (which is then broken; what it registered otherwise stays)."""
        try:
            owner = catalog.add(kind, obj, info.name)
        except InvalidName as error:
            self._refuse(info, f"plugin {info.name!r} registers an invalid {error}")
            return
        if owner is None:
            info.provides.setdefault(kind, []).append(obj.name)
            return
        self._refuse(info, f"duplicate {kind[:-1]} name {obj.name!r}: plugin {info.name!r} registers it, but plugin "
                           f"{owner!r} already did; rename one, or block one with -p no:NAME")

    @staticmethod
    def _refuse(info: PluginInfo, message: str) -> None:
        info.status = "broken"
        info.error = f"{info.error}; {message}" if info.error else message


def load_catalog(plugin_args: Iterable[str] = (), environ=os.environ) -> Catalog:
    """Discover, load and collect all plugins."""
    loader = PluginLoader()
    loader.load(plugin_args, environ)
    return loader.collect()
