"""The leaderboard's arithmetic, on stored rows built by hand."""

import numpy as np
import pytest

from benchmark.report import leaderboard
from benchmark.report.render import latex_escape, render_markdown, render_rich
from benchmark.report.stats import seed_t_test
from tlbench_plugins.methods.fe_svm import FeatureExtractionSVM
from tlbench_plugins.methods.ft_svm import FineTuneSVM
from tlbench_plugins.methods.scratch import Scratch

METHODS = {m.name: m for m in (Scratch(), FeatureExtractionSVM(), FineTuneSVM())}


def build_boards(rows, *args, **kwargs):
    """Boards with the built-in methods' labels and comparisons, as `tlbench run` and `show` build them."""
    return leaderboard.build_boards(rows, *args, methods=METHODS, **kwargs)

PRESET = {"name": "cpu-quick", "backbone": "test_resnet", "image_size": 32, "auc": "macro_curve", "lr": 0.01}


def row(target, source, method, seed, auc, labels, scores, groups=None, finished="2026-01-01T00:00:00", **preset):
    config = {"target": {"dataset": target, "task": target, "data": "d"}, "source": None,
              "method": {"name": method}, "seed": seed, "preset": {**PRESET, **preset},
              "runtime": {"device": "cpu", "precision": "fp32"}}
    return {
        "node_id": f"{target}::{source}::{method}[seed={seed}]", "target": target, "source": source,
        "method": method, "seed": seed, "status": "passed", "config": config,
        "preset": {**PRESET, **preset}, "finished_at": finished,
        "metrics": {"auc_macro_curve": auc, "auc_ovr": auc, "n_test": len(labels),
                    "n_test_groups": None if groups is None else len(set(groups))},
        "scores": {"labels": list(labels), "scores": [list(s) for s in scores], "indices": list(range(len(labels))),
                   "groups": groups},
    }


def perfect(n=20):
    labels = [i % 2 for i in range(n)]
    return labels, [[-1.0, 1.0] if y else [1.0, -1.0] for y in labels]


def test_cell_mean_deviation_std_and_a_known_interval():
    labels, scores = perfect()
    rows = [row("t", "none", "scratch", seed, auc, labels, scores) for seed, auc in ((2, 0.80), (5, 0.90), (7, 0.97))]
    (board,) = build_boards(rows, replicates=200)
    cell = board.cells[("t", "none", "scratch")]
    assert cell.mean == pytest.approx(0.89)
    assert cell.max_deviation == pytest.approx(0.09)
    assert cell.std == pytest.approx(np.std([0.80, 0.90, 0.97], ddof=1))
    assert cell.interval == (1.0, 1.0)  # a perfect ranking stays perfect on every resample
    assert cell.text() == "0.890 ± 0.090 [1.000, 1.000]"
    single = build_boards(rows[:1], replicates=50)[0].cells[("t", "none", "scratch")]
    assert single.text(interval=False) == "0.800"  # one seed: no ±


def test_transfer_better_than_scratch_is_marked_and_holm_corrected():
    rng = np.random.default_rng(0)
    labels = list(rng.integers(0, 2, 200))
    good = [[0.0, y + rng.normal(0, 0.3)] for y in labels]
    noise = [[0.0, rng.normal()] for _ in labels]
    rows = [row("t", "none", "scratch", 2, 0.5, labels, noise), row("t", "src", "fe-svm", 2, 0.99, labels, good),
            row("t", "src", "ft-svm", 2, 0.99, labels, good)]
    (board,) = build_boards(rows, replicates=500)
    assert board.cells[("t", "src", "fe-svm")].mark == "better"
    assert board.cells[("t", "none", "scratch")].mark == ""
    kinds = sorted(c.kind for c in board.comparisons)
    assert kinds == ["FT vs FE", "vs scratch", "vs scratch"]
    ft_fe = next(c for c in board.comparisons if c.kind == "FT vs FE")
    assert ft_fe.result.difference == 0 and ft_fe.p_holm == 1.0
    assert all(c.p_holm >= c.result.p_value for c in board.comparisons)
    text = render_markdown([board])
    assert "▲" in text and "Holm-adjusted" in text and "seeds (2)" in text


def test_columns_the_seeds_cannot_tell_apart_share_a_place():
    labels, scores = perfect()
    values = {("none", "scratch"): (0.96, 0.95, 0.97), ("src", "ft-svm"): (0.95, 0.97, 0.975),
              ("src", "fe-svm"): (0.70, 0.72, 0.71)}
    rows = [row(target, source, method, seed, auc + offset, labels, scores)
            for target, offset in (("t1", 0.0), ("t2", -0.1))
            for (source, method), aucs in values.items() for seed, auc in zip((2, 5, 7), aucs, strict=True)]
    (board,) = build_boards(rows, replicates=50)
    places = [(p.place, board.column_label(p.column)) for p in board.places]
    assert places == [(1, "src FT"), (1, "scratch"), (3, "src FE")]
    ft, scratch, fe = board.places
    # src FT - scratch per seed, the same on both targets: -0.01, +0.02, +0.005
    assert scratch.p_value == pytest.approx(seed_t_test([-0.01, 0.02, 0.005]))
    assert ft.p_value is None and fe.p_value < 0.05 / 2 and fe.mean == pytest.approx(0.71 - 0.05)
    assert "Places: 1. src FT, scratch; 3. src FE." in render_markdown([board])
    single = build_boards([r for r in rows if r["seed"] == 2], replicates=50)[0]
    assert [p.place for p in single.places] == [1, 2, 3]  # one seed: no test, places by mean alone


def test_places_split_at_the_bonferroni_threshold():
    """Three columns, two tests: p = 0.038 (t = 5 on 2 degrees of freedom) is below 0.05 but not 0.05 / 2."""
    labels, scores = perfect()
    gap = np.sqrt(3) * 0.03 / 5
    values = {("none", "scratch"): (0.9, 0.9, 0.9), ("src", "ft-svm"): (0.9 - 0.03 + gap, 0.87, 0.87 - gap),
              ("src", "fe-svm"): (0.5, 0.6, 0.55)}
    rows = [row("t", source, method, seed, auc, labels, scores)
            for (source, method), aucs in values.items() for seed, auc in zip((2, 5, 7), aucs, strict=True)]
    (board,) = build_boards(rows, replicates=50)
    scratch, ft, fe = board.places
    assert ft.p_value == pytest.approx(0.0377, abs=5e-4)
    assert [(p.place, board.column_label(p.column)) for p in board.places] == [(1, "scratch"), (1, "src FT"),
                                                                             (3, "src FE")]


def test_a_cell_never_mixes_configurations():
    labels, scores = perfect()
    rows = [row("t", "none", "scratch", 2, 0.7, labels, scores, max_epochs=1),
            row("t", "none", "scratch", 5, 0.9, labels, scores, max_epochs=2),
            row("t", "none", "scratch", 7, 0.8, labels, scores, max_epochs=2)]
    boards = build_boards(rows, replicates=50)
    assert sorted(b.title for b in boards) == ["cpu-quick · test_resnet @ 32px · cpu fp32 · max_epochs=1",
                                               "cpu-quick · test_resnet @ 32px · cpu fp32 · max_epochs=2"]
    assert sorted(b.cells[("t", "none", "scratch")].n for b in boards) == [1, 2]
    # the same preset with changed data: the latest data's results are shown, the older ones counted
    stale = row("t", "none", "scratch", 2, 0.1, labels, scores, finished="2025-01-01T00:00:00")
    stale["config"]["target"]["data"] = "old"
    fresh = [row("t", "none", "scratch", s, 0.9, labels, scores) for s in (2, 5)]
    (board,) = build_boards([stale, *fresh], replicates=50)
    assert board.cells[("t", "none", "scratch")].values == (0.9, 0.9) and board.superseded == 1


def test_dataset_mean_rows_and_test_sizes_in_the_notes():
    labels, scores = perfect()
    rows = []
    for task, auc in (("isic2017_mel_nev", 0.8), ("isic2017_mel_nev_sk", 0.7), ("isic2017_melsk_nev", 0.9)):
        r = row(task, "none", "scratch", 2, auc, labels, scores, groups=[str(i // 2) for i in range(20)])
        r["config"]["target"]["dataset"] = "isic2017"
        rows.append(r)
    (board,) = build_boards(rows, replicates=50)
    assert board.dataset_means()["isic2017"][("none", "scratch")] == pytest.approx(0.8)
    text = render_markdown([board])
    assert "| isic2017 mean | 0.800 |" in text and "20 images (10 patients/cells/lesions)" in text
    assert board.friedman is None  # one column: nothing to rank
    render_rich([board])


def test_latex_escapes_everything_special():
    assert latex_escape("a_b & c%d #e $f {g} ~h ^i \\j") == (
        "a\\_b \\& c\\%d \\#e \\$f \\{g\\} \\textasciitilde{}h \\textasciicircum{}i \\textbackslash{}j")


def test_columns_labels_and_comparisons_come_from_the_methods():
    labels, scores = perfect()
    values = {("none", "scratch"): (0.80, 0.82), ("src", "ft-svm"): (0.90, 0.93), ("src", "fe-svm"): (0.85, 0.86)}
    rows = [row("t", source, method, seed, auc, labels, scores)
            for (source, method), aucs in values.items() for seed, auc in zip((2, 5), aucs, strict=True)]
    (board,) = build_boards(rows, replicates=50)
    assert [board.column_label(c) for c in board.columns] == ["scratch", "src FE", "src FT"]
    assert [(c.kind, c.baseline) for c in board.comparisons] == [("vs scratch", True), ("vs scratch", True),
                                                                 ("FT vs FE", False)]
    assert board.differences() == {("src", "ft-svm"): pytest.approx(0.06)}
    # without the catalog's methods (their plugin not loaded): names, no pairs, still the method-less baseline
    (bare,) = leaderboard.build_boards(rows, replicates=50)
    assert [bare.column_label(c) for c in bare.columns] == ["scratch", "src fe-svm", "src ft-svm"]
    assert [c.kind for c in bare.comparisons] == ["vs scratch", "vs scratch"] and bare.differences() == {}


def test_the_core_names_no_built_in_method():
    from pathlib import Path

    import benchmark

    core = Path(benchmark.__file__).parent
    named = [str(p.relative_to(core)) for p in core.rglob("*.py")
             if any(f'"{name}"' in p.read_text() for name in ("scratch", "fe-svm", "ft-svm"))]
    assert named == []
