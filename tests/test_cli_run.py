"""End-to-end runs of the CLI on the tiny test datasets."""

import json
import sqlite3

import pytest
from conftest import TINY
from fakedata import no_builtin_datasets

BASE = ["-p", "tiny_plugin", *(arg for flag in no_builtin_datasets() for arg in ("-p", flag))]
STUDY = ["-m", "scratch", "-m", "fe-svm", "-m", "ft-svm"]  # the study's methods: the counts below are theirs


def rows(out):
    db = sqlite3.connect(out / "tlbench.sqlite")
    db.row_factory = sqlite3.Row
    return [dict(r) for r in db.execute("SELECT * FROM experiments ORDER BY node_id")]


@pytest.fixture
def out(tmp_path):
    return tmp_path / "runs"


def test_run_all_fills_the_leaderboard_and_a_rerun_recomputes_nothing(cli, out):
    result = cli(*BASE, "run", "--all", *STUDY, "--seeds", "2,5", "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    assert "16 to run" in result.output and "8 skipped" in result.output
    lines = result.output.splitlines()
    trained = next(i for i, line in enumerate(lines) if line.startswith("SOURCE tiny_src model ready ("))
    first_use = next(i for i, line in enumerate(lines) if "::tiny_src::" in line)
    assert trained < first_use, "the source's training is its own step, before the experiments that use it"
    for header in ("scratch", "random FE", "tiny_src FE", "tiny_src FT", "Ranking"):
        assert header in result.output
    assert "random FT" not in result.output  # fine-tuning random weights is scratch (docs/methods.md)
    stored = rows(out)
    assert len(stored) == 16 and {r["status"] for r in stored} == {"passed"}
    for row in stored:
        metrics = json.loads(row["metrics"])
        assert 0.0 <= metrics["auc"] <= 1.0 and metrics["n_test"] >= 9
        scores = json.loads(row["scores"])
        assert len(scores["labels"]) == len(scores["scores"]) == metrics["n_test"]
        assert json.loads(row["versions"])["torch"] and row["device"] == "cpu" and row["split_hash"]
        if row["method"] != "fe-svm":
            assert len(json.loads(row["history"])) == 2  # --max-epochs 2
    again = cli(*BASE, "run", "--all", *STUDY, "--seeds", "2,5", "--out", out, *TINY)
    assert again.exit_code == 0
    assert "0 to run, 16 done" in again.output
    assert [r["finished_at"] for r in rows(out)] == [r["finished_at"] for r in stored]


def test_show_renders_every_format_from_the_store(cli, out, tmp_path, monkeypatch):
    assert cli(*BASE, "run", "-m", "scratch", "-m", "fe-svm", "-s", "none", "-s", "random", "--seeds", "2,5",
               "--out", out, *TINY).exit_code == 0
    shown = json.loads(cli("show", "--out", out, "--format", "json").output)
    objects = shown["experiments"]
    assert len(objects) == 8
    first = objects[0]
    assert {"id", "target", "source", "method", "seed", "status", "metrics"} <= set(first)
    assert first["id"] == f"{first['target']}::{first['source']}::{first['method']}[seed={first['seed']}]"
    assert "auc" in first["metrics"] and first["versions"]["svm_backend"] == "sklearn"
    (board,) = shown["boards"]
    # a tiny test set with fewer than 5 images of a class gets no interval and no test, and the notes say so
    small = {c["target"] for c in board["cells"] if any(n.startswith(f"{c['target']}: class ") for n in board["notes"])}
    assert len(board["cells"]) == 4 and all(c["ci_low"] is None if c["target"] in small
                                            else c["ci_low"] <= c["mean"] <= c["ci_high"] for c in board["cells"])
    assert {c["kind"] for c in board["comparisons"]} <= {"vs scratch"} and len(board["comparisons"]) == 2 - len(small)
    assert all(0 < c["p_value"] <= c["p_holm"] <= 1 for c in board["comparisons"])
    csv_lines = cli("show", "--out", out, "--format", "csv").output.strip().splitlines()
    assert csv_lines[0].startswith("board,metric,target,source,method,n,seeds,mean,max_deviation,std,ci_low,ci_high")
    assert len(csv_lines) == 1 + 4  # 2 targets x (scratch, random FE)
    assert all(line.split(",")[5] == "2" for line in csv_lines[1:])
    markdown = cli("show", "--out", out, "--format", "md").output
    assert "| target | scratch | random FE |" in markdown
    assert "Metric: test ROC AUC" in markdown and "95% bootstrap interval" in markdown and "green" not in markdown
    latex = cli("show", "--out", out, "--format", "latex").output
    assert "\\begin{tabular}" in latex and "tiny\\_tgt" in latex and "\\toprule" in latex
    refused = cli("show", "--out", out, "--metric", "f1")
    assert refused.exit_code == 2 and "f1" in refused.output
    # show loads the catalog as every command does, the working directory's config included
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tlbench.toml").write_text("data_root = ")
    for command in ("show", "list"):
        broken = cli(command, "--out", out) if command == "show" else cli(command)
        assert broken.exit_code == 2 and "not valid TOML" in broken.output and "tlbench.toml" in broken.output


def test_show_prints_one_board_per_configuration(cli, out):
    for epochs in ("1", "2"):
        assert cli(*BASE, "run", "-d", "tiny_tgt", "-m", "scratch", "--seeds", "2,5", "--out", out,
                   *TINY, "--max-epochs", epochs).exit_code == 0
    shown = json.loads(cli("show", "--out", out, "--format", "json").output)
    titles = [b["title"] for b in shown["boards"]]
    assert len(titles) == 2 and any("max_epochs=1" in t for t in titles) and any("max_epochs=2" in t for t in titles)
    assert all(len(b["cells"]) == 1 and len(b["cells"][0]["seeds"]) == 2 for b in shown["boards"])
    table = cli("show", "--out", out).output
    assert "max_epochs=1" in table and "max_epochs=2" in table


def test_collect_only_shows_done_pending_and_skipped_with_reasons(cli, out):
    cli(*BASE, "run", "-m", "scratch", "--seeds", "2", "--out", out, *TINY)
    result = cli(*BASE, "run", "--all", *STUDY, "--collect-only", "--seeds", "2", "--out", out, *TINY)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert any(line.startswith("done") and "tiny_tgt::none::scratch[seed=2]" in line for line in lines)
    assert any(line.startswith("pending") and "tiny_tgt::tiny_src::ft-svm[seed=2]" in line for line in lines)
    assert not any(line.startswith("skipped") for line in lines), "skipped ones are counted by reason"
    assert any(line.startswith("4 skipped: source imagenet: ") and "--imagenet-weights" in line for line in lines)
    assert lines[-1].endswith("4 skipped, 0 failed (-v lists each skipped experiment)")
    verbose = cli(*BASE, "run", "--all", *STUDY, "--collect-only", "-v", "--seeds", "2", "--out", out, *TINY).output
    assert sum(line.startswith("skipped") and "--imagenet-weights" in line for line in verbose.splitlines()) == 4
    assert any(line.startswith("source") and "tiny_src: model to train" in line for line in lines)
    assert not (out / "tlbench.sqlite").exists() or len(rows(out)) == 2
    # another configuration: the done experiment is pending again, and the plan says why
    changed = cli(*BASE, "run", "-m", "scratch", "--collect-only", "--seeds", "2", "--out", out, *TINY,
                  "--max-epochs", "3")
    line = next(line for line in changed.output.splitlines() if "tiny_tgt::none::scratch[seed=2]" in line)
    assert line.startswith("pending") and "preset.max_epochs: 2 -> 3" in line


def test_presets_lists_every_preset_side_by_side(cli):
    shown = json.loads(cli("presets", "--json").output)
    assert set(shown) == {"thesis", "thesis-as-run", "recommended", "cpu-quick", "medmnist"}
    assert shown["thesis-as-run"]["normalize"] == "bgr255" and shown["thesis"]["momentum"] == 0.01
    assert shown["thesis-as-run"]["pretrained_input"] == "unshifted" and shown["thesis"]["model_args"] == []
    table = cli("presets").output
    assert "class_weight_mode" in table and "batch_mean" in table and "recommended" in table
    assert "model_args" in table and "docs/protocol.md" in " ".join(table.split())


def test_system_exit_in_a_method_fails_that_experiment_only(cli, out):
    result = cli(*BASE, "-p", "failing_method", "run", "-m", "quitter", "--seeds", "2,7", "--out", out, *TINY)
    assert result.exit_code == 1
    states = {(r["seed"], r["status"]) for r in rows(out)}
    assert states == {(2, "failed"), (7, "passed")}
    assert "SystemExit" in next(r["error"] for r in rows(out) if r["seed"] == 2)


def test_a_failing_experiment_is_recorded_and_the_grid_goes_on(cli, out):
    args = [*BASE, "-p", "failing_method", "run", "-m", "flaky", "--out", out, *TINY]
    result = cli(*args)
    assert result.exit_code == 1
    stored = {r["seed"]: r for r in rows(out)}
    assert stored[5]["status"] == "failed" and "flaky method fails on seed 5" in stored[5]["error"]
    assert stored[2]["status"] == stored[7]["status"] == "passed"
    assert json.loads(stored[2]["metrics"])["auc"] > 0.95  # corner brightness separates the classes
    # recorded failures are not retried unless asked, and still fail the exit code
    again = cli(*args)
    assert again.exit_code == 1 and "0 to run" in again.output
    retried = cli(*args, "--rerun", "failed")
    assert retried.exit_code == 1 and "2 to run" in retried.output


def test_exitfirst_stops_at_the_first_failure(cli, out):
    result = cli(*BASE, "-p", "failing_method", "run", "-m", "flaky", "--seeds", "5,7", "-x", "--out", out, *TINY)
    assert result.exit_code == 1
    assert [r["seed"] for r in rows(out)] == [5]


def test_exit_code_when_everything_is_skipped(cli, out):
    result = cli(*BASE, "run", "-s", "imagenet", "--out", out, *TINY)
    assert result.exit_code == 5
    assert "every selected experiment was skipped" in result.output


def test_nothing_selected_is_a_usage_error(cli, out):
    result = cli("run", "--out", out)
    assert result.exit_code == 2 and "pass --all" in result.output


def test_a_selection_of_nothing_is_a_usage_error_that_says_why(cli, out):
    unpaired = cli(*BASE, "run", "-s", "random", "-m", "scratch", "--out", out, *TINY)
    assert unpaired.exit_code == 2 and "method scratch uses no source: add -s none" in unpaired.output
    nothing = cli(*BASE, "run", "-k", "no_such_thing", "--out", out, *TINY)
    assert nothing.exit_code == 2 and "nothing selected" in nothing.output


def test_unknown_names_and_bad_expressions_are_usage_errors(cli, out):
    assert "unknown method 'nope'" in cli(*BASE, "run", "-m", "nope", "--out", out).output
    assert cli(*BASE, "run", "-k", "a and", "--out", out).exit_code == 2


def test_list_json_reports_tasks_sources_methods(cli):
    listing = json.loads(cli(*BASE, "list", "--json").output)
    tasks = {t["task"]: t for t in listing["tasks"]}
    assert tasks["tiny_tgt"]["status"] == "available" and tasks["tiny_src"]["roles"] == ["source"]
    sources = {s["name"]: s for s in listing["sources"]}
    assert sources["imagenet"]["status"] == "unavailable" and sources["tiny_src"]["status"] == "available"
    assert {m["name"] for m in listing["methods"]} == {"scratch", "fe-svm", "ft-svm", "linear-probe", "knn-probe",
                                                       "ft", "lp-ft", "stats-init"}


def test_batch_size_override_is_part_of_the_result(cli, out):
    args = [*BASE, "run", "-d", "tiny_tgt", "-m", "scratch", "--seeds", "2", "--out", out, *TINY]
    assert cli(*args, "--batch-size", "4").exit_code == 0
    (row,) = rows(out)
    assert json.loads(row["config"])["preset"]["batch_size"] == 4
    assert "1 pending, 0 done" in cli(*args, "--collect-only").output  # the preset's batch: another experiment
    assert "0 pending, 1 done" in cli(*args, "--batch-size", "4", "--collect-only").output
    assert cli(*args, "--batch-size", "1").exit_code == 2


def test_compile_with_side_by_side_jobs_is_a_usage_error(cli, out):
    result = cli(*BASE, "run", "--all", "--compile", "--jobs-per-gpu", "2", "--out", out, *TINY)
    assert result.exit_code == 2 and "thread-safe" in result.output
    assert not (out / "tlbench.sqlite").exists()


@pytest.mark.parametrize("option, value, message", [
    ("--max-epochs", "0", "x>=1"), ("--image-size", "0", "x>=8"), ("--seeds", "-1", "0..4294967295"),
    ("--seeds", "4294967296", "0..4294967295"), ("--device", "banana", "not a device"),
])
def test_nonsense_options_are_usage_errors(cli, out, option, value, message):
    result = cli(*BASE, "run", "--all", "--out", out, option, value)
    assert result.exit_code == 2 and message in result.output
    assert not (out / "tlbench.sqlite").exists()


def test_quiet_prints_the_failure_the_board_and_the_results_and_no_chatter(cli, out):
    result = cli(*BASE, "-p", "failing_method", "run", "-q", "-m", "flaky", "--out", out, *TINY)
    assert result.exit_code == 1
    assert "FAILED" in result.output and "flaky" in result.output  # seed 5 fails
    assert "Ranking" in result.output and "results: " in result.output
    for chatter in ("tlbench 0.", "selected:", "PASSED", "wall time", "forecast wall time"):
        assert chatter not in result.output, chatter
    loud = cli(*BASE, "-p", "failing_method", "run", "-m", "flaky", "--rerun", "all", "--out", out, *TINY)
    assert all(chatter in loud.output for chatter in ("tlbench 0.", "selected:", "PASSED", "wall time"))
