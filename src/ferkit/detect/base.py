"""The detector interface every backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ferkit.results import Face


class Detector(ABC):
    """Finds faces in an RGB ``uint8`` image ``(H, W, 3)``.

    Returns :class:`~ferkit.results.Face` objects with ``box``, ``score`` and
    ``landmarks`` (five points, or ``None`` when the backend has none) in the
    input image's pixel coordinates, sorted by score, highest first. ``label``
    and ``probabilities`` are left empty for the classifier.
    """

    name: str = "base"
    gives_landmarks: bool = True

    def __init__(self, score_threshold: float = 0.6, min_face_size: int = 16,
                 max_side: int = 1280) -> None:
        self.score_threshold = score_threshold
        self.min_face_size = min_face_size
        self.max_side = max_side

    @abstractmethod
    def detect(self, image: np.ndarray) -> list[Face]:
        ...
