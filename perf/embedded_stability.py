"""Whether the embedded default's board holds still: every cell's spread over seeds and the columns' places,
under one and under two torch threads (the float rounding differs, so each run is another draw of training).

    python perf/embedded_stability.py                 # threads 1 and 2, fresh folders and caches
    python perf/embedded_stability.py --threads 2 2   # the same setting twice: a second run folder

Prints each run's wall time, every cell's mean and max deviation, the places, and whether the places agree
and every max deviation is at most --limit. Exit 1 when not. Run it alone: its times are the embedded
default's first-run times (generation, audit, source training and the board included).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TLBENCH = [sys.executable, "-c", "import sys; from benchmark.cli import main; sys.exit(main())"]


def board_of(threads: int, folder: Path) -> tuple[dict, float]:
    env = {**os.environ, "TLBENCH_CACHE": str(folder / "cache")}
    env.pop("OMP_NUM_THREADS", None)
    started = time.perf_counter()
    subprocess.run([*TLBENCH, "run", "--all", "--threads", str(threads), "--out", str(folder / "run")], env=env,
                   check=True, capture_output=True)
    seconds = time.perf_counter() - started
    shown = subprocess.run([*TLBENCH, "show", "--out", str(folder / "run"), "--format", "json"], env=env,
                           check=True, capture_output=True, text=True).stdout
    (board,) = json.loads(shown)["boards"]
    return board, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs=2, default=(1, 2))
    parser.add_argument("--limit", type=float, default=0.05, help="the largest max deviation allowed")
    args = parser.parse_args()
    places, worst = [], 0.0
    for threads in args.threads:
        with tempfile.TemporaryDirectory() as folder:
            board, seconds = board_of(threads, Path(folder))
        print(f"threads {threads}: {seconds:.1f} s wall")
        for cell in board["cells"]:
            print(f"  {cell['target']:<12} {cell['source']:<13} {cell['method']:<7} "
                  f"{cell['mean']:.3f} ± {cell['max_deviation']:.3f}")
            worst = max(worst, cell["max_deviation"])
        ranking = [(p["place"], p["column"]) for p in board["places"]]
        print("  places: " + "; ".join(f"{place} {column}" for place, column in ranking))
        places.append({column: place for place, column in ranking})
    same = places[0] == places[1]
    print(f"places agree: {same}; largest max deviation {worst:.3f} (limit {args.limit})")
    sys.exit(0 if same and worst <= args.limit else 1)


if __name__ == "__main__":
    main()
