"""Real and deliberately broken image files for tests, written into a folder."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data


def astronaut() -> np.ndarray:
    return data.astronaut()


def jpeg_bytes(rgb: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=92, **kw)
    return buf.getvalue()


def bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG file that claims to be ``width`` x ``height`` (a decompression bomb)."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def write_bad_files(folder: Path) -> dict[str, Path]:
    """One file of each kind of bad input; returns kind -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    good = jpeg_bytes(astronaut())
    files = {
        "zero_bytes": folder / "empty.jpg",
        "truncated": folder / "truncated.jpg",
        "not_an_image": folder / "notes.jpg",
        "bomb": folder / "bomb.png",
    }
    files["zero_bytes"].write_bytes(b"")
    files["truncated"].write_bytes(good[: len(good) // 3])
    files["not_an_image"].write_text("this is a text file, not a picture\n")
    files["bomb"].write_bytes(bomb_png())
    return files


def write_non_utf8_named_copy(folder: Path, payload: bytes) -> Path:
    """A file whose name is not valid UTF-8 (Latin-1 'é')."""
    raw = os.fsencode(folder) + b"/caf\xe9_photo.jpg"
    with open(raw, "wb") as f:
        f.write(payload)
    return Path(os.fsdecode(raw))


def animated_gif(frames: list[Image.Image], **kw) -> bytes:
    """An animated GIF of ``frames`` (PIL images), 100 ms each."""
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0, **kw)
    return buf.getvalue()


def multipage_tiff(pages: list[Image.Image]) -> bytes:
    buf = io.BytesIO()
    pages[0].save(buf, "TIFF", save_all=True, append_images=pages[1:])
    return buf.getvalue()


NOBODY = 65534


def world_readable_tmpdir() -> Path:
    """A fresh folder under the system temp dir that an unprivileged user can enter."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="ferkit-test-"))
    folder.chmod(0o755)
    return folder


def run_unprivileged(fn, *args):
    """``fn(*args)`` as it runs for a user without root's right to read anything.

    Not root: called here. Root (where ``chmod 000`` blocks nothing): called in a
    forked child that has switched to user ``nobody``; the result, which must be
    JSON-serialisable, comes back through a pipe. Paths ``fn`` touches must be
    reachable by ``nobody`` (see :func:`world_readable_tmpdir`).
    """
    import json

    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return fn(*args)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 0
        try:
            os.close(read_end)
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
            payload = {"result": fn(*args)}
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            payload = {"error": f"{type(e).__name__}: {e}"}
            status = 1
        try:
            with os.fdopen(write_end, "w") as out:
                json.dump(payload, out)
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end) as inp:
        text = inp.read()
    os.waitpid(pid, 0)
    payload = json.loads(text)
    if "error" in payload:
        raise AssertionError(f"unprivileged child failed: {payload['error']}")
    return payload["result"]
