"""The one place that decides which samples train, validate and test.

Every consumer — each ensemble member's training, ``evaluate`` and ``export`` —
asks :func:`resolve_splits` (or :func:`pick_split`, which goes through it), so
they all see the same split membership. The rule, from the data config alone:

* Data that carries the configured ``train_split`` and ``val_split`` names (FER2013's
  ``Training``/``PublicTest``/``PrivateTest``), or the layout names ``train`` and
  ``val``, is split by those names; ``test_split`` (or ``test``) is the test set.
* Other data (class folders, labelled file names) is split by class: a
  ``val_fraction`` and ``test_fraction`` of every class, seeded by
  ``data.split_seed`` — never by a member's training seed. A ``test`` split the
  data carries (e.g. a ``test/`` folder) stays the test set and only the rest is
  divided into training and validation.
* With ``data.group_by`` (a named group of the file-name pattern, e.g. ``person``)
  that seeded split deals out whole groups instead (:func:`group_assignment`), so no
  person sits in two splits; ``data.group_merge`` joins groups that are one person.

Nothing here mutates the dataset. :func:`membership_digest` fingerprints a
split's samples, so runs and exported model cards can show which samples
they used.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ferkit.errors import ConfigError, DatasetError

from .config import DataConfig
from .datasets.base import FaceDataset

ROLES = ("train", "val", "test")
UNUSED = ""


def stratified_assignment(labels: np.ndarray, val_fraction: float, test_fraction: float,
                          seed: int) -> np.ndarray:
    """Role (``train``, ``val``, ``test``) per sample, stratified by class and seeded."""
    rng = np.random.default_rng(seed)
    roles = np.full(len(labels), "train", dtype=object)
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val = round(len(idx) * val_fraction)
        n_test = round(len(idx) * test_fraction)
        roles[idx[:n_val]] = "val"
        roles[idx[n_val:n_val + n_test]] = "test"
    return roles


def group_assignment(groups: np.ndarray, val_fraction: float, test_fraction: float,
                     seed: int) -> np.ndarray:
    """Role per sample with every group (a person, a subject) wholly in one role.

    Groups are shuffled (seeded) and dealt out until each of val and test holds
    about its fraction of the samples; the rest train.
    """
    groups = np.asarray(groups)
    names, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(names))
    roles_of = np.full(len(names), "train", dtype=object)
    total, filled = len(groups), {"val": 0, "test": 0}
    targets = {"val": val_fraction * total, "test": test_fraction * total}
    for g in order:
        role = next((r for r in ("val", "test") if filled[r] + counts[g] / 2 <= targets[r]), None)
        if role is None:
            continue
        roles_of[g] = role
        filled[role] += counts[g]
    return roles_of[inverse]


def sample_groups(ds: FaceDataset, data: DataConfig) -> np.ndarray | None:
    """The group of every sample under ``data.group_by`` (``None`` without it): the named
    group of ``data.pattern`` in each sample's file name, renamed by ``data.group_merge``."""
    if not data.group_by:
        return None
    from .datasets.filenames import compile_pattern

    rx = compile_pattern(data.pattern)
    if data.group_by not in rx.groupindex:
        raise ConfigError(f"data.group_by {data.group_by!r} is not a named group of the file-name "
                          f"pattern {rx.pattern!r} (its groups: {', '.join(rx.groupindex)})")
    groups = []
    for source in ds.sources:
        m = rx.fullmatch(unicodedata.normalize("NFC", Path(str(source)).stem))
        if m is None or m.group(data.group_by) is None:
            raise DatasetError(f"{ds.name}: data.group_by {data.group_by!r} finds no group in "
                               f"{source!r}")
        g = m.group(data.group_by)
        groups.append(data.group_merge.get(g, g))
    return np.array(groups, dtype=object)


def _named(present: set, configured: str | None, layout: tuple[str, ...]) -> str | None:
    for name in (configured, *layout):
        if name and name in present:
            return name
    return None


@dataclass(frozen=True)
class SplitPlan:
    """Each sample's role and the name each role is reported under."""

    roles: np.ndarray             # "train" / "val" / "test" / "" (not used) per sample
    names: dict                   # role -> reported name, e.g. {"val": "PublicTest"}
    seeded: bool                  # True when (part of) the split was drawn with split_seed


def plan_splits(ds: FaceDataset, data: DataConfig) -> SplitPlan:
    """Which role every sample of ``ds`` plays under ``data`` (see the module's rule)."""
    present = set(ds.split)
    train = _named(present, data.train_split, ("train",))
    val = _named(present, data.val_split, ("val", "validation"))
    test = _named(present, data.test_split, ("test",))
    roles = np.full(len(ds), UNUSED, dtype=object)
    if train and val:
        for role, name in (("train", train), ("val", val), ("test", test)):
            if name:
                roles[ds.split == name] = role
        names = {"train": train, "val": val, "test": test or "test"}
        return SplitPlan(roles, names, seeded=False)
    rest = ds.split != test if test else np.ones(len(ds), bool)
    test_fraction = 0.0 if test else data.test_fraction
    groups = sample_groups(ds, data)
    if groups is not None:
        roles[rest] = group_assignment(groups[rest], data.val_fraction, test_fraction,
                                       data.split_seed)
    else:
        roles[rest] = stratified_assignment(ds.hard_targets[rest], data.val_fraction,
                                            test_fraction, data.split_seed)
    if test:
        roles[~rest] = "test"
    return SplitPlan(roles, {"train": "train", "val": "val", "test": test or "test"}, seeded=True)


@dataclass
class Splits:
    train: FaceDataset
    val: FaceDataset
    test: FaceDataset | None
    names: dict                   # role -> reported split name

    def parts(self):
        """``(role, dataset, name)`` for every role that has samples."""
        return [(role, part, self.names[role]) for role, part in
                (("train", self.train), ("val", self.val), ("test", self.test))
                if part is not None]


def resolve_splits(ds: FaceDataset, data: DataConfig) -> Splits:
    """Training, validation and (if any) test samples of ``ds`` under ``data``.

    Raises :class:`~ferkit.errors.DatasetError` when training or validation
    would be empty.
    """
    plan = plan_splits(ds, data)
    parts = {}
    for role in ROLES:
        idx = np.flatnonzero(plan.roles == role)
        parts[role] = ds.subset(idx, f"{ds.name}:{plan.names[role]}") if len(idx) else None
    for role in ("train", "val"):
        if parts[role] is None:
            unit = f"of the {data.group_by} groups" if data.group_by else "of each class"
            how = (f"{data.val_fraction:g} {unit} drawn with split_seed "
                   f"{data.split_seed}" if plan.seeded else f"split {plan.names[role]!r}")
            raise DatasetError(f"{ds.name}: no {'training' if role == 'train' else 'validation'} "
                               f"samples ({len(ds)} samples; {how}); add images or change "
                               "data.val_fraction")
    return Splits(parts["train"], parts["val"], parts["test"], plan.names)


def pick_split(ds: FaceDataset, split: str | None, data: DataConfig):
    """``(samples, name)`` for ``split``: ``all``, a role (``train``/``val``/``test``, as
    :func:`resolve_splits` assigns them), or a split name the data carries. ``None``
    means the test role."""
    split = split or "test"
    if split == "all":
        return ds, "all"
    if split in ROLES:
        plan = plan_splits(ds, data)
        idx = np.flatnonzero(plan.roles == split)
        if not len(idx):
            raise DatasetError(f"{ds.name}: the {split} split has no samples "
                               f"(splits present: {', '.join(sorted(set(ds.split)))})")
        name = plan.names[split]
        return ds.subset(idx, f"{ds.name}:{name}"), name
    if split in set(ds.split):
        return ds.select_split(split), split
    raise DatasetError(f"{ds.name}: no split {split!r}; splits present: "
                       f"{', '.join(sorted(set(ds.split)))} (or all, train, val, test)")


def membership_digest(ds: FaceDataset) -> str:
    """A short fingerprint of which samples ``ds`` holds (order-independent)."""
    h = hashlib.sha1()
    for source in sorted(map(str, ds.sources)):
        h.update(source.encode("utf-8", "surrogateescape") + b"\n")
    return h.hexdigest()[:16]


def describe(splits: Splits) -> dict:
    """Per role: the name, sample count and membership digest (for run records and cards)."""
    return {role: {"name": name, "samples": len(part), "digest": membership_digest(part)}
            for role, part, name in splits.parts()}
