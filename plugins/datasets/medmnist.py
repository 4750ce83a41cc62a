"""MedMNIST v2 (Yang et al. 2023), every 2D single-label flag as two datasets, with the official
``train``/``val``/``test`` splits, used unless the preset or ``--no-official-splits`` says otherwise: every
published MedMNIST result is on the official test set.

- ``<flag>`` is the paper's input: ``medmnist/<flag>.npz`` (28 px), enlarged with NEAREST at whole multiples of
  28 px as the paper's code did for its 224 px columns (``transforms.Resize(..., PIL.Image.NEAREST)``), so at 56 px
  each pixel is a 2 x 2 block; squashed bilinearly at other sizes, which the paper never ran (NEAREST at a
  fractional factor repeats some rows and columns and not others: at 32 px it cost the leak audit's perceptual
  hash about 5% of the PneumoniaMNIST copies of chest X-rays it finds).
- ``<flag>_plus`` reads MedMNIST+'s native files (``medmnist/<flag>_{64,128,224}.npz``, one of which it needs,
  and the 28 px one): the file closest to the requested size from above, squashed bilinearly.

The rule is part of each dataset's fingerprint, so results of the two never mix. ChestMNIST is multi-label and
left out.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from benchmark import TARGET, Dataset, DatasetStatus, ImageSet, Task, digest_of, hookimpl

HOMEPAGE = "https://medmnist.com (files: https://zenodo.org/records/10519652)"
SIZES = (28, 64, 128, 224)
SPLITS = ("train", "val", "test")
ORGANS = ("bladder", "femur_left", "femur_right", "heart", "kidney_left", "kidney_right", "liver", "lung_left",
          "lung_right", "pancreas", "spleen")
FLAGS = {
    "pathmnist": ("adipose", "background", "debris", "lymphocytes", "mucus", "smooth_muscle",
                  "normal_colon_mucosa", "cancer_associated_stroma", "colorectal_adenocarcinoma_epithelium"),
    "dermamnist": ("actinic_keratosis", "basal_cell_carcinoma", "benign_keratosis", "dermatofibroma", "melanoma",
                   "melanocytic_nevus", "vascular_lesion"),
    "octmnist": ("choroidal_neovascularization", "diabetic_macular_edema", "drusen", "normal"),
    "pneumoniamnist": ("normal", "pneumonia"),
    "retinamnist": ("grade_0", "grade_1", "grade_2", "grade_3", "grade_4"),
    "breastmnist": ("malignant", "normal_or_benign"),
    "bloodmnist": ("basophil", "eosinophil", "erythroblast", "immature_granulocyte", "lymphocyte", "monocyte",
                   "neutrophil", "platelet"),
    "tissuemnist": ("collecting_duct_connecting_tubule", "distal_convoluted_tubule", "glomerular_endothelial",
                    "interstitial_endothelial", "leukocyte", "podocyte", "proximal_tubule", "thick_ascending_limb"),
    "organamnist": ORGANS,
    "organcmnist": ORGANS,
    "organsmnist": ORGANS,
}
# Where each flag's images come from (MedMNIST v2, Yang et al. 2023, Table 1)
PROVENANCE = {
    "pathmnist": {"kather2019-nct-crc-he"},
    "dermamnist": {"ham10000", "isic-archive"},
    "octmnist": {"kermany2018-oct"},
    "pneumoniamnist": {"kermany2018-chest-xray"},
    "retinamnist": {"deepdrid"},
    "breastmnist": {"al-dhabyani2020-busi"},
    "bloodmnist": {"acevedo2020-blood"},
    "tissuemnist": {"bbbc051-kidney"},
    "organamnist": {"lits2017"},
    "organcmnist": {"lits2017"},
    "organsmnist": {"lits2017"},
}
# How a flag's images reach the requested size: the paper's (the 28 px file, NEAREST at its multiples) or MedMNIST+'s
UPSAMPLED_28, NATIVE = "upsampled-28", "native"
# The imaging kind (benchmark.datasets.IMAGING) where one fits; the rest are "other".
IMAGING = {"pneumoniamnist": "xray", "bloodmnist": "cells", "dermamnist": "dermoscopy", "retinamnist": "fundus"}
KEYS = tuple(f"{split}_{kind}.npy" for split in SPLITS for kind in ("images", "labels"))


def file_name(flag: str, size: int) -> str:
    return f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz"


def squash(images: np.ndarray, size: int, resample: int = Image.BILINEAR) -> np.ndarray:
    """uint8 (N, h, w) or (N, h, w, 3) to (N, size, size, 3), with PIL's ``resample`` filter."""
    rgb = images if images.ndim == 4 else np.repeat(images[..., None], 3, axis=3)
    if rgb.shape[1:3] == (size, size):
        return np.ascontiguousarray(rgb, dtype=np.uint8)
    return np.stack([np.asarray(Image.fromarray(image).resize((size, size), resample)) for image in rgb])


class MedMnist(Dataset):
    modality = "medical"
    homepage = HOMEPAGE
    version = "2"
    official_split_default = True

    def __init__(self, flag: str, input_rule: str = UPSAMPLED_28):
        if input_rule not in (UPSAMPLED_28, NATIVE):
            raise ValueError(f"input_rule {input_rule!r}: use {UPSAMPLED_28!r} or {NATIVE!r}")
        self.flag, self.input_rule = flag, input_rule
        self.name = flag if input_rule == UPSAMPLED_28 else f"{flag}_plus"
        self.classes = FLAGS[flag]
        self.provenance = frozenset(PROVENANCE[flag])
        self.imaging = IMAGING.get(flag, "other")
        self.description = (f"MedMNIST v2 {flag}: {len(self.classes)} classes, " +
                            ("the 28 px images (NEAREST above 28 px, as the paper)" if input_rule == UPSAMPLED_28
                             else "MedMNIST+'s native files (the closest size from above)"))

    def tasks(self) -> list[Task]:
        return [Task(self.name, self.classes, frozenset({TARGET}), self.description)]

    def folder(self, root: Path) -> Path:
        return Path(root) / "medmnist"

    def present(self, root: Path) -> dict[int, Path]:
        """The files of this flag under the data root that this dataset reads, by image size."""
        sizes = (28,) if self.input_rule == UPSAMPLED_28 else SIZES
        files = {size: self.folder(root) / file_name(self.flag, size) for size in sizes}
        return {size: path for size, path in files.items() if path.is_file()}

    def fingerprint(self, task: Task, root: Path) -> str:
        """The version, the input rule and each file read's name, size and modification time."""
        present = self.present(root)
        return digest_of(self.version, self.input_rule,
                         [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in present.values()])

    def status(self, root: Path) -> DatasetStatus:
        """``missing`` without the 28 px file (``<flag>``) or without any of MedMNIST+'s larger files
        (``<flag>_plus``, which would otherwise be the 28 px images upsampled bilinearly)."""
        present = self.present(root)
        if self.input_rule == NATIVE and max(present, default=0) <= 28:
            expected = self.folder(root) / f"{self.flag}_{{64,128,224}}.npz"
            return DatasetStatus("missing", f"expected {expected} (MedMNIST+; {self.flag} reads the 28 px file); "
                                 f"get it from {HOMEPAGE}", expected)
        if not present:
            expected = self.folder(root) / file_name(self.flag, 28)
            return DatasetStatus("missing", f"expected {expected}; get it from {HOMEPAGE}", expected)
        bad = []
        for path in present.values():
            try:
                with zipfile.ZipFile(path) as archive:
                    lacking = set(KEYS) - set(archive.namelist())
            except (zipfile.BadZipFile, OSError):
                lacking = {"a readable npz"}
            if lacking:
                bad.append(f"{path.name} (lacks {', '.join(sorted(lacking))})")
        if bad:
            return DatasetStatus("corrupt", f"{'; '.join(bad)} in {self.folder(root)}; download it again",
                                 self.folder(root))
        sizes = ", ".join(f"{s}px" for s in present)
        return DatasetStatus("available", f"{self.name} at {sizes} in {self.folder(root)}", self.folder(root))

    def class_counts(self, task: Task, root: Path) -> tuple[np.ndarray, bool]:
        """From the label arrays alone (an npz member is read only when asked for)."""
        present = self.present(root)
        with np.load(present[min(present)]) as data:
            labels = np.concatenate([np.asarray(data[f"{split}_labels"]).reshape(-1) for split in SPLITS])
        return np.bincount(labels.astype(np.int64), minlength=task.num_classes), True

    def load(self, task: Task, root: Path, image_size: int) -> ImageSet:
        present = self.present(root)
        native = min((s for s in present if s >= image_size), default=max(present))
        nearest = self.input_rule == UPSAMPLED_28 and image_size > native and image_size % native == 0
        resample = Image.NEAREST if nearest else Image.BILINEAR
        with np.load(present[native]) as data:
            images = [squash(data[f"{split}_images"], image_size, resample) for split in SPLITS]
            labels = [np.asarray(data[f"{split}_labels"]).reshape(-1) for split in SPLITS]
        official = np.concatenate([np.full(len(part), split) for split, part in zip(SPLITS, labels, strict=True)])
        how = "upsampled with NEAREST" if nearest else "squashed bilinearly"
        return ImageSet(np.concatenate(images), np.concatenate(labels), self.classes, official_split=official,
                        notes=[f"read {present[native].name}, {native}px {how} to {image_size}px"])


@hookimpl
def tlbench_register_datasets(register):
    for flag in FLAGS:
        register(MedMnist(flag))
        register(MedMnist(flag, NATIVE))
