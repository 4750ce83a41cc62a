"""Make tlbench importable from a source checkout without installing it: ``python perf/devpath.py DIR`` writes into
``DIR`` links to ``benchmark/`` and to ``plugins/`` (as ``tlbench_plugins``) and a ``tlbench`` dist-info holding
pyproject.toml's entry points, so that with ``PYTHONPATH=DIR`` the plugins are found as after ``pip install``.

perf/device_check.sh falls back to it where pip cannot install (no build backend, a read-only environment).
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def write_site(site: Path) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    site.mkdir(parents=True, exist_ok=True)
    for link, target in (("benchmark", ROOT / "benchmark"), ("tlbench_plugins", ROOT / "plugins")):
        (site / link).unlink(missing_ok=True)
        (site / link).symlink_to(target, target_is_directory=True)
    info = site / f"tlbench-{project['version']}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: tlbench\nVersion: {project['version']}\n")
    groups = {"console_scripts": project.get("scripts", {}), **project.get("entry-points", {})}
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in entries.items()) + "\n"
        for group, entries in groups.items()))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python perf/devpath.py DIR")
    write_site(Path(sys.argv[1]))
