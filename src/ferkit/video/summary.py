"""Per-track statistics gathered while the video streams by, and the video's result.

Memory per track is constant: counts, Welford mean/variance, min/max, top-class
counts, and a :class:`Timeline` that keeps at most a fixed number of points by
averaging neighbours as the track grows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ferkit.video.smoothing import Smoother
from ferkit.video.source import VideoInfo


class Timeline:
    """A track's probabilities over time, at most ``capacity`` points.

    Each point averages ``per_point`` consecutive frames; when the points run
    out, neighbours are merged pairwise and ``per_point`` doubles.
    """

    def __init__(self, n_classes: int, capacity: int = 512) -> None:
        if capacity < 2:
            raise ValueError("timeline capacity must be >= 2")
        self.capacity = capacity
        self.per_point = 1
        self.n = 0
        self._t = np.zeros(8)
        self._p = np.zeros((8, n_classes))
        self._count = np.zeros(8, dtype=np.int64)

    def add(self, t: float, p: np.ndarray) -> None:
        if self.n == 0 or self._count[self.n - 1] >= self.per_point:
            if self.n == self.capacity:
                self._merge()
            if self.n == 0 or self._count[self.n - 1] >= self.per_point:
                if self.n == len(self._t):
                    self._grow()
                self.n += 1
        i = self.n - 1
        self._t[i] += t
        self._p[i] += p
        self._count[i] += 1

    def _grow(self) -> None:
        size = min(2 * len(self._t), self.capacity)
        self._t = np.resize(self._t, size)
        self._p = np.resize(self._p, (size, self._p.shape[1]))
        self._count = np.resize(self._count, size)
        self._t[self.n:], self._p[self.n:], self._count[self.n:] = 0, 0, 0

    def _merge(self) -> None:
        half = self.n // 2
        t, p, c = self._t[:self.n], self._p[:self.n], self._count[:self.n]
        merged_t = t[0:2 * half:2] + t[1:2 * half:2]
        merged_p = p[0:2 * half:2] + p[1:2 * half:2]
        merged_c = c[0:2 * half:2] + c[1:2 * half:2]
        rest = self.n - 2 * half
        self._t[:half], self._p[:half], self._count[:half] = merged_t, merged_p, merged_c
        if rest:
            self._t[half], self._p[half], self._count[half] = t[-1], p[-1], c[-1]
        self.n = half + rest
        self._t[self.n:], self._p[self.n:], self._count[self.n:] = 0, 0, 0
        self.per_point *= 2

    @property
    def times(self) -> np.ndarray:
        return self._t[:self.n] / self._count[:self.n]

    @property
    def probabilities(self) -> np.ndarray:
        return self._p[:self.n] / self._count[:self.n, None]


@dataclass
class TrackSummary:
    """What one tracked face showed over its time on screen.

    Statistics are over the track's analysed frames (smoothed probabilities
    when smoothing is on), each frame weighted by the seconds of video it stands
    for, so sampling with ``every``/``fps`` does not tilt them. ``mean`` and
    ``std`` (population) are of each class's probability; ``share`` is the
    fraction of the track's time each class was the top one; ``dominant`` is the
    class with the largest share (ties go to the higher mean), so it always
    agrees with ``share``.
    """

    track: int
    start_frame: int
    end_frame: int
    start_time: float
    end_time: float
    frames: int
    detected_frames: int
    dominant: str
    mean: dict[str, float]
    std: dict[str, float]
    min: dict[str, float]
    max: dict[str, float]
    share: dict[str, float]
    timeline: Timeline | None = field(default=None, repr=False)

    @property
    def duration(self) -> float:
        return self.end_time - self.start_time

    def to_dict(self, ndigits: int = 6) -> dict:
        def rounded(d):
            return {k: round(float(v), ndigits) for k, v in d.items()}

        return {"track": self.track, "start_frame": self.start_frame, "end_frame": self.end_frame,
                "start_time": round(self.start_time, ndigits), "end_time": round(self.end_time, ndigits),
                "duration": round(self.duration, ndigits), "frames": self.frames,
                "detected_frames": self.detected_frames, "dominant": self.dominant,
                "mean": rounded(self.mean), "std": rounded(self.std), "min": rounded(self.min),
                "max": rounded(self.max), "share": rounded(self.share)}


class TrackStats:
    """Running statistics of one track, fed one analysed frame at a time."""

    def __init__(self, track: int, labels: list[str], smoother: Smoother,
                 timeline_points: int = 512) -> None:
        self.track = track
        self.labels = labels
        self.smoother = smoother
        k = len(labels)
        self.count = 0
        self.detected = 0
        self.weight = 0.0
        self.mean = np.zeros(k)
        self._m2 = np.zeros(k)
        self.min = np.full(k, np.inf)
        self.max = np.full(k, -np.inf)
        self.top_weight = np.zeros(k)
        self.first = self.last = (0, 0.0)
        self.timeline = Timeline(k, timeline_points)

    def add(self, index: int, t: float, probabilities: np.ndarray, detected: bool,
            weight: float = 1.0) -> np.ndarray:
        """Add one frame's raw probabilities, standing for ``weight`` seconds of video;
        returns the smoothed ones."""
        if not weight > 0:
            raise ValueError(f"frame weight must be > 0, got {weight}")
        p = self.smoother(probabilities)
        self.count += 1
        self.detected += bool(detected)
        self.weight += weight
        delta = p - self.mean
        self.mean += delta * (weight / self.weight)
        self._m2 += weight * delta * (p - self.mean)
        np.minimum(self.min, p, out=self.min)
        np.maximum(self.max, p, out=self.max)
        self.top_weight[int(np.argmax(p))] += weight
        if self.count == 1:
            self.first = (index, t)
        self.last = (index, t)
        self.timeline.add(t, p)
        return p

    def summary(self) -> TrackSummary:
        total = self.weight or 1.0
        std = np.sqrt(np.maximum(self._m2 / total, 0.0))
        share = self.top_weight / total
        dominant = max(range(len(self.labels)), key=lambda k: (share[k], self.mean[k]))

        def by_label(values):
            return dict(zip(self.labels, (float(v) for v in values)))

        return TrackSummary(self.track, self.first[0], self.last[0], self.first[1], self.last[1],
                            self.count, self.detected, self.labels[dominant],
                            by_label(self.mean), by_label(std), by_label(self.min), by_label(self.max),
                            by_label(share), self.timeline)


@dataclass
class VideoResult:
    """Everything :func:`ferkit.analyze_video` found in one video.

    ``tracks`` holds the summaries of tracks with at least ``min_track_frames``
    analysed frames (``short_tracks`` counts the others). ``complete`` is true when
    the source was read to its end; ``error`` is set when decoding stopped early.
    Either way the results cover every frame analysed before the stop.
    """

    source: str
    info: VideoInfo
    labels: list[str]
    settings: dict
    frames_decoded: int = 0
    frames_analysed: int = 0
    tracks: list[TrackSummary] = field(default_factory=list)
    short_tracks: int = 0
    complete: bool = False
    error: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    def track(self, track_id: int) -> TrackSummary:
        for s in self.tracks:
            if s.track == track_id:
                return s
        raise KeyError(f"no summarised track {track_id}")

    def to_dict(self) -> dict:
        return {"source": self.source, "info": self.info.to_dict(), "labels": list(self.labels),
                "settings": self.settings, "frames_decoded": self.frames_decoded,
                "frames_analysed": self.frames_analysed, "short_tracks": self.short_tracks,
                "complete": self.complete, "error": self.error, "seconds": round(self.seconds, 3),
                "tracks": [s.to_dict() for s in self.tracks], "outputs": self.outputs}
