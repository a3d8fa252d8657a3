"""Shared by the image-file loaders: label resolution, label-set inference, crops."""

from __future__ import annotations

import unicodedata
import warnings
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ferkit.imageio import is_image_path
from ferkit.labels import ALIASES, LabelSet, UnknownLabelError, canonical, get_label_set

from .base import FaceDataset
from .preprocess import EXAMPLES, PreprocessOptions, preprocess_files

# Canonical class names in a stable order, used for label sets inferred from data.
CANONICAL_ORDER = tuple(dict.fromkeys(ALIASES.values()))


def list_images(root: Path) -> list[Path]:
    """Image files under ``root`` (recursive), in a stable order."""
    return sorted(p for p in root.rglob("*") if p.is_file() and is_image_path(p))


def resolve_label(name: str) -> str:
    """Canonical class for a label written in a folder or file name.

    Names are NFC-normalised first: macOS writes Korean file names decomposed
    (NFD), which would otherwise not match ``기쁨``.
    """
    return canonical(unicodedata.normalize("NFC", name))


def infer_label_set(found: set[str]) -> LabelSet:
    """The registered label set with exactly the classes found, else a custom one."""
    ordered = tuple(c for c in CANONICAL_ORDER if c in found)
    for ls in (get_label_set(n) for n in ("fer7", "ferplus8", "korean5", "korean7")):
        if set(ls.labels) == set(ordered):
            return ls
    return LabelSet("custom", ordered)


def dataset_from_files(files: list[Path], names: list[str], splits: list[str] | None,
                       root: Path, label_set: LabelSet | str | None,
                       opts: PreprocessOptions, dataset_name: str, info: dict,
                       progress: bool = True) -> FaceDataset:
    """Crop ``files`` labelled ``names`` into a :class:`FaceDataset`.

    Labels that resolve to no class, or to a class outside ``label_set``, are
    counted in ``info["unknown_labels"]`` with example files; so are files
    without a face and unreadable files (see :func:`preprocess_files`).
    """
    resolved: list[str | None] = []
    for n in names:
        try:
            resolved.append(resolve_label(n))
        except UnknownLabelError:
            resolved.append(None)
    if label_set is None:
        ls = infer_label_set({c for c in resolved if c is not None})
    else:
        ls = get_label_set(label_set)
    unknown: Counter = Counter()
    examples: dict[str, list[str]] = {}
    keep = []
    for i, (n, c) in enumerate(zip(names, resolved)):
        if c is None or c not in ls.labels:
            unknown[n] += 1
            examples.setdefault(n, [])
            if len(examples[n]) < EXAMPLES:
                examples[n].append(str(files[i].relative_to(root)))
        else:
            keep.append(i)
    if not ls.labels:
        raise ValueError(f"{root}: no image has a recognised expression label "
                         f"(labels seen: {', '.join(sorted(unknown)) or 'none'})")
    info["unknown_labels"] = {n: {"count": k, "examples": examples[n]} for n, k in unknown.items()}
    files = [files[i] for i in keep]
    result = preprocess_files(files, opts, root=root, progress=progress)
    info["preprocess"] = result.report
    info["options"] = asdict(opts)
    kept = [keep[i] for i in result.kept]
    targets = np.array([ls.labels.index(resolved[i]) for i in kept], dtype=np.int64)
    split = np.array([splits[i] for i in kept], dtype=object) if splits else None
    sources = np.array([str(f.relative_to(root)) for f in (files[i] for i in result.kept)],
                       dtype=object)
    _warn_problems(root, info)
    return FaceDataset(result.images, targets, ls, split, sources, dataset_name, info)


def _warn_problems(root: Path, info: dict) -> None:
    problems = []
    skipped = sum(v["count"] for v in info["unknown_labels"].values())
    if skipped:
        problems.append(f"{skipped} with a label not in the label set "
                        f"({', '.join(sorted(info['unknown_labels']))})")
    for key in ("unparsed", "ignored"):
        if info.get(key, {}).get("count"):
            problems.append(f"{info[key]['count']} {key} (e.g. {info[key]['examples'][0]})")
    rep = info["preprocess"]
    for key in ("unreadable", "no_face_skipped"):
        if rep[key]["count"]:
            problems.append(f"{rep[key]['count']} {key.replace('_', ' ')} "
                            f"(e.g. {rep[key]['examples'][0]})")
    if problems:
        warnings.warn(f"{root}: files left out: {'; '.join(problems)}; see the dataset's info",
                      stacklevel=3)
