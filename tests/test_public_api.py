"""The public API is small and documented: every name ``benchmark`` exports is described in one line of
docs/plugins.md, and the filter analysis is one namespace whose names resolve."""

import re
from pathlib import Path

import benchmark

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def described_names() -> set[str]:
    """The names the "The public API" section of docs/plugins.md describes (``- `name`: ...`` lines)."""
    section = DOC.read_text().split("## The public API", 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in section.splitlines():
        if line.startswith("- "):
            head = line[2:].split(":", 1)[0]
            names |= set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", head))
    return names


def test_every_exported_name_is_described_in_the_plugin_guide():
    missing = sorted(set(benchmark.__all__) - described_names())
    assert missing == [], f"describe these in docs/plugins.md's 'The public API': {missing}"


def test_the_api_leaves_out_internals():
    assert len(benchmark.__all__) == len(set(benchmark.__all__))
    assert len(benchmark.__all__) < 60
    for internal in ("JobResult", "Preset", "PRESETS", "LogisticProbe", "file_hash", "weighted_tau", "classify_many"):
        assert internal not in benchmark.__all__


def test_the_filter_analysis_is_one_name_whose_members_resolve():
    analysis = benchmark.filter_analysis
    assert sorted(analysis.__all__) == sorted([
        "ModelFilters", "model_filters", "filter_pairs", "CLASSES", "STRUCTURAL", "classify_many", "class_shares",
        "structural_share", "spearman", "filter_change", "share_bars", "share_scatter"])
    assert analysis.CLASSES == ("complex", "direction", "colour", "noise")
    assert callable(analysis.classify_many)
