"""``tlbench report`` without the command line: run the visualisers, then write the documents. A visualiser
that raises is recorded as failed and the others still run, unless the disk is full or read-only."""

from __future__ import annotations

import contextlib
import errno
from pathlib import Path

from benchmark.report.document import ReportContent, write_report
from benchmark.report.figures import VisualizerContext
from benchmark.report.provenance import provenance
from benchmark.report.summary import opening_paragraph
from benchmark.run.store import STORE_FILE
from benchmark.visualizers import Figure, Visualizer, as_figure

DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def one_line(error: BaseException) -> str:
    """The error's type and the first line of its message."""
    message = str(error).strip().splitlines()
    return f"{type(error).__name__}: {message[0]}" if message else type(error).__name__


def run_visualizers(ctx: VisualizerContext, visualizers: list[Visualizer]
                    ) -> tuple[list[Figure], list[tuple[str, str]]]:
    """Every visualiser's figures, in order of ``order`` then name; those that raised, with their error. Under a
    progress display, a line counts the visualisers (with the time left) and each has a line of its own."""
    figures, failures = [], []
    for visualizer in ctx.track(sorted(visualizers, key=lambda v: (v.order, v.name)), "figures",
                                label=lambda v: v.name):
        try:
            with ctx.progress.step(f"figure {visualizer.name}") if ctx.progress else contextlib.nullcontext():
                drawn = [as_figure(item) for item in visualizer.render(ctx)]
        except OSError as error:
            if error.errno in DISK_ERRORS:  # the disk's fault, not the visualiser's: no report can be written
                raise
            failures.append((visualizer.name, one_line(error)))
            continue
        except Exception as error:  # a broken visualiser must not cost the rest of the report
            failures.append((visualizer.name, one_line(error)))
            continue
        missing = [str(f.path) for f in drawn if not Path(f.path).is_file()]
        if missing:
            failures.append((visualizer.name, f"returned figures that do not exist: {', '.join(missing)}"))
        figures += [f for f in drawn if Path(f.path).is_file()]
    return figures, failures


def build_report(ctx: VisualizerContext, visualizers: list[Visualizer]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Run ``visualizers`` into ``ctx.out_dir`` and write the documents there, the table and the figures both in
    ``ctx.metric``: every file written (figures and their extra files, then the documents), and the visualisers
    that failed."""
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    figures, failures = run_visualizers(ctx, visualizers)
    boards = ctx.boards()
    rows = ctx.store.rows()
    content = ReportContent(opening_paragraph(boards), boards, figures, failures,
                            provenance(rows, ctx.run_dir / STORE_FILE), rows)
    documents = write_report(ctx.out_dir, content)
    drawn = [path for figure in figures for path in (figure.path, *figure.extra)]
    return drawn + documents, failures
