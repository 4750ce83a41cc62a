"""A real ImageNet checkpoint declared with model_args: TF-slim MobileNetV2 weights for timm's mobilenetv2_100, which
need pad_type="same" (../shared/weights/README.md); skipped where ../shared is absent, as on a user's clone."""

from pathlib import Path

import numpy as np
import pytest
import torch
from fakedata import SHARED_DATA
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from benchmark.engine.models import predict, to_images_tensor
from benchmark.presets import CPU_QUICK
from benchmark.registry.config import load_config
from benchmark.registry.declaredsources import declared_source
from benchmark.settings import RunSettings
from tlbench_plugins.sources.builtin import RandomSource

CHECKPOINT = SHARED_DATA.parent / "weights" / "mobilenetv2_100_in1k_tfslimqat.pth"
NATURAL = SHARED_DATA / "natural_images"
pytestmark = pytest.mark.skipif(not (CHECKPOINT.is_file() and NATURAL.is_dir()),
                                reason=f"the real checkpoint {CHECKPOINT} or {NATURAL} is absent (../shared is "
                                       "not part of a clone)")
SIZE, PER_CLASS = 64, 20


def natural_images() -> tuple[torch.Tensor, np.ndarray]:
    """The first PER_CLASS images of each of natural_images' 8 classes at SIZE px, and their labels."""
    classes = sorted(p.name for p in NATURAL.iterdir() if p.is_dir())
    images, labels = [], []
    for label, name in enumerate(classes):
        for path in sorted((NATURAL / name).glob("*.jpg"))[:PER_CLASS]:
            images.append(np.asarray(Image.open(path).convert("RGB").resize((SIZE, SIZE), Image.BILINEAR)))
            labels.append(label)
    return to_images_tensor(np.stack(images)), np.array(labels)


def probe_accuracy(features: np.ndarray, labels: np.ndarray) -> float:
    standardised = (features - features.mean(0)) / (features.std(0) + 1e-6)
    return cross_val_score(LogisticRegression(C=0.1, max_iter=2000), standardised, labels, cv=4).mean()


def test_the_declared_checkpoint_loads_strictly_with_same_padding_and_its_features_beat_random(tmp_path):
    (tmp_path / "tlbench.toml").write_text(f'[sources.tfslim]\nbackbone = "mobilenetv2_100"\nweights = "{CHECKPOINT}"\n'
                                           'model_args = {pad_type = "same"}\n')
    config = load_config(tmp_path)
    source = declared_source(config.sources[0], config.path)
    run = RunSettings(CPU_QUICK.with_overrides(backbone="mobilenetv2_100", image_size=SIZE), torch.device("cpu"),
                      Path("data"), tmp_path / "cache")
    source.prepare(run, data=None)  # every tensor of the file fits the same-padded backbone
    model = source.build(run, 8, seed=0)
    assert type(model.conv_stem).__name__ == "Conv2dSame"
    images, labels = natural_images()
    pretrained = predict(model, images, source.input_convention(run), run.device, features=True)
    random = predict(RandomSource().build(run, 8, seed=0), images, source.input_convention(run), run.device,
                     features=True)
    # measured: 0.89 against 0.47 (8 classes, 160 images, 4-fold)
    assert probe_accuracy(pretrained, labels) > probe_accuracy(random, labels) + 0.25
