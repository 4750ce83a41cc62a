"""A row that does not hold fails alone: it is reported once with its id and what is wrong, left out of boards,
reports, estimates and planning (its experiment runs again), listed by `doctor`, and moved aside, never lost."""

import csv
import io
import json
import shutil
import sqlite3

import pytest
from click.testing import CliRunner
from conftest import TINY, isolate

from benchmark.run.rowcheck import MAX_DEPTH, BadRow, decode_experiment

GRID = ["-p", "tiny_plugin", "run", "-d", "tiny_tgt", "-d", "tiny_three", "-s", "none", "-s", "tiny_src",
        "-m", "scratch", "-m", "fe-svm", "--seeds", "2,5", *TINY]
# one damage per row of seed 5, as a bit flip or another program would leave it: (node id, SQL, what is said)
DAMAGE = {
    "tiny_tgt::none::scratch[seed=5]": ("metrics = 'not json {'", "metrics is not JSON"),
    "tiny_three::none::scratch[seed=5]": ("metrics = '" + "[" * 100_000 + "]" * 100_000 + "'",
                                          f"metrics is JSON nested deeper than {MAX_DEPTH} levels"),
    "tiny_tgt::tiny_src::fe-svm[seed=5]": ("config = '{}'", "config.target is not an object"),
    "tiny_three::tiny_src::fe-svm[seed=5]": ("seed = 'two'", "seed is 'two', not an integer"),
}


def invoke(*args):
    from benchmark.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def intact(tmp_path_factory):
    """A run folder of 8 passed experiments (2 targets x 2 columns x 2 seeds), run once for the module."""
    folder = tmp_path_factory.mktemp("intact")
    with pytest.MonkeyPatch.context() as patch:
        isolate(patch, folder)
        result = invoke(*GRID, "--out", folder / "runs")
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture
def damaged(intact, tmp_path, monkeypatch):
    """A copy of the run folder with the four seed-5 rows damaged, and its cache."""
    shutil.copytree(intact / "runs", tmp_path / "runs")
    shutil.copytree(intact / "cache", tmp_path / "cache", dirs_exist_ok=True)
    db = sqlite3.connect(tmp_path / "runs" / "tlbench.sqlite")
    with db:
        for node_id, (change, _) in DAMAGE.items():
            assert db.execute(f"UPDATE experiments SET {change} WHERE node_id = ?", (node_id,)).rowcount == 1
    db.close()
    return tmp_path / "runs"


def query(out, sql):
    db = sqlite3.connect(out / "tlbench.sqlite")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def warnings_in(stderr: str) -> dict[str, str]:
    """The node id and line of each row the command said it left out."""
    found = {}
    for line in stderr.splitlines():
        if line.startswith("warning: experiments row "):
            node_id = line.split("'")[1]
            assert node_id not in found, f"{node_id} reported twice"
            found[node_id] = line
    return found


def test_each_bad_row_is_reported_once_and_left_out_of_the_board(damaged):
    result = invoke("show", "--out", damaged, "--format", "csv")
    assert result.exit_code == 0 and "Traceback" not in result.output
    said = warnings_in(result.stderr)
    assert set(said) == set(DAMAGE)
    for node_id, (_, problem) in DAMAGE.items():
        assert problem in said[node_id] and "tlbench doctor --out" in said[node_id]
    cells = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(cells) == 4 and {c["seeds"] for c in cells} == {"2"} and {c["n"] for c in cells} == {"1"}
    shown = json.loads(invoke("show", "--out", damaged, "--format", "json").stdout)
    assert sorted(e["id"] for e in shown["experiments"]) == sorted(n.replace("[seed=5]", "[seed=2]") for n in DAMAGE)
    assert "Traceback" not in invoke("show", "--out", damaged).output


def test_report_and_estimate_leave_the_bad_rows_out(damaged, tmp_path):
    report = invoke("report", "--out", damaged, "-v", "roc", "--cache-dir", tmp_path / "cache")
    assert report.exit_code == 0, report.output
    assert set(warnings_in(report.stderr)) == set(DAMAGE)
    rows = list(csv.DictReader(io.StringIO((damaged / "report" / "results.csv").read_text())))
    assert sorted(r["seed"] for r in rows) == ["2"] * 4
    estimate = invoke("-p", "tiny_plugin", "estimate", "--out", damaged, "-d", "tiny_tgt", "-s", "tiny_src",
                      "-e", "logme", "--cache-dir", tmp_path / "cache")
    assert estimate.exit_code == 0 and "Traceback" not in estimate.output, estimate.output
    assert "measured fe-svm mean AUC: tiny_src" in estimate.stdout


def test_doctor_lists_the_bad_rows_and_quarantine_moves_them_aside(damaged):
    before = query(damaged, "SELECT node_id, metrics, seed FROM experiments ORDER BY node_id")
    doctor = invoke("doctor", "--out", damaged)
    assert doctor.exit_code == 1 and "pages intact" in doctor.output
    assert "rows: 8 experiments checked; 4 cannot be used:" in doctor.output
    for node_id, (_, problem) in DAMAGE.items():
        (line,) = [line for line in doctor.output.splitlines() if f"'{node_id}'" in line]
        assert problem in line
    assert "--quarantine` moves them aside" in doctor.output
    assert len(query(damaged, "SELECT * FROM experiments")) == 8  # listing moves nothing

    moved = invoke("doctor", "--out", damaged, "--quarantine")
    assert moved.exit_code == 0 and "moved 4 row(s) aside" in moved.output
    assert len(query(damaged, "SELECT * FROM experiments")) == 4
    aside = query(damaged, "SELECT node_id, metrics, seed, problem FROM experiments_quarantine ORDER BY node_id")
    assert [(n, m, s) for n, m, s, _ in aside] == [row for row in before if row[0] in DAMAGE]  # values as they were
    assert all(DAMAGE[n][1] in problem for n, _, _, problem in aside)
    again = invoke("doctor", "--out", damaged)
    assert again.exit_code == 0 and "rows: 4 experiments checked, all usable" in again.output
    assert "4 row(s) set aside in experiments_quarantine" in again.output


def test_a_bad_rows_experiment_runs_again_and_its_row_is_kept_aside(damaged, tmp_path):
    plan = invoke(*GRID, "--out", damaged, "--cache-dir", tmp_path / "cache", "--collect-only")
    for node_id, (_, problem) in DAMAGE.items():
        (line,) = [line for line in plan.stdout.splitlines() if line.startswith("pending") and node_id in line]
        assert f"its stored row cannot be used ({problem}" in line
    rerun = invoke(*GRID, "--out", damaged, "--cache-dir", tmp_path / "cache")
    assert rerun.exit_code == 0 and "4 to run, 4 done" in rerun.output
    assert len(query(damaged, "SELECT * FROM experiments WHERE status = 'passed'")) == 8
    aside = query(damaged, "SELECT node_id, problem FROM experiments_quarantine")
    assert {n for n, _ in aside} == set(DAMAGE) and all("replaced by a new result" in p for _, p in aside)
    assert invoke("doctor", "--out", damaged).exit_code == 0


def test_a_store_decodes_each_row_once_until_another_process_changes_it(intact, tmp_path, monkeypatch):
    from benchmark.run import store as store_module

    shutil.copytree(intact / "runs", tmp_path / "runs")
    decoded = []
    monkeypatch.setitem(store_module.CHECKED_TABLES, "experiments",
                        lambda raw: decoded.append(raw["node_id"]) or decode_experiment(raw))
    store = store_module.Store(tmp_path / "runs")
    first = store.rows()
    assert len(first) == 8 and len(decoded) == 8
    store.rows("passed"), store.passed_configs(), [store.status_of(row["config_hash"]) for row in first]
    assert len(decoded) == 8  # planning, statuses and the board read the rows again: nothing is decoded twice
    first[0]["status"] = "changed by a reader"
    assert store.rows()[0]["status"] == "passed"  # each read gets its own record
    node_id, (change, _) = next(iter(DAMAGE.items()))
    moved = next(row["node_id"] for row in first if row["node_id"] != node_id)
    other = sqlite3.connect(tmp_path / "runs" / "tlbench.sqlite")
    with other:
        other.execute(f"UPDATE experiments SET {change} WHERE node_id = ?", (node_id,))
        other.execute("UPDATE experiments SET device = 'elsewhere' WHERE node_id = ?", (moved,))
    other.close()
    again = {row["node_id"]: row for row in store.rows()}
    assert node_id not in again and len(again) == 7  # damaged since the first read: left out
    assert again[moved]["device"] == "elsewhere"  # changed since: read afresh
    assert sorted(decoded[8:]) == sorted([node_id, moved])
    store.close()


def test_show_and_estimate_without_a_passed_row_say_so(tmp_path):
    out = tmp_path / "runs"
    failed = invoke("-p", "tiny_plugin", "-p", "failing_method", "run", "-d", "tiny_tgt", "-s", "none", "-m", "flaky",
                    "--seeds", "5", "--out", out, *TINY)
    assert failed.exit_code == 1
    for fmt in ("table", "csv", "md", "latex"):
        shown = invoke("show", "--out", out, "--format", fmt)
        assert shown.exit_code == 5 and shown.stdout == ""
        assert f"no passed result in {out}: 1 failed" in shown.stderr
    listed = invoke("show", "--out", out, "--format", "json")  # still lists the failure and its error
    assert listed.exit_code == 0 and "flaky method fails on seed 5" in listed.stdout
    estimate = invoke("-p", "tiny_plugin", "estimate", "--out", out)
    said = " ".join(estimate.output.split())
    assert estimate.exit_code == 5 and "no passed result in" in said and "name the targets with -d" in said
    assert query(out, "SELECT name FROM sqlite_master WHERE name = 'estimates'") == []  # nothing was estimated


def _row(**changes) -> dict:
    scores = {"labels": [0, 1, 1], "scores": [[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]], "indices": [0, 1, 2],
              "groups": None}
    row = {"config_hash": "h", "node_id": "t::none::scratch[seed=2]", "target": "t", "source": "none",
           "method": "scratch", "seed": 2, "status": "passed", "split_hash": None, "device": "cpu", "error": None,
           "started_at": "2026-01-01", "finished_at": "2026-01-01",
           "config": json.dumps({"target": {"dataset": "t"}, "source": None}),
           "metrics": json.dumps({"auc": 1.0, "n_test": 3, "n_test_groups": None}), "scores": json.dumps(scores),
           "history": "[]", "durations": json.dumps({"total": 1.0}), "versions": "{}", "preset": "{}", "notes": None}
    return {**row, **changes}


@pytest.mark.parametrize("changes, problem", [
    ({"metrics": b"\x00\x01"}, "metrics is bytes, not JSON text"),
    ({"metrics": json.dumps({"auc": None, "n_test": 3})}, "metrics.auc is null"),
    ({"metrics": json.dumps({"auc": 1.0})}, "metrics.n_test is not a count"),
    ({"metrics": json.dumps({"auc": "high", "n_test": 3})}, "metrics.'auc' is 'high', not a number"),
    ({"seed": True}, "seed is True, not an integer"),
    ({"status": "won"}, "status is 'won'"),
    ({"target": "a\nb"}, "target 'a\\nb': a name may hold printable characters only"),
    ({"method": "m" * 101}, "at most 100 characters"),
    ({"scores": json.dumps({"labels": [0, 1], "scores": [[0.1, 0.9]]})}, "not one row of class scores for each"),
    ({"scores": json.dumps({"labels": [0, 2], "scores": [[0.1, 0.9], [0.5, 0.5]]})}, "outside the scores' classes"),
    ({"scores": json.dumps({"labels": [0, 1], "scores": [[0.1, 0.9], [0.5]]})}, "do not form a table of numbers"),
    ({"config": json.dumps({"target": {"dataset": "t"}, "source": {"input": "x"}})}, "config.source is neither"),
    ({"history": json.dumps([1, 2])}, "history holds an entry that is not an object"),
    ({"config": json.dumps([])}, "config is a JSON list, not an object"),
    ({"durations": json.dumps({"total": "long"})}, "durations.'total' is not a number"),
])
def test_a_row_that_does_not_hold_is_refused_saying_what(changes, problem):
    assert decode_experiment(_row())["metrics"]["auc"] == 1.0
    with pytest.raises(BadRow, match=None) as refused:
        decode_experiment(_row(**changes))
    assert problem in str(refused.value)


def test_a_failed_row_needs_no_metrics_and_json_nested_to_the_limit_is_read():
    assert decode_experiment(_row(status="failed", metrics=None, scores=None))["status"] == "failed"
    nested = json.dumps({"deep": json.loads("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1))})
    assert decode_experiment(_row(notes=nested))["notes"]["deep"] == json.loads("[" * (MAX_DEPTH - 1) + "]" *
                                                                                  (MAX_DEPTH - 1))
    deeper = json.dumps({"deep": json.loads("[" * MAX_DEPTH + "]" * MAX_DEPTH)})
    with pytest.raises(BadRow, match="notes is JSON nested deeper"):
        decode_experiment(_row(notes=deeper))


def test_a_bad_estimate_is_left_out_listed_and_moved_aside(tmp_path):
    from benchmark.run.store import Store
    from benchmark.run.storerepair import check_rows

    store = Store(tmp_path)
    for source, score in (("a", 0.5), ("b", 0.7)):
        store.save_estimate(f"h-{source}", "t", source, "logme", 2, {"source": source}, {"name": "p"}, score, 0.1,
                            0.2, 30)
    store.db.execute("UPDATE estimates SET score = 'high', preset = 'not json' WHERE source = 'b'")
    assert [e["source"] for e in store.estimates()] == ["a"]
    (bad,) = store.bad_rows()
    assert bad[0] == "estimates" and "'logme of b for t'" in bad[2] and bad[3] == "score is 'high', not a number"
    store.close()
    found = check_rows(tmp_path, quarantine=True)
    assert found.checked == {"experiments": 0, "estimates": 2} and found.moved
    assert found.quarantined == {"estimates": 1}
    store = Store(tmp_path)
    assert [e["source"] for e in store.estimates()] == ["a"] and store.bad_rows() == []
    (aside,) = store.db.execute("SELECT source, score, preset, problem FROM estimates_quarantine").fetchall()
    assert tuple(aside) == ("b", "high", "not json", "score is 'high', not a number")
