"""Weights checked before use (issue 27): a declared weights file is read once at planning and a malformed one
(a safetensors header of 2^60 bytes, a truncated file), one of integer weights, or one holding NaN or Inf makes
that source unavailable with the reason, never the run; a kept model that is not a regular file (a FIFO) or not
readable costs only its own figures, is named, and no message suggests ``weights_only=False``."""

import json
import os
import signal
import struct
from pathlib import Path

import pytest
import torch
from conftest import TINY
from fakedata import no_builtin_datasets
from safetensors.torch import save_file

import benchmark.report.filters.activationmax as activationmax
from benchmark.engine.models import create_backbone
from benchmark.engine.weightfiles import WeightsFileError, read_tensors, tensors_digest
from benchmark.run.keptmodels import KeptModelError, load_model, row_kept_path
from benchmark.run.store import Store

HEADER = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()


def huge_header(path: Path) -> Path:
    path.write_bytes(struct.pack("<Q", 2**60) + HEADER + bytes(8))
    return path


def truncated(path: Path) -> Path:
    path.write_bytes((struct.pack("<Q", len(HEADER)) + HEADER + bytes(8))[:-5])
    return path


def resnet_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(3)
    return create_backbone("test_resnet", 0).state_dict()


def int8_weights(path: Path) -> Path:
    save_file({k: v.to(torch.int8) if v.is_floating_point() else v for k, v in resnet_state().items()}, path)
    return path


def nan_weights(path: Path, value=float("nan")) -> Path:
    state = resnet_state()
    state["layer2.0.conv1.weight"][0, 0, 0, 0] = value
    torch.save(state, path)
    return path


@pytest.mark.parametrize("make, says", [
    (huge_header, "is not a readable safetensors file (Error while deserializing header: header too large)"),
    (truncated, "is not a readable safetensors file (Error while deserializing header"),
    (int8_weights, "holds bn1.bias as torch.int8, not floating point"),
    (nan_weights, "holds NaN or Inf values, first in layer2.0.conv1.weight"),
    (lambda path: nan_weights(path, float("-inf")), "holds NaN or Inf values, first in layer2.0.conv1.weight"),
], ids=["header-2^60", "truncated", "int8", "nan", "inf"])
def test_a_bad_weights_file_is_refused_naming_the_file_and_what_is_wrong(tmp_path, make, says):
    suffix = ".pth" if make is nan_weights or make.__name__ == "<lambda>" else ".safetensors"
    path = make(tmp_path / f"w{suffix}")
    with pytest.raises(WeightsFileError) as raised:
        read_tensors(path)
    assert str(raised.value).startswith(str(path)) and says in str(raised.value)
    with pytest.raises(WeightsFileError, match="NaN or Inf|floating point|safetensors"):
        tensors_digest(path)  # the error is remembered with the file's size and time, as the digest would be


def test_integer_counters_and_float_weights_pass(tmp_path):
    state = resnet_state()
    assert state["bn1.num_batches_tracked"].dtype == torch.int64
    save_file(state, tmp_path / "w.safetensors")
    assert set(read_tensors(tmp_path / "w.safetensors")) == set(state)


def test_bad_declared_sources_are_unavailable_at_planning_and_the_rest_of_the_run_plans(cli, tmp_path, monkeypatch):
    save_file(resnet_state(), tmp_path / "good.safetensors")
    files = {"huge": huge_header(tmp_path / "huge.safetensors"), "cut": truncated(tmp_path / "cut.safetensors"),
             "int8": int8_weights(tmp_path / "int8.safetensors"), "nan": nan_weights(tmp_path / "nan.pth"),
             "good": tmp_path / "good.safetensors"}
    declarations = [f'[sources.{name}]\nbackbone = "test_resnet"\nweights = "{path.name}"\n'
                    for name, path in files.items()]
    (tmp_path / "tlbench.toml").write_text("".join(declarations))
    monkeypatch.chdir(tmp_path)
    # no -s: every source is planned, the bad ones among them
    result = cli("run", "-m", "fe-svm", "-d", "synth_xray", "--seeds", "2", "--collect-only", "-v", "--out",
                 tmp_path / "out", *TINY)
    assert result.exit_code == 0, result.output
    lines = " ".join(result.output.split())  # rich wraps long lines
    assert "pending synth_xray::good::fe-svm[seed=2]" in lines
    for name in ("huge", "cut", "int8", "nan"):
        assert f"skipped synth_xray::{name}::fe-svm[seed=2] source {name}: {files[name]}" in lines
    assert "Traceback" not in result.output
    listing = {s["name"]: s for s in json.loads(cli("list", "--json").output)["sources"]}
    assert listing["good"]["status"] == "available"
    assert listing["int8"]["status"] != "available" and "not floating point" in json.dumps(listing["int8"])


def test_an_int8_source_runs_no_experiment(cli, tmp_path, monkeypatch):
    int8_weights(tmp_path / "q.safetensors")
    (tmp_path / "tlbench.toml").write_text('[sources.q]\nbackbone = "test_resnet"\nweights = "q.safetensors"\n')
    monkeypatch.chdir(tmp_path)
    result = cli("run", "-s", "q", "-m", "fe-svm", "-d", "synth_xray", "--seeds", "2", "--no-audit", "--out",
                 tmp_path / "out", *TINY)
    assert result.exit_code == 5 and "nothing ran" in result.output
    assert "skipped 1 for want of data or weights: sources q. `tlbench list` says what each needs" in " ".join(
        result.output.split())
    assert Store(tmp_path / "out").rows() == []


def test_a_kept_model_that_is_not_a_regular_file_or_not_readable_is_named_without_unsafe_advice(tmp_path):
    fifo = tmp_path / "fifo.pt"
    os.mkfifo(fifo)
    with pytest.raises(KeptModelError, match=f"^{fifo} is not a regular file"):
        load_model(fifo)
    foreign = tmp_path / "foreign.pt"
    torch.save({"format": 1, "about": Path("x")}, foreign)  # a global torch's safe loader refuses
    with pytest.raises(KeptModelError, match=f"^{foreign} holds Python objects") as raised:
        load_model(foreign)
    assert "weights_only" not in str(raised.value)
    torn = tmp_path / "torn.pt"
    torn.write_bytes(b"PK\x03\x04 half a zip")
    with pytest.raises(KeptModelError, match=f"^{torn} is not a readable kept model"):
        load_model(torn)


def test_bad_kept_models_cost_only_their_own_filter_figures(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(activationmax, "STEPS", 4)
    out = tmp_path / "runs"
    plugins = [arg for flag in ["tiny_plugin", *no_builtin_datasets()] for arg in ("-p", flag)]
    result = cli(*plugins, "run", "-d", "tiny_tgt", "-s", "tiny_src", "-m", "ft-svm", "--seeds", "2,5,7", "--out", out,
                 *TINY, "--threads", "1", "--no-audit")
    assert result.exit_code == 0, result.output
    rows = {row["seed"]: row for row in Store(out).rows("passed")}
    fifo, foreign = (row_kept_path(out, rows[seed]) for seed in (2, 5))
    fifo.unlink()
    os.mkfifo(fifo)
    foreign.unlink()
    torch.save({"format": 1, "about": Path("x")}, foreign)
    signal.alarm(300)  # opening the FIFO would block for ever: fail instead
    try:
        report = cli(*plugins, "report", "-v", "filters", "--out", out)
    finally:
        signal.alarm(0)
    assert report.exit_code == 0, report.output
    text = " ".join(report.output.split())
    assert f"warning: kept model left out of the filter figures: {fifo} is not a regular file" in text
    assert f"warning: kept model left out of the filter figures: {foreign} holds Python objects" in text
    assert "weights_only" not in text and "Traceback" not in text
    seed7 = f"ft-svm-tiny_src-tiny_tgt-seed7-test_resnet-16px-{rows[7]['config_hash'][:8]}"
    figures = sorted(p.name for p in (out / "report").glob("filters-*.png"))
    assert figures == sorted([f"filters-tiny_src-test_resnet-16px-{part}.png" for part in
                              ("stage1", "stage2", "stage3", "conv1")]
                             + [f"filters-{seed7}-{part}.png" for part in ("stage1", "stage2", "stage3", "conv1")])
