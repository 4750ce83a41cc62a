"""The study's full grid, in images, and its wall time from measured throughputs.

Image counts are the thesis split sizes (docs/protocol.md): targets ISIC 2017 (three tasks from its
2,000 training images: 374 melanoma, 254 seborrheic keratosis, 1,372 nevus; test 400, validation 200),
Blood cells (12,515; 2,000 / 1,500) and Chest X-ray (5,856; 900 / 600); sources trained from scratch on
Cats-vs-Dogs (24,946; 4,000 / 2,000; at most 40 epochs), Natural images (6,899; 1,000 / 500), Chest
X-ray (5,856; 200 / 200) and Kaggle DR (35,126; 4,000 / 4,000), plus ImageNet weights (no training).
ISIC's balancing by rotated copies is left out (it belongs to the training split and would add about
1,300 images per ISIC task).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Part:
    name: str
    total: int
    test: int
    val: int
    max_epochs: int = 50
    classes: int = 2

    @property
    def train(self) -> int:
        return self.total - self.test - self.val


TARGETS = (
    Part("isic:melanoma-vs-nevus", 374 + 1372, 400, 200),
    Part("isic:three-class", 2000, 400, 200, classes=3),
    Part("isic:lesion-vs-nevus", 2000, 400, 200),
    Part("blood_cells", 12515, 2000, 1500, classes=4),
    Part("chest_xray", 5856, 900, 600),
)
SOURCE_MODELS = (
    Part("cats_vs_dogs", 24946, 4000, 2000, max_epochs=40),
    Part("natural_images", 6899, 1000, 500),
    Part("chest_xray", 5856, 200, 200),
    Part("kaggle_dr", 35126, 4000, 4000),
)
SOURCES = ("imagenet",) + tuple(p.name for p in SOURCE_MODELS)
SEEDS = 3


@dataclass(frozen=True)
class Throughput:
    """Measured rates on one device: training img/s (forward and backward), inference img/s (validation
    and feature extraction), and the seconds of one SVM fit on each target's training set, by target name."""

    train_ips: float
    infer_ips: float
    svm_seconds: dict[str, float]


def grid_counts(epochs: int) -> dict:
    """Image-steps and SVM fits of the full grid when every training stops after ``epochs`` epochs (capped
    by each part's own limit); chest is never its own source. ``svm_fits`` maps target names to numbers of
    fits."""
    train_steps = infer_images = 0.0
    svm_fits: dict[str, int] = {}
    for source in SOURCE_MODELS:
        n = min(epochs, source.max_epochs)
        train_steps += n * source.train
        infer_images += n * source.val
    for target in TARGETS:
        sources = [s for s in SOURCES if s != target.name]
        n = min(epochs, target.max_epochs)
        trainings = SEEDS * (1 + len(sources))  # scratch and fine-tuning
        train_steps += trainings * n * target.train
        infer_images += trainings * n * target.val + SEEDS * target.test  # validation, scratch's test scores
        # FE: each source's features of all images once (the cache reuses them across seeds);
        # FT: train and test features after each fine-tuning
        infer_images += len(sources) * target.total + SEEDS * len(sources) * (target.train + target.test)
        svm_fits[target.name] = 2 * SEEDS * len(sources)
    return {"train_steps": train_steps, "infer_images": infer_images, "svm_fits": svm_fits}


def estimate_seconds(rates: Throughput, epochs: int) -> dict[str, float]:
    """Seconds per stage of the full grid at ``rates``."""
    counts = grid_counts(epochs)
    stages = {
        "training": counts["train_steps"] / rates.train_ips,
        "inference": counts["infer_images"] / rates.infer_ips,
        "svm": sum(fits * rates.svm_seconds[name] for name, fits in counts["svm_fits"].items()),
    }
    stages["total"] = sum(stages.values())
    return stages
