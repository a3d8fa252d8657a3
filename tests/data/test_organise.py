"""``ferkit data split`` (group-aware, on korean_aihub's 500 people), ``balance`` and ``stats``."""

from __future__ import annotations

import csv
import re
from collections import Counter

import numpy as np
import pytest

from ferkit.data.manifest import read_manifest, write_manifest
from ferkit.data.organise import balance_dataset, split_dataset
from ferkit.data.stats import dataset_stats, write_stats
from ferkit.errors import DatasetError, UsageError
from ferkit.train.datasets.files import resolve_label

# The README's grammar: the person id is the first 64 hex digits of the name.
PERSON = r"^(?P<group>[0-9a-f]{64})_"
NAME = re.compile(r"^([0-9a-f]{64})_(남|여)_(\d{2})_(기쁨|당황|분노|불안|상처|슬픔)_")


@pytest.fixture(scope="module")
def korean_dir(shared_data):
    path = shared_data / "korean_aihub"
    if not path.is_dir():
        pytest.skip("korean_aihub not in the shared data")
    return path


@pytest.fixture(scope="module")
def same_person(korean_dir) -> list[tuple[str, str]]:
    """The ids the README says are one person (subjects.csv, same_person_as)."""
    with open(korean_dir / "subjects.csv", newline="", encoding="utf-8") as f:
        return [(r["subject_hash"], r["same_person_as"]) for r in csv.DictReader(f) if r["same_person_as"]]


@pytest.fixture
def korean_manifest(korean_dir, tmp_path):
    """A manifest with one kept row per korean_aihub face (labels and ids from the file names)."""
    rows = []
    for i, path in enumerate(sorted(p for p in korean_dir.iterdir() if p.suffix in (".jpg", ".jpeg"))):
        m = NAME.match(path.name)
        assert m, path.name
        rows.append({"id": f"k{i}", "file": f"crops/k{i}.jpg", "source": path.name, "face": 0, "faces": 1,
                     "label": resolve_label(m.group(4)), "decision": "keep"})
    write_manifest(tmp_path, rows)
    return tmp_path


def test_no_person_is_in_two_splits(korean_manifest, same_person):
    assert len(same_person) == 2
    summary = split_dataset(korean_manifest, val=0.1, test=0.1, group_by=PERSON, joins=same_person, seed=3)
    rows = read_manifest(korean_manifest).rows
    splits_of: dict[str, set] = {}
    for r in rows:
        person = NAME.match(r["source"]).group(1)
        splits_of.setdefault(person, set()).add(r["split"])
    assert len(splits_of) == 500
    assert all(len(s) == 1 for s in splits_of.values())
    a, b = same_person[0]
    assert splits_of[a] == splits_of[b]   # one person under two ids stays together
    sizes = Counter(r["split"] for r in rows)
    n = len(rows)
    assert abs(sizes["val"] / n - 0.1) < 0.01 and abs(sizes["test"] / n - 0.1) < 0.01
    for label in {r["label"] for r in rows}:   # and every class is split in about the same proportions
        of_class = [r["split"] for r in rows if r["label"] == label]
        assert abs(of_class.count("test") / len(of_class) - 0.1) < 0.02
    assert sum(summary.groups.values()) == 499      # 500 ids, two of them one person
    assert sum(sum(c.values()) for c in summary.counts.values()) == n


def test_group_by_a_column_and_errors(korean_manifest):
    manifest = read_manifest(korean_manifest)
    for r in manifest.rows:
        r["group"] = r["source"][:64]
    manifest.save()
    split_dataset(korean_manifest, 0.2, 0.0, group_by="group", seed=1)
    rows = read_manifest(korean_manifest).rows
    by_group: dict[str, set] = {}
    for r in rows:
        by_group.setdefault(r["group"], set()).add(r["split"])
    assert all(len(s) == 1 for s in by_group.values()) and not any(r["split"] == "test" for r in rows)
    before = (korean_manifest / "manifest.csv").read_bytes()
    with pytest.raises(DatasetError, match="finds no group in 25619 of 25619 source names"):
        split_dataset(korean_manifest, group_by=r"^person-(\d+)")
    with pytest.raises(UsageError, match="neither a manifest column .* nor a regular expression"):
        split_dataset(korean_manifest, group_by="(unclosed")
    with pytest.raises(UsageError, match="--val \\+ --test must leave training samples"):
        split_dataset(korean_manifest, val=0.6, test=0.5)
    assert (korean_manifest / "manifest.csv").read_bytes() == before   # refused: nothing changed


def test_without_groups_the_split_is_the_training_split_rule(korean_manifest):
    from ferkit.train.splits import stratified_assignment

    split_dataset(korean_manifest, 0.1, 0.1, seed=5)
    rows = read_manifest(korean_manifest).rows
    expected = stratified_assignment(np.array([r["label"] for r in rows], dtype=object), 0.1, 0.1, 5)
    assert [r["split"] for r in rows] == list(expected)


def _small(tmp_path, counts: dict[str, int], split: bool = True):
    rows = []
    for label, n in counts.items():
        for i in range(n):
            role = ("val" if i % 10 == 0 else "test" if i % 10 == 1 else "train") if split else ""
            rows.append({"id": f"{label}-{i}", "file": f"crops/{label}-{i}.jpg", "source": f"{label}-{i}.jpg",
                         "label": label, "decision": "keep", "split": role})
    rows.append({"id": "r-0", "file": "", "source": "r.jpg", "label": "happy", "decision": "reject",
                 "reasons": "no face"})
    write_manifest(tmp_path, rows)
    return tmp_path


@pytest.mark.parametrize("strategy", ["cap", "oversample"])
def test_balance(tmp_path, strategy):
    folder = _small(tmp_path, {"happy": 100, "sad": 30, "angry": 7})
    summary = balance_dataset(folder, 20, strategy, seed=2)
    rows = read_manifest(folder).rows
    train = Counter()
    for r in rows:
        if r["decision"] == "keep" and r["split"] == "train":
            train[r["label"]] += int(r["copies"])
        elif r["decision"] == "keep":
            assert r["copies"] == ""   # validation and test keep their natural counts
    assert summary.before == {"happy": 80, "sad": 24, "angry": 5}
    if strategy == "cap":
        assert train == {"happy": 20, "sad": 20, "angry": 5}
    else:
        assert train == {"happy": 20, "sad": 20, "angry": 20}
        assert {int(r["copies"]) for r in rows if r["label"] == "angry" and r["split"] == "train"} == {4}
    assert summary.after == train
    balance_dataset(folder, 20, strategy, seed=2)   # idempotent
    assert read_manifest(folder).rows == rows


def test_balance_refuses_bad_input(tmp_path):
    folder = _small(tmp_path, {"happy": 5})
    with pytest.raises(UsageError, match="--per-class must be an integer >= 1"):
        balance_dataset(folder, 0)
    with pytest.raises(UsageError, match="--strategy must be one of cap, oversample"):
        balance_dataset(folder, 3, "smote")
    manifest = read_manifest(folder)
    manifest.rows[0]["split"] = ""
    manifest.save()
    with pytest.raises(DatasetError, match="some kept rows have a split and some not"):
        balance_dataset(folder, 3)


def test_balanced_copies_are_what_training_reads(tmp_path, photos_dir):
    """copies 0 leaves a face out of training, copies 3 takes it three times."""
    import shutil

    from ferkit.train.config import DataConfig
    from ferkit.train.datasets import load_dataset

    (tmp_path / "crops").mkdir()
    rows = []
    for i, (name, label, copies, split) in enumerate([("fer_justin.jpg", "happy", "3", "train"),
                                                      ("wujie_images_1.jpg", "angry", "0", "train"),
                                                      ("pyfeat_angry_black.jpg", "angry", "1", "train"),
                                                      ("rmn_test_image.png", "happy", "", "val")]):
        shutil.copy(photos_dir / name, tmp_path / "crops" / f"{i}{(photos_dir / name).suffix}")
        rows.append({"id": str(i), "file": f"crops/{i}{(photos_dir / name).suffix}", "source": name,
                     "label": label, "decision": "keep", "copies": copies, "split": split})
    write_manifest(tmp_path, rows)
    ds = load_dataset(DataConfig(kind="manifest", path=str(tmp_path)), progress=False)
    assert sorted(ds.sources) == ["crops/0.jpg"] * 3 + ["crops/2.jpg", "crops/3.png"]
    assert Counter(ds.split) == {"train": 4, "val": 1}
    (tmp_path / "crops" / "2.jpg").unlink()
    with pytest.raises(DatasetError, match=r"manifest.csv:4: crop crops/2.jpg of a kept row not found"):
        load_dataset(DataConfig(kind="manifest", path=str(tmp_path)), progress=False)


def test_stats(tmp_path):
    folder = _small(tmp_path, {"happy": 12, "sad": 4})
    balance_dataset(folder, 5, "oversample")
    stats = dataset_stats(folder)
    assert stats["kept"] == 16 and stats["pictures"] == 17
    assert stats["kept_per_split"] == {"train": {"happy": 8, "sad": 2}, "val": {"happy": 2, "sad": 1},
                                       "test": {"happy": 2, "sad": 1}}
    assert stats["training_samples"] == {"happy": 5, "sad": 5}
    assert stats["decisions"]["happy"] == {"keep": 12, "review": 0, "reject": 1}
    assert stats["reasons"] == {"no face": 1}
    written = write_stats(stats, tmp_path / "stats")
    assert [p.name for p in written] == ["stats.json", "stats.png"]
    assert (tmp_path / "stats" / "stats.png").read_bytes()[:4] == b"\x89PNG"
