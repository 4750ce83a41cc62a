import numpy as np

from benchmark.splits import make_split

LABELS = np.array([0] * 60 + [1] * 40)


def test_split_sizes_stratification_and_determinism():
    split = make_split(LABELS, seed=2, test_fraction=0.2, val_fraction=0.1)
    assert (len(split.train), len(split.val), len(split.test)) == (70, 10, 20)
    assert np.bincount(LABELS[split.test]).tolist() == [12, 8]
    assert set(split.train) | set(split.val) | set(split.test) == set(range(100))
    assert not set(split.train) & set(split.test)
    again = make_split(LABELS, seed=2, test_fraction=0.2, val_fraction=0.1)
    assert again.hash == split.hash
    assert make_split(LABELS, seed=5, test_fraction=0.2, val_fraction=0.1).hash != split.hash


def test_groups_never_straddle_two_parts():
    groups = np.arange(100) // 4  # four images per patient
    split = make_split(LABELS, seed=7, test_fraction=0.2, val_fraction=0.1, groups=groups)
    parts = [set(groups[split.train]), set(groups[split.val]), set(groups[split.test])]
    assert not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]
    assert split.kind == "grouped" and 12 <= len(split.test) <= 28


def test_official_split_is_used_as_given_and_validation_carved_from_train():
    official = np.array(["train"] * 80 + ["test"] * 20)
    labels = np.tile([0, 1], 50)
    split = make_split(labels, seed=2, test_fraction=0.2, val_fraction=0.1, official=official)
    assert sorted(split.test) == list(range(80, 100))
    assert len(split.val) == 10 and set(split.train) | set(split.val) == set(range(80))
