"""The ``dry-run`` launcher: what every other launcher would run, as commands or job specifications; nothing runs
and nothing is written."""

from __future__ import annotations

from benchmark import Launcher, hookimpl


class DryRunLauncher(Launcher):
    name = "dry-run"
    description = "Print what each launcher would run (commands or job specifications); run and write nothing"
    executes = False

    def describe(self, jobs, spec, options) -> list[str]:
        trains = sum(job.trains for job in jobs)
        lines = [f"{len(jobs)} job(s), {trains} of them training a network, in the order they are handed out "
                 "(sources first, then costliest first):"]
        for job in jobs:
            after = f", after {job.needs}" if job.needs else ""
            lines.append(f"  {job.kind:10} {job.label}  ~{job.cost:.0f}s{after}  [{job.id[:12]}]")
        return lines


@hookimpl
def tlbench_register_launchers(register):
    register(DryRunLauncher())
