"""The board's verdicts hold their error rate: boards simulated by perf/calibration.py with no true difference get
▲/▼ marks, split places and an "FT beat FE" count no more often than 0.05 allows, and a known difference is found."""

import runpy
from pathlib import Path

import pytest

CALIBRATION = runpy.run_path(str(Path(__file__).resolve().parents[1] / "perf" / "calibration.py"))
Scenario, rates = CALIBRATION["Scenario"], CALIBRATION["rates"]
BOARDS = 300
# 0.05 plus about 2.4 binomial standard errors over BOARDS boards (sqrt(0.05 * 0.95 / 300) = 0.0126)
BOUND = 0.08


@pytest.mark.parametrize(("seeds", "shared", "ratio"), [(3, True, 3.0), (3, False, 1.2), (5, True, 0.3)])
def test_no_true_difference_is_marked_placed_or_counted_at_most_five_percent_of_the_time(seeds, shared, ratio):
    """Three of the table's regimes: seeds sharing one test set with training variance dominant (where the old
    hierarchical bootstrap marked a quarter of the boards), the embedded default's per-seed test sets at its measured
    ratio, and five seeds on one test set whose noise dominates (where a t-test over seeds alone fails)."""
    found = rates(Scenario(seeds, shared, ratio, n=100, replicates=100), BOARDS, old=False)["new"]
    assert found["marks"] <= BOUND and found["places"] <= BOUND and found["ftfe"] <= BOUND


def test_the_old_procedure_fails_the_same_check():
    """The check can fail: the replaced paired hierarchical bootstrap marks far more than 5% of null boards."""
    found = rates(Scenario(3, True, 3.0, n=100, replicates=100, old_replicates=2000), 100)["old"]
    assert found["marks"] > 0.1


def test_a_known_difference_is_found_with_five_seeds():
    """FT better than FE and scratch by 5 SDs of one seed's difference, 5 seeds: power above 0.8 each."""
    found = rates(Scenario(5, False, 1.2, effect=5.0, n=100, replicates=100), 60, old=False)["new"]
    assert found["marks_power"] > 0.8 and found["ftfe_power"] > 0.8 and found["places_power"] > 0.8
