"""Keras' VGG16 ImageNet weights (``vgg16_weights_tf_dim_ordering_tf_kernels.h5``) as a state dict of timm's
``vgg16``.

The study fed these Caffe-derived weights BGR pixels in 0-255 with the ImageNet mean subtracted (declare the
converted file with ``input = "caffe"``, which feeds exactly that; the first convolution keeps its BGR channel
order). Layers are read as Keras reads a weights file: the root's ``layer_names``, each layer group's
``weight_names`` (``model_weights`` holds them in a whole-model file). Convolution kernels are (height, width, in,
out) and become (out, in, height, width). Keras flattens the last 7 x 7 x 512 feature map in (height, width,
channel) order before ``fc1``, so its (25088, 4096) kernel is reshaped to (7, 7, 512, 4096) and permuted into
timm's (4096, 512, 7, 7) convolution, ``pre_logits.fc1``: taking the rows in channel-first order instead, the
classic porting bug, loads without complaint and computes something else. ``fc2`` becomes the 1 x 1 convolution
``pre_logits.fc2`` and ``predictions`` the classifier ``head.fc``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

# Keras' VGG16 layer names with their timm names: block b has CONVS[b - 1] convolutions, then a max pool
CONVS = (2, 2, 3, 3, 3)
DENSE = {"fc1": "pre_logits.fc1", "fc2": "pre_logits.fc2", "predictions": "head.fc"}
FILE_NAME = "vgg16_weights_tf_dim_ordering_tf_kernels.h5"


class KerasWeightsError(ValueError):
    """A file that is not Keras' VGG16 weights with its top; the message says what to use instead."""


def conv_names() -> dict[str, str]:
    """Keras' name of each VGG16 convolution with timm's ``features`` index (a ReLU after each convolution, a max
    pool after each block)."""
    names, index = {}, 0
    for block, convs in enumerate(CONVS, start=1):
        for conv in range(1, convs + 1):
            names[f"block{block}_conv{conv}"] = f"features.{index}"
            index += 2
        index += 1
    return names


def read_keras_layers(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each layer of a Keras weights file (``save_weights`` or a whole model's ``save``) that has weights, as
    (kernel, bias) float32 arrays."""
    try:
        import h5py
    except ModuleNotFoundError:
        raise KerasWeightsError("reading Keras .h5 weights needs h5py: pip install 'tlbench[keras]'") from None
    path = Path(path)
    if not path.is_file():
        raise KerasWeightsError(f"{path} {'is not a regular file' if path.exists() else 'does not exist'}")
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise KerasWeightsError(f"{path} is not an HDF5 file ({error}); give Keras' {FILE_NAME}") from None
    with handle:
        root = handle["model_weights"] if "model_weights" in handle else handle
        layers = {}
        for name in _names(root, "layer_names"):
            group = root[name]
            arrays = [np.asarray(group[weight], dtype=np.float32) for weight in _names(group, "weight_names")]
            if not arrays:
                continue
            if len(arrays) != 2 or arrays[1].ndim != 1:
                raise KerasWeightsError(f"{path}: layer {name} holds {len(arrays)} arrays, not a kernel and a bias")
            layers[name] = (arrays[0], arrays[1])
    if not layers:
        raise KerasWeightsError(f"{path} holds no Keras layer weights (no layer_names); give Keras' {FILE_NAME}")
    return layers


def _names(group, attribute: str) -> list[str]:
    """A Keras name list attribute, also when Keras split a long one into ``<attribute>0``, ``<attribute>1``, ..."""
    values = list(group.attrs[attribute]) if attribute in group.attrs else []
    chunk = 0
    while f"{attribute}{chunk}" in group.attrs:
        values += list(group.attrs[f"{attribute}{chunk}"])
        chunk += 1
    return [value.decode("utf8") if isinstance(value, bytes) else str(value) for value in values]


def vgg16_state_dict(layers: dict[str, tuple[np.ndarray, np.ndarray]], label: str) -> dict[str, torch.Tensor]:
    """timm ``vgg16`` tensors from Keras' VGG16 ``layers`` (:func:`read_keras_layers`); ``label`` names the file
    in errors."""
    expected = [*conv_names(), *DENSE]
    missing = [name for name in expected if name not in layers]
    if missing:
        notop = " (a _notop file has no fc1, fc2 or predictions)" if set(missing) >= set(DENSE) else ""
        raise KerasWeightsError(f"{label} lacks the VGG16 layers {', '.join(missing)}{notop}; give Keras' {FILE_NAME}")
    tensors = {}
    for keras, timm in conv_names().items():
        kernel, bias = layers[keras]
        if kernel.ndim != 4 or kernel.shape[:2] != (3, 3) or kernel.shape[3] != len(bias):
            raise KerasWeightsError(f"{label}: {keras}'s kernel is {kernel.shape}, not (3, 3, in, out) as TensorFlow "
                                    f"orders it (a Theano-ordered _th_ file?); give Keras' {FILE_NAME}")
        tensors[f"{timm}.weight"] = _tensor(kernel.transpose(3, 2, 0, 1))
        tensors[f"{timm}.bias"] = _tensor(bias)
    channels = layers["block5_conv3"][0].shape[3]
    for keras, timm in DENSE.items():
        kernel, bias = layers[keras]
        if kernel.ndim != 2 or kernel.shape[1] != len(bias):
            raise KerasWeightsError(f"{label}: {keras}'s kernel is {kernel.shape}, not a Dense (in, out) kernel")
        if keras == "fc1":
            side = math.isqrt(kernel.shape[0] // channels)
            if side * side * channels != kernel.shape[0]:
                raise KerasWeightsError(f"{label}: fc1 takes {kernel.shape[0]} inputs, not a square map of "
                                        f"{channels} channels")
            weight = kernel.reshape(side, side, channels, -1).transpose(3, 2, 0, 1)  # (h, w, c) flatten order
        elif keras == "fc2":
            weight = kernel.T[:, :, None, None]
        else:
            weight = kernel.T
        tensors[f"{timm}.weight"] = _tensor(weight)
        tensors[f"{timm}.bias"] = _tensor(bias)
    return tensors


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def convert_keras_vgg16(source: Path, target: Path) -> dict[str, torch.Tensor]:
    """Convert Keras' VGG16 weights at ``source`` into a torch state dict of timm's ``vgg16`` at ``target``, after
    loading it strictly into that model (any other shape is a :class:`KerasWeightsError`); return the tensors."""
    import timm

    tensors = vgg16_state_dict(read_keras_layers(source), str(source))
    model = timm.create_model("vgg16", pretrained=False, num_classes=len(tensors["head.fc.bias"]))
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as error:
        raise KerasWeightsError(f"{source} does not fit timm's vgg16: {error}") from None
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save(tensors, target)
    return tensors
