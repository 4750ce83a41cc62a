"""Every built-in dataset plugin against fake data in its download layout."""

from pathlib import Path

import numpy as np
import pytest
from fakedata import (
    BLOOD_CLASSES,
    colour,
    make_blood_cells,
    make_chest_xray,
    make_csv_dataset,
    make_dogs_vs_cats,
    make_imagefolder,
    make_isic2017,
    make_kaggle_dr,
    make_medmnist,
    make_natural_images,
    write_image,
)

from benchmark import FileDataset, ImageFiles, Task, scan_class_folders
from benchmark.data.filedatasets import LoadOptions, load_options
from benchmark.data.imagecache import ImageCache
from benchmark.registry.config import DatasetDeclaration
from benchmark.registry.declared import declared_dataset
from benchmark.registry.pluginmanager import load_catalog
from tlbench_plugins.datasets.blood_cells import BloodCells
from tlbench_plugins.datasets.chest_xray import ChestXray, patient_id
from tlbench_plugins.datasets.dogs_vs_cats import DogsVsCats
from tlbench_plugins.datasets.isic2017 import Isic2017, balancing_rotations
from tlbench_plugins.datasets.kaggle_dr import KaggleDR
from tlbench_plugins.datasets.medmnist import NATIVE, MedMnist, squash
from tlbench_plugins.datasets.natural_images import NaturalImages
from tlbench_plugins.datasets.synthetic import SyntheticShapes


def task(dataset, name=None):
    return next(t for t in dataset.tasks() if t.name == (name or dataset.name))


def load(dataset, root, name=None, size=8):
    with load_options(LoadOptions(ImageCache(root / ".cache"))):
        return dataset.load(task(dataset, name), root, size)


def label_of_pixels(imageset, count):
    """The label each image's colour encodes (see fakedata.colour)."""
    palette = np.array([colour(label) for label in range(count)])
    means = imageset.images.reshape(len(imageset), -1, 3).mean(1)
    return np.abs(means[:, None, :] - palette[None]).sum(2).argmin(1)


def test_registered_tasks_have_node_id_safe_names_and_the_study_roles():
    tasks = load_catalog().tasks()
    for name in tasks:
        assert "::" not in name and not set(name) & set("[] ()")
    roles = {name: tasks[name][1].roles for name in tasks}
    assert roles["chest_xray"] == {"source", "target"}
    for source in ("natural_images", "dogs_vs_cats", "kaggle_dr"):
        assert roles[source] == {"source"}
    for target in ("blood_cells", "isic2017_mel_nev", "isic2017_mel_nev_sk", "isic2017_melsk_nev",
                   "kaggle_dr_referable", "pneumoniamnist"):
        assert roles[target] == {"target"}
    assert "chestmnist" not in tasks  # multi-label


@pytest.mark.parametrize("dataset, expected, hint", [
    (ChestXray(), "chest_xray/train", "paultimothymooney/chest-xray-pneumonia"),
    (BloodCells(), "blood_cells/dataset2-master/images", "paultimothymooney/blood-cells"),
    (Isic2017(), "isic2017", "challenge.isic-archive.com"),
    (KaggleDR(), "kaggle_dr", "diabetic-retinopathy-detection"),
    (DogsVsCats(), "dogs_vs_cats/train", "dogs-vs-cats"),
    (NaturalImages(), "natural_images", "prasunroy/natural-images"),
    (MedMnist("pneumoniamnist"), "medmnist/pneumoniamnist.npz", "zenodo"),
])
def test_missing_says_where_to_put_what_and_where_to_get_it(tmp_path, dataset, expected, hint):
    status = dataset.status(tmp_path)
    assert status.state == "missing"
    assert f"expected {tmp_path / expected}" in status.message and hint in status.message
    assert status.path == tmp_path / expected


def test_chest_patient_ids_from_the_three_kaggle_name_patterns():
    assert patient_id("person1945_bacteria_4872.jpeg") == "person1945"
    assert patient_id("IM-0117-0001.jpeg") == "IM-0117"
    assert patient_id("NORMAL2-IM-1427-0001.jpeg") == "NORMAL2-IM-1427"
    assert patient_id("scan.jpeg") == "scan"


def test_chest_pools_the_split_folders_present_keeping_patients_and_the_official_split(tmp_path):
    make_chest_xray(tmp_path, splits=("train", "test"), per_class=2)
    dataset = ChestXray()
    status = dataset.status(tmp_path)
    assert status.available and "splits: train, test" in status.message
    files = dataset.files(task(dataset), tmp_path)
    assert len(files.paths) == 16 and sorted(set(files.official_split)) == ["test", "train"]
    assert len(set(files.groups)) == 8  # two images per patient
    imageset = load(dataset, tmp_path)
    assert imageset.images.shape == (16, 8, 8, 3) and not imageset.official_by_default
    assert (label_of_pixels(imageset, 2) == imageset.labels).all()


def test_chest_incomplete_without_a_class_folder(tmp_path):
    make_chest_xray(tmp_path)
    for path in (tmp_path / "chest_xray" / "train" / "NORMAL").iterdir():
        path.unlink()
    (tmp_path / "chest_xray" / "train" / "NORMAL").rmdir()
    status = ChestXray().status(tmp_path)
    assert status.state == "incomplete" and "train/NORMAL" in status.message


def test_blood_cells_folder_split_by_default(tmp_path):
    make_blood_cells(tmp_path)
    dataset = BloodCells()
    assert dataset.status(tmp_path).available
    imageset = load(dataset, tmp_path)
    assert len(imageset) == 4 * (4 + 2)  # TEST_SIMPLE left out
    assert imageset.official_by_default
    assert (imageset.official_split == "test").sum() == 8 and (imageset.official_split == "train").sum() == 16
    assert (label_of_pixels(imageset, 4) == imageset.labels).all()
    assert imageset.classes == BLOOD_CLASSES


def test_blood_cells_pooled_option_pools_all_three_folders(tmp_path):
    make_blood_cells(tmp_path)
    imageset = load(BloodCells(pooled=True), tmp_path)
    assert len(imageset) == 4 * 7 and imageset.official_split is None


def test_blood_cells_incomplete_and_corrupt(tmp_path):
    folder = make_blood_cells(tmp_path)
    (folder / "TRAIN" / "MONOCYTE" / "_0_20.jpeg").write_bytes(b"")
    status = BloodCells().status(tmp_path)
    assert status.state == "corrupt" and "TRAIN/MONOCYTE/_0_20.jpeg" in status.message
    for path in (folder / "TEST" / "EOSINOPHIL").iterdir():
        path.unlink()
    (folder / "TEST" / "EOSINOPHIL").rmdir()
    status = BloodCells().status(tmp_path)
    assert status.state == "incomplete" and "TEST/EOSINOPHIL" in status.message


def test_isic_tasks_map_diagnoses_and_keep_the_official_parts(tmp_path):
    make_isic2017(tmp_path, {"melanoma": 2, "nevus": 3, "seborrheic_keratosis": 1})
    make_isic2017(tmp_path, {"melanoma": 1, "nevus": 1}, part="Validation")
    dataset = Isic2017()
    assert dataset.status(tmp_path).available
    binary = dataset.files(task(dataset, "isic2017_mel_nev"), tmp_path)
    assert binary.labels.tolist() == [1, 1, 0, 0, 0, 1, 0]
    assert binary.official_split.tolist() == ["train"] * 5 + ["val"] * 2
    three = dataset.files(task(dataset, "isic2017_mel_nev_sk"), tmp_path)
    assert three.labels.tolist() == [1, 1, 0, 0, 0, 2, 1, 0]
    pooled = dataset.files(task(dataset, "isic2017_melsk_nev"), tmp_path)
    assert pooled.labels.tolist() == [1, 1, 0, 0, 0, 1, 1, 0]
    imageset = load(dataset, tmp_path, "isic2017_mel_nev_sk")
    assert (label_of_pixels(imageset, 3) == imageset.labels).all()


def test_isic_three_class_task_without_keratoses_names_the_class(tmp_path):
    make_isic2017(tmp_path, {"melanoma": 2, "nevus": 3})
    dataset = Isic2017()
    with pytest.raises(ValueError, match="no images of class 'seborrheic_keratosis'"):
        load(dataset, tmp_path, "isic2017_mel_nev_sk")
    assert len(load(dataset, tmp_path, "isic2017_mel_nev")) == 5


def test_isic_incomplete_names_missing_images(tmp_path):
    folder = make_isic2017(tmp_path, {"melanoma": 2, "nevus": 2})
    (folder / "ISIC-2017_Training_Data" / "ISIC_0000001.jpg").unlink()
    status = Isic2017().status(tmp_path)
    assert status.state == "incomplete" and "ISIC_0000001.jpg" in status.message


def test_balancing_rotations_fill_every_class_up_to_the_largest():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(9, 12, 12, 3), dtype=np.uint8)
    labels = np.array([0] * 6 + [1] * 2 + [2])
    extra, extra_labels = balancing_rotations(images, labels, seed=2)
    assert np.bincount(np.concatenate([labels, extra_labels])).tolist() == [6, 6, 6]
    assert extra.shape == (9, 12, 12, 3) and extra.dtype == np.uint8
    again, _ = balancing_rotations(images, labels, seed=2)
    np.testing.assert_array_equal(extra, again)
    assert not np.array_equal(extra, balancing_rotations(images, labels, seed=5)[0])


def test_kaggle_dr_grades_referable_and_patient_groups(tmp_path):
    make_kaggle_dr(tmp_path, patients=5)
    dataset = KaggleDR()
    assert dataset.status(tmp_path).available
    grades = dataset.files(task(dataset, "kaggle_dr"), tmp_path)
    assert grades.labels.tolist() == [0, 1, 1, 2, 2, 3, 3, 4, 4, 0]
    referable = dataset.files(task(dataset, "kaggle_dr_referable"), tmp_path)
    assert referable.labels.tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 1, 0]
    assert grades.groups.tolist()[:4] == ["10", "10", "11", "11"]
    (tmp_path / "kaggle_dr" / "train" / "12_left.jpeg").unlink()
    status = dataset.status(tmp_path)
    assert status.state == "incomplete" and "12_left.jpeg" in status.message


def test_dogs_vs_cats_labels_from_file_names(tmp_path):
    folder = make_dogs_vs_cats(tmp_path, per_class=3)
    write_image(folder / "notes.jpg", 0)  # neither cat nor dog: not part of the task
    dataset = DogsVsCats()
    assert dataset.status(tmp_path).available
    imageset = load(dataset, tmp_path)
    assert imageset.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert (label_of_pixels(imageset, 2) == imageset.labels).all()


def test_natural_images_eight_classes(tmp_path):
    make_natural_images(tmp_path, per_class=2)
    dataset = NaturalImages()
    assert dataset.status(tmp_path).available
    imageset = load(dataset, tmp_path)
    assert np.bincount(imageset.labels).tolist() == [2] * 8
    assert (label_of_pixels(imageset, 8) == imageset.labels).all()


@pytest.mark.parametrize("sizes, image_size, native", [((28, 64), 16, 28), ((28, 64), 32, 64), ((28, 64), 128, 64)])
def test_medmnist_reads_the_closest_file_from_above(tmp_path, sizes, image_size, native):
    for size in sizes:
        make_medmnist(tmp_path, size=size)
    dataset = MedMnist("pneumoniamnist", NATIVE)
    assert dataset.name == "pneumoniamnist_plus" and dataset.status(tmp_path).available
    imageset = dataset.load(task(dataset), tmp_path, image_size)
    assert imageset.images.shape == (12, image_size, image_size, 3)
    assert imageset.official_split.tolist() == ["train"] * 6 + ["val"] * 2 + ["test"] * 4
    assert imageset.labels.tolist() == [0, 1] * 6
    split_number = {"train": 0, "val": 1, "test": 2}
    expected = imageset.labels * 100 + np.array([split_number[s] for s in imageset.official_split])
    assert (imageset.images[:, 3, 3, 1] == expected).all()
    assert f"{native}px" in imageset.notes[0]


def test_medmnist_is_the_papers_input_by_default_and_medmnist_plus_by_name(tmp_path):
    """At 56 px the paper's input is the 28 px image with each pixel repeated 2 x 2 (NEAREST), even beside a
    MedMNIST+ file; ``<flag>_plus`` reads that native file instead, and the two digest differently."""
    make_medmnist(tmp_path)
    path = tmp_path / "medmnist" / "pneumoniamnist.npz"
    with np.load(path) as data:
        arrays = dict(data)
    small = np.random.default_rng(0).integers(0, 256, arrays["train_images"].shape, dtype=np.uint8)
    arrays["train_images"] = small
    np.savez(path, **arrays)
    make_medmnist(tmp_path, size=64)
    paper, native = MedMnist("pneumoniamnist"), MedMnist("pneumoniamnist", NATIVE)
    assert paper.name == "pneumoniamnist" and native.name == "pneumoniamnist_plus"
    upsampled = paper.load(task(paper), tmp_path, 56)
    blocks = np.repeat(np.repeat(small, 2, axis=1), 2, axis=2)
    assert (upsampled.images[:6] == blocks[..., None]).all()
    assert "NEAREST" in upsampled.notes[0]
    read = native.load(task(native), tmp_path, 56)
    assert "pneumoniamnist_64.npz" in read.notes[0] and not (read.images[:6] == blocks[..., None]).all()
    assert paper.fingerprint(task(paper), tmp_path) != native.fingerprint(task(native), tmp_path)
    make_medmnist(tmp_path, size=224)
    assert "pneumoniamnist_224.npz" in native.load(task(native), tmp_path, 224).notes[0]
    assert "pneumoniamnist.npz" in paper.load(task(paper), tmp_path, 224).notes[0]
    # 32 px is no whole multiple of 28: NEAREST would repeat rows unevenly, so the images are squashed bilinearly
    at_32 = paper.load(task(paper), tmp_path, 32)
    assert "squashed bilinearly" in at_32.notes[0]
    assert (at_32.images[:6, ..., 0] == squash(small[:6], 32)[..., 0]).all()


def test_medmnist_plus_without_its_larger_files_is_missing_and_says_which(tmp_path):
    make_medmnist(tmp_path, flag="breastmnist")
    assert MedMnist("breastmnist").status(tmp_path).available
    status = MedMnist("breastmnist", NATIVE).status(tmp_path)
    assert status.state == "missing" and "breastmnist_{64,128,224}.npz" in status.message
    make_medmnist(tmp_path, flag="breastmnist", size=128)
    assert MedMnist("breastmnist", NATIVE).status(tmp_path).available


def test_medmnist_corrupt_file(tmp_path):
    path = make_medmnist(tmp_path, flag="breastmnist", rgb=True)
    path.write_bytes(b"PK not really")
    status = MedMnist("breastmnist").status(tmp_path)
    assert status.state == "corrupt" and "breastmnist.npz" in status.message


def test_declared_imagefolder_with_split_folders(tmp_path):
    make_imagefolder(tmp_path / "tiny", classes=("cat", "dog"), splits=("train", "test"), per_class=2)
    dataset = declared_dataset(DatasetDeclaration("tiny", "imagefolder", tmp_path / "tiny"), tmp_path)
    assert dataset.classes == ("cat", "dog") and dataset.status(tmp_path).available
    imageset = load(dataset, tmp_path)
    assert imageset.official_split.tolist() == ["test"] * 4 + ["train"] * 4
    assert (label_of_pixels(imageset, 2) == imageset.labels).all()


def test_declared_imagefolder_plain_and_missing(tmp_path):
    make_imagefolder(tmp_path / "plain", classes=("x", "y", "z"))
    dataset = declared_dataset(DatasetDeclaration("plain", "imagefolder", Path("plain")), tmp_path)
    assert dataset.classes == ("x", "y", "z") and load(dataset, tmp_path).official_split is None
    absent = declared_dataset(DatasetDeclaration("absent", "imagefolder", Path("nowhere"), homepage="https://x.org"),
                              tmp_path)
    status = absent.status(tmp_path)
    assert status.state == "missing" and str(tmp_path / "nowhere") in status.message
    assert "https://x.org" in status.message


def test_declared_csv_with_split_and_group(tmp_path):
    make_csv_dataset(tmp_path / "les", per_class=4)
    declaration = DatasetDeclaration("les", "csv", Path("les"), csv=Path("labels.csv"))
    dataset = declared_dataset(declaration, tmp_path)
    assert dataset.classes == ("benign", "malignant") and dataset.status(tmp_path).available
    imageset = load(dataset, tmp_path)
    assert imageset.labels.tolist() == [0] * 4 + [1] * 4
    assert imageset.official_split.tolist() == ["test", "train", "train", "train"] * 2
    assert imageset.groups.tolist()[:4] == ["patient0-benign"] * 2 + ["patient1-benign"] * 2
    assert (label_of_pixels(imageset, 2) == imageset.labels).all()


def test_declared_csv_problems_are_reported(tmp_path):
    csv_path = make_csv_dataset(tmp_path / "les", split=False, group=False)
    declaration = DatasetDeclaration("les", "csv", Path("les"), csv=Path("labels.csv"), classes=("benign", "malignant"))
    (tmp_path / "les" / "images" / "benign_1.jpg").unlink()
    status = declared_dataset(declaration, tmp_path).status(tmp_path)
    assert status.state == "incomplete" and "benign_1.jpg" in status.message
    csv_path.write_text(csv_path.read_text() + "images/x.jpg,unknown\n")
    status = declared_dataset(declaration, tmp_path).status(tmp_path)
    assert status.state == "corrupt" and "label 'unknown'" in status.message


@pytest.mark.parametrize("path", ["../other/x.png", "/etc/hostname", "images/../../outside.jpg"])
def test_declared_csv_paths_stay_within_the_dataset_folder(tmp_path, cli, monkeypatch, path):
    csv_path = make_csv_dataset(tmp_path / "data" / "les", split=False, group=False)
    (tmp_path / "data" / "other").mkdir()
    (tmp_path / "data" / "other" / "x.png").write_bytes((tmp_path / "data" / "les" / "images" / "benign_0.jpg")
                                                        .read_bytes())
    csv_path.write_text(csv_path.read_text() + f"{path},benign\n")
    declaration = DatasetDeclaration("les", "csv", Path("les"), csv=Path("labels.csv"), classes=("benign", "malignant"))
    status = declared_dataset(declaration, tmp_path / "data").status(tmp_path / "data")
    assert status.state == "corrupt" and f"line 10: path {path!r} leads outside the dataset folder" in status.message
    (tmp_path / "tlbench.toml").write_text('data_root = "data"\n[datasets.les]\npath = "les"\ncsv = "labels.csv"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TLBENCH_DATA", raising=False)
    for command in (["list"], ["run", "-d", "les", "--collect-only"]):
        result = cli(*command)
        assert result.exit_code == 0 and "leads outside the dataset folder" in result.output.replace("\n", " ")


def test_a_few_files_that_are_not_images_are_skipped_by_name_more_fail_the_dataset(tmp_path):
    from benchmark.data.filedatasets import files_status, image_files

    folder = make_imagefolder(tmp_path / "many", classes=("a", "b"), per_class=100)
    (folder / "a" / "0.png").write_bytes(b"")  # zero bytes
    paths = image_files(folder / "a") + image_files(folder / "b")
    status = files_status(folder, paths, "many")
    assert status.state == "available" and "1 are not images and will be skipped: a/0.png" in status.message
    (folder / "b" / "1.png").write_text("not a picture")
    (folder / "b" / "2.png").write_text("not a picture")
    status = files_status(folder, paths, "many")
    assert status.state == "corrupt" and "3 of 200 file(s)" in status.message and "more than the 1%" in status.message
    assert files_status(folder, paths, "many", max_unreadable=0.02).state == "available"


def test_no_builtin_datasets_blocks_every_dataset_plugin():
    from fakedata import no_builtin_datasets

    assert load_catalog(no_builtin_datasets()).datasets == {}


def test_pooled_blood_cells_is_an_opt_in_plugin():
    assert "blood_cells_pooled" not in load_catalog().datasets
    catalog = load_catalog(["tlbench_plugins.datasets.blood_cells_pooled"])
    assert catalog.datasets["blood_cells_pooled"].pooled and "blood_cells" in catalog.datasets


class Declarative(FileDataset):
    """A file dataset that is its class attributes, tasks() and files(): two tasks on two class folders."""

    name = "declarative"
    folder_name = "decl"
    required_folders = ("a", "b")
    layout = "a/*.png and b/*.png"
    get = "the test"

    def tasks(self):
        return [Task("decl_a", ("a",)), Task("decl_b", ("b",))]

    def files(self, task, root):
        paths, labels = scan_class_folders(self.folder(root), task.classes)
        return ImageFiles(paths, labels, folder=self.folder(root))


def test_file_dataset_default_status_from_its_attributes(tmp_path):
    dataset = Declarative()
    assert dataset.folder(tmp_path) == tmp_path / "decl"
    missing = dataset.status(tmp_path)
    assert (missing.state, missing.message) == (
        "missing", f"expected {tmp_path / 'decl'} (a/*.png and b/*.png); get it from the test")
    write_image(tmp_path / "decl" / "a" / "1.png", 0)
    lacking = dataset.status(tmp_path)
    assert (lacking.state, lacking.message) == ("incomplete", f"{tmp_path / 'decl'} lacks b")
    write_image(tmp_path / "decl" / "b" / "1.png", 1)
    write_image(tmp_path / "decl" / "b" / "2.png", 1)
    available = dataset.status(tmp_path)
    assert (available.state, available.message) == ("available", f"3 images in {tmp_path / 'decl'}")  # both tasks
    (tmp_path / "decl" / "b" / "2.png").write_bytes(b"not an image")
    assert dataset.status(tmp_path).state == "corrupt"


def test_only_file_datasets_have_a_folder(tmp_path):
    assert SyntheticShapes().folder(tmp_path) is None
    assert NaturalImages().folder(tmp_path) == tmp_path / "natural_images"
    assert DogsVsCats().folder(tmp_path) == tmp_path / "dogs_vs_cats" / "train"


def test_image_files_says_what_to_pass(tmp_path):
    paths = [tmp_path / "a.png", tmp_path / "b.png"]
    files = ImageFiles(paths, [0, 1], str(tmp_path), groups=["p1", "p2"])
    assert files.folder == tmp_path and files.labels.dtype == np.int64 and list(files.groups) == ["p1", "p2"]
    with pytest.raises(TypeError, match="folder must be the folder .* got ndarray; pass groups .* by keyword"):
        ImageFiles(paths, [0, 1], np.array(["p1", "p2"]))
    with pytest.raises(TypeError, match="positional"):
        ImageFiles(paths, [0, 1], tmp_path, np.array(["p1", "p2"]))
    with pytest.raises(TypeError, match="paths must be a list of file paths, got str"):
        ImageFiles(str(tmp_path), [0], tmp_path)
    with pytest.raises(TypeError, match="paths must be file paths .* got a int"):
        ImageFiles([1, 2], [0, 1], tmp_path)
    with pytest.raises(ValueError, match="2 files but 3 labels"):
        ImageFiles(paths, [0, 1, 1], tmp_path)
    with pytest.raises(ValueError, match="2 files but 1 groups"):
        ImageFiles(paths, [0, 1], folder=tmp_path, groups=["p1"])
