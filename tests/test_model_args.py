"""Model arguments (timm.create_model keywords) and the preset's image size reaching every model the harness builds:
scratch, ``random``, ``imagenet``, harness-trained sources, declared and timm sources, kept models."""

import json
import sqlite3
from pathlib import Path

import click
import pytest
import torch

from benchmark.cli.app import parse_model_args
from benchmark.engine.models import create_backbone, model_args_of
from benchmark.presets import CPU_QUICK, PRESETS, THESIS, Preset
from benchmark.registry.config import load_config
from benchmark.registry.trainedsources import DatasetSource
from benchmark.settings import RunSettings
from tlbench_plugins.datasets.synthetic import SyntheticShapes
from tlbench_plugins.sources.builtin import RandomSource

MAX_POOL = CPU_QUICK.with_overrides(image_size=16, max_epochs=1, model_args=(("global_pool", "max"),))


def settings(tmp_path, preset=MAX_POOL):
    return RunSettings(preset, torch.device("cpu"), Path("data"), tmp_path / "cache")


def test_preset_model_args_reach_random_and_harness_trained_models_and_their_identity(tmp_path):
    run = settings(tmp_path)
    assert RandomSource().build(run, 2, seed=2).global_pool.pool_type == "max"
    assert create_backbone("test_resnet", 2).global_pool.pool_type == "avg"
    dataset = SyntheticShapes()
    (task,) = dataset.tasks()
    source = DatasetSource(dataset, task)
    plain = DatasetSource(dataset, task).identity(settings(tmp_path, MAX_POOL.with_overrides(model_args=())))
    assert source.identity(run)["training"]["model_args"] == (("global_pool", "max"),)
    assert "model_args" not in plain["training"]


def test_the_reported_auc_decides_the_weights_only_where_it_selects_the_epoch():
    medmnist = PRESETS["medmnist"]
    assert medmnist.selection == "val_auc" and medmnist.auc == "ovr"
    assert "selection_auc" not in medmnist.hashable()  # the hash its results were stored under
    curve = medmnist.with_overrides(auc="macro_curve")
    assert curve.hashable()["selection_auc"] == "macro_curve" and curve.training_fields()["selection_auc"]
    assert THESIS.with_overrides(auc="ovr").hashable() == THESIS.hashable()  # selected by loss: reporting only


def test_a_preset_without_model_args_keeps_the_hash_it_had_before_they_existed():
    assert "model_args" not in THESIS.hashable()
    assert MAX_POOL.hashable()["model_args"] == (("global_pool", "max"),)
    stored = json.loads(json.dumps(MAX_POOL.hashable() | {"name": "x", "seeds": [2], "auc": "ovr"}))
    assert Preset.from_fields(stored) == MAX_POOL.with_overrides(name="x", seeds=(2,), auc="ovr")


@pytest.mark.parametrize("args, message", [
    ({"num_classes": 3}, "num_classes cannot be given"),
    ({"img_size": 64}, "--image-size sets it"),
    ({"pad_type": [1]}, "give a string, number or boolean"),
])
def test_model_args_the_harness_sets_itself_are_refused(args, message):
    with pytest.raises(ValueError, match=message):
        CPU_QUICK.with_overrides(model_args=tuple(args.items()))


def test_model_arg_options_are_read_as_toml_values_else_as_strings():
    parsed = parse_model_args(("pad_type=same", "drop_path_rate=0.1", "flag=true", 'name="a b"', "n=3"))
    assert parsed == {"pad_type": "same", "drop_path_rate": 0.1, "flag": True, "name": "a b", "n": 3}
    with pytest.raises(click.UsageError, match="give KEY=VALUE"):
        parse_model_args(("pad_type",))


def test_an_unknown_model_argument_says_which_and_where_to_fix_it():
    with pytest.raises(ValueError, match="does not take a model argument.*model_args or --model-arg"):
        create_backbone("test_resnet", 2, bogus=1)
    assert model_args_of(create_backbone("test_vit", 2, image_size=32, global_pool="avg")) == {
        "img_size": 32, "global_pool": "avg"}


def test_the_config_gives_the_presets_backbone_model_args(tmp_path, cli, monkeypatch):
    (tmp_path / "tlbench.toml").write_text('model_args = {global_pool = "max"}\n')
    assert load_config(tmp_path).model_args == (("global_pool", "max"),)
    (tmp_path / "tlbench.toml").write_text('model_args = {num_classes = 3}\n')
    monkeypatch.chdir(tmp_path)
    refused = cli("run", "-d", "synth_xray", "-m", "scratch", "--collect-only")
    assert refused.exit_code == 2 and "model_args: num_classes cannot be given" in refused.output


def rows(out: Path) -> list[dict]:
    db = sqlite3.connect(out / "tlbench.sqlite")
    db.row_factory = sqlite3.Row
    return [dict(r) for r in db.execute("SELECT * FROM experiments ORDER BY node_id")]


def test_a_vit_runs_at_32px_through_scratch_random_a_trained_source_and_fe_svm(cli, tmp_path):
    """timm's test_vit is built for 160 px: every model must be built at the run's 32 px (or fail with 'Input
    height (32) doesn't match model (160)')."""
    out = tmp_path / "runs"
    result = cli("run", "-d", "synth_xray", "-s", "none", "-s", "random", "-s", "synth_shapes", "-m", "scratch",
                 "-m", "fe-svm", "--seeds", "2", "--backbone", "test_vit", "--image-size", "32", "--max-epochs", "1",
                 "--model-arg", "global_pool=avg", "--no-audit", "--out", out)
    assert result.exit_code == 0, result.output
    found = rows(out)
    assert {(r["source"], r["method"], r["status"]) for r in found} == {
        ("none", "scratch", "passed"), ("random", "fe-svm", "passed"), ("synth_shapes", "fe-svm", "passed")}
    preset = json.loads(found[0]["preset"])
    assert (preset["backbone"], preset["image_size"]) == ("test_vit", 32)
    assert preset["model_args"] == [["global_pool", "avg"]]
    (source_model,) = (tmp_path / "cache" / "sources").glob("synth_shapes-*.pt")
    # the class token and (32 / 16)^2 patches
    assert torch.load(source_model, weights_only=True)["pos_embed"].shape[1] == 1 + 4
