"""The metrics a board can show (``--metric``) and their titles: no numerics here, so that a command checks its
``--metric`` without loading the leaderboard's statistics."""

METRICS = ("auc", "auc_macro_curve", "auc_ovr", "accuracy", "balanced_accuracy")
METRIC_NAMES = {
    "auc_macro_curve": "ROC AUC (the study's: area under the macro-averaged ROC curve)",
    "auc_ovr": "ROC AUC (scikit-learn's: mean of per-class one-vs-rest AUCs)",
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
}
