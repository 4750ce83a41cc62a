"""The ResNets of MedMNIST v2's baselines (Yang et al. 2023), registered as timm models so that a preset names
them like any backbone.

What the paper's experiment code (github.com/MedMNIST/experiments, MedMNIST2D/models.py and
train_and_eval_pytorch.py) builds:

- at 28 px, kuangliu/pytorch-cifar's ResNet: the stem is one 3x3 convolution with stride 1 and padding 1,
  batch norm and ReLU, with no max pooling, so the four stages see 28, 14, 7 and 4 px; PyTorch's default
  initialisation (the code sets none). Registered as ``medmnist_resnet18_28`` and ``medmnist_resnet50_28``.
- at 224 px (``--resize``), torchvision's ``resnet18``/``resnet50(pretrained=False)``: the ImageNet stem, He
  initialisation, the last batch norm of each block starting at one (torchvision's ``zero_init_residual=False``,
  where timm's own ResNets start it at zero). Registered as ``medmnist_resnet18_224`` and ``medmnist_resnet50_224``.

The paper's 28 px models take one channel for grey flags; tlbench feeds three identical grey channels, which a
3-channel first convolution turns into the same function class (the sum of its channel weights acts as the
one-channel kernel); only that layer's initial scale differs.
"""

from __future__ import annotations

import torch
from timm.models import register_model
from timm.models.resnet import BasicBlock, Bottleneck, ResNet

_BUILD_KEYS = ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir")


def _cifar_stem(model: ResNet) -> ResNet:
    """``model`` with kuangliu's 28/32 px stem and PyTorch's default initialisation in every layer."""
    model.conv1 = torch.nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = torch.nn.Identity()
    for module in model.modules():
        if module is not model and hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return model


def _resnet(block, layers, pretrained: bool, kwargs: dict, **options) -> ResNet:
    if pretrained:
        raise ValueError("MedMNIST's baselines are trained from scratch: there are no pretrained weights for them")
    for key in _BUILD_KEYS:
        kwargs.pop(key, None)
    return ResNet(block=block, layers=layers, **options, **kwargs)


@register_model
def medmnist_resnet18_28(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-18 of MedMNIST v2 for 28 px inputs (kuangliu's CIFAR ResNet)."""
    return _cifar_stem(_resnet(BasicBlock, (2, 2, 2, 2), pretrained, kwargs))


@register_model
def medmnist_resnet50_28(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-50 of MedMNIST v2 for 28 px inputs (kuangliu's CIFAR ResNet)."""
    return _cifar_stem(_resnet(Bottleneck, (3, 4, 6, 3), pretrained, kwargs))


@register_model
def medmnist_resnet18_224(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-18 of MedMNIST v2 for 224 px inputs (torchvision's resnet18, randomly initialised)."""
    return _resnet(BasicBlock, (2, 2, 2, 2), pretrained, kwargs, zero_init_last=False)


@register_model
def medmnist_resnet50_224(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-50 of MedMNIST v2 for 224 px inputs (torchvision's resnet50, randomly initialised)."""
    return _resnet(Bottleneck, (3, 4, 6, 3), pretrained, kwargs, zero_init_last=False)
