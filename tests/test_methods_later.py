"""The methods of later work: linear-probe, knn-probe, ft, lp-ft and stats-init, their probes and the weight redraw."""

import json
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import TINY, subprocess_env
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

import benchmark.engine.logisticprobe as logisticprobe
from benchmark.data.splits import Split
from benchmark.data.taskdata import SplitData
from benchmark.datasets import Task
from benchmark.engine.inputs import input_of
from benchmark.engine.knnprobe import choose_k, nearest
from benchmark.engine.logisticprobe import PROBE_C_GRID, fit_logistic_probe
from benchmark.engine.metrics import compute_metrics
from benchmark.engine.models import create_backbone, to_unit
from benchmark.engine.seeding import seeded
from benchmark.engine.training import LabelledImages
from benchmark.presets import CPU_QUICK
from benchmark.registry.pluginmanager import load_catalog
from benchmark.report.leaderboard import _column_order
from benchmark.run.context import ExperimentContext
from benchmark.settings import RunSettings
from tlbench_plugins.methods.stats_init import redraw_from_statistics

LATER = ("linear-probe", "knn-probe", "ft", "lp-ft", "stats-init")


def _stored(out):
    db = sqlite3.connect(out / "tlbench.sqlite")
    db.row_factory = sqlite3.Row
    rows = [dict(r) for r in db.execute("SELECT node_id, method, status, metrics, scores, versions FROM experiments")]
    return {r["node_id"]: r for r in rows}


def _tlbench(*args) -> subprocess.CompletedProcess:
    """``tlbench args`` in a process of its own: the package loads before torch there, so OpenMP gets tlbench's
    brief spin (in this process torch came first, and the probes' scikit-learn threads and torch's idle ones
    contend for the two cores: the same run took six times as long in-process)."""
    command = [sys.executable, "-c", "from benchmark.cli import main; main()", *map(str, args)]
    return subprocess.run(command, env=subprocess_env(), capture_output=True, text=True, timeout=600)


def test_each_later_method_runs_on_the_embedded_default_and_repeats_exactly(cli, tmp_path):
    out = tmp_path / "runs"
    args = ["run", "-d", "synth_cells", "-s", "synth_shapes", *(a for m in LATER for a in ("-m", m)),
            "--seeds", "2", "--out", out, "--no-audit", *TINY]
    result = _tlbench(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    first = _stored(out)
    assert sorted(r["method"] for r in first.values()) == sorted(LATER)
    for row in first.values():
        assert row["status"] == "passed"
        auc = json.loads(row["metrics"])["auc"]
        assert 0.0 <= auc <= 1.0
    versions = {r["method"]: json.loads(r["versions"]) for r in first.values()}
    assert versions["linear-probe"]["probe_c"] in PROBE_C_GRID and versions["lp-ft"]["probe_c"] in PROBE_C_GRID
    assert versions["knn-probe"]["knn_k"] in (1, 3, 5, 10, 20, 50, 100)
    assert versions["lp-ft"]["recalibrated_norms"] > 0 and versions["stats-init"]["redrawn_tensors"] > 0
    header = next(line for line in cli("show", "--out", out, "--format", "md").output.splitlines()
                  if line.startswith("| target"))
    assert header == ("| target | synth_shapes LP | synth_shapes kNN | synth_shapes FT-head | synth_shapes LP-FT | "
                      "synth_shapes stats-init |")
    assert _tlbench(*args, "--rerun", "all").returncode == 0
    again = _stored(out)
    assert {k: r["scores"] for k, r in again.items()} == {k: r["scores"] for k, r in first.items()}


def test_board_columns_follow_the_method_each_is_compared_with():
    methods = load_catalog().methods
    columns = sorted([("src", m) for m in methods if methods[m].uses_source] + [("none", "scratch")],
                     key=_column_order(methods))
    assert [methods[m].label for _, m in columns] == ["scratch", "FE", "FT", "LP", "kNN", "FT-head", "LP-FT",
                                                      "stats-init"]


def _context(num_classes: int, n: int = 60, seed: int = 0) -> ExperimentContext:
    """Images whose class brightens one corner, split 30 / 15 / 15, on the tiny backbone at 16 px."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % num_classes
    images = rng.normal(90, 25, size=(n, 3, 16, 16))
    for i, label in enumerate(labels):
        y, x = divmod(int(label), 2)
        images[i, :, y * 8 : (y + 1) * 8, x * 8 : (x + 1) * 8] += 90
    images = torch.from_numpy(np.clip(images, 0, 255).astype(np.uint8))
    labels = torch.from_numpy(labels)
    split = Split(train=np.arange(30), val=np.arange(30, 45), test=np.arange(45, n), kind="test")

    def part(index):
        return LabelledImages(images[index], labels[index])

    task = Task("toy", tuple("abcd"[:num_classes]), frozenset({"target"}))
    data = SplitData(task, split, part(split.train), part(split.val), part(split.test))
    settings = RunSettings(CPU_QUICK.with_overrides(image_size=16), torch.device("cpu"), data_root=None,
                           cache_dir=None)
    return ExperimentContext(data, settings, seed, source=None)


@pytest.mark.parametrize("num_classes", [2, 3])
@pytest.mark.parametrize("standardize", [True, False])
def test_a_probe_written_into_the_head_gives_the_probes_decision_function(num_classes, standardize):
    ctx = _context(num_classes)
    with seeded(0):
        model = create_backbone("test_resnet", num_classes)
    assert ctx.recalibrate_norms(model) > 0
    probe, test_features = ctx.linear_probe(model, standardize=standardize)
    assert ctx.info["probe_c"] == probe.c
    probe.write_into(model)
    x = input_of(model, ctx.settings.preset).apply(to_unit(ctx.data.test.images))
    with torch.no_grad():
        logits = model.eval()(x).double().numpy()
    decision = probe.classifier.decision_function(probe.scaler.transform(test_features))
    if num_classes == 2:  # one decision d, written as the rows -d/2 and d/2
        np.testing.assert_allclose(logits[:, 1] - logits[:, 0], decision, atol=1e-4)
        np.testing.assert_allclose(logits.sum(axis=1), 0.0, atol=1e-4)
    else:
        np.testing.assert_allclose(logits, decision, atol=1e-4)
    np.testing.assert_allclose(torch.from_numpy(logits).softmax(dim=1).numpy(), probe.scores(test_features),
                               atol=1e-5)


def test_a_probe_needs_a_linear_classifier():
    ctx = _context(2)
    with seeded(0):
        model = create_backbone("test_resnet", 2)
    probe, _ = ctx.linear_probe(model)
    model.reset_classifier(0)  # the classifier is now an Identity
    with pytest.raises(ValueError, match="torch.nn.Linear"):
        probe.write_into(model)


def _features(n_per_class: int, rng, noise: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Two classes around two orthogonal directions of 8 dimensions: separable by angle."""
    labels = np.repeat([0, 1], n_per_class)
    centres = np.eye(8)[[0, 1]]
    return centres[labels] + rng.normal(0, noise, size=(len(labels), 8)), labels


def test_the_linear_probe_takes_the_c_with_the_best_validation_auc(monkeypatch):
    rng = np.random.default_rng(1)
    train, train_labels = _features(30, rng, noise=0.8)
    val, val_labels = _features(30, rng, noise=0.8)
    probe = fit_logistic_probe(train, train_labels, val, val_labels, 2, "ovr")
    for c, auc in probe.validation_aucs.items():  # each C's AUC, as a cold fit on the same standardised features
        cold = LogisticRegression(C=c, max_iter=2000).fit(probe.scaler.transform(train), train_labels)
        assert auc == pytest.approx(roc_auc_score(val_labels, cold.decision_function(probe.scaler.transform(val))),
                                    abs=1e-3)
    best = max(probe.validation_aucs.values())
    assert probe.c == min(c for c, auc in probe.validation_aucs.items() if auc == best)

    told = iter([0.61, 0.70, 0.93, 0.93, 0.80, 0.75, 0.74])  # the AUC of each C, smallest C first

    def fake_metrics(labels, scores, classes, primary):
        return {"auc": next(told)}

    monkeypatch.setattr(logisticprobe, "compute_metrics", fake_metrics)
    chosen = fit_logistic_probe(train, train_labels, val, val_labels, 2, "ovr")
    assert chosen.c == 1e-2 and chosen.classifier.C == 1e-2  # the first of the two best
    assert list(chosen.validation_aucs.values()) == [0.61, 0.70, 0.93, 0.93, 0.80, 0.75, 0.74]


def test_knn_on_separable_features_ranks_perfectly_with_the_largest_tied_k():
    rng = np.random.default_rng(0)
    train, train_labels = _features(20, rng)
    val, val_labels = _features(10, rng)
    test, test_labels = _features(10, rng)
    k, aucs = choose_k(train, train_labels, val, val_labels, 2, "ovr")
    assert set(aucs) == {1, 3, 5, 10, 20} and set(aucs.values()) == {1.0}  # 50 and 100 exceed the 40 features
    assert k == 20
    scores = nearest(train, test, k).scores(train_labels, k, 2)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0)
    assert compute_metrics(test_labels, scores, ("a", "b"), "ovr")["auc"] == 1.0


def test_knn_chooses_more_neighbours_when_training_labels_are_noisy():
    rng = np.random.default_rng(3)
    train, train_labels = _features(100, rng, noise=0.3)
    flipped = rng.random(len(train_labels)) < 0.3
    train_labels = np.where(flipped, 1 - train_labels, train_labels)
    val, val_labels = _features(50, rng, noise=0.3)
    k, aucs = choose_k(train, train_labels, val, val_labels, 2, "ovr")
    assert aucs[1] < 0.8 and k >= 20 and aucs[k] > 0.9
    with pytest.raises(ValueError, match="1 to 200"):
        nearest(train, val, 201)


def test_stats_init_redraws_each_tensor_with_its_own_mean_and_std():
    with seeded(0):
        model = create_backbone("test_resnet", 3)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for norm in norms:  # as a trained source has them
        norm.running_mean.fill_(0.5)
        norm.weight.data.uniform_(0.5, 1.5)
        norm.bias.data.uniform_(-0.2, 0.2)
    source = {name: p.detach().clone() for name, p in model.named_parameters()}
    head = {f"fc.{name}" for name, _ in model.get_classifier().named_parameters()}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    redrawn = redraw_from_statistics(model, seed=7)
    assert redrawn == sum(1 for name, p in source.items() if name not in head and p.numel() > 1) > 10
    for name, parameter in model.named_parameters():
        old, new = source[name].double(), parameter.detach().double()
        if name in head:
            assert torch.equal(parameter.detach(), source[name])
            continue
        assert new.mean().item() == pytest.approx(old.mean().item(), abs=1e-6)
        assert new.std(unbiased=False).item() == pytest.approx(old.std(unbiased=False).item(), rel=1e-5, abs=1e-7)
        assert not torch.allclose(new, old)
    assert all(torch.equal(n.running_mean, torch.zeros_like(n.running_mean)) for n in norms)
    assert all(torch.equal(n.running_var, torch.ones_like(n.running_var)) for n in norms)

    def redrawn_state(seed: int) -> dict:
        with seeded(0):
            again = create_backbone("test_resnet", 3)
        again.load_state_dict(before)
        redraw_from_statistics(again, seed)
        return again.state_dict()

    same, other = redrawn_state(7), redrawn_state(8)
    assert all(torch.equal(v, same[k]) for k, v in model.state_dict().items())
    assert not all(torch.equal(v, other[k]) for k, v in same.items())
