"""The run's progress: a source model to train is a step of its own, counted in the overall bar."""

import io

from rich.console import Console

from benchmark.run.progress import RunProgress


def test_a_source_to_train_is_a_step_with_its_own_line_and_duration():
    out = io.StringIO()
    progress = RunProgress(Console(file=out, width=200), total=3, sources=["src"])
    overall = progress.progress.tasks[progress.overall]
    assert overall.total == 4
    progress.source_end("random", 0.1)  # not to train: no line, no step
    progress.source_end("src", 12.34)
    progress.source_end("src", 0.0)  # prepared once: a second call changes nothing
    assert out.getvalue().splitlines() == ["SOURCE src model ready (12.3s)"]
    assert overall.completed == 1
    progress.end("t::src::m[seed=1]", "passed", 2.0, "auc=0.900")
    assert overall.completed == 2 and "PASSED t::src::m[seed=1] auc=0.900 (2.0s)" in out.getvalue()


def test_a_source_that_fails_to_prepare_still_ends_its_step():
    out = io.StringIO()
    progress = RunProgress(Console(file=out, width=200), total=1, sources=["src"])
    progress.source_end("src", 1.0, failed=True)
    assert out.getvalue().startswith("FAILED src could not be prepared")
    assert progress.progress.tasks[progress.overall].completed == 1
