import csv
import runpy
from pathlib import Path

import numpy as np
import pytest
from filterpatterns import examples
from PIL import Image

from benchmark.report.filtertiles import labelled_tiles
from benchmark.report.taxonomy import agreement, classify_many

ROOT = Path(__file__).parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "filters"
# The least Cohen's kappa of the rule against the hand labels of the filter tiles.
KAPPA_FLOOR = 0.55  # measured 0.62 on the 294 hand-labelled tiles (README, "Filters and their taxonomy")


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
def test_the_rule_agrees_with_the_hand_labels():
    records = labelled_tiles(FIXTURES)
    scores = agreement([r["label"] for r in records], classify_many([r["image"] for r in records]))
    assert scores["kappa"] is not None and scores["kappa"] >= KAPPA_FLOOR, scores


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
