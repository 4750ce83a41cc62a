import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY
from fakedata import no_builtin_datasets
from PIL import Image

import benchmark.report.filters.activationmax as activationmax
from benchmark.engine.inputs import attach
from benchmark.engine.models import create_backbone
from benchmark.engine.seeding import seeded
from benchmark.inputs import named
from benchmark.presets import Preset
from benchmark.registry.pluginmanager import load_catalog
from benchmark.report.figures import VisualizerContext
from benchmark.report.filters.activationmax import high_frequency_share, maximise
from benchmark.report.filters.filtersets import filter_pairs, model_filters, stage_weights
from benchmark.run.keptmodels import row_kept_path, save_model
from benchmark.run.store import Store
from benchmark.settings import RunSettings
from tlbench_plugins.visualizers.filters import FilterVisualizer

PLUGINS = ["tiny_plugin", *no_builtin_datasets()]
BASE = [arg for flag in PLUGINS for arg in ("-p", flag)]
FEW_STEPS = 24  # regularised steps in tests: enough to rise, a few seconds on two cores


@pytest.fixture
def stage2():
    torch.set_num_threads(1)  # convolutions this small gain nothing from a second thread (conftest restores it)
    with seeded(0):
        model = create_backbone("test_resnet", 2).eval()
    return model, dict(model.named_modules())[model.feature_info[1]["module"]]


@pytest.mark.parametrize("style, steps", [("thesis", None), ("regularised", FEW_STEPS)])
def test_each_channel_reaches_more_than_on_its_starting_noise(stage2, style, steps):
    model, module = stage2
    start = maximise(model, module, range(16), 16, named("unit"), "cpu", style=style, steps=0)[1]
    images, reached = maximise(model, module, range(16), 16, named("unit"), "cpu", style=style, steps=steps)
    assert images.shape == (16, 16, 16, 3) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 1
    assert (reached > start).sum() >= 12  # a channel dead on every image tried cannot rise
    assert (reached >= start - 1e-6).all()


def test_regularised_images_are_smoother_than_the_thesis_ones(stage2):
    model, module = stage2
    thesis = maximise(model, module, range(12), 16, named("unit"), "cpu", style="thesis")[0]
    regularised = maximise(model, module, range(12), 16, named("unit"), "cpu", steps=FEW_STEPS)[0]
    rough, smooth = high_frequency_share(thesis).mean(), high_frequency_share(regularised).mean()
    assert rough > 0.5 and smooth < rough / 2, (rough, smooth)


@pytest.mark.parametrize("style, steps", [("thesis", 6), ("regularised", 6)])
def test_a_batched_call_equals_per_channel_calls(stage2, style, steps):
    model, module = stage2
    channels = [3, 7, 11, 20]
    images, reached = maximise(model, module, channels, 16, named("unit"), "cpu", style=style, steps=steps, seed=4)
    for i, channel in enumerate(channels):
        one, alone = maximise(model, module, [channel], 16, named("unit"), "cpu", style=style, steps=steps, seed=4)
        np.testing.assert_allclose(one[0], images[i], atol=1e-4)
        np.testing.assert_allclose(alone[0], reached[i], rtol=1e-4, atol=1e-6)


def test_an_unknown_style_is_refused(stage2):
    with pytest.raises(ValueError, match="thesis"):
        maximise(*stage2, [0], 16, named("unit"), "cpu", style="pretty")


def _tiny_run(cli, out: Path, methods: tuple[str, ...]):
    args = [arg for m in methods for arg in ("-m", m)]
    result = cli(*BASE, "run", "-d", "tiny_tgt", "-s", "tiny_src", *args, "--seeds", "2", "--out", out, *TINY,
                 "--threads", "1")
    assert result.exit_code == 0, result.output


def test_filters_command_draws_every_channel_of_each_stage_and_the_first_conv(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(activationmax, "THESIS_STEPS", 4)
    out = tmp_path / "runs"
    _tiny_run(cli, out, ("fe-svm",))
    result = cli(*BASE, "visualize", "filters", "--out", out, "--style", "thesis")
    assert result.exit_code == 0, result.output
    figures = out / "figures"
    stem = "filters-tiny_src-test_resnet-16px"
    assert sorted(p.name for p in figures.glob("*.png")) == sorted(
        [f"{stem}-stage{s}.png" for s in (1, 2, 3)] + [f"{stem}-conv1.png"])
    # test_resnet's stages 1-3 have 32, 32 and 48 channels: grids of 6 x 6, 6 x 6 and 7 x 7 tiles
    sizes = [Image.open(figures / f"{stem}-stage{s}.png").size for s in (1, 2, 3)]
    assert sizes[0] == sizes[1] and sizes[2][0] > sizes[1][0] and sizes[2][1] > sizes[1][1]
    assert sizes[0][0] >= 6 * 96


def _context(out: Path, style: str = "regularised") -> VisualizerContext:
    settings = RunSettings.build(device="cpu", preset="cpu-quick", data_root=out / "data",
                                 cache_dir=Path(os.environ["TLBENCH_CACHE"]))
    return VisualizerContext(Store(out), load_catalog(PLUGINS), settings, out / "figures", style=style)


def test_a_kept_fine_tuned_model_is_drawn_and_paired_with_its_starting_weights(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(activationmax, "STEPS", 4)
    out = tmp_path / "runs"
    _tiny_run(cli, out, ("ft-svm",))
    ctx = _context(out)
    ctx.out_dir.mkdir()
    (row,) = ctx.rows()
    preset = Preset.from_fields(row["preset"])
    source = ctx.catalog.all_sources()["tiny_src"]
    settings = replace(ctx.settings, preset=preset)
    with seeded(row["seed"]):
        start = source.build(settings, 2, row["seed"])
    tuned = create_backbone(preset.backbone, 2)
    tuned.load_state_dict(start.state_dict())
    with torch.no_grad():  # stands for fine-tuning: every weight moved
        for parameter in tuned.parameters():
            parameter.add_(0.05)
    # in place of the kept model of the row's shared training
    save_model(out, row_kept_path(out, row).stem, tuned, preset.backbone, 2, named(preset.normalize),
               {"seed": row["seed"]})

    figures = FilterVisualizer().render(ctx)
    names = {f.path.name for f in figures}
    kept = f"ft-svm-tiny_src-tiny_tgt-seed{row['seed']}-test_resnet-16px-{row['config_hash'][:8]}"
    assert {f"filters-{kept}-stage{s}.png" for s in (1, 2, 3)} | {f"filters-{kept}-conv1.png"} <= names
    assert all(f.path.exists() and f.title and f.caption for f in figures)

    ((before, after),) = filter_pairs(ctx)
    assert after.kind == "fine-tuned" and after.config_hash == row["config_hash"]
    assert [len(s.channels) for s in after.stages] == [32, 32, 48]
    fresh = stage_weights(attach(start, named(preset.normalize)), [s.module for s in before.stages], 16)
    for stage in (1, 2, 3):
        np.testing.assert_array_equal(before.stage_weights[stage], fresh[stage])
        np.testing.assert_allclose(after.stage_weights[stage], fresh[stage] + 0.05, atol=1e-6)
    assert len(before.stage_weights[1]) < len(before.stage_weights[2]) < len(before.stage_weights[3])
    np.testing.assert_array_equal(before.first_conv, start.conv1[0].weight.detach().permute(0, 2, 3, 1).numpy())
    # the source's weights do not depend on the seed of the new head: the source model's filters are reused
    assert before is next(m for m in model_filters(ctx) if m.kind == "source")


def test_grids_are_drawn_for_every_source_and_the_lowest_seed_of_each_fine_tuning():
    from types import SimpleNamespace

    from tlbench_plugins.visualizers.filters import drawn

    def model(kind, source, target=None, seed=0):
        return SimpleNamespace(kind=kind, source=source, target=target, seed=seed, method="ft-svm", image_size=32)

    models = [model("source", "a"), model("source", "b"), model("fine-tuned", "a", "x", 5),
              model("fine-tuned", "a", "x", 2), model("fine-tuned", "a", "y", 7), model("fine-tuned", "b", "x", 2)]
    assert drawn(models) == [models[0], models[1], models[3], models[4], models[5]]
