import numpy as np

from benchmark.data.splits import make_split

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


def test_a_kept_split_equals_a_fresh_one_and_each_caller_owns_its_arrays(monkeypatch):
    from benchmark.data import splits

    labels = np.repeat([0, 1], 60)
    groups = np.arange(120) // 2
    first = make_split(labels, 5, 0.2, 0.1, groups=groups)
    first.test[:] = -1  # a caller that writes into its arrays changes nobody else's
    kept = make_split(labels, 5, 0.2, 0.1, groups=groups)
    monkeypatch.setattr(splits, "_MEMO", {})
    fresh = make_split(labels, 5, 0.2, 0.1, groups=groups)
    assert (kept.test >= 0).all()
    for part in ("train", "val", "test"):
        assert np.array_equal(getattr(kept, part), getattr(fresh, part))
    assert make_split(labels, 6, 0.2, 0.1, groups=groups).hash != fresh.hash  # another seed, another split
    assert make_split(labels, 5, 0.2, 0.1).kind == "stratified"  # without groups: not the grouped split
