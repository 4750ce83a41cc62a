"""docs/plugins.md: its python blocks run in order as one module (a block builds on the ones before it)."""

import re
import sys
import types
from pathlib import Path

from benchmark import hookspecs

GUIDE = Path(__file__).parents[1] / "docs" / "plugins.md"
BLOCK = re.compile(r"^```python([^\n]*)\n(.*?)^```", re.S | re.M)
HOOKS = [name for name in dir(hookspecs) if name.startswith("tlbench_register_")]


def runnable_blocks() -> list[tuple[int, str]]:
    """Each python block not marked ``no-run``: its first line in the guide and its code."""
    text = GUIDE.read_text()
    return [(text.count("\n", 0, m.start(2)) + 1, m.group(2)) for m in BLOCK.finditer(text)
            if "no-run" not in m.group(1)]


def test_the_guide_shows_every_hook_in_a_runnable_block():
    code = "".join(block for _, block in runnable_blocks())
    assert len(HOOKS) == 6
    for hook in HOOKS:
        assert f"def {hook}(register)" in code, hook


def test_every_python_block_of_the_guide_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType("plugin_guide")  # the blocks' plugin module: `-p plugin_guide` loads it
    monkeypatch.setitem(sys.modules, "plugin_guide", module)
    for line, code in runnable_blocks():
        # padded so that a traceback names the guide's own line
        exec(compile("\n" * (line - 1) + code, str(GUIDE), "exec"), module.__dict__)
