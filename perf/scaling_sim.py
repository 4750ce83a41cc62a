"""How far a grid scales over GPUs: the scheduler's own code (benchmark.run.schedule) simulated on 1, 8 and 64
slots for the study's grid and a MedMNIST grid, and where it stops scaling (source jobs as barriers, the store's
commit rate measured here, file-system reads).

    python perf/scaling_sim.py                                  # the target rates (not measured)
    python perf/scaling_sim.py --ft-rate 4252 --fe-rate 13640   # rates measured by perf/device_check.sh

A job's cost is benchmark.run.schedule.image_passes over the dataset's whole image count (as build_jobs counts
it) at the preset's max_epochs, divided by the fine-tuning rate (training jobs) or the feature-extraction rate.
SVM fits, data loading and process start-up are not in it (docs/scaling.md, "Limits").
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from benchmark.presets import THESIS
from benchmark.run.jobs import EXPERIMENT_JOB, SOURCE_JOB, Job
from benchmark.run.planner import Experiment, PlannedExperiment
from benchmark.run.schedule import CostModel, Simulation, image_passes, simulate
from benchmark.run.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grid import SOURCE_MODELS, TARGETS  # noqa: E402

# the targets of perf/device_check.sh for VGG16 at 224 px on one H200; not measured yet
TARGET_FT_RATE, TARGET_FE_RATE = 5500.0, 15000.0
STUDY_METHODS = ("fe-svm", "ft-svm", "scratch")  # the planner's order (catalog order)
TRAINS = {"fe-svm": False, "ft-svm": True, "scratch": True}
USES_SOURCE = {"fe-svm": True, "ft-svm": True, "scratch": False}
VGG16_FILE_BYTES = 138_357_544 * 4  # fp32 parameters of VGG16 with its 1,000-way head: about 528 MiB
IMAGE_BYTES = 224 * 224 * 3  # one uint8 image of the image cache at 224 px
SLOTS = (1, 8, 64)

# MedMNIST v2 (Yang et al. 2023, Table 1; medmnist.INFO "n_samples"): train + val + test of every 2D flag.
# ChestMNIST is multi-label: the plugin leaves it out, it is counted here as the grid's twelfth target.
MEDMNIST = {
    "pathmnist": 89_996 + 10_004 + 7_180, "chestmnist": 78_468 + 11_219 + 22_433,
    "dermamnist": 7_007 + 1_003 + 2_005, "octmnist": 97_477 + 10_832 + 1_000,
    "pneumoniamnist": 4_708 + 524 + 624, "retinamnist": 1_080 + 120 + 400, "breastmnist": 546 + 78 + 156,
    "bloodmnist": 11_959 + 1_712 + 3_421, "tissuemnist": 165_466 + 23_640 + 47_280,
    "organamnist": 34_581 + 6_491 + 17_778, "organcmnist": 13_000 + 2_392 + 8_268,
    "organsmnist": 13_940 + 2_452 + 8_829,
}
# datasets built from the same images (the plugins' provenance): such a source never serves such a target
SAME_IMAGES = {("chest_xray", "pneumoniamnist")}


@dataclass(frozen=True)
class Grid:
    name: str
    jobs: list[Job]

    @property
    def sources(self) -> list[Job]:
        return [job for job in self.jobs if job.kind == SOURCE_JOB]

    @property
    def experiments(self) -> list[Job]:
        return [job for job in self.jobs if job.kind == EXPERIMENT_JOB]


def build_grid(name: str, targets: dict[str, int], trained_sources: dict[str, int], other_sources: tuple[str, ...],
               seeds: int, model: CostModel, epochs: int) -> Grid:
    """Jobs as benchmark.run.runner.build_jobs makes them: a source job per harness-trained source that an
    experiment uses, then the experiments in the planner's order (target, method, source, seed), each costed by
    ``model``; a source never serves a target made of its own images."""
    sources = [*other_sources, *trained_sources]
    source_jobs: dict[str, Job] = {}
    jobs = []
    for target, images in targets.items():
        for method in STUDY_METHODS:
            for source in sources if USES_SOURCE[method] else ["none"]:
                if source == target or (source, target) in SAME_IMAGES:
                    continue
                needs = ""
                if source in trained_sources:
                    if source not in source_jobs:
                        cost = model.seconds(True, image_passes(True, trained_sources[source], epochs))
                        source_jobs[source] = Job(SOURCE_JOB, f"source:{source}", f"source {source}", source,
                                                  cost=cost)
                    needs = source_jobs[source].id
                for seed in range(seeds):
                    exp = Experiment(target, source, method, seed)
                    cost = model.seconds(TRAINS[method], image_passes(TRAINS[method], images, epochs))
                    jobs.append(Job(EXPERIMENT_JOB, exp.node_id, exp.node_id, source, exp, needs=needs, cost=cost))
    return Grid(name, [*source_jobs.values(), *jobs])


def study_grid(model: CostModel, epochs: int) -> Grid:
    """The study's grid (perf/grid.py's thesis split sizes): 5 target tasks x (scratch, and FE+SVM and FT+SVM from
    ImageNet and 4 harness-trained sources) x 3 seeds; chest is never its own source."""
    return build_grid("study (thesis preset, 224 px)", {t.name: t.total for t in TARGETS},
                      {s.name: s.total for s in SOURCE_MODELS}, ("imagenet",), len(THESIS.seeds), model, epochs)


def medmnist_grid(model: CostModel, epochs: int) -> Grid:
    """12 MedMNIST v2 2D flags as targets at 224 px x the study's three methods x 8 sources (ImageNet, the study's 4
    harness-trained sources, and the 3 largest flags trained as sources) x 5 seeds."""
    trained = {s.name: s.total for s in SOURCE_MODELS}
    trained.update({flag: MEDMNIST[flag] for flag in ("tissuemnist", "octmnist", "pathmnist")})
    return build_grid("MedMNIST (12 flags, 224 px)", MEDMNIST, trained, ("imagenet",), 5, model, epochs)


def critical_path(grid: Grid) -> float:
    """The longest chain of jobs: a source job and its longest experiment, or the longest experiment alone."""
    longest = {job.id: job.cost for job in grid.sources}
    chains = [job.cost + longest.get(job.needs, 0.0) for job in grid.experiments]
    return max(chains)


def naive(jobs: list[Job], order: Callable[[list[Job]], list[Job]]) -> tuple[list[Job], dict[str, float]]:
    """``jobs`` reordered by ``order`` with their costs hidden from the scheduler (every priority equal, so it hands
    them out in that order; sources still first), and their real durations."""
    return [replace(job, cost=0.0) for job in order(jobs)], {job.id: job.cost for job in jobs}


def shortest_first(jobs: list[Job]) -> list[Job]:
    return sorted(jobs, key=lambda job: job.cost)


def shuffled(jobs: list[Job]) -> list[Job]:
    jobs = list(jobs)
    random.Random(0).shuffle(jobs)
    return jobs


def jittered(jobs: list[Job], sigma: float, seed: int) -> dict[str, float]:
    """Each job's duration its cost times a lognormal factor of mean 1."""
    rng = random.Random(seed)
    return {job.id: job.cost * rng.lognormvariate(-sigma ** 2 / 2, sigma) for job in jobs}


def hours(seconds: float) -> str:
    return f"{seconds / 3600:,.1f} h" if seconds >= 7200 else f"{seconds / 60:,.1f} m"


def report_grid(grid: Grid, floor_hours: float, sigma: float, draws: int) -> Simulation:
    """Print the grid's jobs, its simulations by slots and the orders compared; the 64-slot simulation."""
    gpu_seconds = sum(job.cost for job in grid.jobs)
    print(f"\n== {grid.name}")
    by_method: dict[str, list[Job]] = {}
    for job in grid.experiments:
        by_method.setdefault(job.experiment.method, []).append(job)
    print(f"{'jobs':<22}{'count':>7}{'GPU-hours':>12}{'longest':>10}")
    rows = [("source trainings", grid.sources)] + [(method, jobs) for method, jobs in by_method.items()]
    for label, jobs in rows:
        print(f"{label:<22}{len(jobs):>7}{sum(j.cost for j in jobs) / 3600:>12,.2f}"
              f"{max(j.cost for j in jobs) / 60:>9,.1f}m")
    print(f"{'all':<22}{len(grid.jobs):>7}{gpu_seconds / 3600:>12,.2f}   (at the floor of early stopping, "
          f"patience + 1 epochs: {floor_hours:,.2f})")
    path = critical_path(grid)
    print(f"critical path (source training + its longest experiment): {hours(path)}; GPU-hours / GPUs falls below "
          f"it from {gpu_seconds / path:,.0f} GPUs on")
    print(f"\n{'GPUs':>5}{'ideal':>11}{'LPT wall':>11}{'busy':>7}{'vs ideal':>9}{'submit':>11}{'random':>11}"
          f"{'shortest':>11}{'jitter median [min-max]':>30}")
    last = None
    for slots in SLOTS:
        ideal = gpu_seconds / slots
        lpt = simulate(grid.jobs, slots)
        orders = [simulate(jobs, slots, durations).wall
                  for jobs, durations in (naive(grid.jobs, order) for order in (list, shuffled, shortest_first))]
        jitter = sorted(simulate(grid.jobs, slots, jittered(grid.jobs, sigma, seed)).wall for seed in range(draws))
        print(f"{slots:>5}{hours(ideal):>11}{hours(lpt.wall):>11}{lpt.busy_share:>7.0%}{lpt.wall / ideal:>9.2f}"
              + "".join(f"{hours(wall):>11}" for wall in orders)
              + f"{hours(jitter[len(jitter) // 2]):>12} [{hours(jitter[0])}-{hours(jitter[-1])}]")
        last = lpt
    return last


def measure_store(count: int, test_images: int, classes: int) -> float:
    """Seconds per experiment of the driver's store work (Store.start, then Store.finish with a result of
    ``test_images`` scores), over ``count`` fake experiments in a temporary run folder."""
    scores = {"labels": [i % classes for i in range(test_images)],
              "scores": [[round(1 / classes, 6)] * classes for _ in range(test_images)],
              "indices": list(range(test_images)), "groups": None}
    fields = {"metrics": {"auc": 0.9, "auc_ovr": 0.9, "accuracy": 0.8}, "scores": scores,
              "history": [{"epoch": e, "loss": 0.5, "val_loss": 0.6} for e in range(THESIS.max_epochs)],
              "durations": {"method": 60.0, "total": 61.0}, "versions": {"torch": "x"}}
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder))
        planned = [PlannedExperiment(Experiment("target", "source", "method", seed),
                                     {"seed": seed, "preset": {"lr": 1e-3}}, f"{seed:064x}") for seed in range(count)]
        started = time.perf_counter()
        for one in planned:
            store.start(one, "cuda:0", {"name": "thesis"})
            store.finish(one.config_hash, "passed", **fields)
        seconds = time.perf_counter() - started
        store.close()
    return seconds / count


def report_limits(grids: list[tuple[Grid, Simulation]], store_rounds: list[float], store_count: int) -> None:
    store_seconds = sorted(store_rounds)[len(store_rounds) // 2]
    print(f"\n== store: Store.start + Store.finish of {store_count} fake experiments (2,000 test scores x 4 classes "
          f"each) in {tempfile.gettempdir()}, {len(store_rounds)} rounds: median {store_seconds * 1000:.1f} ms each "
          f"[{min(store_rounds) * 1000:.1f}-{max(store_rounds) * 1000:.1f}], {1 / store_seconds:,.0f} experiments/s")
    print("\n== at 64 GPUs (LPT): job ends per second (mean, and the most within one second), the store's share of "
          "the wall time (mean) and its seconds for the busiest second's ends; reads if no page cache helped: "
          "source-model files (mean, and the busiest minute's), target image-cache arrays (mean, and all targets' "
          "arrays at 224 px)")
    print(f"{'grid':<32}{'ends/s':>8}{'in 1 s':>8}{'store':>8}{'burst':>8}{'model GB/s':>11}{'peak':>7}"
          f"{'images GB/s':>12}{'cache GB':>9}{'shortest':>10}")
    for grid, sim in grids:
        ends = sorted(end for _, _, _, end in sim.timeline)
        # the most jobs that end within one second of each other
        peak, low = 0, 0
        for high, end in enumerate(ends):
            while end - ends[low] > 1.0:
                low += 1
            peak = max(peak, high - low + 1)
        by_id = {job.id: job for job in grid.jobs}
        model_bytes = image_bytes = 0.0
        starts = []
        for job_id, _, start, _ in sim.timeline:
            job = by_id[job_id]
            if job.kind == EXPERIMENT_JOB:
                uses_model = job.source != "none"
                model_bytes += VGG16_FILE_BYTES * uses_model
                image_bytes += IMAGE_BYTES * image_count(job)
                if uses_model:
                    starts.append(start)
        starts.sort()
        # the most source-model files opened within one minute
        busiest, low = 0, 0
        for high, start in enumerate(starts):
            while start - starts[low] > 60.0:
                low += 1
            busiest = max(busiest, high - low + 1)
        shortest = min(job.cost for job in grid.jobs)
        cache = sum(IMAGE_BYTES * _IMAGES[target] for target in {job.experiment.target for job in grid.experiments})
        print(f"{grid.name:<32}{len(ends) / sim.wall:>8.3f}{peak:>8}{len(ends) * store_seconds / sim.wall:>8.2%}"
              f"{peak * store_seconds:>7.1f}s{model_bytes / sim.wall / 1e9:>11.2f}"
              f"{busiest * VGG16_FILE_BYTES / 60 / 1e9:>7.1f}{image_bytes / sim.wall / 1e9:>12.2f}{cache / 1e9:>9.1f}"
              f"{shortest:>9.2f}s")


_IMAGES: dict[str, int] = {t.name: t.total for t in TARGETS} | MEDMNIST


def image_count(job: Job) -> int:
    return _IMAGES[job.experiment.target]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ft-rate", type=float, default=TARGET_FT_RATE,
                        help="training img/s of VGG16 at 224 px on one GPU (default: the 5,500 target, not measured)")
    parser.add_argument("--fe-rate", type=float, default=TARGET_FE_RATE,
                        help="feature-extraction img/s (default: the 15,000 target, not measured)")
    parser.add_argument("--epochs", type=int, default=THESIS.max_epochs, help="epochs of every training job")
    parser.add_argument("--sigma", type=float, default=0.3, help="lognormal sigma of the jitter check")
    parser.add_argument("--draws", type=int, default=5, help="jittered simulations per slot count")
    parser.add_argument("--store-experiments", type=int, default=300)
    args = parser.parse_args(argv)
    model = CostModel("cuda", 224, {True: 1 / args.ft_rate, False: 1 / args.fe_rate}, "command line")
    measured = "given" if (args.ft_rate, args.fe_rate) != (TARGET_FT_RATE, TARGET_FE_RATE) else "TARGETS, not measured"
    print(f"rates ({measured}): training {args.ft_rate:,.0f} img/s, feature extraction {args.fe_rate:,.0f} img/s; "
          f"{args.epochs} epochs; jitter: lognormal sigma {args.sigma}, {args.draws} draws")
    print("columns: ideal = GPU-hours / GPUs (no wall time can be below it or the critical path); LPT = the "
          "scheduler (longest first); submit / random / shortest = the same jobs handed out in planner order / "
          "shuffled / shortest first")
    floor = THESIS.patience + 1
    results = []
    for make in (study_grid, medmnist_grid):
        grid = make(model, args.epochs)
        floor_hours = sum(job.cost for job in make(model, floor).jobs) / 3600
        results.append((grid, report_grid(grid, floor_hours, args.sigma, args.draws)))
    rounds = [measure_store(args.store_experiments, 2000, 4) for _ in range(3)]
    report_limits(results, rounds, args.store_experiments)


if __name__ == "__main__":
    main()
