"""Uploads: request bodies streamed into the server's private temporary folder, under a quota.

Nothing a client sends is kept in memory beyond a chunk: raw bodies and each file
of a ``multipart/form-data`` body go straight to files in a folder of their own
(mode 0700) inside one private folder, charged to the quota as they arrive
(``507`` beyond it). The client's file names are kept for display only; files
are named by the server. A body that stays silent for the request timeout is
refused (``408``), malformed multipart with ``400``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from ferkit.serve.security import SNIFF_BYTES, ApiError, TooLarge, client_name

log = logging.getLogger(__name__)

MAX_FIELDS = 16          # non-file parts of a multipart body (ignored, but bounded)
MAX_FIELD_BYTES = 4096
MAX_HEADER_BYTES = 8192  # of one part's headers


class Storage:
    """The private folder (``ferkit-serve-*``, mode 0700) and its byte quota.

    Each upload or job gets a sub-folder from :meth:`folder`; bytes written into it
    are :meth:`charge` d as they arrive, :meth:`settle` sets a folder's charge to what
    it holds on disk (after a job wrote its outputs), :meth:`remove` deletes it and
    frees its charge.
    """

    def __init__(self, quota_bytes: int, parent: Path | None = None) -> None:
        self.quota = quota_bytes
        self.root = Path(tempfile.mkdtemp(prefix="ferkit-serve-", dir=parent))
        os.chmod(self.root, 0o700)
        self._charges: dict[Path, int] = {}
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        with self._lock:
            return sum(self._charges.values())

    def folder(self, prefix: str, name: str | None = None) -> Path:
        path = self.root / name if name else Path(tempfile.mkdtemp(prefix=prefix, dir=self.root))
        path.mkdir(mode=0o700, exist_ok=True)
        with self._lock:
            self._charges.setdefault(path, 0)
        return path

    def charge(self, folder: Path, n: int) -> None:
        with self._lock:
            if sum(self._charges.values()) + n > self.quota:
                raise ApiError(507, "quota_exceeded", "the server's upload space is full; "
                               "try again when running jobs have ended or been deleted")
            self._charges[folder] = self._charges.get(folder, 0) + n

    def settle(self, folder: Path) -> None:
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0
        with self._lock:
            if folder in self._charges:
                self._charges[folder] = size

    def remove(self, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        with self._lock:
            self._charges.pop(folder, None)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        with self._lock:
            self._charges.clear()


@dataclass
class Upload:
    """One uploaded file: the client's ``name`` (display only), where it is, its size and first bytes."""

    name: str
    path: Path
    size: int = 0
    head: bytes = b""

    def read(self) -> bytes:
        return self.path.read_bytes()


class _Sink:
    """Writes uploaded files into ``folder``, charging the quota and counting files."""

    def __init__(self, storage: Storage, folder: Path, max_files: int) -> None:
        self.storage = storage
        self.folder = folder
        self.max_files = max_files
        self.uploads: list[Upload] = []
        self._file = None

    def open(self, name: str) -> None:
        if len(self.uploads) >= self.max_files:
            raise TooLarge(f"too many files in one request (at most {self.max_files})")
        upload = Upload(name, self.folder / f"upload-{len(self.uploads):04d}")
        self._file = open(upload.path, "xb")
        self.uploads.append(upload)

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.storage.charge(self.folder, len(data))
        upload = self.uploads[-1]
        if len(upload.head) < SNIFF_BYTES * 4:
            upload.head += data[:SNIFF_BYTES * 4 - len(upload.head)]
        upload.size += len(data)
        self._file.write(data)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


async def _chunks(request, idle_timeout: float):
    """The request body's chunks; a client silent for ``idle_timeout`` seconds gets ``408``."""
    stream = request.stream().__aiter__()
    while True:
        try:
            chunk = await asyncio.wait_for(stream.__anext__(), idle_timeout)
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError:
            raise ApiError(408, "upload_timeout", f"the upload stalled for {idle_timeout:g} s") from None
        if chunk:
            yield chunk


async def receive_files(request, storage: Storage, folder: Path, *, max_files: int,
                        idle_timeout: float, raw_name: str | None = None) -> list[Upload]:
    """The files of a request body, written into ``folder``: each file part of a
    multipart body, or the whole body as one file (named ``raw_name`` for display)."""
    sink = _Sink(storage, folder, max_files)
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.lower().startswith("multipart/form-data"):
            await _multipart(request, content_type, sink, idle_timeout)
        else:
            sink.open(client_name(raw_name))
            async for chunk in _chunks(request, idle_timeout):
                sink.write(chunk)
    finally:
        sink.close()
    if not sink.uploads:
        raise ApiError(400, "no_files", "the request holds no file: send the file as the body, "
                       "or as a file field of a multipart/form-data body")
    return sink.uploads


class _Part:
    def __init__(self) -> None:
        self.headers: dict[bytes, bytes] = {}
        self.header_bytes = 0
        self.field = b""
        self.is_file = False


async def _multipart(request, content_type: str, sink: _Sink, idle_timeout: float) -> None:
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(400, "bad_multipart", "multipart/form-data body without a boundary")
    state = {"part": _Part(), "name": b"", "value": b"", "fields": 0}

    def part_begin() -> None:
        state["part"] = _Part()

    def header_field(data, start, end) -> None:
        state["name"] += data[start:end]
        _count_header(end - start)

    def header_value(data, start, end) -> None:
        state["value"] += data[start:end]
        _count_header(end - start)

    def _count_header(n: int) -> None:
        part = state["part"]
        part.header_bytes += n
        if part.header_bytes > MAX_HEADER_BYTES:
            raise ApiError(400, "bad_multipart", "a multipart part's headers are too long")

    def header_end() -> None:
        state["part"].headers[state["name"].strip().lower()] = state["value"].strip()
        state["name"], state["value"] = b"", b""

    def headers_finished() -> None:
        part = state["part"]
        disposition, options = parse_options_header(part.headers.get(b"content-disposition", b""))
        if disposition != b"form-data" or b"name" not in options:
            raise ApiError(400, "bad_multipart", "a multipart part without a form-data name")
        if b"filename" in options:
            part.is_file = True
            sink.open(client_name(options[b"filename"].decode("utf-8", "replace")))
        else:
            state["fields"] += 1
            if state["fields"] > MAX_FIELDS:
                raise ApiError(400, "bad_multipart", f"more than {MAX_FIELDS} form fields")

    def part_data(data, start, end) -> None:
        part = state["part"]
        if part.is_file:
            sink.write(data[start:end])
        else:
            part.field += data[start:end]
            if len(part.field) > MAX_FIELD_BYTES:
                raise ApiError(400, "bad_multipart", f"a form field is longer than {MAX_FIELD_BYTES} bytes")

    def part_end() -> None:
        if state["part"].is_file:
            sink.close()

    callbacks = {"on_part_begin": part_begin, "on_header_field": header_field,
                 "on_header_value": header_value, "on_header_end": header_end,
                 "on_headers_finished": headers_finished, "on_part_data": part_data,
                 "on_part_end": part_end}
    parser = MultipartParser(boundary, callbacks)
    ended = False

    def on_end() -> None:
        nonlocal ended
        ended = True

    parser.callbacks["on_end"] = on_end
    try:
        async for chunk in _chunks(request, idle_timeout):
            parser.write(chunk)
        parser.finalize()
    except FormParserError as e:
        raise ApiError(400, "bad_multipart", f"malformed multipart/form-data body: {e}") from None
    if not ended:
        raise ApiError(400, "bad_multipart", "malformed multipart/form-data body: it ends before "
                       "its closing boundary")
