"""Pixel preprocessing of aligned crops, shared by inference and training.

The order is the model card's: colour (grayscale or RGB) → its ``preprocess`` mode
(none, histogram equalisation, CLAHE, LBP image, HOG image) → normalisation
``(pixel / 255 - mean) / std``.
"""

from __future__ import annotations

import cv2
import numpy as np

# Defined with the card, which reads without OpenCV.
from ferkit.card import PREPROCESS_MODES, check_preprocess

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


# Image transforms a model may be trained on (PREPROCESS_MODES, the card's ``input.preprocess``),
# applied to the grayscale crop before normalisation, identically in training and at inference.
HOG_CELL = 6          # px per HOG cell (8x8 cells on a 48 px crop)
HOG_BINS = 9          # unsigned orientations over 0-180 degrees


def lbp_image(gray: np.ndarray) -> np.ndarray:
    """8-neighbour, radius-1 local binary pattern codes (0-255) of a uint8 image; the
    border is replicated so the output keeps the input's size."""
    g = np.pad(gray, 1, mode="edge").astype(np.int16)
    h, w = gray.shape
    centre = g[1:h + 1, 1:w + 1]
    code = np.zeros((h, w), np.uint8)
    for bit, (dy, dx) in enumerate(((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1),
                                    (0, -1))):
        code |= (g[1 + dy:h + 1 + dy, 1 + dx:w + 1 + dx] >= centre).astype(np.uint8) << bit
    return code


def hog_image(gray: np.ndarray, cell: int = HOG_CELL, bins: int = HOG_BINS) -> np.ndarray:
    """A picture of the histogram of oriented gradients: in every ``cell`` x ``cell`` cell, a
    line through the centre per orientation bin, as bright as the square root of the bin's
    share of the image's strongest bin (the classic HOG visualisation, drawn with OpenCV)."""
    g = gray.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=1)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=1)
    mag, ang = cv2.cartToPolar(gx, gy, angleInDegrees=True)
    b = (np.mod(ang, 180.0) / (180.0 / bins)).astype(np.int32) % bins
    h, w = gray.shape
    ny, nx = h // cell, w // cell
    hist = np.zeros((ny, nx, bins), np.float32)
    cy, cx = np.divmod(np.arange(ny * cell * nx * cell), nx * cell)
    np.add.at(hist, (cy // cell, cx // cell, b[:ny * cell, :nx * cell].ravel()),
              mag[:ny * cell, :nx * cell].ravel())
    out = np.zeros((h, w), np.uint8)
    top = float(hist.max())
    if top <= 0:
        return out
    r = cell / 2.0
    for k in range(bins):
        theta = np.deg2rad(k * 180.0 / bins + 90.0)       # a line across the gradient: the edge
        dx, dy = r * np.cos(theta), r * np.sin(theta)
        for i in range(ny):
            for j in range(nx):
                v = int(round(255 * np.sqrt(hist[i, j, k] / top)))
                if v:
                    c = (j * cell + r - 0.5, i * cell + r - 0.5)
                    p0 = (int(round(c[0] - dx)), int(round(c[1] - dy)))
                    p1 = (int(round(c[0] + dx)), int(round(c[1] + dy)))
                    cv2.line(out, p0, p1, v, 1, lineType=cv2.LINE_AA)
    return out


def apply_preprocess(gray: np.ndarray, mode: str) -> np.ndarray:
    """One of :data:`PREPROCESS_MODES` applied to a uint8 grayscale crop."""
    if mode == "none":
        return gray
    if mode == "histeq":
        return cv2.equalizeHist(gray)
    if mode == "clahe":
        return _clahe().apply(gray)
    if mode == "lbp":
        return lbp_image(gray)
    if mode == "hog":
        return hog_image(gray)
    raise ValueError(f"unknown preprocess {mode!r}; known: {', '.join(PREPROCESS_MODES)}")


def preprocess_pixels(pixels: np.ndarray, mode: str) -> np.ndarray:
    """One of :data:`PREPROCESS_MODES` applied to a uint8 crop in the model's colour: ``(S, S)``
    grayscale (any mode) or ``(S, S, 3)`` RGB (``none`` or ``clahe``, on the L of Lab)."""
    if pixels.ndim == 2:
        return apply_preprocess(pixels, mode)
    check_preprocess(mode, pixels.shape[-1])
    return to_model_pixels(pixels, 3, clahe=True) if mode == "clahe" else pixels


def model_pixels(crop_rgb: np.ndarray, channels: int, mode: str = "none") -> np.ndarray:
    """One uint8 RGB crop to the model's colour, then its preprocessing mode: the pixels
    inference feeds the network (training applies the same :func:`preprocess_pixels`)."""
    return preprocess_pixels(to_model_pixels(crop_rgb, channels), mode)


def normalize(pixels: np.ndarray, mean: float, std: float) -> np.ndarray:
    """uint8 ``(N, S, S)`` or ``(N, S, S, 3)`` to float32 ``(N, C, S, S)`` network input."""
    x = pixels[:, None] if pixels.ndim == 3 else pixels.transpose(0, 3, 1, 2)
    return ((x.astype(np.float32) / 255.0 - mean) / std).astype(np.float32)
