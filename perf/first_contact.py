"""What a new user waits for on the embedded default, this checkout against an older commit: ``tlbench run --all``
with every method and with the study's three methods (each from a fresh cache and run folder), the no-op rerun of
the finished grid, ``tlbench list`` and ``tlbench show`` on it. A benchmark, not a test: run it alone.

    python perf/first_contact.py                      # against ccb16f4, two rounds
    python perf/first_contact.py --base HEAD~5 --rounds 3
    python perf/first_contact.py --only list,show --all-args "-d synth_cells -s none -m scratch --seeds 0"

The older commit is checked out into a throwaway git worktree; each commit runs from its own source tree through
``perf/devpath.py`` (``PYTHONPATH`` to links to its ``benchmark/`` and plugins, with its own entry points) on this
interpreter's packages, so that the two differ in tlbench's code alone. The commits alternate (base, this, base,
this...) so that a machine's drift falls on both. Prints one table: each measurement's seconds per round and
their median per commit, the all-methods / three-methods ratio, and the targets beside them.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
THREE = "-m scratch -m fe-svm -m ft-svm"
MEASUREMENTS = ("all", "three", "noop", "list", "show")
TARGETS = {"noop": 2.0, "list": 2.0, "show": 2.0}  # seconds, each
RATIO_TARGET = 1.6  # all methods / three methods
TITLES = {"all": "run --all, every method (fresh)", "three": "run --all, scratch fe-svm ft-svm (fresh)",
          "noop": "no-op rerun of every method's grid", "list": "tlbench list", "show": "tlbench show"}


@dataclass
class Commit:
    """A source tree of tlbench and the site folder that makes it importable."""

    label: str
    rev: str
    tree: Path
    site: Path
    seconds: dict[str, list[float]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def make_site(tree: Path, site: Path) -> None:
    """``tree``'s own perf/devpath.py writes the links and entry points; a commit without it gets this one's."""
    devpath = tree / "perf" / "devpath.py"
    script = devpath if devpath.exists() else ROOT / "perf" / "devpath.py"
    subprocess.run([sys.executable, str(script), str(site)], cwd=tree, check=True, capture_output=True, text=True)
    if (site / "benchmark").resolve() != (tree / "benchmark").resolve():
        raise SystemExit(f"{site} does not point at {tree}'s benchmark/: {script} writes another tree's links")


def tlbench(commit: Commit, args: list[str], cache: Path, log: Path) -> tuple[float, int]:
    """Seconds ``tlbench ARGS`` took in a fresh interpreter, and its exit status (its output goes to ``log``)."""
    env = {**os.environ, "PYTHONPATH": str(commit.site), "TLBENCH_CACHE": str(cache), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-c", "import sys; from benchmark.cli import main; sys.exit(main())", *args]
    started = time.perf_counter()
    with open(log, "w") as out:
        status = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent).returncode
    return time.perf_counter() - started, status


def measure_round(commit: Commit, chosen: list[str], all_args: list[str], three_args: list[str], work: Path,
                  round_no: int) -> None:
    """One round of the chosen measurements for ``commit``, from fresh caches and run folders."""
    folder = work / f"{commit.label}-{round_no}"
    folder.mkdir(parents=True)
    runs, cache = folder / "runs-all", folder / "cache-all"
    steps = {
        "all": (all_args + ["--out", str(runs)], cache),
        "three": (three_args + ["--out", str(folder / "runs-three")], folder / "cache-three"),
        "noop": (all_args + ["--out", str(runs)], cache),
        "list": (["list"], cache),
        "show": (["show", "--out", str(runs)], cache),
    }
    if ("noop" in chosen or "show" in chosen) and "all" not in chosen:  # they read the finished grid: make it
        seconds, status = tlbench(commit, steps["all"][0], cache, folder / "all-untimed.log")
        if status != 0:
            commit.failures.append(f"round {round_no}: the grid that noop and show read failed ({status})")
    for name in MEASUREMENTS:
        if name not in chosen:
            continue
        args, step_cache = steps[name]
        log = folder / f"{name}.log"
        seconds, status = tlbench(commit, args, step_cache, log)
        commit.seconds.setdefault(name, []).append(seconds)
        if status not in (0, 5):  # 5: nothing ran (a no-op rerun of a grid whose experiments were all skipped)
            tail = " | ".join(log.read_text().strip().splitlines()[-3:])
            commit.failures.append(f"round {round_no} {name}: exit {status}: {tail}")


def machine() -> str:
    model = ""
    try:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (f"{platform.node()} · {model or platform.processor() or '?'} · {usable} of {os.cpu_count()} cores usable "
            f"· load {load} · Python {platform.python_version()}")


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def table(commits: list[Commit], chosen: list[str]) -> list[str]:
    """The result table's lines: per measurement, each commit's rounds and median, and the target."""
    lines = [f"{'measurement':<42}" + "".join(f"{c.label + ' ' + c.rev[:8]:>24}" for c in commits) + "  target"]
    for name in chosen:
        cells = []
        for commit in commits:
            values = commit.seconds.get(name, [])
            rounds = "/".join(f"{v:.1f}" for v in values)
            cells.append(f"{median(values):.1f} s ({rounds})" if values else "-")
        target = f"< {TARGETS[name]:.0f} s" if name in TARGETS else ""
        lines.append(f"{TITLES[name]:<42}" + "".join(f"{cell:>24}" for cell in cells) + f"  {target}")
    if "all" in chosen and "three" in chosen:
        ratios = []
        for commit in commits:
            a, t = median(commit.seconds.get("all", [])), median(commit.seconds.get("three", []))
            ratios.append(f"{a / t:.2f}" if a and t else "-")
        lines.append(f"{'all methods / three methods':<42}" + "".join(f"{r:>24}" for r in ratios)
                     + f"  <= {RATIO_TARGET}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="ccb16f4", help="the older commit to compare with [ccb16f4]")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per commit, alternating [2]")
    parser.add_argument("--only", default=",".join(MEASUREMENTS),
                        help=f"comma-separated measurements among {', '.join(MEASUREMENTS)} [all of them]")
    parser.add_argument("--all-args", default="run --all", help="the every-method grid's command ['run --all']")
    parser.add_argument("--three-args", default=f"run --all {THREE}",
                        help=f"the three-method grid's command ['run --all {THREE}']")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the run folders, caches and logs here (default: a temporary folder, removed)")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(MEASUREMENTS))
    if unknown or not chosen:
        parser.error(f"--only {args.only!r}: choose among {', '.join(MEASUREMENTS)}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    work = Path(tempfile.mkdtemp(prefix="tlbench-first-contact-")) if args.keep is None else args.keep.resolve()
    work.mkdir(parents=True, exist_ok=True)
    base_tree = work / "base-tree"
    try:
        base_rev = git("rev-parse", "--verify", f"{args.base}^{{commit}}")
    except subprocess.CalledProcessError:
        raise SystemExit(f"--base {args.base!r} is not a commit of {ROOT}") from None
    new_rev = git("rev-parse", "HEAD") + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")
    git("worktree", "add", "--detach", str(base_tree), base_rev)
    try:
        commits = [Commit("base", base_rev, base_tree, work / "base-site"), Commit("this", new_rev, ROOT,
                                                                                 work / "this-site")]
        for commit in commits:
            make_site(commit.tree, commit.site)
        print(f"first contact · {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC · base {base_rev[:10]} "
              f"({git('log', '-1', '--format=%cs %s', base_rev)[:60]}) · this {new_rev[:10]}", flush=True)
        print(f"machine: {machine()}", flush=True)
        print(f"grids: every method `tlbench {args.all_args}`; three `tlbench {args.three_args}`; "
              f"{args.rounds} round(s), alternating base and this", flush=True)
        for round_no in range(args.rounds):
            for commit in commits:
                measure_round(commit, chosen, shlex.split(args.all_args), shlex.split(args.three_args), work, round_no)
                print(f"  round {round_no + 1} {commit.label}: " + ", ".join(
                    f"{name} {commit.seconds[name][-1]:.1f} s" for name in chosen if name in commit.seconds),
                    flush=True)
        print()
        print("\n".join(table(commits, chosen)))
        for commit in commits:
            for failure in commit.failures:
                print(f"FAILED ({commit.label}): {failure}")
        if args.keep is not None:
            print(f"logs, run folders and caches: {work}")
    finally:
        git("worktree", "remove", "--force", str(base_tree))
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
