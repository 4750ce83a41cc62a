"""A third-party launcher with options of its own: ``-p option_launcher``. ``threads`` runs jobs in that many
threads of the driver's process; ``tag`` names the run. Every session it opens is kept in ``OPENED``."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from benchmark import Launcher, LauncherOption, Session, execute, hookimpl

OPENED: list[dict] = []  # the options of each session opened, in order


class PoolSession(Session):
    def __init__(self, spec, threads: int):
        self.spec, self.capacity = spec, threads
        self.pool = ThreadPoolExecutor(threads)

    def submit(self, job, on_event, avoid=""):
        on_event(("started", "pool"))
        return self.pool.submit(execute, self.spec, job, on_event)

    def close(self):
        self.pool.shutdown()


class PoolLauncher(Launcher):
    name = "pool"
    description = "jobs in a pool of threads of the driver's process"
    options = (LauncherOption("threads", int, 1, "jobs at once", minimum=1),
               LauncherOption("tag", str, "untagged", "a name for the run"))

    def open(self, spec, options):
        OPENED.append(dict(options.own))
        return PoolSession(spec, options.own["threads"])

    def describe(self, jobs, spec, options):
        return [f"{len(jobs)} job(s) in {options.own['threads']} thread(s), tag {options.own['tag']}"]


@hookimpl
def tlbench_register_launchers(register):
    register(PoolLauncher())
