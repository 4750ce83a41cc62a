"""benchmark.run_grid: the grid planned and run from Python gives what `tlbench run` gives, returns the selected
experiments' rows and a summary, and refuses arguments it cannot use with a GridError that says what to change."""

import pytest
from conftest import TINY

from benchmark import RunSettings, run_grid
from benchmark.run.grid import GridError
from benchmark.run.store import Store

TINY_OVERRIDES = {"backbone": "test_resnet", "image_size": 16, "max_epochs": 2}
GRID = {"datasets": ["tiny_tgt"], "sources": ["none", "tiny_src"], "methods": ["scratch", "fe-svm"], "seeds": [2]}


def aucs(rows) -> dict:
    return {row["config_hash"]: (row["target"], row["source"], row["method"], row["metrics"]["auc"]) for row in rows}


def test_run_grid_gives_the_rows_of_tlbench_run_and_a_summary(cli, tmp_path):
    result = run_grid("cpu-quick", overrides={**TINY_OVERRIDES, "data_root": tmp_path}, **GRID,
                      store=tmp_path / "grid", plugins=["tiny_plugin"], threads=1, config=tmp_path)
    assert result.summary == {"selected": 2, "passed": 2, "failed": 0, "skipped": 0, "not run": 0}
    assert {(row["source"], row["method"], row["status"]) for row in result.rows} == {
        ("none", "scratch", "passed"), ("tiny_src", "fe-svm", "passed")}
    assert result.outcome.passed == 2 and result.to_train == ["tiny_src"]
    assert result.rows == Store(tmp_path / "grid").rows()
    command = cli("-p", "tiny_plugin", "run", "-d", "tiny_tgt", "-s", "none", "-s", "tiny_src", "-m", "scratch", "-m",
                  "fe-svm", "--seeds", "2", "--threads", "1", "--out", tmp_path / "cli", *TINY)
    assert command.exit_code == 0, command.output
    assert aucs(Store(tmp_path / "cli").rows()) == aucs(result.rows)  # same experiments, same numbers
    again = run_grid("cpu-quick", overrides={**TINY_OVERRIDES, "data_root": tmp_path}, **GRID,
                     store=tmp_path / "grid", plugins=["tiny_plugin"], threads=1, config=tmp_path)
    assert again.outcome.passed == 0 and aucs(again.rows) == aucs(result.rows)  # done: nothing runs again


def test_settings_built_beforehand_take_the_overrides(tmp_path):
    settings = RunSettings.build(device="cpu", preset="cpu-quick", data_root=tmp_path, cache_dir=tmp_path / "c")
    result = run_grid(settings, overrides={**TINY_OVERRIDES, "batch_size": 8, "keep_models": "none"},
                      datasets=["tiny_tgt"], sources=["none"], methods=["scratch"], seeds=[3],
                      store=tmp_path / "runs", plugins=["tiny_plugin"], config=tmp_path)
    assert result.settings.preset.batch_size == 8 and result.settings.keep_models == "none"
    assert result.settings.cache_dir == tmp_path / "c" and result.settings.svm_backend == "sklearn"
    (row,) = result.rows
    assert row["status"] == "passed" and row["config"]["preset"]["batch_size"] == 8
    assert not (tmp_path / "runs" / "models").exists()


def test_collect_only_plans_runs_nothing_and_counts_what_is_failed_or_skipped(tmp_path):
    grid = {"datasets": ["tiny_tgt"], "sources": ["none"], "methods": ["flaky"], "seeds": [2, 5],
            "store": tmp_path / "runs", "plugins": ["tiny_plugin", "failing_method"], "config": tmp_path,
            "overrides": {**TINY_OVERRIDES, "data_root": tmp_path}}
    planned = run_grid("cpu-quick", collect_only=True, **grid)
    assert planned.outcome is None and planned.rows == []
    assert planned.summary == {"selected": 2, "passed": 0, "failed": 0, "skipped": 0, "not run": 2}
    ran = run_grid("cpu-quick", **grid)
    assert ran.summary == {"selected": 2, "passed": 1, "failed": 1, "skipped": 0, "not run": 0}
    (failed,) = [row for row in ran.rows if row["status"] == "failed"]
    assert failed["seed"] == 5 and "flaky method fails on seed 5" in failed["error"]


def test_numpys_integers_are_seeds_and_its_floats_are_not(tmp_path):
    import numpy as np

    grid = {**GRID, "seeds": np.arange(2)}
    result = run_grid("cpu-quick", overrides={**TINY_OVERRIDES, "data_root": tmp_path}, **grid,
                      store=tmp_path / "runs", plugins=["tiny_plugin"], config=tmp_path, collect_only=True)
    assert sorted({p.experiment.seed for p in result.plan.experiments}) == [0, 1]
    assert all(type(p.experiment.seed) is int for p in result.plan.experiments)
    with pytest.raises(GridError, match="give whole numbers"):
        run_grid("cpu-quick", **{**GRID, "seeds": np.array([0.5])}, store=tmp_path / "more", config=tmp_path)


def test_a_dry_run_describes_every_launcher_and_writes_nothing(tmp_path):
    result = run_grid("cpu-quick", overrides={**TINY_OVERRIDES, "data_root": tmp_path}, **GRID,
                      store=tmp_path / "runs", plugins=["tiny_plugin"], config=tmp_path, launcher="dry-run",
                      launcher_options={"partition": "gpu", "time_min": "30"})
    assert result.outcome is None and not (tmp_path / "runs").exists()
    assert result.dry_run.lines[0].startswith("3 job(s), 2 of them training a network, in the order they are handed "
                                              "out")  # the source first; the source and scratch train
    assert {"local", "ray", "submitit"} <= set(result.dry_run.launchers)
    submitit = [line.strip() for line in result.dry_run.launchers["submitit"]]
    assert "#SBATCH --partition=gpu" in submitit and "#SBATCH --time=30" in submitit


@pytest.mark.parametrize("arguments, message", [
    ({"datasets": ["nowhere"]}, "nowhere"),
    ({"keyword": "tiny_tgt and ("}, "-k"),
    ({"seeds": [-1]}, r"seeds \[-1\]: give whole numbers in 0..4294967295"),
    ({"overrides": {"epochs": 3}}, "overrides: unknown key.s. epochs; known: the preset's backbone"),
    ({"overrides": {"device": "tpu"}}, "is not a device: use auto, cpu, cuda or cuda:N"),
    ({"settings": "nonsense"}, "nonsense"),
    ({"rerun": "everything"}, "rerun 'everything': use None, failed or all"),
    ({"datasets": ["tiny_tgt"], "keyword": "nothing_matches_this"}, "nothing selected"),
])
def test_arguments_that_cannot_be_used_are_grid_errors_that_say_what_to_change(tmp_path, arguments, message):
    arguments = {"settings": "cpu-quick", "store": tmp_path / "runs", "plugins": ["tiny_plugin"],
                 "config": tmp_path, **arguments}
    with pytest.raises(GridError, match=message):
        run_grid(arguments.pop("settings"), **arguments)
    assert not (tmp_path / "runs").exists()


def test_model_args_of_the_config_file_lie_under_the_overrides_and_none_given_keeps_them(tmp_path):
    from benchmark.registry.config import load_config
    from benchmark.run.gridsettings import grid_settings

    (tmp_path / "tlbench.toml").write_text("model_args = {drop_rate = 0.1, drop_path_rate = 0.05}\n")
    config = load_config(tmp_path)
    built = grid_settings("cpu-quick", {"device": "cpu", "model_args": {"drop_rate": 0.2}}, config)
    assert built.preset.model_args == (("drop_path_rate", 0.05), ("drop_rate", 0.2))
    assert grid_settings(built, {"model_args": {}}, config).preset.model_args == built.preset.model_args
    assert grid_settings(built, {"model_args": {"drop_rate": 0.3}}, config).preset.model_args == (("drop_rate", 0.3),)
