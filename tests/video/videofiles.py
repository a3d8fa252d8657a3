"""Videos for tests, written with PyAV: faces from real photos moving along known
paths, and deliberately broken or unusual files."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from skimage import data

from ferkit.imageio import load_image

CROSSING_FRAMES = 50    # frames of the two-faces-crossing clip (conftest.crossing)


def write_video(path: Path, frames, fps: int = 25, codec: str = "libx264", rotation: int = 0,
                pts: list[int] | None = None, time_base: Fraction | None = None) -> Path:
    """Encode RGB frames; ``pts`` (in ``time_base``) gives variable frame timing,
    ``rotation`` a display-matrix rotation (counter-clockwise degrees)."""
    container = av.open(str(path), "w")
    stream = None
    for i, image in enumerate(frames):
        if stream is None:
            stream = container.add_stream(codec, rate=fps)
            stream.height, stream.width = image.shape[:2]
            stream.pix_fmt = "yuv420p"
            if time_base is not None:
                stream.codec_context.time_base = time_base
            if rotation:
                stream.set_display_rotation(rotation)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        if pts is not None:
            frame.pts, frame.time_base = pts[i], time_base
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
    container.close()
    return path


def write_audio_only(path: Path, seconds: float = 1.0, rate: int = 16000) -> Path:
    container = av.open(str(path), "w")
    stream = container.add_stream("aac", rate=rate)
    for start in range(0, int(seconds * rate), 1024):
        t = (np.arange(1024) + start) / rate
        samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = rate, start
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
    container.close()
    return path


def write_no_frames(path: Path) -> Path:
    """An MP4 whose video stream got no frames."""
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    container.start_encoding()
    container.close()
    return path


def unknown_codec(path: Path) -> Path:
    """An AVI whose video stream names a codec no FFmpeg knows (fourcc ``ZZZZ``)."""
    write_video(path, [np.full((48, 64, 3), 40 * i, np.uint8) for i in range(5)], codec="mpeg4")
    path.write_bytes(path.read_bytes().replace(b"FMP4", b"ZZZZ"))
    return path


def blank_frame_data(source: Path, path: Path) -> Path:
    """A copy of an MP4 with its index intact but every byte of frame data zeroed."""
    raw = bytearray(source.read_bytes())
    start = raw.find(b"mdat") + 4
    raw[start:] = bytes(len(raw) - start)
    path.write_bytes(bytes(raw))
    return path


def truncated_copy(source: Path, path: Path, fraction: float = 0.3) -> Path:
    raw = source.read_bytes()
    path.write_bytes(raw[:int(len(raw) * fraction)])
    return path


@dataclass
class Sprite:
    """A face cut from a photo: the image and the face's box inside it."""

    image: np.ndarray
    face: tuple[float, float, float, float]


def cut_face(image: np.ndarray, box, margin: float = 0.35) -> Sprite:
    x, y, w, h = box
    x0, y0 = max(int(x - margin * w), 0), max(int(y - margin * h), 0)
    x1 = min(int(x + w + margin * w), image.shape[1])
    y1 = min(int(y + h + margin * h), image.shape[0])
    return Sprite(image[y0:y1, x0:x1].copy(), (x - x0, y - y0, w, h))


def face_sprites(analyzer, photos_dir: Path) -> dict[str, Sprite]:
    """The astronaut (scikit-image) and the face of ``fer_justin.jpg``, cut around their detected boxes."""
    sprites = {}
    for name, image in (("astronaut", data.astronaut()),
                        ("justin", load_image(photos_dir / "fer_justin.jpg"))):
        faces = analyzer.detect(image)
        assert len(faces) == 1, f"{name}: expected one face, found {len(faces)}"
        sprites[name] = cut_face(image, faces[0].box)
    return sprites


@dataclass
class Path2D:
    """A face moving linearly: centre from ``start`` to ``end``, face height from ``h0`` to ``h1``."""

    sprite: Sprite
    start: tuple[float, float]
    end: tuple[float, float]
    h0: float
    h1: float

    def face_box(self, s: float) -> tuple[float, float, float, float]:
        """Where the face is at progress ``s`` in [0, 1]."""
        cx = self.start[0] + s * (self.end[0] - self.start[0])
        cy = self.start[1] + s * (self.end[1] - self.start[1])
        h = self.h0 + s * (self.h1 - self.h0)
        fx, fy, fw, fh = self.sprite.face
        w = fw * h / fh
        return (cx - w / 2, cy - h / 2, w, h)

    def paste(self, canvas: np.ndarray, s: float) -> None:
        x, y, w, h = self.face_box(s)
        scale = h / self.sprite.face[3]
        fx, fy = self.sprite.face[:2]
        sh, sw = self.sprite.image.shape[:2]
        size = (max(1, round(sw * scale)), max(1, round(sh * scale)))
        img = cv2.resize(self.sprite.image, size, interpolation=cv2.INTER_AREA)
        ox, oy = round(x - fx * scale), round(y - fy * scale)
        H, W = canvas.shape[:2]
        cx0, cy0 = max(ox, 0), max(oy, 0)
        cx1, cy1 = min(ox + img.shape[1], W), min(oy + img.shape[0], H)
        if cx1 > cx0 and cy1 > cy0:
            canvas[cy0:cy1, cx0:cx1] = img[cy0 - oy:cy1 - oy, cx0 - ox:cx1 - ox]


def background(width: int, height: int) -> np.ndarray:
    """A smooth, slightly textured backdrop with no faces in it."""
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:height, 0:width]
    base = np.stack([90 + 60 * xs / width, 110 + 40 * ys / height, 130 - 30 * xs / width], -1)
    noise = cv2.GaussianBlur(rng.normal(0, 12, (height, width)), (0, 0), 3)[..., None]
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def render(path: Path, paths: dict[str, Path2D], frames: int, size=(640, 480), fps: int = 25):
    """Write a video of the faces moving along ``paths`` (later ones drawn on top);
    returns ``{name: [face box per frame]}``."""
    width, height = size
    backdrop = background(width, height)
    truth = {name: [] for name in paths}

    def images():
        for i in range(frames):
            s = i / max(frames - 1, 1)
            canvas = backdrop.copy()
            for name, p in paths.items():
                p.paste(canvas, s)
                truth[name].append(p.face_box(s))
            yield canvas

    write_video(path, images(), fps=fps)
    return truth


def tone(seconds: float, rate: int, start: int = 0, hz: float = 440.0) -> np.ndarray:
    """A sine tone, float32, mono, as a ``(1, samples)`` array starting at sample ``start``."""
    t = (np.arange(int(seconds * rate)) + start) / rate
    return (0.2 * np.sin(2 * np.pi * hz * t)).astype(np.float32)[None]


def write_video_with_audio(path: Path, frames: list[np.ndarray], fps: int = 25, audio_codec: str = "aac",
                           audio_seconds: float | None = None, rate: int = 48000,
                           video_codec: str = "libx264") -> Path:
    """Encode RGB frames and a 440 Hz tone (``audio_seconds`` long, default as long as
    the video), interleaved by time as a camera or an editor would write them."""
    audio_seconds = len(frames) / fps if audio_seconds is None else audio_seconds
    container = av.open(str(path), "w")
    video = container.add_stream(video_codec, rate=fps)
    video.height, video.width = frames[0].shape[:2]
    video.pix_fmt = "yuv420p"
    audio = container.add_stream(audio_codec, rate=rate, layout="mono")
    chunk = rate // fps                       # one video frame's worth of samples
    sample_fmt = audio.codec_context.codec.audio_formats[0].name
    total = int(audio_seconds * rate)
    for i in range(max(len(frames), -(-total // chunk))):
        if i < len(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frames[i]), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            container.mux(video.encode(frame))
        start = i * chunk
        if start < total:
            samples = tone(min(chunk, total - start) / rate, rate, start)
            block = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
            block.sample_rate, block.pts, block.time_base = rate, start, Fraction(1, rate)
            if sample_fmt != "flt":
                block = av.AudioResampler(format=sample_fmt, layout="mono", rate=rate).resample(block)
            else:
                block = [block]
            for b in block:
                container.mux(audio.encode(b))
    container.mux(video.encode(None))
    container.mux(audio.encode(None))
    container.close()
    return path


def audio_track(path: Path) -> tuple[str, float, float, int] | None:
    """``(codec, first sample's time, end time, samples)`` of a file's first audio
    stream as decoded, or ``None`` when it has none."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        frames = [(f.time, f.samples, f.sample_rate) for f in container.decode(stream)]
        codec = stream.codec_context.name
    first, (last, n, rate) = frames[0][0], frames[-1]
    return codec, first, last + n / rate, sum(f[1] for f in frames)


def audio_packets(path: Path) -> list[tuple[float, bytes]]:
    """``(start seconds, payload)`` of every packet of a file's first audio stream."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return [(float(p.pts * p.time_base), bytes(p)) for p in container.demux(stream) if p.size]


def video_end(path: Path) -> float:
    """When the last frame of a file's first video stream ends (its time plus one frame)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [f.time for f in container.decode(stream)]
        rate = float(stream.average_rate or 25)
    return times[-1] + 1 / rate
