"""Video pipeline speed and memory on this machine.

    python benchmarks/video.py [--threads N] [--seconds S] [--minutes M] [--every N]

Renders test clips from the real Pexels clip (one face; ../shared/data/videos)
letterboxed to 640x480 and 1280x720, and prints end-to-end frames per second
with the detector on every frame and on every 5th, at the detector's default
input size and at ``--detect-size`` (320), both for the analysis alone
(iterating ``analyze_video`` without an output folder) and with every output
(frames.csv, annotated.mp4, tracks, charts), with the time per frame spent in
each stage. ``fps`` is the streaming rate (open to last frame); ``finish`` the
one-off seconds after it (summaries, charts, closing files). ``decode`` is
timed separately on the same clip; FFmpeg decodes in its own threads, so
``rest`` (tracking, cut detection, CSV, drawing, encoding) can come out
slightly negative when decoding overlaps inference. Then renders a long low-resolution video (``--minutes``, default
10) and reports resident memory through its analysis, to show it stays flat.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from ferkit.analyzer import Analyzer
from ferkit.detect import create_detector
from ferkit.video import analyze_video
from ferkit.video.source import open_source

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO.parent / "shared" / "data" / "videos" / "pyfeat_WolfgangLanger_Pexels.mp4"


class TimedAnalyzer:
    """An :class:`Analyzer` that adds up the seconds spent detecting and classifying."""

    def __init__(self, analyzer: Analyzer) -> None:
        self.analyzer = analyzer
        self.seconds = {"detect": 0.0, "classify": 0.0}

    def __getattr__(self, name):
        return getattr(self.analyzer, name)

    def detect(self, image):
        t = time.perf_counter()
        faces = self.analyzer.detect(image)
        self.seconds["detect"] += time.perf_counter() - t
        return faces

    def classify(self, image, detections):
        t = time.perf_counter()
        faces = self.analyzer.classify(image, detections)
        self.seconds["classify"] += time.perf_counter() - t
        return faces


def letterbox(image: np.ndarray, width: int, height: int) -> np.ndarray:
    scale = min(width / image.shape[1], height / image.shape[0])
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    canvas = np.zeros((height, width, 3), np.uint8)
    y, x = (height - size[1]) // 2, (width - size[0]) // 2
    canvas[y:y + size[1], x:x + size[0]] = resized
    return canvas


def render(path: Path, size: tuple[int, int], frames: int, fps: int = 24) -> Path:
    """``frames`` frames of the real clip (looped) letterboxed to ``size``, H.264 at ``fps``."""
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
    stream.codec_context.options = {"preset": "ultrafast", "crf": "28"}
    written = 0
    while written < frames:
        for frame in open_source(CLIP).frames():
            image = letterbox(frame.image, *size)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            written += 1
            if written == frames:
                break
    container.mux(stream.encode(None))
    container.close()
    return path


def decode_seconds(path: Path) -> float:
    t = time.perf_counter()
    for _ in open_source(path).frames():
        pass
    return time.perf_counter() - t


def speed(path: Path, analyzer: Analyzer, detect_every: int, out_dir: Path | None) -> dict:
    """Frames per second while streaming (opening the video to the last frame's result),
    and the seconds the run then takes to finish (summaries, charts, closing files)."""
    timed = TimedAnalyzer(analyzer)
    start = time.perf_counter()
    run = analyze_video(path, analyzer=timed, detect_every=detect_every, out_dir=out_dir)
    for _ in run:
        last = time.perf_counter()
    finish = time.perf_counter() - last
    n = run.result.frames_analysed
    seconds = last - start
    return {"fps": n / seconds, "ms": 1000 * seconds / n, "finish": finish,
            "detect": 1000 * timed.seconds["detect"] / n, "classify": 1000 * timed.seconds["classify"] / n}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory(path: Path, analyzer: Analyzer, every: int, out_dir: Path) -> dict:
    """RSS at 10%, 50% and 100% of a long video's analysis, and the process's peak."""
    total = open_source(path).info.frame_count
    marks = {}
    t = time.perf_counter()
    run = analyze_video(path, analyzer=analyzer, every=every, out_dir=out_dir)
    for frame in run:
        done = (frame.frame + 1) / total
        for mark in (0.1, 0.5):
            if done >= mark and mark not in marks:
                marks[mark] = rss_mb()
    marks[1.0] = rss_mb()
    result = run.result
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rss": marks, "peak": peak, "seconds": time.perf_counter() - t,
            "decoded": result.frames_decoded, "analysed": result.frames_analysed,
            "tracks": len(result.tracks), "csv_mb": (out_dir / "frames.csv").stat().st_size / 2**20,
            "duration": result.info.duration}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seconds", type=float, default=6.0, help="length of the speed clips")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the memory video (0: skip)")
    parser.add_argument("--every", type=int, default=10, help="sampling of the memory video")
    parser.add_argument("--detect-size", type=int, default=320, help="the smaller detector input to compare")
    args = parser.parse_args()
    console = Console(width=130)
    if not CLIP.exists():
        raise SystemExit(f"needs {CLIP}")
    analyzer = Analyzer(threads=args.threads)
    small = Analyzer(create_detector("retinaface", max_side=args.detect_size, threads=args.threads),
                     threads=args.threads)
    console.print(f"ferkit video benchmark: {os.cpu_count()} CPUs, onnxruntime threads={args.threads}, "
                  f"load average {os.getloadavg()[0]:.1f} before start")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        table = Table(title="end-to-end speed (one face, frames analysed per second)")
        for col in ("clip", "detector input", "detect every", "outputs", "fps", "ms/frame", "detect ms",
                    "classify ms", "decode ms", "rest ms", "finish s"):
            table.add_column(col, justify="right")
        for size in ((640, 480), (1280, 720)):
            clip = render(tmp / f"clip_{size[0]}x{size[1]}.mp4", size, int(args.seconds * 24))
            decode_ms = 1000 * decode_seconds(clip) / int(args.seconds * 24)
            analyze_video(clip, analyzer=analyzer, every=1000).collect()   # warm-up
            for an, input_side in ((analyzer, "default"), (small, str(args.detect_size))):
                for detect_every in (1, 5):
                    for outputs in (False, True):
                        out = tmp / f"out_{size[0]}_{input_side}_{detect_every}" if outputs else None
                        s = speed(clip, an, detect_every, out)
                        rest = s["ms"] - s["detect"] - s["classify"] - decode_ms
                        table.add_row(f"{size[0]}x{size[1]}", input_side, str(detect_every),
                                      "all" if outputs else "none", f"{s['fps']:.1f}", f"{s['ms']:.1f}",
                                      f"{s['detect']:.1f}", f"{s['classify']:.1f}", f"{decode_ms:.1f}",
                                      f"{rest:.1f}", f"{s['finish']:.2f}")
        console.print(table)

        if args.minutes > 0:
            fps = 10
            long_clip = render(tmp / "long.mp4", (320, 240), int(args.minutes * 60 * fps), fps=fps)
            m = memory(long_clip, analyzer, args.every, tmp / "long_out")
            table = Table(title=f"memory on a {m['duration'] / 60:.1f}-minute video (320x240, {fps} fps, "
                                f"every {args.every}th frame analysed)")
            for col in ("frames decoded", "analysed", "tracks", "frames.csv MB", "RSS at 10% MB",
                        "at 50%", "at 100%", "peak RSS MB", "seconds"):
                table.add_column(col, justify="right")
            table.add_row(str(m["decoded"]), str(m["analysed"]), str(m["tracks"]), f"{m['csv_mb']:.1f}",
                          f"{m['rss'][0.1]:.0f}", f"{m['rss'][0.5]:.0f}", f"{m['rss'][1.0]:.0f}",
                          f"{m['peak']:.0f}", f"{m['seconds']:.0f}")
            console.print(table)
    console.print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
