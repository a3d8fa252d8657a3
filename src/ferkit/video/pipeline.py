"""Video analysis end to end: decode → sample → detect or carry → track → classify
→ summarise, streaming results to disk as it goes.

Nothing grows with the video's length: frames are dropped once analysed, each
track keeps running statistics only, and per-frame rows go straight to
``frames.csv``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ferkit.results import Face
from ferkit.video.cuts import CutDetector
from ferkit.video.smoothing import Smoothing
from ferkit.video.source import Sampler, VideoDecodeError, open_source
from ferkit.video.summary import TrackStats, VideoResult
from ferkit.video.tracker import Tracker


@dataclass
class FrameResult:
    """One analysed frame: input frame ``index``, ``time`` in seconds, the tracked
    ``faces`` as ``(track_id, Face)``, whether the detector ran on it (``detected``;
    otherwise boxes are the tracks' predictions) and the upright RGB ``image``."""

    index: int
    time: float
    faces: list[tuple[int, Face]]
    detected: bool
    image: np.ndarray


class VideoAnalysis:
    """A video being analysed; see :func:`analyze_video`.

    Iterate it for :class:`FrameResult` s as frames are processed, or call
    :meth:`collect` for the :class:`VideoResult`. It can be run once; after the
    run (or a ``break``, or Ctrl-C) :attr:`result` holds the summaries and the
    output files are complete.
    """

    def __init__(self, source, *, every: int | None = None, fps: float | None = None,
                 detect_every: int = 1, smoothing: str | Smoothing | None = "ema",
                 smooth_frames: bool = False, min_track_frames: int = 3, max_gap: int = 10,
                 cut_threshold: float | None = 0.33, analyzer=None, detector: str = "retinaface",
                 model: str | os.PathLike = "default", margin: float | None = None,
                 min_face_size: int = 16, detect_size: int | None = None, threads: int = 0,
                 out_dir: str | os.PathLike | None = None, annotate: bool = True,
                 plots: bool = True) -> None:
        if detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {detect_every}")
        if min_track_frames < 1:
            raise ValueError(f"min_track_frames must be >= 1, got {min_track_frames}")
        if detect_size is not None and analyzer is not None:
            raise ValueError("detect_size applies to the analyzer analyze_video builds; "
                             "give your analyzer's detector its max_side instead")
        self.sampler = Sampler(every, fps)
        self.smoothing = Smoothing.parse(smoothing)
        self.tracker = Tracker(max_gap=max_gap)
        self.cuts = CutDetector(cut_threshold) if cut_threshold else None
        self.source = open_source(source)
        self.info = self.source.info
        if analyzer is None:
            from ferkit.analyzer import Analyzer
            from ferkit.detect import create_detector

            try:
                if detect_size is not None:
                    detector = create_detector(detector, max_side=detect_size,
                                               min_face_size=min_face_size, threads=threads)
                analyzer = Analyzer(detector, model, margin=margin, min_face_size=min_face_size,
                                    threads=threads)
            except BaseException:
                self.source.close()
                raise
        self.analyzer = analyzer
        self.labels = list(analyzer.labels)
        self.detect_every = detect_every
        self.smooth_frames = smooth_frames
        self.min_track_frames = min_track_frames
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.annotate = annotate and self.out_dir is not None
        self.plots = plots and self.out_dir is not None
        self.result: VideoResult | None = None
        self.settings = {
            "every": every, "fps": fps, "detect_every": detect_every,
            "smoothing": str(self.smoothing), "smooth_frames": smooth_frames,
            "min_track_frames": min_track_frames, "max_gap": max_gap, "cut_threshold": cut_threshold,
            "detector": getattr(analyzer.detector, "name", type(analyzer.detector).__name__),
            "detect_size": getattr(analyzer.detector, "max_side", None),
            "model": analyzer.card.name,
        }
        self._stats: dict[int, TrackStats] = {}
        self._summaries = []
        self._short_tracks = 0
        self._decoded = 0
        self._analysed = 0
        self._since_detection = detect_every - 1   # so the first analysed frame is detected
        self._started = False
        self._started_at: float | None = None
        self._frames_csv = None
        self._video = None

    def __iter__(self):
        if self._started:
            raise RuntimeError("a VideoAnalysis runs once; call analyze_video again to rerun")
        self._started = True
        return self._run()

    def __enter__(self) -> "VideoAnalysis":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def collect(self) -> VideoResult:
        """Run to the end (or to where decoding fails) and return the :class:`VideoResult`."""
        if not self._started:
            try:
                for _ in self:
                    pass
            except VideoDecodeError:
                pass  # recorded in result.error
        if self.result is None:
            raise RuntimeError("the analysis was started by iteration and has not finished")
        return self.result

    def close(self) -> None:
        """Stop here: close the source and complete the outputs for what was analysed."""
        self._finish(complete=False, error=None)

    def _open_outputs(self, width: int, height: int, time_base) -> None:
        from ferkit.video.writer import AnnotatedVideoWriter, FrameCsvWriter

        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._frames_csv = FrameCsvWriter(self.out_dir / "frames.csv", self.labels)
        if self.annotate:
            self._video = AnnotatedVideoWriter(self.out_dir / "annotated.mp4", width, height,
                                               self.info.fps, time_base)

    def _run(self):
        self._started_at = time.perf_counter()
        complete, error = False, None
        shown: list[tuple[int, Face]] = []
        try:
            for frame in self.source.frames():
                self._decoded += 1
                if self._decoded == 1 and self.out_dir is not None:
                    self._open_outputs(frame.image.shape[1], frame.image.shape[0], frame.time_base)
                if not self.sampler.take(frame):
                    self._write_video(frame, shown)
                    continue
                result = self._analyse(frame)
                shown = result.faces
                self._write_video(frame, shown)
                yield result
            complete = True
        except VideoDecodeError as e:
            error = str(e)
            raise
        finally:
            self._finish(complete, error)

    def _analyse(self, frame) -> FrameResult:
        image = frame.image
        detect = self._since_detection + 1 >= self.detect_every
        if self.cuts is not None and self.cuts(image):
            self.tracker.end_all()
            detect = True
        self._since_detection = 0 if detect else self._since_detection + 1
        self._analysed += 1
        if detect:
            tracked = self.tracker.update(self.analyzer.detect(image), frame.time)
        else:
            tracked = _inside(self.tracker.carry(frame.time), image.shape[1], image.shape[0])
        self.analyzer.classify(image, [face for _, face in tracked])
        for track_id, face in tracked:
            stats = self._stats.get(track_id)
            if stats is None:
                stats = self._stats[track_id] = TrackStats(track_id, self.labels, self.smoothing.new())
            raw = np.array([face.probabilities[k] for k in self.labels])
            smoothed = stats.add(frame.index, frame.time, raw, detect)
            if self.smooth_frames:
                face.probabilities = dict(zip(self.labels, (float(v) for v in smoothed)))
                face.label = self.labels[int(np.argmax(smoothed))]
        for track in self.tracker.ended:
            self._end_track(track.id)
        self.tracker.ended.clear()
        if self._frames_csv is not None:
            self._frames_csv.write(frame.index, frame.time,
                                   [(tid, face, detect) for tid, face in tracked])
        return FrameResult(frame.index, frame.time, tracked, detect, image)

    def _write_video(self, frame, faces: list[tuple[int, Face]]) -> None:
        if self._video is None:
            return
        from ferkit.annotate import draw_faces

        image = draw_faces(frame.image, [f for _, f in faces], [t for t, _ in faces]) if faces else frame.image
        self._video.write(image, frame.pts, frame.time_base)

    def _end_track(self, track_id: int) -> None:
        stats = self._stats.pop(track_id, None)
        if stats is None:
            return
        if stats.count >= self.min_track_frames:
            self._summaries.append(stats.summary())
        else:
            self._short_tracks += 1

    def _finish(self, complete: bool, error: str | None) -> None:
        if self.result is not None:
            return
        seconds = time.perf_counter() - self._started_at if self._started_at else 0.0
        self.source.close()
        self.tracker.end_all()
        for track in self.tracker.ended:
            self._end_track(track.id)
        result = VideoResult(str(self.info.source), self.info, self.labels, self.settings,
                             self._decoded, self._analysed, sorted(self._summaries, key=lambda s: s.track),
                             self._short_tracks, complete, error, seconds=seconds)
        self.result = result
        if self.out_dir is None:
            return
        if self._frames_csv is None:  # no frame was decoded
            self.out_dir.mkdir(parents=True, exist_ok=True)
        else:
            self._frames_csv.close()
            result.outputs["frames.csv"] = str(self._frames_csv.path)
        if self._video is not None:
            self._video.close()
            result.outputs["annotated.mp4"] = str(self._video.path)
        from ferkit.video.writer import write_tracks

        if self.plots:
            from ferkit.video.plots import write_plots

            result.outputs.update(write_plots(result, self.out_dir))
        result.outputs["tracks.json"] = str(self.out_dir / "tracks.json")
        result.outputs["tracks.csv"] = str(self.out_dir / "tracks.csv")
        write_tracks(result, self.out_dir)


def _inside(tracked: list[tuple[int, Face]], width: int, height: int) -> list[tuple[int, Face]]:
    """Predicted boxes clipped to the frame; tracks predicted off-frame are left out."""
    kept = []
    for track_id, face in tracked:
        x, y, w, h = face.box
        x0, y0 = max(x, 0.0), max(y, 0.0)
        x1, y1 = min(x + w, float(width)), min(y + h, float(height))
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            face.box = (x0, y0, x1 - x0, y1 - y0)
            kept.append((track_id, face))
    return kept


def analyze_video(source, *, every: int | None = None, fps: float | None = None,
                  detect_every: int = 1, smoothing: str | Smoothing | None = "ema",
                  smooth_frames: bool = False, min_track_frames: int = 3, max_gap: int = 10,
                  cut_threshold: float | None = 0.33, analyzer=None, detector: str = "retinaface",
                  model: str | os.PathLike = "default", margin: float | None = None,
                  min_face_size: int = 16, detect_size: int | None = None, threads: int = 0,
                  out_dir: str | os.PathLike | None = None, annotate: bool = True,
                  plots: bool = True) -> VideoAnalysis:
    """Track every face in a video or stream and follow its expression over time.

    ``source``: a file (mp4, mov, avi, mkv, webm, ...), an ``rtsp://``/``http://``
    URL, a camera index (``0``) or a ``/dev/video*`` device. The source is opened
    now (bad input raises :class:`~ferkit.video.source.VideoSourceError`); frames
    are decoded lazily as the returned :class:`VideoAnalysis` is iterated or
    :meth:`~VideoAnalysis.collect` ed.

    Sampling: analyse every ``every``-th frame, or ``fps`` frames a second, or
    (default) all. The detector runs on every ``detect_every``-th analysed frame;
    in between, tracks are carried on their predicted boxes and classified there.
    A track survives ``max_gap`` analysed frames without a detection; tracks with
    fewer than ``min_track_frames`` analysed frames are left out of the summaries.
    Scene cuts (colour-histogram jumps above ``cut_threshold``; ``None`` turns
    this off) end every track and force a detection.

    ``smoothing`` (``"ema"``, ``"ema:0.2"``, ``"window:9"``, ``"none"``) applies to
    the summaries; per-frame results stay raw unless ``smooth_frames``.

    Pass an :class:`~ferkit.Analyzer` as ``analyzer`` to reuse one, or the
    ``detector``/``model``/``margin``/``min_face_size``/``threads`` options to build one;
    ``detect_size`` then scales frames so their longer side is at most that many
    pixels for detection (boxes stay in frame pixels): 320 detects about 3x
    faster than the default at 640x480 and still finds faces of ~30 px and up.

    With ``out_dir``: ``frames.csv`` (written as frames are analysed),
    ``tracks.json``, ``tracks.csv``, ``timeline_<track>.png`` and ``overview.png``
    (unless ``plots=False``), and ``annotated.mp4`` (unless ``annotate=False``):
    every input frame, at the input's size, rate and timestamps, frames between
    analysed ones showing the last analysed frame's boxes.
    """
    return VideoAnalysis(source, every=every, fps=fps, detect_every=detect_every,
                         smoothing=smoothing, smooth_frames=smooth_frames,
                         min_track_frames=min_track_frames, max_gap=max_gap,
                         cut_threshold=cut_threshold, analyzer=analyzer,
                         detector=detector, model=model, margin=margin,
                         min_face_size=min_face_size, detect_size=detect_size, threads=threads,
                         out_dir=out_dir,
                         annotate=annotate, plots=plots)
