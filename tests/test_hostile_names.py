"""Names are data: every name a plugin, a config file or a store gives is checked once (printable, at most 100
characters), a plugin with a bad one is broken alone, and each output format writes a valid but hostile name as
the same characters, never as markup, a command, a new table cell or a spreadsheet formula."""

import csv
import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import TEST_PLUGINS, TINY, isolate
from fakedata import no_builtin_datasets

from benchmark.data.imagecache import ImageCache
from benchmark.names import MAX_LENGTH, check_name, file_stem, name_problem
from benchmark.registry.pluginmanager import load_catalog
from benchmark.report import escaping

with pytest.MonkeyPatch.context() as _patch:  # the test plugins' names, from the modules themselves
    _patch.syspath_prepend(str(TEST_PLUGINS))
    import hostile_names as hostile
    import invalid_names

ONLY_OURS = [arg for flag in no_builtin_datasets() for arg in ("-p", flag)]
HOSTILE = ["-p", "tiny_plugin", "-p", "hostile_names", *ONLY_OURS]
NAMES = (hostile.TARGET_NAME, hostile.SOURCE_NAME, hostile.METHOD_NAME, hostile.METHOD_LABEL)


def invoke(*args):
    from benchmark.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """The hostile target under the corner method (no source) and FE from the hostile source; its report."""
    folder = tmp_path_factory.mktemp("hostile")
    with pytest.MonkeyPatch.context() as patch:
        isolate(patch, folder)
        result = invoke(*HOSTILE, "run", "-d", hostile.TARGET_NAME, "-s", "none", "-s", hostile.SOURCE_NAME,
                        "-m", hostile.METHOD_NAME, "-m", "fe-svm", "--seeds", "2", "--out", folder / "runs", *TINY)
        assert result.exit_code == 0 and "Traceback" not in result.output, result.output
        report = invoke(*HOSTILE, "report", "--out", folder / "runs", "-v", "roc")
        assert report.exit_code == 0, report.output
    return folder


def test_run_and_show_print_the_names_as_they_are(run):
    shown = invoke(*HOSTILE, "show", "--out", run / "runs")
    assert shown.exit_code == 0 and "Traceback" not in shown.output
    text = shown.output
    for name in (hostile.TARGET_NAME, hostile.METHOD_LABEL, f"{hostile.SOURCE_NAME} FE"):
        assert name in text  # "[/]", "[bold]" and "[red]" shown, not read as markup
    sources = list((run / "cache" / "sources").iterdir())
    assert sources and all(len(p.name.encode()) < 255 and "[" not in p.name for p in sources)


def _unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_markdown_keeps_the_table_whole_and_shows_html_as_text(run):
    for text in (invoke(*HOSTILE, "show", "--out", run / "runs", "--format", "md").stdout,
                 (run / "runs" / "report" / "report.md").read_text()):
        assert "<img" not in text and "<b>" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
        table = [line for line in text.splitlines() if line.startswith("| ")]
        assert table and all(_unescaped_pipes(line) == 4 for line in table)  # target + 2 columns: 4 bars
        assert "| =HYPERLINK(\"http://x\")\\|&lt;img" in text


def test_csv_cells_never_start_a_formula(run):
    for text in (invoke(*HOSTILE, "show", "--out", run / "runs", "--format", "csv").stdout,
                 (run / "runs" / "report" / "results.csv").read_text()):
        cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
        assert "'" + hostile.TARGET_NAME in cells and "'" + hostile.METHOD_NAME in cells
        for cell in cells:
            if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                float(cell)  # only our own numbers (a negative difference) may start so


def test_latex_leaves_no_command_live(run):
    for text in (invoke(*HOSTILE, "show", "--out", run / "runs", "--format", "latex").stdout,
                 (run / "runs" / "report" / "table.tex").read_text()):
        assert "\\input{" not in text and "\\textbackslash{}input\\{/etc/passwd\\}" in text
        assert "<b>" not in text and "\\textless{}b\\textgreater{}" in text
    # a line break ends a % comment: whatever the name holds, the escaped text stays on its line
    escaped = escaping.latex("derm\n\\input{/etc/passwd}\r\u2028x")
    assert "\n" not in escaped and "\r" not in escaped and "\\input{" not in escaped


def test_a_plugin_with_invalid_names_is_broken_alone_with_its_reasons(tmp_path):
    catalog = load_catalog(["tiny_plugin", "invalid_names"])
    (info,) = [p for p in catalog.plugins if p.name == "invalid_names"]
    assert info.status == "broken"
    assert "plugin 'invalid_names' registers an invalid dataset name 'derm\\n\\\\input{/etc/passwd}'" in info.error
    assert f"this one has {len(invalid_names.LONG_CLASS)}" in info.error and "label name 'FE\\rFT'" in info.error
    assert invalid_names.NEWLINE_NAME not in catalog.datasets and "long_classes" not in catalog.datasets
    assert "return_label" not in catalog.methods
    assert {"tiny_tgt", "tiny_src"} <= set(catalog.datasets)  # the other plugin keeps working
    listed = invoke("-p", "tiny_plugin", "-p", "invalid_names", "plugins")
    assert listed.exit_code == 0 and "broken" in listed.output and "invalid dataset name" in listed.output
    ran = invoke("-p", "tiny_plugin", "-p", "invalid_names", *ONLY_OURS, "run", "-d", "tiny_tgt", "-s", "none",
                 "-m", "scratch", "--seeds", "2", "--out", tmp_path / "runs", *TINY)
    assert ran.exit_code == 0 and "broken plugin invalid_names" in ran.output and "PASSED tiny_tgt" in ran.output


@pytest.mark.parametrize("name, problem", [
    ("", "must not be empty"), ("a" * (MAX_LENGTH + 1), f"at most {MAX_LENGTH}"), ("a\tb", "printable"),
    ("a\x1b[31mb", "printable"), (" a", "white space"), (3, "must be text"), ("a\u202eb", "printable"),
])
def test_a_name_that_is_not_printable_text_of_bounded_length_is_refused(name, problem):
    assert problem in name_problem(name)
    with pytest.raises(ValueError, match="dataset name"):
        check_name("dataset", name)


def test_names_are_valid_when_printable(tmp_path):
    for name in (*NAMES, "a" * MAX_LENGTH, "basal cell carcinoma", "Ödem"):
        assert check_name("dataset", name) == name


def test_file_stems_are_short_safe_and_distinct():
    assert file_stem("chest_xray-PNEUMONIA") == "chest_xray-PNEUMONIA"
    stems = {file_stem(name) for name in ("a/b", "a_b", "a\\b", "../x", "x" * 300, "x" * 301)}
    assert len(stems) == 6
    assert all(len(s) <= 64 and "/" not in s and "\\" not in s and not s.startswith(".") for s in stems)


def test_the_image_cache_takes_a_300_character_name(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    paths = []
    for i in range(3):
        from PIL import Image

        path = folder / f"{i}.png"
        Image.fromarray(np.full((8, 8, 3), 40 * i, dtype=np.uint8)).save(path)
        paths.append(path)
    cache = ImageCache(tmp_path / "cache", workers=1)
    name = "n" * 300
    first = cache.load(name, {"dataset": name}, paths, 8)
    again = cache.load(name, {"dataset": name}, paths, 8)
    assert first.images.shape == (3, 8, 8, 3) and again.decoded == 0 and cache.decoded == 3
    assert all(len(p.name) < 255 for p in (tmp_path / "cache" / "images").iterdir())


def test_a_declared_name_of_300_characters_is_refused_with_the_limit(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tlbench.toml").write_text(f'[datasets.{"d" * 300}]\npath = "x"\n')
    listed = invoke("plugins", "--json")
    assert listed.exit_code == 0 and "Traceback" not in listed.output
    (declared,) = [p for p in json.loads(listed.output) if p["status"] == "broken"]
    assert declared["name"] == f"declared dataset {'d' * 300}" and f"at most {MAX_LENGTH} of them" in declared["error"]


def test_list_shows_markup_in_paths_descriptions_and_hints_as_text(tmp_path, monkeypatch):
    from benchmark.cli.app import console

    monkeypatch.setattr(console, "width", 2000)  # no cell wrapped: each text on one line
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "ray", None)  # Ray not installed: its hint names tlbench[ray]
    (tmp_path / "tlbench.toml").write_text('[sources.mine]\nbackbone = "test_resnet"\n'
                                           'weights = "w[/]/[bold]x.pth"\ndescription = "[/]my [red]weights"\n')
    listed = invoke("-p", "hostile_names", "list", "--data-root", tmp_path / "data[/]")
    assert listed.exit_code == 0 and "Traceback" not in listed.output
    for text in ("[/]my [red]weights", "w[/]/[bold]x.pth", "[sources.mine]", "tlbench[ray]", "[/]brightness per",
                 str(tmp_path / "data[/]")):
        assert text in listed.output, text
