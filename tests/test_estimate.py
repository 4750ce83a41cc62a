"""Estimates against measured results: the weighted tau on known rankings, the store's estimates table, the
estimators figure from a store written by hand, and `tlbench estimate` on the tiny plugin."""

import dataclasses
import sqlite3
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import TINY
from PIL import Image

from benchmark.cli.app import console
from benchmark.presets import PRESETS
from benchmark.report.estimates import all_tied, compare, configuration_key, measured_auc, weighted_tau
from benchmark.report.figures import VisualizerContext
from benchmark.run.store import Store
from benchmark.run.storerepair import check
from tlbench_plugins.estimators.logme import LogME
from tlbench_plugins.visualizers.estimators import EstimatorsVisualizer

PRESET = dataclasses.asdict(PRESETS["cpu-quick"])
MEASURED = {"a": 0.91, "b": 0.84, "c": 0.80, "d": 0.62, "e": 0.55}


def test_a_monotone_estimator_agrees_fully_and_a_reversed_one_disagrees_fully():
    monotone = {s: np.log(auc) * 7 - 3 for s, auc in MEASURED.items()}
    assert weighted_tau(monotone, MEASURED) == (pytest.approx(1.0), 5)
    assert weighted_tau({s: -v for s, v in monotone.items()}, MEASURED) == (pytest.approx(-1.0), 5)
    # lower-is-better scores read the other way round
    assert weighted_tau({s: -v for s, v in monotone.items()}, MEASURED, higher_is_better=False)[0] == pytest.approx(1)


def test_a_swap_at_the_top_costs_more_than_one_at_the_bottom():
    top = dict(zip("abcde", [4, 5, 3, 2, 1], strict=True))
    bottom = dict(zip("abcde", [5, 4, 3, 1, 2], strict=True))
    tau_top, tau_bottom = weighted_tau(top, MEASURED)[0], weighted_tau(bottom, MEASURED)[0]
    assert -1 < tau_top < tau_bottom < 1


def test_tau_is_undefined_without_two_common_sources_or_with_a_constant_side():
    assert weighted_tau({"a": 1.0, "z": 2.0}, MEASURED) == (None, 1)
    assert weighted_tau({"a": 1.0, "b": 1.0, "c": 1.0}, MEASURED) == (None, 3)


def test_near_equal_scores_are_tied_and_give_no_tau():
    # six sources' H-scores that differ in the last digits once printed a weighted tau of -0.121
    noise = dict(zip("abcde", [0.9999999999999974, 1.000000000000003, 1.0, 0.9999999999999991, 1.0000000000000013],
                     strict=True))
    assert all_tied(noise.values()) and weighted_tau(noise, MEASURED) == (None, 5)
    # two tied at the top and the rest apart: a tau over the ranks, the tied pair counting as one rank
    partly = {"a": 2.0, "b": 2.0 + 1e-12, "c": 1.0, "d": 0.5, "e": 0.1}
    assert not all_tied(partly.values()) and weighted_tau(partly, MEASURED)[0] == pytest.approx(
        weighted_tau({**partly, "b": 2.0}, MEASURED)[0])
    assert not all_tied([1.0, 1.0 + 1e-5])


CONFIG = {"preset": PRESETS["cpu-quick"].hashable(), "runtime": {"device": "cpu", "precision": "fp32"}}
DATA = {"dataset": "xray", "version": "1", "task": "xray", "data": "d1"}


def _write(store: Store, target: str, source: str, method: str, seed: int, auc: float, data: dict = DATA) -> None:
    experiment = SimpleNamespace(node_id=f"{target}::{source}::{method}[seed={seed}]", target=target, source=source,
                                 method=method, seed=seed)
    config = {**CONFIG, "target": {**data, "provider": "tlbench"}, "source": {"kind": "weights", "sha256": source},
              "method": {"name": method, "version": "1"}, "seed": seed}
    planned = SimpleNamespace(experiment=experiment, config=config, config_hash=f"{experiment.node_id}{data['data']}")
    store.start(planned, "cpu", PRESET)
    store.finish(planned.config_hash, "passed", metrics={"auc": auc, "n_test": 30})


def _estimate(store: Store, source: str, score: float, data: dict = DATA) -> None:
    config = {**CONFIG, "target": data, "source": {"kind": "weights", "sha256": source},
              "estimator": {"name": "logme", "version": "1"}, "seed": 2}
    store.save_estimate(f"h-{source}-{data['data']}", "xray", source, "logme", 2, config, PRESET, score, 0.01, 0.2, 300)


def _constructed(run_dir) -> Store:
    """Measured FE and FT AUCs of four sources on one target (two seeds each), and LogME scores ranking them
    as FE does and against FT."""
    store = Store(run_dir)
    fe = {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.6}
    for i, (source, auc) in enumerate(fe.items()):
        for seed, shift in ((2, 0.01), (5, -0.01)):
            _write(store, "xray", source, "fe-svm", seed, auc + shift)
            _write(store, "xray", source, "ft-svm", seed, 0.6 + 0.1 * i + shift)
        _estimate(store, source, -1.0 + auc)
    return store


def test_comparisons_read_the_store_and_match_the_known_answer(tmp_path):
    store = _constructed(tmp_path)
    rows = store.rows("passed")
    assert measured_auc(rows, "xray", configuration_key(CONFIG))["fe-svm"] == pytest.approx(
        {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.6})
    found = {c.method: c for c in compare(store.estimates(), rows)}
    assert found["fe-svm"].tau == pytest.approx(1.0) and found["fe-svm"].n == 4
    assert found["ft-svm"].tau == pytest.approx(-1.0)
    assert [p[0] for p in found["fe-svm"].points] == ["a", "b", "c", "d"]
    # results of another configuration are never compared with these estimates
    other = {**CONFIG, "preset": PRESETS["thesis"].hashable()}
    assert measured_auc(rows, "xray", configuration_key(other)) == {}


def test_superseded_results_are_not_averaged_and_estimates_of_other_data_are_left_out(tmp_path):
    store = _constructed(tmp_path)
    # source a's FE measured again on changed data, later: the cell is the new data's rows alone
    changed = {**DATA, "data": "d2"}
    for seed in (2, 5):
        _write(store, "xray", "a", "fe-svm", seed, 0.5, data=changed)
    rows = store.rows("passed")
    for row in rows:  # finished later than the old data's rows (the store's clock counts seconds)
        if row["config"]["target"]["data"] == "d2":
            row["finished_at"] = "2999-01-01T00:00:00+00:00"
    assert measured_auc(rows, "xray", configuration_key(CONFIG))["fe-svm"]["a"] == pytest.approx(0.5)
    # a's estimate was made on the old data: it is left out of the tau rather than set against the new rows
    fe = next(c for c in compare(store.estimates(), rows) if c.method == "fe-svm")
    assert [p[0] for p in fe.points] == ["b", "c", "d"] and fe.tau == pytest.approx(1.0)
    _estimate(store, "a", -0.9, data=changed)  # estimated again on the new data: it enters, ranked first
    fe = next(c for c in compare(store.estimates(), rows) if c.method == "fe-svm")
    assert [p[0] for p in fe.points] == ["a", "b", "c", "d"] and fe.tau < 1.0


def test_the_estimates_table_is_made_by_the_first_estimate_and_leaves_older_stores_intact(tmp_path):
    store = Store(tmp_path)
    assert store.estimates() == []
    tables = {name for (name,) in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "estimates" not in tables and check(store.path) == ""
    store.save_estimate("h1", "xray", "a", "logme", 2, {"x": 1}, PRESET, -0.5, 0.01, 0.2, 300)
    store.save_estimate("h1", "xray", "a", "logme", 2, {"x": 1}, PRESET, -0.4, 0.01, 0.2, 300)  # replaces it
    (estimate,) = Store(tmp_path).estimates()
    assert estimate["score"] == -0.4 and estimate["preset"]["name"] == "cpu-quick" and estimate["config"] == {"x": 1}
    assert check(store.path) == ""
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT COUNT(*) FROM estimates").fetchone() == (1,)


def test_the_figure_is_drawn_from_a_store_and_skipped_without_estimates(tmp_path):
    catalog = SimpleNamespace(estimators={"logme": LogME()}, methods={})
    ctx = VisualizerContext(_constructed(tmp_path / "run"), catalog, None, tmp_path / "out")
    (figure,) = EstimatorsVisualizer().render(ctx)
    assert figure.path == tmp_path / "out" / "estimators-xray-cpu-quick-test_resnet-32px.png"
    width, height = Image.open(figure.path).size
    assert width > 300 and height > 250
    assert figure.facts["logme"]["fe-svm"] == {"tau": pytest.approx(1.0), "n": 4}
    assert "weighted Kendall tau" in figure.caption
    empty = VisualizerContext(Store(tmp_path / "empty"), catalog, None, tmp_path / "out2")
    assert EstimatorsVisualizer().render(empty) == []


def test_estimate_ranks_the_sources_and_compares_with_the_run(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(console, "width", 1000)  # a table row on one line
    out = tmp_path / "run"
    result = cli("-p", "tiny_plugin", "run", "-d", "tiny_tgt", "-s", "tiny_src", "-s", "random", "-m", "fe-svm",
                 "--seeds", "2", "--out", out, "--no-audit", *TINY)
    assert result.exit_code == 0, result.output
    result = cli("-p", "tiny_plugin", "-p", "failing_parts", "estimate", "--out", out, "-s", "tiny_src", "-s",
                 "random", "-s", "broken_src")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "tiny_tgt: sources ranked by each estimator" in text
    assert "random: n/a (no classifier of its own)" in text  # LEEP and NCE need the source's own classifier
    assert "n/a (failed: ArithmeticError: this estimator always fails)" in text  # the others still score
    assert "broken_src: n/a (source failed: OSError: the weights file is unreadable)" in text
    assert "weighted Kendall tau" in text and "(n=2)" in text and "says little" in text
    # every source measured, though LEEP and NCE (the last estimators) compare tiny_src alone
    measured = next(line for line in result.output.splitlines() if line.startswith("measured fe-svm mean AUC"))
    assert "tiny_src" in measured and "random" in measured and "another configuration" not in text
    estimates = Store(out).estimates()
    by_estimator = {(e["estimator"], e["source"]) for e in estimates}
    assert {("logme", "tiny_src"), ("logme", "random"), ("leep", "tiny_src")} <= by_estimator
    assert ("leep", "random") not in by_estimator and not any(e["estimator"] == "failing" for e in estimates)
    # the run's own preset (16 px, 2 epochs): the estimates and the measured AUCs share their weights
    assert {e["preset"]["image_size"] for e in estimates} == {16}
    assert all(np.isfinite(e["score"]) and e["n_samples"] > 0 for e in estimates)
    # the store's fe-svm results of those sources are compared: one tau per estimator with two sources
    comparisons = compare(estimates, Store(out).rows("passed"))
    assert {c.n for c in comparisons if c.estimator == "logme"} == {2}


def test_estimate_names_what_it_does_not_know(cli, tmp_path):
    result = cli("-p", "tiny_plugin", "estimate", "--out", tmp_path, "-e", "leap", "-d", "tiny_tgt")
    assert result.exit_code != 0 and "unknown estimator(s) leap" in result.output


def test_doctor_salvages_the_estimates_with_the_results(tmp_path, monkeypatch):
    from benchmark.run import storerepair

    store = _constructed(tmp_path)
    store.close()
    # a store that check() finds damaged: every page is still readable, so every row must come back
    monkeypatch.setattr(storerepair, "check", lambda path: "simulated damage")
    result = storerepair.repair(tmp_path)
    assert result.damaged and result.salvaged == {"experiments": 16, "attempts": 16, "estimates": 4}
    assert sorted(e["source"] for e in Store(tmp_path).estimates()) == ["a", "b", "c", "d"]


def test_two_configurations_of_one_name_get_a_figure_each(tmp_path):
    store = _constructed(tmp_path / "run")
    changed = {**PRESET, "svm_c": 1.0}  # the same preset name, backbone and size; another result-deciding field
    for source, auc in (("a", 0.7), ("b", 0.9)):
        experiment = SimpleNamespace(node_id=f"xray::{source}::fe-svm[seed=2]c", target="xray", source=source,
                                     method="fe-svm", seed=2)
        config = {"target": {"dataset": "xray", "task": "xray"}, "seed": 2}
        store.start(SimpleNamespace(experiment=experiment, config=config, config_hash=experiment.node_id), "cpu",
                    changed)
        store.finish(experiment.node_id, "passed", metrics={"auc": auc, "n_test": 30})
        store.save_estimate(f"c-{source}", "xray", source, "logme", 2, {}, changed, auc, 0.01, 0.2, 300)
    catalog = SimpleNamespace(estimators={"logme": LogME()}, methods={})
    figures = EstimatorsVisualizer().render(VisualizerContext(store, catalog, None, tmp_path / "out"))
    assert len(figures) == 2 and len({f.path for f in figures}) == 2
    assert sorted(f.facts["logme"]["fe-svm"]["n"] for f in figures) == [2, 4]


def test_an_estimator_that_ties_every_source_prints_no_tau(tmp_path):
    from rich.console import Console

    from benchmark.cli.estimating import _agreement_table

    store = _constructed(tmp_path)
    for source, score in zip("abcd", [0.9999999999999974, 1.000000000000003, 1.0, 0.9999999999999991], strict=True):
        _estimate(store, source, score)
    comparisons = compare(store.estimates(), store.rows("passed"))
    assert {(c.tied, c.tau, c.n) for c in comparisons} == {(True, None, 4)}
    table, _ = _agreement_table("xray", comparisons, [LogME()])
    console = Console(width=200, record=True)
    console.print(table)
    text = console.export_text()
    assert "tied scores (n=4)" in text and "+" not in text.split("logme")[1] and "-0." not in text
