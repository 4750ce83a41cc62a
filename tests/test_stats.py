import numpy as np
import pytest
from cellstats import cell_interval, paired_test
from scipy.stats import friedmanchisquare, norm, rankdata, studentized_range
from scipy.stats import t as t_distribution
from sklearn.metrics import roc_auc_score

from benchmark.engine.metrics import auc_macro_curve, compute_metrics
from benchmark.report import stats
from benchmark.report.stats import (
    GAMMA,
    MIN_CLASS_IMAGES,
    average_ranks_of,
    friedman,
    holm,
    nemenyi_q_alpha,
    resample_weights,
    seed_level_test,
    shared_test_variance,
    too_few_per_class,
)
from benchmark.report.stats import weighted_metric as weighted

METRIC_NAMES = ("auc_macro_curve", "auc_ovr", "accuracy", "balanced_accuracy")


def tied_scores(rng, n, n_classes):
    """Scores drawn from a few fixed probability rows, so every column is full of ties."""
    prototypes = rng.dirichlet(np.ones(n_classes), size=5)
    return prototypes[rng.integers(5, size=n)]


def labelled(rng, n, n_classes):
    """Labels with every class present (the first n_classes samples are one of each)."""
    labels = rng.integers(n_classes, size=n)
    labels[:n_classes] = np.arange(n_classes)
    return labels


def integer_weights(rng, n, n_classes):
    """Counts 0-3, at least 1 for the first n_classes samples so every class stays present."""
    weights = rng.integers(0, 4, size=n)
    weights[:n_classes] = np.maximum(weights[:n_classes], 1)
    return weights


def informative_run(rng, n, signal, n_classes=2):
    labels = labelled(rng, n, n_classes)
    scores = rng.normal(size=(n, n_classes)) + signal * np.eye(n_classes)[labels]
    return labels, scores


# --- weighted metrics against explicitly repeated data ------------------------------------------------


def test_binary_weighted_auc_equals_sklearn_on_repeated_arrays_with_ties():
    rng = np.random.default_rng(1)
    labels, scores = labelled(rng, 60, 2), np.round(rng.normal(size=(60, 2)), 1)
    weights = integer_weights(rng, 60, 2)
    repeated_labels, repeated_scores = np.repeat(labels, weights), np.repeat(scores, weights, axis=0)
    expected = roc_auc_score(repeated_labels == 1, repeated_scores[:, 1] - repeated_scores[:, 0])
    for name in ("auc_ovr", "auc_macro_curve"):
        assert weighted(name, labels, scores, weights[None])[0] == pytest.approx(expected, abs=1e-12)


def test_multiclass_weighted_ovr_auc_equals_sklearn_on_repeated_arrays_with_ties():
    rng = np.random.default_rng(2)
    labels, scores = labelled(rng, 80, 4), tied_scores(rng, 80, 4)
    weights = integer_weights(rng, 80, 4)
    expected = roc_auc_score(np.repeat(labels, weights), np.repeat(scores, weights, axis=0), multi_class="ovr")
    assert weighted("auc_ovr", labels, scores, weights)[0] == pytest.approx(expected, abs=1e-12)


def test_weighted_macro_curve_equals_the_study_definition_on_repeated_arrays():
    rng = np.random.default_rng(3)
    labels, scores = labelled(rng, 70, 3), tied_scores(rng, 70, 3)
    all_weights = np.stack([integer_weights(rng, 70, 3) for _ in range(40)])
    all_weights[7, labels == 2] = 0  # a replicate without class 2: its curve is left out of the mean
    for weights, value in zip(all_weights, weighted("auc_macro_curve", labels, scores, all_weights), strict=True):
        expected = auc_macro_curve(np.repeat(labels, weights), np.repeat(scores, weights, axis=0))
        assert value == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_unit_weights_reproduce_compute_metrics(n_classes):
    rng = np.random.default_rng(n_classes)
    labels, scores = labelled(rng, 90, n_classes), tied_scores(rng, 90, n_classes)
    reference = compute_metrics(labels, scores, tuple("abcde"[:n_classes]), primary="ovr")
    for name in METRIC_NAMES:
        assert abs(weighted(name, labels, scores, np.ones((1, 90)))[0] - reference[name]) <= 1e-12, name


def test_replicates_are_scored_independently():
    rng = np.random.default_rng(4)
    labels, scores = labelled(rng, 50, 3), tied_scores(rng, 50, 3)
    weights = resample_weights(50, None, 4, rng, labels=labels)
    for name in METRIC_NAMES:
        one_at_a_time = [weighted(name, labels, scores, row)[0] for row in weights]
        np.testing.assert_allclose(weighted(name, labels, scores, weights), one_at_a_time, rtol=0, atol=1e-12)


def test_an_unknown_metric_names_the_known_ones():
    with pytest.raises(ValueError, match="auc_macro_curve, auc_ovr, balanced_accuracy"):
        weighted("f1", np.array([0, 1]), np.eye(2), np.ones(2))


# --- resampling ----------------------------------------------------------------------------------------


def test_sample_resampling_draws_n_samples_with_unit_expected_counts():
    weights = resample_weights(40, None, 3000, np.random.default_rng(5))
    assert weights.shape == (3000, 40) and np.issubdtype(weights.dtype, np.integer)
    assert (weights.sum(axis=1) == 40).all()
    np.testing.assert_allclose(weights.mean(axis=0), 1.0, atol=0.07)  # each mean count has sd about 0.018


def test_group_resampling_moves_whole_groups():
    groups = ["p1"] * 5 + ["p2"] * 1 + ["p3"] * 3 + [("cell", 4)] * 11  # any hashable ids
    weights = resample_weights(len(groups), groups, 3000, np.random.default_rng(6))
    members = {group: [i for i, g in enumerate(groups) if g == group] for group in groups}
    for indices in members.values():
        assert (weights[:, indices] == weights[:, indices[:1]]).all()
    group_counts = weights[:, [indices[0] for indices in members.values()]]
    assert (group_counts.sum(axis=1) == 4).all()  # as many groups drawn as there are
    assert weights.sum(axis=1).std() > 0  # totals vary with the groups drawn...
    assert weights.sum(axis=1).mean() == pytest.approx(len(groups), rel=0.03)  # ...around n


def test_resamples_lacking_a_class_are_redrawn():
    labels = np.array([0] * 9 + [1])  # the lone positive is missing from about a third of plain resamples
    weights = resample_weights(10, None, 500, np.random.default_rng(7), labels=labels)
    assert (weights[:, 9] > 0).all() and (weights.sum(axis=1) == 10).all()


def test_redrawing_gives_up_with_a_clear_error(monkeypatch):
    monkeypatch.setattr(stats, "_MAX_REDRAWS", 1)
    labels = np.array([0] * 99 + [1])
    with pytest.raises(ValueError, match="too few samples"):
        resample_weights(100, None, 500, np.random.default_rng(8), labels=labels)


# --- cell intervals ------------------------------------------------------------------------------------


def test_a_perfect_classifier_has_a_degenerate_interval():
    rng = np.random.default_rng(9)
    runs = []
    for _ in range(2):
        labels = labelled(rng, 40, 3)
        runs.append((labels, np.eye(3)[labels], None))
    for name in METRIC_NAMES:
        assert cell_interval(runs, name, replicates=200) == (1.0, 1.0)


def test_the_interval_is_of_the_mean_over_seeds():
    labels = np.array([0, 1] * 20)
    right, wrong = (labels, np.eye(2)[labels], None), (labels, np.eye(2)[1 - labels], None)
    assert cell_interval([right, wrong], "accuracy", replicates=200) == (0.5, 0.5)


def test_accuracy_interval_matches_the_normal_approximation():
    rng = np.random.default_rng(10)
    n = 2000
    labels = rng.integers(2, size=n)
    predictions = np.where(rng.random(n) < 0.8, labels, 1 - labels)
    p = (predictions == labels).mean()
    half_width = 1.96 * np.sqrt(p * (1 - p) / n)  # about 0.018
    low, high = cell_interval([(labels, np.eye(2)[predictions], None)], "accuracy", replicates=1000, seed=3)
    # tighter than the half-width, so a collapsed or doubled interval fails
    assert low == pytest.approx(p - half_width, abs=0.004)
    assert high == pytest.approx(p + half_width, abs=0.004)


def test_group_resampling_widens_the_interval_of_clustered_data():
    rng = np.random.default_rng(11)
    patient_correct = rng.random(20) < 0.7
    labels = np.tile([0, 1], 200)
    groups = np.repeat(np.arange(20), 20)  # 20 patients, whose 20 images are all right or all wrong
    predictions = np.where(patient_correct[groups], labels, 1 - labels)
    run = (labels, np.eye(2)[predictions], None)
    clustered = (labels, np.eye(2)[predictions], groups)
    width = np.diff(cell_interval([run], "accuracy", replicates=300))[0]
    clustered_width = np.diff(cell_interval([clustered], "accuracy", replicates=300))[0]
    assert clustered_width > 2.5 * width  # design effect sqrt(20) in theory


def test_intervals_are_deterministic_given_the_seed():
    rng = np.random.default_rng(12)
    labels, scores = informative_run(rng, 100, 1.0, n_classes=3)
    runs = [(labels, scores, None)]
    assert cell_interval(runs, "auc_ovr", replicates=100, seed=5) == cell_interval(runs, "auc_ovr", 100, seed=5)
    assert cell_interval(runs, "auc_ovr", replicates=100, seed=5) != cell_interval(runs, "auc_ovr", 100, seed=6)


# --- paired tests --------------------------------------------------------------------------------------


def test_seeds_sharing_one_test_set_give_one_seeds_interval_width():
    """Issue 23, item 3: resamples are keyed by the test images, so seeds that agree on one shared test set do not
    narrow the interval (keyed by seed, 3 seeds gave 1 / sqrt(3) of one seed's width); independent test sets do."""
    rng = np.random.default_rng(17)
    labels = labelled(rng, 300, 2)
    base = rng.normal(size=(300, 2)) + np.eye(2)[labels]
    width = {}
    for seeds in (1, 3, 5):
        runs = [(labels, base + 0.01 * rng.normal(size=(300, 2)), None) for _ in range(seeds)]  # seeds that agree
        width[seeds] = np.diff(cell_interval(runs, "auc_ovr", replicates=600, test_sets=[0] * seeds))[0]
        if seeds > 1:
            independent = np.diff(cell_interval(runs, "auc_ovr", replicates=600))[0]
            assert independent == pytest.approx(width[1] / np.sqrt(seeds), rel=0.25)
    assert width[3] == pytest.approx(width[1], rel=0.1) and width[5] == pytest.approx(width[1], rel=0.1)


def test_identical_runs_do_not_differ():
    rng = np.random.default_rng(13)
    runs = [(*informative_run(rng, 80, 0.5), None) for _ in range(2)]
    result = paired_test(runs, runs, "auc_ovr", replicates=200)
    assert result.difference == 0.0 and result.p_value == 1.0 and result.low == result.high == 0.0


def test_a_clearly_better_model_is_significant_and_swapping_negates_the_difference():
    rng = np.random.default_rng(14)
    runs_a, runs_b = [], []
    for _ in range(5):
        labels = labelled(rng, 150, 3)
        noise = rng.normal(size=(150, 3))
        runs_a.append((labels, noise + 1.5 * np.eye(3)[labels], None))
        runs_b.append((labels, noise + 0.3 * np.eye(3)[labels], None))
    better = paired_test(runs_a, runs_b, "auc_macro_curve", replicates=300)
    worse = paired_test(runs_b, runs_a, "auc_macro_curve", replicates=300)
    assert better.difference > 0 and better.low > 0 and better.p_value < 0.001
    assert worse.difference == -better.difference and worse.p_value == better.p_value
    assert (worse.low, worse.high) == pytest.approx((-better.high, -better.low))


def test_a_noisy_difference_is_not_significant():
    rng = np.random.default_rng(15)
    runs_a, runs_b = [], []
    for _ in range(3):
        labels = labelled(rng, 100, 2)
        signal = 0.8 * np.eye(2)[labels]
        runs_a.append((labels, signal + rng.normal(size=(100, 2)), None))
        runs_b.append((labels, signal + rng.normal(size=(100, 2)), None))
    result = paired_test(runs_a, runs_b, "auc_ovr", replicates=300)
    assert result.low < 0 < result.high and result.p_value > 0.05


def test_a_difference_that_flips_between_seeds_is_not_significant():
    """Clear on each seed's test images, but of opposite sign on one of three seeds: the seed is the unit, so the
    test is the t-test over the three per-seed differences (no test images shared: nothing added)."""
    rng = np.random.default_rng(16)
    runs_a, runs_b = [], []
    for seed in range(3):
        labels = labelled(rng, 300, 2)
        noise = rng.normal(size=(300, 2))
        strong, weak = noise + 2.0 * np.eye(2)[labels], noise + 0.5 * np.eye(2)[labels]
        runs_a.append((labels, strong if seed < 2 else weak, None))
        runs_b.append((labels, weak if seed < 2 else strong, None))
    differences = [stats.observed_metric("auc_ovr", a[0], a[1]) - stats.observed_metric("auc_ovr", b[0], b[1])
                   for a, b in zip(runs_a, runs_b, strict=True)]
    assert min(differences[:2]) > 0.2 and differences[2] < -0.2
    result = paired_test(runs_a, runs_b, "auc_ovr", replicates=300)
    assert result.low < 0 < result.high and result.p_value > 0.3
    assert result.p_value == pytest.approx(2 * t_distribution.sf(abs(ttest(differences)), 2) + GAMMA)


def ttest(values):
    values = np.asarray(values)
    return values.mean() / (values.std(ddof=1) / np.sqrt(len(values)))


def test_the_test_images_shared_by_seeds_widen_the_test():
    """On one shared test set the seeds' spread misses the test images' noise; their bootstrap covariance adds it.
    [0.002, 0.030, 0.004] (issue 23) is p = 0.31 by the t-test alone; shared test noise only makes it larger."""
    assert seed_level_test([0.002, 0.030, 0.004]).p_value == pytest.approx(0.3147 + GAMMA, abs=1e-3)
    rng = np.random.default_rng(18)
    common = rng.normal(0, 0.01, 500)  # the difference's test-set noise, identical for three seeds on one set
    resampled = [common + rng.normal(0, 0.001, 500) for _ in range(3)]
    shared = shared_test_variance(resampled, ["set"] * 3)
    assert shared == pytest.approx(np.var(common) * 6 / 9, rel=0.05)  # 6 of the 9 pairs are of different seeds
    assert shared_test_variance(resampled, ["a", "b", "c"]) == 0.0  # own test sets: already in the spread
    alone, with_test = seed_level_test([0.02, 0.021, 0.019]), seed_level_test([0.02, 0.021, 0.019], shared)
    assert with_test.p_value > alone.p_value and with_test.high - with_test.low > alone.high - alone.low


def test_seed_level_test_against_a_hand_computed_t_and_its_edges():
    # differences 1, 2, 3: mean 2, standard error 1 / sqrt(3), t = 3.464 on 2 degrees of freedom
    assert seed_level_test([1.0, 2.0, 3.0]).p_value == pytest.approx(2 * t_distribution.sf(2 * np.sqrt(3), 2) + GAMMA)
    with pytest.raises(ValueError, match="at least 2 seeds"):
        seed_level_test([0.3])  # one seed: the training runs' spread is unknown
    assert seed_level_test([0.0, 0.0, 0.0]).p_value == 1.0
    assert seed_level_test([0.2, 0.2]).p_value == 0.5 and seed_level_test([0.2] * 5).p_value == 2**-4  # never 0
    # no spread over seeds, but test noise: a normal test on the test images' variance
    assert seed_level_test([0.2] * 3, 0.01).p_value == pytest.approx(2 * norm.sf(2.0) + GAMMA)
    # a huge t keeps p positive
    assert 0 < seed_level_test([1.0, 1.0 + 1e-9, 1.0 - 1e-9]).p_value < 1e-3


def test_seed_level_intervals_are_the_t_interval_without_test_noise_and_the_normal_one_with_much():
    differences = [0.01, 0.04, 0.02, 0.03]
    scale = np.std(differences, ddof=1) / 2
    alone = seed_level_test(differences)
    assert alone.high - 0.025 == pytest.approx(t_distribution.ppf(0.975, 3) * scale, rel=1e-5)
    assert alone.low == pytest.approx(0.05 - alone.high, rel=1e-9)  # symmetric about the mean difference
    swamped = seed_level_test(differences, 1e6 * scale**2)
    assert swamped.high - 0.025 == pytest.approx(norm.ppf(0.975) * np.sqrt(scale**2 + 1e6 * scale**2), rel=1e-5)


def test_a_class_with_fewer_than_the_minimum_of_test_images_is_named():
    assert MIN_CLASS_IMAGES == 5
    assert too_few_per_class(np.array([0] * 10 + [1] * 5), 2) is None
    assert too_few_per_class(np.array([0] * 10 + [1] * 4), 3) == ("class 1 has 4, class 2 has 0 test image(s), "
                                                                  "fewer than 5")


def test_paired_runs_must_share_their_test_labels():
    labels = np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="different test labels"):
        paired_test([(labels, np.eye(2)[labels], None)] * 2, [(labels[::-1], np.eye(2)[labels], None)] * 2, "accuracy")


# --- Holm and Friedman ---------------------------------------------------------------------------------


def test_holm_on_a_textbook_example():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6, 0.01]) == pytest.approx([1.0, 1.0, 0.03])  # capped at 1, monotone
    assert holm([]) == []


def test_friedman_chi_square_equals_scipy_with_and_without_ties():
    rng = np.random.default_rng(16)
    for matrix in (rng.random((8, 4)), rng.integers(0, 3, size=(10, 5)).astype(float)):
        result = friedman(matrix)
        expected = friedmanchisquare(*matrix.T)
        assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
        assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)


DEMSAR_Q_ALPHA = {2: 1.960, 3: 2.343, 4: 2.569, 5: 2.728, 6: 2.850, 7: 2.949, 8: 3.031, 9: 3.102, 10: 3.164}


@pytest.mark.parametrize(("k", "demsar"), DEMSAR_Q_ALPHA.items())
def test_q_alpha_matches_demsars_table(k, demsar):
    assert nemenyi_q_alpha(k) == pytest.approx(demsar, abs=1e-3)


def test_q_alpha_and_average_ranks_equal_scipys_beyond_the_table():
    for k in range(2, 41):
        assert nemenyi_q_alpha(k) == pytest.approx(studentized_range.ppf(0.95, k, np.inf) / np.sqrt(2), abs=1e-5)
    rng = np.random.default_rng(3)
    for size in range(1, 30):
        values = rng.integers(0, max(size // 3, 1) + 1, size=size).astype(float)
        np.testing.assert_array_equal(average_ranks_of(values), rankdata(values))


def test_average_ranks_share_ties_and_rank_one_is_best():
    matrix = [[0.9, 0.8, 0.8], [0.7, 0.7, 0.7], [0.5, 0.6, 0.4]]  # ranks (1, 2.5, 2.5), (2, 2, 2), (2, 1, 3)
    np.testing.assert_allclose(friedman(matrix).average_ranks, [5 / 3, 5.5 / 3, 7.5 / 3])


def test_critical_difference_and_its_groups_on_demsars_setting():
    # 14 targets, 4 columns: Demšar's CD is 1.25. Column 0 always first, column 1 always second,
    # columns 2 and 3 share the last places: average ranks 1, 2, 3.5, 3.5.
    matrix = np.array([[4.0, 3.0, 2.0, 1.0], [4.0, 3.0, 1.0, 2.0]] * 7)
    result = friedman(matrix)
    np.testing.assert_allclose(result.average_ranks, [1.0, 2.0, 3.5, 3.5])
    assert result.critical_difference == pytest.approx(1.25, abs=5e-3)
    assert result.groups == [(0, 1), (2, 3)]
    assert result.p_value < 1e-4 and result.iman_davenport_p_value < 1e-4


def test_iman_davenport_follows_from_chi_square():
    matrix = np.random.default_rng(17).random((6, 3))
    result = friedman(matrix)
    n, k = matrix.shape
    assert result.iman_davenport == pytest.approx((n - 1) * result.statistic / (n * (k - 1) - result.statistic))


def test_columns_far_apart_form_singleton_groups_and_agreement_gives_infinite_f():
    matrix = np.tile([3.0, 2.0, 1.0], (30, 1))  # ranks 1, 2, 3 everywhere; CD about 0.6
    result = friedman(matrix)
    assert result.groups == [(0,), (1,), (2,)]
    assert result.iman_davenport == np.inf and result.iman_davenport_p_value == 0.0


def test_friedman_is_undefined_for_full_ties_or_a_single_target():
    for matrix in (np.ones((5, 3)), np.array([[0.1, 0.5, 0.3]])):
        result = friedman(matrix)
        assert np.isnan(result.statistic) and np.isnan(result.iman_davenport)
        assert result.p_value == 1.0 and result.iman_davenport_p_value == 1.0
    assert friedman(np.ones((5, 3))).groups == [(0, 1, 2)]
    assert friedman([[0.1, 0.5]] * 3).average_ranks.tolist() == [2.0, 1.0]  # k = 2 works
