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
