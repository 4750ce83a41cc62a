"""What decides an experiment's identity: shared image collections are never a source for each other, the data
and the runtime are in the config hash, and nothing that does not change a result is."""

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from fakedata import make_blood_cells, make_chest_xray, make_medmnist, no_builtin_datasets

from benchmark.data.splits import make_split
from benchmark.presets import CPU_QUICK
from benchmark.registry.pluginmanager import load_catalog
from benchmark.registry.trainedsources import DatasetSource
from benchmark.run.planner import PENDING, SKIPPED, Selection, build_plan
from benchmark.settings import RunSettings
from tlbench_plugins.datasets.blood_cells import BloodCells


def settings(root: Path, cache: Path, **overrides) -> RunSettings:
    return RunSettings(CPU_QUICK.with_overrides(**overrides), torch.device("cpu"), root, cache)


@pytest.fixture
def chest_and_pneumonia(tmp_path):
    make_chest_xray(tmp_path / "data", per_class=4)
    make_medmnist(tmp_path / "data", "pneumoniamnist")
    make_medmnist(tmp_path / "data", "breastmnist")
    blocked = [b for b in no_builtin_datasets() if b not in ("no:chest_xray", "no:medmnist")]
    return load_catalog(blocked), tmp_path


def test_a_source_sharing_the_targets_image_collection_is_skipped(chest_and_pneumonia):
    catalog, tmp_path = chest_and_pneumonia
    plan = build_plan(catalog, settings(tmp_path / "data", tmp_path / "cache"),
                      Selection(datasets=("pneumoniamnist", "breastmnist"), sources=("chest_xray",)))
    states = {(p.experiment.target, p.state) for p in plan.experiments}
    assert states == {("pneumoniamnist", SKIPPED), ("breastmnist", PENDING)}
    reason = next(str(p.reason) for p in plan.experiments if p.experiment.target == "pneumoniamnist")
    assert "kermany2018-chest-xray" in reason and "shares images" in reason


def test_changed_data_gives_new_experiments_and_new_source_models(chest_and_pneumonia):
    catalog, tmp_path = chest_and_pneumonia
    run = settings(tmp_path / "data", tmp_path / "cache")
    selection = Selection(datasets=("breastmnist",), sources=("chest_xray",), seeds=(2,))
    source = catalog.all_sources()["chest_xray"]
    before = {p.experiment.node_id: p.config_hash for p in build_plan(catalog, run, selection).experiments}
    weights_before = source.trained_model_path(run)
    # one more chest image: the source model and every experiment using it are new
    extra = tmp_path / "data" / "chest_xray" / "train" / "NORMAL" / "IM-0999-0001.jpeg"
    extra.write_bytes(next((tmp_path / "data" / "chest_xray" / "train" / "NORMAL").iterdir()).read_bytes())
    after = {p.experiment.node_id: p.config_hash for p in build_plan(catalog, run, selection).experiments}
    assert before.keys() == after.keys() and all(before[k] != after[k] for k in before)
    assert catalog.all_sources()["chest_xray"].trained_model_path(run) != weights_before
    # touching the target's file changes the target's experiments
    npz = tmp_path / "data" / "medmnist" / "breastmnist.npz"
    os.utime(npz, ns=(npz.stat().st_atime_ns, npz.stat().st_mtime_ns + 10**9))
    again = {p.experiment.node_id: p.config_hash for p in build_plan(catalog, run, selection).experiments}
    assert all(again[k] != after[k] for k in after)


def test_the_hash_holds_what_decides_a_result_and_nothing_else(chest_and_pneumonia):
    catalog, tmp_path = chest_and_pneumonia
    selection = Selection(datasets=("breastmnist",), sources=("chest_xray", "random"), seeds=(2,))

    def hashes(run):
        return {p.experiment.node_id: p.config_hash for p in build_plan(catalog, run, selection).experiments}

    base = settings(tmp_path / "data", tmp_path / "cache")
    source = DatasetSource(*catalog.tasks()["chest_xray"])
    # the reported AUC is a choice of display: both AUCs are always stored
    assert hashes(dataclasses.replace(base, preset=base.preset.with_overrides(auc="ovr"))) == hashes(base)
    # the SVM's C changes the experiments but not the trained source's weights
    svm = dataclasses.replace(base, preset=base.preset.with_overrides(svm_c=5.0))
    assert all(a != b for a, b in zip(hashes(svm).values(), hashes(base).values(), strict=True))
    assert source.identity(svm) == source.identity(base)
    # training settings, the device type and the precision change both
    trained = dataclasses.replace(base, preset=base.preset.with_overrides(lr=0.5))
    assert source.identity(trained) != source.identity(base)
    assert base.runtime == {"device": "cpu", "precision": "fp32"}
    plan = build_plan(catalog, base, selection)
    assert all(p.config["runtime"] == base.runtime for p in plan.experiments)
    assert source.identity(base)["runtime"] == base.runtime


def test_blood_cells_are_grouped_by_source_cell_and_groups_never_straddle_a_split(tmp_path):
    folder = make_blood_cells(tmp_path, {"TRAIN": 6, "TEST": 2})
    # copies of one cell: _<cell>_<copy>.jpeg
    for name in ("MONOCYTE", "LYMPHOCYTE"):
        template = next((folder / "TRAIN" / name).iterdir()).read_bytes()
        for copy in range(5):
            (folder / "TRAIN" / name / f"_7_{copy}9.jpeg").write_bytes(template)
    dataset = BloodCells()
    files = dataset.files(dataset.tasks()[0], tmp_path)
    groups = np.asarray(files.groups)
    assert len({g for g, p in zip(groups, files.paths, strict=True) if p.name.startswith("_7_")}) == 2
    for seed in (2, 5, 7):
        split = make_split(files.labels, seed, 0.2, 0.1, groups=groups, official=files.official_split)
        parts = [set(groups[split.train]), set(groups[split.val]), set(groups[split.test])]
        assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
        assert all(files.official_split[i] == "test" for i in split.test)


def test_absolute_split_counts(tmp_path):
    labels = np.arange(200) % 2
    split = make_split(labels, 2, 0.2, 0.1, counts=(40, 30))
    assert (len(split.test), len(split.val), len(split.train)) == (40, 30, 130)
    with pytest.raises(ValueError, match="no training images"):
        make_split(labels, 2, 0.2, 0.1, counts=(150, 50))


def test_a_declared_dataset_states_its_provenance(tmp_path):
    from benchmark.registry.config import load_config
    from benchmark.registry.declared import declared_dataset

    (tmp_path / "tlbench.toml").write_text(
        '[datasets.mycxr]\nformat = "imagefolder"\npath = "mycxr"\nprovenance = ["kermany2018-chest-xray"]\n')
    (declaration,) = load_config(tmp_path).datasets
    dataset = declared_dataset(declaration, tmp_path)
    assert dataset.collections == {"kermany2018-chest-xray"}
    (tmp_path / "tlbench.toml").write_text('[datasets.bad]\npath = "x"\nprovenance = [1]\n')
    config = load_config(tmp_path)  # a bad declaration is broken alone
    assert config.datasets == () and config.broken[0][0] == "bad" and "provenance" in config.broken[0][1]
