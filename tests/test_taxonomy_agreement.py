import csv
import runpy
from pathlib import Path

import numpy as np
import pytest
from filterpatterns import examples
from filtertiles import labelled_tiles
from PIL import Image
from sklearn.metrics import cohen_kappa_score

from benchmark.report.filters.taxonomy import agreement, classify_many

ROOT = Path(__file__).parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "filters"
# The least Cohen's kappa of the rule against the hand labels within each drawing style, where the style-only
# baseline (every tile its style's most common label) scores 0. Measured (perf/taxonomy_agreement.py): regularised
# 0.556 [0.414, 0.683], thesis 0.356 [0.247, 0.467]; the floors are near the intervals' lower ends. Pooled over the
# styles the rule's 0.623 is not told apart from the baseline's 0.567 (difference [-0.034, +0.139]): no pooled floor.
KAPPA_FLOORS = {"regularised": 0.40, "thesis": 0.24}


def script():
    return runpy.run_path(str(ROOT / "perf" / "taxonomy_agreement.py"))


def write_fixture(folder, tiles, labels):
    """A fixture folder as perf/filter_tiles.py writes it: ``tiles`` maps a tile's name (without .png) to its image,
    ``labels`` to its label."""
    (folder / "tiles").mkdir(parents=True)
    with open(folder / "manifest.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["tile", "model", "kind", "stage", "channel", "style"])
        for index, name in enumerate(tiles):
            writer.writerow([f"{name}.png", "synthetic", "source", 1, index, "thesis" if index % 2 else "regularised"])
    with open(folder / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["tile", "label"])
        writer.writerows((f"{name}.png", label) for name, label in labels.items())
    for name, image in tiles.items():
        Image.fromarray(np.round(image * 255).astype(np.uint8)).save(folder / "tiles" / f"{name}.png")


@pytest.mark.skipif(not (FIXTURES / "labels.csv").exists(), reason="no hand labels (tests/fixtures/filters/labels.csv)")
def test_within_each_style_the_rule_agrees_with_the_hand_labels_beyond_the_style_only_baseline():
    records = labelled_tiles(FIXTURES)
    human, styles = [r["label"] for r in records], [r["style"] for r in records]
    machine = classify_many([r["image"] for r in records])
    baseline = script()["style_only"](human, styles)
    assert sorted(set(zip(styles, baseline, strict=True))) == [("regularised", "complex"), ("thesis", "noise")]
    for style, floor in KAPPA_FLOORS.items():
        kept = [i for i, s in enumerate(styles) if s == style]
        rule = agreement([human[i] for i in kept], [machine[i] for i in kept])["kappa"]
        base = cohen_kappa_score([human[i] for i in kept], [baseline[i] for i in kept])
        assert base == 0.0 < floor <= rule, (style, rule)


def test_the_script_scores_a_fixture_of_known_patterns(tmp_path, capsys):
    tiles = {name.replace(" ", "-"): image for name, image, _ in examples(32)}
    labels = {name.replace(" ", "-"): label for name, _, label in examples(32)}
    labels["ring"] = "direction"  # the person disagrees with the rule once
    write_fixture(tmp_path, tiles, {**labels, "unlabelled": ""})
    script()["main"](["--fixtures", str(tmp_path)])
    out = capsys.readouterr().out
    # 7 of 8 agree; person: 2 complex, 2 direction, 2 colour, 2 noise; rule: 3, 1, 2, 2
    kappa = (7 / 8 - (2 * 3 + 2 * 1 + 2 * 2 + 2 * 2) / 64) / (1 - 16 / 64)
    assert f"all tiles: 8 tiles\n  kappa {kappa:.3f}, structural kappa 1.000, accuracy 0.875" in out
    rows = [line.split() for line in out.splitlines()[3:8]]
    assert rows == [["complex", "direction", "colour", "noise"], ["complex", "2", "0", "0", "0"],
                    ["direction", "1", "1", "0", "0"], ["colour", "0", "0", "2", "0"], ["noise", "0", "0", "0", "2"]]
    assert "per class (person / rule): complex 2/3, direction 2/1, colour 2/2, noise 2/2" in out
    assert "style regularised: 4 tiles" in out and "style thesis: 4 tiles" in out
    assert "against the style-only baseline (" in out and "pooled: rule kappa" in out


def test_the_style_only_baseline_gives_each_style_its_most_common_label():
    human = ["complex", "complex", "noise", "noise", "noise", "direction"]
    styles = ["regularised", "regularised", "regularised", "thesis", "thesis", "thesis"]
    assert script()["style_only"](human, styles) == ["complex"] * 3 + ["noise"] * 3


def test_labelled_tiles_reads_images_and_rejects_unknown_labels(tmp_path):
    tiles = {"flat": np.full((8, 8, 3), 0.5), "noise": np.random.default_rng(0).uniform(0, 1, (8, 8, 3))}
    write_fixture(tmp_path / "good", tiles, {"flat": " Colour ", "noise": "noise"})
    records = labelled_tiles(tmp_path / "good")
    assert [(r["tile"], r["label"], r["channel"], r["image"].shape) for r in records] == [
        ("flat.png", "colour", "0", (8, 8, 3)), ("noise.png", "noise", "1", (8, 8, 3))]
    assert records[0]["image"] == pytest.approx(np.full((8, 8, 3), 128 / 255))
    write_fixture(tmp_path / "bad", tiles, {"flat": "color"})
    with pytest.raises(ValueError, match="tile flat.png: label 'color'"):
        labelled_tiles(tmp_path / "bad")
    with pytest.raises(SystemExit, match="no labels"):
        script()["main"](["--fixtures", str(tmp_path / "absent")])


def test_the_rule_calls_grating_detectors_direction_in_both_styles():
    # perf/taxonomy_direction.py on its 48 gratings at 32 px (the embedded default's size): recall 0.85
    # regularised, 0.96 thesis; plaids called direction 0.08 and 0.17. Here every other orientation (24 gratings,
    # 12 plaids): recall 0.96 and 1.00, plaids 0.00 and 0.08.
    direction = runpy.run_path(str(ROOT / "perf" / "taxonomy_direction.py"))
    model, kinds = direction["detector"](angles=range(0, 180, 30))
    for style in ("regularised", "thesis"):
        shares = direction["direction_shares"](model, kinds, 32, style)
        assert shares["grating"] >= 0.8 and shares["plaid"] <= 0.25, (style, shares)
