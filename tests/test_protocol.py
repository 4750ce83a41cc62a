"""The presets against the study's protocol (THESIS-PROTOCOL.md), and the pieces that carry them out."""

from dataclasses import asdict

import numpy as np
import pytest
import torch

from benchmark.engine.inputs import named
from benchmark.engine.models import create_backbone, penultimate
from benchmark.engine.staging import StagedImages
from benchmark.engine.svm import svm_scores
from benchmark.engine.training import LabelledImages, _training_loss, train_classifier, validation_metrics
from benchmark.presets import CPU_QUICK, PRESETS, RECOMMENDED, THESIS, THESIS_AS_RUN


def test_thesis_is_the_studys_stated_protocol():
    assert (THESIS.backbone, THESIS.image_size, THESIS.seeds) == ("vgg16", 224, (2, 5, 7))
    assert (THESIS.test_fraction, THESIS.val_fraction) == (0.2, 0.1)
    assert (THESIS.lr, THESIS.momentum, THESIS.nesterov, THESIS.batch_size) == (1e-3, 0.01, True, 32)
    assert (THESIS.max_epochs, THESIS.patience, THESIS.class_weights) == (50, 10, True)
    assert (THESIS.svm, THESIS.svm_c, THESIS.standardize_features, THESIS.auc) == ("svc", 1.0, False, "macro_curve")
    assert THESIS.restore_best and THESIS.pretrained_input == "source" and THESIS.feature_scale == 1.0


def test_thesis_as_run_switches_on_each_quirk_of_the_studys_code():
    different = {k for k, v in THESIS_AS_RUN.hashable().items() if THESIS.hashable()[k] != v}
    assert different == {"normalize", "pretrained_input", "feature_scale", "class_weight_mode", "restore_best",
                         "split_counts", "source_split_counts"}
    assert THESIS_AS_RUN.normalize == "bgr255" and THESIS_AS_RUN.pretrained_input == "unshifted"
    assert THESIS_AS_RUN.feature_scale == pytest.approx(1 / 255)
    assert THESIS_AS_RUN.class_weight_mode == "batch_mean" and not THESIS_AS_RUN.restore_best
    assert THESIS_AS_RUN.counts_for("isic2017") == (400, 200)
    assert THESIS_AS_RUN.counts_for("blood_cells") == (2000, 1500)
    assert THESIS_AS_RUN.counts_for("chest_xray") == (900, 600)
    assert THESIS_AS_RUN.counts_for("chest_xray", source=True) == (200, 200)
    assert THESIS_AS_RUN.counts_for("kaggle_dr", source=True) == (4000, 4000)
    assert THESIS_AS_RUN.counts_for("synth_xray") is None


def test_recommended_and_the_catalogue():
    assert RECOMMENDED.momentum == 0.9 and RECOMMENDED.weight_decay > 0 and RECOMMENDED.restore_best
    assert RECOMMENDED.augment_flip and RECOMMENDED.augment_rotation > 0 and RECOMMENDED.augment_crop_scale < 1
    assert RECOMMENDED.standardize_features and len(RECOMMENDED.svm_c_grid) >= 5 and RECOMMENDED.auc == "ovr"
    assert RECOMMENDED.pretrained_input == "source" and len(RECOMMENDED.seeds) == 5
    assert set(PRESETS) == {"thesis", "thesis-as-run", "recommended", "cpu-quick", "medmnist"}
    assert CPU_QUICK.backbone == "test_resnet"


def test_the_bgr255_input_is_raw_pixels_in_bgr_order():
    x = torch.tensor([0.2, 0.4, 1.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    out = named("bgr255").apply(x)
    assert out[0, :, 0, 0].tolist() == pytest.approx([255.0, 102.0, 51.0])
    assert torch.equal(named("unit").apply(x), x)


def test_vgg16_features_are_fc2_after_relu():
    torch.manual_seed(0)
    model = create_backbone("vgg16", 3).eval()
    x = torch.randn(2, 3, 224, 224)
    captured = {}
    model.pre_logits.act2.register_forward_hook(lambda _m, _i, out: captured.__setitem__("fc2", out))
    with torch.no_grad():
        features = penultimate(model, x)
    assert features.shape == (2, 4096) and (features >= 0).all()
    torch.testing.assert_close(features, captured["fc2"].flatten(1))
    assert model.pre_logits.fc2.out_channels == 4096


def test_the_validation_loss_is_the_plain_mean_whatever_the_chunks_and_order():
    torch.manual_seed(0)
    model = create_backbone("test_resnet", 2).eval()
    images = torch.randint(0, 256, (300, 3, 16, 16), dtype=torch.uint8)
    labels = torch.cat([torch.zeros(250), torch.ones(50)]).long()  # sorted by class, as folders are
    cpu = torch.device("cpu")
    from benchmark.engine.acceleration import Acceleration

    loss, accuracy, _ = validation_metrics(model, model, StagedImages(images, cpu), labels, named("unit"), cpu,
                                        Acceleration())
    order = torch.randperm(300)
    shuffled, _, _ = validation_metrics(model, model, StagedImages(images[order], cpu), labels[order], named("unit"),
                                     cpu, Acceleration())
    with torch.no_grad():
        logits = model(images.float() / 255)
    expected = torch.nn.functional.cross_entropy(logits, labels).item()
    assert loss == pytest.approx(expected, rel=1e-5) and shuffled == pytest.approx(expected, rel=1e-5)
    assert accuracy == pytest.approx((logits.argmax(1) == labels).float().mean().item())


def test_class_weight_modes():
    labels = torch.tensor([0, 0, 0, 1])
    logits = torch.tensor([[2.0, 0.0], [1.0, 0.5], [0.0, 1.0], [0.3, 0.1]])
    weighted = _training_loss(labels, 2, THESIS, torch.device("cpu"))(logits, labels)
    keras = _training_loss(labels, 2, THESIS_AS_RUN, torch.device("cpu"))(logits, labels)
    per_sample = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    weights = torch.tensor([4 / 3, 4 / 3, 4 / 3, 4.0])  # N / N_c
    assert weighted.item() == pytest.approx((weights * per_sample).sum().item() / weights.sum().item())
    assert keras.item() == pytest.approx((weights * per_sample).sum().item() / 4)


def test_the_last_epoch_is_kept_when_the_preset_says_so():
    from benchmark.engine.acceleration import Acceleration

    torch.manual_seed(0)
    images = torch.randint(0, 256, (64, 3, 16, 16), dtype=torch.uint8)
    train, val = LabelledImages(images[:48], torch.randint(0, 2, (48,))), LabelledImages(images[48:],
                                                                                         torch.randint(0, 2, (16,)))
    preset = THESIS_AS_RUN.with_overrides(backbone="test_resnet", max_epochs=4, patience=10, lr=0.05)
    model = create_backbone("test_resnet", 2)
    history = train_classifier(model, train, val, 2, preset, torch.device("cpu"), seed=0)
    cpu = torch.device("cpu")
    final, accuracy, _ = validation_metrics(model, model, StagedImages(val.images, cpu), val.labels, named("bgr255"),
                                            cpu, Acceleration())
    assert len(history) == 4 and final == pytest.approx(history[-1]["val_loss"], rel=1e-5)
    assert accuracy == pytest.approx(history[-1]["val_accuracy"])
    assert all(0 <= record["train_accuracy"] <= 1 for record in history)


def test_the_svm_c_is_chosen_on_the_validation_split():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(120, 20))
    train_labels = (train[:, 0] + 0.5 * rng.normal(size=120) > 0).astype(int)
    val = rng.normal(size=(60, 20))
    val_labels = (val[:, 0] > 0).astype(int)
    info = {}
    preset = RECOMMENDED.with_overrides(svm_c_grid=(1e-4, 1e-2, 1.0))
    scores = svm_scores(train, train_labels, val, 2, preset, 0, validation=(val, val_labels), info=info)
    assert info["svm_c"] in (1e-4, 1e-2, 1.0) and scores.shape == (60, 2)
    with pytest.raises(ValueError, match="validation"):
        svm_scores(train, train_labels, val, 2, preset, 0)
    scaled = {}
    svm_scores(train, train_labels, val, 2, THESIS_AS_RUN, 0, info=scaled)
    assert scaled["svm_c"] == 1.0


THESIS_FIELDS = {
    "name": "thesis", "backbone": "vgg16", "image_size": 224, "seeds": (2, 5, 7), "test_fraction": 0.2,
    "val_fraction": 0.1, "lr": 0.001, "momentum": 0.01, "nesterov": True, "weight_decay": 0.0, "batch_size": 32,
    "max_epochs": 50, "patience": 10, "class_weights": True, "restore_best": True, "normalize": "unit",
    "augment_flip": False, "svm": "svc", "svm_c": 1.0, "standardize_features": False, "auc": "macro_curve",
    "official_splits": None, "augment_rotation": 0.0, "augment_crop_scale": 1.0, "pretrained_input": "source",
    "class_weight_mode": "weighted_mean", "feature_scale": 1.0, "svm_c_grid": (), "split_counts": (),
    "source_split_counts": (), "optimizer": "sgd", "lr_milestones": (), "lr_gamma": 0.1, "selection": "val_loss",
    "model_args": (),
}
# every other preset's differences from thesis, as they were when the presets were rewritten as differences
DIFFERENCES = {
    "thesis-as-run": {
        "restore_best": False, "normalize": "bgr255", "pretrained_input": "unshifted",
        "class_weight_mode": "batch_mean",
        "feature_scale": 1 / 255,
        "split_counts": (("isic2017", 400, 200), ("blood_cells", 2000, 1500), ("blood_cells_pooled", 2000, 1500),
                         ("chest_xray", 900, 600)),
        "source_split_counts": (("kaggle_dr", 4000, 4000), ("dogs_vs_cats", 4000, 2000), ("chest_xray", 200, 200),
                                ("natural_images", 1000, 500)),
    },
    "recommended": {
        "seeds": (2, 5, 7, 11, 13), "momentum": 0.9, "weight_decay": 5e-4, "normalize": "imagenet",
        "augment_flip": True, "svm": "linearsvc", "standardize_features": True, "auc": "ovr", "official_splits": True,
        "augment_rotation": 15.0, "augment_crop_scale": 0.5, "svm_c_grid": (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0),
    },
    "cpu-quick": {
        "backbone": "test_resnet", "image_size": 32, "lr": 0.02, "momentum": 0.9, "weight_decay": 5e-4,
        "batch_size": 64, "max_epochs": 12, "patience": 12, "normalize": "imagenet", "augment_flip": True,
        "svm": "linearsvc", "svm_c": 0.1, "standardize_features": True,
        "split_counts": (("synth_xray", 600, 300), ("synth_cells", 600, 200)),
        "source_split_counts": (("synth_shapes", 400, 400),),
    },
    # MedMNIST v2 (Yang et al. 2023) and its experiment code, MedMNIST2D/train_and_eval_pytorch.py: Adam, lr 1e-3,
    # milestones at 0.5 and 0.75 of 100 epochs, gamma 0.1, batch 128, CrossEntropyLoss, Normalize(.5, .5), no
    # augmentation, official splits, the best validation AUC (medmnist.Evaluator: the mean one-vs-rest AUC)
    "medmnist": {
        "backbone": "medmnist_resnet18_28", "image_size": 28, "seeds": (0, 1, 2), "official_splits": True,
        "optimizer": "adam", "lr": 1e-3, "momentum": 0.0, "nesterov": False, "lr_milestones": (50, 75),
        "lr_gamma": 0.1, "batch_size": 128, "max_epochs": 100, "patience": 100, "selection": "val_auc",
        "class_weights": False, "normalize": "half", "auc": "ovr",
    },
}


@pytest.mark.parametrize("name", sorted(DIFFERENCES))
def test_presets_are_thesis_with_their_differences(name):
    assert asdict(PRESETS["thesis"]) == THESIS_FIELDS
    assert asdict(PRESETS[name]) == {**THESIS_FIELDS, "name": name, **DIFFERENCES[name]}


def test_fit_is_train_classifier_with_the_runs_settings(tmp_path):
    from types import SimpleNamespace

    from benchmark.datasets import Task
    from benchmark.engine.training import fit
    from benchmark.hashing import state_dict_hash
    from benchmark.settings import RunSettings

    images = torch.randint(0, 256, (40, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(40) % 3
    split = SimpleNamespace(task=Task("t", ("a", "b", "c")), train=LabelledImages(images[:30], labels[:30]),
                            val=LabelledImages(images[30:], labels[30:]))
    preset = CPU_QUICK.with_overrides(max_epochs=2)
    settings = RunSettings(preset, torch.device("cpu"), tmp_path, tmp_path)
    models = [create_backbone("test_resnet", 3) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    history = fit(models[0], split, settings, seed=4)
    expected = train_classifier(models[1], split.train, split.val, 3, preset, torch.device("cpu"), 4,
                                accel=settings.acceleration)
    assert len(history) == 2 and [h["val_loss"] for h in history] == [h["val_loss"] for h in expected]
    assert state_dict_hash(models[0].state_dict()) == state_dict_hash(models[1].state_dict())
