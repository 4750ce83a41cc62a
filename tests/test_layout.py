"""The package's shape: no import circles among the core's modules, and built-in plugins that use only the
public API (so each is a fair example for a third-party author)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import benchmark

ROOT = Path(__file__).resolve().parents[1]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every benchmark module ``path`` imports, type-checking-only imports included; ``from benchmark import
    name`` counts as the package itself unless ``name`` is a submodule."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.startswith("benchmark"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if (ROOT / sub.replace(".", "/")).with_suffix(".py").exists() else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("benchmark")}
    return found


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
