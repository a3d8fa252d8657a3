"""Expressions in video files, network streams and cameras, followed per person over time.

Stages, in data-flow order: :mod:`~ferkit.video.source` (decoding, sampling),
:mod:`~ferkit.video.cuts` (scene cuts), :mod:`~ferkit.video.tracker`, :mod:`~ferkit.video.smoothing`,
:mod:`~ferkit.video.summary`, :mod:`~ferkit.video.writer`,
:mod:`~ferkit.video.plots`, tied together by :mod:`~ferkit.video.pipeline`;
:mod:`~ferkit.video.options` holds the settings and imports nothing heavy.

Names are imported on first use, so that ``ferkit.video.options`` (and a check
of the command line's options) loads without the decoders, SciPy or the models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "VideoOptions": "ferkit.video.options", "Smoothing": "ferkit.video.options",
    "VideoAnalysis": "ferkit.video.pipeline", "analyze_video": "ferkit.video.pipeline",
    "VideoDecodeError": "ferkit.video.source", "VideoInfo": "ferkit.video.source",
    "VideoSourceError": "ferkit.video.source",
    "TrackSummary": "ferkit.video.summary", "VideoResult": "ferkit.video.summary",
    "Tracker": "ferkit.video.tracker",
}

if TYPE_CHECKING:
    from ferkit.video.options import Smoothing, VideoOptions
    from ferkit.video.pipeline import VideoAnalysis, analyze_video
    from ferkit.video.source import VideoDecodeError, VideoInfo, VideoSourceError
    from ferkit.video.summary import TrackSummary, VideoResult
    from ferkit.video.tracker import Tracker


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ferkit.video' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = ["Smoothing", "TrackSummary", "Tracker", "VideoAnalysis", "VideoOptions",
           "VideoDecodeError", "VideoInfo", "VideoResult", "VideoSourceError", "analyze_video"]
