"""Protocol presets: every setting that decides an experiment's result, in one auditable place.

``thesis`` is written out in full; every other preset is its differences from ``thesis``.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, fields, replace

# The fields that only score or report a trained model: they never change a trained model's weights, so they
# stay out of a harness-trained source's identity.
SCORING_FIELDS = frozenset({"svm", "svm_c", "svm_c_grid", "standardize_features", "feature_scale",
                            "pretrained_input", "auc"})
OPTIMIZERS = ("sgd", "adam")
# how pretrained weights are fed: benchmark.engine.inputs.pretrained_input
PRETRAINED_INPUTS = ("source", "preset", "unshifted")
SELECTIONS = ("val_loss", "val_auc", "last")
SOURCE_TRAININGS = ("once", "per-seed")
# Reporting choices: both AUCs are always stored, so the reported one is no part of any result's identity, except
# where selection by validation AUC makes it pick the epoch kept: then it enters as ``selection_auc``, unless it is
# the definition every such result stored before used (the medmnist preset's), so that those keep their hashes.
REPORTING_FIELDS = frozenset({"auc"})
SELECTION_AUC_BEFORE = "ovr"


@dataclass(frozen=True)
class Preset:
    """The training, feature and scoring settings shared by all experiments of a run."""

    name: str
    backbone: str
    image_size: int
    seeds: tuple[int, ...]
    # splits: fractions of the whole dataset, unless split_counts names the dataset
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
    # input of models trained from random weights: "unit" (pixels / 255), "imagenet" (ImageNet mean and std on
    # pixels / 255), "half" ((pixels / 255 - 0.5) / 0.5, MedMNIST's) or "bgr255" (raw 0-255 values in BGR order,
    # as the study's OpenCV + Keras code fed them)
    normalize: str
    augment_flip: bool
    # the linear SVM on penultimate-layer features
    svm: str  # "svc": one-vs-rest SVC(kernel="linear"); "linearsvc": liblinear squared hinge
    svm_c: float
    standardize_features: bool
    # which AUC definition is reported as `auc`: "macro_curve" (the study's) or "ovr" (scikit-learn's mean of
    # per-class one-vs-rest AUCs); both are always stored
    auc: str
    # a dataset's own train/val/test split instead of a seeded one, where it has one (chest X-ray,
    # ISIC 2017, MedMNIST): True for every such dataset, False for none, None for each dataset's own default
    # (official for MedMNIST, whose published results are all on its official test sets); datasets whose only
    # leak-free split is their own (blood cells) use it always
    official_splits: bool | None = None
    # on-device training augmentation besides flips: rotations up to this many degrees either way, and
    # random resized crops keeping at least this fraction of the area (1.0: off)
    augment_rotation: float = 0.0
    augment_crop_scale: float = 1.0
    # input of pretrained weights (ImageNet): "source" (the weights' own mean, std and channel order), "preset"
    # (`normalize`, whatever the weights were trained with) or "unshifted" (the weights' own convention without the
    # mean subtracted: raw BGR 0-255 for Caffe-style weights, as the study fed Keras' VGG16)
    pretrained_input: str = "source"
    # class weights N / N_c: "weighted_mean" (a batch's loss divided by its summed weights: their scale does not
    # matter) or "batch_mean" (divided by the batch size: Keras' class_weight, which scales the step)
    class_weight_mode: str = "weighted_mean"
    # features multiplied by this before the SVM (the study's code divided fc2 by 255)
    feature_scale: float = 1.0
    # C chosen from these by validation AUC (empty: svm_c)
    svm_c_grid: tuple[float, ...] = ()
    # absolute (test, validation) image counts per dataset name, instead of the fractions; for a source's own
    # training split, source_split_counts
    split_counts: tuple[tuple[str, int, int], ...] = ()
    source_split_counts: tuple[tuple[str, int, int], ...] = ()
    # "sgd" (lr, momentum, nesterov, weight_decay) or "adam" (lr, weight_decay)
    optimizer: str = "sgd"
    # the lr is multiplied by lr_gamma after each of these epochs (torch's MultiStepLR); empty: constant
    lr_milestones: tuple[int, ...] = ()
    lr_gamma: float = 0.1
    # which epoch's weights are kept (restore_best) and stop early (patience): lowest validation loss, highest
    # validation AUC (the preset's AUC definition), or "last": no early stop, the last epoch's weights
    selection: str = "val_loss"
    # keyword arguments of timm.create_model for the backbone (sorted (key, value) pairs), e.g. drop_path_rate;
    # the image size reaches models built for one (ViTs' img_size) from image_size, never from here
    model_args: tuple[tuple[str, object], ...] = ()
    # an official validation part with fewer images than this, or fewer of some class, is too small to select
    # epochs or C on: it joins the training part, and validation is carved from that (grouped where groups exist)
    min_val_images: int = 0
    min_val_per_class: int = 0
    # a source tlbench trains on a dataset: "once" (seed 0, one model shared by every seed, as the study did) or
    # "per-seed" (a model of its own for each seed, trained with that seed: a ± and a test over seeds then include
    # how another training of the source moves a number)
    source_training: str = "once"

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer {self.optimizer!r}: use one of {', '.join(OPTIMIZERS)}")
        if self.selection not in SELECTIONS:
            raise ValueError(f"selection {self.selection!r}: use one of {', '.join(SELECTIONS)}")
        if self.source_training not in SOURCE_TRAININGS:
            raise ValueError(f"source_training {self.source_training!r}: use one of {', '.join(SOURCE_TRAININGS)}")
        if self.pretrained_input not in PRETRAINED_INPUTS:
            raise ValueError(f"pretrained_input {self.pretrained_input!r}: use one of {', '.join(PRETRAINED_INPUTS)}")
        check_model_args(dict(self.model_args), "the preset's model_args")

    def hashable(self) -> dict:
        """The settings that determine a result: not the name, the seed list (a grid axis) or the reported AUC.
        A field added after results were first stored enters only when it differs from its default, so that
        those results keep their hashes."""
        return dict(_hashable(self))  # a copy: its values are immutable, the dict is the caller's

    def backbone_kwargs(self) -> dict:
        """What :func:`benchmark.engine.models.create_backbone` takes besides the backbone's name and classes: the
        image size and the model arguments."""
        return {"image_size": self.image_size, **dict(self.model_args)}

    def training_fields(self) -> dict:
        """The settings that determine a trained model's weights (a harness-trained source's identity)."""
        return {k: v for k, v in self.hashable().items() if k not in SCORING_FIELDS}

    def counts_for(self, dataset: str, source: bool = False) -> tuple[int, int] | None:
        """The absolute (test, validation) counts for ``dataset``, or ``None`` for the fractions."""
        table = self.source_split_counts if source else self.split_counts
        return next(((test, val) for name, test, val in table if name == dataset), None)

    def with_overrides(self, **overrides) -> Preset:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def from_fields(cls, stored: dict) -> Preset:
        """A preset from :func:`dataclasses.asdict` output read back from JSON (lists become tuples)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in stored.items() if k in known}
        for name in ("seeds", "svm_c_grid", "lr_milestones"):
            if name in values:
                values[name] = tuple(values[name])
        for name in ("split_counts", "source_split_counts", "model_args"):
            if name in values:
                values[name] = tuple(tuple(entry) for entry in values[name])
        return cls(**values)


# Keyword arguments the harness sets itself: the head, the image size and the weights.
RESERVED_MODEL_ARGS = {"num_classes": "the task's classes set the head", "img_size": "--image-size sets it",
                       "pretrained": "the source decides the weights", "pretrained_cfg_overlay": "the source sets it"}
# Fields added to Preset after results were first stored (see Preset.hashable).
LATER_FIELDS = frozenset({"model_args", "min_val_images", "min_val_per_class", "source_training"})


def check_model_args(args: dict, where: str) -> None:
    """ValueError unless ``args`` are keyword arguments the harness leaves to the user (names and plain values)."""
    for key, value in args.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise ValueError(f"{where}: {key!r} is not a keyword argument name")
        if key in RESERVED_MODEL_ARGS:
            raise ValueError(f"{where}: {key} cannot be given ({RESERVED_MODEL_ARGS[key]})")
        if not isinstance(value, (str, int, float, bool)):
            raise ValueError(f"{where}: {key} = {value!r}: give a string, number or boolean")


def model_args_pairs(args: dict) -> tuple[tuple[str, object], ...]:
    """Model arguments as the sorted pairs a preset holds."""
    return tuple(sorted(args.items()))


# The study's stated settings (Fok 2019). Momentum 0.01 is as written in the thesis (probably meant as 0.9).
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

# The study as its code ran it (docs/protocol.md, whose table lists each quirk and its field, and the quirks no field
# reproduces). Its leaks are never reproduced: splits stay grouped and official where the data needs it, and every
# model is built afresh.
THESIS_AS_RUN = replace(
    THESIS,
    name="thesis-as-run",
    normalize="bgr255",  # OpenCV BGR, raw 0-255, no mean subtraction
    # ... also into the ImageNet weights, which (Keras' Caffe-derived VGG16) expected the ImageNet mean subtracted:
    # an offset of the mean, which "unshifted" gives any weights in their own units (raw BGR 0-255 for weights
    # declared with input = "caffe"; timm's VGG16 weights are other weights, see docs/protocol.md)
    pretrained_input="unshifted",
    feature_scale=1 / 255,  # fc2 features divided by 255 before the SVC
    class_weight_mode="batch_mean",  # Keras class_weight: N / N_c not normalised
    restore_best=False,  # the last epoch's weights, not the best validation epoch's
    split_counts=(("isic2017", 400, 200), ("blood_cells", 2000, 1500), ("blood_cells_pooled", 2000, 1500),
                  ("chest_xray", 900, 600)),
    source_split_counts=(("kaggle_dr", 4000, 4000), ("dogs_vs_cats", 4000, 2000), ("chest_xray", 200, 200),
                         ("natural_images", 1000, 500)),
)

# What a careful researcher would run today, with the study's backbone and grid. Each choice and its reference:
# - 5 seeds: a spread over seeds is itself an estimate (Bouthillier et al. 2021, "Accounting for variance").
# - official splits: the datasets' own test sets, comparable with published results (MedMNIST v2, ISIC 2017).
# - models trained from scratch see standardised inputs (LeCun et al. 1998, "Efficient BackProp"); pretrained
#   weights get the mean, std and channel order they were trained with (timm's pretrained_cfg).
# - SGD momentum 0.9 (Sutskever et al. 2013; Kornblith et al. 2019 fine-tune with it), weight decay 5e-4
#   (VGG's own training value, Simonyan & Zisserman 2015).
# - flips, rotations up to 15 degrees and random resized crops of at least half the area, on training images
#   only (Perez et al. 2018 for ISIC lesions; Kornblith et al. 2019 for fine-tuning).
# - the best validation epoch's weights, the point of early stopping (Prechelt 1998).
# - standardised features into a linear SVM whose C is chosen by validation AUC on a logarithmic grid (Hsu,
#   Chang & Lin, "A practical guide to support vector classification"; Kornblith et al. 2019 tune the L2
#   penalty of their logistic regression the same way).
# - AUC as scikit-learn's mean of per-class one-vs-rest AUCs, the common definition (MedMNIST v2).
# - an official validation part under 100 images or 10 of a class is not selected on (chest X-ray's has 16): a
#   validation part carved from the official training part, grouped by patient, replaces it (tlbench's rule: a
#   16-image part gives AUC steps of 1/64 and a best epoch chosen by noise).
RECOMMENDED = replace(
    THESIS,
    name="recommended",
    seeds=(2, 5, 7, 11, 13),
    official_splits=True,
    normalize="imagenet",
    momentum=0.9,
    weight_decay=5e-4,
    augment_flip=True,
    augment_rotation=15.0,
    augment_crop_scale=0.5,
    svm="linearsvc",
    standardize_features=True,
    svm_c_grid=(1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0),
    auc="ovr",
    # chest X-ray's official validation part holds 16 images: too few to select epochs and C on
    min_val_images=100,
    min_val_per_class=10,
)

# What a machine without a GPU runs by default: a tiny timm model at 32 px, trained with settings that learn
# within a few epochs, so the whole embedded grid finishes in minutes on two cores (docs/performance.md). Batches of 64
# at lr 0.02 over 12 epochs (60 steps on 300 images, the best validation epoch kept) and the synthetic
# targets' 600 test and 200-300 validation images keep every cell's spread over seeds within 0.045 under one
# and two threads (docs/performance.md, "The embedded default").
CPU_QUICK = replace(
    THESIS,
    name="cpu-quick",
    backbone="test_resnet",
    image_size=32,
    lr=0.02,
    momentum=0.9,
    weight_decay=5e-4,
    batch_size=64,
    max_epochs=12,
    patience=12,
    normalize="imagenet",
    augment_flip=True,
    svm="linearsvc",
    svm_c=0.1,
    standardize_features=True,
    split_counts=(("synth_xray", 600, 300), ("synth_cells", 600, 200)),
    source_split_counts=(("synth_shapes", 400, 400),),
)

# MedMNIST v2's baseline protocol (Yang et al. 2023, Scientific Data 10:41, section "Experiments"), as its
# experiment code (github.com/MedMNIST/experiments, MedMNIST2D/train_and_eval_pytorch.py) runs it: models trained
# from scratch on the official splits, Adam at lr 1e-3 for 100 epochs, the lr times 0.1 after epochs 50 and 75,
# batch 128, plain cross-entropy, no augmentation, pixels scaled to [-1, 1] (Normalize(mean=.5, std=.5)), AUC as
# the mean of per-class one-vs-rest AUCs (medmnist.Evaluator) and the model of the best validation AUC.
# The code that produced the paper's table assigns `best_model = model`, a reference, so the "best" model it tested
# was in fact the last epoch's (fixed in the repository in 2023, after the table). This preset keeps the best
# validation epoch's weights, as the paper describes; `selection="last"` is the rule of the code behind the table
# (docs/protocol.md).
# The backbone is the paper's ResNet-18 for 28 px (benchmark.engine.medmnistnets); `--backbone
# medmnist_resnet50_28`, or `medmnist_resnet18_224` / `medmnist_resnet50_224` with `--image-size 224`, give the
# table's other columns (perf/medmnist_table.py); the paper's input at 224 px, its 28 px images upsampled with
# NEAREST, is the dataset `<flag>`, MedMNIST+'s native files `<flag>_plus` (docs/inputs.md).
MEDMNIST = replace(
    THESIS,
    name="medmnist",
    backbone="medmnist_resnet18_28",
    image_size=28,
    seeds=(0, 1, 2),
    official_splits=True,
    optimizer="adam",
    lr=1e-3,
    momentum=0.0,
    nesterov=False,
    lr_milestones=(50, 75),
    lr_gamma=0.1,
    batch_size=128,
    max_epochs=100,
    patience=100,  # never stops early: all 100 epochs run
    selection="val_auc",
    class_weights=False,
    normalize="half",
    auc="ovr",
)

PRESETS = {p.name: p for p in (THESIS, THESIS_AS_RUN, RECOMMENDED, CPU_QUICK, MEDMNIST)}


def resolve_preset(name: str, device_type: str) -> Preset:
    """``auto`` is the thesis preset on a GPU and ``cpu-quick`` elsewhere."""
    if name == "auto":
        return THESIS if device_type == "cuda" else CPU_QUICK
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of: auto, {', '.join(PRESETS)}") from None


@functools.lru_cache(maxsize=64)
def _hashable(preset: Preset) -> dict:
    """:meth:`Preset.hashable`, worked out once per preset: a grid asks it of every experiment."""
    settings = asdict(preset)
    for name in ("name", "seeds", *REPORTING_FIELDS):
        settings.pop(name)
    for item in fields(preset):
        if item.name in LATER_FIELDS and settings[item.name] == item.default:
            settings.pop(item.name)
    if preset.selection == "val_auc" and preset.auc != SELECTION_AUC_BEFORE:
        settings["selection_auc"] = preset.auc  # it picks the epoch kept, so it decides the weights
    return settings
