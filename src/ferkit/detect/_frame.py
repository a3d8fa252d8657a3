"""Input handling shared by the detector backends: channel conversion, the
detection scale, and mapping boxes back to the caller's pixels."""

from __future__ import annotations

import cv2
import numpy as np

from ferkit.results import Detection


def as_rgb(image: np.ndarray) -> np.ndarray:
    """A contiguous RGB ``uint8`` view or copy of an RGB, RGBA or grayscale image."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image, got dtype {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        if image.size == 0:
            return np.empty((*image.shape, 3), np.uint8)
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return np.ascontiguousarray(image[:, :, :3])
    if image.ndim == 3 and image.shape[2] == 3:
        return np.ascontiguousarray(image)
    raise ValueError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {image.shape}")


def detection_size(width: int, height: int, max_side: int | None,
                   upscale_to: int | None) -> tuple[int, int]:
    """``(w, h)`` to run detection at: longer side shrunk to ``max_side`` or,
    for images smaller than ``upscale_to``, enlarged to it."""
    longer = max(width, height)
    if max_side and longer > max_side:
        scale = max_side / longer
    elif upscale_to and longer < upscale_to:
        scale = upscale_to / longer
    else:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` at ``size`` = ``(w, h)``: area averaging down, bilinear up."""
    h, w = image.shape[:2]
    if (w, h) == size:
        return image
    shrink = size[0] * size[1] < w * h
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def to_faces(boxes: np.ndarray, scores: np.ndarray, landmarks: np.ndarray | None,
             scale_x: float, scale_y: float, width: int, height: int,
             min_face_size: float) -> list[Detection]:
    """Detections in original pixels from those made on a rescaled image.

    ``boxes`` are ``(N, 4)`` ``x, y, w, h`` and ``landmarks`` ``(N, 5, 2)`` in
    detection pixels; ``scale_*`` = detection size / original size. Boxes are
    clipped to the image, faces whose clipped box has a side shorter than
    ``min_face_size`` are dropped, the rest sorted by score, highest first.
    """
    if len(scores) == 0:
        return []
    x0 = np.clip(boxes[:, 0] / scale_x, 0, width)
    y0 = np.clip(boxes[:, 1] / scale_y, 0, height)
    x1 = np.clip((boxes[:, 0] + boxes[:, 2]) / scale_x, 0, width)
    y1 = np.clip((boxes[:, 1] + boxes[:, 3]) / scale_y, 0, height)
    if landmarks is not None:
        landmarks = landmarks / np.array([scale_x, scale_y])
    faces = []
    for i in np.argsort(-scores, kind="stable"):
        w, h = x1[i] - x0[i], y1[i] - y0[i]
        if w <= 0 or h <= 0 or min(w, h) < min_face_size:
            continue
        faces.append(Detection(box=(float(x0[i]), float(y0[i]), float(w), float(h)),
                               score=float(scores[i]),
                               landmarks=None if landmarks is None else landmarks[i].astype(np.float64)))
    return faces
