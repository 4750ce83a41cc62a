import os
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch
from click.testing import CliRunner

TESTS = Path(__file__).parent
TEST_PLUGINS = TESTS / "plugins"
# Tiny settings that make a whole grid run in seconds on two CPU cores.
TINY = ["--backbone", "test_resnet", "--image-size", "16", "--max-epochs", "2", "--preset", "cpu-quick"]


def isolate(patch: pytest.MonkeyPatch, folder: Path) -> None:
    """A cache under ``folder``, no plugins from the environment, only tlbench's own entry points, no hub."""
    patch.setenv("TLBENCH_CACHE", str(folder / "cache"))
    patch.delenv("TLBENCH_PLUGINS", raising=False)
    patch.setenv("TLBENCH_DISTRIBUTIONS", "tlbench")
    patch.delenv("TLBENCH_IMAGENET_WEIGHTS", raising=False)
    patch.setenv("HF_HUB_OFFLINE", "1")
    # an empty Hugging Face cache, whatever this machine has cached
    patch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(folder / "hf-hub"))
    patch.syspath_prepend(str(TEST_PLUGINS))


@pytest.fixture(autouse=True, scope="session")
def fp32_cpu():
    """The same CPU for every machine the suite runs on: precision auto is fp32 on the CPU (tests/test_precision.py
    patches this itself), and fp32 for the commands tests start in processes of their own. Session-wide, so that
    module fixtures' runs and a test's monkeypatch.undo() see it too."""
    with pytest.MonkeyPatch.context() as cpu:
        cpu.setattr("benchmark.acceleration.cpu_reports_bf16", lambda: False)
        cpu.setenv("TLBENCH_PRECISION", "fp32")
        yield


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Every test is isolated (:func:`isolate`; a test about installed plugins deletes TLBENCH_DISTRIBUTIONS)."""
    isolate(monkeypatch, tmp_path)
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)  # `run` sets them for the whole process


@pytest.fixture
def cli(tmp_path):
    """Invoke ``tlbench`` in-process; returns click's Result."""
    from benchmark.cli import main

    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)

    return invoke


def subprocess_env(**extra) -> dict:
    """The test's environment for a ``tlbench`` subprocess: no ``-p`` plugins, only tlbench's entry points."""
    env = {k: v for k, v in os.environ.items() if k != "TLBENCH_PLUGINS"}
    env["PYTHONPATH"] = str(TEST_PLUGINS)
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def ray_instance():
    """A local Ray for the whole session: 2 CPUs and a declared (fake) GPU, usage reporting off; shut down at
    the end. Its workers inherit this environment, not a test's."""
    import ray
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
        patch.setenv("HF_HUB_OFFLINE", "1")
        ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, logging_level="warning", log_to_driver=False)
    yield ray
    ray.shutdown()
