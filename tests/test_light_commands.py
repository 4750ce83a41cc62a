"""Commands that only read answer without importing torch, timm or the plugins' heavy modules: each runs in a
fresh interpreter, which then reports what it imported."""

import json
import subprocess
import sys

import pytest
from conftest import TINY, subprocess_env

# the packages a command that only reads must not load, and those it may not load either where it does not draw
NEVER = ("torch", "timm")
# half a second of imports that printing a board does without (benchmark.report.stats uses scipy.special alone)
NOT_FOR_A_BOARD = ("sklearn", "scipy.stats", "scipy.optimize")
GRID = ["-d", "synth_cells", "-s", "none", "-m", "scratch", "--seeds", "0", *TINY]

PROBE = """
import json, sys
from click.testing import CliRunner
from benchmark.cli import main
result = CliRunner().invoke(main, sys.argv[1:])
heavy = ("torch", "timm", "sklearn", "scipy", "scipy.stats", "scipy.optimize", "matplotlib")
print(json.dumps({"exit": result.exit_code, "output": result.output[-3000:],
                  "loaded": [m for m in heavy if m in sys.modules]}))
"""


def loaded_by(*args, env: dict) -> tuple[int, list[str], str]:
    """``tlbench ARGS`` in a fresh interpreter: its exit code, the heavy packages loaded after it, its output."""
    done = subprocess.run([sys.executable, "-c", PROBE, *map(str, args)], capture_output=True, text=True, env=env,
                          check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report["exit"], report["loaded"], report["output"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[str, dict]:
    """A run folder holding one finished experiment, and the environment (its cache) that ran it."""
    folder = tmp_path_factory.mktemp("light")
    env = subprocess_env(TLBENCH_CACHE=str(folder / "cache"), TLBENCH_DISTRIBUTIONS="tlbench", HF_HUB_OFFLINE="1",
                         HF_HUB_CACHE=str(folder / "hf-hub"))  # no weights cached: whatever this machine holds
    out = folder / "run"
    status, _, output = loaded_by("run", *GRID, "--out", out, env=env)
    assert status == 0, output
    return str(out), env


@pytest.mark.parametrize("command", [
    ["list"], ["plugins"], ["presets"], ["show", "--out", "{out}"], ["show", "--out", "{out}", "--metric", "auc_ovr"],
    ["run", *GRID, "--out", "{out}", "--collect-only"], ["run", *GRID, "--out", "{out}"],
], ids=["list", "plugins", "presets", "show", "show-metric", "collect-only", "no-op-run"])
def test_commands_that_only_read_import_no_torch(finished, command):
    out, env = finished
    status, loaded, output = loaded_by(*[part.replace("{out}", out) for part in command], env=env)
    assert status == 0, output
    assert not set(NEVER) & set(loaded), f"`tlbench {' '.join(command)}` imported {loaded}"
    assert not set(NOT_FOR_A_BOARD) & set(loaded), f"`tlbench {' '.join(command)}` imported {loaded}"
    if command[0] == "run" and "--collect-only" not in command:
        assert "0 to run, 1 done" in output  # the rerun had nothing to do


def test_listing_loads_no_numerics_of_any_plugin(finished):
    """`list` and `plugins` read names and descriptions: no scikit-learn, scipy or matplotlib either."""
    _, env = finished
    for command in (["list"], ["plugins"]):
        status, loaded, output = loaded_by(*command, env=env)
        assert status == 0, output
        assert loaded == [], f"`tlbench {' '.join(command)}` imported {loaded}"
