"""``manifest.csv``: one row per face of a dataset folder, its decision and why.

A dataset folder (``ferkit data clean`` makes one) holds ``crops/`` (aligned face
crops), ``manifest.csv`` and ``dataset.json`` (where it came from, the
thresholds). Every later step (review, balance, split, stats, survey,
``ferkit train`` with data kind ``manifest``) reads and rewrites the manifest,
so hand edits of the CSV are honoured: change a ``label``, a ``decision``
(``keep``, ``review`` or ``reject``) or a ``split``, and the next command uses
it. A manifest edited into something unusable is refused with the line and
column at fault, and the file is only ever replaced whole (written to a temporary
file, then renamed), so an interrupted or refused step leaves it as it was.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

from ferkit.errors import DatasetError
from ferkit.labels import UnknownLabelError, canonical

MANIFEST = "manifest.csv"
DATASET_INFO = "dataset.json"
CROPS = "crops"

KEEP, REVIEW, REJECT = "keep", "review", "reject"
DECISIONS = (KEEP, REVIEW, REJECT)
SPLITS = ("", "train", "val", "test")

#: Columns in file order. ``file`` is the crop (relative to the dataset folder;
#: empty when no face was cropped), ``source`` the picture it came from, ``face``
#: its index among the picture's faces (-1: none), ``copies`` how many times
#: training takes it (``ferkit data balance``), ``reviewed`` who set the decision
#: by hand (a re-run of clean keeps those rows' label and decision).
COLUMNS = ("id", "file", "source", "face", "faces", "label", "decision", "reasons", "split",
           "copies", "group", "width", "height", "box", "face_size", "score", "yaw", "sharpness",
           "eyes", "phash", "text", "model_label", "model_confidence", "reviewed")
REQUIRED = ("id", "file", "source", "label", "decision")
REASON_SEPARATOR = "; "


@dataclass
class Manifest:
    """The rows of a ``manifest.csv`` (dicts of strings, every column present)."""

    folder: Path
    rows: list[dict]
    columns: list[str]

    @property
    def path(self) -> Path:
        return self.folder / MANIFEST

    def kept(self) -> list[dict]:
        return [r for r in self.rows if r["decision"] == KEEP]

    def labels(self) -> list[str]:
        """Labels of the kept rows, in first-seen order."""
        return list(dict.fromkeys(r["label"] for r in self.kept()))

    def by_id(self) -> dict[str, dict]:
        return {r["id"]: r for r in self.rows}

    def save(self) -> None:
        write_manifest(self.folder, self.rows, self.columns)


def manifest_path(dataset: str | os.PathLike) -> Path:
    """``dataset/manifest.csv``, or the file itself when ``dataset`` names it."""
    p = Path(dataset)
    return p if p.name == MANIFEST or p.suffix == ".csv" else p / MANIFEST


def reasons_of(row: dict) -> list[str]:
    return [r.strip() for r in (row.get("reasons") or "").split(";") if r.strip()]


def join_reasons(reasons) -> str:
    return REASON_SEPARATOR.join(r.strip() for r in reasons if r and r.strip())


def read_manifest(dataset: str | os.PathLike, check_files: bool = False) -> Manifest:
    """Read and check a dataset's manifest; every problem is a :class:`DatasetError`
    naming the line and column (``check_files``: kept rows' crops must exist)."""
    path = manifest_path(dataset)
    folder = path.parent
    if not path.is_file():
        hint = (" (make one with: ferkit data clean SRC --out DATASET)"
                if not folder.exists() or folder.is_dir() else "")
        raise DatasetError(f"no manifest: {path} not found{hint}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: cannot read the manifest: {e}") from None
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = reader.fieldnames
        if not header:
            raise DatasetError(f"{path}: empty manifest (no header line)")
        header = [h.strip() for h in header]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise DatasetError(f"{path}: not a ferkit manifest: column(s) {', '.join(missing)} "
                               f"missing (header: {', '.join(header)[:200]})")
        reader.fieldnames = header
        rows = []
        for line, raw in enumerate(reader, start=2):
            if None in raw:
                raise DatasetError(f"{path}:{line}: more fields than the header has columns")
            rows.append(_check_row({k: (v or "").strip() for k, v in raw.items()}, path, line))
    except csv.Error as e:
        raise DatasetError(f"{path}: not a readable CSV: {e}") from None
    seen: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        if row["id"] in seen:
            raise DatasetError(f"{path}:{line}: id {row['id']!r} repeats line {seen[row['id']]}")
        seen[row["id"]] = line
        if check_files and row["decision"] == KEEP and not (folder / row["file"]).is_file():
            raise DatasetError(f"{path}:{line}: crop {row['file']} of a kept row not found")
    columns = list(COLUMNS) + [c for c in header if c not in COLUMNS]
    for row in rows:
        for c in columns:
            row.setdefault(c, "")
    return Manifest(folder, rows, columns)


def _check_row(row: dict, path: Path, line: int) -> dict:
    where = f"{path}:{line}"
    if not row.get("id"):
        raise DatasetError(f"{where}: empty id")
    decision = row.get("decision", "").lower()
    if decision not in DECISIONS:
        raise DatasetError(f"{where}: decision {row.get('decision')!r} is not one of "
                           f"{', '.join(DECISIONS)}")
    row["decision"] = decision
    label = row.get("label", "")
    if label:
        try:
            row["label"] = canonical(label)
        except UnknownLabelError as e:
            raise DatasetError(f"{where}: label: {e}") from None
    elif decision == KEEP:
        raise DatasetError(f"{where}: a kept row needs a label (set one, or decision review/reject)")
    if decision == KEEP and not row.get("file"):
        raise DatasetError(f"{where}: a kept row needs its crop in column file")
    if row.get("file") and (Path(row["file"]).is_absolute() or ".." in Path(row["file"]).parts):
        raise DatasetError(f"{where}: file {row['file']!r} must be a path inside the dataset folder")
    split = row.get("split", "").lower()
    if split not in SPLITS:
        raise DatasetError(f"{where}: split {row.get('split')!r} is not one of train, val, test "
                           "(or empty)")
    row["split"] = split
    copies = row.get("copies", "")
    if copies:
        try:
            n = int(copies)
        except ValueError:
            n = -1
        if n < 0:
            raise DatasetError(f"{where}: copies {copies!r} is not an integer >= 0")
    return row


def write_manifest(folder: str | os.PathLike, rows: list[dict], columns=COLUMNS) -> Path:
    """Replace ``folder/manifest.csv`` whole (atomic)."""
    from ferkit.writers import csv_lines, write_text_atomic

    path = Path(folder) / MANIFEST
    table = [list(columns)] + [[_text(row.get(c, "")) for c in columns] for row in rows]
    write_text_atomic(path, csv_lines(table))
    return path


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.0f}"
    return str(value)


def copies_of(row: dict) -> int:
    return int(row["copies"]) if row.get("copies") else 1
