"""A method whose worker process dies the first time it runs: it kills its own process (SIGKILL, as the kernel's
out-of-memory killer would) unless the marker file ``TLBENCH_TEST_KILL_MARKER`` names exists, creating it first;
then it scores as ``steady`` does."""

import os
import signal
from pathlib import Path

from fault_plugin import Steady

from benchmark import hookimpl


class KillOnce(Steady):
    name = "kill-once"
    description = "kills its own process on its first run (marker file TLBENCH_TEST_KILL_MARKER), then as steady"

    def run(self, ctx):
        marker = Path(os.environ["TLBENCH_TEST_KILL_MARKER"])
        try:
            with marker.open("x") as first:  # exclusive: of two workers that reach it at once, exactly one dies
                first.write(str(os.getpid()))
        except FileExistsError:
            return super().run(ctx)
        os.kill(os.getpid(), signal.SIGKILL)


@hookimpl
def tlbench_register_methods(register):
    register(KillOnce())
