"""FER2013 (``emotion,pixels,Usage``) and FER+ votes (``fer2013new.csv``)."""

from __future__ import annotations

import csv
import gzip
import hashlib
import os
from pathlib import Path

import numpy as np

from ferkit.errors import ConfigError, DatasetError
from ferkit.labels import FER7, FERPLUS8

from .base import FaceDataset, cache_dir

FER2013_SPLITS = ("Training", "PublicTest", "PrivateTest")
# FER+ vote columns, in file order.
FERPLUS_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust",
                   "fear", "contempt", "unknown", "NF")


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", newline="")
    return open(path, newline="")


def _read_fer2013(path: Path):
    emotions, usages, pixels = [], [], []
    with _open_text(path) as f:
        reader = csv.reader(f)
        header = next(reader)
        if [h.strip() for h in header[:3]] != ["emotion", "pixels", "Usage"]:
            raise DatasetError(f"{path}: expected header emotion,pixels,Usage, got {header}")
        for line_no, row in enumerate(reader, start=2):
            try:
                px = np.array(row[1].split(), dtype=np.uint8)
            except (ValueError, IndexError) as e:
                raise DatasetError(f"{path}:{line_no}: bad pixels field ({e})") from None
            if px.size != 48 * 48:
                raise DatasetError(f"{path}:{line_no}: {px.size} pixels, expected 2304")
            emotions.append(int(row[0]))
            usages.append(row[2].strip())
            pixels.append(px)
    return (np.stack(pixels).reshape(-1, 48, 48), np.array(emotions, dtype=np.int64),
            np.array(usages, dtype=object))


def load_fer2013(path: str | os.PathLike, cache: bool = True) -> FaceDataset:
    """FER2013 as a :class:`FaceDataset` over FER-7, with the file's three splits.

    Parsing the 300 MB CSV takes a while, so the decoded arrays are cached
    (keyed by file content size and mtime) under ``$FERKIT_CACHE``.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"FER2013 file not found: {path}")
    st = path.stat()
    key = hashlib.sha1(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]
    cached = cache_dir() / f"fer2013-{key}.npz"
    if cache and cached.is_file():
        z = np.load(cached, allow_pickle=True)
        images, emotions, usages = z["images"], z["emotions"], z["usages"]
    else:
        try:
            images, emotions, usages = _read_fer2013(path)
        except (OSError, UnicodeDecodeError, csv.Error, StopIteration) as e:
            raise DatasetError(f"{path}: not a readable FER2013 CSV "
                               f"({e or 'empty file'})") from None
        if cache:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(".tmp.npz")
            np.savez(tmp, images=images, emotions=emotions, usages=usages)
            os.replace(tmp, cached)
    sources = np.array([f"{path.name}:{i}" for i in range(len(images))], dtype=object)
    return FaceDataset(images, emotions, FER7, usages, sources, name="fer2013",
                       info={"path": str(path)})


def read_ferplus_votes(path: str | os.PathLike) -> np.ndarray:
    """FER+ vote counts, shape ``(N, 10)`` in :data:`FERPLUS_COLUMNS` order."""
    rows = []
    if not Path(path).is_file():
        raise DatasetError(f"FER+ votes file not found: {path}")
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        cols = [h.strip() for h in header[2:12]]
        if tuple(cols) != FERPLUS_COLUMNS:
            raise DatasetError(f"{path}: unexpected FER+ columns {header}")
        for row in reader:
            rows.append([float(v or 0) for v in row[2:12]])
    return np.array(rows, dtype=np.float32)


def ferplus_majority(votes: np.ndarray) -> np.ndarray:
    """The FER+ paper's majority rule; ``-1`` where no class holds a majority.

    Votes of 1 are dropped as outliers, then the class with more than half of the
    remaining votes wins. Indices refer to :data:`FERPLUS_COLUMNS`.
    """
    v = np.where(votes <= 1, 0, votes)
    total = v.sum(1)
    best = v.argmax(1)
    ok = (total > 0) & (v.max(1) * 2 > total)
    return np.where(ok, best, -1)


# Where each FER-7 class (FER2013 order) sits among the FER+ vote columns.
FER7_FROM_FERPLUS = [FERPLUS_COLUMNS.index(c) for c in
                     ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")]


def ferplus_fer7_distribution(votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The crowd's distribution over FER-7 (FER2013 order) from FER+ vote counts, and which
    rows have any vote on those seven classes (contempt, unknown and not-a-face dropped)."""
    emo = votes[:, FER7_FROM_FERPLUS].astype(np.float32)
    total = emo.sum(1, keepdims=True)
    ok = total[:, 0] > 0
    return np.divide(emo, total, out=np.zeros_like(emo), where=total > 0), ok


def blend_targets(labels: np.ndarray, votes: np.ndarray, weight: float) -> np.ndarray:
    """Soft FER-7 targets ``weight * onehot(FER2013 label) + (1 - weight) * crowd``; rows the
    crowd left without a FER-7 vote keep their FER2013 label alone."""
    onehot = np.eye(7, dtype=np.float32)[labels]
    crowd, ok = ferplus_fer7_distribution(votes)
    out = onehot.copy()
    out[ok] = weight * onehot[ok] + (1 - weight) * crowd[ok]
    return out


def load_fer2013_blended(fer2013_path: str | os.PathLike, votes_path: str | os.PathLike,
                         weight: float = 0.5) -> FaceDataset:
    """FER2013 over FER-7 with soft targets: ``weight`` on the FER2013 label and the rest on
    the FER+ crowd's distribution over the same seven classes (:func:`blend_targets`)."""
    if not 0.0 <= weight <= 1.0:
        raise ConfigError(f"data.blend must be between 0 and 1, not {weight!r}")
    ds = load_fer2013(fer2013_path)
    votes = read_ferplus_votes(votes_path)
    if len(votes) != len(ds):
        raise DatasetError(f"{votes_path}: {len(votes)} vote rows vs {len(ds)} FER2013 rows")
    ds.targets = blend_targets(ds.targets, votes, weight)
    ds.name = f"fer2013-blend{weight:g}"
    ds.info.update(votes_path=str(votes_path), blend=weight)
    return ds


def load_ferplus(fer2013_path: str | os.PathLike, votes_path: str | os.PathLike,
                 mode: str = "majority") -> FaceDataset:
    """FER2013 images with FER+ labels over FER+-8, joined by row order.

    ``mode="majority"`` gives hard labels by the FER+ majority rule;
    ``mode="soft"`` gives the vote distribution over the 8 emotion classes.
    Rows whose label is unknown or not-a-face (or without votes) are dropped.
    """
    base = load_fer2013(fer2013_path)
    votes = read_ferplus_votes(votes_path)
    if len(votes) != len(base):
        raise DatasetError(f"{votes_path}: {len(votes)} vote rows vs {len(base)} FER2013 rows")
    if mode == "majority":
        lab = ferplus_majority(votes)
        keep = (lab >= 0) & (lab < 8)
        targets = lab[keep].astype(np.int64)
    elif mode == "soft":
        emo = votes[:, :8]
        keep = (emo.sum(1) > 0) & (votes.argmax(1) < 8)
        targets = (emo[keep] / emo[keep].sum(1, keepdims=True)).astype(np.float32)
    else:
        raise ConfigError(f"mode must be 'majority' or 'soft', not {mode!r}")
    ds = base.subset(np.flatnonzero(keep), name=f"ferplus-{mode}")
    ds.targets = targets
    ds.label_set = FERPLUS8
    ds.info.update(votes_path=str(votes_path), mode=mode, dropped=int((~keep).sum()))
    return ds


def ferplus_majority_as_fer7(plus: FaceDataset, split: str) -> FaceDataset:
    """The rows of a FER+ majority dataset (:func:`load_ferplus`) in ``split`` whose majority
    is one of FER-7's classes, relabelled over FER-7 (contempt's rows left out)."""
    names = FERPLUS8.labels
    keep = np.flatnonzero((plus.split == split)
                          & np.isin([names[t] for t in plus.hard_targets], FER7.labels))
    out = plus.subset(keep, name=f"{plus.name}-fer7")
    out.targets = np.array([FER7.index(names[t]) for t in out.hard_targets], dtype=np.int64)
    out.label_set = FER7
    return out
