"""The state of one ``/v1/stream`` connection: the video pipeline's tracker and
per-track smoothing, fed one frame at a time.

Each frame comes back as :meth:`ferkit.results.ImageResult.to_dict` with
``frame``, ``time``, ``detected`` and each face's ``track``; the probabilities and
label are the track's smoothed ones.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ferkit.results import ImageResult
from ferkit.video.options import Smoothing
from ferkit.video.tracker import Tracker


class StreamSession:
    """Tracker and smoothers of one connection (not thread-safe: one frame at a time)."""

    def __init__(self, analyzer, smoothing: str | Smoothing = "ema", max_gap: int = 10) -> None:
        self.analyzer = analyzer
        self.labels = list(analyzer.labels)
        self.smoothing = Smoothing.parse(smoothing)
        self.tracker = Tracker(max_gap=max_gap)
        self._smoothers: dict[int, object] = {}
        self.frames = 0

    def analyse(self, rgb: np.ndarray, t: float, index: int | None = None, name: str = "<stream>") -> ImageResult:
        """The faces of one frame taken at ``t`` seconds, tracked and smoothed; ``index`` is the
        frame's number as the client sent it (default: the frames analysed so far)."""
        detections = self.tracker.update(self.analyzer.detect(rgb), t)
        faces = self.analyzer.classify(rgb, detections)
        for track in self.tracker.ended:
            self._smoothers.pop(track.id, None)
        self.tracker.ended.clear()
        smoothed = []
        for face in faces:
            smoother = self._smoothers.get(face.track_id)
            if smoother is None:
                smoother = self._smoothers[face.track_id] = self.smoothing.new()
            p = smoother(np.array([face.probabilities[k] for k in self.labels]))
            smoothed.append(replace(face, probabilities=dict(zip(self.labels, (float(v) for v in p))),
                                    label=self.labels[int(np.argmax(p))]))
        result = ImageResult(name, rgb.shape[1], rgb.shape[0], smoothed, labels=self.labels,
                             frame=self.frames if index is None else index, time=t, detected=True)
        self.frames += 1
        return result
