"""Keras' VGG16 weights converted to timm's vgg16: a random file in Keras' layout, at small widths, computes in timm
what a numpy VGG16 computes the Keras way (HWC images, HWIO kernels, the last feature map flattened in HWC order)."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from timm.models.vgg import VGG

from benchmark.engine.kerasweights import CONVS, read_keras_layers, vgg16_state_dict

h5py = pytest.importorskip("h5py", reason="h5py is not installed (pip install 'tlbench[keras]')")

WIDTHS = (4, 6, 8, 8, 8)  # channels of each block (the real file: 64, 128, 256, 512, 512)
HIDDEN, CLASSES = 16, 5  # fc1's width (the real file: 4096) and the classes (1000); fc2 is 4096 wide in timm
FC2 = 4096


def keras_layers(seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Random VGG16 weights as Keras holds them: conv kernels (3, 3, in, out), Dense kernels (in, out)."""
    rng = np.random.default_rng(seed)
    layers, channels = {}, 3
    for block, (convs, width) in enumerate(zip(CONVS, WIDTHS, strict=True), start=1):
        for conv in range(1, convs + 1):
            scale = np.sqrt(2 / (9 * channels))
            layers[f"block{block}_conv{conv}"] = (rng.normal(0, scale, (3, 3, channels, width)).astype(np.float32),
                                                  rng.normal(0, 0.1, width).astype(np.float32))
            channels = width
    for name, (fan_in, fan_out) in {"fc1": (7 * 7 * channels, HIDDEN), "fc2": (HIDDEN, FC2),
                                    "predictions": (FC2, CLASSES)}.items():
        layers[name] = (rng.normal(0, np.sqrt(2 / fan_in), (fan_in, fan_out)).astype(np.float32),
                        rng.normal(0, 0.1, fan_out).astype(np.float32))
    return layers


def write_keras_file(path: Path, layers: dict, whole_model: bool = False) -> Path:
    """``layers`` in the layout of Keras' ``save_weights`` (the 2016 VGG16 file's weight names, weightless layers
    listed too), or of a whole model's ``save`` (under ``model_weights``)."""
    names = ["input_1"]
    for block, convs in enumerate(CONVS, start=1):
        names += [f"block{block}_conv{conv}" for conv in range(1, convs + 1)] + [f"block{block}_pool"]
    names += ["flatten", "fc1", "fc2", "predictions"]
    with h5py.File(path, "w") as handle:
        root = handle.create_group("model_weights") if whole_model else handle
        root.attrs["layer_names"] = [name.encode() for name in names]
        for name in names:
            group = root.create_group(name)
            weights = [f"{name}_W_1:0", f"{name}_b_1:0"] if name in layers else []
            group.attrs["weight_names"] = [weight.encode() for weight in weights]
            for weight, array in zip(weights, layers.get(name, ()), strict=True):
                group.create_dataset(weight, data=array)
    return path


def keras_conv(image: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Keras' Conv2D(padding="same") of an (H, W, C) image with an (3, 3, C, O) kernel: a cross-correlation."""
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(0, 1))  # (H, W, C, 3, 3)
    return np.einsum("hwcij,ijco->hwo", windows, kernel) + bias


def keras_vgg16(image: np.ndarray, layers: dict) -> tuple[np.ndarray, np.ndarray]:
    """The Keras VGG16's last feature map (7, 7, C) and its logits (before the softmax) for an (224, 224, 3)
    image."""
    x = image
    for block, convs in enumerate(CONVS, start=1):
        for conv in range(1, convs + 1):
            x = np.maximum(keras_conv(x, *layers[f"block{block}_conv{conv}"]), 0)
        height, width, channels = x.shape
        x = x.reshape(height // 2, 2, width // 2, 2, channels).max(axis=(1, 3))
    features = x
    x = features.reshape(-1)  # Keras' Flatten: (height, width, channel) order
    for name in ("fc1", "fc2"):
        kernel, bias = layers[name]
        x = np.maximum(x @ kernel + bias, 0)
    kernel, bias = layers["predictions"]
    return features, x @ kernel + bias


def small_timm_vgg() -> VGG:
    """timm's VGG16 at the widths of :func:`keras_layers`."""
    cfg = []
    for convs, width in zip(CONVS, WIDTHS, strict=True):
        cfg += [width] * convs + ["M"]
    return VGG(cfg, num_classes=CLASSES, mlp_ratio=HIDDEN / FC2).eval()


@pytest.mark.parametrize("whole_model", [False, True])
def test_converted_weights_compute_what_keras_computes(tmp_path, whole_model):
    layers = keras_layers()
    read = read_keras_layers(write_keras_file(tmp_path / "vgg16.h5", layers, whole_model))
    assert set(read) == set(layers)
    tensors = vgg16_state_dict(read, "vgg16.h5")
    image = np.random.default_rng(1).uniform(-120, 140, (224, 224, 3)).astype(np.float32)  # caffe-style input
    batch = torch.from_numpy(image.transpose(2, 0, 1)[None].copy())

    first = F.conv2d(batch, tensors["features.0.weight"], tensors["features.0.bias"], padding=1)
    expected = keras_conv(image.astype(np.float64), *layers["block1_conv1"])
    np.testing.assert_allclose(first[0].numpy().transpose(1, 2, 0), expected, rtol=1e-4, atol=1e-3)

    features, logits = keras_vgg16(image.astype(np.float64), layers)
    feature_map = torch.from_numpy(features.transpose(2, 0, 1)[None].astype(np.float32))
    fc1 = F.conv2d(feature_map, tensors["pre_logits.fc1.weight"], tensors["pre_logits.fc1.bias"])
    keras_fc1 = features.reshape(-1) @ layers["fc1"][0] + layers["fc1"][1]
    np.testing.assert_allclose(fc1.flatten().numpy(), keras_fc1, rtol=1e-4, atol=1e-3)
    channel_first = torch.from_numpy(layers["fc1"][0].T.reshape(HIDDEN, WIDTHS[-1], 7, 7).copy())
    naive = F.conv2d(feature_map, channel_first, tensors["pre_logits.fc1.bias"]).flatten().numpy()
    assert np.abs(naive - keras_fc1).max() > 0.1, "the channel-first reshape (the porting bug) computes otherwise"

    model = small_timm_vgg()
    model.load_state_dict(tensors, strict=True)
    with torch.no_grad():
        np.testing.assert_allclose(model(batch)[0].numpy(), logits, rtol=1e-3, atol=1e-2)


def test_files_that_are_not_keras_vgg16_with_its_top_are_refused_with_what_to_give(tmp_path, cli):
    layers = keras_layers()
    notop = {name: arrays for name, arrays in layers.items() if name.startswith("block")}
    result = cli("convert-keras", write_keras_file(tmp_path / "notop.h5", notop), tmp_path / "out.pt")
    assert result.exit_code == 1 and "a _notop file has no fc1, fc2 or predictions" in " ".join(result.output.split())
    theano = {**layers, "block1_conv1": (layers["block1_conv1"][0].transpose(3, 2, 0, 1), layers["block1_conv1"][1])}
    result = cli("convert-keras", write_keras_file(tmp_path / "th.h5", theano), tmp_path / "out.pt")
    assert result.exit_code == 1 and "not (3, 3, in, out)" in " ".join(result.output.split())
    result = cli("convert-keras", write_keras_file(tmp_path / "small.h5", layers), tmp_path / "out.pt")
    assert result.exit_code == 1 and "does not fit timm's vgg16" in " ".join(result.output.split())
    (tmp_path / "text.h5").write_text("not hdf5")
    result = cli("convert-keras", tmp_path / "text.h5", tmp_path / "out.pt")
    assert result.exit_code == 1 and "is not an HDF5 file" in " ".join(result.output.split())
    assert not (tmp_path / "out.pt").exists()
