"""Reading images from anything a user may hand over, into RGB ``uint8`` arrays.

Paths, bytes, file objects, numpy arrays and PIL images are accepted. EXIF
orientation is honoured; grayscale, palette, RGBA, CMYK and 16-bit images are
converted (transparent pixels are composited onto white); broken or oversized
files raise :class:`ImageError` with a message that says what is wrong.

Formats: everything the installed Pillow reads (JPEG, PNG, BMP, WebP, TIFF, GIF,
PNM, ...). AVIF is read by Pillow itself (its wheels decode AVIF from 11.3 on);
HEIC/HEIF needs the optional decoder plugin ``pillow-heif``
(``pip install 'ferkit[heif]'``), which is registered the first time a HEIF file
is read. Without it a HEIF file raises an :class:`ImageError` that says so.

Files with several frames (animated GIF, PNG, WebP; multi-page TIFF): the first
frame is analysed, as a viewer shows it. Only when that frame is fully
transparent (animations that fade in from nothing) is the first frame that shows
anything taken instead. A PIL image passed in is used at the frame it is at.

Paths that are not regular files (pipes, character or block devices such as
``/dev/zero``, sockets) are refused from their ``stat`` before anything is opened,
so a FIFO never blocks the reader.
"""

from __future__ import annotations

import io
import logging
import numbers
import os
import re
import stat
import threading
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError, features

from ferkit.errors import InputError, UsageError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".jfif",
                  ".pgm", ".ppm", ".pbm", ".avif", ".heic", ".heif"}

# Anything larger is refused before it is decoded (a 30000x30000 PNG is 900 MP).
MAX_PIXELS = 120_000_000

# How many frames of an animation are looked at for one that is not fully transparent.
_MAX_FRAMES_SEARCHED = 256

HEIF_INSTALL_HINT = "pip install 'ferkit[heif]'"


class ImageError(InputError):
    """An input that cannot be read as an image (a ``ValueError`` too)."""


def display_name(path: str | os.PathLike) -> str:
    """A printable, UTF-8-safe name for a path (undecodable bytes shown as escapes)."""
    name = os.fsdecode(path)
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


_FILE_KINDS = ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a directory"),
               (stat.S_ISFIFO, "a pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def file_kind(mode: int) -> str:
    """What a ``st_mode`` names, in words ("a regular file", "a pipe (FIFO)", ...)."""
    return next((words for is_kind, words in _FILE_KINDS if is_kind(mode)), "not a regular file")


def load_image(source, channel_order: str = "rgb", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An RGB ``uint8`` array ``(H, W, 3)`` from a path, bytes, file object, array or PIL image.

    ``channel_order`` tells how a numpy array's channels are ordered (``"rgb"``,
    or ``"bgr"`` as OpenCV gives them; either case); it is ignored for other
    inputs but always checked. Images of more than ``max_pixels`` pixels are
    refused before they are decoded. Of a file with several frames (animated
    GIF, multi-page TIFF, ...) the first frame is read; see the module docstring.

    Raises :class:`ImageError` for inputs that cannot be read,
    :class:`~ferkit.errors.UsageError` for a bad ``channel_order`` or
    ``max_pixels`` and ``TypeError`` for a source of an unsupported type.
    """
    order = _channel_order(channel_order)
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, numbers.Real) or not max_pixels >= 1:
        raise UsageError(f"max_pixels must be a positive number, not {max_pixels!r}")
    if isinstance(source, np.ndarray):
        return _from_array(source, order)
    if isinstance(source, Image.Image):
        return _from_pil(source, max_pixels, "<PIL image>")
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageError("empty byte string")
        return _open(io.BytesIO(bytes(source)), "<bytes>", max_pixels)
    if isinstance(source, (str, os.PathLike)):
        return _from_path(source, max_pixels)
    if hasattr(source, "read"):
        return _open(source, display_name(getattr(source, "name", "<stream>")), max_pixels)
    raise TypeError(f"cannot read an image from {_type_name(source)}; pass a path, bytes, "
                    "a file object, a numpy array or a PIL image")


def _type_name(obj) -> str:
    kind = type(obj)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _channel_order(channel_order) -> str:
    if isinstance(channel_order, str) and channel_order.lower() in ("rgb", "bgr"):
        return channel_order.lower()
    raise UsageError(f"channel_order must be 'rgb' or 'bgr', not {channel_order!r}")


def _from_path(source: str | os.PathLike, max_pixels: int) -> np.ndarray:
    name = display_name(source)
    try:
        st = os.stat(source)
    except FileNotFoundError:
        if os.path.lexists(source):
            raise ImageError(f"broken symbolic link: {name}") from None
        raise ImageError(f"file not found: {name}") from None
    except PermissionError:
        raise ImageError(f"permission denied: {name}") from None
    except (OSError, ValueError) as e:
        raise ImageError(f"cannot access {name}: {_reason(e)}") from None
    _require_regular(st.st_mode, name)
    if st.st_size == 0:
        raise ImageError(f"empty file (0 bytes): {name}")
    # Non-blocking, and checked again on the open descriptor: a path swapped for
    # a FIFO between stat and open must not hang the reader either.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(source, flags)
    except PermissionError:
        raise ImageError(f"permission denied: {name}") from None
    except OSError as e:
        raise ImageError(f"cannot open {name}: {_reason(e)}") from None
    with os.fdopen(fd, "rb") as f:
        _require_regular(os.fstat(fd).st_mode, name)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return _open(f, name, max_pixels)


def _require_regular(mode: int, name: str) -> None:
    if stat.S_ISDIR(mode):
        raise ImageError(f"is a directory, not an image: {name}")
    if not stat.S_ISREG(mode):
        raise ImageError(f"not a regular file: {name} is {file_kind(mode)}")


def _reason(e: Exception) -> str:
    return getattr(e, "strerror", None) or str(e)


# --- formats that need a plugin or a recent Pillow -------------------------------------------

_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs",
                b"mif1", b"msf1", b"mif2"}
_AVIF_BRANDS = {b"avif", b"avis"}
_heif_lock = threading.Lock()


def _container_brand(head: bytes) -> str | None:
    """``"avif"`` or ``"heif"`` for an ISO-BMFF image file's header, else ``None``."""
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    size = int.from_bytes(head[:4], "big")
    brands = {head[8:12]}
    end = min(size, len(head)) if size >= 16 else len(head)
    brands.update(head[i:i + 4] for i in range(16, end - 3, 4))
    if brands & _AVIF_BRANDS:
        return "avif"
    if brands & _HEIF_BRANDS:
        return "heif"
    return None


def _ensure_decoder(brand: str | None, name: str) -> None:
    """Make sure Pillow can decode an AVIF or HEIF file, or say what is missing."""
    if brand == "avif":
        if "AVIF" not in Image.OPEN and not _has_feature("avif"):
            import PIL

            raise ImageError(f"AVIF image, but this Pillow ({PIL.__version__}) was built without AVIF "
                             f"support; Pillow 11.3 or later reads it (pip install -U pillow): {name}")
    elif brand == "heif":
        with _heif_lock:
            Image.init()
            if "HEIF" in Image.OPEN:
                return
            try:
                import pillow_heif
            except ImportError:
                raise ImageError(f"HEIC/HEIF image: reading it needs the pillow-heif plugin, "
                                 f"{HEIF_INSTALL_HINT}: {name}") from None
            pillow_heif.register_heif_opener()
            logger.debug("registered the pillow-heif %s decoder", pillow_heif.__version__)


def _has_feature(feature: str) -> bool:
    try:
        return bool(features.check(feature))
    except (ValueError, KeyError):
        return False


# --- decoding ---------------------------------------------------------------------------------

_PILLOW_BOMB = re.compile(r"\((\d+) pixels\)")


def _open(fp, name: str, max_pixels: int) -> np.ndarray:
    if not _seekable(fp):
        fp = io.BytesIO(fp.read())
    try:
        start = fp.tell()
        head = fp.read(64)
        fp.seek(start)
    except (OSError, ValueError) as e:
        raise ImageError(f"cannot read {name}: {_reason(e)}") from None
    if not head:
        raise ImageError(f"empty file (0 bytes): {name}")
    _ensure_decoder(_container_brand(head), name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(fp)
            _check_size(img.size, max_pixels, name)
            return _first_frame(img, max_pixels, name)
    except ImageError:
        raise
    except Image.DecompressionBombError as e:
        # Pillow refuses sizes above twice its own limit at open time, before
        # ferkit sees the size; say it with ferkit's limit all the same.
        found = _PILLOW_BOMB.search(str(e))
        pixels = int(found.group(1)) if found else None
        if pixels is not None and pixels > max_pixels:
            raise ImageError(f"image too large: {pixels / 1e6:.0f} MP ({pixels} pixels) exceeds "
                             f"the {_mp(max_pixels)} limit: {name}") from None
        raise ImageError(f"image too large for Pillow's decompression-bomb limit "
                         f"(PIL.Image.MAX_IMAGE_PIXELS): {name}: {e}") from None
    except UnidentifiedImageError:
        raise ImageError(f"not an image (unrecognised format): {name}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"corrupt or truncated image: {name}: {e}") from None


def _seekable(fp) -> bool:
    try:
        return bool(fp.seekable()) if hasattr(fp, "seekable") else hasattr(fp, "seek")
    except (OSError, ValueError):
        return False


def _mp(pixels: int) -> str:
    return f"{pixels / 1e6:.0f} MP" if pixels >= 1_000_000 else f"{int(pixels)}-pixel"


def _check_size(size: tuple[int, int], max_pixels: int, name: str) -> None:
    w, h = size
    if w * h > max_pixels:
        raise ImageError(f"image too large: {w}x{h} = {w * h / 1e6:.0f} MP ({w * h} pixels) exceeds "
                         f"the {_mp(max_pixels)} limit: {name}")


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info


def _fully_transparent(img: Image.Image) -> bool:
    if not _has_alpha(img):
        return False
    _, hi = img.convert("RGBA").getchannel("A").getextrema()
    return hi == 0


def _first_frame(img: Image.Image, max_pixels: int, name: str) -> np.ndarray:
    """The first frame of ``img`` (or the first that shows anything, see the module docstring)."""
    animated = getattr(img, "is_animated", False)  # before load: asking may seek and rewind
    img.load()
    if not animated:
        return _from_pil(img, max_pixels, name)
    logger.debug("%s has several frames; reading the first", name)
    if _fully_transparent(img):
        for index in range(1, _MAX_FRAMES_SEARCHED):
            try:
                img.seek(index)
            except EOFError:
                break
            img.load()
            if not _fully_transparent(img):
                logger.debug("%s: frame 0 is fully transparent; reading frame %d", name, index)
                return _from_pil(img, max_pixels, name)
        img.seek(0)
        img.load()
    return _from_pil(img, max_pixels, name)


def _from_pil(img: Image.Image, max_pixels: int, name: str) -> np.ndarray:
    _check_size(img.size, max_pixels, name)
    img.load()
    img = ImageOps.exif_transpose(img)
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.nan_to_num(np.asarray(img).astype(np.float64))
        top = 65535.0 if arr.max(initial=0) > 255 else 255.0
        gray = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if _has_alpha(img):
        # Composite transparent pixels onto white rather than on black.
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, rgba)
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def _from_array(arr: np.ndarray, channel_order: str) -> np.ndarray:
    if arr.size == 0:
        raise ImageError(f"empty array of shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ImageError(f"unsupported array dtype {arr.dtype}; pass integers, floats or booleans")
    if arr.dtype == np.uint16:
        arr = (arr / 257.0 + 0.5).astype(np.uint8)
    elif arr.dtype.kind == "f":
        arr = np.nan_to_num(arr, nan=0.0, posinf=255.0, neginf=0.0)
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
