"""The embedded default's wall time alone and beside one busy process, with tlbench's threads and torch's default.

    python perf/threads_under_load.py                        # the four cases, the whole grid each
    python perf/threads_under_load.py -k "xray and scratch"  # a subset of the grid
    python perf/threads_under_load.py --cases tlbench        # only tlbench's setting

Each case is a fresh ``tlbench run --all`` (extra selection with ``-k``) in a new run folder and a new
cache, as a new user's first run. tlbench's setting is what ``tlbench run`` does when none of
``OMP_NUM_THREADS``, ``OMP_WAIT_POLICY`` and ``GOMP_SPINCOUNT`` is set: as many threads as the cores
this process may use, each waiting thread spinning 1,000 rounds before it sleeps. torch's default
imports torch before tlbench, so OpenMP starts with its own setting (300,000 rounds), and keeps torch's
thread count. The busy process is one Python loop spinning on a core, as another user's job would. A
case still running after ``--timeout`` seconds is stopped and reported as such. Run it alone: anything
else on the machine changes every number.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TLBENCH = "import sys; from benchmark.cli import main; sys.exit(main())"
# torch first: OpenMP has read its wait policy before tlbench could set one
TORCH_DEFAULT = ("import sys, torch; sys.argv += ['--threads', str(torch.get_num_threads())]; "
                 "from benchmark.cli import main; sys.exit(main())")
CASES = {"tlbench": TLBENCH, "torch-default": TORCH_DEFAULT}


def run_case(code: str, keyword: str, busy: bool, timeout: float) -> tuple[float, str]:
    """Wall seconds of one grid, and how it ended."""
    unset = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    with tempfile.TemporaryDirectory() as folder:
        env["TLBENCH_CACHE"] = str(Path(folder) / "cache")
        command = [sys.executable, "-c", code, "run", "--all", "--out", str(Path(folder) / "run")]
        if keyword:
            command += ["-k", keyword]
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
        started = time.perf_counter()
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
            ending = "passed" if done.returncode == 0 else f"exit {done.returncode}: {done.stderr.strip()[-300:]}"
        except subprocess.TimeoutExpired:
            ending = f"stopped after {timeout:.0f} s"
        finally:
            if spinner is not None:
                spinner.kill()
                spinner.wait()
        return time.perf_counter() - started, ending


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-k", default="", help="tlbench's -k selection within the embedded default")
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=["tlbench", "torch-default"])
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before a case is stopped")
    args = parser.parse_args()
    selection = "--all" + (f" -k {args.k!r}" if args.k else "")
    print(f"cores this process may use: {len(os.sched_getaffinity(0))}; selection: {selection}")
    print(f"{'threads setting':<16} {'load':<22} {'wall s':>8}  ending")
    for case in args.cases:
        for busy in (False, True):
            seconds, ending = run_case(CASES[case], args.k, busy, args.timeout)
            load = "beside 1 busy process" if busy else "alone"
            print(f"{case:<16} {load:<22} {seconds:8.1f}  {ending}", flush=True)


if __name__ == "__main__":
    main()
