"""A method for fault tests, steered by the environment (which is in no config hash, so a rerun is the same
experiment): it sleeps ``TLBENCH_TEST_SLEEP`` seconds (time to kill it midway), appends its experiment and pid
to the file ``TLBENCH_TEST_RUNS`` names (a count of real runs), fails while ``TLBENCH_TEST_FAIL`` is set, kills
its own process with SIGKILL (a worker lost) the first time it runs after ``TLBENCH_TEST_KILL`` names a marker file
that does not exist yet (creating it), and else scores the test split by the brightness of each corner
(deterministic: a rerun gets the same metrics)."""

import os
import signal
import time

from corner_scores import corner_scores

from benchmark import Method, hookimpl


class Steady(Method):
    name = "steady"
    description = "corner brightness, slowed, counted and failed on demand through TLBENCH_TEST_* variables"

    def run(self, ctx):
        time.sleep(float(os.environ.get("TLBENCH_TEST_SLEEP", "0")))
        if "TLBENCH_TEST_RUNS" in os.environ:
            with open(os.environ["TLBENCH_TEST_RUNS"], "a") as runs:
                runs.write(f"{ctx.data.task.name}::{ctx.source.name}[seed={ctx.seed}] {os.getpid()}\n")
        marker = os.environ.get("TLBENCH_TEST_KILL")
        if marker and _created(marker):
            os.kill(os.getpid(), signal.SIGKILL)
        if os.environ.get("TLBENCH_TEST_FAIL"):
            raise RuntimeError("steady fails: TLBENCH_TEST_FAIL is set")
        return corner_scores(ctx)


def _created(marker: str) -> bool:
    """Create ``marker`` unless it exists, atomically: of two workers that reach it at once, exactly one is lost."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


@hookimpl
def tlbench_register_methods(register):
    register(Steady())
