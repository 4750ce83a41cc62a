from pathlib import Path

import pytest
import torch
from fakedata import no_builtin_datasets

from benchmark.presets import CPU_QUICK
from benchmark.registry.pluginmanager import load_catalog
from benchmark.run.planner import SKIPPED, Selection, build_plan
from benchmark.settings import RunSettings


def settings(tmp_path, **overrides):
    return RunSettings(CPU_QUICK.with_overrides(**overrides), torch.device("cpu"), Path("data"), tmp_path)


@pytest.fixture
def catalog():
    return load_catalog(["tiny_plugin", *no_builtin_datasets()])


def test_the_grid_is_target_x_source_x_method_x_seed(catalog, tmp_path):
    plan = build_plan(catalog, settings(tmp_path), Selection())
    ids = [p.experiment.node_id for p in plan.experiments]
    # 2 targets x (scratch + {imagenet, tiny_src} x the methods that use a source + random x the frozen ones) x 3 seeds
    transfer = sum(m.uses_source for m in catalog.methods.values())
    frozen = sum(m.uses_source and not m.trains for m in catalog.methods.values())
    assert (transfer, frozen) == (7, 3)  # fe-svm, linear-probe, knn-probe frozen; ft-svm, ft, lp-ft, stats-init train
    assert len(ids) == 2 * (1 + 2 * transfer + frozen) * 3 == len(set(ids))
    assert "tiny_tgt::none::scratch[seed=2]" in ids
    assert "tiny_three::tiny_src::ft-svm[seed=7]" in ids
    assert "tiny_three::random::fe-svm[seed=7]" in ids
    assert not any("::none::fe-svm" in i for i in ids)
    # fine-tuning random weights would be scratch again (the same initialisation, the same training)
    assert not any(f"::random::{m}[" in i for i in ids for m in ("ft", "ft-svm", "lp-ft", "stats-init"))


def test_unavailable_imagenet_weights_are_skipped_with_the_reason(catalog, tmp_path):
    plan = build_plan(catalog, settings(tmp_path), Selection())
    skipped = plan.by_state(SKIPPED)
    assert {p.experiment.source for p in skipped} == {"imagenet"}
    assert {(p.reason.kind, p.reason.name) for p in skipped} == {("source", "imagenet")}
    assert all(str(p.reason).startswith("source imagenet: ") and "--imagenet-weights" in str(p.reason)
               for p in skipped)


def test_filters_select_datasets_sources_methods_seeds_and_keywords(catalog, tmp_path):
    plan = build_plan(catalog, settings(tmp_path), Selection(
        datasets=["tiny_tgt"], sources=["tiny_src", "none"], methods=["scratch", "fe-svm"], seeds=[1, 4]))
    assert sorted(p.experiment.node_id for p in plan.experiments) == [
        "tiny_tgt::none::scratch[seed=1]", "tiny_tgt::none::scratch[seed=4]",
        "tiny_tgt::tiny_src::fe-svm[seed=1]", "tiny_tgt::tiny_src::fe-svm[seed=4]",
    ]
    plan = build_plan(catalog, settings(tmp_path), Selection(keyword="three and not random and seed=5"))
    assert {p.experiment.source for p in plan.experiments} == {"none", "imagenet", "tiny_src"}
    assert {p.experiment.seed for p in plan.experiments} == {5}


def test_unknown_names_are_reported(catalog, tmp_path):
    plan = build_plan(catalog, settings(tmp_path), Selection(datasets=["nope"], methods=["fe"]))
    assert any("unknown dataset 'nope'" in u for u in plan.problems)
    assert any("unknown method 'fe'" in u and "fe-svm" in u for u in plan.problems)


@pytest.mark.parametrize(("selection", "problem"), [
    (Selection(sources=["random"], methods=["scratch"]), "method scratch uses no source: add -s none"),
    (Selection(sources=["none"], methods=["fe-svm"]), "method fe-svm needs a source"),
    (Selection(sources=["none"], methods=["fe-svm", "ft-svm"]), "add -m with one of scratch"),
    (Selection(sources=["random"], methods=["scratch"]), "source random: no selected method uses a source: add -m "
                                                         "with one of fe-svm, knn-probe, linear-probe"),
    (Selection(sources=["random"], methods=["ft-svm"]), "method ft-svm trains, and source random pairs with frozen "
                                                        "methods only (its weights are a random initialisation: "
                                                        "fine-tuning them is training from scratch, -s none -m "
                                                        "scratch); add -s with one of imagenet, tiny_src"),
])
def test_a_method_or_source_left_without_experiments_says_what_to_add(catalog, tmp_path, selection, problem):
    plan = build_plan(catalog, settings(tmp_path), selection)
    assert plan.experiments == [] and any(problem in p for p in plan.problems), plan.problems


def test_a_selection_that_pairs_each_request_has_no_problems(catalog, tmp_path):
    plan = build_plan(catalog, settings(tmp_path), Selection(sources=["random", "none"], methods=["scratch", "fe-svm"]))
    assert plan.problems == [] and {p.experiment.method for p in plan.experiments} == {"scratch", "fe-svm"}


def test_a_source_trained_on_the_target_dataset_is_skipped(tmp_path):
    from tiny_plugin import TinyTarget

    from benchmark.datasets import SOURCE, TARGET

    class Both(TinyTarget):
        name = "both"
        roles = frozenset({SOURCE, TARGET})

    catalog = load_catalog(no_builtin_datasets())
    catalog.add("datasets", Both(), "test")
    plan = build_plan(catalog, settings(tmp_path), Selection(datasets=["both"], sources=["both"]))
    assert plan.experiments and all(p.state == SKIPPED for p in plan.experiments)
    assert plan.experiments[0].reason.kind == "leak" and "own dataset" in str(plan.experiments[0].reason)


def test_the_config_hash_changes_with_what_determines_the_result(catalog, tmp_path):
    def hash_of(**overrides):
        plan = build_plan(catalog, settings(tmp_path, **overrides), Selection(keyword="tiny_tgt::none"))
        return plan.experiments[0].config_hash

    assert hash_of() == hash_of()
    assert hash_of() != hash_of(image_size=24)
    assert hash_of() != hash_of(backbone="resnet10t")
