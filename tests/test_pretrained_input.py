"""How pretrained weights are fed: their own convention, the preset's, or their own without the mean subtracted
(thesis-as-run: the study fed Caffe-derived Keras VGG16 weights raw BGR 0-255, an offset of the ImageNet mean)."""

import dataclasses
from pathlib import Path

import pytest
import timm
import torch

from benchmark.engine.inputs import pretrained_input
from benchmark.inputs import CAFFE_MEAN_BGR, IMAGENET_MEAN, IMAGENET_STD, named
from benchmark.presets import THESIS, THESIS_AS_RUN
from benchmark.registry.config import load_config
from benchmark.registry.declaredsources import declared_source
from benchmark.settings import RunSettings
from tlbench_plugins.sources.builtin import ImageNetSource

PIXELS = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))  # RGB in [0, 1]


def test_caffe_input_is_bgr_0_255_less_the_imagenet_mean():
    out = named("caffe").apply(PIXELS)
    expected = PIXELS.flip(1) * 255 - torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)
    torch.testing.assert_close(out, expected)


def test_unshifted_caffe_weights_get_the_studys_raw_bgr_0_255():
    studys = pretrained_input(named("caffe"), THESIS_AS_RUN).apply(PIXELS)
    torch.testing.assert_close(studys, named("bgr255").apply(PIXELS))
    torch.testing.assert_close(studys - named("caffe").apply(PIXELS),
                               torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1).expand_as(studys))  # the study's offset


def test_unshifted_timm_weights_get_the_same_offset_in_their_own_units_not_a_scale_error():
    own = named("imagenet")
    fed = pretrained_input(own, THESIS_AS_RUN)
    offset = fed.apply(PIXELS) - own.apply(PIXELS)
    expected = torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD)
    torch.testing.assert_close(offset, expected.view(1, 3, 1, 1).expand_as(offset))
    # the same share of the input range as the study's offset: the ImageNet mean of the 0-1 range
    assert fed.apply(PIXELS).abs().max() < 5  # "preset" fed raw 0-255, a scale error of about 60
    assert pretrained_input(own, THESIS) is own
    assert pretrained_input(own, THESIS.with_overrides(pretrained_input="preset")) == named(THESIS.normalize)


def test_thesis_as_run_names_the_weights_and_convention_its_imagenet_columns_used(tmp_path):
    torch.save(timm.create_model("test_resnet").state_dict(), tmp_path / "w.pth")
    run = RunSettings(THESIS_AS_RUN.with_overrides(backbone="test_resnet"), torch.device("cpu"), Path("data"),
                      tmp_path, imagenet_weights=tmp_path / "w.pth")
    fed = ImageNetSource().input_convention(run)
    assert fed.describe().startswith("imagenet (test_resnet pretrained_cfg), mean not subtracted: RGB 0-1")
    assert fed.mean == (0.0, 0.0, 0.0) and fed.std == timm.models.get_pretrained_cfg("test_resnet").std


def test_a_declared_source_may_name_the_caffe_input(tmp_path):
    (tmp_path / "tlbench.toml").write_text('[sources.keras-vgg16]\nbackbone = "vgg16"\nweights = "vgg16_keras.pth"\n'
                                           'input = "caffe"\n')
    config = load_config(tmp_path)
    source = declared_source(config.sources[0], config.path)
    run = RunSettings(THESIS, torch.device("cpu"), Path("data"), tmp_path)
    assert dataclasses.replace(source.input_convention(run), name="caffe") == named("caffe")
    as_run = dataclasses.replace(run, preset=THESIS_AS_RUN)
    torch.testing.assert_close(source.input_convention(as_run).apply(PIXELS), named("bgr255").apply(PIXELS))
    (tmp_path / "tlbench.toml").write_text('[sources.k]\nbackbone = "vgg16"\nweights = "w.pth"\ninput = "caffe"\n'
                                           'mean = [0.5, 0.5, 0.5]\n')
    ((_, error),) = load_config(tmp_path).broken_sources
    assert "not given with mean or std" in error


def test_an_unknown_pretrained_input_is_refused():
    with pytest.raises(ValueError, match="use one of source, preset, unshifted"):
        THESIS.with_overrides(pretrained_input="caffe")
