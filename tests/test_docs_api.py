"""docs/api.md: its python blocks run in order as one module, in an empty folder (its run folders land there)."""

import re
from pathlib import Path

PAGE = Path(__file__).parents[1] / "docs" / "api.md"
BLOCK = re.compile(r"^```python([^\n]*)\n(.*?)^```", re.S | re.M)


def test_every_python_block_of_the_api_page_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = PAGE.read_text()
    blocks = [(text.count("\n", 0, m.start(2)) + 1, m.group(2)) for m in BLOCK.finditer(text)]
    assert len(blocks) == 4 and all("run_grid(" in code or "GridError" in code for _, code in blocks)
    namespace: dict = {"__name__": "api_page"}
    for line, code in blocks:
        # padded so that a traceback names the page's own line
        exec(compile("\n" * (line - 1) + code, str(PAGE), "exec"), namespace)
    assert (tmp_path / "runs" / "tlbench.sqlite").is_file() and not (tmp_path / "runs-slurm").exists()
