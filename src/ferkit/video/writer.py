"""Writing a video's results: ``frames.csv`` row by row as frames are analysed,
``tracks.json`` and ``tracks.csv`` at the end, and ``annotated.mp4`` frame by frame."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import queue
import threading
from collections import deque
from fractions import Fraction
from pathlib import Path

import numpy as np

from ferkit.results import FRAMES_CSV, ImageResult
from ferkit.video.summary import VideoResult
from ferkit.writers import LineFile, csv_lines, write_text_atomic

# H.264 encoders in order of preference (software first: hardware ones need a device);
# MPEG-4 Part 2 is the fallback every FFmpeg build has.
H264_ENCODERS = ("libx264", "libopenh264", "h264_videotoolbox", "h264_mf")
FALLBACK_ENCODER = "mpeg4"


class FrameCsvWriter:
    """``frames.csv`` (:data:`~ferkit.results.FRAMES_CSV`): one row per face per analysed
    frame (one row with an empty ``track`` for a frame without faces), each frame's
    rows written whole and at once; the file is locked while a run writes it."""

    def __init__(self, path: str | os.PathLike, labels: list[str]) -> None:
        self.path = Path(path)
        self.labels = list(labels)
        self._file = LineFile(self.path)
        self._file.write(csv_lines([FRAMES_CSV.columns(self.labels)]))

    def write(self, result: ImageResult) -> None:
        self._file.write(csv_lines(FRAMES_CSV.rows(result, self.labels)))

    def close(self) -> None:
        self._file.close()


def track_columns(labels: list[str]) -> list[str]:
    stats = [f"{stat}_{k}" for stat in ("mean", "std", "min", "max", "share") for k in labels]
    return ["track", "start_frame", "end_frame", "start_time", "end_time", "duration", "frames",
            "detected_frames", "dominant", *stats]


def write_tracks(result: VideoResult, out_dir: str | os.PathLike) -> None:
    """``tracks.json`` (the whole result) and ``tracks.csv`` (one row per summarised track)."""
    out = Path(out_dir)
    csv_path, json_path = out / "tracks.csv", out / "tracks.json"
    columns = track_columns(result.labels)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns)
    writer.writeheader()
    for summary in result.tracks:
        d = summary.to_dict()
        row = {k: d[k] for k in columns[:9]}
        for stat in ("mean", "std", "min", "max", "share"):
            row.update({f"{stat}_{k}": v for k, v in d[stat].items()})
        writer.writerow(row)
    write_text_atomic(csv_path, buffer.getvalue())
    write_text_atomic(json_path, json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")


# Fragmented MP4: the header first, then self-contained fragments, each starting at
# a keyframe and written out as soon as it is complete, so a run that is killed
# leaves a file whose fragments so far play. ``delay_moov`` writes the header after
# the first fragment is cut, when the encoder's delay is known, so the edit list
# keeps the input's timestamps. Browsers and players read it as any MP4.
# ``max_interleave_delta`` (microseconds): with an audio stream, the muxer holds
# packets back to interleave the two streams by time, at most this long (the
# default, 10 s, would keep that much video unwritten where the audio pauses).
FRAGMENTED_MP4 = {"movflags": "frag_keyframe+delay_moov+default_base_moof", "flush_packets": "1",
                  "max_interleave_delta": "1000000"}
KEYFRAME_SECONDS = 2.0   # at most this much video is lost when a run is killed
AUDIO_WAITING_MAX = 4096  # audio packets held for video still to come (bounded: files that are not interleaved)

log = logging.getLogger(__name__)


class AnnotatedVideoWriter:
    """An MP4 with the input's size, frame rate and timestamps, encoded with H.264
    when this FFmpeg build has an encoder for it, else MPEG-4 Part 2.

    The file is a fragmented MP4 (:data:`FRAGMENTED_MP4`) with a keyframe at least
    every :data:`KEYFRAME_SECONDS`: if the process dies, the fragments written
    before still decode.

    ``audio``: an input audio stream (PyAV) to copy into the file, its packets
    given to :meth:`write_audio` as they are demuxed; they are muxed as they are
    (not re-encoded), at their own timestamps, and only those that start before the
    end of the last video frame, so the sound ends with the picture. A codec MP4
    cannot hold is left out with a warning (:attr:`audio_stream` is then ``None``).

    Frames are converted and encoded on a background thread (FFmpeg runs without
    the GIL), so encoding overlaps the analysis of the next frames; at most
    ``queue_size`` frames wait. That thread alone muxes, audio included. An
    encoding error is raised by the next :meth:`write` or by :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: float | None,
                 time_base: Fraction, queue_size: int = 8, audio=None) -> None:
        import av

        self.path = Path(path)
        self.codec, pix_fmt, time_base = choose_encoder(width, height, time_base)
        self.container = av.open(str(self.path), "w", format="mp4", options=dict(FRAGMENTED_MP4))
        rate = Fraction(fps).limit_denominator(100_000) if fps else Fraction(25)
        self.stream = self.container.add_stream(self.codec, rate=rate)
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, pix_fmt
        self.stream.codec_context.time_base = time_base
        self.stream.codec_context.gop_size = max(1, int(KEYFRAME_SECONDS * rate))
        if self.codec == "libx264":
            self.stream.codec_context.options = {"preset": "veryfast", "crf": "23"}
        self.time_base = time_base
        self.frame_seconds = 1 / rate
        self.audio_stream = self._add_audio(audio) if audio is not None else None
        self.audio_packets = 0    # muxed
        self._audio_in: deque = deque()        # from write_audio, for the encoder thread
        self._audio_waiting: deque = deque()   # (start seconds, packet) ahead of the video
        self._video_time: float | None = None  # start of the last frame handed to the encoder (s)
        self._last_pts: int | None = None
        self.frames = 0
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._encode_queued, name="ferkit-encoder", daemon=True)
        self._thread.start()

    def _add_audio(self, template):
        """An output stream copying ``template``, or ``None`` where MP4 cannot hold its codec."""
        import av

        name = template.codec_context.name if template.codec_context is not None else "unknown"
        try:
            return self.container.add_stream_from_template(template)
        except (ValueError, av.error.FFmpegError) as e:
            log.warning("%s: the input's audio (%s) is left out: %s", self.path.name, name, e)
            return None

    def write(self, image: np.ndarray, pts: int, time_base: Fraction) -> None:
        """Queue one RGB frame shown at ``pts × time_base`` (the array must not change afterwards)."""
        if self._error is not None:
            raise RuntimeError(f"encoding {self.path.name} failed: {self._error}") from self._error
        if time_base != self.time_base:
            pts = round(pts * time_base / self.time_base)
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1
        self._last_pts = pts
        self._queue.put((image, pts))
        self.frames += 1

    def write_audio(self, packet) -> None:
        """Queue one demuxed packet of the ``audio`` stream (any thread; never blocks)."""
        if self.audio_stream is not None:
            self._audio_in.append(packet)

    def _encode_queued(self) -> None:
        import av

        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain: the error is reported by write() or close()
            image, pts = item
            try:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
                frame.pts, frame.time_base = pts, self.time_base
                self.container.mux(self.stream.encode(frame))
                self._video_time = float(pts * self.time_base)
                self._mux_audio(until=self._video_time + float(self.frame_seconds))
            except Exception as e:  # reported to the caller's thread
                self._error = e

    def _mux_audio(self, until: float) -> None:
        """Mux the audio that starts before ``until`` seconds; keep the rest waiting."""
        if self.audio_stream is None:
            return
        while self._audio_in:
            packet = self._audio_in.popleft()
            ts = packet.pts if packet.pts is not None else packet.dts
            if ts is None or packet.time_base is None:
                continue   # no timestamp: nowhere to put it
            self._audio_waiting.append((float(ts * packet.time_base), packet))
        while self._audio_waiting and (self._audio_waiting[0][0] < until
                                       or len(self._audio_waiting) > AUDIO_WAITING_MAX):
            _, packet = self._audio_waiting.popleft()
            packet.stream = self.audio_stream
            self.container.mux(packet)
            self.audio_packets += 1

    def close(self) -> None:
        """Encode what is queued, finish the file and close it; the audio is cut where
        the last frame ends."""
        if self.container is None:
            return
        self._queue.put(None)
        self._thread.join()
        try:
            if self.frames and self._error is None:
                self.container.mux(self.stream.encode(None))
                if self._video_time is not None:
                    self._mux_audio(until=self._video_time + float(self.frame_seconds))
        finally:
            self._audio_in.clear()
            self._audio_waiting.clear()
            self.container.close()
            self.container = None
        if self._error is not None:
            raise RuntimeError(f"encoding {self.path.name} failed: {self._error}") from self._error


def choose_encoder(width: int, height: int, time_base: Fraction) -> tuple[str, str, Fraction]:
    """``(codec, pixel format, time base)`` of the first encoder that opens at this size;
    the input's time base is kept where the encoder accepts it (MPEG-4 needs a coarse one)."""
    import av

    even = width % 2 == 0 and height % 2 == 0
    candidates = [(name, "yuv420p" if even or name != "libx264" else "yuv444p") for name in H264_ENCODERS]
    candidates.append((FALLBACK_ENCODER, "yuv420p"))
    for name, pix_fmt in candidates:
        for tb in (time_base, Fraction(1, 1000)):
            try:
                ctx = av.CodecContext.create(name, "w")
                ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = width, height, pix_fmt, tb
                ctx.open()
                return name, pix_fmt, tb
            except (av.error.FFmpegError, ValueError):  # ValueError: unknown codec
                continue
    raise RuntimeError(f"no video encoder in this FFmpeg build can write {width}x{height}")
