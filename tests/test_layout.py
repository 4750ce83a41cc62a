"""The package's shape: no import circles among the core's modules, and built-in plugins that use only the
public API (so each is a fair example for a third-party author)."""

import ast
from pathlib import Path

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
