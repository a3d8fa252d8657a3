"""Shared by the image-file loaders: label resolution, label-set inference, crops."""

from __future__ import annotations

import logging
import unicodedata
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ferkit.errors import DatasetError, UnknownNameError
from ferkit.imageio import is_image_path
from ferkit.labels import ALIASES, LABEL_SETS, LabelSet, UnknownLabelError, canonical, get_label_set

from .base import FaceDataset
from .preprocess import EXAMPLES, PreprocessOptions, preprocess_files

log = logging.getLogger(__name__)

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
    for ls in LABEL_SETS.values():
        if set(ls.labels) == set(ordered):
            return ls
    return LabelSet("custom", ordered)


def dataset_from_files(files: list[Path], names: list[str], splits: list[str] | None,
                       root: Path, label_set: LabelSet | str | None,
                       opts: PreprocessOptions, dataset_name: str, info: dict,
                       progress: bool = True, declared: list[str] = ()) -> FaceDataset:
    """Crop ``files`` labelled ``names`` into a :class:`FaceDataset`.

    Labels that resolve to no class, or to a class outside ``label_set``, are
    counted in ``info["unknown_labels"]`` with example files; so are files
    without a face and unreadable files (see :func:`preprocess_files`).
    ``declared`` are class names the layout declares even without files (empty
    class folders): an inferred label set includes them, so a class with no
    images shows up as a class with no samples instead of vanishing.
    """
    resolved: list[str | None] = []
    for n in names:
        try:
            resolved.append(resolve_label(n))
        except UnknownLabelError:
            resolved.append(None)
    if label_set is None:
        ls = infer_label_set({c for c in resolved if c is not None}
                             | {resolve_label(n) for n in declared})
    else:
        try:
            ls = get_label_set(label_set)
        except KeyError as e:
            raise UnknownNameError(str(e.args[0]) if e.args else str(e)) from None
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
    if not ls.labels or not keep:
        raise DatasetError(f"{root}: none of the {len(files)} image files has a recognised "
                           f"expression label (labels seen: "
                           f"{', '.join(sorted(unknown)) or 'none'})")
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
    """One readable log line listing every kind of file left out, with an example each."""
    problems = []
    unknown = info["unknown_labels"]
    skipped = sum(v["count"] for v in unknown.values())
    if skipped:
        counts = ", ".join(f"{k}: {v['count']}" for k, v in sorted(unknown.items()))
        problems.append(f"{skipped} with a label outside the label set ({counts})")
    for key, what in (("unparsed", "whose name the pattern does not match"),
                      ("ignored", "outside the class-folder layout")):
        if info.get(key, {}).get("count"):
            problems.append(f"{info[key]['count']} {what} (e.g. {info[key]['examples'][0]})")
    rep = info["preprocess"]
    for key, what in (("unreadable", "unreadable"), ("no_face_skipped", "without a face")):
        if rep[key]["count"]:
            problems.append(f"{rep[key]['count']} {what} (e.g. {rep[key]['examples'][0]})")
    if info.get("empty_classes"):
        problems.append(f"empty class folder(s): {', '.join(info['empty_classes'])}")
    if problems:
        log.warning(f"{root}: left out {'; '.join(problems)}")
