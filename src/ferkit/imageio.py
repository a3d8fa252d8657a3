"""Reading images from anything a user may hand over, into RGB ``uint8`` arrays.

Paths, bytes, file objects, numpy arrays and PIL images are accepted. EXIF
orientation is honoured; grayscale, palette, RGBA, CMYK and 16-bit images are
converted; broken or oversized files raise :class:`ImageError` with a message
that says what is wrong.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".jfif",
                  ".pgm", ".ppm", ".pbm"}

# Anything larger is refused before it is decoded (a 30000x30000 PNG is 900 MP).
MAX_PIXELS = 120_000_000


class ImageError(ValueError):
    """An input that cannot be read as an image."""


def display_name(path: str | os.PathLike) -> str:
    """A printable, UTF-8-safe name for a path (undecodable bytes shown as escapes)."""
    name = os.fsdecode(path)
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def load_image(source, channel_order: str = "rgb", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An RGB ``uint8`` array ``(H, W, 3)`` from a path, bytes, file object, array or PIL image.

    ``channel_order`` tells how a numpy array's channels are ordered (``"rgb"``
    or ``"bgr"`` as OpenCV gives them); it is ignored for other inputs.
    """
    if isinstance(source, np.ndarray):
        return _from_array(source, channel_order)
    if isinstance(source, Image.Image):
        return _from_pil(source, max_pixels)
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageError("empty byte string")
        return _open(io.BytesIO(bytes(source)), "<bytes>", max_pixels)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = display_name(path)
        if not path.exists():
            raise ImageError(f"file not found: {name}")
        if path.is_dir():
            raise ImageError(f"is a directory, not an image: {name}")
        if path.stat().st_size == 0:
            raise ImageError(f"empty file (0 bytes): {name}")
        with open(path, "rb") as f:
            return _open(f, name, max_pixels)
    if hasattr(source, "read"):
        return _open(source, getattr(source, "name", "<stream>"), max_pixels)
    raise TypeError(f"cannot read an image from {type(source).__name__}; pass a path, bytes, "
                    "a file object, a numpy array or a PIL image")


def _open(fp, name: str, max_pixels: int) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(fp)
            w, h = img.size
            if w * h > max_pixels:
                raise ImageError(f"image too large: {w}x{h} = {w * h / 1e6:.0f} MP exceeds the "
                                 f"{max_pixels / 1e6:.0f} MP limit: {name}")
            return _from_pil(img, max_pixels)
    except ImageError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageError(f"image too large (decompression bomb guard): {name}: {e}") from None
    except UnidentifiedImageError:
        raise ImageError(f"not an image (unrecognised format): {name}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"corrupt or truncated image: {name}: {e}") from None


def _from_pil(img: Image.Image, max_pixels: int) -> np.ndarray:
    w, h = img.size
    if w * h > max_pixels:
        raise ImageError(f"image too large: {w}x{h} exceeds the {max_pixels / 1e6:.0f} MP limit")
    img.load()
    img = ImageOps.exif_transpose(img)
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img).astype(np.float64)
        top = 65535.0 if arr.max(initial=0) > 255 else 255.0
        gray = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        # Composite transparent pixels onto white rather than on black.
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, rgba)
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def _from_array(arr: np.ndarray, channel_order: str) -> np.ndarray:
    if channel_order not in ("rgb", "bgr"):
        raise ValueError(f"channel_order must be 'rgb' or 'bgr', not {channel_order!r}")
    if arr.size == 0:
        raise ImageError(f"empty array of shape {arr.shape}")
    if arr.dtype == np.uint16:
        arr = (arr / 257.0 + 0.5).astype(np.uint8)
    elif arr.dtype.kind == "f":
        arr = np.clip(arr * (255.0 if arr.max(initial=0) <= 1.0 else 1.0) + 0.5, 0, 255).astype(np.uint8)
    elif arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        return np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ImageError(f"expected an (H, W), (H, W, 3) or (H, W, 4) array, got shape {arr.shape}")
    if arr.shape[2] == 1:
        return np.repeat(arr, 3, axis=2)
    arr = arr[:, :, :3]
    if channel_order == "bgr":
        arr = arr[:, :, ::-1]
    return np.ascontiguousarray(arr)
