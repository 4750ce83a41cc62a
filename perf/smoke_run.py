"""A CLI smoke run on real JPEG files: ``tlbench run`` through the local launcher, with an empty image cache.

    python perf/smoke_run.py --device cuda -- --compile --backbone vgg16 --image-size 224
    TLBENCH_FAKE_GPUS=2 python perf/smoke_run.py --device cpu -- --backbone test_resnet --image-size 32

Writes ``--images`` JPEGs of two classes into a folder dataset declared in a ``tlbench.toml`` (so the image cache
decodes files, in the launcher's worker processes on a GPU machine), runs scratch, FE + SVM on the ``random``
source, and FE + SVM and FT + SVM on ``synth_shapes`` (a source the harness trains first, as a job of its own), for
one seed, then prints each experiment's status, AUC and worker. Arguments after ``--`` go
to ``tlbench run``. Exits 1 when an experiment did not pass.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import write_jpegs  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--max-epochs", type=int, default=2)
    parser.add_argument("run_args", nargs="*", help="more `tlbench run` options (after --)")
    args = parser.parse_args()
    from benchmark.run.store import Store

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        write_jpegs(tmp / "data" / "smoke", args.images, 256, classes=2)
        (tmp / "tlbench.toml").write_text('[datasets.smoke]\npath = "smoke"\nroles = ["target"]\n')
        command = [sys.executable, "-c", "from benchmark.cli import main; main()", "run", "-d", "smoke",
                   "-s", "none", "-s", "random", "-s", "synth_shapes", "-m", "scratch", "-m", "fe-svm", "-m", "ft-svm",
                   "--seeds", "2", "--max-epochs", str(args.max_epochs), "--device", args.device,
                   "--data-root", str(tmp / "data"), "--out", str(tmp / "run"), "--cache-dir", str(tmp / "cache"),
                   "--retries", "0", *args.run_args]
        print("tlbench " + " ".join(command[3:]), flush=True)
        started = time.perf_counter()
        done = subprocess.run(command, cwd=tmp, env={**os.environ, "COLUMNS": "160"})
        seconds = time.perf_counter() - started
        rows = Store(tmp / "run").rows() if (tmp / "run").exists() else []
        for row in rows:
            auc = row["metrics"]["auc"] if row["status"] == "passed" else None
            print(f"  {row['node_id']:40} {row['status']:7} auc={auc if auc is None else f'{auc:.3f}'}  "
                  f"worker {row['versions'].get('worker', '?')}")
        passed = sum(row["status"] == "passed" for row in rows)
        print(f"smoke run: {passed} of {len(rows)} experiments passed, exit code {done.returncode}, {seconds:.0f}s "
              f"wall ({args.images} JPEGs decoded into an empty cache)")
        return 0 if done.returncode == 0 and rows and passed == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
