"""Reading frames: video files and network streams through PyAV, cameras through OpenCV.

Every frame comes out upright (the container's display rotation applied), with
its timestamp from the stream's ``pts × time_base`` so variable-frame-rate
video keeps true times. :class:`Sampler` picks the frames to analyse.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ferkit.errors import InputError, UsageError, check_int

STREAM_TIMEOUT = 10.0   # seconds a stream may stay silent, opening or reading
URL_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")


class VideoSourceError(InputError):
    """The source cannot be read at all (missing, not a video, no video stream, no frames)."""


class VideoDecodeError(InputError):
    """Decoding stopped early (truncated or corrupt file); the frames before it were delivered."""


@dataclass
class VideoInfo:
    """What is known about a source before reading it.

    ``width``/``height`` are of the upright frames; ``fps`` the nominal rate;
    ``frame_count`` and ``duration`` are estimates from the container (``None``
    for live sources); ``rotation`` is the display rotation applied to the
    decoded frames (counter-clockwise degrees, 0-359).
    """

    source: str
    width: int
    height: int
    fps: float | None
    frame_count: int | None
    duration: float | None
    codec: str
    rotation: int = 0
    live: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Frame:
    """One decoded frame: input ``index`` (0-based, every decoded frame counts),
    ``time`` in seconds, the upright RGB ``image`` and its ``pts`` in ``time_base``."""

    index: int
    time: float
    image: np.ndarray
    pts: int
    time_base: Fraction


def as_fraction(rational) -> Fraction | None:
    """PyAV's rationals (``Fraction``, or ``AVRational`` from PyAV 19) as a ``Fraction``."""
    if rational is None:
        return None
    return Fraction(rational.numerator, rational.denominator) if rational.denominator else None


def is_url(source: str) -> bool:
    return source.lower().startswith(URL_SCHEMES)


def open_source(source: str | int | os.PathLike) -> "FileSource | CameraSource":
    """A frame source for a file path, a URL, a camera index (``0`` or ``"0"``) or a device path."""
    if isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
        return CameraSource(int(source))   # on this thread: some camera APIs bind to it
    text = os.fspath(source)
    if is_url(text):
        return open_interruptibly(lambda: FileSource(text, live=True))
    if text.startswith("/dev/video"):
        return open_interruptibly(lambda: FileSource(text, live=True, format="v4l2"))
    path = Path(text)
    if not path.exists():
        raise VideoSourceError(f"{text}: no such file")
    if path.is_dir():
        raise VideoSourceError(f"{text}: is a folder, not a video file")
    if path.stat().st_size == 0:
        raise VideoSourceError(f"{text}: empty file")
    return FileSource(text)


def open_interruptibly(opener):
    """``opener()`` run on a worker thread while this thread waits in short steps, so
    that Ctrl-C (``KeyboardInterrupt``) ends the wait at once: opening a stream or a
    camera blocks inside FFmpeg or OpenCV, where Python cannot act on signals, for up
    to the 10 s open timeout. A source opened after the wait was abandoned is closed
    by the worker; its error, if any, is raised here."""
    handoff = _Handoff()
    worker = threading.Thread(target=handoff.run, args=(opener,), name="ferkit-open", daemon=True)
    worker.start()
    try:
        while not handoff.done.wait(0.05):
            pass
    except BaseException:
        handoff.abandon()
        _ABANDONED.append(worker)
        raise
    return handoff.result()


_ABANDONED: list[threading.Thread] = []


def opening_abandoned() -> bool:
    """Whether an open abandoned by Ctrl-C is still running on its worker thread
    (inside FFmpeg, where it cannot be stopped). Ending the interpreter under it
    can crash the process, so a program that exits now should do so with
    ``os._exit``."""
    return any(worker.is_alive() for worker in _ABANDONED)


class _Handoff:
    """The outcome of :func:`open_interruptibly`'s worker, handed over under a lock so
    that a source is either taken by the waiting thread or closed by the worker."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._abandoned = False
        self._value = None
        self._error: BaseException | None = None

    def run(self, opener) -> None:
        try:
            value, error = opener(), None
        except BaseException as e:  # handed to the waiting thread
            value, error = None, e
        with self._lock:
            if not self._abandoned:
                self._value, self._error = value, error
                self.done.set()
                return
        if value is not None:
            value.close()

    def abandon(self) -> None:
        with self._lock:
            self._abandoned = True
            value, self._value = self._value, None
        if value is not None:
            value.close()

    def result(self):
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return self._value


def upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """Rotate a decoded image by the display matrix angle (counter-clockwise degrees)."""
    k = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(image, k)) if k else image


class FileSource:
    """Frames of a video file or stream decoded by PyAV (FFmpeg)."""

    def __init__(self, source: str, *, live: bool = False, format: str | None = None) -> None:
        import av

        self.name = source
        self.live = live
        options = {"rtsp_transport": "tcp"} if source.lower().startswith("rtsp") else {}
        started = time.monotonic()
        try:  # live sources: give up after STREAM_TIMEOUT s without data, on opening or reading
            self.container = av.open(source, format=format, options=options,
                                     timeout=(STREAM_TIMEOUT, STREAM_TIMEOUT) if live else None)
        except av.error.FFmpegError as e:
            if live and time.monotonic() - started >= STREAM_TIMEOUT:
                raise VideoSourceError(f"{source}: cannot open stream: no answer within "
                                       f"{STREAM_TIMEOUT:g} s") from None
            raise VideoSourceError(_open_message(source, e)) from None
        if not self.container.streams.video:
            kinds = sorted({s.type for s in self.container.streams})
            self.container.close()
            held = f"{', '.join(kinds)} streams only" if kinds else "no streams at all: zero frames"
            raise VideoSourceError(f"{source}: no video stream ({held})")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        if self.stream.codec_context is None:
            self.container.close()
            raise VideoSourceError(f"{source}: video codec not supported by this FFmpeg build")
        # The first audio stream's packets (compressed, as demuxed) go to the audio
        # sink; until one is set (or audio is declined) they wait here.
        self.audio = self.container.streams.audio[0] if self.container.streams.audio else None
        self._audio_sink = None
        self._audio_waiting: list | None = [] if self.audio is not None else None
        self.info = self._info()
        self._frames = self._decode()
        self._first = next(self._frames)  # fails early on files without a decodable frame

    def _info(self) -> VideoInfo:
        s = self.stream
        rate = s.average_rate or s.guessed_rate or s.base_rate
        fps = float(as_fraction(rate)) if rate else None
        duration = None
        if s.duration and s.time_base:
            duration = float(s.duration * as_fraction(s.time_base))
        elif self.container.duration:
            duration = self.container.duration / 1_000_000
        count = s.frames or None
        if count is None and duration and fps and not self.live:
            count = int(round(duration * fps))
        return VideoInfo(self.name, s.codec_context.width, s.codec_context.height, fps,
                         None if self.live else count, None if self.live else duration,
                         s.codec_context.name, 0, self.live)

    def frames(self):
        """Decoded frames in presentation order; raises :class:`VideoDecodeError` after
        the last decodable frame when the file ends early."""
        yield self._first
        yield from self._frames

    def set_audio_sink(self, sink) -> None:
        """Hand the audio stream's packets, in demuxing order, to ``sink(packet)`` (on
        the thread that reads the frames), those read so far first; ``None``: drop them."""
        waiting, self._audio_waiting = self._audio_waiting, None
        self._audio_sink = sink
        if sink is not None:
            for packet in waiting or ():
                sink(packet)

    def _decode(self):
        import av

        index = 0
        failed = None
        last_time = None
        streams = [self.stream] if self.audio is None else [self.stream, self.audio]
        try:
            for packet in self.container.demux(*streams):
                if packet.stream.index != self.stream.index:   # (flush packets' stream_index is 0)
                    self._pass_audio(packet)
                    continue
                try:
                    decoded = packet.decode()
                except av.error.FFmpegError as e:
                    failed = e
                    continue
                for frame in decoded:
                    if index == 0:
                        self._set_rotation(frame.rotation)
                    out = self._convert(frame, index, last_time)
                    last_time = out.time
                    index += 1
                    yield out
        except av.error.FFmpegError as e:
            failed = e
        finally:
            self.close()
        if index == 0:
            reason = f" ({failed})" if failed else ""
            raise VideoSourceError(f"{self.name}: no decodable video frames{reason}")
        self._check_complete(index, last_time, failed)

    def _pass_audio(self, packet) -> None:
        if packet.size == 0:   # the demuxer's flush packet
            return
        if self._audio_sink is not None:
            self._audio_sink(packet)
        elif self._audio_waiting is not None:
            self._audio_waiting.append(packet)

    def _set_rotation(self, rotation: int) -> None:
        self.info.rotation = int(rotation) % 360
        if round(rotation / 90) % 2:
            self.info.width, self.info.height = self.info.height, self.info.width

    def _convert(self, frame, index: int, last_time: float | None) -> Frame:
        image = upright(frame.to_ndarray(format="rgb24"), frame.rotation)
        tb = as_fraction(frame.time_base or self.stream.time_base)
        if frame.pts is not None and tb:
            t, pts = float(frame.pts * tb), frame.pts
        else:  # no timestamps (raw streams): count frames at the nominal rate
            tb = Fraction(1, 1000)
            t = index / (self.info.fps or 25.0)
            pts = round(t * 1000)
        if last_time is not None and t <= last_time:  # broken or duplicate timestamps
            t = last_time + 1e-6
        return Frame(index, t, image, pts, tb)

    def _check_complete(self, decoded: int, last_time: float, failed) -> None:
        if self.live:
            if failed:
                raise VideoDecodeError(f"{self.name}: stream ended with an error after "
                                       f"{decoded} frames ({failed})")
            return
        expected = self.stream.frames or 0
        if expected:
            short = decoded + 2 < expected
        else:
            start = (float(self.stream.start_time * as_fraction(self.stream.time_base))
                     if self.stream.start_time else 0.0)
            info = self.info
            short = bool(info.duration and info.fps
                         and last_time + 2.0 / info.fps + 0.5 < start + info.duration)
        if short:
            of = f" of {expected}" if expected else ""
            why = f": {failed}" if failed else ""
            raise VideoDecodeError(f"{self.name}: truncated or corrupt: decoded {decoded}{of} frames, "
                                   f"up to {last_time:.2f} s{why}")

    def close(self) -> None:
        self.container.close()


class CameraSource:
    """Frames from a local camera through OpenCV (any OS backend); timestamps from a monotonic clock."""

    def __init__(self, index: int) -> None:
        import cv2

        self.name = f"camera {index}"
        self.live = True
        self.audio = None
        with _quiet_opencv():   # no backend-by-backend warnings when the camera is missing
            self.capture = cv2.VideoCapture(index)
        if not self.capture.isOpened():
            self.capture.release()
            hint = ""
            if sys.platform.startswith("linux") and not any(Path("/dev").glob("video*")):
                hint = "; this machine has no /dev/video* devices"
            raise VideoSourceError(f"camera {index}: cannot be opened (no such camera, or it is in use{hint})")
        fps = self.capture.get(cv2.CAP_PROP_FPS) or None
        self._start = time.monotonic()
        self._frames = self._read()
        self._first = next(self._frames)
        h, w = self._first.image.shape[:2]
        self.info = VideoInfo(self.name, w, h, fps, None, None, "camera", 0, True)

    def frames(self):
        yield self._first
        yield from self._frames

    def set_audio_sink(self, sink) -> None:
        """Cameras are read without sound."""

    def _read(self):
        import cv2

        index, last = 0, -1
        try:
            while True:
                ok, bgr = self.capture.read()
                if not ok:
                    break
                ms = max(round((time.monotonic() - self._start) * 1000), last + 1)
                last = ms
                yield Frame(index, ms / 1000, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), ms, Fraction(1, 1000))
                index += 1
        finally:
            self.close()
        if index == 0:
            raise VideoSourceError(f"{self.name}: delivered no frames")

    def close(self) -> None:
        self.capture.release()


class _quiet_opencv:
    """OpenCV's own log silenced for a block (it reports every video backend it tries)."""

    def __enter__(self) -> None:
        import cv2

        self._level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)

    def __exit__(self, *exc) -> None:
        import cv2

        cv2.utils.logging.setLogLevel(self._level)


class Sampler:
    """Which decoded frames to analyse: every ``every``-th frame, or ``fps`` frames a second
    (by timestamp, so variable frame rates sample evenly in time), or all."""

    def __init__(self, every: int | None = None, fps: float | None = None) -> None:
        if every is not None and fps is not None:
            raise UsageError("give every or fps, not both")
        check_int("every", every, low=1, optional=True)
        if fps is not None and not fps > 0:
            raise UsageError(f"fps must be > 0, got {fps}")
        self.every = every
        self.period = 1.0 / fps if fps else None
        self._next_time: float | None = None

    def take(self, frame: Frame) -> bool:
        if self.every is not None:
            return frame.index % self.every == 0
        if self.period is None:
            return True
        if self._next_time is None or frame.time >= self._next_time - 1e-9:
            base = frame.time if self._next_time is None else self._next_time
            steps = max(1, int((frame.time - base) / self.period) + 1)
            self._next_time = base + steps * self.period
            return True
        return False


def _open_message(source: str, error: Exception) -> str:
    lower = source.lower()
    if is_url(lower):
        return f"{source}: cannot open stream ({error})"
    if lower.startswith("/dev/video"):
        return f"{source}: cannot open the camera device: {getattr(error, 'strerror', None) or error}"
    return (f"{source}: not a readable video (not a video file, or truncated/corrupt "
            f"so that its index is missing): {getattr(error, 'strerror', None) or error}")
