"""Supervised training (SGD or Adam, an optional step schedule) with early stopping and model selection on the
validation split (its loss or its AUC)."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch

from benchmark.acceleration import Acceleration
from benchmark.engine.augment import Augmentation
from benchmark.engine.inputs import input_of
from benchmark.engine.metrics import auc_of
from benchmark.engine.models import forward_pass, to_unit
from benchmark.engine.seeding import reseed
from benchmark.engine.staging import StagedImages, upload
from benchmark.inputs import InputConvention
from benchmark.presets import Preset

if TYPE_CHECKING:
    from benchmark.datasets import Task
    from benchmark.settings import RunSettings

EpochCallback = Callable[[dict], None]


@dataclass
class LabelledImages:
    """uint8 (N, 3, H, W) images with int64 labels, as a trainer consumes them."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


def class_weights(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The study's N / N_c per class (a class absent from training gets weight 0).

    Under the ``weighted_mean`` class-weight mode the scale does not matter (a batch's loss is divided by its
    summed weights); under ``batch_mean`` (Keras' ``class_weight``) it scales the loss and so the step.
    """
    counts = torch.bincount(labels, minlength=num_classes).float()
    return torch.where(counts > 0, len(labels) / counts.clamp(min=1), torch.zeros_like(counts))


@dataclass
class _Epoch:
    """One epoch's shuffled batches and their augmentation, drawn from the trainer's host generator and
    uploaded once, so that no training step copies from the host (a copy can make the host wait)."""

    bounds: list[tuple[int, int]]  # positions in the epoch's order
    order: torch.Tensor  # on the device, for the labels
    image_order: torch.Tensor  # where the staged images want their indices
    params: dict[str, torch.Tensor]  # per position, on the device

    @classmethod
    def draw(cls, images: StagedImages, batch_size: int, augmentation: Augmentation, generator: torch.Generator,
             device: torch.device) -> _Epoch:
        n = len(images)
        order = torch.randperm(n, generator=generator)
        # batch norm cannot train on a single image, so a last batch of one is dropped
        bounds = [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)
                  if min(start + batch_size, n) - start >= 2]
        drawn = [augmentation.draw(stop - start, generator) for start, stop in bounds]
        params = {key: upload(torch.cat([d[key] for d in drawn]), device) for key in (drawn[0] if drawn else {})}
        label_order = upload(order, device)
        image_order = label_order if images.index_device.type == device.type else order
        return cls(bounds, label_order, image_order, params)

    def __iter__(self):
        """``(image index, label index, augmentation parameters)`` per batch."""
        for start, stop in self.bounds:
            yield (self.image_order[start:stop], self.order[start:stop],
                   {key: value[start:stop] for key, value in self.params.items()})


def _keep(state: dict[str, torch.Tensor], kept: dict[str, torch.Tensor] | None) -> dict[str, torch.Tensor]:
    """A copy of ``state`` written into ``kept``'s tensors when there are some: the best weights so far take
    one copy of the model's memory, never two at once."""
    if kept is None:
        return {name: tensor.detach().clone() for name, tensor in state.items()}
    for name, tensor in state.items():
        kept[name].copy_(tensor)
    return kept


def validation_metrics(forward, model, data: StagedImages, labels: torch.Tensor, inputs: InputConvention,
                       device: torch.device, accel: Acceleration) -> tuple[float, float, np.ndarray]:
    """The unweighted mean cross-entropy over the whole validation set, as the study's Keras code computed it
    (class weights apply to training only): a sum over samples divided by their number, so it does not depend
    on chunk size or sample order; the share of samples whose top class is their label; and the softmax
    outputs (N, classes), for the validation AUC."""
    model.eval()
    total = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    probabilities = []
    with torch.no_grad():
        for start in range(0, len(data), 256):
            x = inputs.apply(to_unit(data.range(start, start + 256)), accel.channels_last)
            y = labels[start : start + 256]
            logits = forward(x)
            total += torch.nn.functional.cross_entropy(logits, y, reduction="sum").double()
            correct += (logits.argmax(dim=1) == y).sum()
            probabilities.append(logits.softmax(dim=1))
    n = max(len(labels), 1)
    scores = torch.cat(probabilities).cpu().numpy() if probabilities else np.zeros((0, 0), dtype=np.float32)
    return float(total) / n, int(correct) / n, scores


def make_optimizer(model: torch.nn.Module, preset: Preset) -> torch.optim.Optimizer:
    """The preset's optimizer over all of ``model``'s parameters, fused into one kernel per step on the CPU
    where torch has one (:func:`_fused_on_cpu`)."""
    optimizer = torch.optim.Adam if preset.optimizer == "adam" else torch.optim.SGD
    options = {"lr": preset.lr, "weight_decay": preset.weight_decay}
    if optimizer is torch.optim.SGD:
        options.update(momentum=preset.momentum, nesterov=preset.nesterov and preset.momentum > 0)
    if _fused_on_cpu(model, optimizer):
        options["fused"] = True
    return optimizer(model.parameters(), **options)


def _fused_on_cpu(model: torch.nn.Module, optimizer: type[torch.optim.Optimizer]) -> bool:
    """Whether ``model`` is on the CPU and this torch has ``optimizer``'s fused CPU kernel (torch 2.4 and later).

    torch's default on the CPU runs several small kernels per parameter tensor each step, each an OpenMP region
    whose threads must wake: 806 of the 1,654 kernels of a bf16 step of MedMNIST's ResNet-18, 220 of 1,068 fused
    (docs/performance.md). CUDA keeps torch's default (foreach), whose rounding the GPU's results were made with.
    """
    parameter = next(model.parameters(), None)
    if parameter is None or parameter.device.type != "cpu":
        return False
    if "fused" not in inspect.signature(optimizer).parameters:
        return False
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices
    except ImportError:
        return False
    return "cpu" in _get_fused_kernels_supported_devices()


def _criterion(record: dict, preset: Preset) -> float:
    """The epoch's selection value, lower is better: validation loss, or minus validation AUC."""
    return -record["val_auc"] if preset.selection == "val_auc" else record["val_loss"]


def _training_loss(labels: torch.Tensor, num_classes: int, preset: Preset, device: torch.device):
    """The training batch loss: cross-entropy, class-weighted as the preset says."""
    if not preset.class_weights:
        return torch.nn.CrossEntropyLoss()
    weights = class_weights(labels, num_classes).to(device)
    if preset.class_weight_mode == "weighted_mean":
        return torch.nn.CrossEntropyLoss(weight=weights)
    if preset.class_weight_mode != "batch_mean":
        raise ValueError(f"unknown class_weight_mode {preset.class_weight_mode!r}: use weighted_mean or batch_mean")
    summed = torch.nn.CrossEntropyLoss(weight=weights, reduction="sum")
    return lambda logits, y: summed(logits, y) / len(y)


def train_classifier(
    model: torch.nn.Module,
    train: LabelledImages,
    val: LabelledImages,
    num_classes: int,
    preset: Preset,
    device: torch.device,
    seed: int,
    on_epoch: EpochCallback | None = None,
    accel: Acceleration | None = None,
) -> list[dict]:
    """Train all layers of ``model`` in place; return the per-epoch history.

    The lr steps down by ``preset.lr_gamma`` after each epoch of ``preset.lr_milestones``. With ``preset.selection``
    "last" every epoch runs and the last one's weights stay; else it stops when the
    validation criterion (``preset.selection``: loss, or AUC) has not improved for ``preset.patience`` epochs and,
    when ``preset.restore_best``, leaves the weights of the best validation epoch in ``model``. The model's input
    convention (:func:`benchmark.engine.inputs.input_of`) turns pixels into its input.
    The images go to the device once (see :class:`StagedImages`), are augmented and normalised there,
    and the host waits for the device only at the end of an epoch. ``accel`` defaults to
    :meth:`Acceleration.for_device`.
    """
    accel = accel or Acceleration.for_device(device)
    augmentation = Augmentation.from_preset(preset)
    generator = torch.Generator().manual_seed(seed)
    reseed(seed)  # for models that draw from the global generator while training (dropout)
    accel.place(model, device)
    forward = forward_pass(model, device, accel)
    optimizer = make_optimizer(model, preset)
    schedule = (torch.optim.lr_scheduler.MultiStepLR(optimizer, list(preset.lr_milestones), preset.lr_gamma)
                if preset.lr_milestones else None)
    inputs = input_of(model, preset)
    loss_fn = _training_loss(train.labels, num_classes, preset, device)
    train_images, val_images = StagedImages(train.images, device), StagedImages(val.images, device)
    train_labels, val_labels = train.labels.to(device), val.labels.to(device)
    if preset.selection == "val_auc" and len(torch.unique(val.labels)) < 2:
        raise ValueError(f"selection by validation AUC needs two classes in the validation split, which has "
                         f"{len(val.labels)} image(s) of one class; use a larger validation split or "
                         "selection val_loss")
    history: list[dict] = []
    best, best_state, stale = float("inf"), None, 0
    for epoch in range(1, preset.max_epochs + 1):
        started = time.perf_counter()
        model.train()
        running = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.int64)
        seen = 0
        for image_index, label_index, params in _Epoch.draw(train_images, preset.batch_size, augmentation,
                                                            generator, device):
            x = augmentation.apply(to_unit(train_images.take(image_index)), params)
            x = inputs.apply(x, accel.channels_last)
            y = train_labels[label_index]
            logits = forward(x)
            loss = loss_fn(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            running += loss.detach() * len(y)
            correct += (logits.detach().argmax(dim=1) == y).sum()
            seen += len(y)
        train_loss = float(running) / max(seen, 1)  # waits for the epoch's steps: train_seconds is their time
        train_seconds = time.perf_counter() - started
        if not np.isfinite(train_loss):
            # bf16 can diverge where fp32 does not (test_resnet's 1x1 last stage at 16 px did on the CPU)
            remedy = "lower the lr, or train in fp32 (--precision fp32)" if accel.bf16 else "lower the lr"
            raise FloatingPointError(f"training diverged at epoch {epoch} (loss {train_loss}); {remedy}")
        val_loss, val_accuracy, val_scores = validation_metrics(forward, model, val_images, val_labels, inputs,
                                                                device, accel)
        # train_accuracy: of the augmented batches as they were trained on, while the weights moved
        record = {
            "epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
            "train_accuracy": int(correct) / max(seen, 1), "val_accuracy": val_accuracy,
            "val_auc": auc_of(preset.auc, val.labels.numpy(), val_scores),
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": time.perf_counter() - started, "train_seconds": train_seconds, "images": seen,
        }
        if schedule is not None:
            schedule.step()
        history.append(record)
        if on_epoch is not None:
            on_epoch({**record, "max_epochs": preset.max_epochs})
        if preset.selection == "last":  # every epoch runs and the last one's weights stay (MedMNIST's code)
            continue
        if _criterion(record, preset) < best:
            best, stale = _criterion(record, preset), 0
            if preset.restore_best:
                best_state = _keep(model.state_dict(), best_state)
        else:
            stale += 1
            if stale >= preset.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


class TrainingSplit(Protocol):
    """What :func:`fit` needs of a split (:class:`benchmark.data.taskdata.SplitData` has it)."""

    task: Task
    train: LabelledImages
    val: LabelledImages


def fit(model: torch.nn.Module, split: TrainingSplit, settings: RunSettings, seed: int,
        on_epoch: EpochCallback | None = None) -> list[dict]:
    """:func:`train_classifier` on ``split``'s training and validation parts with the run's preset, device
    and acceleration: how experiments and harness-trained sources train."""
    return train_classifier(model, split.train, split.val, split.task.num_classes, settings.preset,
                            settings.device, seed, on_epoch, settings.acceleration)
