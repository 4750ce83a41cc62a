"""Helpers for plugin authors' tests: a fake data root, a tiny preset, one experiment run in-process.

Nothing here downloads: the tiny preset trains timm's ``test_resnet`` from random weights, and sources
are trained by the harness on the datasets under test.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from rich.console import Console

from benchmark.presets import PRESETS
from benchmark.registry.catalog import Catalog
from benchmark.registry.pluginmanager import load_catalog

# the overrides of cpu-quick that make one experiment take seconds on one CPU core
TINY = {"backbone": "test_resnet", "image_size": 16, "max_epochs": 2, "batch_size": 16}
TINY_PRESET = PRESETS["cpu-quick"].with_overrides(**TINY)
TINY_ARGS = ("--preset", "cpu-quick", *(arg for name, value in TINY.items()
                                        for arg in (f"--{name.replace('_', '-')}", str(value))))


def fake_image_folders(folder: Path, classes, per_class: int = 8, size: int = 24, seed: int = 0) -> Path:
    """Write ``per_class`` PNG images of ``size`` px into ``folder/<class>/`` for each of ``classes``; class ``i``
    has a bright square on noise, in quadrant ``i % 4`` and brighter for each further four classes, so the
    classes can be learnt. Returns ``folder``."""
    rng = np.random.default_rng(seed)
    half = size // 2
    for label, name in enumerate(classes):
        (Path(folder) / name).mkdir(parents=True, exist_ok=True)
        y, x = divmod(label % 4, 2)
        for i in range(per_class):
            pixels = rng.normal(80, 20, size=(size, size, 3))
            pixels[y * half : (y + 1) * half, x * half : (x + 1) * half] += 100 + 20 * (label // 4)
            image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
            image.save(Path(folder) / name / f"{name}_{i:03d}.png")
    return Path(folder)


def catalog(plugins=()) -> Catalog:
    """The catalog ``tlbench`` sees: installed plugins, ``TLBENCH_PLUGINS`` and the modules ``plugins`` (import
    paths; one an installed entry point loads already is not loaded twice); a plugin that failed is in
    ``catalog.plugins`` with status ``broken`` and its error."""
    return load_catalog(plugins)


def run_experiment(target: str, source: str, method: str, *, tmp_path: Path, seed: int = 2,
                   plugins=(), data_root: Path | None = None, overrides: Mapping[str, Any] | None = None,
                   **grid) -> dict:
    """Run ``target::source::method[seed=seed]`` in-process with :func:`benchmark.run_grid`: the tiny preset (with
    ``overrides`` over it), the plugin modules ``plugins`` (import paths; installed ones load anyway), the run
    folder and cache under ``tmp_path``, and any other ``run_grid`` argument in ``grid`` (``launcher``,
    ``launcher_options``, ...); return its stored row (``row["metrics"]["auc"]`` and the rest). Raise
    AssertionError, with the run's output and any traceback, unless it passed."""
    from benchmark.run.grid import GridError, run_grid

    output = io.StringIO()
    node = f"{target}::{source}::{method}[seed={seed}]"
    settings = {**TINY, "cache_dir": Path(tmp_path) / "cache", "data_root": data_root or Path(tmp_path) / "data",
                **(overrides or {})}
    threads = torch.get_num_threads()
    try:
        result = run_grid("cpu-quick", overrides=settings, datasets=[target], sources=[source], methods=[method],
                          seeds=[seed], store=Path(tmp_path) / "runs", plugins=plugins,
                          console=Console(file=output, width=160), **grid)
    except GridError as error:
        raise AssertionError(f"{node} did not pass: {error}\n{output.getvalue()}") from error
    finally:
        torch.set_num_threads(threads)  # run_grid sets them for the whole process
    row = next((r for r in result.rows if (r["target"], r["source"], r["method"], r["seed"]) == (target, source,
                                                                                                  method, seed)), None)
    if row is None or row["status"] != "passed":
        detail = "" if row is None else f"\nstatus {row['status']}: {row.get('error') or ''}"
        raise AssertionError(f"{node} did not pass:\n{output.getvalue()}{detail}")
    return row
