"""Error rates of the board's verdicts: boards simulated with no true difference (false positives) and with a known
one (power), judged by the board's own code (benchmark.report, the NEW procedure) and by the procedure it replaced
(the OLD one, kept here only: a paired hierarchical bootstrap with resamples keyed by the seed, and places by a
t-test over seeds whose identical differences gave p = 0, Bonferroni over columns - 1).

    python perf/calibration.py --seeds 3            # half the table of docs/statistics.md (200 boards a row)
    python perf/calibration.py --seeds 5            # the other half
    python perf/calibration.py --measure RUN_FOLDER # the ratio below, measured on a run of `tlbench run --all`

A board is the embedded default's shape: 2 targets, scratch and 2 sources x (FE, FT), n test images per target.
Each (column, seed) classifies each test image right when a latent score
    mu + delta_column + tau * u_(column, seed) + a * h_image + b * g_(column, image) + e * eps_(column, seed, image)
is positive (all terms standard normal): h is how hard an image is for every model, g how hard it is for one
column whatever its seed (what makes a shared test set favour a column on every seed), eps a run's own luck.
tau sets the seed spread: ``ratio`` is the seed spread of a difference between two columns (training alone) over
its test-set noise on one seed. Test sets are either shared by the seeds (official splits) or drawn per seed
(the embedded default's random splits). The metric is accuracy (the tests are metric-agnostic; accuracy keeps a
run of 1,000 boards to minutes on two cores). Under the effect, each source's FT column is better by ``effect``
standard deviations of one seed's difference (training and test noise together).

Reported per procedure: "marks", the share of boards with any ▲/▼ (family-wise, Holm over the board's 12
comparisons); "raw", the share of single comparisons with p < 0.05 before Holm; "places", the share of boards with
more than one place; "FT/FE", the share of boards whose "FT beat FE in k of n" count has k > 0 (or a worse count).
Under the effect: the share of true comparisons marked, of FT-vs-FE pairs counted, and of boards whose places put
both FT columns above every other column.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm, ttest_1samp

from benchmark.report.leaderboard import build_boards
from benchmark.report.stats import holm, resample_weights
from tlbench_plugins.methods.fe_svm import FeatureExtractionSVM
from tlbench_plugins.methods.ft_svm import FineTuneSVM
from tlbench_plugins.methods.scratch import Scratch

METHODS = {m.name: m for m in (Scratch(), FeatureExtractionSVM(), FineTuneSVM())}
COLUMNS = [("none", "scratch"), ("src1", "fe-svm"), ("src1", "ft-svm"), ("src2", "fe-svm"), ("src2", "ft-svm")]
BETTER = {("src1", "ft-svm"), ("src2", "ft-svm")}
TARGETS = ("t1", "t2")
MU = 1.0  # accuracy about 0.84
A, B, E = np.sqrt([0.4, 0.3, 0.3])  # image hardness shared by all, by one column, a run's own
ALPHA = 0.05
PRESET = {"name": "sim", "backbone": "sim", "image_size": 32, "auc": "ovr"}


@dataclass(frozen=True)
class Scenario:
    seeds: int
    shared: bool
    ratio: float
    effect: float = 0.0
    n: int = 200
    replicates: int = 200  # the new procedure's (its p does not floor at 1 / (replicates + 1))
    old_replicates: int = 2000  # the board's default, which the old p-value's floor needs under Holm


def test_noise(n: int, rng: np.random.Generator, draws: int = 4000) -> float:
    """SD over fresh test sets of one seed's accuracy difference between two equal columns (no seed spread)."""
    h = rng.normal(size=(draws, n))
    a = MU + A * h + B * rng.normal(size=(draws, n)) + E * rng.normal(size=(draws, n)) > 0
    b = MU + A * h + B * rng.normal(size=(draws, n)) + E * rng.normal(size=(draws, n)) > 0
    return float(np.std(a.mean(axis=1) - b.mean(axis=1)))


def parameters(scenario: Scenario, noise: float) -> tuple[float, dict[tuple[str, str], float]]:
    """tau (latent seed spread) for the scenario's ratio, and each column's latent shift."""
    slope = norm.pdf(MU)  # d accuracy / d latent shift
    tau = scenario.ratio * noise / (np.sqrt(2) * slope)
    total = np.sqrt(noise**2 + 2 * (slope * tau) ** 2)
    shift = scenario.effect * total / slope
    return tau, {c: shift if c in BETTER else 0.0 for c in COLUMNS}


def simulate_rows(scenario: Scenario, rng: np.random.Generator, tau: float, shifts: dict) -> list[dict]:
    """One board's stored rows (as the store gives them to build_boards)."""
    rows = []
    n, seeds = scenario.n, range(scenario.seeds)
    for target in TARGETS:
        sets = {}
        for seed in seeds:
            if scenario.shared and seed > 0:
                sets[seed] = sets[0]
                continue
            labels = rng.integers(0, 2, n)
            labels[:2] = (0, 1)
            sets[seed] = (labels, rng.normal(size=n), {c: rng.normal(size=n) for c in COLUMNS}, seed * n)
        for column in COLUMNS:
            for seed in seeds:
                labels, hard, own, offset = sets[0] if scenario.shared else sets[seed]
                latent = (MU + shifts[column] + tau * rng.normal() + A * hard + B * own[column]
                          + E * rng.normal(size=n))
                predicted = np.where(latent > 0, labels, 1 - labels)
                rows.append(_row(target, column, seed, labels, np.eye(2)[predicted], offset))
    return rows


def _row(target, column, seed, labels, scores, offset) -> dict:
    source, method = column
    config = {"target": {"dataset": target, "task": target, "data": "d"}, "source": None, "method": {"name": method},
              "seed": seed, "preset": PRESET, "runtime": {"device": "cpu", "precision": "fp32"}}
    return {"node_id": f"{target}::{source}::{method}[seed={seed}]", "target": target, "source": source,
            "method": method, "seed": seed, "status": "passed", "config": config, "preset": PRESET,
            "finished_at": "2026-01-01T00:00:00",
            "metrics": {"accuracy": float((scores.argmax(1) == labels).mean()), "n_test": len(labels),
                        "n_test_groups": None},
            "scores": {"labels": labels, "scores": scores, "indices": list(range(offset, offset + len(labels))),
                       "groups": None}}


# --- NEW: the board's own verdicts ---------------------------------------------------------------------------


def judge_new(rows: list[dict], replicates: int) -> dict[str, float]:
    (board,) = build_boards(rows, metric="accuracy", replicates=replicates, methods=METHODS)
    versus = [c for c in board.comparisons if c.baseline]
    pairs = [c for c in board.comparisons if not c.baseline]
    return _verdicts([c.result.p_value for c in board.comparisons], [c.p_holm for c in versus],
                     [c.result.difference for c in versus], [c.a for c in versus],
                     [c.p_holm for c in pairs], [c.result.difference for c in pairs],
                     {p.column: p.place for p in board.places})


def _verdicts(raw, versus_p, versus_d, versus_a, pairs_p, pairs_d, places) -> dict[str, float]:
    """Per board: any mark, share of raw p < alpha, places split, FT/FE count > 0, and the power measures."""
    marked = [p < ALPHA for p in versus_p]
    counted = [p < ALPHA for p in pairs_p]
    better = [m and d > 0 for m, d, a in zip(marked, versus_d, versus_a, strict=True) if a in BETTER]
    ft_first = (None not in places.values()
                and max(places[c] for c in BETTER) < min(places[c] for c in COLUMNS if c not in BETTER))
    return {"marks": float(any(marked)), "raw": float(np.mean([p < ALPHA for p in raw])),
            "places": float(len(set(places.values())) > 1), "ftfe": float(any(counted)),
            "marks_power": float(np.mean(better)),
            "ftfe_power": float(np.mean([c and d > 0 for c, d in zip(counted, pairs_d, strict=True)])),
            "places_power": float(ft_first)}


# --- OLD: the replaced procedure, for comparison only ---------------------------------------------------------


def _old_paired_bootstrap(observed, resampled, rng) -> tuple[float, float]:
    """The replaced paired hierarchical bootstrap: draw the seeds with replacement, each drawn seed's difference on
    the replicate's own resample of its test set; p floored at 1 / (replicates + 1)."""
    resampled = np.asarray(resampled)
    seeds, replicates = resampled.shape
    drawn = rng.integers(seeds, size=(replicates, seeds))
    differences = resampled[drawn, np.arange(replicates)[:, None]].mean(axis=1)
    one_sided = min(np.mean(differences <= 0), np.mean(differences >= 0))
    return float(np.mean(observed)), max(min(1.0, 2 * float(one_sided)), 1 / (replicates + 1))


def _old_seed_t_test(differences) -> float:
    values = np.asarray(differences, dtype=np.float64)
    if np.ptp(values) == 0:
        return 1.0 if values[0] == 0 else 0.0
    return float(ttest_1samp(values, 0.0).pvalue)


def judge_old(rows: list[dict], replicates: int, rng: np.random.Generator) -> dict[str, float]:
    """The replaced procedure on the same rows: resamples keyed by (target, seed), so seeds sharing a test set were
    resampled independently."""
    by = {(r["target"], (r["source"], r["method"]), r["seed"]): r for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    values, boot = {}, {}
    for target in TARGETS:
        for seed in seeds:
            members = [by[(target, c, seed)] for c in COLUMNS]
            labels = members[0]["scores"]["labels"]
            correct = np.stack([m["scores"]["scores"].argmax(axis=1) == labels for m in members], axis=1)
            weights = resample_weights(len(labels), None, replicates, rng, labels=labels)
            resampled = (weights @ correct / weights.sum(axis=1, keepdims=True)).T  # accuracy on each resample
            for column, member, values_on_resamples in zip(COLUMNS, members, resampled, strict=True):
                values[(target, column, seed)] = member["metrics"]["accuracy"]
                boot[(target, column, seed)] = values_on_resamples

    def compare(target, a, b):
        return _old_paired_bootstrap([values[(target, a, s)] - values[(target, b, s)] for s in seeds],
                                     [boot[(target, a, s)] - boot[(target, b, s)] for s in seeds], rng)

    versus = [(t, c, *compare(t, c, COLUMNS[0])) for t in TARGETS for c in COLUMNS[1:]]
    pairs = [(t, (src, "ft-svm"), *compare(t, (src, "ft-svm"), (src, "fe-svm"))) for t in TARGETS
             for src in ("src1", "src2")]
    adjusted = holm([v[3] for v in versus] + [p[3] for p in pairs])
    means = sorted(((np.mean([values[(t, c, s)] for t in TARGETS for s in seeds]), i, c)
                    for i, c in enumerate(COLUMNS)), key=lambda m: (-m[0], m[1]))
    places, leader = {}, None
    for position, (_, _, column) in enumerate(means, start=1):
        if leader is not None:
            differences = [np.mean([values[(t, leader[1], s)] - values[(t, column, s)] for t in TARGETS])
                           for s in seeds]
            if _old_seed_t_test(differences) >= ALPHA / (len(COLUMNS) - 1):
                places[column] = leader[0]
                continue
        leader = (position, column)
        places[column] = position
    return _verdicts([v[3] for v in versus] + [p[3] for p in pairs], adjusted[:len(versus)],
                     [v[2] for v in versus], [v[1] for v in versus], adjusted[len(versus):], [p[2] for p in pairs],
                     places)


# --- the embedded default's ratio ---------------------------------------------------------------------------------


def measured_ratio(run_folder: str) -> dict[str, float]:
    """Seed spread over test-set noise of the board's comparisons in a run folder (``tlbench run --all --out``).

    Per comparison: the test noise is the bootstrap variance of one seed's difference (averaged over seeds); the
    seed spread is the variance of the per-seed differences less that noise where each seed has test images of its
    own (their spread holds both), as is where the seeds share a test set (it holds none of the shared part)."""
    from pathlib import Path

    from benchmark.run.store import Store

    (board,) = build_boards(Store(Path(run_folder)).rows(), methods=METHODS)
    ratios, shared = [], 0
    for c in board.comparisons:
        cell_a, cell_b = board.cells[(c.target, *c.a)], board.cells[(c.target, *c.b)]
        differences = [cell_a.observed[s] - cell_b.observed[s] for s in c.seeds]
        noise = float(np.mean([np.var(cell_a.replicates[s] - cell_b.replicates[s]) for s in c.seeds]))
        one_set = len({cell_a.test_sets[s] for s in c.seeds}) == 1
        shared += one_set
        spread = np.var(differences, ddof=1) - (0.0 if one_set else noise)
        if noise > 0:
            ratios.append(np.sqrt(max(spread, 0.0) / noise))
    low, median, high = np.quantile(ratios, [0.25, 0.5, 0.75])
    return {"comparisons": len(ratios), "shared": shared, "q25": low, "median": median, "q75": high}


# --- the table ------------------------------------------------------------------------------------------------


def rates(scenario: Scenario, boards: int, seed: int = 0, old: bool = True) -> dict[str, dict[str, float]]:
    """Mean of each verdict over ``boards`` simulated boards, per procedure ("new", and "old" if asked)."""
    rng = np.random.default_rng([seed, scenario.seeds, int(scenario.shared), int(1000 * scenario.ratio),
                                 int(1000 * scenario.effect)])
    tau, shifts = parameters(scenario, test_noise(scenario.n, rng))
    totals: dict[str, list[dict[str, float]]] = {"new": [], "old": []}
    for _ in range(boards):
        rows = simulate_rows(scenario, rng, tau, shifts)
        totals["new"].append(judge_new(rows, scenario.replicates))
        if old:
            totals["old"].append(judge_old(rows, scenario.old_replicates, rng))
    return {name: {k: float(np.mean([v[k] for v in found])) for k in found[0]} for name, found in totals.items()
            if found}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boards", type=int, default=200)
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.3, 1.2, 3.0],
                        help="1.2: the embedded default's median (--measure)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 5])
    parser.add_argument("--effect", type=float, default=5.0, help="FT's true gain, in SDs of one seed's difference")
    parser.add_argument("--measure", metavar="RUN_FOLDER", help="print the ratio measured on a run folder and stop")
    args = parser.parse_args()
    if args.measure:
        print(measured_ratio(args.measure))
        return
    seeds, ratios = args.seeds, args.ratios
    print(f"{args.boards} boards a row; 2 targets x 5 columns (12 comparisons, 10 pairs of columns); "
          f"FPR at no true difference, power at FT + {args.effect} SD")
    header = (f"{'seeds':>5} {'test set':>8} {'ratio':>5} {'proc':>4} | {'marks':>5} {'raw':>5} {'places':>6} "
              f"{'FT/FE':>5} | {'marks':>5} {'places':>6} {'FT/FE':>5}")
    print(f"{'':>28} | {'false-positive rate':^26} | {'power':^19}")
    print(header)
    print("-" * len(header))
    for count in seeds:
        for shared in (True, False):
            for ratio in ratios:
                null = rates(Scenario(count, shared, ratio), args.boards)
                effect = rates(Scenario(count, shared, ratio, effect=args.effect), args.boards)
                for name in ("old", "new"):
                    f, p = null[name], effect[name]
                    print(f"{count:>5} {'shared' if shared else 'per-seed':>8} {ratio:>5} {name:>4} | "
                          f"{f['marks']:5.3f} {f['raw']:5.3f} {f['places']:6.3f} {f['ftfe']:5.3f} | "
                          f"{p['marks_power']:5.3f} {p['places_power']:6.3f} {p['ftfe_power']:5.3f}", flush=True)


if __name__ == "__main__":
    main()
