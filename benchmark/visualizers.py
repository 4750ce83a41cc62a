"""Visualisers: figures made from a run's results and cached models."""

from __future__ import annotations

from pathlib import Path


class Visualizer:
    """Base class of visualiser plugins: ``render(ctx)`` writes figures into ``ctx.out_dir`` and returns
    their paths; ``ctx`` is a :class:`benchmark.VisualizerContext`."""

    name: str = ""
    description: str = ""

    def render(self, ctx) -> list[Path]:
        raise NotImplementedError
