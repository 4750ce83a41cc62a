"""Visualisers: figures made from a run's results and models, each one a plugin selectable by name."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Figure:
    """One figure a visualiser made: its PNG, what it shows (``title``, one line) and how to read it
    (``caption``, a few sentences, Markdown), other files made with it (an SVG, a CSV of its numbers), and
    ``facts``: numbers the report may quote (JSON values)."""

    path: Path
    title: str
    caption: str = ""
    extra: tuple[Path, ...] = ()
    facts: dict = field(default_factory=dict)


class Visualizer:
    """Base class of visualiser plugins: ``render(ctx)`` writes figures into ``ctx.out_dir`` and returns
    them, as :class:`Figure` (or plain paths); ``ctx`` is a :class:`benchmark.VisualizerContext`. ``order``
    places its figures in the report (lower first); a visualiser with nothing to draw returns ``[]``."""

    name: str = ""
    description: str = ""
    order: int = 100

    def render(self, ctx) -> list[Figure | Path]:
        raise NotImplementedError


def as_figure(item: Figure | Path) -> Figure:
    """A visualiser's returned item as a :class:`Figure` (a plain path titled by its file name)."""
    return item if isinstance(item, Figure) else Figure(Path(item), Path(item).stem)
