"""Labels carried in file names, e.g. ``(title)_(gender)_(age)_(emotion)_(date).jpg``.

The pattern is a regular expression matched against the whole file name
without its extension; its named group ``label`` is the expression and an
optional group ``split`` names the split. The default fits the Korean
emotion-photo naming ``<title>_<gender>_<age>_<emotion>_<date>`` (the title may
itself contain underscores), where the emotion is ``기쁨``, ``당황``, ``분노``,
``슬픔``, ``중립`` (Korean-5) or also ``불안``, ``상처`` (Korean-7).
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

from ferkit.errors import ConfigError, DatasetError
from ferkit.labels import LabelSet

from .base import FaceDataset
from .files import dataset_from_files, list_images
from .preprocess import EXAMPLES, PreprocessOptions

DEFAULT_PATTERN = (r"(?P<title>.+)_(?P<gender>[^_]+)_(?P<age>[^_]+)_(?P<label>[^_]+)"
                   r"_(?P<date>[^_]+)")


def compile_pattern(pattern: str | None) -> re.Pattern:
    try:
        rx = re.compile(pattern or DEFAULT_PATTERN)
    except re.error as e:
        raise ConfigError(f"file-name pattern {pattern!r} is not a valid regular expression "
                          f"({e})") from None
    if "label" not in rx.groupindex:
        raise ConfigError(f"file-name pattern {rx.pattern!r} has no named group 'label', "
                         "e.g. (?P<label>[^_]+)")
    return rx


def load_filenames(root: str | os.PathLike, pattern: str | None = None,
                   label_set: LabelSet | str | None = None,
                   preprocess: PreprocessOptions | dict | None = None,
                   progress: bool = True) -> FaceDataset:
    """Images under ``root`` (recursive) labelled by their file names.

    Files whose name does not match ``pattern`` are counted in
    ``info["unparsed"]`` with examples; names that match but carry an unknown
    label are counted in ``info["unknown_labels"]``.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    rx = compile_pattern(pattern)
    opts = preprocess if isinstance(preprocess, PreprocessOptions) else \
        PreprocessOptions.from_dict(preprocess)
    with_split = "split" in rx.groupindex
    files, names, splits, unparsed = [], [], [], []
    for path in list_images(root):
        m = rx.fullmatch(unicodedata.normalize("NFC", path.stem))
        if m is None:
            unparsed.append(str(path.relative_to(root)))
            continue
        files.append(path)
        names.append(m.group("label"))
        splits.append(m.group("split") if with_split else "")
    if not files:
        tried = len(unparsed)
        raise DatasetError(
            f"{root}: no image files under it" if not tried else
            f"{root}: the file-name pattern '{rx.pattern}' matched none of the {tried} image "
            f"file{'s' if tried > 1 else ''} tried (e.g. {', '.join(unparsed[:3])}); names are "
            "matched whole, without their extension")
    info = {"path": str(root), "pattern": rx.pattern,
            "unparsed": {"count": len(unparsed), "examples": unparsed[:EXAMPLES]}}
    return dataset_from_files(files, names, splits if with_split else None, root, label_set,
                              opts, f"filenames:{root.name}", info, progress)


# korean_aihub (see its README): <person>_<gender>_<age>_<emotion>_<background>_<time>-<bg>-<shot>
KOREAN_AIHUB_PATTERN = (r"(?P<person>[0-9a-f]{64})_(?P<gender>[^_]+)_(?P<age>\d{2})_(?P<label>[^_]+)"
                        r"_(?P<background>[^_]+)_(?P<ts>\d{14})-(?P<bg>\d{3})-(?P<shot>\d{3})")


def korean_aihub_merge(root: str | os.PathLike) -> dict[str, str]:
    """``data.group_merge`` for korean_aihub: each id that ``subjects.csv`` says is the same
    person as another maps onto the smaller of the two ids."""
    import csv

    path = Path(root) / "subjects.csv"
    if not path.is_file():
        raise DatasetError(f"{path} not found: korean_aihub's subjects.csv names the ids of one person")
    with open(path, encoding="utf-8", newline="") as f:
        return {r["subject_hash"]: r["same_person_as"] for r in csv.DictReader(f)
                if r.get("same_person_as") and r["same_person_as"] < r["subject_hash"]}


def korean_aihub_data(root: str | os.PathLike, label_set: str | None = None,
                      preprocess: dict | None = None, val_fraction: float = 0.15,
                      test_fraction: float = 0.15, seed: int = 0):
    """The :class:`~ferkit.train.config.DataConfig` of korean_aihub as it sits: labels from
    the file names, split by person (``group_by``; ids its ``subjects.csv`` names as one
    person merged). The defaults are the split ferkit's Korean models and benchmarks use."""
    from ferkit.train.config import DataConfig

    return DataConfig(kind="filenames", path=os.fspath(root), pattern=KOREAN_AIHUB_PATTERN,
                      label_set=label_set, group_by="person", group_merge=korean_aihub_merge(root),
                      val_fraction=val_fraction, test_fraction=test_fraction, split_seed=seed,
                      preprocess=dict(preprocess or {}))
