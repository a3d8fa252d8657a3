"""Face alignment: a similarity transform from 5 landmarks onto a canonical template.

Inference and training call the same :func:`align_face`, so a model sees faces
framed the way it was trained. Templates are five ``(x, y)`` points in a unit
square (right eye, left eye, nose tip, right and left mouth corner, image-left
first).
"""

from __future__ import annotations

import cv2
import numpy as np

# Mean landmark positions of FER2013 faces, measured by running the default
# detector on 1,500 upscaled FER2013 Training images (1,490 found) and
# mirroring about the vertical axis. Aligning to it frames a photo's face the
# way FER2013's 48x48 crops are framed.
FER2013_TEMPLATE = np.array([
    [15.5 / 48, 18.2 / 48],
    [32.5 / 48, 18.2 / 48],
    [24.0 / 48, 28.4 / 48],
    [17.1 / 48, 36.4 / 48],
    [30.9 / 48, 36.4 / 48],
], dtype=np.float64)

TEMPLATES: dict[str, np.ndarray] = {"fer2013": FER2013_TEMPLATE}


def get_template(name: str) -> np.ndarray:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise KeyError(f"unknown alignment template {name!r}; known: {', '.join(TEMPLATES)}") from None


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 least-squares similarity (rotation, uniform scale, translation) mapping src to dst."""
    m, _ = cv2.estimateAffinePartial2D(src.astype(np.float32), dst.astype(np.float32),
                                       method=cv2.LMEDS)
    if m is None:  # degenerate points (all equal): fall back to a pure translation
        m = np.array([[1, 0, 0], [0, 1, 0]], np.float64)
        m[:, 2] = dst.mean(0) - src.mean(0)
    return m


def template_points(size: int, template: str = "fer2013", margin: float = 0.0) -> np.ndarray:
    """Template landmarks in pixels of a ``size``x``size`` crop, shrunk by ``margin``.

    ``margin`` adds that fraction of the crop as border on each side (0.1 shows
    10% more context around the template framing).
    """
    pts = get_template(template)
    scale = 1.0 / (1.0 + 2.0 * margin)
    return ((pts - 0.5) * scale + 0.5) * size


def box_to_landmarks(box, template: str = "fer2013") -> np.ndarray:
    """Landmarks implied by a face box, for faces whose detector gave none.

    Places the template inside the box as the default detector's boxes sit on
    FER2013 faces (box ~ 0.79 x 1.03 of the crop, centred horizontally).
    """
    x, y, w, h = box
    side = max(w / 0.79, h / 1.03)
    cx, cy = x + w / 2, y + h / 2 - 0.01 * side
    return (get_template(template) - 0.5) * side + [cx, cy]


def align_face(image: np.ndarray, landmarks: np.ndarray | None, size: int,
               box=None, template: str = "fer2013", margin: float = 0.0) -> np.ndarray:
    """Warp the face to a ``size``x``size`` crop framed by ``template``.

    ``image`` is ``(H, W)`` or ``(H, W, C)`` uint8; the crop keeps its channels.
    Without landmarks the box is used (see :func:`box_to_landmarks`).
    """
    if landmarks is None:
        if box is None:
            raise ValueError("align_face needs landmarks or a box")
        landmarks = box_to_landmarks(box, template)
    src = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    m = similarity_transform(src, template_points(size, template, margin))
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    if scale < 0.75:
        # Shrink only the face's region with area averaging first: warping a
        # large face straight down to 48 px would alias.
        image, m = _prescale_region(image, m, size, scale)
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def _prescale_region(image: np.ndarray, m: np.ndarray, size: int, scale: float):
    inv = cv2.invertAffineTransform(m)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64)
    src = corners @ inv.T
    h, w = image.shape[:2]
    x0, y0 = np.floor(src.min(0)).astype(int) - 2
    x1, y1 = np.ceil(src.max(0)).astype(int) + 2
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return image, m
    roi = image[y0:y1, x0:x1]
    f = scale
    rw, rh = max(int(round(roi.shape[1] * f)), 1), max(int(round(roi.shape[0] * f)), 1)
    roi = cv2.resize(roi, (rw, rh), interpolation=cv2.INTER_AREA)
    fx, fy = rw / (x1 - x0), rh / (y1 - y0)
    a = m[:, :2]
    m2 = np.empty((2, 3))
    m2[:, 0] = a[:, 0] / fx
    m2[:, 1] = a[:, 1] / fy
    m2[:, 2] = a @ np.array([x0, y0], np.float64) + m[:, 2]
    return roi, m2
