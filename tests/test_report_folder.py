"""`tlbench report` writes its folder as the caches write their files (issue 27): into a temporary folder beside
it, then renamed; never through a symbolic link; a full disk or a target that cannot take a report is one line,
with the previous report left whole and no temporary folder left behind."""

import errno
import os
import pathlib
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_report import _write_store

from benchmark.report.folder import ReportFolderError, staged

FILES = ["report.html", "report.md", "results.csv", "sketch.png", "sketch.svg", "table.tex"]


def problems(output: str) -> list[str]:
    """The lines of ``output`` that are not the report's progress (a line per figure, and the figures' count)."""
    return [line for line in output.strip().splitlines() if not line.startswith(("figures", "figure "))]


def invoke(*args):
    """``tlbench report ARGS`` with only the test plugin's quick visualiser."""
    from benchmark.cli import main

    return CliRunner().invoke(main, ["-p", "report_plugin", "report", "-v", "sketch", *map(str, args)],
                              catch_exceptions=False)


@pytest.fixture
def run(tmp_path) -> Path:
    folder = tmp_path / "run"
    _write_store(folder)
    return folder


def contents(folder: Path) -> dict[str, bytes]:
    """Every entry under ``folder`` (links as links, never followed) by relative path."""
    found = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        found[key] = f"-> {os.readlink(path)}".encode() if path.is_symlink() else \
            path.read_bytes() if path.is_file() else b"<dir>"
    return found


def hidden(folder: Path) -> list[str]:
    """The temporary folders a report leaves beside its own when it does not clean up."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_symlink_planted_in_the_report_is_replaced_and_its_target_untouched(run, tmp_path):
    assert invoke("--out", run).exit_code == 0
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    planted = run / "report" / "results.csv"
    planted.unlink()
    planted.symlink_to(outside)
    before = sorted(p.name for p in (run / "report").iterdir())
    result = invoke("--out", run)
    assert result.exit_code == 0, result.output
    assert outside.read_text() == "precious"
    assert not planted.is_symlink() and planted.read_text().startswith("node_id,target,source,method")
    assert sorted(p.name for p in (run / "report").iterdir()) == before == FILES
    assert hidden(run) == []  # no temporary folder left


def test_a_report_folder_that_is_a_symlink_is_refused_and_its_target_untouched(run, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "notes.txt").write_text("mine")
    (run / "report").symlink_to(elsewhere)
    result = invoke("--out", run)
    assert result.exit_code == 1
    assert f"error: {run / 'report'} is a symbolic link" in result.output and "Traceback" not in result.output
    assert contents(elsewhere) == {"notes.txt": b"mine"}


def test_to_naming_a_file_or_a_folder_of_other_files_is_a_clear_error(run, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("keep")
    result = invoke("--out", run, "--to", afile)
    assert result.exit_code == 1 and f"error: {afile} is a file: pass --to a folder" in result.output
    assert afile.read_text() == "keep"
    below = invoke("--out", run, "--to", afile / "sub")
    assert below.exit_code == 1 and "cannot write a report beside" in below.output and "Traceback" not in below.output
    mine = tmp_path / "documents"
    mine.mkdir()
    (mine / "thesis.tex").write_text("chapter 1")
    refused = invoke("--out", run, "--to", mine)
    assert refused.exit_code == 1 and "holds files that are not a tlbench report" in refused.output
    assert contents(mine) == {"thesis.tex": b"chapter 1"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "documents", "run"]


def test_a_full_disk_is_one_line_and_the_previous_report_stays_whole(run, monkeypatch):
    assert invoke("--out", run).exit_code == 0
    previous = contents(run / "report")
    real_write = pathlib.Path.write_text

    def fill_the_disk(path, text, *args, **kwargs):
        if path.name == "table.tex":  # half written, then the disk is full
            real_write(path, text[: len(text) // 2], *args, **kwargs)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(path, text, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", fill_the_disk)
    result = invoke("--out", run)
    assert result.exit_code == 1
    (line,) = problems(result.output)
    assert line.startswith(f"error: could not write the report into {run / 'report'} (No space left on device)")
    assert line.endswith("the previous report is unchanged")
    assert contents(run / "report") == previous
    assert hidden(run) == []


def test_leftovers_of_a_dead_writer_are_cleared_and_a_set_aside_report_put_back(tmp_path):
    target = tmp_path / "report"
    dead = 4_000_000  # above Linux's largest process id
    (tmp_path / f".report.{dead}.tmp").mkdir()
    aside = tmp_path / f".report.{dead}.old"
    aside.mkdir()
    (aside / "report.md").write_text("the previous report")
    with pytest.raises(ReportFolderError, match="could not write the report"):
        with staged(target) as staging:
            (staging / "report.md").write_text("new")
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
    assert contents(tmp_path) == {"report": b"<dir>", "report/report.md": b"the previous report"}
    with staged(target) as staging:
        (staging / "report.md").write_text("new")
    assert contents(tmp_path) == {"report": b"<dir>", "report/report.md": b"new"}


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs mounted at ``tmp_path/disk`` (root only, where mounting is allowed)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (the injected ENOSPC test covers this)")
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


def test_a_really_full_file_system_leaves_the_previous_report(run, small_disk):
    target = small_disk / "report"
    assert invoke("--out", run, "--to", target).exit_code == 0
    previous = contents(target)
    free = os.statvfs(small_disk)
    (small_disk / "filler").write_bytes(b"\0" * (free.f_bavail * free.f_frsize - 4096))
    result = invoke("--out", run, "--to", target)
    assert result.exit_code == 1 and "(No space left on device)" in result.output
    assert "Traceback" not in result.output and len(problems(result.output)) == 1
    assert contents(target) == previous
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "report"]
    (small_disk / "filler").unlink()
    assert invoke("--out", run, "--to", target).exit_code == 0
