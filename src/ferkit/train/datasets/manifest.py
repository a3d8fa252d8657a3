"""Dataset folders made by ``ferkit data``: ``manifest.csv`` beside the aligned crops.

Only rows whose decision is ``keep`` train, each ``copies`` times (``ferkit data
balance``; default once). The ``split`` column (``train``/``val``/``test``, from
``ferkit data split``) is the split; a manifest without one is split by class
like any other data without splits (:mod:`ferkit.train.splits`). The crops are
aligned faces already, so they are only resized (no detection).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from ferkit.errors import DatasetError
from ferkit.labels import LabelSet

from .base import FaceDataset
from .files import dataset_from_files
from .preprocess import PreprocessOptions


def is_manifest_dataset(path: str | os.PathLike) -> bool:
    """True for a ``ferkit data`` dataset folder (or its manifest): a ``manifest.csv``
    whose header has ferkit's columns (a dataset may ship a manifest of its own)."""
    from ferkit.data.manifest import MANIFEST, REQUIRED

    p = Path(path)
    path = p if p.name == MANIFEST else p / MANIFEST
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader([f.readline()]), [])
    except (OSError, UnicodeDecodeError):
        return False
    return set(REQUIRED) <= {h.strip() for h in header}


def load_manifest(path: str | os.PathLike, label_set: LabelSet | str | None = None,
                  preprocess: PreprocessOptions | dict | None = None,
                  progress: bool = True) -> FaceDataset:
    """The kept faces of a ``ferkit data`` dataset folder (or its ``manifest.csv``)."""
    from ferkit.data.manifest import copies_of, read_manifest

    manifest = read_manifest(path, check_files=True)
    opts = preprocess if isinstance(preprocess, PreprocessOptions) else PreprocessOptions.from_dict(preprocess)
    if opts.detector:
        raise DatasetError(f"{manifest.path}: the crops of a manifest dataset are aligned faces "
                           "already; leave preprocess.detector unset")
    kept = manifest.kept()
    if not kept:
        raise DatasetError(f"{manifest.path}: no row has decision keep ({len(manifest.rows)} rows); "
                           "review the dataset or edit the decision column")
    splits = {r["split"] for r in kept}
    if "" in splits and len(splits) > 1:
        raise DatasetError(f"{manifest.path}: some kept rows have a split and some not; "
                           "run ferkit data split again")
    files, names, split = [], [], []
    for r in kept:
        for _ in range(copies_of(r)):
            files.append(manifest.folder / r["file"])
            names.append(r["label"])
            split.append(r["split"])
    if not files:
        raise DatasetError(f"{manifest.path}: every kept row has copies 0")
    info = {"path": str(manifest.path), "rows": len(manifest.rows), "kept": len(kept),
            "samples": len(files)}
    return dataset_from_files(files, names, split if splits != {""} else None, manifest.folder,
                              label_set, opts, f"manifest:{manifest.folder.name}", info, progress)
