"""torch's CPU threads: from --threads, OMP_NUM_THREADS or the usable cores; OpenMP's waiting threads spin briefly."""

import os
import subprocess
import sys

import pytest
import torch
from conftest import TINY

from benchmark.engine.threads import resolve_threads, usable_cores


def test_the_usable_cores_by_default_then_omp_num_threads_then_the_option(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert resolve_threads(None) == (len(os.sched_getaffinity(0)), "the cores this process may use")
    assert usable_cores() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert resolve_threads(None) == (1, "OMP_NUM_THREADS")
    assert resolve_threads(3) == (3, "--threads")


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_omp_num_threads_is_named(monkeypatch, value):
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    with pytest.raises(ValueError, match=f"OMP_NUM_THREADS={value!r}"):
        resolve_threads(None)


def test_run_sets_and_reports_the_threads(cli, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    result = cli("run", "-d", "synth_cells", "-m", "scratch", "--collect-only", "--threads", "1", *TINY)
    assert result.exit_code == 0, result.output
    assert "1 CPU thread (--threads)" in result.output
    assert torch.get_num_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "many")
    result = cli("run", "-d", "synth_cells", "--collect-only", *TINY)
    assert result.exit_code == 2 and "OMP_NUM_THREADS='many'" in result.output
    assert cli("run", "--all", "--threads", "0").exit_code == 2


@pytest.mark.parametrize(("given", "expected"), [
    ({}, "1000 None"), ({"OMP_WAIT_POLICY": "PASSIVE"}, "None PASSIVE"), ({"GOMP_SPINCOUNT": "5"}, "5 None"),
])
def test_openmp_threads_spin_briefly_unless_told_otherwise(given, expected):
    """Set when benchmark is imported, before torch loads, in a fresh process; the user's own OpenMP settings
    win."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    code = ("import benchmark, torch, os, sys; "
            "print(os.environ.get('GOMP_SPINCOUNT'), os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], env={**env, **given}, capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == [*expected.split(), "True"]
