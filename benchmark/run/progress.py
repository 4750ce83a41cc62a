"""Live progress of a run: the current experiment or source training and its epoch, counts and ETA."""

from __future__ import annotations

import threading
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
    """Rich progress bars on a terminal: the overall count and ETA, and one line per busy slot (a GPU's job, or
    this process's) with its experiment and epoch; one printed line per finished experiment everywhere, and one
    per source model trained. ``sources`` are the sources whose models are to be trained: each is a step of the
    overall bar (and of its ETA) beside the ``total`` experiments. ``quiet`` shows no bars and prints only failures
    and retries. Safe to call from several threads."""

    def __init__(self, console: Console, total: int, sources: Collection[str] = (), quiet: bool = False):
        self.console, self.quiet = console, quiet
        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=True,
        )
        self.sources = set(sources)
        self.overall = self.progress.add_task("experiments", total=total + len(self.sources))
        self.slots: dict[str, int] = {}  # slot -> its progress line
        self.labels: dict[str, str] = {}
        self.counts = {"passed": 0, "failed": 0, "elsewhere": 0}
        self._lock = threading.RLock()

    def __enter__(self):
        if not self.quiet:
            self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def _line(self, slot: str) -> int:
        if slot not in self.slots:
            self.slots[slot] = self.progress.add_task("", total=1, visible=False)
        return self.slots[slot]

    def begin(self, label: str, slot: str = "") -> None:
        """``label`` (an experiment, or a source being trained) started on ``slot``."""
        with self._lock:
            self.labels[slot] = f"{slot}: {label}" if slot else label
            self.progress.reset(self._line(slot), description=escape(self.labels[slot]), total=1, visible=True)

    def epoch(self, record: dict, slot: str = "") -> None:
        with self._lock:
            self.progress.update(
                self._line(slot), completed=record["epoch"], total=record["max_epochs"],
                description=f"{escape(self.labels.get(slot, ''))}  epoch {record['epoch']} "
                            f"val_loss {record['val_loss']:.3f}",
            )

    def idle(self, slot: str) -> None:
        with self._lock:
            if slot in self.slots:
                self.progress.update(self.slots[slot], visible=False)

    def end(self, node_id: str, status: str, seconds: float, detail: str) -> None:
        """Print how ``node_id`` ended: ``passed``, ``failed`` or ``elsewhere`` (another process runs it)."""
        with self._lock:
            self.counts[status] += 1
            if not self.quiet or status == "failed":
                self.console.print(f"{_MARKS[status]} {escape(node_id)} {escape(detail)} [dim]({seconds:.1f}s)[/]",
                                   highlight=False)
            description = f"experiments: {self.counts['passed']} passed, {self.counts['failed']} failed"
            if self.counts["elsewhere"]:
                description += f", {self.counts['elsewhere']} run elsewhere"
            self.progress.update(self.overall, advance=1, description=description)

    def retry(self, label: str, attempt: int, retries: int, detail: str) -> None:
        """Print that ``label`` failed (``detail``) and runs again, as retry ``attempt`` of ``retries``."""
        with self._lock:
            self.console.print(f"[yellow]RETRY[/] {escape(label)} ({attempt}/{retries}) after {escape(detail)}",
                               highlight=False)

    def source_end(self, name: str, seconds: float, failed: bool = False) -> None:
        """Print how preparing source ``name`` ended, when its model was to be trained (a step of the run)."""
        with self._lock:
            if name not in self.sources:
                return
            self.sources.discard(name)
            mark = "[red]FAILED[/]" if failed else "[magenta]SOURCE[/]"
            outcome = "could not be prepared" if failed else "model ready"
            if not self.quiet or failed:
                self.console.print(f"{mark} {escape(name)} {outcome} [dim]({seconds:.1f}s)[/]", highlight=False)
            self.progress.update(self.overall, advance=1)

    def training_end(self, label: str, seconds: float, detail: str, failed: bool = False) -> None:
        """Print how the shared training ``label`` ended (its experiments follow)."""
        with self._lock:
            mark = "[red]FAILED[/]" if failed else "[magenta]TRAINING[/]"
            if not self.quiet or failed:
                self.console.print(f"{mark} {escape(label)} {escape(detail)} [dim]({seconds:.1f}s)[/]",
                                   highlight=False)
