import numpy as np
import pytest
from matplotlib.colors import to_rgb
from PIL import Image

from benchmark.report.filters.taxonomyfigures import CLASS_COLOURS, share_bars, share_scatter
from benchmark.report.style import DPI

# the least pixel standard deviation (0-255) of a figure with something drawn on it
MIN_STD = 20


def pixels(path):
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=float)


def has_colour(image, colour, tolerance=3):
    target = np.array(to_rgb(colour)) * 255
    return bool((np.abs(image - target) <= tolerance).all(axis=-1).any())


def test_share_scatter_draws_both_methods(tmp_path):
    points = [("synth_shapes", 0.6, 0.81, "fe-svm"), ("random", 0.1, 0.70, "fe-svm"), ("imagenet", 0.7, 0.85, "fe-svm"),
              ("synth_shapes", 0.5, 0.86, "ft-svm"), ("random", 0.2, 0.75, "ft-svm")]
    path = share_scatter(points, tmp_path / "figs" / "scatter.png", svg=True)
    assert path == tmp_path / "figs" / "scatter.png" and path.with_suffix(".svg").exists()
    image = pixels(path)
    height, width, _ = image.shape
    assert 4 * DPI < width < 8 * DPI and 3.5 * DPI < height < 7 * DPI
    assert image.std() > MIN_STD
    # FE-SVM blue and FT-SVM orange markers
    assert has_colour(image, "#0072B2") and has_colour(image, "#E69F00")
    svg = path.with_suffix(".svg").read_text()
    assert "rho = 1.00" in svg and "2 pairs; a rank correlation needs 3 or more" in svg
    with pytest.raises(ValueError, match="no points"):
        share_scatter([], tmp_path / "empty.png")


def test_share_bars_stack_the_classes_in_their_colours(tmp_path):
    shares = {
        "synth_shapes": {1: {"complex": 0.5, "noise": 0.5}, 2: {"complex": 0.25, "noise": 0.25, "colour": 0.5}},
        "random": {1: {"noise": 1.0}, 2: {"noise": 0.75, "colour": 0.25}},
    }
    path = share_bars(shares, tmp_path / "bars.png")
    image = pixels(path)
    height, width, _ = image.shape
    assert 3 * DPI < width < 8 * DPI and 2.5 * DPI < height < 6 * DPI
    assert image.std() > MIN_STD
    drawn = {name: has_colour(image[: int(height * 0.85)], colour) for name, colour in CLASS_COLOURS.items()}
    # the legend (below the panels, cut off here) shows every class; the bars only those with a share
    assert drawn == {"complex": True, "direction": False, "colour": True, "noise": True}
    assert has_colour(image, CLASS_COLOURS["direction"])


def test_share_bars_wrap_many_models_into_rows(tmp_path):
    one = {stage: {"direction": 0.4, "complex": 0.6} for stage in ("1", "2", "3")}
    wide = pixels(share_bars({f"model {i}": one for i in range(4)}, tmp_path / "four.png"))
    tall = pixels(share_bars({f"model {i}": one for i in range(6)}, tmp_path / "six.png"))
    assert tall.shape[0] > 1.6 * wide.shape[0]
    assert tall.shape[1] == pytest.approx(wide.shape[1], rel=0.05)
    with pytest.raises(ValueError, match="no models"):
        share_bars({}, tmp_path / "none.png")
