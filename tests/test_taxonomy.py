import numpy as np
import pytest
from filterpatterns import colour_gradient, examples, grating, grid, uniform, white_noise

from benchmark.report.filters import taxonomy
from benchmark.report.filters.taxonomy import CLASSES, STRUCTURAL, agreement, classify, classify_many, filter_properties


def test_the_classes_and_the_structural_ones():
    assert CLASSES == ("complex", "direction", "colour", "noise")
    assert STRUCTURAL == {"complex", "direction"}


@pytest.mark.parametrize("size", [32, 64])
def test_oriented_gratings_are_direction_at_any_angle_and_frequency(size):
    labels = {(angle, cycles, seed): classify(grating(size, angle, cycles, seed=seed))
              for angle in (0, 20, 45, 70, 90, 112.5, 135, 160) for cycles in (2.5, 4, 7) for seed in (0, 1)}
    assert {key: label for key, label in labels.items() if label != "direction"} == {}


@pytest.mark.parametrize("size", [32, 64])
def test_flat_colours_and_gradients_are_colour(size):
    flats = [uniform(size, colour) for colour in ((0.8, 0.2, 0.3), (0.5, 0.5, 0.5), (0.0, 0.0, 1.0), (1, 1, 1))]
    barely_noisy = np.clip(uniform(size) + np.random.default_rng(0).normal(0, 0.003, (size, size, 3)), 0, 1)
    y, x = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")
    grey_ramp = np.repeat((0.2 + 0.6 * (x + y) / 2)[..., None], 3, axis=2)
    images = [*flats, barely_noisy, colour_gradient(size), grey_ramp]
    assert classify_many(images) == ["colour"] * len(images)


def test_structure_in_colour_alone_is_structure():
    y, x = np.meshgrid(np.linspace(0, 1, 32), np.linspace(0, 1, 32), indexing="ij")
    # red against green at constant R+G+B: no luminance structure, yet the eye sees stripes
    stripes = 0.3 * np.sin(2 * np.pi * 5 * x)
    red_green = np.stack([0.5 + stripes, 0.5 - stripes, np.full_like(x, 0.5)], axis=2)
    assert filter_properties(red_green)["luminance_share"] < 0.01
    assert classify(red_green) == "direction"


@pytest.mark.parametrize("size", [32, 64])
def test_white_noise_grey_or_colour_is_noise(size):
    images = [white_noise(size, grey, seed) for grey in (True, False) for seed in range(4)]
    normal = np.clip(0.5 + np.random.default_rng(9).normal(0, 0.15, (size, size, 3)), 0, 1)
    assert classify_many([*images, normal]) == ["noise"] * 9


@pytest.mark.parametrize("size", [32, 64])
def test_each_example_gets_its_class(size):
    got = {name: classify(image) for name, image, _ in examples(size)}
    assert got == {name: expected for name, _, expected in examples(size)}


@pytest.mark.parametrize("size", [32, 64])
def test_structure_under_strong_noise_is_still_structure(size):
    # noise of standard deviation 0.2 against patterns of 0.28 RMS: what activation maximisation draws
    assert classify(grating(size, 30, 5, noise=0.2, seed=3)) == "direction"
    assert classify(grid(size)) == "complex"
    assert classify(grid(size, noise=0.2)) == "complex"


def test_the_class_does_not_depend_on_the_image_size():
    assert classify_many([image for _, image, _ in examples(32)]) == classify_many(
        [image for _, image, _ in examples(64)])


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_rotating_a_pattern_keeps_its_class(turns):
    for name, image, expected in examples(48):
        assert classify(np.rot90(image, turns)) == expected, name
        assert classify(np.fliplr(image)) == expected, name


def test_a_grating_turned_by_any_angle_stays_direction():
    assert {classify(grating(40, angle, 5)) for angle in np.arange(0, 180, 7.5)} == {"direction"}


@pytest.mark.parametrize("factor", [0.4, 0.6, 1.5])
def test_scaling_the_contrast_keeps_the_class(factor):
    # down to the flat threshold: the faintest example (blob and checkerboard, pixel std 0.108) at 0.4 is 0.043
    for name, image, expected in examples(48):
        mean = image.mean(axis=(0, 1))
        assert classify(np.clip(mean + factor * (image - mean), 0, 1)) == expected, name


def test_the_properties_measure_what_they_say():
    size = 64
    grey_noise = filter_properties(white_noise(size))
    colour_noise = filter_properties(white_noise(size, grey=False))
    stripes = filter_properties(grating(size, 30, 5, noise=0.0))
    flat = filter_properties(uniform(size, (0.8, 0.2, 0.3)))
    assert set(flat) == {"contrast", "saturation", "smooth_share", "concentration", "luminance_share",
                         "spectral_flatness", "orientation_share", "autocorrelation"}
    assert all(isinstance(value, float) for value in flat.values())
    # uniform on [0, 1] has standard deviation 1/sqrt(12)
    assert grey_noise["contrast"] == pytest.approx(12 ** -0.5, rel=0.05)
    assert flat["contrast"] == pytest.approx(0, abs=1e-12)
    # the opponent basis: grey is all luminance, independent channels put a third there
    assert grey_noise["luminance_share"] == pytest.approx(1, abs=1e-6)
    assert colour_noise["luminance_share"] == pytest.approx(1 / 3, abs=0.05)
    assert grey_noise["saturation"] == pytest.approx(0, abs=1e-6)
    # the chroma magnitude of (0.8, 0.2, 0.3): |(R-G)/sqrt2, (R+G-2B)/sqrt6|
    assert flat["saturation"] == pytest.approx(np.hypot(0.6 / 2 ** 0.5, 0.4 / 6 ** 0.5))
    assert abs(grey_noise["autocorrelation"]) < 0.05 < 0.8 < stripes["autocorrelation"]
    assert grey_noise["spectral_flatness"] > 0.9 > 0.1 > stripes["spectral_flatness"]
    # white noise: the strongest 5% of frequencies hold about 5% x (1 + ln 20) of the energy, a grating all
    assert grey_noise["concentration"] == pytest.approx(0.05 * (1 + np.log(20)), abs=0.05)
    assert stripes["concentration"] > 0.95
    assert stripes["orientation_share"] > 0.95
    assert grey_noise["orientation_share"] == pytest.approx(0.25, abs=0.06)
    assert grey_noise["smooth_share"] < 0.02 < 0.95 < filter_properties(examples(size)[2][1])["smooth_share"]


def test_the_rule_follows_its_thresholds(monkeypatch):
    image = grating(32, 30, 4)
    share = filter_properties(image)["orientation_share"]
    monkeypatch.setattr(taxonomy, "DIRECTION_SHARE", share + 0.01)
    assert classify(image) == "complex"
    monkeypatch.setattr(taxonomy, "NOISE_CONCENTRATION", 1.01)
    assert classify(image) == "noise"
    monkeypatch.setattr(taxonomy, "SMOOTH_SHARE", 0.0)
    assert classify(image) == "colour"


def test_many_images_of_several_sizes_keep_their_order_and_match_one_by_one():
    images = [image for size in (24, 32) for _, image, _ in examples(size)]
    images = images[::2] + images[1::2]
    assert classify_many(images) == [classify(image) for image in images]
    assert classify_many(np.stack([image for _, image, _ in examples(32)])) == [c for *_, c in examples(32)]
    assert classify_many([]) == []


def test_properties_are_deterministic_and_shapes_checked():
    image = white_noise(32, grey=False)
    assert filter_properties(image) == filter_properties(image.copy())
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        classify(np.zeros((32, 32)))


def test_agreement_against_hand_computed_kappa():
    human = ["complex", "direction", "colour", "noise", "complex", "noise"]
    machine = ["complex", "complex", "colour", "noise", "direction", "colour"]
    scores = agreement(human, machine)
    # observed 3/6; expected (2*2 + 1*1 + 1*2 + 2*1) / 36 = 1/4; kappa (1/2 - 1/4) / (3/4)
    assert scores["kappa"] == pytest.approx(1 / 3)
    assert scores["accuracy"] == 0.5
    assert scores["n"] == 6
    assert scores["confusion"] == [[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]]
    # structural or not, the two sides agree on every filter
    assert scores["structural_kappa"] == pytest.approx(1.0)


def test_agreement_without_a_defined_kappa_and_with_bad_input():
    scores = agreement(["noise", "noise"], ["noise", "noise"])
    assert scores["kappa"] is None and scores["structural_kappa"] is None and scores["accuracy"] == 1.0
    assert agreement([], [])["n"] == 0
    with pytest.raises(ValueError, match="2 human labels against 1"):
        agreement(["noise", "colour"], ["noise"])
    with pytest.raises(ValueError, match="unknown classes"):
        agreement(["color"], ["colour"])


def test_a_magnified_tile_is_measured_at_its_own_resolution():
    for name, image, expected in examples(32):
        for k in (2, 3, 4):
            magnified = np.kron(image, np.ones((k, k, 1)))
            assert classify(magnified) == expected, (name, k)
        assert filter_properties(np.kron(image, np.ones((4, 4, 1)))) == filter_properties(image)
    # reduced down to 16 px (a uniform image, all blocks at any k, stops there too)
    small = white_noise(16)
    assert filter_properties(np.kron(small, np.ones((2, 2, 1)))) == filter_properties(small)
    assert classify(uniform(64)) == "colour"
    assert classify_many([np.kron(white_noise(32, seed=s), np.ones((3, 3, 1))) for s in range(3)]) == ["noise"] * 3
