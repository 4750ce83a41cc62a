"""``tlbench new``: write a plugin package skeleton from the templates in ``benchmark/templates``.

A skeleton is ready to ``pip install -e`` and passes its own tests as written; the example package in
``examples/`` was made from the same templates.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path
from string import Template

import click

TEMPLATES = Path(__file__).parent / "templates"
KINDS = ("dataset", "method")


def check_name(name: str) -> str:
    """``name`` if it is a lowercase Python identifier (it names the package and the plugin); else ValueError."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or keyword.iskeyword(name):
        raise ValueError(f"{name!r}: give a lowercase Python identifier, such as my_derm")
    return name


def skeleton(kind: str, name: str) -> dict[str, str]:
    """The files of a ``kind`` plugin package named after ``name``: relative path -> text."""
    check_name(name)
    fields = {"kind": kind, "name": name, "package": f"tlbench_{name}", "dist": f"tlbench-{name.replace('_', '-')}",
              "classname": "".join(part.capitalize() for part in name.split("_"))}

    def fill(path: Path) -> str:
        return Template(path.read_text()).substitute(fields)

    return {
        "pyproject.toml": fill(TEMPLATES / "common" / "pyproject.toml.tmpl"),
        "README.md": fill(TEMPLATES / "common" / "README.md.tmpl"),
        f"{fields['package']}/__init__.py": fill(TEMPLATES / kind / "plugin.py.tmpl"),
        f"tests/test_{name}.py": fill(TEMPLATES / kind / "test_plugin.py.tmpl"),
    }


def write_skeleton(kind: str, name: str, into: Path) -> Path:
    """Write the skeleton into the new folder ``into`` and return it; FileExistsError if it exists."""
    files = skeleton(kind, name)
    into = Path(into)
    if into.exists():
        raise FileExistsError(f"{into} exists: choose another folder with --into, or remove it")
    for relative, text in files.items():
        (into / relative).parent.mkdir(parents=True, exist_ok=True)
        (into / relative).write_text(text)
    return into


@click.group("new")
def new_command():
    """Write a plugin package skeleton: pyproject.toml, the plugin module, a README and its tests."""


def _kind_command(kind: str):
    @new_command.command(kind, help=f"Write a {kind} plugin package into ./tlbench-NAME (or --into DIR).")
    @click.argument("name")
    @click.option("--into", type=click.Path(path_type=Path), default=None, help="Folder to create.")
    def command(name, into):
        try:
            folder = write_skeleton(kind, name, into or Path(f"tlbench-{name}"))
        except (ValueError, FileExistsError) as error:
            raise click.UsageError(str(error)) from error
        click.echo(f"wrote {kind} plugin {name} into {folder}: pip install -e {folder} && pytest -q {folder}/tests")


for _kind in KINDS:
    _kind_command(_kind)
