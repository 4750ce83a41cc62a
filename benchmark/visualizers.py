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


class BoardVisualizer(Visualizer):
    """A visualiser that draws one figure per leaderboard (configuration): ``board_figure(ctx, board,
    several)`` returns it, or None where the board has nothing to draw; ``several`` says whether the store
    holds more than one board (then a title names its configuration)."""

    def render(self, ctx) -> list[Figure]:
        boards = ctx.boards()
        return [figure for board in boards if (figure := self.board_figure(ctx, board, len(boards) > 1)) is not None]

    def board_figure(self, ctx, board, several: bool) -> Figure | None:
        raise NotImplementedError


def as_figure(item: Figure | Path) -> Figure:
    """A visualiser's returned item as a :class:`Figure` (a plain path titled by its file name)."""
    return item if isinstance(item, Figure) else Figure(Path(item), Path(item).stem)
