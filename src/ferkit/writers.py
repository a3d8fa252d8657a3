"""Writing image results as JSON Lines, JSON or CSV, durably.

Each result is written and flushed as soon as it exists, so an interrupted batch
keeps everything already analysed. JSON (one array) is streamed to
``<out>.partial.jsonl`` and turned into the final file only when the batch ends;
after an interruption the partial file holds every finished image.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from typing import TextIO

from ferkit.results import ImageResult, csv_columns

FORMATS = ("jsonl", "json", "csv")


class ResultWriter:
    """Appends :class:`ImageResult` objects to a file (or stdout when ``path`` is None)."""

    def __init__(self, path: str | os.PathLike | None, fmt: str, labels: list[str]) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        self.fmt, self.labels = fmt, list(labels)
        self.path = Path(path) if path is not None else None
        self._count = 0
        if self.path is None:
            self._file: TextIO = sys.stdout
            self._target = None
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._target = self.path
            target = self.path.with_name(self.path.name + ".partial.jsonl") if fmt == "json" else self.path
            self._file = open(target, "w", encoding="utf-8", newline="")
        self._csv = None
        if fmt == "csv":
            self._csv = csv.DictWriter(self._file, fieldnames=csv_columns(self.labels))
            self._csv.writeheader()
            self._file.flush()

    def write(self, result: ImageResult) -> None:
        if self._csv is not None:
            for row in result.csv_rows(self.labels):
                self._csv.writerow(row)
        elif self.fmt == "json" and self.path is None:
            self._file.write(("[\n" if self._count == 0 else ",\n") + json.dumps(result.to_dict()))
        else:
            self._file.write(json.dumps(result.to_dict()) + "\n")
        self._count += 1
        self._file.flush()

    def close(self) -> None:
        """Finish the file; for JSON, write the array and remove the partial file."""
        if self.path is None:
            if self.fmt == "json":
                self._file.write("[]\n" if self._count == 0 else "\n]\n")
            self._file.flush()
            return
        self._file.close()
        if self.fmt == "json":
            partial = self.path.with_name(self.path.name + ".partial.jsonl")
            items = [json.loads(line) for line in partial.read_text(encoding="utf-8").splitlines() if line]
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps(items, indent=1) + "\n", encoding="utf-8")
            os.replace(tmp, self.path)
            partial.unlink()

    def __enter__(self) -> "ResultWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
