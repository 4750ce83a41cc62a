"""Precision: auto is bf16 where the CPU has bf16 units and fp32 elsewhere, bf16 CPU training really runs under
autocast with an fp32 head, and the precision is part of every result's config and of the board's title."""

import dataclasses

import pytest
import torch
from fakedata import make_medmnist, no_builtin_datasets, red_or_blue

from benchmark import acceleration
from benchmark.acceleration import Acceleration, cpu_reports_bf16, resolve_precision
from benchmark.engine.models import create_backbone
from benchmark.engine.training import train_classifier
from benchmark.presets import CPU_QUICK
from benchmark.registry.pluginmanager import load_catalog
from benchmark.report import leaderboard
from benchmark.report.render import render_markdown
from benchmark.run.planner import Selection, build_plan
from benchmark.settings import RunSettings

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
PRESET = CPU_QUICK.with_overrides(image_size=24, max_epochs=1, batch_size=16)


@pytest.fixture
def bf16_cpu(monkeypatch):
    """A CPU that reports bf16 units (conftest makes every other test's CPU report none)."""
    monkeypatch.setattr(acceleration, "cpu_reports_bf16", lambda: True)


def test_auto_is_bf16_on_a_cpu_reporting_bf16_units(bf16_cpu):
    assert resolve_precision("auto", CPU) == "bf16"
    assert Acceleration.for_device(CPU) == Acceleration(bf16=True, channels_last=True)
    assert resolve_precision("fp32", CPU) == "fp32"  # forcing fp32 compares with results of the old code


def test_auto_is_fp32_on_a_cpu_without_them():
    assert resolve_precision("auto", CPU) == "fp32"
    assert Acceleration.for_device(CPU) == Acceleration(channels_last=True)
    assert resolve_precision("bf16", CPU) == "bf16"
    assert resolve_precision("auto", CUDA) == "bf16"
    with pytest.raises(ValueError, match="auto, fp32, bf16"):
        resolve_precision("fp16", CPU)


@pytest.mark.parametrize("flags, expected", [("fpu avx512f avx512_bf16 avx512_vnni", True),
                                             ("fpu amx_bf16 amx_tile", True), ("fpu avx512f avx512_vnni", False),
                                             ("", False)])
def test_the_cpu_check_reads_avx512_bf16_and_amx_from_cpuinfo(monkeypatch, tmp_path, flags, expected):
    # cpu_reports_bf16 as imported here is the real check (conftest patches the module's name)
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n")
    monkeypatch.setattr(acceleration, "CPUINFO", cpuinfo)
    cpu_reports_bf16.cache_clear()
    try:
        assert cpu_reports_bf16() is expected
    finally:
        cpu_reports_bf16.cache_clear()


@pytest.mark.parametrize("capabilities, expected", [({"avx512_bf16": True}, True), ({"amx_bf16": True}, True),
                                                    ({"avx512_f": True, "avx512_bf16": False}, False)])
def test_without_cpuinfo_the_check_asks_torchs_cpuinfo(monkeypatch, tmp_path, capabilities, expected):
    monkeypatch.setattr(acceleration, "CPUINFO", tmp_path / "absent")
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities, raising=False)
    cpu_reports_bf16.cache_clear()
    try:
        assert cpu_reports_bf16() is expected
    finally:
        cpu_reports_bf16.cache_clear()


def _dtypes_while_training(settings: RunSettings) -> dict[str, set]:
    """The output dtypes of the first convolution and of the classifier during a training run under ``settings``."""
    torch.manual_seed(0)
    model = create_backbone("test_resnet", 2)
    seen: dict[str, set] = {"conv": set(), "head": set()}
    first_conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))

    def record(name):
        return lambda module, args, output: seen[name].add(output.dtype) if module.training else None

    first_conv.register_forward_hook(record("conv"))
    model.get_classifier().register_forward_hook(record("head"))
    history = train_classifier(model, red_or_blue(48, 0, size=24), red_or_blue(24, 1, size=24), 2, PRESET, CPU,
                               seed=1, accel=settings.acceleration)
    assert history[0]["images"] == 48
    return seen


def test_bf16_training_on_the_cpu_runs_under_autocast_with_an_fp32_head(bf16_cpu, tmp_path):
    auto = RunSettings.build(device="cpu", preset="cpu-quick", data_root=tmp_path, cache_dir=tmp_path)
    assert auto.precision == "bf16"
    assert _dtypes_while_training(auto) == {"conv": {torch.bfloat16}, "head": {torch.float32}}
    fp32 = RunSettings.build(device="cpu", preset="cpu-quick", data_root=tmp_path, cache_dir=tmp_path,
                             precision="fp32")
    assert _dtypes_while_training(fp32) == {"conv": {torch.float32}, "head": {torch.float32}}


def test_the_precision_is_in_the_config_hash_and_the_board_title(bf16_cpu, tmp_path):
    make_medmnist(tmp_path / "data", "breastmnist")
    catalog = load_catalog([b for b in no_builtin_datasets() if b != "no:medmnist"])
    selection = Selection(datasets=("breastmnist",), sources=("random",), methods=("fe-svm",), seeds=(2,))
    plans = {}
    for precision in ("auto", "fp32"):
        settings = RunSettings.build(device="cpu", preset="cpu-quick", data_root=tmp_path / "data",
                                     cache_dir=tmp_path / "cache", precision=precision)
        (planned,) = build_plan(catalog, settings, selection).experiments
        plans[settings.precision] = planned
    assert plans["bf16"].config["runtime"] == {"device": "cpu", "precision": "bf16"}
    assert plans["fp32"].config["runtime"] == {"device": "cpu", "precision": "fp32"}
    assert plans["bf16"].config_hash != plans["fp32"].config_hash

    labels, scores = [0, 1] * 5, [[0.8, 0.2], [0.3, 0.7]] * 5
    rows = [{"node_id": f"t::none::scratch[seed={seed}]", "target": "t", "source": "none", "method": "scratch",
             "seed": seed, "status": "passed", "finished_at": "2026-01-01T00:00:00",
             "config": {**plans[precision].config, "target": {"dataset": "t", "task": "t", "data": "d"}},
             "preset": plans[precision].config["preset"],
             "metrics": {"auc_macro_curve": 0.9, "auc_ovr": 0.9, "n_test": 10, "n_test_groups": None},
             "scores": {"labels": labels, "scores": scores, "indices": list(range(10)), "groups": None}}
            for precision in ("bf16", "fp32") for seed in (2, 5)]
    boards = leaderboard.build_boards(rows, replicates=20)
    assert sorted(b.title.split(" · ")[2] for b in boards) == ["cpu bf16", "cpu fp32"]
    assert "· cpu bf16" in render_markdown(boards) and "· cpu fp32" in render_markdown(boards)


def test_an_unknown_precision_is_a_usage_error(cli):
    result = cli("run", "--all", "--precision", "fp16")
    assert result.exit_code == 2 and "'fp16' is not one of 'auto', 'fp32', 'bf16'" in result.output


def test_estimate_takes_the_precision_of_the_targets_latest_result(bf16_cpu, tmp_path):
    from benchmark.cli.estimating import _settings_for

    settings = RunSettings.build(device="cpu", preset="cpu-quick", data_root=tmp_path, cache_dir=tmp_path)
    rows = [{"target": "t", "preset": dataclasses.asdict(CPU_QUICK), "finished_at": finished,
             "config": {"runtime": {"device": "cpu", "precision": precision}}}
            for finished, precision in (("2026-01-01", "bf16"), ("2026-01-02", "fp32"))]
    assert settings.precision == "bf16"
    assert _settings_for("t", settings, rows, "auto").precision == "fp32"
    assert _settings_for("t", settings, rows, "auto", "bf16").precision == "bf16"
    assert _settings_for("other", settings, rows, "auto").precision == "bf16"


@pytest.mark.parametrize("bf16", [True, False])
def test_a_diverged_bf16_training_suggests_fp32(bf16):
    torch.manual_seed(0)
    model = create_backbone("test_resnet", 2)
    with pytest.raises(FloatingPointError, match="diverged") as raised:
        train_classifier(model, red_or_blue(48, 0, size=24), red_or_blue(24, 1, size=24), 2,
                         PRESET.with_overrides(lr=1e12, max_epochs=2), CPU, seed=1,
                         accel=Acceleration(bf16=bf16, channels_last=True))
    assert ("--precision fp32" in str(raised.value)) is bf16


def test_run_grid_takes_the_precision_as_an_override(bf16_cpu, tmp_path):
    from benchmark.registry.config import Config
    from benchmark.run.gridsettings import grid_settings

    folders = {"data_root": tmp_path, "cache_dir": tmp_path}
    assert grid_settings("cpu-quick", folders, Config()).precision == "bf16"
    fp32 = grid_settings("cpu-quick", {**folders, "precision": "fp32"}, Config())
    assert fp32.precision == "fp32" and fp32.runtime["precision"] == "fp32"
    assert grid_settings(fp32, {"precision": "auto"}, Config()).precision == "bf16"
    with pytest.raises(ValueError, match="fp16"):
        grid_settings("cpu-quick", {**folders, "precision": "fp16"}, Config())
