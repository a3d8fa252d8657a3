"""Expressions in video files, network streams and cameras, followed per person over time.

Stages, in data-flow order: :mod:`~ferkit.video.source` (decoding, sampling),
:mod:`~ferkit.video.cuts` (scene cuts), :mod:`~ferkit.video.tracker`, :mod:`~ferkit.video.smoothing`,
:mod:`~ferkit.video.summary`, :mod:`~ferkit.video.writer`,
:mod:`~ferkit.video.plots`, tied together by :mod:`~ferkit.video.pipeline`.
"""

from ferkit.video.pipeline import VideoAnalysis, VideoOptions, analyze_video
from ferkit.video.smoothing import Smoothing
from ferkit.video.source import VideoDecodeError, VideoInfo, VideoSourceError
from ferkit.video.summary import TrackSummary, VideoResult
from ferkit.video.tracker import Tracker

__all__ = ["Smoothing", "TrackSummary", "Tracker", "VideoAnalysis", "VideoOptions",
           "VideoDecodeError", "VideoInfo", "VideoResult", "VideoSourceError", "analyze_video"]
