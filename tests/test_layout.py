"""The package's shape: every core module has a layer and imports only from its own layer or below (type-only
and function-local imports included), no import circles, and built-in plugins that use only the public API (so each
is a fair example for a third-party author). The layer order is written in docs/architecture.md."""

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import benchmark

ROOT = Path(__file__).resolve().parents[1]

# bottom-up: a module may import from its own layer or a lower one
LAYERS = ("contracts", "files", "engine", "data", "registry", "run", "report", "cli")
# the top-level modules of the contracts layer: light, no torch import at module load
CONTRACTS = frozenset({"hashing", "names", "presets", "settings", "datasets", "methods", "sources",
                       "estimators", "visualizers", "launchers", "hookspecs", "acceleration", "inputs"})
FACADES = frozenset({"benchmark", "benchmark.testing"})  # on top of every layer: they may import anything


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str, root: Path) -> bool:
    path = root / name.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def imports_of(path: Path, root: Path = ROOT) -> list[tuple[str, int]]:
    """Every benchmark module ``path`` imports, with the line: at module level, inside functions and under ``if
    TYPE_CHECKING:`` alike, relative imports resolved, ``importlib.import_module("benchmark...")`` included;
    ``from benchmark import name`` counts as the package itself unless ``name`` is a submodule."""
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else node.module
            if base and base.split(".")[0] == "benchmark":
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    found.append((sub if _is_module(sub, root) else base, node.lineno))
        elif isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names if alias.name.split(".")[0] == "benchmark"]
        elif _imported_by_name(node).split(".")[0] == "benchmark":
            found.append((_imported_by_name(node), node.lineno))
    return found


def _imported_by_name(node: ast.AST) -> str:
    """The module of an ``import_module("...")`` call with a literal name; "" for any other node."""
    if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
        return ""
    called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
    return node.args[0].value if called == "import_module" and isinstance(node.args[0].value, str) else ""


def imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    return {name for name, _ in imports_of(path, root)}


def rank(module: str) -> int | None:
    """The module's place in :data:`LAYERS` (facades above them all), or None for a module with no layer."""
    if module in FACADES:
        return len(LAYERS)
    parts = module.split(".")
    if len(parts) == 2 and parts[1] in CONTRACTS:
        return LAYERS.index("contracts")
    if len(parts) >= 2 and parts[1] in LAYERS[1:]:
        return LAYERS.index(parts[1])
    return None


def layer_violations(root: Path = ROOT) -> tuple[list[str], list[tuple[str, str, int]]]:
    """The modules under ``root/benchmark`` with no layer, and the imports (importer, imported, line) that run
    up the layers."""
    unranked, upward = [], []
    for path in sorted((root / "benchmark").rglob("*.py")):
        importer = module_name(path, root)
        if rank(importer) is None:
            unranked.append(importer)
            continue
        for imported, line in imports_of(path, root):
            if rank(imported) is None or rank(imported) > rank(importer):
                upward.append((importer, imported, line))
    return unranked, upward


def test_every_core_module_has_a_layer():
    unranked, _ = layer_violations()
    assert unranked == [], f"rank these modules in LAYERS/CONTRACTS here and in docs/architecture.md: {unranked}"


def test_layers_hold():
    _, upward = layer_violations()
    up = [f"{importer} imports {imported} (line {line})" for importer, imported, line in upward]
    assert up == [], "imports that run up the layers " + " < ".join(LAYERS) + ":\n" + "\n".join(up)


def test_the_store_file_is_named_in_one_place():
    from benchmark.run.store import STORE_FILE

    naming = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "benchmark").rglob("*.py")
                    if f'"{STORE_FILE}"' in path.read_text())
    assert naming == ["benchmark/run/store.py"], f"use benchmark.run.store.STORE_FILE in {naming}"


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def test_the_layer_check_finds_planted_up_imports_of_every_kind(tmp_path):
    root = _tree(tmp_path, {
        "benchmark/__init__.py": "from benchmark.cli.main import run\n",
        "benchmark/testing.py": "import benchmark.cli.main\n",
        "benchmark/names.py": "",
        "benchmark/datasets.py": "from benchmark import names\n",
        "benchmark/engine/__init__.py": "",
        "benchmark/engine/models.py": """\
            from typing import TYPE_CHECKING

            from benchmark.datasets import Dataset
            from . import helpers

            if TYPE_CHECKING:
                from benchmark.run.store import Store
            """,
        "benchmark/engine/helpers.py": """\
            def later():
                from ..data import images
                import importlib
                return importlib.import_module("benchmark.report.tables")
            """,
        "benchmark/data/__init__.py": "",
        "benchmark/data/images.py": "from benchmark.engine.models import create\nfrom benchmark import engine\n",
        "benchmark/run/__init__.py": "",
        "benchmark/run/store.py": "from benchmark.data.images import load\nfrom benchmark import run_grid\n",
        "benchmark/report/__init__.py": "",
        "benchmark/report/tables.py": "",
        "benchmark/cli/__init__.py": "",
        "benchmark/cli/main.py": "from benchmark.report import tables\n",
        "benchmark/scratchpad.py": "",
        "benchmark/extras/thing.py": "",
    })
    unranked, upward = layer_violations(root)
    assert unranked == ["benchmark.extras.thing", "benchmark.scratchpad"]
    assert upward == [
        ("benchmark.engine.helpers", "benchmark.data.images", 2),  # function-local, relative
        ("benchmark.engine.helpers", "benchmark.report.tables", 4),  # import_module
        ("benchmark.engine.models", "benchmark.run.store", 7),  # type-only
        ("benchmark.run.store", "benchmark", 2),  # the facade
    ]


def core_graph() -> dict[str, set[str]]:
    return {module_name(path): imported_modules(path) for path in (ROOT / "benchmark").rglob("*.py")}


def test_the_core_has_no_import_circles():
    graph = core_graph()
    # the package facade imports the API modules; none of them may import the facade back
    importers_of_facade = sorted(name for name, deps in graph.items() if "benchmark" in deps and name != "benchmark")
    assert importers_of_facade == [], f"modules that import the facade `benchmark` (a circle): {importers_of_facade}"
    circles = []

    def visit(name, path):
        for dep in graph.get(name, ()):
            if dep in path:
                circles.append(path[path.index(dep):] + [dep])
            elif dep != "benchmark":
                visit(dep, path + [dep])

    for name in graph:
        visit(name, [name])
    assert circles == []


def test_built_in_plugins_import_only_the_public_api():
    for path in (ROOT / "plugins").rglob("*.py"):
        private = sorted(m for m in imported_modules(path) if m != "benchmark")
        assert private == [], f"{path.relative_to(ROOT)} imports {private}: use what `benchmark` exports"


def test_the_public_api_is_what_the_facade_exports():
    for name in benchmark.__all__:
        assert hasattr(benchmark, name), name


def test_help_imports_no_heavy_module():
    """`tlbench --help` (and each command's) answers without importing torch, timm, scikit-learn or scipy."""
    script = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from benchmark.cli import main\n"
        "for args in (['--help'], ['run', '--help'], ['list', '--help']):\n"
        "    assert CliRunner().invoke(main, args).exit_code == 0, args\n"
        "print(sorted(m for m in ('torch', 'timm', 'sklearn', 'scipy') if m in sys.modules))\n"
        "import benchmark\n"
        "print(benchmark.Method.__module__, 'torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.splitlines() == ["[]", "benchmark.methods False"]


def test_the_lazy_facade_lists_and_resolves_every_public_name():
    assert set(benchmark.__all__) <= set(dir(benchmark))
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        benchmark.Nothing  # noqa: B018


def test_every_package_is_installed_by_a_plain_pip_install():
    """pyproject's explicit package list names every package of the tree (an editable install finds a missing one
    anyway; `pip install .` does not)."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {module_name(init.parent / "x.py").rsplit(".", 1)[0] for init in (ROOT / "benchmark").rglob("__init__.py")}
    found |= {"tlbench_plugins" + module_name(init.parent / "x.py")[len("plugins"):].rsplit(".", 1)[0]
              for init in (ROOT / "plugins").rglob("__init__.py")}
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
