"""The presets against the protocols docs/protocol.md describes (its tables are the expected values), and the pieces
that carry them out."""

import ast
import re
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.engine.models import create_backbone, penultimate
from benchmark.engine.staging import StagedImages
from benchmark.engine.svm import svm_scores
from benchmark.engine.training import LabelledImages, _training_loss, train_classifier, validation_metrics
from benchmark.inputs import named
from benchmark.presets import CPU_QUICK, PRESETS, RECOMMENDED, THESIS, THESIS_AS_RUN, Preset


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
    from benchmark.acceleration import Acceleration

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
    from benchmark.acceleration import Acceleration

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


PROTOCOL = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"
ALLOWED = (ast.Expression, ast.Constant, ast.Tuple, ast.BinOp, ast.Div, ast.UnaryOp, ast.USub, ast.Load)


def literal(text: str):
    """A table cell's value: a Python literal, or a quotient of numbers (``1 / 255``)."""
    tree = ast.parse(text, mode="eval")
    if not all(isinstance(node, ALLOWED) for node in ast.walk(tree)):
        raise ValueError(f"{PROTOCOL.name}: {text!r} is not a literal value")
    return eval(compile(tree, PROTOCOL.name, "eval"))


def protocol_tables() -> dict[str, dict]:
    """Each preset's field values as docs/protocol.md's tables give them: the tables whose last column is a
    preset's name in backticks, their rows' field (second-to-last column, `—` for none) and value."""
    tables: dict[str, dict] = {}
    preset = None
    for line in PROTOCOL.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else None
        if cells is None:
            preset = None
        elif preset is None and re.fullmatch(r"`[a-z-]+`", cells[-1]):
            preset = cells[-1].strip("`")
            tables.setdefault(preset, {})
        elif preset is not None and re.fullmatch(r"`\w+`", cells[-2]):
            tables[preset][cells[-2].strip("`")] = literal(cells[-1].strip("`"))
    return tables


TABLES = protocol_tables()


def test_the_protocol_page_gives_thesis_in_full_and_every_other_preset():
    assert set(TABLES) == set(PRESETS)
    assert set(TABLES["thesis"]) == {f.name for f in fields(Preset)} - {"name"}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_preset_is_what_the_protocol_page_says(name):
    expected = {**TABLES["thesis"], **TABLES[name], "name": name}
    assert asdict(PRESETS[name]) == expected


def test_every_quirk_the_page_claims_for_thesis_as_run_has_its_field():
    """No quirk row without a field may claim a value, and thesis-as-run differs from thesis only where a quirk
    row says so."""
    differing = {k for k, v in asdict(THESIS_AS_RUN).items() if v != asdict(THESIS)[k]} - {"name"}
    assert differing <= set(TABLES["thesis-as-run"])
    assert THESIS_AS_RUN.counts_for("chest_xray", source=True) == (200, 200)
    assert THESIS_AS_RUN.counts_for("synth_xray") is None


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
