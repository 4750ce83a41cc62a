"""Throughput of tlbench's tuned paths against a plain PyTorch loop, and the study's full grid estimated from them.

    python perf/throughput.py                                   # CPU: timm test_resnet at 32 px, small sizes
    python perf/throughput.py --backbone vgg16 --image-size 224 --device cuda --images 4000 --compile
                                                                # GPU: the study's VGG16 (perf/device_check.sh)

Each stage runs in its own ``try``: a stage that fails prints its error and the next one runs. In order:

1. training img/s of a plain loop: torchvision ImageFolder + DataLoader decoding ``--images`` JPEGs every epoch,
   PIL resize + flip + ToTensor, fp32, batch ``--plain-batch-size``, cudnn autotuning on (as the design's
   1,112 img/s anchor had it);
2. training img/s of tlbench's trainer (the same images decoded once into uint8, staged on the device, augmented
   and normalised there, bf16 + channels_last on CUDA, ``--compile`` optional) at each ``--batch-size``, with the
   first epoch's extra seconds (compilation, autotuning) printed apart and the ratio to the plain loop;
3. feature-extraction img/s: penultimate features of uint8 images already on the device (no upload, no copy
   back), the median of ``--passes`` passes after a warm-up, and the end-to-end ``predict`` rate beside it;
4. the torch SVC (the study's ``SVC(kernel="linear")``, what ``--svm auto`` fits on CUDA) timed after a warm-up
   fit, at the study's training-set sizes with each task's class count and the ``thesis`` preset's C and feature
   scaling (features of images of that many classes through the trained model);
5. the study's full grid estimated from those rates (perf/grid.py), per batch size;

and on the CPU (perf/cpuprecision.py; ``--cpu-only`` runs these alone):

6. fp32 and bf16 side by side for test_resnet at 32 px and MedMNIST's ResNet-18 at 28 px: the bare training step
   (tensors in memory, batch 128, Adam) beside tlbench's trainer end to end on PneumoniaMNIST (``--data-root``),
   and the test AUC of each seed after the same epochs;
7. with ``--compile``, torch.compile on the embedded default's training: compile seconds against the seconds it
   saves a training.

    python perf/throughput.py --device cpu --cpu-only --data-root /path/to/data   # alone: about 6 minutes

The last line is a summary: each target met or not. ``--json PATH`` writes every figure.
"""

from __future__ import annotations

# isort: off
# first, as in `tlbench run`: OpenMP reads tlbench's wait policy (benchmark.engine.threads) when torch loads
import benchmark  # noqa: F401
# isort: on

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from benchmark.acceleration import Acceleration
from benchmark.engine.models import create_backbone, forward_pass, predict, to_unit
from benchmark.engine.svm import svm_scores
from benchmark.engine.training import LabelledImages, train_classifier
from benchmark.inputs import IMAGENET_MEAN, IMAGENET_STD, named
from benchmark.presets import CPU_QUICK, THESIS
from benchmark.settings import resolve_device

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cpuprecision  # noqa: E402
from grid import TARGETS, Throughput, estimate_seconds, grid_counts  # noqa: E402

TARGETS_FT_IPS, TARGET_RATIO, TARGET_FE_IPS, TARGET_GRID_MIN = 5500, 5.0, 15000, 45


def write_jpegs(folder: Path, n: int, size: int, classes: int, seed: int = 0) -> None:
    """``n`` JPEGs of ``classes`` kinds (a faint disc whose colour and size depend on the class, on noise)."""
    rng = np.random.default_rng(seed)
    side = int(size * 1.15)
    yy, xx = np.mgrid[0:side, 0:side] / side
    for i in range(n):
        label = i % classes
        image = rng.integers(0, 140, (side, side, 3)).astype(np.float32)
        cy, cx = 0.3 + 0.4 * rng.random(2)
        disc = ((yy - cy) ** 2 + (xx - cx) ** 2) < (0.08 + 0.04 * label) ** 2
        image[disc, label % 3] += 20  # faint, so that the SVM's AUC is below 1 and comparable
        out = folder / f"c{label}"
        out.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.clip(0, 255).astype(np.uint8)).save(out / f"{i:06d}.jpg", quality=90)


def disc_images(n: int, size: int, classes: int, device: torch.device, seed: int = 0) -> LabelledImages:
    """``n`` images like :func:`write_jpegs`'s, drawn directly as uint8 on ``device`` (no file, no upload)."""
    generator = torch.Generator(device=device).manual_seed(seed)
    labels = torch.arange(n, device=device) % classes
    images = torch.randint(0, 140, (n, 3, size, size), generator=generator, device=device, dtype=torch.uint8)
    rows = torch.linspace(0, 1, size, device=device)[None, :, None]
    columns = torch.linspace(0, 1, size, device=device)[None, None, :]
    cy, cx = (0.3 + 0.4 * torch.rand(2, n, 1, 1, generator=generator, device=device)).unbind()
    radius = (0.08 + 0.04 * labels.float())[:, None, None]
    disc = (rows - cy) ** 2 + (columns - cx) ** 2 < radius ** 2
    for channel in range(3):
        mask = disc & (labels % 3 == channel)[:, None, None]
        images[:, channel][mask] += 20
    return LabelledImages(images, labels)


def decode_once(folder: Path, size: int) -> LabelledImages:
    """Every JPEG decoded and resized once into uint8 (N, 3, size, size): what the image cache hands over."""
    paths = sorted(folder.glob("c*/*.jpg"))
    images = np.stack([np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.BILINEAR))
                       for p in paths])
    labels = np.array([int(p.parent.name[1:]) for p in paths])
    return LabelledImages(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_loop(folder: Path, backbone: str, classes: int, size: int, device: torch.device, batch: int,
               epochs: int, workers: int) -> float:
    """img/s of the textbook loop: decode, resize, flip and normalise on the host every epoch, fp32."""
    from torchvision import datasets, transforms

    transform = transforms.Compose([
        transforms.Resize((size, size)), transforms.RandomHorizontalFlip(), transforms.ToTensor(),
        transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])
    loader = torch.utils.data.DataLoader(
        datasets.ImageFolder(str(folder), transform), batch_size=batch, shuffle=True, num_workers=workers,
        pin_memory=device.type == "cuda", drop_last=True, persistent_workers=workers > 0,
    )
    torch.manual_seed(0)
    model = create_backbone(backbone, classes, size).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    seen, started = 0, None
    for epoch in range(epochs + 1):
        if epoch == 1:
            synchronize(device)  # the untimed epoch ends here
            started, seen = time.perf_counter(), 0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seen += len(y)
    synchronize(device)
    return seen / (time.perf_counter() - started)


def tuned_loop(data: LabelledImages, backbone: str, classes: int, device: torch.device, batch: int,
               epochs: int, accel: Acceleration) -> tuple[float, float, torch.nn.Module]:
    """img/s of tlbench's trainer over the epochs after the first (training steps only: the validation pass
    on 2 batches is not timed), and the first epoch's extra seconds over a later one's (compilation, cudnn
    autotuning); the plain loop's optimiser (SGD, lr 1e-3, momentum 0.9, no Nesterov, no weight decay) and flips."""
    preset = (THESIS if device.type == "cuda" else CPU_QUICK).with_overrides(
        backbone=backbone, batch_size=batch, max_epochs=epochs + 1, patience=epochs + 2, lr=1e-3,
        momentum=0.9, nesterov=False, weight_decay=0.0, normalize="imagenet", augment_flip=True,
    )
    val = LabelledImages(data.images[: 2 * batch], data.labels[: 2 * batch])
    torch.manual_seed(0)
    model = create_backbone(backbone, classes, data.images.shape[-1])
    history = train_classifier(model, data, val, classes, preset, device, seed=0, accel=accel)
    timed = history[1:]
    rate = sum(h["images"] for h in timed) / sum(h["train_seconds"] for h in timed)
    first_extra = history[0]["train_seconds"] - history[0]["images"] / rate
    return rate, first_extra, model


def extraction_rates(model: torch.nn.Module, images: torch.Tensor, device: torch.device, accel: Acceleration,
                     batch: int, passes: int) -> tuple[float, float]:
    """Feature-extraction img/s on uint8 ``images`` already on ``device``: the median of ``passes`` timed passes
    of the forward pass alone (after a warm-up pass that compiles and autotunes every batch shape), and one
    :func:`predict` call (the method's path: staging, forward, the copy of the features back to the host)."""
    model.eval()
    forward = forward_pass(model, device, accel, features=True)
    inputs = named("imagenet")

    def one_pass() -> None:
        with torch.no_grad():
            for start in range(0, len(images), batch):
                forward(inputs.apply(to_unit(images[start:start + batch]), accel.channels_last))

    one_pass()
    seconds = []
    for _ in range(passes):
        synchronize(device)
        started = time.perf_counter()
        one_pass()
        synchronize(device)
        seconds.append(time.perf_counter() - started)
    started = time.perf_counter()
    predict(model, images, "imagenet", device, batch, features=True, accel=accel)
    return len(images) / statistics.median(seconds), len(images) / (time.perf_counter() - started)


def svm_seconds(model: torch.nn.Module, device: torch.device, accel: Acceleration, size: int, scale: float,
                test: int = 400) -> dict[str, dict]:
    """The torch SVC's fit-and-score seconds (``thesis``: C = 1 on fc2 features, no standardisation) at each study
    target's training-set size times ``scale``, with its class count, after one warm-up fit; and each fit's test
    AUC (so that a fit that learned nothing shows)."""
    from benchmark.engine.metrics import compute_metrics

    largest = max(int(t.train * scale) for t in TARGETS)
    classes = max(t.classes for t in TARGETS)
    data = disc_images(largest + test, size, classes, device, seed=1)
    features = predict(model, data.images, "imagenet", device, 256, features=True, accel=accel).astype(np.float64)
    labels = data.labels.cpu().numpy()
    warm = slice(0, 256)
    svm_scores(features[warm], labels[warm] % 2, features[-test:], 2, THESIS, 0, "torch", device)
    results = {}
    for target in TARGETS:
        n = int(target.train * scale)
        train_labels, test_labels = labels[:n] % target.classes, labels[-test:] % target.classes
        synchronize(device)
        started = time.perf_counter()
        scores = svm_scores(features[:n], train_labels, features[-test:], target.classes, THESIS, 0, "torch", device)
        synchronize(device)
        seconds = time.perf_counter() - started
        auc = compute_metrics(test_labels, scores, tuple(range(target.classes)), THESIS.auc)["auc"]
        results[target.name] = {"n": n, "classes": target.classes, "seconds": seconds, "auc": auc}
    return results


class Stages:
    """Runs each stage in its own ``try``: a failure prints its traceback's end and the next stage runs."""

    def __init__(self):
        self.failed: list[str] = []

    def run(self, name: str, function, *args):
        print(f"\n== {name}", flush=True)
        started = time.perf_counter()
        try:
            result = function(*args)
        except Exception as error:  # a benchmark stage's failure must not cost the later stages' figures
            self.failed.append(name)
            print(f"   FAILED after {time.perf_counter() - started:.0f}s: {type(error).__name__}: {error}")
            print("   " + "".join(traceback.format_exc().splitlines(keepends=True)[-12:]).replace("\n", "\n   "))
            return None
        print(f"   ({time.perf_counter() - started:.0f}s)", flush=True)
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="test_resnet")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs (one more runs untimed first)")
    parser.add_argument("--batch-size", type=_batch_sizes, default=None,
                        help="tuned trainer's batch sizes, comma-separated [32,128 on CUDA (the thesis preset's "
                             "and a GPU-sized one), 32 else]")
    parser.add_argument("--plain-batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="plain loop's")
    parser.add_argument("--compile", action="store_true", help="torch.compile the tuned trainer's trunk")
    parser.add_argument("--passes", type=int, default=5, help="timed feature-extraction passes (median)")
    parser.add_argument("--svm-scale", type=float, default=None,
                        help="the SVM's training-set sizes as a share of the study's [1 on CUDA, 1/8 else]")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads [torch's default]")
    parser.add_argument("--assumed-epochs", type=int, default=25,
                        help="mean epochs with early stopping, for the second full-grid estimate")
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    cpu = parser.add_argument_group("CPU stages (fp32 against bf16, torch.compile)")
    cpu.add_argument("--cpu-only", action="store_true", help="run the CPU stages alone (with --device cpu)")
    cpu.add_argument("--data-root", type=Path, default=Path(os.environ.get("TLBENCH_DATA", "data")),
                     help="folder holding medmnist/pneumoniamnist.npz [env TLBENCH_DATA, else ./data]")
    cpu.add_argument("--seeds", type=_batch_sizes, default=(0, 1, 2), help="trainer seeds [0,1,2]")
    cpu.add_argument("--auc-epochs", type=int, default=2, help="trainer epochs per seed [2]")
    cpu.add_argument("--auc-train", type=int, default=2048,
                     help="PneumoniaMNIST training images per epoch (of 4,708) [2048: at 1024 x 3 epochs the test "
                          "AUC still spread 0.39-0.88 over seeds]")
    cpu.add_argument("--bare-steps", type=int, default=8, help="timed bare steps per round [8]")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    args.device = str(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # both loops: the plain loop's anchor (1,112 img/s) had it on
    batches = args.batch_size or ((32, 128) if device.type == "cuda" else (32,))
    svm_scale = args.svm_scale or (1.0 if device.type == "cuda" else 1 / 8)
    accel = Acceleration.for_device(device, args.compile)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}" + ("" if args.cpu_only else
          f"; {args.backbone} @ {args.image_size}px; {args.images} images, {args.classes} classes; "
          f"{args.epochs} timed epochs"))
    figures: dict = {"device": name, "torch": torch.__version__, "backbone": args.backbone,
                     "image_size": args.image_size, "acceleration": str(accel)}
    stages = Stages()
    if device.type == "cpu":
        cpu_stages(stages, figures, args)
        if args.cpu_only:
            print("\n" + cpu_summary(figures, stages.failed))
            _write_json(args.json, figures)
            return 1 if stages.failed else 0
    with tempfile.TemporaryDirectory() as tmp_name:
        folder = Path(tmp_name) / "jpeg"
        write_jpegs(folder, args.images, args.image_size, args.classes)
        data = decode_once(folder, args.image_size)

        plain = stages.run(f"training, plain loop (DataLoader, {args.workers} workers, JPEG decode per epoch, fp32, "
                           f"batch {args.plain_batch_size})", plain_loop, folder, args.backbone, args.classes,
                           args.image_size, device, args.plain_batch_size, args.epochs, args.workers)
        if plain:
            print(f"   {plain:,.0f} img/s")
            figures["plain_ips"] = plain
    tuned, model = {}, None
    for batch in batches:
        result = stages.run(f"training, tlbench trainer ({accel}, batch {batch})", tuned_loop, data, args.backbone,
                            args.classes, device, batch, args.epochs, accel)
        if result:
            tuned[batch], first_extra, model = result
            ratio = f", {tuned[batch] / plain:.2f}x the plain loop" if plain else ""
            print(f"   {tuned[batch]:,.0f} img/s{ratio}; first epoch {first_extra:.1f}s longer "
                  f"({'compilation and ' if args.compile else ''}autotuning)")
            figures.setdefault("trainer", {})[batch] = {"ips": tuned[batch], "first_epoch_extra_s": first_extra}
    if model is None:
        torch.manual_seed(0)
        model = create_backbone(args.backbone, args.classes, args.image_size)
    on_device = disc_images(max(args.images, 2048), args.image_size, args.classes, device).images
    extraction = stages.run(f"feature extraction (uint8 on the device, median of {args.passes} passes)",
                            extraction_rates, model, on_device, device, accel, max(batches[-1], 256), args.passes)
    del on_device
    if extraction:
        figures["fe_ips"], figures["predict_ips"] = extraction
        print(f"   forward pass {extraction[0]:,.0f} img/s; predict() with upload and copy back "
              f"{extraction[1]:,.0f} img/s")
    svm = stages.run(f"torch SVC, thesis preset (C={THESIS.svm_c}, features x {THESIS.feature_scale:g}), warmed up, "
                     f"at {svm_scale:g} x the study's training-set sizes", svm_seconds, model, device, accel,
                     args.image_size, svm_scale)
    if svm:
        figures["svm"] = svm
        for target, fit in svm.items():
            print(f"   {target:24} n={fit['n']:5}  {fit['classes']} classes  {fit['seconds']:7.2f} s  "
                  f"test AUC {fit['auc']:.3f}")

    if tuned and extraction and svm and svm_scale == 1.0:
        def full_grid() -> dict:
            estimates = {}
            for batch, train_ips in tuned.items():
                rates = Throughput(train_ips, extraction[0], {t: fit["seconds"] for t, fit in svm.items()})
                for epochs in (50, args.assumed_epochs):
                    counts, seconds = grid_counts(epochs), estimate_seconds(rates, epochs)
                    estimates[f"batch {batch}, {epochs} epochs"] = seconds
                    print(f"   batch {batch}, every training {epochs} epochs: {counts['train_steps'] / 1e6:.1f} M "
                          f"training image-steps, {counts['infer_images'] / 1e6:.2f} M inference images, "
                          f"{sum(counts['svm_fits'].values())} SVM fits -> {seconds['total'] / 60:,.1f} min "
                          f"(training {seconds['training'] / 60:,.1f}, inference {seconds['inference'] / 60:,.1f}, "
                          f"SVM {seconds['svm'] / 60:,.1f})")
            return estimates

        estimates = stages.run("the study's full grid (5 targets, 5 sources, scratch + FE + FT, 3 seeds) at these "
                               "rates", full_grid)
        if estimates:
            figures["grid_minutes"] = {key: value["total"] / 60 for key, value in estimates.items()}
    else:
        print("\n== the study's full grid: not estimated (it needs the trainer, extraction and SVM figures at the "
              "study's sizes: run on CUDA, or with --svm-scale 1)")
    print("\n" + summary(figures, plain, tuned, stages.failed))
    _write_json(args.json, figures)
    return 1 if stages.failed else 0


def cpu_stages(stages: Stages, figures: dict, args) -> None:
    """fp32 against bf16 (bare step, tlbench's trainer, AUC) and, with ``--compile``, torch.compile's payoff, into
    ``figures``."""
    spin = (f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}" if "OMP_WAIT_POLICY" in os.environ else
            f"GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT', 300000)}")
    print(f"OpenMP's waiting threads: {spin} (as `tlbench run` with this environment; GOMP_SPINCOUNT=300000, "
          "libgomp's default, to compare)")
    figures["openmp_spin"] = spin
    precisions = stages.run("CPU training, fp32 and bf16: bare step against tlbench's trainer, PneumoniaMNIST AUC",
                            cpuprecision.compare_precisions, args.data_root, args.seeds, args.auc_epochs,
                            args.auc_train, args.bare_steps)
    if precisions:
        figures["cpu_precisions"] = precisions
        cpuprecision.print_comparison(precisions, args.seeds, args.auc_epochs, args.auc_train)
    if not args.compile:
        return
    payoff = stages.run("torch.compile on the embedded default's training (cpu-quick, eager and compiled, "
                        "alternating)", cpuprecision.compile_payoff)
    if payoff:
        figures["cpu_compile"] = payoff
        even = payoff["break_even_trainings"]
        print(f"   {payoff['precision']}: a training {payoff['eager_s']:.1f} s eager, {payoff['compiled_s']:.1f} s "
              f"compiled; compilation {payoff['compile_s']:.1f} s once per process; "
              + ("compiling never pays" if even is None else f"pays after {even:.0f} trainings in one process"))


def cpu_summary(figures: dict, failed: list[str]) -> str:
    """One line: the CPU targets met or not."""
    parts = cpuprecision.summary_parts(figures["cpu_precisions"]) if "cpu_precisions" in figures else ["?"]
    failures = f"; stages failed: {', '.join(failed)}" if failed else ""
    return f"SUMMARY on {figures['device']}: " + " | ".join(parts) + failures


def _write_json(path: Path | None, figures: dict) -> None:
    if path:
        path.write_text(json.dumps(figures, indent=2, default=str))


def summary(figures: dict, plain: float | None, tuned: dict, failed: list[str]) -> str:
    """One line: each target met or not (``?`` where its figure is missing)."""
    def verdict(value, target, above=True, unit="") -> str:
        if value is None:
            return "?"
        met = value >= target if above else value < target
        return f"{value:,.{1 if unit == ' min' else 0}f}{unit} {'met' if met else 'NOT met'}"

    best = max(tuned.values()) if tuned else None
    ratio = best / plain if best and plain else None
    thesis_grid = min((minutes for key, minutes in figures.get("grid_minutes", {}).items() if key.startswith(
        "batch 32, 50")), default=None)
    parts = [
        f"FT {verdict(best, TARGETS_FT_IPS)} (>= {TARGETS_FT_IPS:,} img/s)",
        f"FT/plain {'?' if ratio is None else f'{ratio:.1f}x ' + ('met' if ratio >= TARGET_RATIO else 'NOT met')} "
        f"(>= {TARGET_RATIO:g}x)",
        f"FE {verdict(figures.get('fe_ips'), TARGET_FE_IPS)} (>= {TARGET_FE_IPS:,} img/s)",
        f"grid at batch 32, 50 epochs {verdict(thesis_grid, TARGET_GRID_MIN, above=False, unit=' min')} "
        f"(< {TARGET_GRID_MIN} min)",
    ]
    failures = f"; stages failed: {', '.join(failed)}" if failed else ""
    return f"SUMMARY on {figures['device']}: " + " | ".join(parts) + failures


def _batch_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated integers, e.g. 32,128") from None
    if not sizes or min(sizes) < 2:
        raise argparse.ArgumentTypeError(f"{text!r}: batch sizes must be at least 2")
    return sizes


if __name__ == "__main__":
    sys.exit(main())
