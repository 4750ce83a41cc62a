"""CPU training in fp32 and bf16 side by side (perf/throughput.py's CPU stages).

For each model (timm's ``test_resnet`` at 32 px, MedMNIST's ResNet-18 at 28 px) and precision:

- the bare training step: random tensors already in memory and in channels_last, batch 128, ``torch.optim.Adam``
  with torch's defaults, autocast for bf16 with the loss in fp32: what a plain PyTorch loop reaches, the ceiling;
- tlbench's trainer end to end: ``train_classifier`` under the ``medmnist`` preset (Adam, lr 1e-3, batch 128, no
  augmentation, the best validation AUC's epoch kept) on PneumoniaMNIST's official training images (the first
  ``train_images`` of a fixed shuffle), validated every epoch on the official validation part cut in the same
  proportion (so that validation takes its protocol's share of an epoch): the
  img/s is training images over the call's whole wall time (placement, staging, steps, validation, the best
  weights kept), and the steps alone beside it; then the official test part's AUC.

Every timing alternates fp32 and bf16, and each seed's bare steps run just before its trainings, so a machine
whose load drifts biases neither the precisions nor the trainer against the bare step.
The compile stage trains the embedded default's model (``cpu-quick``: test_resnet at 32 px, 300 images, batch
64, 12 epochs) eagerly and through ``torch.compile`` in the same process.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import torch

from benchmark.acceleration import Acceleration, resolve_precision
from benchmark.engine.inputs import input_of
from benchmark.engine.metrics import auc_of
from benchmark.engine.models import create_backbone, predict, to_images_tensor
from benchmark.engine.training import LabelledImages, train_classifier
from benchmark.presets import CPU_QUICK, MEDMNIST
from tlbench_plugins.datasets.medmnist import MedMnist

MODELS = (("test_resnet", 32), ("medmnist_resnet18_28", 28))
PRECISIONS = ("fp32", "bf16")
BATCH = 128
# issue 26: tlbench's end-to-end training of MedMNIST's ResNet-18 at 28 px, bf16, alone on two cores
TARGET_TRAINER_IPS = 100.0
TARGET_MODEL = "medmnist_resnet18_28"


def accel_for(precision: str, compile: bool = False) -> Acceleration:
    return Acceleration(bf16=precision == "bf16", channels_last=True, compile=compile)


def pneumonia(data_root: Path, size: int, train_images: int) -> dict[str, LabelledImages]:
    """PneumoniaMNIST's official parts at ``size`` px through tlbench's medmnist plugin, the training part cut to
    its first ``train_images`` after a fixed shuffle and the validation part in proportion; the whole test part."""
    dataset = MedMnist("pneumoniamnist")
    imageset = dataset.load(dataset.tasks()[0], data_root, size)
    images, labels = to_images_tensor(imageset.images), torch.from_numpy(imageset.labels.astype(np.int64))
    index = {name: np.flatnonzero(imageset.official_split == name) for name in ("train", "val", "test")}
    # the validation part cut in the same proportion, so that validation takes the share of an epoch it takes
    # in the protocol (524 validation images per 4,708 training images)
    share = min(1.0, train_images / len(index["train"]))
    for name, keep in (("train", train_images), ("val", max(32, round(share * len(index["val"]))))):
        index[name] = np.random.default_rng(0).permutation(index[name])[:keep]
    return {name: LabelledImages(images[i], labels[i]) for name, i in index.items()}


def bare_step_ips(backbone: str, size: int, precision: str, steps: int) -> float:
    """img/s of ``steps`` plain training steps after one warm-up step."""
    torch.manual_seed(0)
    model = create_backbone(backbone, 2, size).to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(BATCH, 3, size, size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (BATCH,))

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * BATCH / (time.perf_counter() - started)


def trainer_run(backbone: str, size: int, precision: str, seed: int, data: dict[str, LabelledImages],
                epochs: int) -> dict:
    """One seed of tlbench's trainer: its end-to-end and steps-only img/s, epochs run and the test AUC."""
    preset = MEDMNIST.with_overrides(backbone=backbone, image_size=size, max_epochs=epochs, patience=epochs)
    accel = accel_for(precision)
    torch.manual_seed(seed)
    model = create_backbone(backbone, 2, size)
    started = time.perf_counter()
    history = train_classifier(model, data["train"], data["val"], 2, preset, torch.device("cpu"), seed, accel=accel)
    seconds = time.perf_counter() - started
    images = sum(h["images"] for h in history)
    scores = predict(model, data["test"].images, input_of(model, preset), torch.device("cpu"), accel=accel)
    return {"ips": images / seconds, "step_ips": images / sum(h["train_seconds"] for h in history),
            "auc": auc_of(preset.auc, data["test"].labels.numpy(), scores), "epochs": len(history)}


def compare_precisions(data_root: Path, seeds: tuple[int, ...], epochs: int, train_images: int, bare_steps: int,
                       models=MODELS) -> dict:
    """Per model and precision: the bare step's img/s (median over seeds) and the trainer's (mean over seeds),
    each seed's bare steps just before its trainings (so that both see the same load), and the test AUC per
    seed."""
    results: dict = {}
    for backbone, size in models:
        data = pneumonia(data_root, size, train_images)
        figures = {p: {"bare": [], "runs": []} for p in PRECISIONS}
        for seed in seeds:
            for precision in PRECISIONS:
                figures[precision]["bare"].append(bare_step_ips(backbone, size, precision, bare_steps))
                figures[precision]["runs"].append(trainer_run(backbone, size, precision, seed, data, epochs))
        results[f"{backbone}@{size}"] = {
            precision: {"bare_ips": statistics.median(f["bare"]),
                        "trainer_ips": statistics.mean(r["ips"] for r in f["runs"]),
                        "trainer_step_ips": statistics.mean(r["step_ips"] for r in f["runs"]),
                        "aucs": [r["auc"] for r in f["runs"]], "epochs": [r["epochs"] for r in f["runs"]]}
            for precision, f in figures.items()}
    return results


def auc_verdict(fp32: list[float], bf16: list[float]) -> tuple[float, float, bool]:
    """bf16's mean test AUC minus fp32's, the seed noise (the larger of the two precisions' sd over seeds), and
    whether bf16 is no worse than fp32 beyond it: the difference above minus twice the noise."""
    difference = statistics.mean(bf16) - statistics.mean(fp32)
    noise = max(statistics.stdev(fp32), statistics.stdev(bf16)) if len(fp32) > 1 else float("nan")
    return difference, noise, len(fp32) > 1 and difference >= -2 * noise


def print_comparison(results: dict, seeds: tuple[int, ...], epochs: int, train_images: int) -> None:
    print(f"   PneumoniaMNIST: {train_images} official training images, {epochs} epochs, seeds "
          f"{','.join(map(str, seeds))}; bare step and trainer at batch {BATCH}, Adam")
    print(f"   {'model':26} {'prec':5} {'bare img/s':>10} {'trainer img/s':>13} {'steps only':>10} "
          f"{'trainer/bare':>12}  test AUC per seed")
    for model, by_precision in results.items():
        for precision, f in by_precision.items():
            aucs = " ".join(f"{a:.3f}" for a in f["aucs"])
            print(f"   {model:26} {precision:5} {f['bare_ips']:10.1f} {f['trainer_ips']:13.1f} "
                  f"{f['trainer_step_ips']:10.1f} {f['trainer_ips'] / f['bare_ips']:11.2f}x  {aucs}")
        difference, noise, fine = auc_verdict(by_precision["fp32"]["aucs"], by_precision["bf16"]["aucs"])
        speedup = by_precision["bf16"]["trainer_ips"] / by_precision["fp32"]["trainer_ips"]
        print(f"   {model:26} bf16/fp32 trainer {speedup:.2f}x; AUC bf16 - fp32 {difference:+.4f} (seed sd "
              f"{noise:.4f}): {'no worse' if fine else 'WORSE'} than fp32 beyond 2 sd")


def summary_parts(results: dict) -> list[str]:
    """The CPU targets for the SUMMARY line: the ResNet-18 trainer's bf16 img/s and each model's bf16 AUC."""
    parts = []
    for model, by_precision in results.items():
        if model.startswith(TARGET_MODEL):
            ips = by_precision["bf16"]["trainer_ips"]
            parts.append(f"R18@28 trainer bf16 {ips:.0f} img/s {'met' if ips >= TARGET_TRAINER_IPS else 'NOT met'} "
                         f"(>= {TARGET_TRAINER_IPS:.0f} alone on 2 cores)")
        _, _, fine = auc_verdict(by_precision["fp32"]["aucs"], by_precision["bf16"]["aucs"])
        parts.append(f"{model} bf16 AUC {'met' if fine else 'NOT met'} (no worse than fp32 beyond 2 seed sd)")
    return parts


def compile_payoff(images: int = 300, rounds: int = 2) -> dict:
    """The embedded default's training (cpu-quick: test_resnet at 32 px, batch 64, 12 epochs, bf16 or fp32 as
    the CPU's precision auto) eagerly and through ``torch.compile``, alternating, in one process: the seconds of
    a training each way after the first, the first compiled training's extra seconds (compilation), and the
    trainings a process must run before the compilation has paid (None when compiling saves nothing)."""
    precision = resolve_precision("auto", torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(images) % 2
    pixels = torch.randint(0, 200, (images, 3, 32, 32), generator=generator, dtype=torch.uint8)
    pixels[labels == 1, 0] //= 2  # a learnable difference
    train = LabelledImages(pixels, labels)
    val = LabelledImages(pixels[:128], labels[:128])
    preset = CPU_QUICK.with_overrides(patience=CPU_QUICK.max_epochs)

    def one(compile: bool) -> float:
        torch.manual_seed(0)
        model = create_backbone(CPU_QUICK.backbone, 2, CPU_QUICK.image_size)
        started = time.perf_counter()
        train_classifier(model, train, val, 2, preset, torch.device("cpu"), 0, accel=accel_for(precision, compile))
        return time.perf_counter() - started

    first_compiled = one(True)
    eager, compiled = [], []
    for _ in range(rounds):
        eager.append(one(False))
        compiled.append(one(True))
    saving = statistics.median(eager) - statistics.median(compiled)
    compile_seconds = first_compiled - statistics.median(compiled)
    return {"precision": precision, "eager_s": statistics.median(eager), "compiled_s": statistics.median(compiled),
            "compile_s": compile_seconds, "saving_per_training_s": saving,
            "break_even_trainings": compile_seconds / saving if saving > 0 else None}
