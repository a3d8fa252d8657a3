"""Splitting by person: the file-name loader on real korean_aihub names, data.group_by."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest

from ferkit.errors import ConfigError
from ferkit.labels import KOREAN6
from ferkit.train.config import DataConfig, TrainConfig
from ferkit.train.datasets import load_dataset
from ferkit.train.splits import resolve_splits, sample_groups

KOREAN_PATTERN = (r"(?P<person>[0-9a-f]{64})_(?P<gender>[^_]+)_(?P<age>\d{2})_(?P<label>[^_]+)"
                  r"_(?P<background>[^_]+)_(?P<ts>\d{14})-(?P<bg>\d{3})-(?P<shot>\d{3})")


@pytest.fixture(scope="module")
def korean_people(shared_data, tmp_path_factory):
    """Links to 3 real files of each of 40 korean_aihub people (names byte-identical: Hangul,
    spaces, & and parentheses), including the one person who has two ids, and the
    ``same_person_as`` pairs from subjects.csv."""
    src = shared_data / "korean_aihub"
    if not src.is_dir():
        pytest.skip(f"{src} not found")
    with open(src / "subjects.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    same = {r["subject_hash"]: r["same_person_as"] for r in rows if r["same_person_as"]}
    people = sorted(same)[:2] + [r["subject_hash"] for r in rows if r["subject_hash"] not in same][:38]
    by_person: dict[str, list[str]] = {}
    for name in sorted(os.listdir(src)):
        by_person.setdefault(name[:64], []).append(name)
    root = tmp_path_factory.mktemp("korean-people")
    for p in people:
        for name in by_person[p][:3]:
            (root / name).symlink_to(src / name)
    return root, people, same


def data_config(root, **kw) -> DataConfig:
    return DataConfig(kind="filenames", path=str(root), pattern=KOREAN_PATTERN,
                      label_set="korean6", val_fraction=0.2, test_fraction=0.2,
                      preprocess={"size": 48}, **kw)


def people_per_role(sources, roles, merge=None):
    merge = merge or {}
    out = {}
    for src, role in zip(sources, roles):
        p = src[:64]
        out.setdefault(merge.get(p, p), set()).add(role)
    return out


def test_no_person_sits_in_two_splits(korean_people, tmp_path, monkeypatch):
    monkeypatch.setenv("FERKIT_CACHE", str(tmp_path / "cache"))
    root, people, same = korean_people
    merge = {max(a, b): min(a, b) for a, b in same.items()}        # aba079f0... -> 501e5c7d...
    assert len(merge) == 1
    data = data_config(root, group_by="person", group_merge=merge)
    ds = load_dataset(data, progress=False)
    assert ds.label_set is KOREAN6 and len(ds) == len(os.listdir(root)) > 100
    assert len(set(sample_groups(ds, data))) == 39                 # 40 ids, 39 people
    for seed in range(6):
        data.split_seed = seed
        splits = resolve_splits(ds, data)
        roles = np.concatenate([np.full(len(part), role) for role, part, _ in splits.parts()])
        sources = np.concatenate([part.sources for _, part, _ in splits.parts()])
        seen = people_per_role(sources, roles, merge)
        assert all(len(r) == 1 for r in seen.values()), seed      # nobody in two splits
        assert sorted(len(part) for _, part, _ in splits.parts())[0] >= 12   # ~20 % each
        assert len(set(roles)) == 3


def test_merge_map_is_what_keeps_the_two_ids_together(korean_people, tmp_path, monkeypatch):
    monkeypatch.setenv("FERKIT_CACHE", str(tmp_path / "cache"))
    root, people, same = korean_people
    a, b = sorted(same)
    apart = 0
    for seed in range(20):
        data = data_config(root, group_by="person", split_seed=seed)
        ds = load_dataset(data, progress=False)
        role_of = dict(zip([s[:64] for s in ds.sources], resolve_roles(ds, data)))
        apart += role_of[a] != role_of[b]
        merged = data_config(root, group_by="person", split_seed=seed, group_merge={b: a})
        role_of = dict(zip([s[:64] for s in ds.sources], resolve_roles(ds, merged)))
        assert role_of[a] == role_of[b]
    assert apart > 0          # without the merge map the two ids do land in different splits


def resolve_roles(ds, data):
    from ferkit.train.splits import plan_splits

    return plan_splits(ds, data).roles


def test_without_group_by_people_do_leak(korean_people, tmp_path, monkeypatch):
    """The reason for group_by: the per-class split puts one person's images in several splits."""
    monkeypatch.setenv("FERKIT_CACHE", str(tmp_path / "cache"))
    root, _, _ = korean_people
    data = data_config(root)
    ds = load_dataset(data, progress=False)
    seen = people_per_role(ds.sources, resolve_roles(ds, data))
    assert sum(len(r) > 1 for r in seen.values()) > 5


def test_group_by_options_are_checked(korean_people, tmp_path, monkeypatch):
    monkeypatch.setenv("FERKIT_CACHE", str(tmp_path / "cache"))
    root, _, _ = korean_people
    with pytest.raises(ConfigError, match="needs data.kind 'filenames'"):
        DataConfig(kind="folder", group_by="person")
    with pytest.raises(ConfigError, match="map group names"):
        DataConfig(kind="filenames", group_by="person", group_merge={"a": 1})
    with pytest.raises(ConfigError, match="maps onto it too"):
        DataConfig(kind="filenames", group_by="person", group_merge={"a": "b", "b": "c"})
    data = data_config(root, group_by="subject")
    ds = load_dataset(data, progress=False)
    with pytest.raises(ConfigError, match="not a named group .* person, gender"):
        resolve_splits(ds, data)
    cfg = TrainConfig.from_dict({"data": {"kind": "filenames", "path": str(root),
                                          "pattern": KOREAN_PATTERN, "group_by": "person"}})
    assert cfg.data.group_by == "person"
