"""Protocol presets: every setting that decides an experiment's result, in one auditable place."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class Preset:
    """The training, feature and scoring settings shared by all experiments of a run."""

    name: str
    backbone: str
    image_size: int
    seeds: tuple[int, ...]
    # splits: fractions of the whole dataset
    test_fraction: float
    val_fraction: float
    # training (scratch, fine-tuning and source models)
    lr: float
    momentum: float
    nesterov: bool
    weight_decay: float
    batch_size: int
    max_epochs: int
    patience: int
    class_weights: bool
    restore_best: bool
    normalize: str  # "unit": pixels / 255; "imagenet": ImageNet mean and std
    augment_flip: bool
    # the linear SVM on penultimate-layer features
    svm: str  # "svc": one-vs-rest SVC(kernel="linear"); "linearsvc": liblinear squared hinge
    svm_c: float
    standardize_features: bool
    # which AUC definition is reported as `auc`
    auc: str  # "macro_curve" (the study's) or "ovr" (scikit-learn's mean of per-class AUCs)
    # a dataset's own train/val/test split instead of a seeded one, where it has one (chest X-ray,
    # ISIC 2017, MedMNIST); datasets whose only leak-free split is their own (blood cells) use it always
    official_splits: bool = False
    # on-device training augmentation besides flips: rotations up to this many degrees either way, and
    # random resized crops keeping at least this fraction of the area (1.0: off)
    augment_rotation: float = 0.0
    augment_crop_scale: float = 1.0

    def hashable(self) -> dict:
        """The settings that determine a result (the seed list is a grid axis, not a setting)."""
        settings = asdict(self)
        settings.pop("seeds")
        settings.pop("name")
        return settings

    def with_overrides(self, **overrides) -> Preset:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


# The study's stated settings. Momentum 0.01 is as written in the thesis (probably meant as 0.9).
# Best weights are restored: keeping the last epoch was a defect of the study's code, not a setting.
THESIS = Preset(
    name="thesis",
    backbone="vgg16",
    image_size=224,
    seeds=(2, 5, 7),
    test_fraction=0.2,
    val_fraction=0.1,
    lr=1e-3,
    momentum=0.01,
    nesterov=True,
    weight_decay=0.0,
    batch_size=32,
    max_epochs=50,
    patience=10,
    class_weights=True,
    restore_best=True,
    normalize="unit",
    augment_flip=False,
    svm="svc",
    svm_c=1.0,
    standardize_features=False,
    auc="macro_curve",
)

# What a machine without a GPU runs by default: a tiny timm model at 32 px, trained with settings
# that learn within a few epochs, so the whole embedded grid finishes in minutes on two cores.
CPU_QUICK = Preset(
    name="cpu-quick",
    backbone="test_resnet",
    image_size=32,
    seeds=(2, 5, 7),
    test_fraction=0.2,
    val_fraction=0.1,
    lr=0.01,
    momentum=0.9,
    nesterov=True,
    weight_decay=5e-4,
    batch_size=32,
    max_epochs=30,
    patience=6,
    class_weights=True,
    restore_best=True,
    normalize="imagenet",
    augment_flip=True,
    svm="linearsvc",
    svm_c=0.1,
    standardize_features=True,
    auc="macro_curve",
)

PRESETS = {p.name: p for p in (THESIS, CPU_QUICK)}


def resolve_preset(name: str, device_type: str) -> Preset:
    """``auto`` is the thesis preset on a GPU and ``cpu-quick`` elsewhere."""
    if name == "auto":
        return THESIS if device_type == "cuda" else CPU_QUICK
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of: auto, {', '.join(PRESETS)}") from None
