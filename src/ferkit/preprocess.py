"""Pixel preprocessing of aligned crops, shared by inference and training.

The order is the model card's: colour (grayscale or RGB) → optional CLAHE →
normalisation ``(pixel / 255 - mean) / std``.
"""

from __future__ import annotations

import cv2
import numpy as np

CLAHE_CLIP_LIMIT = 2.0
CLAHE_TILES = (4, 4)


def _clahe():
    return cv2.createCLAHE(clipLimit=CLAHE_CLIP_LIMIT, tileGridSize=CLAHE_TILES)


def to_model_pixels(crop_rgb: np.ndarray, channels: int, clahe: bool = False) -> np.ndarray:
    """One uint8 RGB crop ``(S, S, 3)`` to ``(S, S)`` grayscale or ``(S, S, 3)`` RGB, CLAHE'd if asked."""
    if channels == 1:
        out = cv2.cvtColor(crop_rgb, cv2.COLOR_RGB2GRAY)
        return _clahe().apply(out) if clahe else out
    if channels != 3:
        raise ValueError(f"channels must be 1 or 3, not {channels}")
    if not clahe:
        return crop_rgb
    lab = cv2.cvtColor(crop_rgb, cv2.COLOR_RGB2LAB)
    lab[:, :, 0] = _clahe().apply(lab[:, :, 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def normalize(pixels: np.ndarray, mean: float, std: float) -> np.ndarray:
    """uint8 ``(N, S, S)`` or ``(N, S, S, 3)`` to float32 ``(N, C, S, S)`` network input."""
    x = pixels[:, None] if pixels.ndim == 3 else pixels.transpose(0, 3, 1, 2)
    return ((x.astype(np.float32) / 255.0 - mean) / std).astype(np.float32)
