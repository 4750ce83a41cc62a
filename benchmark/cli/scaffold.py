"""``tlbench new``: write a plugin package skeleton from the templates in ``benchmark/templates``.

A skeleton is ready to ``pip install -e`` and passes its own tests as written; the example package in
``examples/`` was made from the same templates.
"""

from __future__ import annotations

import errno
import keyword
import os
import re
import shutil
from pathlib import Path
from string import Template

import click

TEMPLATES = Path(__file__).parents[1] / "templates"
KINDS = ("dataset", "method")
MAX_NAME = 64  # a name becomes folder and file names (tlbench-NAME, tests/test_NAME.py): well under 255 bytes


def check_name(name: str) -> str:
    """``name`` if it is a lowercase Python identifier (it names the package and the plugin) of at most
    :data:`MAX_NAME` characters; else ValueError."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or keyword.iskeyword(name):
        raise ValueError(f"{name!r}: give a lowercase Python identifier, such as my_derm")
    if len(name) > MAX_NAME:
        raise ValueError(f"{name[:20]}... is {len(name)} characters long: give a name of at most {MAX_NAME}")
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
    """Write the skeleton into the new folder ``into`` and return it: whole or not at all (it is written into a
    temporary folder beside ``into``, then renamed). FileExistsError if ``into`` exists, OSError (its message
    saying what to do) when it cannot be made."""
    files = skeleton(kind, name)
    into = Path(into)
    staging = into.with_name(f".{into.name}.{os.getpid()}.tmp")
    try:
        if os.path.lexists(into):
            raise FileExistsError(f"{into} exists: choose another folder with --into, or remove it")
        blocking = next((p for p in into.parents if os.path.lexists(p) and not p.is_dir()), None)
        if blocking is not None:
            raise NotADirectoryError(errno.ENOTDIR, f"{blocking} is a file, not a folder")
        into.parent.mkdir(parents=True, exist_ok=True)
        for relative, text in files.items():
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            (staging / relative).write_text(text)
        os.rename(staging, into)
    except FileExistsError:
        raise
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise OSError(error.errno, f"cannot create {into} ({error.strerror or error}): choose another folder with "
                                   "--into") from None
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
        except (ValueError, OSError) as error:
            raise click.UsageError(error.strerror if isinstance(error, OSError) and error.strerror else str(error)
                                   ) from None
        click.echo(f"wrote {kind} plugin {name} into {folder}: pip install -e {folder} && pytest -q {folder}/tests")


for _kind in KINDS:
    _kind_command(_kind)
