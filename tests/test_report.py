"""`tlbench report` on a store written by hand: every file, the store's numbers in each, a self-contained HTML
page that Chromium renders readably at desktop and phone widths, and a failing visualiser that costs nothing
but itself."""

import base64
import csv
import html
import json
import re
import subprocess
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import TEST_PLUGINS
from PIL import Image
from sklearn.metrics import roc_auc_score

from benchmark.presets import PRESETS
from benchmark.report.htmlpage import TABLE_BACKGROUND
from benchmark.run.store import Store

SEEDS = (2, 5, 7)
# how far apart the two classes' scores are, per target and column: on tgt_a FT is best, on tgt_b scratch
SEPARATION = {"tgt_a": {("none", "scratch"): 0.4, ("src_x", "fe-svm"): 1.0, ("src_x", "ft-svm"): 2.5},
              "tgt_b": {("none", "scratch"): 2.0, ("src_x", "fe-svm"): 0.3, ("src_x", "ft-svm"): 1.2}}
LABELS = {("none", "scratch"): "scratch", ("src_x", "fe-svm"): "src_x FE", ("src_x", "ft-svm"): "src_x FT"}
CHROMIUM = Path("/usr/bin/chromium")


def _write_store(run: Path) -> None:
    """18 passed experiments (2 targets x 3 columns x 3 seeds) with real test scores, and one failed."""
    preset = asdict(PRESETS["cpu-quick"].with_overrides(backbone="test_resnet", image_size=16))
    store = Store(run)
    rng = np.random.default_rng(0)
    labels = [i % 2 for i in range(120)]
    experiments = [(t, s, m, seed) for t in SEPARATION for (s, m) in SEPARATION[t] for seed in SEEDS]
    for index, (target, source, method, seed) in enumerate([*experiments, ("tgt_a", "src_x", "ft-svm", 11)]):
        node = f"{target}::{source}::{method}[seed={seed}]"
        config = {"target": {"dataset": target, "task": target, "data": f"digest-{target}"},
                  "source": None if source == "none" else {"kind": "dataset", "dataset": source, "data": "digest-src"},
                  "method": {"name": method, "version": "1"}, "seed": seed,
                  "preset": PRESETS["cpu-quick"].hashable(), "runtime": {"device": "cpu", "precision": "fp32"}}
        planned = SimpleNamespace(config_hash=f"hash{index}", config=config,
                                  experiment=SimpleNamespace(node_id=node, target=target, source=source,
                                                             method=method, seed=seed))
        assert store.start(planned, "cpu", preset)
        if seed == 11:
            store.finish(planned.config_hash, "failed", error="CUDA out of memory")
            continue
        values = [y * SEPARATION[target][(source, method)] + rng.normal() for y in labels]
        auc = float(roc_auc_score(labels, values))
        store.finish(planned.config_hash, "passed", metrics={"auc_macro_curve": auc, "auc_ovr": auc, "n_test": 120,
                                                             "n_test_groups": None},
                     scores={"labels": labels, "scores": [[0.0, v] for v in values], "indices": list(range(120)),
                             "groups": None},
                     versions={"python": "3.11.7", "torch": "2.14.1", "timm": "1.0.31", "tlbench": "0.1.0"})
    store.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """What the autouse ``isolated`` fixture sets, for the module's shared report."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TLBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        patch.delenv("TLBENCH_PLUGINS", raising=False)
        patch.setenv("TLBENCH_DISTRIBUTIONS", "tlbench")
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.syspath_prepend(str(TEST_PLUGINS))
        yield


def invoke(*args):
    from benchmark.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def run(env, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("store") / "run"
    _write_store(folder)
    return folder


@pytest.fixture(scope="module")
def report(run) -> tuple[Path, object]:
    """The report of every visualiser except the failing one, and the command's result."""
    result = invoke("-p", "report_plugin", "report", "--out", run, "-v", "sketch", "-v", "filters")
    return run / "report", result


def expected_means(run: Path) -> dict[tuple[str, str, str], float]:
    """Each cell's mean, straight from the store's rows."""
    values: dict[tuple, list[float]] = {}
    for row in Store(run).rows("passed"):
        values.setdefault((row["target"], row["source"], row["method"]), []).append(row["metrics"]["auc_macro_curve"])
    return {key: float(np.mean(v)) for key, v in values.items()}


def test_report_writes_every_file_and_lists_them_with_sizes(report):
    folder, result = report
    assert result.exit_code == 0, result.output
    for name in ("report.md", "report.html", "table.tex", "results.csv", "sketch.png", "sketch.svg"):
        assert (folder / name).stat().st_size > 0, name
        assert name in result.output
    assert "KiB" in result.output
    assert sorted(p.name for p in folder.glob("*.png")) == ["sketch.png"]  # filters: src_x is no catalog source


def test_results_csv_holds_every_stored_experiment_exactly(report, run):
    folder, _ = report
    stored = {row["node_id"]: row for row in Store(run).rows()}
    with open(folder / "results.csv", newline="") as handle:
        written = list(csv.DictReader(handle))
    assert sorted(r["node_id"] for r in written) == sorted(stored)
    for line in written:
        row = stored[line["node_id"]]
        assert (line["target"], line["source"], line["method"], int(line["seed"]), line["status"],
                line["config_hash"]) == (row["target"], row["source"], row["method"], row["seed"], row["status"],
                                         row["config_hash"])
        if row["status"] == "passed":
            assert float(line["auc_macro_curve"]) == row["metrics"]["auc_macro_curve"]  # full precision
            assert int(line["n_test"]) == 120
        else:
            assert line["auc_macro_curve"] == "" and line["status"] == "failed"


def test_the_markdown_and_html_tables_show_the_stored_means(report, run):
    folder, _ = report
    markdown = (folder / "report.md").read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("| target |"))
    columns = [c.strip() for c in header.strip("|").split("|")][1:]
    assert columns == ["scratch", "src_x FE", "src_x FT"]
    by_label = {label: key for key, label in LABELS.items()}
    page = (folder / "report.html").read_text()
    means = expected_means(run)
    seen = 0
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] not in SEPARATION:
            continue
        for label, text in zip(columns, cells[1:], strict=True):
            mean = means[(cells[0], *by_label[label])]
            assert float(text.split()[0]) == pytest.approx(mean, abs=5e-4)
            assert text.startswith(f"{mean:.3f} ± ")
            assert text.split(" [")[0] in page
            seen += 1
    assert seen == 6


def test_the_opening_paragraph_names_each_targets_best_column(report, run):
    folder, _ = report
    means = expected_means(run)
    markdown = (folder / "report.md").read_text()
    paragraph = markdown.split("## Results")[0]
    assert "Which source and which transfer method help each target?" in paragraph
    for target in SEPARATION:
        best = max(LABELS, key=lambda column: means[(target, *column)])
        assert f"n {target} the highest mean is {LABELS[best]}'s (AUC {means[(target, *best)]:.3f} ± " in paragraph
    assert "the highest mean is scratch's" in paragraph and "the baseline itself" in paragraph  # tgt_b
    assert "src_x FT's (AUC" in paragraph and "better than scratch beyond chance" in paragraph  # tgt_a
    assert "FT beat FE beyond chance in" in paragraph and "mean over 3 seeds" in paragraph
    page = (folder / "report.html").read_text()
    assert "<strong>Which source and which transfer method help each target?</strong>" in page
    shown = re.sub(r"\\(.)", r"\1", html.unescape(paragraph.strip().splitlines()[-1]))  # Markdown's escapes undone
    assert shown in html.unescape(re.sub(r"<[^>]+>", "", page))


def test_the_html_is_self_contained_and_embeds_every_figure(report):
    folder, _ = report
    page = (folder / "report.html").read_text()
    assert not re.search(r"https?:|<script|<link|@import|url\(", page, re.IGNORECASE)
    sources = re.findall(r'src="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert len(sources) == len(list(folder.glob("*.png")))
    assert base64.b64decode(sources[0].split(",", 1)[1]) == (folder / "sketch.png").read_bytes()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "<strong>mean</strong> AUC of each <code>column</code>" in page  # the caption's Markdown


def test_markdown_links_the_figures_beside_it_and_gives_provenance(report, run):
    folder, _ = report
    markdown = (folder / "report.md").read_text()
    assert "![Column means](sketch.png)" in markdown and "[sketch.svg](sketch.svg)" in markdown
    provenance = markdown.split("## Provenance")[1]
    assert "18 passed" in provenance and "1 failed" in provenance
    assert "**Version of torch**: 2.14.1" in provenance and "**Devices**: cpu" in provenance
    assert "digest-tgt_a" in provenance and "**Digest of src_x (source data)**: digest-src" in provenance
    started = min(r["started_at"] for r in Store(run).rows())
    assert f"**Run period**: {started} to " in provenance
    assert json.loads(provenance.split("```json")[1].split("```")[0])["runtime"] == {"device": "cpu",
                                                                                      "precision": "fp32"}


def test_the_latex_table_is_booktabs_and_escaped(report):
    folder, _ = report
    tex = (folder / "table.tex").read_text()
    for rule in ("\\toprule", "\\midrule", "\\bottomrule", "\\begin{tabular}{lrrr}", "\\end{tabular}"):
        assert rule in tex
    assert "tgt\\_a &" in tex and "src\\_x FE" in tex
    assert all("_" not in line.replace("\\_", "") for line in tex.splitlines() if not line.startswith("%"))


def test_a_failing_visualiser_is_listed_and_the_rest_is_written(run, tmp_path):
    result = invoke("-p", "report_plugin", "report", "--out", run, "--to", tmp_path / "r", "-v", "broken",
                    "-v", "sketch")
    assert result.exit_code == 1
    assert "broken failed: RuntimeError: the sketchbook is empty" in result.output
    markdown = (tmp_path / "r" / "report.md").read_text()
    assert "- **broken**: RuntimeError: the sketchbook is empty" in markdown and "second line" not in markdown
    assert "sketchbook is empty" in (tmp_path / "r" / "report.html").read_text()
    for name in ("report.html", "table.tex", "results.csv", "sketch.png"):
        assert (tmp_path / "r" / name).exists()


def test_v_selects_and_an_unknown_name_lists_the_known(run, tmp_path):
    result = invoke("-p", "report_plugin", "report", "--out", run, "--to", tmp_path / "r", "-v", "nonesuch")
    assert result.exit_code == 2 and "unknown visualizer(s) nonesuch; known:" in result.output
    assert "sketch" in result.output and "broken" in result.output and not (tmp_path / "r").exists()
    empty = invoke("report", "--out", tmp_path / "nothing")
    assert empty.exit_code == 2 and "run `tlbench run --all" in empty.output


def _chromium(url: str, args: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--hide-scrollbars", *args, url],
        capture_output=True, text=True, timeout=90)


def _screenshot(html: Path, width: int, height: int, out: Path) -> np.ndarray:
    _chromium(html.as_uri(), [f"--window-size={width},{height}", f"--screenshot={out}"], out.parent / "profile")
    return np.asarray(Image.open(out).convert("RGB")).astype(int)


def _table_pixels(image: np.ndarray) -> int:
    colour = np.array([int(TABLE_BACKGROUND[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(image - colour).max(axis=2) <= 1).sum())


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium to render the page (.ci/run installs it)")
def test_chromium_renders_the_table_on_a_desktop(report, tmp_path):
    folder, _ = report
    page = _screenshot(folder / "report.html", 1280, 1400, tmp_path / "desktop.png")
    assert page.shape[:2] == (1400, 1280) and page.std() > 20  # not blank
    stripped = tmp_path / "no-table.html"
    stripped.write_text(re.sub(r'<table class="board">.*?</table>', "", (folder / "report.html").read_text(),
                               flags=re.S))
    without = _screenshot(stripped, 1280, 1400, tmp_path / "no-table.png")
    # the table: 3 rows and a header across 4 columns, some 500 x 150 px of its own colour
    assert 20_000 < _table_pixels(page) < 400_000 and _table_pixels(without) < 100


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium to render the page (.ci/run installs it)")
def test_on_a_phone_only_the_table_scrolls(report, tmp_path):
    folder, _ = report
    page = _screenshot(folder / "report.html", 390, 1400, tmp_path / "phone.png")
    assert page.std() > 20 and _table_pixels(page) > 10_000
    # Chromium loads the page at its smallest window, 500 px, then resizes it to 390: measure on each resize and
    # show the answers as three squares, green when true: the viewport is a phone's, the page does not overflow it,
    # and the table is wider than its box (it scrolls inside it)
    probe = ("<script>const d = document.documentElement, box = document.querySelector('.scroll');"
             "const marks = [0, 1, 2].map(i => { const m = document.createElement('div');"
             "m.style.cssText = `position:fixed;top:0;left:${40 * i}px;width:30px;height:30px`;"
             "return document.body.appendChild(m); });"
             "function measure() {"
             "[innerWidth <= 400, d.scrollWidth <= d.clientWidth, box.scrollWidth > box.clientWidth]"
             ".forEach((ok, i) => { marks[i].style.background = ok ? '#00ff00' : '#ff0000'; }); }"
             "measure(); addEventListener('resize', measure);</script></body>")
    measured = tmp_path / "measured.html"
    measured.write_text((folder / "report.html").read_text().replace("</body>", probe))
    marks = _screenshot(measured, 390, 600, tmp_path / "measured.png")
    assert [tuple(marks[15, 15 + 40 * i]) for i in range(3)] == [(0, 255, 0)] * 3


def test_one_seed_is_hedged_and_no_results_say_so(run):
    from benchmark.registry.pluginmanager import load_catalog
    from benchmark.report.leaderboard import build_boards
    from benchmark.report.summary import QUESTION, opening_paragraph

    rows = [r for r in Store(run).rows("passed") if r["seed"] == 2]
    text = opening_paragraph(build_boards(rows, replicates=200, methods=load_catalog(()).methods))
    assert text.startswith(QUESTION) and "mean over 1 seed;" in text and "which one seed cannot give" in text
    assert "not tested against scratch" in text and "With one seed the columns get no places, only means." in text
    assert "beyond chance in" not in text and "the best column" not in text.lower()
    assert opening_paragraph([]) == f"{QUESTION} The store holds no passed results to answer it."


def test_progress_lines_name_each_figure_with_the_time_left(report):
    _, result = report
    progress = [line for line in result.output.splitlines() if "left" in line]
    assert any(line.lstrip().startswith("figures") and "2/2" in line for line in progress), result.output
    for name in ("sketch", "filters"):  # one line per figure drawn, each complete
        assert any(f"figure {name}" in line and "1/1" in line for line in progress), result.output
