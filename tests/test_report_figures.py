"""The report's figures (bars, heatmap, cd, roc, curves, time), drawn from a store of rows written by hand."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from benchmark.engine.metrics import auc_macro_curve, macro_roc_curve
from benchmark.report.figures import VisualizerContext
from benchmark.report.leaderboard import build_boards
from benchmark.run.store import Store
from tlbench_plugins.methods.fe_svm import FeatureExtractionSVM
from tlbench_plugins.methods.ft_svm import FineTuneSVM
from tlbench_plugins.methods.scratch import Scratch
from tlbench_plugins.visualizers import bars, cd, curves, heatmap, roc, timing

METHODS = {m.name: m for m in (Scratch(), FeatureExtractionSVM(), FineTuneSVM())}
PRESET = {"name": "cpu-quick", "backbone": "test_resnet", "image_size": 32, "auc": "macro_curve", "lr": 0.01}
# how well each column separates the classes: FT on src_a best, FE on src_b worst
SIGNAL = {("none", "scratch"): 1.0, ("src_a", "fe-svm"): 1.2, ("src_a", "ft-svm"): 3.0, ("src_b", "fe-svm"): 0.0,
          ("src_b", "ft-svm"): 1.5}
TARGETS = {"cells": 3, "xray": 2}  # target -> classes
SEEDS = (2, 5, 7)
VISUALIZERS = (bars.BarsVisualizer(), heatmap.HeatmapVisualizer(), cd.CriticalDifferenceVisualizer(),
               roc.RocVisualizer(), curves.CurvesVisualizer(), timing.TimeVisualizer())


def _scores(classes: int, signal: float, seed: int, n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    labels = np.arange(n) % classes
    rng = np.random.default_rng([seed, classes, int(signal * 10)])
    return labels, rng.normal(size=(n, classes)) + signal * np.eye(classes)[labels]


def _history(epochs: int, accuracy: bool) -> list[dict]:
    out = []
    for epoch in range(1, epochs + 1):
        record = {"epoch": epoch, "train_loss": 1.0 / epoch, "val_loss": abs(epoch - 3) + 0.5, "seconds": 0.1}
        if accuracy:
            record |= {"train_accuracy": 1 - 0.5 / epoch, "val_accuracy": 0.6 + 0.02 * epoch}
        out.append(record)
    return out


def write_store(run_dir, targets=TARGETS, columns=SIGNAL, new_keys=True, preset=PRESET) -> Store:
    """A store holding a passed row per target, column and seed; ``new_keys``: histories with accuracy and
    durations split into training, features and SVM (else as rows stored before they were recorded)."""
    store = Store(run_dir)
    for target, classes in targets.items():
        for (source, method), signal in columns.items():
            for seed in SEEDS:
                labels, scores = _scores(classes, signal, seed)
                config = {"target": {"dataset": target, "task": target, "data": "d"}, "source": None,
                          "method": {"name": method}, "seed": seed, "preset": preset,
                          "runtime": {"device": "cpu", "precision": "fp32"}}
                experiment = SimpleNamespace(node_id=f"{target}::{source}::{method}[seed={seed}]", target=target,
                                             source=source, method=method, seed=seed)
                config_hash = f"{target}-{source}-{method}-{seed}-{preset['lr']}"
                store.start(SimpleNamespace(experiment=experiment, config=config, config_hash=config_hash), "cpu",
                            preset)
                trains = method != "fe-svm"
                durations = {"source": 0.0 if source == "none" else 2.0, "method": 5.0, "total": 7.0}
                if new_keys:
                    durations |= {"training": 3.0, "svm": 1.0} if trains else {"features": 1.5, "svm": 0.5}
                auc = auc_macro_curve(labels, scores)
                store.finish(config_hash, "passed",
                             metrics={"auc_macro_curve": auc, "auc_ovr": auc, "n_test": len(labels)},
                             scores={"labels": labels.tolist(), "scores": scores.tolist(),
                                     "indices": list(range(len(labels)))},
                             history=_history(4 + seed % 3, new_keys) if trains else [], durations=durations)
    return store


def context(store: Store, out_dir) -> VisualizerContext:
    ctx = VisualizerContext(store, SimpleNamespace(methods=METHODS), None, out_dir)
    # fewer bootstrap resamples than the report's, for speed
    ctx.memo[("boards", "auc")] = build_boards(ctx.rows(), "auc", replicates=300, methods=METHODS)
    return ctx


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """Every visualiser's figures on the full store: (context, {name: figures})."""
    root = tmp_path_factory.mktemp("figures")
    ctx = context(write_store(root / "run"), root / "out")
    return ctx, {v.name: v.render(ctx) for v in VISUALIZERS}


def _pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"), dtype=np.float64)


@pytest.mark.parametrize("name", [v.name for v in VISUALIZERS])
def test_every_figure_is_drawn_readable_and_named_by_its_board(drawn, name):
    ctx, figures = drawn
    (figure,) = figures[name]
    assert figure.path == ctx.out_dir / f"{name}-cpu-quick-test_resnet-32px-cpu-fp32.png"
    pixels = _pixels(figure.path)
    assert 500 <= pixels.shape[1] <= 3000 and 250 <= pixels.shape[0] <= 3000
    assert pixels.std() > 20 and len(np.unique(pixels)) > 50  # drawn, not one colour
    assert figure.title and len(figure.caption) > 100
    json.dumps(figure.facts, allow_nan=False)  # numbers the report can quote
    vector = name in ("bars", "heatmap", "cd")
    assert [p.suffix for p in figure.extra] == ([".svg"] if vector else [])
    assert all(p.stat().st_size > 1000 for p in figure.extra)


def test_heatmap_annotations_are_the_boards_means_and_marks(drawn):
    ctx, figures = drawn
    board = ctx.boards()[0]
    pairs = heatmap.pair_marks(board)
    for (target, source, method), cell in board.cells.items():
        text = heatmap.annotation(board, target, (source, method), pairs)
        first, second = text.split("\n")
        assert float(first.split()[0]) == pytest.approx(cell.mean, abs=5e-4)
        assert float(second.removeprefix("± ")) == pytest.approx(cell.max_deviation, abs=5e-4)
        assert ("▲" in first) == (cell.mark == "better") and ("▼" in first) == (cell.mark == "worse")
    # ↑ / ↓ where FT differs from FE beyond chance (three seeds on one shared test set of 60 images: which of this
    # fixture's differences the seed-level test confirms is the statistics' tests' business; the arrows follow them)
    for c in (c for c in board.comparisons if not c.baseline):
        assert pairs.get((c.target, *c.a), "") == ("" if not c.significant else "↑" if c.result.difference > 0 else "↓")
    assert any(pairs.values())
    assert heatmap.annotation(board, "cells", ("src_c", "fe-svm")) == ""
    facts = figures["heatmap"][0].facts
    assert facts["means"]["xray"]["src_a FT"] == board.cells[("xray", "src_a", "ft-svm")].mean
    assert all(text.strip("▲▼↑↓") == "" for text in facts["marks"].values())


def test_bars_mean_over_targets_and_its_interval(drawn):
    ctx, figures = drawn
    board = ctx.boards()[0]
    column = ("src_b", "ft-svm")
    mean, (low, high) = bars.target_mean(board, column)
    cells = [board.cells[(t, *column)] for t in board.targets]
    assert mean == pytest.approx(np.mean([c.mean for c in cells]))
    # the mean over targets is surer than either target alone: its interval is narrower than their average width
    assert low < mean < high
    assert high - low < np.mean([c.interval[1] - c.interval[0] for c in cells])
    means = figures["bars"][0].facts["means"]
    assert list(means) == ["cells", "xray", bars.ALL]
    assert means[bars.ALL]["src_b FT"] == pytest.approx(mean)
    assert means["cells"]["scratch"] == board.cells[("cells", "none", "scratch")].mean


def test_cd_ranks_the_columns_best_first_with_the_friedman_test(drawn):
    ctx, figures = drawn
    board = ctx.boards()[0]
    ranks = cd.ranked(board)
    assert ranks[0] == (("src_a", "ft-svm"), 1.0) and ranks[-1] == (("src_b", "fe-svm"), 5.0)
    facts = figures["cd"][0].facts
    assert facts["k"] == 5 and facts["n"] == 2
    assert facts["friedman_p"] == board.friedman.result.p_value
    assert f"p = {board.friedman.result.p_value:.3g}" in figures["cd"][0].caption


def test_the_roc_curve_is_the_metrics_curve_and_its_area_the_auc():
    labels, scores = _scores(3, 1.0, 0)
    fpr, tpr = macro_roc_curve(labels, scores)
    assert np.trapezoid(tpr, fpr) == pytest.approx(auc_macro_curve(labels, scores))
    result = SimpleNamespace(labels=labels, scores=scores)
    curve = roc.mean_curve([result])
    assert curve[0] == 0.0 and curve[-1] == 1.0 and np.all(np.diff(curve) >= 0)
    assert np.trapezoid(curve, roc.GRID) == pytest.approx(auc_macro_curve(labels, scores), abs=0.01)
    perfect = SimpleNamespace(labels=np.array([0, 1, 0, 1]), scores=np.array([[1.0, 0], [0, 1], [1, 0], [0, 1]]))
    assert np.all(roc.mean_curve([perfect])[1:] == 1.0)
    assert roc.mean_curve([SimpleNamespace(labels=np.array([]), scores=np.array([]))]) is None


def test_curves_average_the_seeds_that_reached_an_epoch_and_mark_the_best():
    short, long = _history(2, True), _history(4, True)
    epochs, mean = curves.mean_series([short, long], "train_loss")
    assert epochs.tolist() == [1, 2, 3, 4]
    assert mean.tolist() == pytest.approx([1.0, 0.5, 1 / 3, 0.25])
    assert curves.mean_series([_history(3, False)], "val_accuracy")[0].size == 0
    assert curves.best_epoch(long) == (3, 0.5)
    assert curves.best_epoch([{"epoch": 1, "train_loss": 1.0}]) is None


def test_time_splits_the_method_and_counts_the_rest():
    new = timing.time_parts({"source": 2.0, "method": 5.0, "training": 3.0, "svm": 1.0, "total": 7.0})
    assert new == {"source": 2.0, "training": 3.0, "features": 0.0, "svm": 1.0, "probe": 0.0, "other": 1.0}
    old = timing.time_parts({"method": 4.0, "total": 4.1})
    assert old == {"source": 0.0, "training": 0.0, "features": 0.0, "svm": 0.0, "probe": 0.0, "other": 4.0}
    probe = timing.time_parts({"method": 3.0, "features": 1.0, "probe": 1.5})
    assert probe["probe"] == 1.5 and probe["other"] == 0.5
    rows = [{"source": "s", "method": "fe-svm", "durations": {"method": d, "features": 1.0}} for d in (2.0, 4.0)]
    assert timing.mean_parts(rows)[("s", "fe-svm")]["other"] == 2.0


def test_rows_stored_before_accuracy_and_split_times_draw_what_they_have(tmp_path):
    ctx = context(write_store(tmp_path / "run", new_keys=False), tmp_path / "out")
    (figure,) = curves.CurvesVisualizer().render(ctx)
    assert "no accuracy" in figure.caption and "loss only" in figure.caption
    (wide,) = curves.CurvesVisualizer().render(context(write_store(tmp_path / "new"), tmp_path / "new-out"))
    assert _pixels(figure.path).shape[1] < 0.7 * _pixels(wide.path).shape[1]  # two panels a target, not four
    (figure,) = timing.TimeVisualizer().render(ctx)
    assert "30 of the 30 experiments were stored before" in figure.caption
    assert figure.facts["seconds"]["src_a FE"] == {"source": 2.0, "training": 0.0, "features": 0.0, "svm": 0.0,
                                                    "probe": 0.0, "other": 5.0}


def test_nothing_to_draw_gives_no_figure_and_no_error(tmp_path):
    empty = context(Store(tmp_path / "empty"), tmp_path / "out")
    assert all(v.render(empty) == [] for v in VISUALIZERS)
    # one target, FE only: nothing to rank, no training history
    ctx = context(write_store(tmp_path / "one", {"cells": 3}, {("src_a", "fe-svm"): 1.0, ("src_b", "fe-svm"): 2.0}),
                  tmp_path / "one-out")
    assert cd.CriticalDifferenceVisualizer().render(ctx) == []
    assert curves.CurvesVisualizer().render(ctx) == []
    assert [f.path.name for f in bars.BarsVisualizer().render(ctx)] == ["bars-cpu-quick-test_resnet-32px-cpu-fp32.png"]
    assert list((tmp_path / "one-out").glob("cd-*")) == []


def test_one_file_per_board_each_titled_by_its_configuration(tmp_path):
    store = write_store(tmp_path / "run", {"cells": 3}, {("none", "scratch"): 1.0, ("src_a", "ft-svm"): 2.0})
    write_store(tmp_path / "run", {"cells": 3}, {("none", "scratch"): 1.0, ("src_a", "ft-svm"): 2.0},
                preset={**PRESET, "lr": 0.1})
    figures = bars.BarsVisualizer().render(context(store, tmp_path / "out"))
    assert [f.path.name for f in figures] == ["bars-cpu-quick-test_resnet-32px-cpu-fp32-lr-0.01.png",
                                              "bars-cpu-quick-test_resnet-32px-cpu-fp32-lr-0.1.png"]
    assert [f.title.split(" · ")[-1] for f in figures] == ["lr=0.01", "lr=0.1"]
    assert all(f.path.exists() for f in figures)


def test_a_store_mixing_old_and_new_rows_says_how_many_lack_the_new_keys(tmp_path):
    store = write_store(tmp_path / "run", {"cells": 3})
    write_store(tmp_path / "run", {"xray": 2}, new_keys=False)
    ctx = context(store, tmp_path / "out")
    (figure,) = curves.CurvesVisualizer().render(ctx)
    assert "Accuracy from the 9 of 18 seeds" in figure.caption
    (figure,) = timing.TimeVisualizer().render(ctx)
    assert "15 of the 30 experiments were stored before" in figure.caption
    # FE on src_a: a new row's 1.5 s features and 0.5 s SVM, an old row's none; the rest of 5 s is "other"
    assert figure.facts["seconds"]["src_a FE"] == pytest.approx(
        {"source": 2.0, "training": 0.0, "features": 0.75, "svm": 0.25, "probe": 0.0, "other": 4.0})


def test_the_figures_follow_the_reports_metric(drawn):
    ctx, _ = drawn
    chosen = VisualizerContext(ctx.store, ctx.catalog, None, ctx.out_dir, metric="auc_ovr")
    chosen.memo[("boards", "auc_ovr")] = build_boards(chosen.rows(), "auc_ovr", replicates=50, methods=METHODS)
    assert [board.metric for board in chosen.boards()] == ["auc_ovr"]
    assert ctx.boards()[0].metric == "auc_macro_curve"  # "auc" is the preset's choice, the study's curve
