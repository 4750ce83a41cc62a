"""--keep-models: trained models under the run folder, rebuilt exactly; where each experiment's time went."""

import numpy as np
import torch
from conftest import TINY
from fakedata import no_builtin_datasets

from benchmark.data.taskdata import TaskData
from benchmark.engine.inputs import input_of
from benchmark.engine.models import predict
from benchmark.presets import Preset
from benchmark.run.keptmodels import AUTO_LIMIT_BYTES, kept_path, load_model, row_kept_path, should_keep
from benchmark.run.store import Store
from benchmark.settings import RunSettings

BASE = ["-p", "tiny_plugin", *(arg for flag in no_builtin_datasets() for arg in ("-p", flag))]


def _run(cli, out, *extra, sources=("tiny_src", "none")):
    selected = [arg for source in sources for arg in ("-s", source)]
    result = cli(*BASE, "run", "-d", "tiny_tgt", *selected, "--seeds", "2", "--out", out, *TINY, *extra)
    assert result.exit_code == 0, result.output
    return {row["method"]: row for row in Store(out).rows("passed")}


def test_trained_models_are_kept_and_rebuild_the_stored_scores_and_time_is_split_by_part(cli, tmp_path):
    rows = _run(cli, tmp_path / "run")
    assert {"scratch", "fe-svm", "ft-svm"} <= set(rows)
    assert not kept_path(tmp_path / "run", rows["fe-svm"]["config_hash"]).exists()  # it trains nothing
    row = rows["scratch"]
    assert row["versions"]["kept_model"] == f"models/{row['config_hash']}.pt" == \
        str(row_kept_path(tmp_path / "run", row).relative_to(tmp_path / "run"))
    model, about = load_model(kept_path(tmp_path / "run", row["config_hash"]))
    assert about["node_id"] == row["node_id"] and about["seed"] == 2
    # ft-svm scores the network of its shared training, kept once under the training's key
    row = rows["ft-svm"]
    assert row["versions"]["kept_model"] == f"models/{row['versions']['training']}.pt" == \
        str(row_kept_path(tmp_path / "run", row).relative_to(tmp_path / "run"))
    model, about = load_model(row_kept_path(tmp_path / "run", row))
    assert about["training"] == row["versions"]["training"] and about["seed"] == 2
    assert about["record"]["history"] == row["history"]
    # the kept scratch model scores the test split as stored: the very weights, input convention included
    from tiny_plugin import TinyTarget

    row = rows["scratch"]
    model, _ = load_model(kept_path(tmp_path / "run", row["config_hash"]))
    settings = RunSettings(Preset.from_fields(row["preset"]), torch.device("cpu"), tmp_path, tmp_path / "cache")
    dataset = TinyTarget()
    split = TaskData(settings).split(dataset, dataset.tasks()[0], seed=2)
    scores = predict(model, split.test.images, input_of(model, settings.preset), settings.device,
                     accel=settings.acceleration)
    np.testing.assert_allclose(scores, np.array(row["scores"]["scores"]), atol=2e-5)
    _durations_and_history_say_where_the_time_went(rows)


def test_keep_models_none_keeps_nothing(cli, tmp_path):
    rows = _run(cli, tmp_path / "run", "--keep-models", "none", sources=("none",))
    assert "kept_model" not in rows["scratch"]["versions"] and not (tmp_path / "run" / "models").exists()


def test_the_auto_policy_keeps_small_models_only():
    small, large = torch.nn.Linear(4, 4), torch.nn.Linear(4096, 4097)
    assert should_keep("auto", small) and should_keep("all", large) and not should_keep("none", small)
    assert (4096 * 4097 + 4097) * 4 > AUTO_LIMIT_BYTES or should_keep("auto", large)


def _durations_and_history_say_where_the_time_went(rows):
    ft, fe, scratch = rows["ft-svm"]["durations"], rows["fe-svm"]["durations"], rows["scratch"]["durations"]
    assert {"training", "features", "svm"} <= set(ft) and "training" not in fe and {"features", "svm"} <= set(fe)
    assert ft["training"] + ft["features"] + ft["svm"] <= ft["method"] + 1e-6
    assert "training" in scratch and "svm" not in scratch
    for record in rows["ft-svm"]["history"]:
        assert 0 <= record["train_accuracy"] <= 1 and 0 <= record["val_accuracy"] <= 1
    assert np.isfinite([r["val_loss"] for r in rows["scratch"]["history"]]).all()
