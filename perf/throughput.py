"""Throughput of tlbench's tuned paths against a plain PyTorch loop, on one model and one set of images.

    python perf/throughput.py                                   # CPU: timm test_resnet at 32 px
    python perf/throughput.py --backbone vgg16 --image-size 224 --device cuda --images 6000 \\
        --compile                                                     # GPU: the study's VGG16

Writes ``--images`` JPEGs (a little larger than the input, in class folders) to a temporary folder, then
prints, in one run:

1. training img/s of a plain loop (torchvision ImageFolder + DataLoader decoding JPEGs every epoch, PIL
   resize + flip + ToTensor, fp32, batch ``--plain-batch-size``) and of tlbench's trainer (the same
   images decoded once into a uint8 tensor, staged on the device, augmented and normalised there, bf16
   and channels_last on CUDA, ``--compile`` optional) at each ``--batch-size``, with the ratios;
2. feature-extraction img/s (penultimate features, the FE method's path);
3. SVM fit time and test AUC, scikit-learn against the torch solvers (LinearSVC and SVC), on at most
   ``--svm-samples`` of those features, and how the faster SVC's fit time grows with the training set;
4. the wall time of a small end-to-end grid (``tlbench run`` on the synthetic datasets), unless
   ``--no-grid``;
5. the study's full grid estimated from the measured rates, per batch size (see perf/grid.py).

The first epoch of each loop (cudnn autotuning, compilation, worker start-up) is not timed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

from benchmark.engine.acceleration import Acceleration
from benchmark.engine.inputs import IMAGENET_MEAN, IMAGENET_STD
from benchmark.engine.models import create_backbone, predict
from benchmark.engine.torchsvm import TorchLinearSVC, TorchSVC
from benchmark.engine.training import LabelledImages, train_classifier
from benchmark.presets import CPU_QUICK, THESIS
from benchmark.settings import resolve_device

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grid import TARGETS, SvmCost, Throughput, estimate_seconds, grid_counts  # noqa: E402


def write_jpegs(folder: Path, n: int, size: int, classes: int, seed: int = 0) -> None:
    """``n`` JPEGs of ``classes`` kinds (a bright disc whose colour and place depend on the class, on noise)."""
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
    model = create_backbone(backbone, classes).to(device).train()
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
               epochs: int, accel: Acceleration) -> tuple[float, torch.nn.Module]:
    """img/s of tlbench's trainer over the epochs after the first (training steps only: the validation pass
    on 2 batches is not timed), with the plain loop's optimiser (SGD, lr 1e-3, momentum 0.9, no Nesterov,
    no weight decay) and flips."""
    preset = (THESIS if device.type == "cuda" else CPU_QUICK).with_overrides(
        backbone=backbone, batch_size=batch, max_epochs=epochs + 1, patience=epochs + 2, lr=1e-3,
        momentum=0.9, nesterov=False, weight_decay=0.0, normalize="imagenet", augment_flip=True,
    )
    val = LabelledImages(data.images[: 2 * batch], data.labels[: 2 * batch])
    torch.manual_seed(0)
    model = create_backbone(backbone, classes)
    history = train_classifier(model, data, val, classes, preset, device, seed=0, accel=accel)
    timed = history[1:]
    return sum(h["images"] for h in timed) / sum(h["train_seconds"] for h in timed), model


def extraction(model: torch.nn.Module, images: torch.Tensor, device: torch.device, accel: Acceleration,
               batch: int) -> tuple[float, np.ndarray]:
    # warm-up on a full batch and on the last, smaller one: compilation and cudnn autotuning of both shapes
    # stay out of the timed pass
    predict(model, images[: batch + (len(images) % batch or batch)], "imagenet", device, batch, features=True,
            accel=accel)
    started = time.perf_counter()
    features = predict(model, images, "imagenet", device, batch, features=True, accel=accel)
    return len(images) / (time.perf_counter() - started), features


def mean_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    if scores.ndim == 1:
        return float(roc_auc_score(labels == 1, scores))
    return float(np.mean([roc_auc_score(labels == c, scores[:, c]) for c in range(scores.shape[1])]))


def _svm_solvers(c: float, binary: bool, device: torch.device) -> dict:
    """Factories of the four solvers compared, by name: scikit-learn's and torch's LinearSVC and SVC."""
    from sklearn.multiclass import OneVsRestClassifier

    def one_vs_rest(model):
        return model if binary else OneVsRestClassifier(model)

    return {
        "sklearn LinearSVC": lambda: one_vs_rest(LinearSVC(C=c, max_iter=5000, random_state=0)),
        "torch LinearSVC": lambda: TorchLinearSVC(C=c, device=device),
        "sklearn SVC": lambda: one_vs_rest(SVC(kernel="linear", C=c)),
        "torch SVC": lambda: TorchSVC(C=c, device=device),
    }


def svm_comparison(features: np.ndarray, labels: np.ndarray, device: torch.device, c: float,
                   samples: int) -> dict:
    """Fit time and test AUC of each solver on at most ``samples`` of the features (80% train, 20% test),
    and, for the faster SVC solver (the study's model), its fit time on half the training set, from which
    its cost at other sizes is extrapolated."""
    order = np.random.default_rng(0).permutation(len(labels))[:samples]
    cut = int(0.8 * len(order))
    train, test = order[:cut], order[cut:]
    scaler = StandardScaler().fit(features[train])
    x_train, x_test = scaler.transform(features[train]), scaler.transform(features[test])
    solvers = _svm_solvers(c, len(np.unique(labels)) == 2, device)
    results = {"n_train": len(train), "dim": features.shape[1]}
    for name, make in solvers.items():
        started = time.perf_counter()
        scores = make().fit(x_train, labels[train]).decision_function(x_test)
        synchronize(device)
        results[name] = (time.perf_counter() - started, mean_auc(labels[test], scores))
    faster = min(("sklearn SVC", "torch SVC"), key=lambda name: results[name][0])
    half = len(train) // 2
    started = time.perf_counter()
    solvers[faster]().fit(x_train[:half], labels[train][:half])
    synchronize(device)
    half_seconds = time.perf_counter() - started
    # at least linear (every sample is read), at most cubic (a dense factorisation)
    exponent = float(np.clip(np.log(results[faster][0] / half_seconds) / np.log(len(train) / half), 1.0, 3.0))
    results["svc_cost"] = (faster, SvmCost(len(train), results[faster][0], exponent))
    return results


def end_to_end(args, tmp: Path) -> tuple[float, str]:
    command = [
        sys.executable, "-c", "from benchmark.cli import main; main()", "run", "-d", "synth_cells", "-d", "synth_xray",
        "-s", "synth_shapes", "-s", "none", "--seeds", "2,5", "--max-epochs", str(args.grid_epochs),
        "--backbone", args.backbone, "--image-size", str(args.image_size), "--device", args.device,
        "--out", str(tmp / "run"), "--cache-dir", str(tmp / "cache"),
    ] + (["--compile"] if args.compile else [])
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "COLUMNS": "160"})
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds, " ".join(command[3:])


def main() -> None:
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
    parser.add_argument("--compile", action="store_true", help="torch.compile the tuned trainer")
    parser.add_argument("--svm-c", type=float, default=0.1)
    parser.add_argument("--svm-samples", type=int, default=2400,
                        help="features compared by the SVMs (scikit-learn's SVC grows about as n^2.3)")
    parser.add_argument("--grid-epochs", type=int, default=3)
    parser.add_argument("--no-grid", action="store_true", help="skip the end-to-end tlbench run")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads here and in the end-to-end run [torch's default]; on a CPU "
                             "shared with other jobs, 1 avoids OpenMP oversubscription (10-80x slower training)")
    parser.add_argument("--assumed-epochs", type=int, default=25,
                        help="mean epochs with early stopping, for the second full-grid estimate")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    device = resolve_device(args.device)
    args.device = str(device)
    batches = args.batch_size or ((32, 128) if device.type == "cuda" else (32,))
    accel = Acceleration.for_device(device, args.compile)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}; {args.backbone} @ {args.image_size}px; "
          f"{args.images} images, {args.classes} classes; {args.epochs} timed epochs")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        write_jpegs(tmp / "jpeg", args.images, args.image_size, args.classes)
        data = decode_once(tmp / "jpeg", args.image_size)

        plain = plain_loop(tmp / "jpeg", args.backbone, args.classes, args.image_size, device,
                           args.plain_batch_size, args.epochs, args.workers)
        print(f"training, plain loop (DataLoader, {args.workers} workers, JPEG decode per epoch, fp32, "
              f"batch {args.plain_batch_size}): {plain:,.0f} img/s")
        tuned = {}
        for batch in batches:
            tuned[batch], model = tuned_loop(data, args.backbone, args.classes, device, batch, args.epochs, accel)
            print(f"training, tlbench trainer ({accel}, batch {batch}): {tuned[batch]:,.0f} img/s, "
                  f"{tuned[batch] / plain:.2f}x the plain loop")

        infer_ips, features = extraction(model, data.images, device, accel, max(batches[-1], 256))
        print(f"feature extraction ({features.shape[1]} features): {infer_ips:,.0f} img/s")

        svm = svm_comparison(features, data.labels.numpy(), device, args.svm_c, args.svm_samples)
        print(f"SVM on {svm['n_train']} x {svm['dim']} features, C={args.svm_c}:")
        for model_name in ("LinearSVC", "SVC"):
            for solver in ("sklearn", "torch"):
                seconds, auc = svm[f"{solver} {model_name}"]
                print(f"  {solver + ' ' + model_name:18} fit {seconds:7.3f} s   test AUC {auc:.5f}")
            auc_gap = abs(svm[f"sklearn {model_name}"][1] - svm[f"torch {model_name}"][1])
            print(f"  {model_name} AUC difference {auc_gap:.5f} (target < 0.005)")
        faster_svc, svc_cost = svm["svc_cost"]
        print(f"  {faster_svc} fit time grows as n^{svc_cost.exponent:.2f} (measured at n and n/2)")

        if not args.no_grid:
            seconds, command = end_to_end(args, tmp)
            print(f"end-to-end grid (2 targets x (scratch + synth_shapes FE/FT) x 2 seeds, <= {args.grid_epochs} "
                  f"epochs, source pretraining included): {seconds:.1f} s wall\n  tlbench {command}")

    targets = ", ".join(t.name for t in TARGETS)
    print(f"full study grid ({targets}; 5 sources; scratch, FE, FT; 3 seeds) at the rates above, the SVM being "
          f"the study's SVC with {faster_svc}:")
    for batch in batches:
        rates = Throughput(tuned[batch], infer_ips, svc_cost)
        for epochs in (50, args.assumed_epochs):
            counts, stages = grid_counts(epochs), estimate_seconds(rates, epochs)
            print(f"  batch {batch}, every training {epochs} epochs: {counts['train_steps'] / 1e6:.1f} M training "
                  f"image-steps, {counts['infer_images'] / 1e6:.2f} M inference images, "
                  f"{sum(counts['svm_fits'].values())} SVM fits -> {stages['total'] / 60:,.1f} min (training "
                  f"{stages['training'] / 60:,.1f}, inference {stages['inference'] / 60:,.1f}, "
                  f"SVM {stages['svm'] / 60:,.1f})")


def _batch_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated integers, e.g. 32,128") from None
    if not sizes or min(sizes) < 2:
        raise argparse.ArgumentTypeError(f"{text!r}: batch sizes must be at least 2")
    return sizes


if __name__ == "__main__":
    main()
