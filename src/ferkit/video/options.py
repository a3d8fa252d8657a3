"""The settings of a video analysis, checked without loading the video stack.

This module imports nothing heavy (no NumPy, OpenCV, PyAV, ONNX Runtime, SciPy
or matplotlib), so the command line can refuse a bad option at once, before the
decoders and the models load.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from numbers import Real

from ferkit.errors import UsageError, check_int, check_number

SMOOTHING_METHODS = ("none", "ema", "window")


@dataclass(frozen=True)
class Smoothing:
    """How a track's class probabilities are smoothed over time.

    ``Smoothing("ema", alpha=0.3)`` is an exponential moving average (``alpha`` is
    the weight of the newest frame); ``Smoothing("window", window=5)`` a moving
    average over the last ``window`` analysed frames; ``Smoothing("none")`` passes
    values through. Each track gets its own state from :meth:`new`.
    """

    method: str = "ema"
    alpha: float = 0.3
    window: int = 5

    def __post_init__(self) -> None:
        if self.method not in SMOOTHING_METHODS:
            raise UsageError(f"unknown smoothing {self.method!r}; known: {', '.join(SMOOTHING_METHODS)}")
        if not 0 < self.alpha <= 1:
            raise UsageError(f"smoothing alpha must be in (0, 1], got {self.alpha}")
        if self.window < 1:
            raise UsageError(f"smoothing window must be >= 1, got {self.window}")

    @classmethod
    def parse(cls, spec: "str | Smoothing | None") -> "Smoothing":
        """From ``"none"``, ``"ema"``, ``"ema:0.2"``, ``"window"``, ``"window:9"`` or a :class:`Smoothing`."""
        if isinstance(spec, Smoothing):
            return spec
        if spec is None:
            return cls("none")
        method, _, value = str(spec).strip().lower().partition(":")
        if not value:
            return cls(method)
        try:
            return cls(method, alpha=float(value)) if method == "ema" else cls(method, window=int(value))
        except ValueError:
            raise UsageError(f"bad smoothing {spec!r}; use none, ema[:alpha] or window[:frames]") from None

    @property
    def enabled(self) -> bool:
        return self.method != "none"

    def new(self):
        """Fresh state for one track (a :class:`~ferkit.video.smoothing.Smoother`)."""
        from ferkit.video.smoothing import ExponentialSmoother, Smoother, WindowSmoother

        if self.method == "ema":
            return ExponentialSmoother(self.alpha)
        if self.method == "window":
            return WindowSmoother(self.window)
        return Smoother()

    def __str__(self) -> str:
        if self.method == "ema":
            return f"ema:{self.alpha:g}"
        if self.method == "window":
            return f"window:{self.window}"
        return "none"


@dataclass
class VideoOptions:
    """How a video is sampled, tracked, smoothed and written (see :func:`~ferkit.analyze_video`).

    ``audio``: copy the input's first audio stream into ``annotated.mp4`` (as is,
    not re-encoded), cut where the video's last frame ends.
    """

    every: int | None = None
    fps: float | None = None
    detect_every: int = 1
    smoothing: str | Smoothing | None = "ema"
    smooth_frames: bool = False
    min_track_frames: int = 3
    max_gap: int = 10
    cut_threshold: float | None = 0.33
    annotate: bool = True
    plots: bool = True
    audio: bool = True

    def __post_init__(self) -> None:
        if self.every is not None and self.fps is not None:
            raise UsageError("give every or fps, not both")
        check_int("every", self.every, low=1, optional=True)
        check_int("detect_every", self.detect_every, low=1)
        check_int("min_track_frames", self.min_track_frames, low=1)
        check_int("max_gap", self.max_gap, low=0)
        if self.fps is not None and (isinstance(self.fps, bool) or not isinstance(self.fps, Real)
                                     or not 0 < self.fps < math.inf):
            raise UsageError(f"fps must be a positive number, got {self.fps!r}")
        check_number("cut_threshold", self.cut_threshold, low=0.0, high=1.0, optional=True)
        self.cut_threshold = self.cut_threshold or None
        self.smoothing = Smoothing.parse(self.smoothing)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["smoothing"] = str(self.smoothing)
        del d["annotate"], d["plots"], d["audio"]
        return d
