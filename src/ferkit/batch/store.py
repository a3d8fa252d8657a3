"""A batch's output folder, and what makes a batch resumable.

Layout of ``--out``::

    _batch.json               what the results are (kind, format, labels, settings)
    _done.jsonl               one line per finished part or video, appended after its files are in place
    part-00000.parquet ...    images: one row per face (or per image without faces or that failed),
                              the columns of ``ferkit analyze --format csv`` (FACES_CSV), typed and unrounded
    part-00000.jsonl ...      or one line per image, as ``ferkit analyze --format jsonl`` writes it
    <video>/frames.csv, tracks.json, tracks.csv [, annotated.mp4]    videos: ferkit video's files
    summaries.csv             videos: every video's per-person summaries (tracks.csv rows), one table

Every file is written under a temporary name and renamed into place, and only
then listed in ``_done.jsonl``, so an input is done exactly when its results are
complete. A rerun reads the log, skips the inputs it lists, and removes parts a
killed run left unlisted (their inputs are redone): results are never
duplicated. ``_done.jsonl`` is locked while a run writes it, so two runs cannot
share a folder; a folder holding results of other settings is refused unless
``overwrite``, which removes the previous results (only the files listed here).
"""

from __future__ import annotations

import csv
import json
import os
import re
import time
from pathlib import Path

from ferkit.errors import OutputError, UsageError
from ferkit.imageio import display_name
from ferkit.results import FACES_CSV, ImageResult, face_records
from ferkit.writers import (
    LineFile,
    ResultWriter,
    csv_lines,
    prepare_folder,
    write_bytes_atomic,
    write_text_atomic,
)

MANIFEST = "_batch.json"   # "_": Parquet readers of the folder (pyarrow, pandas, Spark) pass over it
DONE_LOG = "_done.jsonl"
SUMMARIES = "summaries.csv"
FORMATS = ("parquet", "jsonl")
PART = re.compile(r"part-(\d{5,})\.(parquet|jsonl)")

#: A part is written when it holds this many images, or when its first image is this old.
DEFAULT_PART_SIZE = 1000
DEFAULT_PART_SECONDS = 60.0


def read_log(out: str | os.PathLike) -> list[dict]:
    """The entries of ``out/_done.jsonl`` (a line cut short by a crash is passed over)."""
    path = Path(out) / DONE_LOG
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as e:
        raise OutputError(f"cannot read {display_name(path)}: {e.strerror or e}") from None
    entries = []
    for line in text.splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return entries


def done_names(entries: list[dict]) -> set[str]:
    names = set()
    for entry in entries:
        if "part" in entry:
            names.update(entry["inputs"])
        elif "video" in entry:
            names.add(entry["video"])
    return names


def load_records(out: str | os.PathLike) -> list[dict]:
    """Every image record of the batch in ``out``: Parquet rows (one per face) or JSONL
    objects (one per image), part by part in the order they were written."""
    out = Path(out)
    records = []
    for entry in read_log(out):
        if "part" not in entry:
            continue
        path = out / entry["part"]
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            records.extend(pq.read_table(path).to_pylist())
        else:
            records.extend(json.loads(line) for line in path.read_text(encoding="utf-8").splitlines())
    return records


def _arrow_schema(columns: list[str]):
    import pyarrow as pa

    def kind(column: str):
        if column in ("file", "label", "error"):
            return pa.string()
        return pa.int64() if column == "face" else pa.float64()

    return pa.schema([(c, kind(c)) for c in columns])


class BatchStore:
    """The output folder of one run: checks and locks it, says what is done already,
    and takes results as they come (see the module docstring)."""

    def __init__(self, out: str | os.PathLike, *, kind: str, fmt: str, labels: list[str],
                 settings: dict, overwrite: bool = False, part_size: int = DEFAULT_PART_SIZE,
                 part_seconds: float = DEFAULT_PART_SECONDS) -> None:
        if fmt not in FORMATS:
            raise UsageError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        self.out = prepare_folder(out, "the output folder")
        self.kind, self.fmt, self.labels = kind, fmt, list(labels)
        self.part_size, self.part_seconds = part_size, part_seconds
        manifest = {"kind": kind, "format": fmt if kind == "images" else None, "labels": self.labels,
                    "settings": settings}
        entries = read_log(self.out)
        if entries and not overwrite:
            self._check_manifest(manifest)
        self._log = LineFile(self.out / DONE_LOG, append=not overwrite)   # locked: one run at a time
        try:
            if not overwrite and _ends_mid_line(self.out / DONE_LOG):
                self._log.write("\n")   # end a line a killed run cut short: it stays unread
            if overwrite:
                self._remove(entries)
                entries = []
            from ferkit import __version__

            write_text_atomic(self.out / MANIFEST, json.dumps(
                {"ferkit": __version__, **manifest}, indent=1, ensure_ascii=False) + "\n")
            parts = {e["part"] for e in entries if "part" in e}
            self._sweep(parts)
        except BaseException:
            self._log.close()
            raise
        self.entries = entries
        self.done = done_names(entries)
        self._next_part = 1 + max((int(PART.fullmatch(p).group(1)) for p in parts
                                   if PART.fullmatch(p)), default=-1)
        self._buffer: list[ImageResult] = []
        self._buffer_started = 0.0
        self._schema = None

    # -- the folder as found -------------------------------------------------------------------

    def _check_manifest(self, manifest: dict) -> None:
        name = display_name(self.out)
        try:
            found = json.loads((self.out / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            found = {}
        differ = [k for k in manifest if found.get(k) != manifest[k]]
        if differ:
            raise UsageError(f"{name} holds results of another batch ({', '.join(differ)} differ); "
                             "rerun with the same settings to resume it, or pass --overwrite "
                             "(or choose another --out)")

    def _remove(self, entries: list[dict]) -> None:
        """Remove the results the log lists (and nothing else)."""
        from ferkit.video.pipeline import OUTPUT_FILES, OUTPUT_PATTERNS

        for entry in entries:
            if "part" in entry:
                (self.out / entry["part"]).unlink(missing_ok=True)
            elif entry.get("folder"):
                folder = self.out / entry["folder"]
                for path in [folder / f for f in OUTPUT_FILES] + [
                        p for pattern in OUTPUT_PATTERNS for p in folder.glob(pattern)]:
                    path.unlink(missing_ok=True)
                _remove_empty(folder, self.out)
        (self.out / SUMMARIES).unlink(missing_ok=True)

    def _sweep(self, listed: set[str]) -> None:
        """Remove parts a killed run wrote but did not list, and temporary files."""
        for path in self.out.iterdir():
            if (PART.fullmatch(path.name) and path.name not in listed) or (
                    path.name.startswith(".part-") and path.name.endswith(".tmp")):
                path.unlink(missing_ok=True)

    # -- images --------------------------------------------------------------------------------

    def add(self, result: ImageResult) -> None:
        """Take one image's result; a part is written when it is full or old enough."""
        if not self._buffer:
            self._buffer_started = time.monotonic()
        self._buffer.append(result)
        if (len(self._buffer) >= self.part_size
                or time.monotonic() - self._buffer_started >= self.part_seconds):
            self.flush()

    def flush(self) -> None:
        """Write the results taken so far as one part and list them as done."""
        if not self._buffer:
            return
        results, self._buffer = self._buffer, []
        name = f"part-{self._next_part:05d}.{self.fmt}"
        self._next_part += 1
        final, tmp = self.out / name, self.out / f".{name}.tmp"
        try:
            if self.fmt == "parquet":
                self._write_parquet(tmp, results)
            else:
                with ResultWriter(tmp, "jsonl", self.labels) as writer:
                    for result in results:
                        writer.write(result)
            os.replace(tmp, final)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            if isinstance(e, OutputError):
                raise
            raise OutputError(f"writing {display_name(final)} failed: {e.strerror or e}",
                              during_run=True) from None
        inputs = [r.file for r in results]
        self._append({"part": name, "inputs": inputs})
        self.done.update(inputs)

    def _write_parquet(self, path: Path, results: list[ImageResult]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = FACES_CSV.columns(self.labels)
        if self._schema is None:
            self._schema = _arrow_schema(columns)
        rows = [{c: rec[c] for c in columns}
                for r in results for rec in face_records(r, self.labels)]
        pq.write_table(pa.Table.from_pylist(rows, schema=self._schema), path)

    # -- videos --------------------------------------------------------------------------------

    def add_video(self, outcome) -> None:
        """Write one video's files (a :class:`~ferkit.batch.work.VideoOutcome`) and list it as done."""
        item, result = outcome.item, outcome.result
        entry = {"video": item.name, "folder": None, "error": outcome.error}
        if result is not None:
            from ferkit.video.pipeline import OUTPUT_FILES, OUTPUT_PATTERNS
            from ferkit.video.writer import write_tracks

            folder = prepare_folder(self.out / item.folder, f"the folder of {item.name}")
            stale = [folder / f for f in OUTPUT_FILES] + [
                p for pattern in OUTPUT_PATTERNS for p in folder.glob(pattern)]
            for path in stale:
                if path.name not in outcome.files:
                    path.unlink(missing_ok=True)
            for name, data in outcome.files.items():
                if name not in ("tracks.json", "tracks.csv"):
                    write_bytes_atomic(folder / name, data)
            result.outputs = {k: str(folder / Path(v).name) for k, v in result.outputs.items()}
            write_tracks(result, folder)   # with this folder's paths in its outputs
            entry["folder"] = item.folder
        self._append(entry)
        self.entries.append(entry)
        self.done.add(item.name)

    def write_summaries(self) -> Path:
        """``summaries.csv``: each done video's ``tracks.csv`` rows after its name, and one
        row for a video without summarised tracks (with its error, if it failed);
        videos in name order, whatever order they finished in."""
        from ferkit.video.writer import track_columns

        columns = track_columns(self.labels)
        rows = [["video", *columns, "error"]]
        videos = sorted((e for e in self.entries if "video" in e), key=lambda e: e["video"])
        for entry in videos:
            tracks = []
            if entry.get("folder"):
                path = self.out / entry["folder"] / "tracks.csv"
                with open(path, newline="", encoding="utf-8") as f:
                    tracks = [[row[c] for c in columns] for row in csv.DictReader(f)]
            for values in tracks or [[""] * len(columns)]:
                rows.append([entry["video"], *values, entry.get("error") or ""])
        path = self.out / SUMMARIES
        write_text_atomic(path, csv_lines(rows))
        return path

    # -- the log -------------------------------------------------------------------------------

    def _append(self, entry: dict) -> None:
        self._log.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def close(self) -> None:
        """Write what is buffered (and the summaries of a video batch), then release the folder."""
        try:
            self.flush()
            if self.kind == "videos":
                self.write_summaries()
        finally:
            self._log.close()

    def __enter__(self) -> "BatchStore":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        try:
            self.close()   # a failed or interrupted run keeps what it analysed
        except Exception:  # the error in flight is the one to report
            pass


def _ends_mid_line(path: Path) -> bool:
    with open(path, "rb") as f:
        if f.seek(0, os.SEEK_END) == 0:
            return False
        f.seek(-1, os.SEEK_END)
        return f.read(1) != b"\n"


def _remove_empty(folder: Path, top: Path) -> None:
    """Remove ``folder`` and its parents up to ``top`` while they are empty."""
    while folder != top and top in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


__all__ = ["DEFAULT_PART_SECONDS", "DEFAULT_PART_SIZE", "DONE_LOG", "FORMATS", "MANIFEST",
           "SUMMARIES", "BatchStore", "done_names", "load_records", "read_log"]
