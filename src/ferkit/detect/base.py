"""The detector interface every backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ferkit.detect._frame import as_rgb, detection_size, resize, to_faces
from ferkit.results import Detection

DEFAULT_DETECTOR = "retinaface"
# Faces whose box has a side shorter than this many pixels are ignored by default.
MIN_FACE_SIZE = 16


class Detector(ABC):
    """Finds faces in an RGB ``uint8`` image ``(H, W, 3)``.

    Returns :class:`~ferkit.results.Detection` s with ``box``, ``score`` and
    ``landmarks`` (five points, or ``None`` when the backend has none) in the
    input image's pixel coordinates, sorted by score, highest first.
    """

    name: str = "base"
    gives_landmarks: bool = True

    def __init__(self, score_threshold: float = 0.6, min_face_size: int = MIN_FACE_SIZE,
                 max_side: int | None = 1280, upscale_to: int | None = None) -> None:
        self.score_threshold = score_threshold
        self.min_face_size = min_face_size
        self.max_side = max_side
        self.upscale_to = upscale_to

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in an RGB, RGBA or grayscale ``uint8`` image, highest score first."""
        rgb = as_rgb(image)
        height, width = rgb.shape[:2]
        if min(height, width) < max(self.min_face_size, 1):
            return []
        size = detection_size(width, height, self.max_side, self.upscale_to)
        boxes, scores, landmarks = self._detect_scaled(resize(rgb, size))
        return to_faces(boxes, scores, landmarks, size[0] / width, size[1] / height,
                        width, height, self.min_face_size)

    @abstractmethod
    def _detect_scaled(self, rgb: np.ndarray):
        """Detections on the rescaled image: boxes ``(K, 4)`` xywh, scores ``(K,)``
        at or above the threshold, landmarks ``(K, 5, 2)`` or ``None``, all in its pixels."""
