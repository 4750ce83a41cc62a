"""The ``local`` launcher (the default): every GPU of this machine, each with a worker process of its own.

One worker process per visible GPU, pinned to it with ``CUDA_VISIBLE_DEVICES``, runs ``--jobs-per-gpu`` jobs at
once in threads; a worker that dies fails the jobs it held (the driver retries them) and is started afresh for the
next job. ``CUDA_VISIBLE_DEVICES``, when set, is the list of GPUs to use (``--device cuda:N``: its N-th alone).
Without a GPU the jobs run in this process, one after another (or ``--jobs-per-gpu`` side by side in threads).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from concurrent.futures import Future, ThreadPoolExecutor

import benchmark  # benchmark.execute: the engine loads when a job runs, not when the plugin does
from benchmark import Launcher, LaunchOptions, Session, WorkerLost, hookimpl

# pretend this many GPUs (tests of the queue and device assignment on a machine without any): the workers are
# pinned as on a GPU machine (CUDA_VISIBLE_DEVICES), and compute on the run's device, the CPU
FAKE_GPUS = "TLBENCH_FAKE_GPUS"


def visible_gpus(environ=os.environ) -> list[str]:
    """The GPUs to use: ``TLBENCH_FAKE_GPUS`` pretended ones, else ``CUDA_VISIBLE_DEVICES`` when set (ids or
    UUIDs, as CUDA takes them), else every CUDA device torch sees."""
    if environ.get(FAKE_GPUS):
        return [str(i) for i in range(int(environ[FAKE_GPUS]))]
    import torch

    if not torch.cuda.is_available():
        return []
    restricted = environ.get("CUDA_VISIBLE_DEVICES")
    if restricted is not None:
        return [d.strip() for d in restricted.split(",") if d.strip()][: torch.cuda.device_count()]
    return [str(i) for i in range(torch.cuda.device_count())]


def _chosen(gpus: list[str], device) -> list[str]:
    """The GPUs a run uses: all visible ones, or the one ``--device cuda:N`` names (N counts the visible ones)."""
    if getattr(device, "type", None) == "cuda" and device.index is not None and device.index < len(gpus):
        return [gpus[device.index]]
    return gpus


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class InProcessSession(Session):
    """Jobs run in this process: one at a time inside :meth:`submit` (so Ctrl-C stops the job itself), or
    ``jobs_per_gpu`` at once in threads."""

    def __init__(self, spec, options: LaunchOptions, device: str):
        self.spec, self.capacity, self.device = spec, options.jobs_per_gpu, device
        self._pool = ThreadPoolExecutor(self.capacity, thread_name_prefix="tlbench-job") if self.capacity > 1 else None
        self._free = list(range(self.capacity))
        self._lock = threading.Lock()

    def submit(self, job, on_event, avoid: str = "") -> Future:
        if self._pool is None:
            future: Future = Future()
            on_event(("started", f"{self.device}/0"))
            future.set_result(benchmark.execute(self.spec, job, on_event))
            return future
        with self._lock:
            slot = self._free.pop(0)
        on_event(("started", f"{self.device}/{slot}"))

        def run():
            try:
                return benchmark.execute(self.spec, job, on_event)
            finally:
                with self._lock:
                    self._free.append(slot)
                    self._free.sort()

        return self._pool.submit(run)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "its connection closed"
    if code < 0:
        name = signal.Signals(-code).name
        why = " (killed, or out of memory)" if -code == signal.SIGKILL else ""
        return f"ended by {name}{why}"
    return f"exited with code {code}"


def serve(connection, spec, gpu: str, slots: int, threads: int) -> None:
    """A worker process: pinned to ``gpu``, it runs the jobs it receives, ``slots`` at once, sending back each
    one's events and result. It ends when told to or when the driver is gone."""
    os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    import torch

    torch.set_num_threads(threads)
    sending = threading.Lock()

    def send(message) -> None:
        with sending:
            connection.send(message)

    def run(job) -> None:
        result = benchmark.execute(spec, job, lambda event: send(("event", job.id, event)))
        send(("result", job.id, result))

    pool = ThreadPoolExecutor(slots, thread_name_prefix="tlbench-job")
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):  # the driver is gone: its results cannot be delivered
            os._exit(1)
        if message[0] == "stop":
            break
        pool.submit(run, message[1])
    pool.shutdown(wait=False, cancel_futures=True)
    os._exit(0)


class _WorkerProcess:
    """One GPU's worker process, started on first use and after it dies, and the jobs it holds."""

    def __init__(self, spec, gpu: str, slots: int, threads: int):
        self.spec, self.gpu, self.slots, self.threads = spec, gpu, slots, threads
        self.name = f"gpu{gpu}"
        self.process = None
        self.held: dict[str, tuple[Future, object, int]] = {}  # job id -> future, event handler, slot
        self._lock = threading.Lock()

    @property
    def free(self) -> int:
        return self.slots - len(self.held)

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=serve, args=(child, self.spec, self.gpu, self.slots, self.threads),
                                       name=f"tlbench-worker-{self.name}", daemon=True)
        self.process.start()
        child.close()
        threading.Thread(target=self._read, args=(self.connection, self.process), daemon=True).start()

    def submit(self, job, on_event) -> Future:
        with self._lock:
            if self.process is None:
                self._start()
            used = {slot for _, _, slot in self.held.values()}
            slot = min(set(range(self.slots)) - used)
            future: Future = Future()
            self.held[job.id] = (future, on_event, slot)
        on_event(("started", f"{self.name}/{slot}"))
        try:
            self.connection.send(("job", job))
        except (OSError, ValueError):  # it died meanwhile: the reader fails what it held
            pass
        return future

    def _read(self, connection, process) -> None:
        while True:
            try:
                kind, job_id, payload = connection.recv()
            except (EOFError, OSError):
                break
            with self._lock:
                held = self.held.get(job_id)
                if kind == "result":
                    self.held.pop(job_id, None)
            if held is None:
                continue
            if kind == "event":
                held[1](payload)
            else:
                held[0].set_result(payload)
        process.join(5)
        reason = f"worker process {process.pid} on {self.name} {_describe_exit(process.exitcode)}"
        with self._lock:
            lost, self.held = self.held, {}
            if self.process is process:
                self.process = None
        for future, _, _ in lost.values():
            future.set_exception(WorkerLost(reason))

    def close(self) -> None:
        process = self.process
        if process is None:
            return
        try:
            self.connection.send(("stop",))
        except (OSError, ValueError):
            pass
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join()


class ProcessSession(Session):
    """A worker process per GPU, ``jobs_per_gpu`` slots each."""

    def __init__(self, spec, options: LaunchOptions, gpus: list[str]):
        threads = options.cpus_per_job or max(1, _cores() // len(gpus))
        self.workers = [_WorkerProcess(spec, gpu, options.jobs_per_gpu, threads) for gpu in gpus]
        self.capacity = len(gpus) * options.jobs_per_gpu

    def submit(self, job, on_event, avoid: str = "") -> Future:
        free = [w for w in self.workers if w.free > 0]
        others = [w for w in free if not avoid.startswith(f"{w.name}/")]
        worker = max(others or free, key=lambda w: w.free)
        return worker.submit(job, on_event)

    def close(self) -> None:
        for worker in self.workers:
            worker.close()


class LocalLauncher(Launcher):
    name = "local"
    description = ("This machine: a worker process per visible GPU (CUDA_VISIBLE_DEVICES honoured), --jobs-per-gpu "
                   "jobs each; without a GPU, in this process")

    def open(self, spec, options: LaunchOptions) -> Session:
        gpus = _chosen(visible_gpus(), spec.settings.device)
        if not gpus:
            return InProcessSession(spec, options, "cpu" if spec.settings.device.type == "cpu" else "gpu")
        return ProcessSession(spec, options, gpus)

    def describe(self, jobs, spec, options: LaunchOptions) -> list[str]:
        gpus = _chosen(visible_gpus(), spec.settings.device)
        slots = [f"gpu{g}/{k}" for g in gpus for k in range(options.jobs_per_gpu)] or \
            [f"this process/{k}" for k in range(options.jobs_per_gpu)]
        lines = [f"{len(gpus)} worker process(es): "
                 + ", ".join(f"CUDA_VISIBLE_DEVICES={g} ({options.jobs_per_gpu} slot(s))" for g in gpus)
                 if gpus else f"no GPU: in this process, {options.jobs_per_gpu} at a time"]
        by_id = {job.id: job for job in jobs}
        timeline = benchmark.simulate(jobs, len(slots)).timeline
        for job_id, slot, start, end in sorted(timeline, key=lambda t: (t[2], t[1])):
            lines.append(f"  {slots[slot]} at +{start:.0f}s: {by_id[job_id].label} (~{end - start:.0f}s)")
        return lines


@hookimpl
def tlbench_register_launchers(register):
    register(LocalLauncher())
