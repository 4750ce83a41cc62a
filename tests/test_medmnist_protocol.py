"""The `medmnist` preset: MedMNIST v2's models, optimiser, schedule, model selection and official splits."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torchvision
from fakedata import make_medmnist

from benchmark.data.splits import uses_official
from benchmark.data.taskdata import TaskData
from benchmark.datasets import TARGET
from benchmark.engine.metrics import auc_ovr
from benchmark.engine.models import create_backbone
from benchmark.engine.training import LabelledImages, train_classifier
from benchmark.presets import CPU_QUICK, MEDMNIST, THESIS
from benchmark.settings import RunSettings
from tlbench_plugins.datasets.medmnist import MedMnist


def test_the_28px_resnet_is_the_papers_cifar_resnet():
    """MedMNIST2D/models.py: a 3x3 stride-1 stem and no max pooling, so the stages see 28, 14, 7 and 4 px;
    kuangliu's ResNet-18 with a 2-class head has 11,169,858 parameters (3 input channels)."""
    model = create_backbone("medmnist_resnet18_28", 2)
    assert (model.conv1.kernel_size, model.conv1.stride, model.conv1.padding) == ((3, 3), (1, 1), (1, 1))
    assert isinstance(model.maxpool, torch.nn.Identity)
    assert sum(p.numel() for p in model.parameters()) == 11_169_858
    x = torch.zeros(1, 3, 28, 28)
    sizes = []
    x = model.act1(model.bn1(model.conv1(x)))
    for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
        x = stage(x)
        sizes.append(x.shape[-1])
    assert sizes == [28, 14, 7, 4]
    features = create_backbone("medmnist_resnet50_28", 2).forward_features(torch.zeros(1, 3, 28, 28))
    assert features.shape == (1, 2048, 4, 4)


@pytest.mark.parametrize("name, reference", [("medmnist_resnet18_224", torchvision.models.resnet18),
                                             ("medmnist_resnet50_224", torchvision.models.resnet50)])
def test_the_224px_resnets_are_torchvisions(name, reference):
    """The same tensors by shape as torchvision's model, and the last batch norm of each block starting at one
    (torchvision's zero_init_residual=False; timm's own ResNets start it at zero)."""
    ours, theirs = create_backbone(name, 9), reference(weights=None, num_classes=9)
    assert sorted(p.shape for p in ours.state_dict().values()) == sorted(p.shape for p in theirs.state_dict().values())
    last_norm = ours.layer1[0].bn2 if name.startswith("medmnist_resnet18") else ours.layer1[0].bn3
    assert torch.all(last_norm.weight == 1)


def test_the_medmnist_models_have_no_pretrained_weights():
    with pytest.raises(ValueError, match="trained from scratch"):
        create_backbone("medmnist_resnet18_28", 2, pretrained=True)


def _toy(n: int, seed: int) -> LabelledImages:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    images = torch.randint(0, 120, (n, 3, 16, 16), dtype=torch.uint8, generator=generator)
    images[labels == 1, 0] += 100  # class 1 is redder
    return LabelledImages(images, labels)


def test_adam_the_step_schedule_and_the_best_validation_auc():
    """Adam's lr steps down by gamma after each milestone epoch, and the model left is the epoch of the best
    validation AUC, not of the lowest validation loss."""
    preset = dataclasses.replace(MEDMNIST, backbone="test_resnet", image_size=16, batch_size=16, max_epochs=4,
                                 patience=4, lr_milestones=(2, 3), lr_gamma=0.1, lr=0.01)
    model = create_backbone("test_resnet", 2)
    train, val = _toy(64, 0), _toy(40, 1)
    history = train_classifier(model, train, val, 2, preset, torch.device("cpu"), seed=3)
    assert [h["lr"] for h in history] == pytest.approx([0.01, 0.01, 0.001, 0.0001])
    best = max(range(4), key=lambda i: history[i]["val_auc"])
    model.eval()
    with torch.no_grad():
        probabilities = model((val.images.float() / 255 - 0.5) / 0.5).softmax(1).numpy()
    assert auc_ovr(val.labels.numpy(), probabilities) == pytest.approx(history[best]["val_auc"], abs=1e-6)


def test_selection_last_runs_every_epoch_and_keeps_the_last_ones_weights():
    """The rule of the code behind MedMNIST v2's table (its `best_model = model` kept the last epoch)."""
    preset = dataclasses.replace(MEDMNIST, backbone="test_resnet", image_size=16, batch_size=16, max_epochs=4,
                                 patience=1, lr_milestones=(), lr=0.001, selection="last")
    model = create_backbone("test_resnet", 2)
    train, toy = _toy(64, 0), _toy(40, 1)
    val = LabelledImages(toy.images, 1 - toy.labels)  # labels flipped: validation gets worse as training learns
    history = train_classifier(model, train, val, 2, preset, torch.device("cpu"), seed=3)
    assert len(history) == 4  # patience 1 stops nothing
    model.eval()
    with torch.no_grad():
        loss = torch.nn.functional.cross_entropy(model((val.images.float() / 255 - 0.5) / 0.5), val.labels)
    losses = [h["val_loss"] for h in history]
    assert losses == sorted(losses) and losses[0] < losses[-1]  # val_loss selection would keep the first epoch
    assert float(loss) == pytest.approx(losses[-1], rel=1e-5)


def test_selection_by_auc_needs_two_validation_classes():
    preset = dataclasses.replace(MEDMNIST, backbone="test_resnet", image_size=16, max_epochs=1)
    val = LabelledImages(_toy(8, 1).images, torch.zeros(8, dtype=torch.int64))
    with pytest.raises(ValueError, match="two classes in the validation split"):
        train_classifier(create_backbone("test_resnet", 2), _toy(32, 0), val, 2, preset, torch.device("cpu"), 0)


@pytest.mark.parametrize("requested, always, default, expected", [
    (None, False, True, True), (None, False, False, False), (True, False, False, True), (False, False, True, False),
    (False, True, False, True), (None, True, False, True),
])
def test_which_split_is_used(requested, always, default, expected):
    assert uses_official(requested, True, always, default) is expected
    assert uses_official(requested, False, always, default) is False


@pytest.mark.parametrize("preset, official_splits, n_test", [
    (THESIS, None, 10), (CPU_QUICK, None, 10), (MEDMNIST, None, 10), (THESIS, False, 6), (MEDMNIST, False, 6),
])
def test_medmnist_targets_use_the_official_test_set_unless_told_not_to(tmp_path, preset, official_splits, n_test):
    """The official test part (10 of 30 images) in every preset that does not say otherwise; a seeded 20 % (6)
    with --no-official-splits."""
    make_medmnist(tmp_path, counts=(14, 6, 10))
    preset = preset.with_overrides(image_size=28, official_splits=official_splits)
    settings = RunSettings(preset, torch.device("cpu"), tmp_path, tmp_path / "cache")
    dataset = MedMnist("pneumoniamnist")
    split = TaskData(settings).split(dataset, dataset.tasks()[0], seed=2, role=TARGET)
    assert len(split.test.labels) == n_test
    if n_test == 10:  # pixel value = label * 100 + split number: 2 is the official test part
        assert np.all(split.test.images.numpy() % 100 == 2)
