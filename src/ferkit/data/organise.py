"""``ferkit data split`` and ``ferkit data balance``: they set the ``split``,
``group`` and ``copies`` columns of a dataset's manifest.

Split: every row gets ``train``, ``val`` or ``test``, by the rules ``ferkit train``
splits with (:mod:`ferkit.train.splits`), so a seed gives the same membership
either way. With ``group_by`` all rows of a group (a person) land in the same
split (:func:`~ferkit.train.splits.group_assignment`), so no person is in two
splits; without, each class is split in proportion
(:func:`~ferkit.train.splits.stratified_assignment`).

Balance: ``cap`` leaves at most N kept rows of each class (``copies`` 0 for the
rest, drawn with the seed); ``oversample`` also repeats the rows of smaller
classes (``copies`` > 1) until each class has N. Only training rows are balanced
when the dataset is split: validation and test keep their natural counts.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ferkit.errors import DatasetError, UsageError, check_int

from .manifest import KEEP, Manifest, read_manifest

STRATEGIES = ("cap", "oversample")


@dataclass
class SplitSummary:
    counts: dict          # split -> Counter(label -> kept rows)
    groups: dict          # split -> number of groups
    group_by: str | None


def group_keys(manifest: Manifest, group_by: str, joins=()) -> list[str]:
    """The group of every row: the values of column ``group_by``, else what the regular
    expression ``group_by`` finds in the row's source path (its named group ``group``,
    else its first group, else the whole match). ``joins`` are ``(a, b)`` pairs of
    groups that are one (e.g. one person under two ids)."""
    rows = manifest.rows
    if group_by in manifest.columns:
        keys = [r[group_by] for r in rows]
        empty = [r["id"] for r, k in zip(rows, keys) if not k]
        if empty:
            raise DatasetError(f"column {group_by!r} is empty in {len(empty)} row(s) (e.g. {empty[0]}); "
                               "fill it, or group by a regular expression on the file names")
    else:
        try:
            rx = re.compile(group_by)
        except re.error as e:
            raise UsageError(f"--group-by {group_by!r} is neither a manifest column "
                             f"({', '.join(manifest.columns)}) nor a regular expression ({e})") from None
        keys, missed = [], []
        for r in rows:
            m = rx.search(r["source"])
            if m is None:
                missed.append(r["source"])
                keys.append("")
                continue
            keys.append(m.group("group") if "group" in rx.groupindex else m.group(1) if rx.groups else m.group(0))
        if missed:
            raise DatasetError(f"--group-by {group_by!r} finds no group in {len(missed)} of "
                               f"{len(rows)} source names (e.g. {', '.join(missed[:3])})")
    if joins:
        alias = _join(keys, joins)
        keys = [alias.get(k, k) for k in keys]
    return keys


def _join(keys: list[str], joins) -> dict[str, str]:
    """Union the joined groups; each maps to the smallest name of its union."""
    parent: dict[str, str] = {}

    def root(k: str) -> str:
        while parent.get(k, k) != k:
            k = parent[k]
        return k

    for a, b in joins:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {k: root(k) for k in set(keys) | set(parent)}


def split_dataset(dataset: str | os.PathLike, val: float = 0.1, test: float = 0.1,
                  group_by: str | None = None, joins=(), seed: int = 0) -> SplitSummary:
    """Assign every row of the dataset's manifest to train, val or test (see the module doc)."""
    from ferkit.train.config import DataConfig
    from ferkit.train.splits import group_assignment, stratified_assignment

    try:
        DataConfig(val_fraction=val, test_fraction=test, split_seed=seed)
    except Exception as e:  # one check of the fractions, the one ferkit train uses
        raise UsageError(str(e).replace("data.val_fraction", "--val").replace("data.test_fraction", "--test")
                         .replace("data.split_seed", "--seed")) from None
    manifest = read_manifest(dataset)
    rows = manifest.rows
    labels = [r["label"] or "" for r in rows]
    if group_by:
        keys = group_keys(manifest, group_by, joins)
        roles = group_assignment(np.array(keys, dtype=object), val, test, seed)
        for r, k in zip(rows, keys):
            r["group"] = k
    else:
        roles = stratified_assignment(np.array(labels, dtype=object), val, test, seed)
        keys = [r["id"] for r in rows]
    for r, role in zip(rows, roles):
        r["split"] = str(role)
    manifest.save()
    counts: dict[str, Counter] = {s: Counter() for s in ("train", "val", "test")}
    groups: dict[str, set] = {s: set() for s in counts}
    for r, k in zip(rows, keys):
        groups[r["split"]].add(k)
        if r["decision"] == KEEP:
            counts[r["split"]][r["label"]] += 1
    return SplitSummary(counts, {s: len(g) for s, g in groups.items()}, group_by)


@dataclass
class BalanceSummary:
    before: Counter
    after: Counter
    scope: str           # "train" or "all"


def balance_dataset(dataset: str | os.PathLike, per_class: int, strategy: str = "cap",
                    seed: int = 0) -> BalanceSummary:
    """Set ``copies`` so each class has at most (``cap``) or exactly (``oversample``)
    ``per_class`` training samples; see the module doc."""
    check_int("--per-class", per_class, low=1)
    if strategy not in STRATEGIES:
        raise UsageError(f"--strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    manifest = read_manifest(dataset)
    kept = manifest.kept()
    if not kept:
        raise DatasetError(f"{manifest.path}: no kept rows to balance")
    split = any(r["split"] for r in kept)
    if split and not all(r["split"] for r in kept):
        raise DatasetError(f"{manifest.path}: some kept rows have a split and some not; "
                           "run ferkit data split again")
    scope = [r for r in kept if r["split"] == "train"] if split else kept
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[dict]] = {}
    for r in scope:
        by_class.setdefault(r["label"], []).append(r)
    before = Counter({c: len(v) for c, v in by_class.items()})
    for label in sorted(by_class):
        rows = by_class[label]
        n = len(rows)
        copies = np.ones(n, dtype=np.int64)
        if n > per_class:
            copies[rng.permutation(n)[per_class:]] = 0
        elif strategy == "oversample" and n < per_class:
            copies[:] = per_class // n
            copies[rng.permutation(n)[:per_class % n]] += 1
        for r, c in zip(rows, copies):
            r["copies"] = str(int(c))
    manifest.save()
    after = Counter({c: sum(int(r["copies"]) for r in v) for c, v in by_class.items()})
    return BalanceSummary(before, after, "train" if split else "all")

