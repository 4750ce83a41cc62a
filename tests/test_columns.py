"""Columns that mean what they say: no two columns of the embedded default share a training."""

from collections import defaultdict

import pytest
import torch

from benchmark.run.context import ExperimentContext
from benchmark.run.store import Store
from tlbench_plugins.sources.builtin import RandomSource

# The one fine-tuning that two columns read by design: ft-svm puts an SVM on the features of the fine-tuned network
# whose own softmax head ft scores; both start from the same source's weights.
SAME_TRAINING_TWO_READOUTS = {"ft", "ft-svm"}


def _training(row: dict) -> tuple:
    """A result's training history without its timings (which differ between two runs of one training)."""
    return tuple(tuple(sorted((k, v) for k, v in epoch.items() if "seconds" not in k)) for epoch in row["history"])


def test_no_two_columns_of_the_embedded_default_share_a_training(cli, tmp_path):
    # the embedded default's whole grid (--all) on one of its targets (the columns are the same on the other), one
    # seed, one epoch at 16 px: which weights each training starts from does not depend on how long it lasts
    result = cli("run", "--all", "-d", "synth_xray", "--seeds", "2", "--max-epochs", "1", "--image-size", "16",
                 "--no-audit", "--threads", "1", "--out", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    rows = Store(tmp_path / "runs").rows("passed")
    trained = [row for row in rows if row["history"]]
    columns = {(row["source"], row["method"]) for row in trained}
    assert ("none", "scratch") in columns and ("synth_shapes", "ft-svm") in columns
    assert not {c for c in columns if c[0] == "random"}, "random weights fine-tuned are scratch again"
    by_start, by_history = defaultdict(set), defaultdict(set)
    for row in trained:
        by_start[row["versions"]["initial_weights"]].add((row["source"], row["method"]))
        by_history[_training(row)].add((row["source"], row["method"]))
    for shared in [*by_start.values(), *by_history.values()]:
        if len(shared) > 1:
            sources = {source for source, _ in shared}
            methods = {method for _, method in shared}
            assert len(sources) == 1 and methods == SAME_TRAINING_TWO_READOUTS, shared
    assert len(by_start) == len(columns) - 1  # every column trains from weights of its own but the one pair


def test_a_method_that_trains_from_random_weights_without_saying_so_is_refused():
    ctx = ExperimentContext(data=None, settings=None, seed=2, source=RandomSource())
    with pytest.raises(RuntimeError, match="set `trains = True` on the method"):
        ctx.train(torch.nn.Linear(2, 2))
