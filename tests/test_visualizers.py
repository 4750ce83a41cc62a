import torch
from conftest import TINY
from fakedata import no_builtin_datasets
from PIL import Image

from benchmark.engine.inputs import named
from benchmark.engine.models import create_backbone
from tlbench_plugins.visualizers.filters import maximise_channels


def test_gradient_ascent_raises_each_channels_activation():
    torch.manual_seed(0)
    model = create_backbone("test_resnet", 2)
    module = dict(model.named_modules())[model.feature_info[0]["module"]]
    captured = {}
    module.register_forward_hook(lambda _m, _i, out: captured.__setitem__("out", out))

    def activations(images):
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
        with torch.no_grad():
            model.eval()(x)
        return captured["out"][torch.arange(8), torch.arange(8)].mean(dim=(1, 2))

    start = torch.rand(8, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 20 + 128
    images = maximise_channels(model, module, 8, 16, named("unit"))
    assert images.shape == (8, 16, 16, 3)
    before, after = activations(start.permute(0, 2, 3, 1).numpy()), activations(images)
    assert (after >= before).all() and (after > before).sum() >= 6  # a dead ReLU channel cannot rise


def test_filters_command_draws_every_trained_source(cli, tmp_path):
    out = tmp_path / "runs"
    base = ["-p", "tiny_plugin", *(arg for flag in no_builtin_datasets() for arg in ("-p", flag))]
    assert cli(*base, "run", "-d", "tiny_tgt", "-s", "tiny_src", "-m", "fe-svm", "--seeds", "2", "--out", out,
               *TINY).exit_code == 0
    result = cli(*base, "visualize", "filters", "--out", out)
    assert result.exit_code == 0, result.output
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert figures == [f"filters-tiny_src-test_resnet-16px-stage{s}.png" for s in (1, 2, 3)]
    assert Image.open(out / "figures" / figures[0]).size[0] > 100
