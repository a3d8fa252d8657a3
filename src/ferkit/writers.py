"""Writing results durably: result files, output folders and images.

Each result is written and flushed as soon as it exists, so an interrupted batch
keeps everything already analysed, and every file stays line-complete: a write
that fails (disk full) is cut back to the last whole line before the error is
raised. JSON (one array) is streamed to ``<out>.partial.jsonl`` and turned into
the final file only when the batch ends; after an interruption the partial file
holds every finished image. Output places are checked before any work starts,
and a file another ferkit run is writing is refused (an exclusive lock).

Every problem raises :class:`~ferkit.errors.OutputError`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import sys
import tempfile
from pathlib import Path

import numpy as np

from ferkit.errors import OutputError, UnknownNameError
from ferkit.imageio import display_name
from ferkit.results import FACES_CSV, ImageResult

FORMATS = ("jsonl", "json", "csv")

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; concurrent runs are not detected
    fcntl = None


def _why(error: OSError) -> str:
    return error.strerror or str(error)


class LineFile:
    """A file written in whole lines: each :meth:`write` lands completely or not at all.

    The file is locked for this process (another ferkit run opening it fails),
    truncated, and written with unbuffered system calls. Special files
    (``/dev/stdout``, a FIFO) are written as they are, without lock or truncation.
    """

    def __init__(self, path: str | os.PathLike, append: bool = False) -> None:
        self.path = Path(path)
        name = display_name(self.path)
        flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        try:
            self._fd = os.open(self.path, flags, 0o666)
        except OSError as e:
            raise OutputError(f"cannot write {name}: {_why(e)}") from None
        self.regular = stat.S_ISREG(os.fstat(self._fd).st_mode)
        if self.regular:
            if fcntl is not None:
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(self._fd)
                    raise OutputError(f"{name} is being written by another ferkit run; "
                                      "wait for it or choose another output") from None
            if append:
                os.lseek(self._fd, 0, os.SEEK_END)
            else:
                os.ftruncate(self._fd, 0)

    def write(self, text: str) -> None:
        data = text.encode("utf-8")
        start = os.lseek(self._fd, 0, os.SEEK_CUR) if self.regular else None
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as e:
            if start is not None:  # keep the file line-complete
                os.ftruncate(self._fd, start)
                os.lseek(self._fd, start, os.SEEK_SET)
            raise OutputError(f"writing {display_name(self.path)} failed: {_why(e)}; "
                              "what was written before is complete", during_run=True) from None

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # releases the lock
            self._fd = -1


class ResultWriter:
    """Appends :class:`ImageResult` objects to a file (or stdout when ``path`` is None).

    ``fmt`` is ``jsonl`` (one object per line), ``json`` (one array) or ``csv``
    (:data:`~ferkit.results.FACES_CSV`, one row per face). The output place is
    checked, and the file opened and locked, when the writer is created.
    """

    def __init__(self, path: str | os.PathLike | None, fmt: str, labels: list[str]) -> None:
        if fmt not in FORMATS:
            raise UnknownNameError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        self.fmt, self.labels = fmt, list(labels)
        self.path = Path(path) if path is not None else None
        self._count = 0
        self._file: LineFile | None = None
        if self.path is not None:
            check_output_file(self.path)
            if fmt == "json" and _is_special(self.path):
                raise OutputError(f"--format json needs a regular file, and "
                                  f"{display_name(self.path)} is not one; use jsonl or csv")
            self._file = LineFile(self.partial_path if fmt == "json" else self.path)
        if fmt == "csv":
            self._emit(csv_lines([FACES_CSV.columns(self.labels)]))

    @property
    def partial_path(self) -> Path:
        return self.path.with_name(self.path.name + ".partial.jsonl")

    def _emit(self, text: str) -> None:
        if self._file is None:
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            self._file.write(text)

    def write(self, result: ImageResult) -> None:
        if self.fmt == "csv":
            text = csv_lines(FACES_CSV.rows(result, self.labels))
        elif self.fmt == "json" and self._file is None:
            text = ("[\n" if self._count == 0 else ",\n") + _json(result)
        else:
            text = _json(result) + "\n"
        self._emit(text)
        self._count += 1

    def close(self) -> None:
        """Finish the file; for JSON, write the array and remove the partial file."""
        if self._file is None:
            if self.fmt == "json":
                self._emit("[]\n" if self._count == 0 else "\n]\n")
            return
        self._file.close()
        if self.fmt == "json":
            partial = self.partial_path
            items = [json.loads(line) for line in partial.read_text(encoding="utf-8").splitlines() if line]
            write_text_atomic(self.path, json.dumps(items, indent=1, allow_nan=False) + "\n")
            partial.unlink()

    def __enter__(self) -> "ResultWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and self._file is not None:
            self._file.close()   # a failed or interrupted run keeps its partial file as it is
            return
        self.close()


def _json(result: ImageResult) -> str:
    return json.dumps(result.to_dict(), allow_nan=False)


def csv_lines(rows: list[list[str]]) -> str:
    """CSV text of ``rows``, to be written in one piece (so a file keeps whole lines)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


def _is_special(path: Path) -> bool:
    try:
        return not stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def check_output_file(path: str | os.PathLike) -> Path:
    """Make sure results can be written to ``path`` (creating its folders): it must not
    be a folder, and its parent must be a writable folder. Raises :class:`OutputError`."""
    path = Path(path)
    name = display_name(path)
    if path.is_dir():
        raise OutputError(f"{name} is a folder; give a file name for the results")
    prepare_folder(path.parent, f"the folder of {name}", probe=not path.exists())
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"cannot write {name}: permission denied")
    return path


def prepare_folder(folder: str | os.PathLike, what: str | None = None, probe: bool = True) -> Path:
    """Create ``folder`` if needed and check that files can be created in it
    (``probe``: by creating and removing one). Raises :class:`OutputError`."""
    folder = Path(folder)
    what = what or display_name(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"{what}: {display_name(folder)} exists and is not a folder") from None
    except OSError as e:
        raise OutputError(f"cannot create {what}: {display_name(folder)}: {_why(e)}") from None
    if not folder.is_dir():
        raise OutputError(f"{what}: {display_name(folder)} exists and is not a folder")
    if probe:
        try:
            with tempfile.TemporaryFile(dir=folder, prefix=".ferkit-probe-"):
                pass
        except OSError as e:
            raise OutputError(f"cannot write in {what}: {display_name(folder)}: {_why(e)}") from None
    return folder


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, so ``path`` is whole or absent."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"writing {display_name(path)} failed: {_why(e)}", during_run=True) from None


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_image(path: str | os.PathLike, rgb: np.ndarray, quality: int = 92) -> None:
    """Save an RGB image (format from the suffix); failures raise :class:`OutputError`."""
    import cv2

    path = Path(path)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix.lower() in (".jpg", ".jpeg") else []
    ok, encoded = cv2.imencode(path.suffix or ".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise OutputError(f"cannot encode {display_name(path)}", during_run=True)
    write_bytes_atomic(path, encoded.tobytes())


__all__ = ["FORMATS", "LineFile", "csv_lines", "ResultWriter", "check_output_file",
           "prepare_folder", "write_bytes_atomic", "write_image", "write_text_atomic"]
