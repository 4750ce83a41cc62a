"""Live progress of a run: the current experiment or source training and its epoch, counts and ETA."""

from __future__ import annotations

from collections.abc import Collection

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

_MARKS = {"passed": "[green]PASSED[/]", "failed": "[red]FAILED[/]", "elsewhere": "[blue]ELSEWHERE[/]"}


class RunProgress:
    """Rich progress bars on a terminal; one line per finished experiment everywhere, and one per source model
    trained. ``sources`` are the sources whose models are to be trained: each is a step of the overall bar (and
    of its ETA) beside the ``total`` experiments."""

    def __init__(self, console: Console, total: int, sources: Collection[str] = ()):
        self.console = console
        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=True,
        )
        self.sources = set(sources)
        self.overall = self.progress.add_task("experiments", total=total + len(self.sources))
        self.current = self.progress.add_task("", total=1, visible=False)
        self.counts = {"passed": 0, "failed": 0, "elsewhere": 0}

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def begin(self, label: str) -> None:
        self.progress.reset(self.current, description=escape(label), total=1, visible=True)

    def epoch(self, record: dict) -> None:
        self.progress.update(
            self.current, completed=record["epoch"], total=record["max_epochs"],
            description=f"{self.progress.tasks[self.current].description.split('  epoch')[0]}"
            f"  epoch {record['epoch']} val_loss {record['val_loss']:.3f}",
        )

    def end(self, node_id: str, status: str, seconds: float, detail: str) -> None:
        """Print how ``node_id`` ended: ``passed``, ``failed`` or ``elsewhere`` (another process runs it)."""
        self.counts[status] += 1
        self.console.print(f"{_MARKS[status]} {escape(node_id)} {escape(detail)} [dim]({seconds:.1f}s)[/]",
                           highlight=False)
        description = f"experiments: {self.counts['passed']} passed, {self.counts['failed']} failed"
        if self.counts["elsewhere"]:
            description += f", {self.counts['elsewhere']} run elsewhere"
        self.progress.update(self.overall, advance=1, description=description)

    def source_end(self, name: str, seconds: float, failed: bool = False) -> None:
        """Print how preparing source ``name`` ended, when its model was to be trained (a step of the run)."""
        if name not in self.sources:
            return
        self.sources.discard(name)
        mark = "[red]FAILED[/]" if failed else "[magenta]SOURCE[/]"
        outcome = "could not be prepared" if failed else "model ready"
        self.console.print(f"{mark} {escape(name)} {outcome} [dim]({seconds:.1f}s)[/]", highlight=False)
        self.progress.update(self.overall, advance=1)
