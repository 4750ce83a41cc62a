"""The leaderboard's arithmetic, on stored rows built by hand."""

import json

import numpy as np
import pytest

from benchmark.report import leaderboard
from benchmark.report.render import latex_escape, render_csv, render_json, render_latex, render_markdown, render_rich
from benchmark.report.stats import GAMMA, seed_level_test
from tlbench_plugins.methods.fe_svm import FeatureExtractionSVM
from tlbench_plugins.methods.ft_svm import FineTuneSVM
from tlbench_plugins.methods.scratch import Scratch

METHODS = {m.name: m for m in (Scratch(), FeatureExtractionSVM(), FineTuneSVM())}


def build_boards(rows, *args, **kwargs):
    """Boards with the built-in methods' labels and comparisons, as `tlbench run` and `show` build them."""
    return leaderboard.build_boards(rows, *args, methods=METHODS, **kwargs)

PRESET = {"name": "cpu-quick", "backbone": "test_resnet", "image_size": 32, "auc": "macro_curve", "lr": 0.01}


def row(target, source, method, seed, auc, labels, scores, groups=None, finished="2026-01-01T00:00:00", offset=0,
        **preset):
    """A stored row; its test images are numbered from ``offset`` (rows of equal offsets share a test set)."""
    config = {"target": {"dataset": target, "task": target, "data": "d"}, "source": None,
              "method": {"name": method}, "seed": seed, "preset": {**PRESET, **preset},
              "runtime": {"device": "cpu", "precision": "fp32"}}
    return {
        "node_id": f"{target}::{source}::{method}[seed={seed}]", "target": target, "source": source,
        "method": method, "seed": seed, "status": "passed", "config": config,
        "preset": {**PRESET, **preset}, "finished_at": finished,
        "metrics": {"auc_macro_curve": auc, "auc_ovr": auc, "n_test": len(labels),
                    "n_test_groups": None if groups is None else len(set(groups))},
        "scores": {"labels": list(labels), "scores": [list(s) for s in scores],
                   "indices": list(range(offset, offset + len(labels))), "groups": groups},
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
    rows = []
    for seed, (bad, fine) in zip((2, 5, 7), ((0.50, 0.97), (0.52, 0.99), (0.49, 0.98)), strict=True):
        labels = list(rng.integers(0, 2, 200))  # each seed its own test set
        good = [[0.0, y + rng.normal(0, 0.3)] for y in labels]
        noise = [[0.0, rng.normal()] for _ in labels]
        rows += [row("t", "none", "scratch", seed, bad, labels, noise, offset=1000 * seed),
                 row("t", "src", "fe-svm", seed, fine, labels, good, offset=1000 * seed),
                 row("t", "src", "ft-svm", seed, fine, labels, good, offset=1000 * seed)]
    (board,) = build_boards(rows, replicates=200)
    assert board.cells[("t", "src", "fe-svm")].mark == "better"
    assert board.cells[("t", "none", "scratch")].mark == ""
    kinds = sorted(c.kind for c in board.comparisons)
    assert kinds == ["FT vs FE", "vs scratch", "vs scratch"]
    ft_fe = next(c for c in board.comparisons if c.kind == "FT vs FE")
    assert ft_fe.result.difference == 0 and ft_fe.p_holm == 1.0
    # per-seed test sets: the test is the paired t-test over the stored values' differences (plus GAMMA)
    versus = next(c for c in board.comparisons if c.a == ("src", "fe-svm"))
    assert versus.result.p_value == pytest.approx(seed_level_test([0.47, 0.47, 0.49]).p_value)
    assert all(c.p_holm >= c.result.p_value for c in board.comparisons)
    text = render_markdown([board])
    assert "▲" in text and "Holm-adjusted" in text and "seeds (2, 5, 7)" in text and "Not tested" not in text


def test_one_seed_gets_no_mark_and_the_board_says_why():
    rng = np.random.default_rng(1)
    labels = list(rng.integers(0, 2, 200))
    good = [[0.0, y + rng.normal(0, 0.3)] for y in labels]
    noise = [[0.0, rng.normal()] for _ in labels]
    rows = [row("t", "none", "scratch", 2, 0.5, labels, noise), row("t", "src", "fe-svm", 2, 0.99, labels, good)]
    (board,) = build_boards(rows, replicates=100)
    assert board.comparisons == [] and board.cells[("t", "src", "fe-svm")].mark == ""
    assert board.cells[("t", "src", "fe-svm")].interval is not None  # the interval needs no second seed
    text = render_markdown([board])
    assert "Not tested, so no ▲ / ▼: 1 comparison(s) on fewer than 2 seeds" in text
    assert "No places" in text and "Means: src FE 0.990; scratch 0.500." in text
    assert json.loads(render_json(rows, [board]))["boards"][0]["places"][0]["place"] is None
    render_rich([board]), render_latex([board]), render_csv([board])  # every form renders a board without places


def test_a_test_set_with_too_few_images_of_a_class_gets_no_interval_and_no_mark():
    """Issue 27, defect 11: 1000:3 imbalance left one minority image and printed [0.000, 0.000] against ▲."""
    labels = [0] * 60 + [1] * 4
    perfect_scores = [[1.0, 0.0] if y == 0 else [0.0, 1.0] for y in labels]
    wrong = [[0.0, 1.0] if y == 0 else [1.0, 0.0] for y in labels]
    rows = [row("t", method_source, method, seed, auc, labels, scores)
            for seed in (2, 5, 7) for method_source, method, auc, scores in
            (("none", "scratch", 0.0, wrong), ("src", "fe-svm", 1.0, perfect_scores))]
    (board,) = build_boards(rows, replicates=100)
    assert all(cell.interval is None and cell.mark == "" for cell in board.cells.values())
    assert board.comparisons == [] and board.places == []
    text = render_markdown([board])
    assert "t: class 1 has 4 test image(s), fewer than 5: no interval and no test" in text
    assert "1 comparison(s) on a test set too small to bootstrap" in text


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
    # src FT - scratch per seed, the same on both targets: -0.01, +0.02, +0.005; perfect scores: no test noise
    assert scratch.p_value == pytest.approx(seed_level_test([-0.01, 0.02, 0.005]).p_value)
    assert ft.p_value is None and fe.p_value < 0.05 / 3 and fe.mean == pytest.approx(0.71 - 0.05)
    assert "Places: 1. src FT, scratch; 3. src FE." in render_markdown([board])
    single = build_boards([r for r in rows if r["seed"] == 2], replicates=50)[0]
    assert [p.place for p in single.places] == [None, None, None]  # one seed: no test, no places, only means
    assert "Means: scratch 0.910; src FT 0.900; src FE 0.650." in render_markdown([single])


def test_places_split_at_the_bonferroni_threshold():
    """Three columns, three pairs: p = 0.038 (t = 5 on 2 degrees of freedom) is below 0.05 but not 0.05 / 3."""
    labels, scores = perfect()
    gap = np.sqrt(3) * 0.03 / 5
    values = {("none", "scratch"): (0.9, 0.9, 0.9), ("src", "ft-svm"): (0.9 - 0.03 + gap, 0.87, 0.87 - gap),
              ("src", "fe-svm"): (0.5, 0.6, 0.55)}
    rows = [row("t", source, method, seed, auc, labels, scores)
            for (source, method), aucs in values.items() for seed, auc in zip((2, 5, 7), aucs, strict=True)]
    (board,) = build_boards(rows, replicates=50)
    scratch, ft, fe = board.places
    assert ft.p_value == pytest.approx(0.0377 + GAMMA, abs=5e-4)
    assert [(p.place, board.column_label(p.column)) for p in board.places] == [(1, "scratch"), (1, "src FT"),
                                                                             (3, "src FE")]


def test_places_rank_on_common_targets_and_identical_differences_are_never_p_zero():
    """A column missing a target is ranked on the targets every column has; columns whose difference is the same
    on every seed get the sign-flip p 2^(1 - S), not 0, and a column pair with no shared seed ties."""
    labels, scores = perfect()
    rows = [row(t, "none", "scratch", seed, 0.80, labels, scores) for t in ("t1", "t2") for seed in (2, 5, 7)]
    rows += [row("t1", "src", "fe-svm", seed, 0.81, labels, scores) for seed in (2, 5, 7)]
    rows += [row("t1", "src", "ft-svm", seed, 0.60 + 0.01 * seed, labels, scores) for seed in (11, 13)]
    rows += [row("t2", "src", "fe-svm", seed, 0.10, labels, scores) for seed in (2, 5, 7)]  # not common
    (board,) = build_boards(rows, replicates=50)
    placed = {board.column_label(p.column): p for p in board.places}
    assert placed["src FE"].mean == pytest.approx(0.81) and placed["src FE"].targets == 1
    assert placed["scratch"].p_value == 0.25 and placed["scratch"].place == 1  # 0.01 on all 3 seeds: 2^(1-3)
    assert placed["src FT"].p_value is None and placed["src FT"].place == 1  # no shared seed: a tie
    from benchmark.report.summary import board_paragraph

    assert "share the first place" in board_paragraph(board) and "The best column" not in board_paragraph(board)


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


def test_the_notes_count_the_seeds_and_call_the_input_a_normalisation():
    labels, scores = perfect()
    rows = [row("t", "none", "scratch", seed, 0.9, labels, scores) for seed in (2, 5)]
    rows[0]["config"]["source"] = rows[1]["config"]["source"] = {"input": {"name": "imagenet"}}
    two = render_markdown(build_boards(rows, replicates=20))
    one = render_markdown(build_boards(rows[:1], replicates=20))
    assert "Cell: mean over 2 seeds (2, 5) ± the largest deviation" in two
    assert "Cell: the result of 1 seed (2), so no ±" in one and "mean over" not in one.split("Cell:")[1][:40]
    assert "Input normalisation by source (how pixels are scaled for its models, not where their weights come " \
           "from): scratch: imagenet." in " ".join(one.split())
    assert "Model input" not in one


def test_the_notes_say_whether_a_source_tlbench_trained_is_one_model_shared_by_the_seeds_or_one_per_seed():
    labels, scores = perfect()
    rows = [row("t", src, method, seed, 0.9, labels, scores) for seed in (2, 5)
            for src, method in (("none", "scratch"), ("shapes", "fe-svm"), ("imagenet", "fe-svm"))]
    for r in rows:
        r["config"]["source"] = {"none": None, "imagenet": {"kind": "timm", "weights": "w"},
                                 "shapes": {"kind": "dataset", "dataset": "shapes", "seed": 0}}[r["source"]]
    (board,) = build_boards(rows, replicates=20)
    assert board.trained_sources == {"shapes": {0}}  # pretrained weights are not trained by tlbench
    text = " ".join(render_markdown([board]).split())
    assert ("Sources tlbench trains on a dataset: shapes (seed 0). Each is one model, trained once and shared by "
            "every seed, so a ± and a test over seeds say how the target's training and test images move a number, "
            "not how another training of the source would (") in text
    assert "Sources tlbench trains" not in render_markdown(build_boards(rows[:1], replicates=20))
    for r in rows:  # source_training = "per-seed": each seed's own model, trained with that seed
        r["config"]["preset"] = {**r["config"].get("preset", {}), "source_training": "per-seed"}
        if r["source"] == "shapes":
            r["config"]["source"] = {**r["config"]["source"], "seed": r["seed"]}
    (board,) = build_boards(rows, replicates=20)
    assert board.trained_sources == {"shapes": {2, 5}} and not board.source_models and board.superseded == 0
    text = " ".join(render_markdown([board]).split())
    assert "Sources tlbench trains on a dataset anew for each seed, with that seed: shapes. A ± and a test over " \
           "seeds include how another training of the source moves a number." in text
    assert "Each is one model" not in text


def test_at_80_columns_the_board_splits_its_columns_and_cuts_no_number():
    from rich.cells import cell_len
    from rich.console import Console

    rng = np.random.default_rng(3)
    rows = []
    for target in ("isic2017_mel_nev_sk", "blood_cells"):
        for seed in (2, 5, 7):
            labels = list(rng.integers(0, 2, 60))
            scores = [[0.0, y + rng.normal(0, 1.0)] for y in labels]
            rows.append(row(target, "none", "scratch", seed, rng.uniform(0.6, 0.9), labels, scores, offset=seed))
            for source in ("natural_images", "dogs_vs_cats", "kaggle_dr", "chest_xray"):
                for method in ("fe-svm", "ft-svm"):
                    rows.append(row(target, source, method, seed, rng.uniform(0.6, 0.9), labels, scores, offset=seed))
    (board,) = build_boards(rows, replicates=50)
    console = Console(width=80, record=True, color_system=None)
    console.print(render_rich([board]))
    text = console.export_text()
    assert max(cell_len(line) for line in text.splitlines()) <= 80 and "…" not in text
    lines = text.splitlines()
    for cell in board.cells.values():
        assert any(cell.text(interval=False) in line for line in lines), cell.text(interval=False)
        assert any(f"[{cell.interval[0]:.3f}, {cell.interval[1]:.3f}]" in line for line in lines)
    for comparison in board.comparisons:
        low, p_value = f"[{comparison.result.low:+.3f},", f"{comparison.result.p_value:.3g}"
        assert any(low in line and p_value in line for line in lines), (low, p_value)  # the interval may wrap
        assert f"{comparison.result.high:+.3f}]" in text
    assert "(columns 1-" in text and f"of {len(board.columns)})" in text  # the columns went over several tables
    wide = Console(width=250, record=True, color_system=None)
    wide.print(render_rich([board]))
    assert "(columns" not in wide.export_text() and "target: a − b" not in wide.export_text()


def _noisy_rows(seed_shift: float = 0.0):
    """Scratch and FE over three seeds that share one test set, with noisy scores (so replicates vary)."""
    rng = np.random.default_rng(3)
    labels = list(rng.integers(0, 2, 120))
    rows = []
    for seed in (2, 5, 7):
        for method, signal in (("scratch", 0.5), ("fe-svm", 1.5)):
            scores = [[0.0, signal * y + rng.normal() + seed_shift] for y in labels]
            rows.append(row("t", "none" if method == "scratch" else "src", method, seed, 0.7, labels, scores))
    return rows


def _counting_bootstrap(monkeypatch) -> list[int]:
    """Record how many score sets each call of the leaderboard's bootstrap resamples."""
    resampled = []
    original = leaderboard.bootstrap_scores

    def counting(metric, labels, score_sets, *args):
        resampled.append(len(score_sets))
        return original(metric, labels, score_sets, *args)

    monkeypatch.setattr(leaderboard, "bootstrap_scores", counting)
    return resampled


def _replicates(board) -> dict:
    return {(key, seed): values for key, cell in board.cells.items() for seed, values in cell.replicates.items()}


def test_bootstrap_replicates_are_stored_beside_the_run_and_reused(tmp_path, monkeypatch):
    rows = _noisy_rows()
    (uncached,) = build_boards(rows, replicates=100)
    resampled = _counting_bootstrap(monkeypatch)
    (first,) = build_boards(rows, replicates=100, run_dir=tmp_path)
    assert sum(resampled) == 6 and (tmp_path / "bootstrap.sqlite").is_file()
    resampled.clear()
    (again,) = build_boards(rows, replicates=100, run_dir=tmp_path)
    assert resampled == []  # every result's replicates came from the file
    for board in (first, again):
        assert _replicates(board).keys() == _replicates(uncached).keys()
        for key, values in _replicates(uncached).items():
            np.testing.assert_array_equal(_replicates(board)[key], values)
        assert [c.interval for c in board.cells.values()] == [c.interval for c in uncached.cells.values()]
        assert [(c.a, c.b, c.result) for c in board.comparisons] == [(c.a, c.b, c.result) for c in uncached.comparisons]
    # another replicate count or metric is another statistic: resampled, not read
    build_boards(rows, replicates=50, run_dir=tmp_path)
    assert sum(resampled) == 6


def test_a_damaged_replicates_entry_is_a_miss_and_resampled(tmp_path, monkeypatch):
    import sqlite3

    rows = _noisy_rows()
    (before,) = build_boards(rows, replicates=100, run_dir=tmp_path)
    db = sqlite3.connect(tmp_path / "bootstrap.sqlite")
    with db:
        (key,) = db.execute("SELECT key FROM replicates LIMIT 1").fetchone()
        db.execute("UPDATE replicates SET replicates = ? WHERE key = ?", (b"\x00" * 13, key))
    db.close()
    resampled = _counting_bootstrap(monkeypatch)
    (again,) = build_boards(rows, replicates=100, run_dir=tmp_path)
    assert sum(resampled) == 1  # the damaged entry's result alone
    assert [c.interval for c in again.cells.values()] == [c.interval for c in before.cells.values()]


def test_a_changed_row_is_resampled_and_the_others_are_reused(tmp_path, monkeypatch):
    rows = _noisy_rows()
    (before,) = build_boards(rows, replicates=100, run_dir=tmp_path)
    changed = [dict(r) for r in rows]
    changed[3] = row("t", "src", "fe-svm", 5, 0.7, rows[3]["scores"]["labels"],
                     [[0.0, s[1] + 0.5 * (i % 3)] for i, s in enumerate(rows[3]["scores"]["scores"])])
    resampled = _counting_bootstrap(monkeypatch)
    (after,) = build_boards(changed, replicates=100, run_dir=tmp_path)
    assert resampled == [1]  # the changed result alone
    (fresh,) = build_boards(changed, replicates=100)
    for key, values in _replicates(fresh).items():
        np.testing.assert_array_equal(_replicates(after)[key], values)
    key = (("t", "src", "fe-svm"), 5)
    assert not np.array_equal(_replicates(after)[key], _replicates(before)[key])


def test_a_run_folder_that_cannot_be_written_still_gets_its_boards(tmp_path, monkeypatch):
    (tmp_path / "bootstrap.sqlite").write_bytes(b"not a database, and not to be trusted as one")
    resampled = _counting_bootstrap(monkeypatch)
    (board,) = build_boards(_noisy_rows(), replicates=100, run_dir=tmp_path)
    assert sum(resampled) == 6 and all(cell.interval is not None for cell in board.cells.values())
