import numpy as np
import pytest

from benchmark.engine.metrics import MetricError, auc_macro_curve, auc_ovr, compute_metrics, predicted_classes

# Three classes, four samples. Per class (worked by hand):
#   class 0: its one positive scores highest            -> AUC 1
#   class 1: its positive beats 1 of 3 negatives        -> AUC 1/3
#   class 2: positives 0.9 and 0.1 against 0.3 and 0.2 -> AUC 2/4
# Mean of per-class AUCs: (1 + 1/3 + 1/2) / 3 = 11/18.
# Macro curve: FPR grid {0, 1/2, 2/3, 1}; mean TPR there (1+0+.5)/3, (1+0+.5)/3, (1+1+.5)/3, 1;
# trapezoids .25 + (1/2+5/6)/2/6 + (5/6+1)/2/3 = 2/3.
LABELS = np.array([0, 1, 2, 2])
SCORES = np.array([
    [0.9, 0.5, 0.3],
    [0.1, 0.4, 0.2],
    [0.2, 0.6, 0.9],
    [0.3, 0.1, 0.1],
])
CLASSES = ("a", "b", "c")


def test_mean_of_per_class_aucs_by_hand():
    assert auc_ovr(LABELS, SCORES) == pytest.approx(11 / 18)


def test_macro_averaged_curve_by_hand():
    assert auc_macro_curve(LABELS, SCORES) == pytest.approx(2 / 3)


def test_binary_auc_by_hand():
    labels = np.array([0, 0, 1, 1])
    decision = np.array([0.1, 0.4, 0.35, 0.8])  # 3 of 4 positive-negative pairs ordered right
    scores = np.stack([-decision, decision], axis=1)
    assert auc_ovr(labels, scores) == pytest.approx(0.75)
    assert auc_macro_curve(labels, scores) == pytest.approx(0.75)


def test_compute_metrics_reports_both_and_the_presets_choice():
    metrics = compute_metrics(LABELS, SCORES, CLASSES, primary="macro_curve")
    assert metrics["auc"] == metrics["auc_macro_curve"] == pytest.approx(2 / 3)
    assert metrics["accuracy"] == pytest.approx(0.75)  # the last sample is predicted as class 0
    assert metrics["balanced_accuracy"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert compute_metrics(LABELS, SCORES, CLASSES, primary="ovr")["auc"] == pytest.approx(11 / 18)


def test_a_single_class_test_split_is_a_clear_error():
    with pytest.raises(MetricError, match="only class 'c'"):
        compute_metrics(np.array([2, 2]), SCORES[:2], CLASSES, primary="ovr")


def test_scores_of_the_wrong_shape_are_an_error():
    with pytest.raises(MetricError, match="scores must be"):
        compute_metrics(LABELS, SCORES[:, :2], CLASSES, primary="ovr")


def test_accuracy_is_medmnists_threshold_rule_on_probabilities():
    """Two classes: class 1 when p1 > 0.5 (a tie at 0.5 is class 0, as medmnist.Evaluator's getACC); more
    classes: the argmax, the lowest index on a tie. Worked by hand: 3 of 4 and 2 of 3 right."""
    labels = np.array([1, 0, 0, 1])
    probabilities = np.array([[0.4, 0.6], [0.5, 0.5], [0.51, 0.49], [0.7, 0.3]])
    assert predicted_classes(probabilities).tolist() == [1, 0, 0, 0]
    assert compute_metrics(labels, probabilities, ("a", "b"), "ovr")["accuracy"] == pytest.approx(3 / 4)
    labels = np.array([2, 1, 0])
    probabilities = np.array([[0.2, 0.3, 0.5], [0.4, 0.4, 0.2], [0.1, 0.8, 0.1]])
    assert predicted_classes(probabilities).tolist() == [2, 0, 1]
    assert compute_metrics(labels, probabilities, ("a", "b", "c"), "ovr")["accuracy"] == pytest.approx(1 / 3)
    assert compute_metrics(np.array([2, 0, 1]), probabilities, ("a", "b", "c"), "ovr")["accuracy"] == 1.0
