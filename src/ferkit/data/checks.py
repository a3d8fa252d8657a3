"""Measurements ``ferkit data clean`` decides by: sharpness, head yaw, covered eyes,
perceptual hashes and text in the picture.

Each function measures; :class:`~ferkit.data.config.CleanConfig` holds the
thresholds that turn a measurement into a reason (see ``docs/data.md`` for how
they were measured).
"""

from __future__ import annotations

import logging
import math

import numpy as np

log = logging.getLogger(__name__)

#: How far the nose tip sits in front of the eyes, in half eye distances, for
#: the yaw estimate (an average adult head: ~20 mm depth over ~32 mm).
NOSE_DEPTH = 0.97

OCR_INSTALL_HINT = "pip install 'ferkit[ocr]'"


def gray(image: np.ndarray) -> np.ndarray:
    import cv2

    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian of an aligned face crop (higher = sharper).

    Measured on the crop, not the photo, so a face's sharpness does not depend
    on how large the photo is; a small face upscaled to the crop size is blurred too.
    """
    import cv2

    return float(cv2.Laplacian(gray(crop), cv2.CV_64F).var())


def estimate_yaw(landmarks) -> float | None:
    """Head yaw in degrees (0 = frontal, sign = turned towards image right) from the
    five landmarks (eyes, nose, mouth corners), or ``None`` without landmarks.

    The nose tip's offset from the face's midline, along the eye line, is
    ``depth * sin(yaw)`` while the half eye distance shrinks as ``cos(yaw)``,
    so ``yaw = atan(offset / (half eye distance * NOSE_DEPTH))``.
    """
    if landmarks is None:
        return None
    p = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    eyes = p[1] - p[0]
    half = np.linalg.norm(eyes) / 2
    if half < 1e-6:
        return 90.0
    axis = eyes / (2 * half)
    mid = (p[0] + p[1] + p[3] + p[4]) / 4
    offset = float(np.dot(p[2] - mid, axis))
    return math.degrees(math.atan2(offset, half * NOSE_DEPTH))


def eye_darkness(crop: np.ndarray, eye_points: np.ndarray) -> float:
    """Mean brightness of the eye regions over that of the face below them (cheeks
    and nose), in an aligned crop whose template eyes are ``eye_points``.

    Sunglasses and hands over the eyes make it small; an open eye in shade stays
    near 1 because the cheeks darken with it.
    """
    g = gray(crop).astype(np.float64)
    size = g.shape[0]
    r = max(int(round(np.linalg.norm(eye_points[1] - eye_points[0]) * 0.28)), 1)

    def patch(cx, cy):
        x0, y0 = int(round(cx - r)), int(round(cy - r * 0.7))
        x1, y1 = int(round(cx + r)), int(round(cy + r * 0.7))
        return g[max(y0, 0):min(y1, size), max(x0, 0):min(x1, size)]

    eyes = np.concatenate([patch(x, y).ravel() for x, y in eye_points])
    drop = np.linalg.norm(eye_points[1] - eye_points[0]) * 0.7
    cheeks = np.concatenate([patch(x, y + drop).ravel() for x, y in eye_points])
    if not eyes.size or not cheeks.size:
        return 1.0
    return float(eyes.mean() / max(cheeks.mean(), 1.0))


def perceptual_hash(image: np.ndarray) -> int:
    """64-bit DCT hash (pHash) of an image: 32x32 grey, the 8x8 lowest frequencies
    without the DC term compared with their median."""
    import cv2

    small = cv2.resize(gray(image), (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:8, :8].ravel()
    bits = low > np.median(low[1:])
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def hash_distance(a: int, b: int) -> int:
    """Hamming distance of two 64-bit hashes."""
    return (int(a) ^ int(b)).bit_count()


def hash_hex(h: int) -> str:
    return f"{int(h):016x}"


def parse_hash(text: str) -> int:
    return int(text, 16)


class TextFinder:
    """Text in a picture, found by OCR (``rapidocr-onnxruntime``, optional extra ``ocr``).

    ``available`` is False (and :meth:`find` returns ``None``) when the package is
    missing; the caller says so once. The picture is scaled to ``max_side`` first:
    OCR of a 2000-pixel photo takes ten times longer and finds the same banners.
    """

    def __init__(self, max_side: int = 960) -> None:
        self.max_side = max_side
        self._engine = None
        try:
            from importlib.util import find_spec

            self.available = find_spec("rapidocr_onnxruntime") is not None
        except (ImportError, ValueError):
            self.available = False

    def _load(self):
        if self._engine is None:
            # rapidocr logs every call at INFO through its own handler; keep it quiet.
            from rapidocr_onnxruntime import RapidOCR

            self._engine = RapidOCR()
            for name in ("RapidOCR", "rapidocr_onnxruntime"):
                logging.getLogger(name).setLevel(logging.WARNING)
        return self._engine

    def find(self, rgb: np.ndarray) -> list[tuple[str, float]] | None:
        """``(text, confidence)`` of every line OCR reads, or ``None`` without OCR."""
        if not self.available:
            return None
        import cv2

        h, w = rgb.shape[:2]
        scale = self.max_side / max(h, w)
        if scale < 1:
            rgb = cv2.resize(rgb, (max(round(w * scale), 1), max(round(h * scale), 1)),
                             interpolation=cv2.INTER_AREA)
        result, _ = self._load()(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), use_cls=False)
        return [(str(r[1]), float(r[2])) for r in (result or [])]


def text_lines(found: list[tuple[str, float]], min_confidence: float, min_chars: int) -> list[str]:
    """The lines that count as text: read with ``min_confidence`` and at least
    ``min_chars`` letters or digits (OCR reads 2-character noise in textures)."""
    return [t for t, c in found
            if c >= min_confidence and sum(ch.isalnum() for ch in t) >= min_chars]
