"""Resume rules: what a run folder's store already holds decides each planned experiment's state."""

from __future__ import annotations

from benchmark.hashing import config_changes
from benchmark.launchers import WORKER_LOST
from benchmark.run.planner import DONE, FAILED, PENDING, Plan
from benchmark.run.store import Store


def mark_recorded(plan: Plan, store: Store, rerun: str | None) -> None:
    """Mark what the store holds as done (or failed); a pending experiment says when it was interrupted or lost
    its worker (both run again), its stored row cannot be used (runs again), runs in another process, or passed
    under another configuration (what changed)."""
    earlier = store.passed_configs()
    for planned in plan.by_state(PENDING):
        status = store.status_of(planned.config_hash)
        if status == "passed" and rerun != "all":
            planned.state = DONE
        elif status == "failed" and store.error_of(planned.config_hash).startswith(WORKER_LOST):
            planned.reason = "its worker was lost in an earlier run (killed, out of memory, node lost); runs again"
        elif status == "failed" and rerun not in ("failed", "all"):
            planned.state, planned.reason = FAILED, "failed in an earlier run; --rerun failed retries it"
        elif status == "interrupted":
            planned.reason = "interrupted in an earlier run (its process is gone); runs again"
        elif status == "running":
            planned.reason = "running in another tlbench process on this run folder; left to it"
        elif status is None and (problem := store.problem_of(planned.config_hash)):
            planned.reason = f"its stored row cannot be used ({problem}); runs again"
        elif status is None and planned.experiment.node_id in earlier:
            changes = config_changes(earlier[planned.experiment.node_id], planned.config)
            planned.reason = "done before under another configuration: " + "; ".join(changes)
