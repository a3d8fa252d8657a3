"""Where a raw picture's label comes from, and ``ferkit data label``.

A :class:`Labeller` labels a picture from, in this order of preference: a labels
file written by ``ferkit data label`` (its ``labelled`` rows), a file-name
pattern (:func:`ferkit.train.datasets.filenames.compile_pattern`, group
``label``), the class folder it sits in (``SRC/<label>/...``), or the keywords in
its name (:mod:`ferkit.data.keywords`).

``label_pictures`` writes the labels file: one row per picture with its label
or, for review, why it has none; with ``detect`` a labelled picture must show
exactly one face (a keyword describes a picture, not every face in it).
"""

from __future__ import annotations

import csv
import os
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ferkit.errors import DatasetError
from ferkit.labels import UnknownLabelError

from .keywords import KeywordMap, NameLabel, default_keywords, label_from_name, label_from_pattern

LABELS_COLUMNS = ("file", "label", "status", "reason", "keywords", "faces")
LABELLED, REVIEW = "labelled", "review"


@dataclass
class Labeller:
    """Labels pictures by ``rel`` path (relative to the source folder)."""

    keywords: KeywordMap | None = None
    pattern: re.Pattern | None = None
    table: dict[str, NameLabel] | None = None
    folders: bool = True
    table_path: str = ""

    @classmethod
    def for_folder(cls, src: Path, keywords: KeywordMap | None = None, pattern: str | None = None,
                   labels_file: str | os.PathLike | None = None) -> Labeller:
        from ferkit.train.datasets.filenames import compile_pattern

        table = read_labels_file(labels_file) if labels_file else None
        return cls(keywords or default_keywords(), compile_pattern(pattern) if pattern else None, table,
                   folders=keywords is None and pattern is None, table_path=str(labels_file or ""))

    def label(self, path: Path, rel: str) -> NameLabel:
        if self.table is not None:
            found = self.table.get(unicodedata.normalize("NFC", rel))
            if found is None:
                return NameLabel(None, f"not in the labels file {self.table_path}", {})
            return found
        if self.pattern is not None:
            return label_from_pattern(path.name, self.pattern)
        parts = Path(rel).parts
        if self.folders and len(parts) > 1:
            from ferkit.train.datasets.files import resolve_label

            try:
                label = resolve_label(parts[0])
                return NameLabel(label, "", {label: [parts[0] + "/"]})
            except UnknownLabelError:
                pass
        return label_from_name(path.name, self.keywords)

    def describe(self) -> str:
        if self.table is not None:
            return f"labels file {self.table_path}"
        if self.pattern is not None:
            return f"file-name pattern {self.pattern.pattern}"
        return (f"class folders, else keywords ({self.keywords.name})" if self.folders
                else f"keywords ({self.keywords.name})")


def read_labels_file(path: str | os.PathLike) -> dict[str, NameLabel]:
    """``rel path -> NameLabel`` from a labels file; ``review`` rows carry their reason."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not {"file", "label", "status"} <= set(reader.fieldnames):
                raise DatasetError(f"{path}: not a labels file (needs columns file, label, status; "
                                   "write one with: ferkit data label SRC --out FILE)")
            table = {}
            for line, row in enumerate(reader, start=2):
                status = (row.get("status") or "").strip()
                label = (row.get("label") or "").strip()
                if status == LABELLED:
                    from ferkit.train.datasets.files import resolve_label

                    try:
                        label = resolve_label(label)
                    except UnknownLabelError as e:
                        raise DatasetError(f"{path}:{line}: {e}") from None
                    table[unicodedata.normalize("NFC", row["file"])] = NameLabel(label, "", {label: []})
                elif status == REVIEW:
                    table[unicodedata.normalize("NFC", row["file"])] = NameLabel(
                        None, (row.get("reason") or "sent to review").strip(), {})
                else:
                    raise DatasetError(f"{path}:{line}: status {status!r} is not labelled or review")
    except FileNotFoundError:
        raise DatasetError(f"labels file not found: {path}") from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"{path}: cannot read the labels file: {e}") from None
    return table


@dataclass
class LabelSummary:
    rows: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def counts(self) -> Counter:
        return Counter(r["label"] for r in self.rows if r["status"] == LABELLED)

    @property
    def review(self) -> list[dict]:
        return [r for r in self.rows if r["status"] == REVIEW]


def label_pictures(src: str | os.PathLike, labeller: Labeller, detect: bool = True,
                   detector: str = "retinaface", min_face_size: int | None = None,
                   progress: bool = True) -> LabelSummary:
    """Label every picture under ``src``; with ``detect`` count the faces of each
    labelled picture (none or several: review)."""
    from ferkit.inputs import expand_inputs

    from .config import CleanConfig

    src = Path(src)
    if not src.is_dir():
        raise DatasetError(f"not a folder: {src}")
    scan = expand_inputs([src])
    if not scan.files:
        raise DatasetError("; ".join(p.message for p in scan.problems) or f"no images in {src}")
    summary = LabelSummary(problems=[p.message for p in scan.problems] + scan.skipped)
    min_side = min_face_size or CleanConfig().min_face_size
    det = None
    from ferkit.progress import progress_bar

    with progress_bar(progress and detect and len(scan.files) > 1) as bar:
        task = bar.add_task("labelling", total=len(scan.files))
        for path in scan.files:
            rel = path.relative_to(src).as_posix()
            named = labeller.label(path, rel)
            row = {"file": rel, "label": named.label or "", "status": LABELLED if named.label else REVIEW,
                   "reason": named.reason, "keywords": named.words, "faces": ""}
            if named.label and detect:
                if det is None:
                    from ferkit.detect import create_detector

                    det = create_detector(detector)
                from ferkit.imageio import load_image

                try:
                    faces = [d for d in det.detect(load_image(path)) if min(d.box[2], d.box[3]) >= min_side]
                    row["faces"] = len(faces)
                    if len(faces) != 1:
                        row.update(status=REVIEW, reason="no face found" if not faces else
                                   f"several faces ({len(faces)}): a keyword labels the picture, not each face")
                except (OSError, ValueError) as e:
                    row.update(status=REVIEW, reason=f"not decodable: {e}")
            summary.rows.append(row)
            bar.advance(task)
    return summary


def write_labels_file(path: str | os.PathLike, summary: LabelSummary) -> Path:
    from ferkit.writers import check_output_file, csv_lines, write_text_atomic

    path = check_output_file(path)
    table = [list(LABELS_COLUMNS)] + [[str(r.get(c, "")) for c in LABELS_COLUMNS] for r in summary.rows]
    write_text_atomic(path, csv_lines(table))
    return path
