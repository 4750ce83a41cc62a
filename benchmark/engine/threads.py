"""torch's CPU threads for a run: as many as this process may use, none of them spinning for a busy core.

torch starts as many intra-op threads as the machine has physical cores, whatever share of them this process
may use, and its OpenMP runtime (libgomp) lets a waiting thread spin on its core for 300,000 rounds. Beside
another busy process that spinning takes the very core the others wait for.
"""

from __future__ import annotations

import os
import sys

# Iterations a waiting OpenMP thread spins before it sleeps (libgomp's default: 300,000). A brief spin keeps most
# of spinning's quick wake-up when the process has its cores to itself, and a thread that waits longer sleeps
# instead of holding a core another process needs; no spin at all (OMP_WAIT_POLICY=PASSIVE) is slower alone and
# no faster under load. perf/threads_under_load.py measures the three.
SPIN_COUNT = "1000"


def prefer_brief_spinning() -> None:
    """Make OpenMP's waiting threads sleep after a brief spin instead of holding a core another process needs,
    unless ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` says otherwise.

    OpenMP reads these once, when its runtime loads with torch: this must run before the first
    ``import torch`` of the process (the package's ``__init__`` calls it first thing).
    """
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and ``taskset`` narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve_threads(requested: int | None) -> tuple[int, str]:
    """The intra-op thread count and where it came from: ``--threads``, ``OMP_NUM_THREADS`` or the usable cores.

    ValueError for an ``OMP_NUM_THREADS`` that is not a positive integer.
    """
    if requested is not None:
        return requested, "--threads"
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"OMP_NUM_THREADS={value!r}: give a positive integer, or unset it")
        return int(value), "OMP_NUM_THREADS"
    return usable_cores(), "the cores this process may use"


def set_threads(requested: int | None) -> tuple[int, str]:
    """Set torch's intra-op threads as :func:`resolve_threads` says; return the count and its origin.

    Where torch has not loaded yet the count goes to ``OMP_NUM_THREADS``, which OpenMP reads when torch loads:
    a run with nothing left to do then never loads torch at all."""
    count, origin = resolve_threads(requested)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(count)
    else:
        os.environ["OMP_NUM_THREADS"] = str(count)
    return count, origin
