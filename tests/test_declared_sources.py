"""Sources declared in tlbench.toml (a weights file for a timm backbone) and ``timm:MODEL`` sources from the
Hugging Face cache: their config, status, input, identity and models, and runs through the CLI."""

import json
import sqlite3
from pathlib import Path

import pytest
import timm
import torch
from conftest import TINY
from safetensors.torch import save_file

from benchmark.engine.models import create_backbone
from benchmark.engine.pretrainedsource import PretrainedSource
from benchmark.engine.weightfiles import WeightsFileError, tensors_digest
from benchmark.presets import CPU_QUICK
from benchmark.registry.catalog import Catalog
from benchmark.registry.config import load_config
from benchmark.registry.declaredsources import add_timm_sources, declared_source, register_declared_sources
from benchmark.run.keptmodels import load_model
from benchmark.settings import RunSettings

PRESET = CPU_QUICK.with_overrides(image_size=16, max_epochs=2)
TEST_RESNET_CFG = timm.models.get_pretrained_cfg("test_resnet").to_dict()


def settings(tmp_path, **kwargs):
    return RunSettings(PRESET, torch.device("cpu"), Path("data"), tmp_path / "cache", **kwargs)


def declare(folder: Path, body: str):
    (folder / "tlbench.toml").write_text(body)
    return load_config(folder)


@pytest.fixture
def weights(tmp_path):
    """A 5-class test_resnet saved as a Lightning checkpoint under ``model.``, and its state dict."""
    torch.manual_seed(4)
    state = create_backbone("test_resnet", 5).state_dict()
    (tmp_path / "w").mkdir()
    torch.save({"state_dict": {f"model.{k}": v for k, v in state.items()}, "epoch": 1}, tmp_path / "w" / "last.ckpt")
    return state


def test_a_declared_source_is_read_with_its_file_relative_to_the_config(tmp_path):
    config = declare(tmp_path, '[sources.rad]\nbackbone = "resnet50"\nweights = "w/rad.pth"\nprefix = "backbone."\n'
                               'mean = [0.5, 0.5, 0.5]\ninterpolation = "bicubic"\n')
    (rad,) = config.sources
    assert (rad.name, rad.backbone, rad.weights, rad.prefix) == ("rad", "resnet50", tmp_path / "w" / "rad.pth",
                                                                 "backbone.")
    assert (rad.mean, rad.std, rad.interpolation) == ((0.5, 0.5, 0.5), None, "bicubic")
    assert config.broken_sources == ()


@pytest.mark.parametrize("body, message", [
    ('backbone = "resnet18"\nweights = "w.pth"\nweight = 1', "unknown key(s) weight; known: backbone, description"),
    ('weights = "w.pth"', 'give backbone, a timm model name, e.g. "resnet50"'),
    ('backbone = "resnet18"', "give weights, the weights file"),
    ('backbone = "resnet18"\nweights = "w.pth"\nmean = [0.5, 0.5]', "mean must be three numbers (R, G, B"),
    ('backbone = "resnet18"\nweights = "w.pth"\nstd = [0.2, 0, 0.2]', "std must be three positive numbers"),
    ('backbone = "resnet18"\nweights = "w.pth"\nstd = "0.2"', "std must be three positive numbers"),
    ('backbone = "resnet18"\nweights = "w.pth"\ninterpolation = "cubic"', "interpolation must be one of nearest"),
    ('backbone = "resnet18"\nweights = "w.pth"\nmodel_args = {num_classes = 2}', "num_classes cannot be given"),
    ('backbone = "resnet18"\nweights = "w.pth"\nmodel_args = "same"', "model_args must be a table"),
    ('timm = "resnet18.a1_in1k"\nweights = "w.pth"', 'a timm source gives timm = "MODEL.TAG"'),
])
def test_a_bad_declaration_is_broken_alone_and_says_what_to_change(tmp_path, body, message):
    config = declare(tmp_path, f'[sources.bad]\n{body}\n\n[sources.good]\nbackbone = "resnet18"\nweights = "w.pth"\n')
    assert [s.name for s in config.sources] == ["good"]
    ((name, error),) = config.broken_sources
    assert name == "bad" and message in error and str(tmp_path / "tlbench.toml") in error


def test_registration_refuses_an_unknown_backbone_and_a_taken_name(tmp_path):
    config = declare(tmp_path, '[sources.a]\nbackbone = "resnet5"\nweights = "w.pth"\n\n'
                               '[sources.b]\nbackbone = "resnet18"\nweights = "w.pth"\n\n'
                               '[sources.c]\nbackbone = "resnet18.no_such_tag"\nweights = "w.pth"\n\n'
                               '[sources.tiny_src]\nbackbone = "resnet18"\nweights = "w.pth"\n')
    from tiny_plugin import TinySource

    catalog = Catalog()
    catalog.add("datasets", TinySource(), "tiny_plugin")  # its task tiny_src is a source tlbench trains
    catalog.add("sources", PretrainedSource("test_resnet.r160_in1k"), "timm")
    catalog.sources["b"] = catalog.sources.pop("timm:test_resnet.r160_in1k")  # a plugin's source named b
    catalog.owners[("sources", "b")] = "someplugin"
    broken = dict(register_declared_sources(catalog, config.sources, config.path))
    assert "timm has no model 'resnet5'" in broken["a"] and "timm has no model 'resnet18.no_such_tag'" in broken["c"]
    assert "clashes with a source of plugin 'someplugin'" in broken["b"]
    assert "clashes with the source tlbench trains on that task" in broken["tiny_src"]
    assert catalog.all_sources()["tiny_src"].trained_on is not None  # still the source tlbench trains


def test_a_missing_file_is_unavailable_naming_the_file_and_the_config_key(tmp_path):
    config = declare(tmp_path, '[sources.rad]\nbackbone = "test_resnet"\nweights = "nope.pth"\n')
    ok, reason = declared_source(config.sources[0], config.path).status(settings(tmp_path))
    assert not ok
    assert reason == (f"weights file {tmp_path / 'nope.pth'} does not exist: put it there, or change weights of "
                      f"[sources.rad] in {tmp_path / 'tlbench.toml'}")


def test_the_input_is_the_declared_one_else_the_backbones_pretrained_cfg(tmp_path, weights):
    run = settings(tmp_path)
    plain = declare(tmp_path, '[sources.s]\nbackbone = "test_resnet"\nweights = "w/last.ckpt"\n').sources[0]
    convention = declared_source(plain, tmp_path).input_convention(run)
    assert (convention.mean, convention.std) == (TEST_RESNET_CFG["mean"], TEST_RESNET_CFG["std"])
    given = declare(tmp_path, '[sources.s]\nbackbone = "test_resnet"\nweights = "w/last.ckpt"\n'
                              'mean = [0.1, 0.2, 0.3]\ninterpolation = "bicubic"\n').sources[0]
    convention = declared_source(given, tmp_path).input_convention(run)
    assert convention.mean == (0.1, 0.2, 0.3) and convention.std == TEST_RESNET_CFG["std"]
    assert convention.interpolation == "bicubic"


def test_identity_build_and_the_files_own_head(tmp_path, weights):
    declared = declare(tmp_path, '[sources.s]\nbackbone = "test_resnet"\nweights = "w/last.ckpt"\n'
                                 'prefix = "model."\n').sources[0]
    source, run = declared_source(declared, tmp_path / "tlbench.toml"), settings(tmp_path)
    identity = source.identity(run)
    assert identity["kind"] == "weights-file" and identity["backbone"] == "test_resnet"
    assert identity["prefix"] == "model." and identity["weights_sha256"] == tensors_digest(declared.weights, "model.")
    model = source.build(run, 2, seed=0)
    assert torch.equal(model.state_dict()["layer2.0.conv1.weight"], weights["layer2.0.conv1.weight"])
    assert model.fc.out_features == 2
    own = source.build_with_own_head(run)
    assert own.fc.out_features == 5 and torch.equal(own.fc.weight, weights["fc.weight"])
    headless = {f"model.{k}": v for k, v in weights.items() if not k.startswith("fc.")}
    torch.save(headless, declared.weights)
    assert source.build_with_own_head(run) is None


def test_prepare_fails_once_with_the_keys_that_do_not_fit(tmp_path, weights):
    declared = declare(tmp_path, '[sources.s]\nbackbone = "test_resnet"\nweights = "w/last.ckpt"\n').sources[0]
    source = declared_source(declared, tmp_path / "tlbench.toml")
    with pytest.raises(WeightsFileError, match='set prefix = "model."'):
        source.prepare(settings(tmp_path), data=None)
    declared.weights.write_bytes(b"damaged")  # planning goes on; the source is unavailable, with the reason
    ok, reason = source.status(settings(tmp_path))
    assert not ok and reason.startswith(f"{declared.weights} is not a readable torch or safetensors weights file")
    assert source.identity(settings(tmp_path))["weights_sha256"] == f"unavailable: {reason}"
    with pytest.raises(WeightsFileError, match="not a readable torch or safetensors weights file"):
        source.prepare(settings(tmp_path), data=None)


def fake_hub_cache(monkeypatch, folder: Path, model_name: str, state: dict) -> Path:
    """``state`` as the Hugging Face cache holds timm's weights of ``model_name`` (hub layout)."""
    import huggingface_hub.constants

    repo = timm.models.get_pretrained_cfg(model_name).hf_hub_id.split("@")[0]
    cached = folder / f"models--{repo.replace('/', '--')}"
    snapshot = cached / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (cached / "refs").mkdir()
    (cached / "refs" / "main").write_text("0123abcd")
    save_file({k: v.contiguous() for k, v in state.items()}, snapshot / "model.safetensors")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(folder))
    return snapshot / "model.safetensors"


def test_a_timm_source_comes_from_the_hugging_face_cache_only(tmp_path, monkeypatch):
    source, run = PretrainedSource("test_resnet.r160_in1k"), settings(tmp_path)
    ok, reason = source.status(run)
    assert not ok and "--online" in reason and "huggingface-cli download timm/test_resnet.r160_in1k" in reason
    assert source.status(settings(tmp_path, online=True)) == (True, "timm downloads the weights")
    torch.manual_seed(9)
    state = create_backbone("test_resnet", 1000).state_dict()
    path = fake_hub_cache(monkeypatch, tmp_path / "hub", "test_resnet.r160_in1k", state)
    assert source.status(run) == (True, f"weights from {path}")
    model = source.build(run, 3, seed=0)
    assert torch.equal(model.state_dict()["layer1.0.conv2.weight"], state["layer1.0.conv2.weight"])
    assert model.fc.out_features == 3
    assert torch.equal(source.build_with_own_head(run).fc.weight, state["fc.weight"])
    identity = source.identity(run)
    assert identity["weights_sha256"] == tensors_digest(path) and identity["backbone"] == "test_resnet.r160_in1k"
    assert source.input_convention(run).mean == TEST_RESNET_CFG["mean"]


def test_timm_names_are_added_on_demand_and_a_typo_is_refused(tmp_path):
    catalog = Catalog()
    add_timm_sources(catalog, ["random", "timm:test_resnet.r160_in1k", "timm:test_resnet.r160_in1k"])
    assert list(catalog.sources) == ["timm:test_resnet.r160_in1k"]
    with pytest.raises(ValueError, match=r"no pretrained weights named 'test_resnet.r16_in1k'; did you mean "
                                         r"test_resnet.r160_in1k"):
        add_timm_sources(catalog, ["timm:test_resnet.r16_in1k"])


def rows(out: Path) -> list[dict]:
    db = sqlite3.connect(out / "tlbench.sqlite")
    db.row_factory = sqlite3.Row
    return [dict(r) for r in db.execute("SELECT * FROM experiments ORDER BY node_id")]


def test_a_declared_source_with_its_own_backbone_runs_fe_and_ft_on_the_default_targets(cli, tmp_path, monkeypatch):
    torch.manual_seed(1)
    torch.save(create_backbone("test_vit", 0).state_dict(), tmp_path / "vit.pth")  # built for 160 px, run at 16
    (tmp_path / "tlbench.toml").write_text('[sources.myvit]\nbackbone = "test_vit"\nweights = "vit.pth"\n')
    monkeypatch.chdir(tmp_path)
    listing = json.loads(cli("list", "--json").output)
    (listed,) = [s for s in listing["sources"] if s["name"] == "myvit"]
    assert listed["status"] == "available" and listed["description"] == f"test_vit weights from {tmp_path / 'vit.pth'}"
    out = tmp_path / "runs"
    result = cli("run", "-s", "myvit", "-m", "fe-svm", "-m", "ft-svm", "--seeds", "2", "--no-audit", "--out", out,
                 *TINY)
    assert result.exit_code == 0, result.output
    found = rows(out)
    assert {(r["target"], r["source"], r["method"], r["status"]) for r in found} == {
        (target, "myvit", method, "passed") for target in ("synth_cells", "synth_xray")
        for method in ("fe-svm", "ft-svm")}
    config = json.loads(found[0]["config"])
    assert config["source"]["kind"] == "weights-file" and config["source"]["backbone"] == "test_vit"
    assert all(0 <= json.loads(r["metrics"])["auc"] <= 1 for r in found)
    kept = sorted((out / "models").glob("*.pt"))  # the fine-tuned ViTs, rebuilt at the size they ran at
    assert kept and load_model(kept[0])[0].pos_embed.shape[1] == 2


def test_a_timm_source_on_the_command_line(cli, tmp_path, monkeypatch):
    out = tmp_path / "runs"
    args = ("run", "-s", "timm:test_resnet.r160_in1k", "-m", "fe-svm", "-d", "synth_xray", "--seeds", "2",
            "--collect-only", "-v", "--out", out, *TINY)
    assert "skipped  synth_xray::timm:test_resnet.r160_in1k::fe-svm[seed=2]" in cli(*args).output
    fake_hub_cache(monkeypatch, tmp_path / "hub", "test_resnet.r160_in1k", create_backbone("test_resnet", 1000)
                   .state_dict())
    assert "pending  synth_xray::timm:test_resnet.r160_in1k::fe-svm[seed=2]" in cli(*args).output
    refused = cli("run", "-s", "timm:resnet_nope", "--out", out, *TINY)
    assert refused.exit_code == 2 and "timm has no pretrained weights named 'resnet_nope'" in refused.output


def test_a_declared_sources_model_args_build_its_backbone_and_are_part_of_its_identity(tmp_path):
    """TensorFlow-ported weights need pad_type="same": the same tensors load either way, so only the declaration
    can say how the network computes."""
    torch.manual_seed(3)
    torch.save(create_backbone("test_efficientnet", 10, pad_type="same").state_dict(), tmp_path / "tf.pth")
    body = '[sources.tf]\nbackbone = "test_efficientnet"\nweights = "tf.pth"\n'
    padded = declare(tmp_path, body + 'model_args = {pad_type = "same"}\n').sources[0]
    plain = declare(tmp_path, body).sources[0]
    assert padded.model_args == (("pad_type", "same"),)
    run = settings(tmp_path)
    same, default = (declared_source(d, tmp_path / "tlbench.toml") for d in (padded, plain))
    assert type(same.build(run, 2, seed=0).conv_stem).__name__ == "Conv2dSame"
    assert type(default.build(run, 2, seed=0).conv_stem).__name__ == "Conv2d"
    assert same.build_with_own_head(run).classifier.out_features == 10
    assert same.identity(run)["model_args"] == {"pad_type": "same"} and "model_args" not in default.identity(run)


def test_a_declared_timm_source_takes_model_args(tmp_path, monkeypatch):
    config = declare(tmp_path, '[sources.maxpooled]\ntimm = "test_resnet.r160_in1k"\n'
                               'model_args = {global_pool = "max"}\n')
    catalog = Catalog()
    assert register_declared_sources(catalog, config.sources, config.path) == []
    source, run = catalog.sources["maxpooled"], settings(tmp_path)
    torch.manual_seed(9)
    state = create_backbone("test_resnet", 1000).state_dict()
    fake_hub_cache(monkeypatch, tmp_path / "hub", "test_resnet.r160_in1k", state)
    model = source.build(run, 3, seed=0)
    assert model.global_pool.pool_type == "max" and torch.equal(model.state_dict()["conv1.0.weight"],
                                                                  state["conv1.0.weight"])
    assert source.identity(run)["model_args"] == {"global_pool": "max"}
    assert "model_args" not in PretrainedSource("test_resnet.r160_in1k").identity(run)
