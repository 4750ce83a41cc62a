"""A store that cannot be read or written ends the command with one line saying what to do, keeping every result
committed before; `tlbench doctor` salvages a damaged store's readable rows."""

import os
import sqlite3

import pytest
from test_store_faults import GRID, grid, passed_rows, query

from benchmark.run import store as store_module
from benchmark.run.store import Store


@pytest.fixture
def out(tmp_path):
    return tmp_path / "runs"


def flat(text: str) -> str:
    return " ".join(text.split())


def one_line_error(result, *words):
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("error:")]
    for word in words:
        assert word in flat(result.output)
    return line


def test_a_garbage_database_names_doctor_and_doctor_moves_it_aside(cli, out):
    out.mkdir()
    (out / "tlbench.sqlite").write_bytes(b"this is not a database" * 100)
    for command in (grid(out), ["show", "--out", out]):
        one_line_error(cli(*command), "is damaged", "tlbench doctor --out")
    doctor = cli("doctor", "--out", out)
    assert doctor.exit_code == 0 and "salvaged into a new store: 0 experiments, 0 attempts" in flat(doctor.output)
    (kept,) = out.glob("tlbench.sqlite.damaged-*")
    assert kept.read_bytes().startswith(b"this is not a database")
    assert cli(*grid(out)).exit_code == 0 and len(passed_rows(out)) == GRID


def test_doctor_salvages_the_rows_on_intact_pages(cli, out):
    assert cli(*grid(out)).exit_code == 0
    doctor = flat(cli("doctor", "--out", out).output)
    assert doctor.endswith(f"pages intact rows: {GRID} experiments checked, all usable")
    path = out / "tlbench.sqlite"
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'experiments'").fetchone()[0]
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.close()
    data = bytearray(path.read_bytes())
    last = pages - 1  # a leaf page of the last table written: the attempts' or the results' overflow
    data[last * page_size: last * page_size + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    assert root >= 1

    one_line_error(cli("show", "--out", out), "is damaged", "malformed", "tlbench doctor --out")
    doctor = cli("doctor", "--out", out)
    assert doctor.exit_code == 0 and "was damaged" in flat(doctor.output), doctor.output
    salvaged = len(passed_rows(out))
    assert 0 < salvaged <= GRID
    again = cli(*grid(out))
    assert again.exit_code == 0 and f"{GRID - salvaged} to run, {salvaged} done" in again.output


def test_out_naming_a_file_is_one_line(cli, tmp_path):
    afile = tmp_path / "results.txt"
    afile.write_text("notes")
    one_line_error(cli(*grid(afile)), "not a folder")


def test_a_full_disk_stops_the_grid_at_the_failed_commit_keeping_what_was_committed(cli, out, monkeypatch):
    stored = store_module.Store._store_result
    calls = []

    def full_after_two(self, attempt, result):
        calls.append(attempt)
        if len(calls) > 2:
            raise sqlite3.OperationalError("database or disk is full")
        return stored(self, attempt, result)

    monkeypatch.setattr(store_module.Store, "_store_result", full_after_two)
    result = cli(*grid(out))
    line = one_line_error(result, "no space left", "every result committed so far is kept")
    assert "free some" in line
    assert len(passed_rows(out)) == 2 and len(calls) == 3, "the grid stops at the first failed commit"
    monkeypatch.undo()
    again = cli(*grid(out))
    assert again.exit_code == 0 and f"{GRID - 2} to run, 2 done" in again.output


def test_a_read_only_store_is_one_line(cli, out, monkeypatch):
    assert cli(*grid(out, seeds="2")).exit_code == 0

    def read_only(self, *args, **kwargs):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(store_module.Store, "_claimed_elsewhere", read_only)
    one_line_error(cli(*grid(out)), "cannot be written (read-only)", "--out")


def test_a_database_deleted_mid_run_stops_the_run_and_says_so(cli, out, monkeypatch):
    finish = Store.finish
    finished = []

    def delete_after_first(self, *args, **kwargs):
        finish(self, *args, **kwargs)
        finished.append(1)
        if len(finished) == 1:
            os.remove(self.path)

    monkeypatch.setattr(Store, "finish", delete_after_first)
    one_line_error(cli(*grid(out)), "was deleted or replaced")
    assert len(finished) == 1, "nothing more ran once the store was gone"
    assert query(out, "SELECT COUNT(*) FROM experiments") == []
