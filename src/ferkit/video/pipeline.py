"""Video analysis end to end: decode → sample → detect or carry → track → classify
→ summarise, streaming results to disk as it goes.

Nothing grows with the video's length: frames are dropped once analysed, each
track keeps running statistics only, and per-frame rows go straight to
``frames.csv``.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from ferkit.analyzer import AnalyzerOptions
from ferkit.errors import UsageError
from ferkit.results import Detection, Face, ImageResult
from ferkit.runtime import RunAhead
from ferkit.video.cuts import CutDetector
from ferkit.video.options import VideoOptions
from ferkit.video.source import Sampler, VideoDecodeError, open_source
from ferkit.video.summary import TrackStats, VideoResult
from ferkit.video.tracker import Tracker

# What a run leaves in its output folder. A new run in the same folder removes
# them first, so no chart or video of another clip stays beside new results.
OUTPUT_FILES = ("frames.csv", "tracks.json", "tracks.csv", "annotated.mp4", "overview.png")
OUTPUT_PATTERNS = ("timeline_*.png",)
# Frames decoded (and detected) ahead of the one being classified, when the
# analyzer is fast: enough to ride out uneven decode times, bounded in memory.
FRAMES_AHEAD = 4

__all__ = ["OUTPUT_FILES", "VideoAnalysis", "VideoOptions", "analyze_video"]


class VideoAnalysis:
    """A video being analysed; see :func:`analyze_video`.

    Iterate it for one :class:`~ferkit.results.ImageResult` per analysed frame
    (with ``frame``, ``time``, ``detected``, each face's ``track_id``, and the
    upright RGB frame in ``image``), or call :meth:`collect` for the
    :class:`VideoResult`. It can be run once; after the run (or a ``break``, or
    Ctrl-C) :attr:`result` holds the summaries and the output files are complete.
    """

    def __init__(self, source, options: VideoOptions, analyzer, out_dir=None) -> None:
        self.options = options
        self.source = source
        self.info = source.info
        self.analyzer = analyzer
        self.labels = list(analyzer.labels)
        self.sampler = Sampler(options.every, options.fps)
        self.tracker = Tracker(max_gap=options.max_gap)
        self.cuts = CutDetector(options.cut_threshold) if options.cut_threshold else None
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.annotate = options.annotate and self.out_dir is not None
        if not (self.annotate and options.audio):
            source.set_audio_sink(None)   # the source stops keeping audio packets
        self.plots = options.plots and self.out_dir is not None
        self.result: VideoResult | None = None
        self.settings = {
            **options.to_dict(),
            "detector": getattr(analyzer.detector, "name", type(analyzer.detector).__name__),
            "detect_size": getattr(analyzer.detector, "max_side", None),
            "model": analyzer.card.name,
            "prior_correction": analyzer.classifier.prior_tau,
        }
        # Decoding and detection overlap the analysis on a worker thread unless
        # the analyzer asks for one stage at a time (AnalyzerOptions.fast).
        self._overlap = getattr(getattr(analyzer, "options", None), "fast", True) is not False
        self._ahead: RunAhead | None = None
        self._stats: dict[int, TrackStats] = {}
        self._summaries = []
        self._short_tracks = 0
        self._decoded = 0
        self._analysed = 0
        self._since_detection = options.detect_every - 1   # so the first analysed frame is detected
        self._last_analysed_time: float | None = None
        self._started = False
        self._started_at: float | None = None
        self._frames_csv = None
        self._video = None
        self.on_finishing = None   # called (no arguments) as the run starts completing its outputs
        self.finish_seconds = 0.0  # what completing the outputs took (closing files, summaries, charts)
        if self.out_dir is not None:
            self._prepare_out_dir()

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

    def _prepare_out_dir(self) -> None:
        """Check the folder, take frames.csv (locked: one run per folder), clear old outputs."""
        from ferkit.video.writer import FrameCsvWriter
        from ferkit.writers import prepare_folder

        try:
            prepare_folder(self.out_dir, "the output folder")
            self._frames_csv = FrameCsvWriter(self.out_dir / "frames.csv", self.labels)
        except BaseException:
            self.source.close()
            raise
        stale = [self.out_dir / name for name in OUTPUT_FILES if name != "frames.csv"]
        stale += [p for pattern in OUTPUT_PATTERNS for p in self.out_dir.glob(pattern)]
        for path in stale:
            path.unlink(missing_ok=True)

    def _open_video(self, width: int, height: int, time_base) -> None:
        from ferkit.video.writer import AnnotatedVideoWriter

        audio = self.source.audio if self.options.audio else None
        self._video = AnnotatedVideoWriter(self.out_dir / "annotated.mp4", width, height,
                                           self.info.fps, time_base, audio=audio)
        self.source.set_audio_sink(self._video.write_audio if self._video.audio_stream is not None else None)

    def _run(self):
        self._started_at = time.perf_counter()
        complete, error = False, None
        shown: list[Face] = []
        try:
            frames = self.source.frames()
            first = next(frames)   # decoded when the source was opened
            if self.annotate:      # before decoding goes on: it hands the audio to the writer
                self._open_video(first.image.shape[1], first.image.shape[0], first.time_base)
            staged = self._stage(itertools.chain([first], frames))
            if self._overlap:
                self._ahead = RunAhead(staged, depth=FRAMES_AHEAD, name="ferkit-decode")
                staged = iter(self._ahead)
            for item in staged:
                self._decoded += 1
                if item.sampled:
                    result = self._analyse(item)
                    shown = result.faces
                self._write_video(item.frame, shown)
                if item.sampled:
                    yield result
            complete = True
        except VideoDecodeError as e:
            error = str(e)
            raise
        finally:
            self._finish(complete, error)

    def _stage(self, frames):
        """Each decoded frame as a :class:`_Staged`: whether it is analysed, whether
        a scene cut or the schedule has the detector run on it, and its detections.
        Runs ahead on a worker thread when the analyzer is fast."""
        for frame in frames:
            if not self.sampler.take(frame):
                yield _Staged(frame)
                continue
            cut = self.cuts is not None and self.cuts(frame.image)
            detect = cut or self._since_detection + 1 >= self.options.detect_every
            self._since_detection = 0 if detect else self._since_detection + 1
            yield _Staged(frame, True, cut, self.analyzer.detect(frame.image) if detect else None)

    def _analyse(self, item: "_Staged") -> ImageResult:
        frame, image = item.frame, item.frame.image
        detect = item.detections is not None
        if item.cut:
            self.tracker.end_all()
        self._analysed += 1
        if detect:
            tracked = self.tracker.update(item.detections, frame.time)
        else:
            tracked = _inside(self.tracker.carry(frame.time), image.shape[1], image.shape[0])
        weight = self._time_weight(frame.time)
        faces = [self._follow(face, frame, detect, weight)
                 for face in self.analyzer.classify(image, tracked)]
        for track in self.tracker.ended:
            self._end_track(track.id)
        self.tracker.ended.clear()
        result = ImageResult(str(self.info.source), image.shape[1], image.shape[0], faces,
                             labels=self.labels, frame=frame.index, time=frame.time,
                             detected=detect, image=image)
        if self._frames_csv is not None:
            self._frames_csv.write(result)
        return result

    def _time_weight(self, t: float) -> float:
        """Seconds of video an analysed frame stands for: the time since the previous
        analysed frame (the first one stands for one sampling step)."""
        previous, self._last_analysed_time = self._last_analysed_time, t
        if previous is not None:
            return max(t - previous, 1e-6)
        return self.sampler.period or (self.sampler.every or 1) / (self.info.fps or 25.0)

    def _follow(self, face: Face, frame, detected: bool, weight: float) -> Face:
        """Add a classified face to its track's statistics; with ``smooth_frames`` the
        face that comes back carries the smoothed probabilities."""
        stats = self._stats.get(face.track_id)
        if stats is None:
            stats = self._stats[face.track_id] = TrackStats(face.track_id, self.labels,
                                                            self.options.smoothing.new())
        raw = np.array([face.probabilities[k] for k in self.labels])
        smoothed = stats.add(frame.index, frame.time, raw, detected, weight)
        if not self.options.smooth_frames:
            return face
        return replace(face, probabilities=dict(zip(self.labels, (float(v) for v in smoothed))),
                       label=self.labels[int(np.argmax(smoothed))])

    def _write_video(self, frame, faces: list[Face]) -> None:
        if self._video is None:
            return
        from ferkit.annotate import draw_faces

        image = draw_faces(frame.image, faces) if faces else frame.image
        self._video.write(image, frame.pts, frame.time_base)

    def _end_track(self, track_id: int) -> None:
        stats = self._stats.pop(track_id, None)
        if stats is None:
            return
        if stats.count >= self.options.min_track_frames:
            self._summaries.append(stats.summary())
        else:
            self._short_tracks += 1

    def _finish(self, complete: bool, error: str | None) -> None:
        if self.result is not None:
            return
        finishing = time.perf_counter()
        seconds = finishing - self._started_at if self._started_at else 0.0
        if self.on_finishing is not None:
            self.on_finishing()
        try:
            self._complete(complete, error, seconds)
        finally:
            self.finish_seconds = time.perf_counter() - finishing

    def _complete(self, complete: bool, error: str | None, seconds: float) -> None:
        if self._ahead is not None:
            self._ahead.close()   # the worker decodes no more before the source closes
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
        # Cheapest and most important first: a second Ctrl-C during the charts
        # still leaves frames.csv, the video and the summaries complete.
        # ``outputs`` lists only what has been written.
        self._frames_csv.close()
        result.outputs["frames.csv"] = str(self._frames_csv.path)
        if self._video is not None:
            self._video.close()
            result.outputs["annotated.mp4"] = str(self._video.path)
        from ferkit.video.writer import write_tracks

        write_tracks(result, self.out_dir)
        result.outputs["tracks.json"] = str(self.out_dir / "tracks.json")
        result.outputs["tracks.csv"] = str(self.out_dir / "tracks.csv")
        if self.plots:
            from ferkit.video.plots import write_plots

            result.outputs.update(write_plots(result, self.out_dir))


@dataclass
class _Staged:
    """A decoded frame on its way to the analysis: ``sampled`` (analysed at all),
    ``cut`` (a scene cut before it) and the ``detections`` of the detector if it ran."""

    frame: object
    sampled: bool = False
    cut: bool = False
    detections: list[Detection] | None = None


def _inside(tracked: list[Detection], width: int, height: int) -> list[Detection]:
    """Predicted boxes clipped to the frame; tracks predicted off-frame are left out."""
    kept = []
    for detection in tracked:
        x, y, w, h = detection.box
        x0, y0 = max(x, 0.0), max(y, 0.0)
        x1, y1 = min(x + w, float(width)), min(y + h, float(height))
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            kept.append(replace(detection, box=(x0, y0, x1 - x0, y1 - y0)))
    return kept


def analyze_video(source, options: VideoOptions | None = None, *, analyzer=None,
                  out_dir=None, **settings) -> VideoAnalysis:
    """Track every face in a video or stream and follow its expression over time.

    ``source``: a file (mp4, mov, avi, mkv, webm, ...), an ``rtsp://``/``http://``
    URL, a camera index (``0``) or a ``/dev/video*`` device. The source is opened
    now (bad input raises :class:`~ferkit.video.source.VideoSourceError`); frames
    are decoded lazily as the returned :class:`VideoAnalysis` is iterated or
    :meth:`~VideoAnalysis.collect` ed.

    ``settings`` are fields of :class:`VideoOptions` (or pass ``options``) and of
    :class:`~ferkit.analyzer.AnalyzerOptions` (``detector``, ``model``, ``margin``,
    ``min_face_size``, ``score_threshold``, ``detect_size``, ``threads``) for the
    analyzer built here; or pass an :class:`~ferkit.Analyzer` as ``analyzer``
    (then with no analyzer settings: they would be ignored, so they are refused).

    Sampling: analyse every ``every``-th frame, or ``fps`` frames a second, or
    (default) all. The detector runs on every ``detect_every``-th analysed frame;
    in between, tracks are carried on their predicted boxes and classified there.
    A track survives ``max_gap`` analysed frames without a detection; tracks with
    fewer than ``min_track_frames`` analysed frames are left out of the summaries.
    Scene cuts (colour-histogram jumps above ``cut_threshold``; ``None`` or 0 turns
    this off) end every track and force a detection.

    ``smoothing`` (``"ema"``, ``"ema:0.2"``, ``"window:9"``, ``"none"``) applies to
    the summaries; per-frame results stay raw unless ``smooth_frames``. Summaries
    weigh each analysed frame by the seconds of video it stands for.
    ``detect_size`` scales frames so their longer side is at most that many
    pixels for detection (boxes stay in frame pixels): 320 detects about 3x
    faster than the default at 640x480 and still finds faces of ~30 px and up.

    With ``out_dir``: ``frames.csv`` (written as frames are analysed),
    ``tracks.json``, ``tracks.csv``, ``timeline_<track>.png`` and ``overview.png``
    (unless ``plots=False``), and ``annotated.mp4`` (unless ``annotate=False``):
    every input frame, at the input's size, rate and timestamps, frames between
    analysed ones showing the last analysed frame's boxes. Outputs of an earlier
    run in the same folder are removed first; a folder another run is writing
    to is refused (:class:`~ferkit.errors.OutputError`).
    """
    video_fields = {f.name for f in fields(VideoOptions)}
    analyzer_fields = {f.name for f in fields(AnalyzerOptions)}
    unknown = set(settings) - video_fields - analyzer_fields
    if unknown:
        raise TypeError(f"analyze_video() got unexpected settings: {', '.join(sorted(unknown))}")
    chosen = {k: v for k, v in settings.items() if k in video_fields}
    options = replace(options, **chosen) if options is not None else VideoOptions(**chosen)
    analyzer_settings = {k: v for k, v in settings.items() if k in analyzer_fields}
    if analyzer is not None and analyzer_settings:
        raise UsageError(f"{', '.join(sorted(analyzer_settings))}: these build an analyzer; "
                         "with analyzer=..., configure that analyzer instead")
    analyzer_options = AnalyzerOptions(**analyzer_settings)
    opened = open_source(source)
    try:
        if analyzer is None:
            from ferkit.analyzer import Analyzer

            analyzer = Analyzer.from_options(analyzer_options)
        return VideoAnalysis(opened, options, analyzer, out_dir)
    except BaseException:
        opened.close()
        raise
