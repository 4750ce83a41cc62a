"""Weights files of every format into their timm model, and the errors that say which keys do not fit."""

import pytest
import torch
from safetensors.torch import save_file

from benchmark.engine.models import create_backbone
from benchmark.engine.weightfiles import (
    WeightsFileError,
    file_tensors,
    head_classes,
    load_weights,
    tensors_digest,
    timm_layout,
)


@pytest.fixture(scope="module")
def reference():
    """A test_resnet whose weights differ from any fresh one."""
    torch.manual_seed(11)
    return create_backbone("test_resnet", 5)


def loaded(path, model_name="test_resnet", prefix="", num_classes=3, image_size=None):
    model = create_backbone(model_name, num_classes, image_size=image_size)
    return load_weights(model, timm_layout(file_tensors(path, prefix), model), str(path))


def assert_same_body(model, state):
    own = model.state_dict()
    body = [name for name in own if not name.startswith("fc.")]
    assert body and all(torch.equal(own[name], state[name]) for name in body)


def test_a_timm_state_dict_loads_and_the_new_head_is_kept(tmp_path, reference):
    path = tmp_path / "w.pth"
    torch.save(reference.state_dict(), path)
    model = loaded(path)
    assert_same_body(model, reference.state_dict())
    assert model.state_dict()["fc.weight"].shape == (3, reference.fc.in_features)


def test_torchvision_resnet_keys_load_into_timm_resnet(tmp_path):
    import torchvision

    torch.manual_seed(3)
    torchvision_model = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18-torchvision.pth"
    torch.save(torchvision_model.state_dict(), path)
    model = loaded(path, "resnet18", num_classes=2)
    assert_same_body(model, torchvision_model.state_dict())
    features = torch.nn.Sequential(*list(torchvision_model.children())[:-1]).eval()
    x = torch.rand(2, 3, 32, 32)
    assert torch.allclose(model.eval().forward_head(model.forward_features(x), pre_logits=True),
                          features(x).flatten(1), atol=1e-5)


def test_a_lightning_checkpoint_with_a_prefix(tmp_path, reference):
    path = tmp_path / "last.ckpt"
    wrapped = {f"model.{k}": v for k, v in reference.state_dict().items()}
    wrapped["loss_fn.weight"] = torch.ones(2)  # another network in the module: dropped by the prefix
    torch.save({"state_dict": wrapped, "epoch": 7, "global_step": 70, "hyper_parameters": {"lr": 0.1}}, path)
    assert_same_body(loaded(path, prefix="model."), reference.state_dict())
    with pytest.raises(WeightsFileError, match=r'look like the model\'s under a prefix: set prefix = "model\."\n'
                                               r'  75 key\(s\) of the model are not in the file: conv1.0.weight '
                                               r'\(nearest: model.conv1.0.weight'):
        loaded(path)


def test_a_plain_checkpoint_under_model_and_a_ddp_prefix(tmp_path, reference):
    path = tmp_path / "checkpoint.pt"
    ddp = {f"module.{k}": v for k, v in reference.state_dict().items()}
    torch.save({"model": ddp, "optimizer": {"state": {}, "param_groups": []}, "epoch": 3}, path)
    assert_same_body(loaded(path), reference.state_dict())


def test_safetensors_load_and_digest_as_the_same_tensors_in_a_pth(tmp_path, reference):
    state = {k: v.contiguous() for k, v in reference.state_dict().items()}
    save_file(state, tmp_path / "model.safetensors")
    torch.save(state, tmp_path / "model.pth")
    assert_same_body(loaded(tmp_path / "model.safetensors"), state)
    assert tensors_digest(tmp_path / "model.safetensors") == tensors_digest(tmp_path / "model.pth")
    torch.save({k: v + 1 if v.is_floating_point() else v for k, v in state.items()}, tmp_path / "other.pth")
    assert tensors_digest(tmp_path / "other.pth") != tensors_digest(tmp_path / "model.pth")


def test_a_vit_at_another_image_size_gets_its_position_embedding_resized(tmp_path):
    torch.manual_seed(0)
    vit = create_backbone("test_vit", 0)  # built for timm's 160 px
    path = tmp_path / "vit.pth"
    torch.save(vit.state_dict(), path)
    model = loaded(path, "test_vit", image_size=32)
    assert model.pos_embed.shape[1] < vit.pos_embed.shape[1]
    assert torch.equal(model.state_dict()["blocks.0.attn.qkv.weight"], vit.state_dict()["blocks.0.attn.qkv.weight"])
    assert model(torch.rand(1, 3, 32, 32)).shape == (1, 3)


def test_the_files_own_classifier_is_found_when_it_fits(tmp_path, reference):
    path = tmp_path / "w.pth"
    torch.save(reference.state_dict(), path)
    probe = create_backbone("test_resnet", 1)
    assert head_classes(file_tensors(path), probe) == 5
    with_head = load_weights(create_backbone("test_resnet", 5), file_tensors(path), "w", with_head=True)
    assert torch.equal(with_head.fc.weight, reference.fc.weight)
    headless = {k: v for k, v in reference.state_dict().items() if not k.startswith("fc.")}
    assert head_classes(headless, probe) is None
    assert_same_body(load_weights(create_backbone("test_resnet", 2), headless, "headless"), reference.state_dict())


def test_missing_and_unexpected_keys_are_named_with_the_nearest(tmp_path, reference):
    state = dict(reference.state_dict())
    state["layer1.0.conv_1.weight"] = state.pop("layer1.0.conv1.weight")
    del state["layer2.0.bn2.bias"]
    path = tmp_path / "renamed.pth"
    torch.save(state, path)
    with pytest.raises(WeightsFileError) as error:
        loaded(path)
    message = str(error.value)
    assert "2 key(s) of the model are not in the file" in message
    assert "layer1.0.conv1.weight (nearest: layer1.0.conv_1.weight" in message
    assert "layer2.0.bn2.bias (nearest: layer" in message
    assert ("1 key(s) of the file are not in the model: layer1.0.conv_1.weight (nearest: layer1.0.conv1.weight"
            in message)


def test_a_shape_mismatch_names_both_shapes(tmp_path, reference):
    path = tmp_path / "other_arch.pth"
    torch.save(create_backbone("resnet18", 5).state_dict(), path)
    with pytest.raises(WeightsFileError, match=r"tensor\(s\) differ in shape: conv1.0.weight|key\(s\) of the model"):
        loaded(path)
    state = dict(reference.state_dict())
    state["layer1.0.conv1.weight"] = torch.zeros(1, 1, 1, 1)
    torch.save(state, path)
    with pytest.raises(WeightsFileError, match=r"1 tensor\(s\) differ in shape: layer1.0.conv1.weight: file "
                                               r"\(1, 1, 1, 1\), model \(\d+, \d+, 3, 3\)"):
        loaded(path)


def test_files_that_cannot_be_read_say_why(tmp_path, reference):
    with pytest.raises(WeightsFileError, match="does not exist"):
        file_tensors(tmp_path / "nope.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not weights at all")
    with pytest.raises(WeightsFileError, match="not a readable torch or safetensors"):
        file_tensors(garbage)
    pickled = tmp_path / "pickled.ckpt"
    torch.save({"state_dict": reference.state_dict(), "config": WeightsFileError("an object")}, pickled)
    with pytest.raises(WeightsFileError, match=r"holds Python objects besides tensors "
                                               r"\(benchmark.engine.weightfiles.WeightsFileError\).*torch.save\(torch.load"):
        file_tensors(pickled)
    empty = tmp_path / "empty.pt"
    torch.save({"epoch": 3, "notes": {"a": 1}}, empty)
    with pytest.raises(WeightsFileError, match="holds no tensors at its top level nor under any of state_dict"):
        file_tensors(empty)
    plain = tmp_path / "plain.pth"
    torch.save(reference.state_dict(), plain)
    with pytest.raises(WeightsFileError, match=r"no key of .* starts with prefix 'encoder\.'; its keys start with "
                                               r"bn1\., conv1\."):
        file_tensors(plain, "encoder.")
