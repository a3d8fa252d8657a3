"""What keeps ``ferkit serve`` safe to expose: errors as JSON, types sniffed from bytes,
pixel limits read from headers, download names that cannot leave their folder,
the bearer token, and the security headers.

Every refusal is an :class:`ApiError` (or a :class:`~ferkit.errors.FerkitError`,
mapped by :func:`status_for`); the app turns either into a JSON body
``{"error": {"status": int, "code": str, "message": str}}``, never a traceback.
"""

from __future__ import annotations

import hmac
import io
import re
import warnings
from pathlib import Path

from ferkit.errors import FerkitError, InputError, ModelError, OutputError, UnknownNameError, UsageError

# --- errors ----------------------------------------------------------------------------------


class ApiError(Exception):
    """A request the server refuses: an HTTP ``status``, a short machine-readable
    ``code`` and a message for people. ``headers`` go on the response (``Retry-After``)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"status": self.status, "code": self.code, "message": self.message}}


class UnsupportedType(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(415, "unsupported_type", message)


class TooLarge(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(413, "too_large", message)


class Busy(ApiError):
    """The bounded queue is full: try again after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(503, "busy", message, {"Retry-After": str(max(1, int(retry_after)))})


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


# ferkit's error model, as HTTP: the client's fault is 4xx, the server's 5xx.
_STATUS = ((UnknownNameError, 400, "unknown_name"), (UsageError, 400, "bad_request"),
           (InputError, 422, "unreadable_input"), (ModelError, 500, "model_error"),
           (OutputError, 507, "storage_error"))


def status_for(error: FerkitError) -> tuple[int, str]:
    """``(HTTP status, code)`` for a :class:`~ferkit.errors.FerkitError`."""
    for kind, status, code in _STATUS:
        if isinstance(error, kind):
            return status, code
    return 500, "error"


def api_error(error: Exception) -> ApiError:
    """Any error as an :class:`ApiError`; an unexpected one says so without its details."""
    if isinstance(error, ApiError):
        return error
    if isinstance(error, FerkitError):
        return ApiError(*status_for(error), str(error))
    return ApiError(500, "internal_error", f"internal error ({type(error).__name__}); see the server log")


# --- content types, from the bytes ---------------------------------------------------------

# Image formats ferkit reads (ferkit.imageio), by their first bytes.
_IMAGE_MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"),
                (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"), (b"BM", "image/bmp"),
                (b"II*\x00", "image/tiff"), (b"MM\x00*", "image/tiff"))
_PNM = re.compile(rb"P[1-7]\s")

# Video containers, by their first bytes (ISO-BMFF is told from AVIF/HEIF images by its brands).
_MATROSKA = b"\x1a\x45\xdf\xa3"
SNIFF_BYTES = 64


def sniff_image(head: bytes) -> str | None:
    """The image type (``image/...``) the first bytes of a file show, or ``None``."""
    from ferkit.imageio import _container_brand

    for magic, kind in _IMAGE_MAGIC:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if _PNM.match(head[:3]):
        return "image/x-portable-anymap"
    brand = _container_brand(head)
    return f"image/{brand}" if brand else None


def sniff_video(head: bytes) -> str | None:
    """The video container (``video/...``) the first bytes of a file show, or ``None``."""
    from ferkit.imageio import _container_brand

    if head[4:8] == b"ftyp" and _container_brand(head) is None:
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    if head.startswith(_MATROSKA):
        return "video/webm" if b"webm" in head else "video/x-matroska"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head.startswith(b"OggS"):
        return "video/ogg"
    if head.startswith(b"\x00\x00\x01\xba") or head.startswith(b"\x00\x00\x01\xb3"):
        return "video/mpeg"
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "video/mp2t"
    if head.startswith(b"FLV"):
        return "video/x-flv"
    return None


def require_image(head: bytes, name: str) -> str:
    """The sniffed image type, else :class:`UnsupportedType` (the name and the
    declared content type are never trusted)."""
    if not head:
        raise ApiError(400, "empty", f"empty upload: {name}")
    kind = sniff_image(head)
    if kind is None:
        hint = " (a video: POST it to /v1/videos)" if sniff_video(head) else ""
        raise UnsupportedType(f"not an image ferkit reads{hint}: {name}")
    return kind


def require_video(head: bytes, name: str) -> str:
    if not head:
        raise ApiError(400, "empty", f"empty upload: {name}")
    kind = sniff_video(head)
    if kind is None:
        hint = " (an image: POST it to /v1/analyze)" if sniff_image(head) else ""
        raise UnsupportedType(f"not a video container ferkit reads{hint}: {name}")
    return kind


def check_pixels(data: bytes, max_pixels: int, name: str) -> tuple[int, int]:
    """``(width, height)`` from the image's header, without decoding its pixels;
    an image larger than ``max_pixels`` (a decompression bomb) is :class:`TooLarge`."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as img:   # reads the header only
                width, height = img.size
        except Image.DecompressionBombError:
            raise TooLarge(f"image too large: more pixels than the {max_pixels}-pixel limit: {name}") from None
        except Exception:   # unreadable header: load_image says what is wrong
            return 0, 0
    if width * height > max_pixels:
        raise TooLarge(f"image too large: {width}x{height} = {width * height} pixels exceeds the "
                       f"{max_pixels}-pixel limit: {name}")
    return width, height


# --- names -------------------------------------------------------------------------------------

JOB_ID = re.compile(r"[0-9a-f]{32}")
# The files a video job writes (ferkit.video.pipeline.OUTPUT_FILES and the timelines).
DOWNLOAD_NAME = re.compile(r"(frames\.csv|tracks\.json|tracks\.csv|annotated\.mp4|overview\.png|timeline_[0-9]{1,9}\.png)")


def safe_child(folder: Path, name: str) -> Path:
    """``folder / name`` for a name a job may serve, never anything outside ``folder``:
    the name must be one of the job's output names (no separators, no ``..``, no
    encoded or absolute forms), and the file a regular file (not a link) inside it."""
    if not DOWNLOAD_NAME.fullmatch(name or ""):
        raise not_found(f"file {name!r}")
    path = folder / name
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise not_found(f"file {name!r}") from None
    if path.is_symlink() or not path.is_file() or resolved.parent != folder.resolve():
        raise not_found(f"file {name!r}")
    return resolved


def client_name(name: str | None, default: str = "upload") -> str:
    """A file name from a client, for display only: its last path component,
    printable, at most 200 characters."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip()[:200]
    return name if name not in ("", ".", "..") else default


# --- the token -------------------------------------------------------------------------------

TOKEN_COOKIE = "ferkit_token"


def token_matches(given: str | None, token: str) -> bool:
    """Whether ``given`` is the token, in time that does not depend on where they differ."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode("utf-8"))


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


# --- headers -------------------------------------------------------------------------------------

# No inline script or style anywhere: the page's code is in /static/app.js and style.css;
# the survey's in its own files under /survey. Images may be blob:/data: (uploads shown
# before they are sent, annotated images); the socket is same-origin.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
       "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")

SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
}
