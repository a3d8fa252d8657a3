"""The detector interface every backend implements, and its resolution policy."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ferkit.detect._frame import as_rgb, detection_size, resize, to_faces
from ferkit.results import Detection

DEFAULT_DETECTOR = "retinaface"
# Faces whose box has a side shorter than this many pixels are ignored by default.
MIN_FACE_SIZE = 16
# Coarse-to-fine detection (see Detector): a coarse pass that finds no face, a
# face shorter than FINE_BELOW of its pixels, or a candidate scoring at least
# HINT_THRESHOLD without reaching the score threshold sends the image to the
# next, finer pass. Chosen on the shared photos and a labelled set through the
# pipeline (benchmarks/pipeline.py).
FINE_BELOW = 40
HINT_THRESHOLD = 0.3
# ... and so does a face scoring below this: unsure faces (profiles, occlusion)
# move between scales; the finer pass places them as the full-size pass does.
SURE_SCORE = 0.95
# The coarse pass is skipped unless it saves at least this share of the pixels.
MIN_COARSE_SAVING = 0.4


class Detector(ABC):
    """Finds faces in an RGB ``uint8`` image ``(H, W, 3)``.

    Returns :class:`~ferkit.results.Detection` s with ``box``, ``score`` and
    ``landmarks`` (five points, or ``None`` when the backend has none) in the
    input image's pixel coordinates, sorted by score, highest first.

    Resolution policy: the full-size pass runs on the image scaled so that its
    longer side is at most ``max_side`` (shrunk) or, below ``upscale_to``, that
    (enlarged). With ``coarse_side`` set, passes at that longer side, then at
    twice that, and so on, run first while they cost well under the full pass;
    the first one where no face may have been missed gives the answer. A face
    may have been missed where the pass found none (blurred or low-contrast
    faces score low when small), found one shorter than ``fine_below`` of its
    pixels (small faces, crowds: others may be smaller still) or a candidate
    scoring between ``hint_threshold`` and the score threshold; when every
    coarse pass says so, the full-size pass gives the answer, exactly as with
    ``coarse_side=None``. ``passes`` counts which pass answered.
    """

    name: str = "base"
    gives_landmarks: bool = True

    def __init__(self, score_threshold: float = 0.6, min_face_size: int = MIN_FACE_SIZE,
                 max_side: int | None = 1280, upscale_to: int | None = None,
                 coarse_side: int | None = None, fine_below: float = FINE_BELOW,
                 hint_threshold: float = HINT_THRESHOLD) -> None:
        self.score_threshold = score_threshold
        self.min_face_size = min_face_size
        self.max_side = max_side
        self.upscale_to = upscale_to
        self.coarse_side = coarse_side or None
        self.fine_below = fine_below
        self.hint_threshold = min(hint_threshold, score_threshold)
        self.passes: dict = {}   # how often each pass gave the answer, by its longer side or "full"

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in an RGB, RGBA or grayscale ``uint8`` image, highest score first."""
        rgb = as_rgb(image)
        height, width = rgb.shape[:2]
        if min(height, width) < max(self.min_face_size, 1):
            return []
        size = detection_size(width, height, self.max_side, self.upscale_to)
        for coarse in self._coarse_sizes(size):
            faces = self._coarse_faces(rgb, coarse)
            if faces is not None:
                self.passes[max(coarse)] = self.passes.get(max(coarse), 0) + 1
                return faces
        self.passes["full"] = self.passes.get("full", 0) + 1
        boxes, scores, landmarks = self._detect_scaled(resize(rgb, size))
        return to_faces(boxes, scores, landmarks, size[0] / width, size[1] / height,
                        width, height, self.min_face_size)

    def _coarse_sizes(self, size: tuple[int, int]) -> list[tuple[int, int]]:
        """``(w, h)`` of each coarse pass before a full pass at ``size``: ``coarse_side``,
        then twice that, and so on while a pass has at most ``1 - MIN_COARSE_SAVING``
        of the next one's pixels (none when the policy is off)."""
        sizes = []
        side = self.coarse_side
        while side and max(size) > side:
            coarse = detection_size(size[0], size[1], side, None)
            if coarse[0] * coarse[1] > (1 - MIN_COARSE_SAVING) * size[0] * size[1]:
                break
            sizes.append(coarse)
            side *= 2
        return sizes

    def _coarse_faces(self, rgb: np.ndarray, size: tuple[int, int]) -> list[Detection] | None:
        """The faces of a coarse pass at ``size``, or ``None`` where faces may have been missed."""
        height, width = rgb.shape[:2]
        boxes, scores, landmarks = self._detect_scaled(resize(rgb, size), self.hint_threshold)
        if len(scores) == 0 or not (scores >= max(self.score_threshold, SURE_SCORE)).all():
            return None   # no face, or a face not sure there: look closer
        if len(boxes) and boxes[:, 2:].min() < self.fine_below:
            return None   # small faces: smaller ones may be there
        return to_faces(boxes, scores, landmarks, size[0] / width, size[1] / height,
                        width, height, self.min_face_size)

    @abstractmethod
    def _detect_scaled(self, rgb: np.ndarray, threshold: float | None = None):
        """Detections on the rescaled image: boxes ``(K, 4)`` xywh, scores ``(K,)``
        at or above ``threshold`` (``None``: the score threshold), landmarks
        ``(K, 5, 2)`` or ``None``, all in its pixels."""
