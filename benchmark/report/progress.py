"""What ``tlbench report`` is drawing, live: a line per figure and per batch of models drawn, each with its elapsed
time and, where it counts several steps, an estimate of the time left (rich.progress)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

Item = TypeVar("Item")


class ReportProgress:
    """A rich progress display; :meth:`track` adds one line per sequence it walks. Use as a context manager."""

    def __init__(self, console: Console):
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(bar_width=24), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("left"), TimeRemainingColumn(), console=console,
        )

    def __enter__(self) -> ReportProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def track(self, items: Iterable[Item], description: str,
              label: Callable[[Item], str] | None = None) -> Iterator[Item]:
        """Yield ``items`` while a line ``description`` counts them (with ``label(item)`` of the one in hand
        beside it) and estimates the time left from the pace so far; no line for no items."""
        items = list(items)
        if not items:  # nothing to count: no line
            return
        task = self._progress.add_task(escape(description), total=len(items))
        for item in items:
            if label is not None:
                self._progress.update(task, description=f"{escape(description)}: {escape(label(item))}")
            yield item
            self._progress.advance(task)
        self._progress.update(task, description=escape(description))

    @contextmanager
    def step(self, description: str) -> Iterator[None]:
        """A line ``description`` for the block: how long it has taken, complete when the block ends."""
        task = self._progress.add_task(escape(description), total=1)
        try:
            yield
        finally:
            self._progress.advance(task)


def untracked(items: Iterable[Item], description: str, label: Callable[[Item], str] | None = None) -> Iterator[Item]:
    """:meth:`ReportProgress.track` without a display."""
    yield from items
