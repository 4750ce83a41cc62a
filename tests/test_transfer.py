import math

import numpy as np
import pytest
from scipy.stats import t as t_distribution

from benchmark.report.filters.transfer import class_shares, filter_change, spearman, structural_share


def test_class_shares_cover_every_class_in_order():
    shares = class_shares(["noise", "complex", "noise", "noise"])
    assert list(shares.items()) == [("complex", 0.25), ("direction", 0.0), ("colour", 0.0), ("noise", 0.75)]
    with pytest.raises(ValueError, match="no filters"):
        class_shares([])
    with pytest.raises(ValueError, match="unknown classes"):
        class_shares(["color"])


def test_structural_share_counts_complex_and_direction():
    assert structural_share(["complex", "noise", "direction", "colour"]) == 0.5
    assert structural_share(["noise", "colour", "noise"]) == 0.0
    assert structural_share(("direction",)) == 1.0
    with pytest.raises(ValueError, match="no filters"):
        structural_share([])


def test_spearman_against_hand_computed_rho_and_p():
    # rank differences -1, 1, -1, 1, 0: rho = 1 - 6 * 4 / (5 * 24) = 0.8
    result = spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5])
    assert result["rho"] == pytest.approx(0.8)
    # exact: rho = 1 - sum d^2 / 20 >= 0.8 where sum d^2 <= 4: the identity, its 4 adjacent swaps and 3 pairs of
    # disjoint adjacent swaps (8 pairings), and as many mirrored at rho <= -0.8: 16 of the 120
    assert result["p"] == pytest.approx(16 / 120) and result["exact"]
    assert result["n"] == 5 and result["reason"] is None
    assert spearman([0.1, 0.5, 0.9], [0.9, 0.7, 0.6])["rho"] == pytest.approx(-1.0)
    # 4 sources in the same order: rho 1, exact p 2/24 (identity and reversal), where the t approximation says 0
    four = spearman([0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8])
    assert four["rho"] == pytest.approx(1.0) and four["p"] == pytest.approx(2 / 24)
    # above EXACT_MAX_N pairs: scipy's t approximation, t = rho sqrt((n - 2) / (1 - rho^2)) on n - 2 df
    x = np.arange(10.0)
    y = np.array([1, 0, 3, 2, 5, 4, 7, 6, 9, 8], dtype=float)
    large = spearman(x, y)
    rho = 1 - 6 * 10 / (10 * 99)
    t = rho * math.sqrt(8 / (1 - rho**2))
    assert large["rho"] == pytest.approx(rho) and large["p"] == pytest.approx(2 * t_distribution.sf(t, 8))
    assert not large["exact"]


def test_spearman_says_why_it_has_no_value():
    few = spearman([0.2, 0.4], [0.7, 0.8])
    assert few == {"rho": None, "p": None, "n": 2, "exact": False,
                   "reason": "2 pairs; a rank correlation needs 3 or more"}
    flat = spearman([0.1, 0.2, 0.3], [0.8, 0.8, 0.8])
    assert flat["rho"] is None and flat["p"] is None and flat["n"] == 3 and flat["reason"].startswith("y constant")
    both = spearman([1, 1, 1], [2, 2, 2])
    assert both["reason"].startswith("x and y constant")
    # pairs with a missing or non-finite value are dropped before counting
    dropped = spearman([1, 2, None, 4, float("nan")], [1, 2, 3, float("nan"), 5])
    assert dropped["n"] == 2 and dropped["rho"] is None
    with pytest.raises(ValueError, match="3 x values against 2"):
        spearman([1, 2, 3], [1, 2])


def test_filter_change_against_hand_computed_values():
    before = np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 4.0], [1.0, 1.0]])
    after = np.array([[1.0, 0.0], [0.0, -1.0], [6.0, 8.0], [1.0, 1.0]])
    change = filter_change(["complex", "direction", "noise", "colour"],
                           ["complex", "noise", "noise", "complex"], before, after)
    assert change["changed_share"] == 0.5
    assert change["transitions"] == {("complex", "complex"): 1, ("direction", "noise"): 1,
                                     ("noise", "noise"): 1, ("colour", "complex"): 1}
    # the change (0, 0), (0, -2), (3, 4), (0, 0) has norm sqrt(29), as have the weights before
    assert change["relative_distance"] == pytest.approx(1.0)
    # cosine distances 0, 2 (flipped), 0 (scaled), 0
    assert change["cosine_distance"] == pytest.approx(0.5)


def test_filter_change_of_convolution_weights_and_edge_cases():
    rng = np.random.default_rng(0)
    before = rng.normal(size=(8, 3, 3, 3))
    change = filter_change(["noise"] * 8, ["noise"] * 8, before, before * 1.1)
    assert change["changed_share"] == 0.0 and change["transitions"] == {("noise", "noise"): 8}
    assert change["relative_distance"] == pytest.approx(0.1)
    assert change["cosine_distance"] == pytest.approx(0.0, abs=1e-12)
    # a zero filter has no direction and is left out of the mean
    zeroed = before.copy()
    zeroed[0] = 0
    assert filter_change(["noise"] * 8, ["noise"] * 8, zeroed, -zeroed)["cosine_distance"] == pytest.approx(2.0)
    vector = filter_change(["noise"], ["colour"], np.array([3.0, 4.0]), np.array([0.0, 0.0]))
    assert vector["relative_distance"] == pytest.approx(1.0) and vector["cosine_distance"] is None
    zero = filter_change([], [], np.zeros((2, 2)), np.ones((2, 2)))
    assert zero["relative_distance"] is None and zero["cosine_distance"] is None and zero["changed_share"] is None
    with pytest.raises(ValueError, match="differ in shape"):
        filter_change(["noise"], ["noise"], np.zeros((1, 3)), np.zeros((1, 4)))
    with pytest.raises(ValueError, match="2 filters before against 1"):
        filter_change(["noise", "noise"], ["noise"], np.zeros(2), np.zeros(2))
