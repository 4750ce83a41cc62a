"""A run killed midway loses nothing that finished, and a rerun completes the grid exactly once."""

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import subprocess_env
from fakedata import no_builtin_datasets

TLBENCH = str(Path(sys.executable).parent / "tlbench")
BLOCK_BUILTIN = [arg for flag in no_builtin_datasets() for arg in ("-p", flag)]
ARGS = ["-p", "tiny_plugin", *BLOCK_BUILTIN, "run", "--all", "-m", "scratch", "-m", "fe-svm", "-m", "ft-svm",
        "--seeds", "2,5", "--backbone", "test_resnet",
        "--image-size", "16", "--preset", "cpu-quick"]


def passed(db_path):
    if not db_path.exists():
        return []
    db = sqlite3.connect(db_path, timeout=30)
    try:
        return db.execute(
            "SELECT node_id, config_hash, finished_at, metrics FROM experiments WHERE status = 'passed'"
        ).fetchall()
    except sqlite3.OperationalError:  # table not created yet
        return []
    finally:
        db.close()


def test_kill_midway_then_rerun(tmp_path):
    out = tmp_path / "runs"
    db_path = out / "tlbench.sqlite"
    env = subprocess_env(TLBENCH_CACHE=str(tmp_path / "cache"))
    # many epochs make each experiment last long enough to be killed in the middle of the grid
    process = subprocess.Popen([TLBENCH, *ARGS, "--max-epochs", "25", "--out", str(out)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while len(passed(db_path)) < 3 and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = passed(db_path)
    assert 3 <= len(before) < 16, "the run should have been killed midway"

    finished = subprocess.run([TLBENCH, *ARGS, "--max-epochs", "25", "--out", str(out)], env=env,
                              capture_output=True, text=True)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert f"{16 - len(before)} to run, {len(before)} done" in finished.stdout
    after = passed(db_path)
    node_ids = [row[0] for row in after]
    assert len(after) == 16 and len(set(node_ids)) == 16
    assert set(before) <= set(after), "finished results must survive the kill unchanged"
    db = sqlite3.connect(db_path)
    assert db.execute("SELECT COUNT(*) FROM experiments WHERE status != 'passed'").fetchone()[0] == 0
