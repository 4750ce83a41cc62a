"""MedMNIST v2's baseline table, rerun with tlbench's `medmnist` preset, beside the published numbers.

    python perf/medmnist_table.py                                  # PneumoniaMNIST, ResNet-18 at 28 px, 3 seeds
    python perf/medmnist_table.py --epochs 40 --seeds 0            # a partial run: the first 40 of 100 epochs
    python perf/medmnist_table.py --flag pneumoniamnist --model resnet18_224 --model resnet50_224

Each (flag, model) cell runs `tlbench run --preset medmnist -m scratch` with the model's backbone and input size
into one run folder (results already there are reused: a run resumes), then prints per cell our test AUC and ACC
(mean ± sd over seeds), the paper's, their differences, whether the paper's single run lies within our
mean ± 2 sd, the epochs run, the mean seconds per epoch and the projected time of the full protocol
(100 epochs per seed). With fewer than 100 epochs the comparison is marked partial: the lr has not yet
stepped down at epochs 50 and 75, and the best-validation-AUC model is chosen among the epochs run.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmark.presets import MEDMNIST
from benchmark.run.store import Store
from tlbench_plugins.datasets.medmnist import MedMnist

TLBENCH = [sys.executable, "-c", "import sys; from benchmark.cli import main; sys.exit(main())"]
# The table's columns: backbone and input size
MODELS = {
    "resnet18_28": ("medmnist_resnet18_28", 28),
    "resnet18_224": ("medmnist_resnet18_224", 224),
    "resnet50_28": ("medmnist_resnet50_28", 28),
    "resnet50_224": ("medmnist_resnet50_224", 224),
}
# Test (AUC, ACC) of MedMNIST v2 (Yang et al. 2023, Scientific Data 10:41, Table 3), one run each. Only the cells
# checked against the paper are here; a cell without one prints ours alone.
PAPER = {
    ("pneumoniamnist", "resnet18_28"): (0.944, 0.854),
    ("pneumoniamnist", "resnet18_224"): (0.956, 0.864),
    ("pneumoniamnist", "resnet50_224"): (0.962, 0.884),
}


def input_of(model: str) -> str:
    """What a column's images are, ours and the paper's: the table runs `<flag>`, the 28 px file (not `<flag>_plus`,
    MedMNIST+'s native files)."""
    size = MODELS[model][1]
    if size == 28:
        return "ours and the paper's, the 28 px images as published"
    return (f"ours and the paper's, the 28 px images upsampled to {size} px with NEAREST (dataset <flag>, not "
            f"<flag>_plus's MedMNIST+ {size} px files)")


def run_cell(flag: str, model: str, seeds: str, epochs: int | None, args) -> float:
    """Run one cell into ``args.out``; its wall time in seconds."""
    backbone, size = MODELS[model]
    command = [*TLBENCH, "run", "--preset", "medmnist", "-d", flag, "-m", "scratch", "--backbone", backbone,
               "--image-size", str(size), "--seeds", seeds, "--out", str(args.out), "--data-root", str(args.data_root),
               "--device", args.device, "--no-audit"]
    if epochs is not None:
        command += ["--max-epochs", str(epochs)]
    if args.cache_dir:
        command += ["--cache-dir", str(args.cache_dir)]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - started


def paper_input(flag: str, data_root: Path) -> str:
    """The data fingerprint of ``flag`` as the paper ran it (the 28 px file): rows of other inputs are left out."""
    dataset = MedMnist(flag)
    return dataset.fingerprint(dataset.tasks()[0], data_root)


def cell_rows(store: Store, flag: str, model: str, epochs: int, data: str) -> list[dict]:
    """The passed results of one cell: scratch on ``flag`` with the model's backbone and size, ``epochs`` long, on
    the data whose fingerprint is ``data``."""
    backbone, size = MODELS[model]
    return [row for row in store.rows("passed")
            if row["target"] == flag and row["method"] == "scratch" and row["preset"]["backbone"] == backbone
            and row["preset"]["image_size"] == size and row["preset"]["max_epochs"] == epochs
            and row["config"]["target"].get("data") == data]


def spread(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else float("nan")


def describe(values: list[float], paper: float | None) -> tuple[str, str, str]:
    """Ours as mean ± sd, the difference from the paper, and whether the paper lies within mean ± 2 sd."""
    mean, sd = spread(values)
    ours = f"{mean:.3f}" + (f" ± {sd:.3f}" if len(values) > 1 else " (1 seed)")
    if paper is None:
        return ours, "", ""
    inside = "n/a (1 seed)" if len(values) < 2 else ("yes" if abs(paper - mean) <= 2 * sd else "no")
    return ours, f"{mean - paper:+.3f}", inside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flag", action="append", help="MedMNIST flag (repeatable) [pneumoniamnist]")
    parser.add_argument("--model", action="append", choices=sorted(MODELS), help="Table column (repeatable) "
                        "[resnet18_28]")
    parser.add_argument("--seeds", default=",".join(map(str, MEDMNIST.seeds)), help="Comma-separated seeds [0,1,2]")
    parser.add_argument("--epochs", type=int, default=None, help="Epochs per seed [the protocol's 100]")
    parser.add_argument("--data-root", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--out", type=Path, default=Path("medmnist-table"), help="Run folder [./medmnist-table]")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--report-only", action="store_true", help="Print the table of what the run folder holds")
    args = parser.parse_args()
    flags, models = args.flag or ["pneumoniamnist"], args.model or ["resnet18_28"]
    epochs = args.epochs or MEDMNIST.max_epochs
    walls = {}
    for flag in flags:
        for model in models:
            if not args.report_only:
                walls[flag, model] = run_cell(flag, model, args.seeds, args.epochs, args)

    store = Store(args.out)
    data = {flag: paper_input(flag, args.data_root) for flag in flags}
    partial = epochs < MEDMNIST.max_epochs
    title = "MedMNIST v2 Table 3 (Yang et al. 2023) and tlbench's medmnist preset, test split"
    if partial:
        title += f" · PARTIAL: {epochs} of {MEDMNIST.max_epochs} epochs"
    table = Table(title=title)
    for column in ("flag", "model", "seeds", "epochs", "AUC ours", "paper", "Δ", "in ±2sd", "ACC ours", "paper",
                   "Δ", "in ±2sd", "s/epoch", "full protocol", "wall"):
        table.add_column(column, justify="left" if column in ("flag", "model") else "right")
    for flag in flags:
        for model in models:
            rows = cell_rows(store, flag, model, epochs, data[flag])
            if not rows:
                table.add_row(flag, model, "0", *[""] * 12)
                continue
            paper_auc, paper_acc = PAPER.get((flag, model), (None, None))
            auc = describe([row["metrics"]["auc_ovr"] for row in rows], paper_auc)
            acc = describe([row["metrics"]["accuracy"] for row in rows], paper_acc)
            epoch_seconds = statistics.fmean(e["seconds"] for row in rows for e in row["history"])
            runs = {len(row["history"]) for row in rows}
            full = epoch_seconds * MEDMNIST.max_epochs * len(rows) / 3600
            table.add_row(flag, model, str(len(rows)), "/".join(map(str, sorted(runs))),
                          auc[0], "" if paper_auc is None else f"{paper_auc:.3f}", auc[1], auc[2],
                          acc[0], "" if paper_acc is None else f"{paper_acc:.3f}", acc[1], acc[2],
                          f"{epoch_seconds:.1f}", f"{full:.2f} h", f"{walls.get((flag, model), 0) / 60:.1f} min")
    console = Console(width=200)
    console.print(table)
    console.print("AUC: mean one-vs-rest (medmnist.Evaluator); ACC: p(class 1) > 0.5 for two classes, else argmax. "
                  "The paper reports one run per cell; 'in ±2sd' asks whether it lies within our mean ± 2 sd over "
                  "seeds. 'full protocol': the mean epoch time x 100 epochs x seeds.")
    rules = sorted({row["preset"]["selection"] for flag in flags for model in models
                    for row in cell_rows(store, flag, model, epochs, data[flag])}) or [MEDMNIST.selection]
    console.print(f"Selection: ours {', '.join(rules)} (the epoch kept); the paper's, the last epoch (its code's "
                  "`best_model = model` kept a reference to the model being trained; selection \"last\" is that "
                  "rule). A cell kept by another rule compares two selection rules (docs/protocol.md).")
    for model in models:
        console.print(f"Input of {model}: {input_of(model)}")
    if partial:
        console.print(f"[yellow]Partial: {epochs} of {MEDMNIST.max_epochs} epochs, before the lr steps down at epochs "
                      f"{', '.join(map(str, MEDMNIST.lr_milestones))}; not the paper's protocol.[/]")


if __name__ == "__main__":
    main()
