"""Video pipeline speed and memory on this machine.

    python benchmarks/video.py [--threads N] [--seconds S] [--minutes M] [--every N] [--charts-only]
                               [--rounds R] [--speed-only] [--profile]

First, ferkit now against ferkit before, in one run: ``now`` is the default
analyzer (``fast``: coarse-to-fine detection, decoding and detection on a
worker thread beside classification), ``before`` one with ``fast=False`` (the
single full-size pass, one stage at a time; ``FERKIT_FAST=0`` for the CLI).
Clips of 640x480 and 1280x720, detector on every frame, in interleaved rounds
(medians): ``analyze_video`` alone, with every output, and ``ferkit video``
end to end in a fresh process (start-up, outputs and charts included).
``--profile`` adds a cProfile table of each thread of the 640x480 run, both
ways; ``--speed-only`` stops after these.

Renders test clips from the real Pexels clip (one face; ../shared/data/videos)
letterboxed to 640x480 and 1280x720, and prints end-to-end frames per second
with the detector on every frame and on every 5th, at the detector's default
input size and at ``--detect-size`` (320), both for the analysis alone
(iterating ``analyze_video`` without an output folder) and with every output
(frames.csv, annotated.mp4, tracks, charts), with the time per frame spent in
each stage. ``fps`` is the streaming rate (open to last frame); ``files`` the
one-off seconds after it (summaries, closing files), ``charts`` the seconds the
timelines and the overview then take. ``decode`` is
timed separately on the same clip; FFmpeg decodes in its own threads, so
``rest`` (tracking, cut detection, CSV, drawing, encoding) can come out
slightly negative when decoding overlaps inference. Then renders a long low-resolution video (``--minutes``, default
10) and reports resident memory through its analysis, to show it stays flat.

Charts: the Hamilton clip (several people, about 17 tracks at 3 fps with
``min_track_frames=1``) is analysed once and each of its charts drawn as ferkit
draws them now (one timeline figure laid out once and redrawn per track, one
render per PNG, light compression) and as it drew them before (a new
constrained-layout figure per chart, saved with ``savefig``: two renders, a
rectangle per bar; the ``*_before`` functions below reproduce that).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import resource
import statistics
import subprocess
import sys
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
from ferkit.runtime import RunAhead
from ferkit.video import analyze_video
from ferkit.video.plots import _rgb, _segment_edges, chart_jobs, write_plots
from ferkit.video.source import open_source

REPO = Path(__file__).resolve().parents[1]
VIDEOS = REPO.parent / "shared" / "data" / "videos"
CLIP = VIDEOS / "pyfeat_WolfgangLanger_Pexels.mp4"
CROWD = VIDEOS / "facerec_short_hamilton_clip.mp4"


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
    the seconds the run then takes to complete its files (summaries, closing files),
    and the seconds its charts take."""
    timed = TimedAnalyzer(analyzer)
    start = time.perf_counter()
    run = analyze_video(path, analyzer=timed, detect_every=detect_every, out_dir=out_dir, plots=False)
    for _ in run:
        last = time.perf_counter()
    files = time.perf_counter() - last
    charts = 0.0
    if out_dir is not None:
        t = time.perf_counter()
        write_plots(run.result, out_dir)
        charts = time.perf_counter() - t
    n = run.result.frames_analysed
    seconds = last - start
    return {"fps": n / seconds, "ms": 1000 * seconds / n, "files": files, "charts": charts,
            "detect": 1000 * timed.seconds["detect"] / n, "classify": 1000 * timed.seconds["classify"] / n}


def cli_fps(path: Path, frames: int, out_dir: Path, fast: bool) -> float:
    """Frames per second of ``ferkit video`` in a fresh process, start-up to exit."""
    env = {**os.environ, "FERKIT_FAST": "1" if fast else "0"}
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", "from ferkit.cli import main; main()", "video", str(path),
                           "--out", str(out_dir), "--quiet"], env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"ferkit video failed: {done.stderr.strip()[-300:]}")
    return frames / (time.perf_counter() - t)


def now_vs_before(clips: list[tuple[Path, int]], threads: int, rounds: int, tmp: Path) -> Table:
    """fps now and before on each clip, detector on every frame, interleaved rounds."""
    analyzers = {"before": Analyzer(threads=threads, fast=False), "now": Analyzer(threads=threads)}
    table = Table(title="ferkit video now (fast) and before (fast=False), detector on every frame, "
                        f"medians of {rounds} interleaved rounds")
    for col in ("clip", "run", "now fps", "before fps", "now / before", "detect ms", "classify ms"):
        table.add_column(col, justify="right")
    for clip, frames in clips:
        for an in analyzers.values():
            analyze_video(clip, analyzer=an, every=1000).collect()   # warm-up
        size = clip.stem.split("_")[-1]
        for run in ("analysis only", "all outputs", "ferkit video CLI"):
            fps, stages = {k: [] for k in analyzers}, {k: [] for k in analyzers}
            for _ in range(rounds):
                for name, an in analyzers.items():
                    out = tmp / f"vs_{name}"
                    if run == "ferkit video CLI":
                        try:
                            fps[name].append(cli_fps(clip, frames, out, name == "now"))
                        except RuntimeError as e:
                            Console(stderr=True).print(str(e), markup=False)
                            fps[name].append(float("nan"))
                        continue
                    s = speed(clip, an, 1, out if run == "all outputs" else None)
                    fps[name].append(s["fps"])
                    stages[name].append((s["detect"], s["classify"]))
            now, before = statistics.median(fps["now"]), statistics.median(fps["before"])
            stage = ["-", "-"]
            if stages["now"]:
                stage = [f"{statistics.median(x[i] for x in stages['now']):.1f} / "
                         f"{statistics.median(x[i] for x in stages['before']):.1f}" for i in (0, 1)]
            table.add_row(size, run, f"{now:.1f}", f"{before:.1f}", f"{now / before:.2f}x", *stage)
    return table


def profile_tables(path: Path, analyzer: Analyzer, out_dir: Path, top: int = 12) -> dict[str, str]:
    """cProfile of one ``analyze_video`` run with every output: the main thread and,
    when it runs ahead, the decode/detect worker thread, by own time."""
    profiles = {"main thread": cProfile.Profile()}
    fill = RunAhead._fill

    def profiled_fill(self, items):
        profiles["worker thread (decode, sample, cuts, detect)"] = prof = cProfile.Profile()
        prof.enable()
        try:
            fill(self, items)
        finally:
            prof.disable()

    RunAhead._fill = profiled_fill
    try:
        profiles["main thread"].enable()
        t = time.perf_counter()
        result = analyze_video(path, analyzer=analyzer, out_dir=out_dir, plots=False).collect()
        seconds = time.perf_counter() - t
        profiles["main thread"].disable()
    finally:
        RunAhead._fill = fill
    tables = {}
    for name, prof in profiles.items():
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(top)
        body = text.getvalue()
        tables[f"{name}, {result.frames_analysed} frames in {seconds:.2f} s"] = body[body.index("   ncalls"):]
    return tables


def timeline_before(summary, labels, path) -> None:
    """A timeline as ferkit drew it before: a new constrained-layout figure, ``savefig``."""
    from matplotlib.figure import Figure

    times, probs = summary.timeline.times, summary.timeline.probabilities
    fig = Figure(figsize=(8, 3.2), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    marker = "o" if len(times) < 3 else None
    for k, label in enumerate(labels):
        ax.plot(times, probs[:, k], color=_rgb(label), lw=1.6, marker=marker, ms=3,
                label=f"{label} {summary.mean[label]:.2f}")
    ax.set_ylim(0, 1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("probability")
    ax.set_title(f"track {summary.track}: {summary.dominant} ({summary.start_time:.1f}-"
                 f"{summary.end_time:.1f} s, {summary.frames} frames)")
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, title="mean", title_fontsize=8)
    fig.savefig(path)


def overview_before(result, path) -> None:
    """The overview as ferkit drew it before: a row 0.45 inch high per track however
    many, ``broken_barh`` per track and a ``barh`` per class per track, ``savefig``."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    tracks, labels = result.tracks, result.labels
    rows = max(len(tracks), 1)
    fig = Figure(figsize=(10, 2.2 + 0.45 * rows), dpi=110, layout="constrained")
    time_ax, share_ax = fig.subplots(1, 2, width_ratios=(3, 1), sharey=True)
    for row, s in enumerate(tracks):
        edges = _segment_edges(s.timeline.times, s.start_time, s.end_time)
        top = s.timeline.probabilities.argmax(1)
        time_ax.broken_barh([(a, b - a) for a, b in zip(edges[:-1], edges[1:])], (row - 0.35, 0.7),
                            facecolors=[_rgb(labels[k]) for k in top])
        left = 0.0
        for label in labels:
            share_ax.barh(row, s.share[label], left=left, color=_rgb(label), height=0.7)
            left += s.share[label]
    time_ax.set_yticks(range(len(tracks)), [f"#{s.track}" for s in tracks])
    time_ax.set_ylim(rows - 0.5, -0.5)
    time_ax.set_xlim(0, result.info.duration or max((s.end_time for s in tracks), default=1.0))
    time_ax.set_xlabel("time (s)")
    time_ax.set_title(f"{Path(result.source).name}: top expression per track over time")
    share_ax.set_xlim(0, 1)
    share_ax.set_title("expression share")
    fig.legend(handles=[Patch(color=_rgb(k), label=k) for k in labels], loc="outside lower center",
               ncols=min(len(labels), 8), fontsize=8)
    fig.savefig(path)


def chart_times(analyzer: Analyzer, out_dir: Path, fps: float = 3.0) -> tuple[list, dict]:
    """Seconds per chart of the crowd clip, now and before: ``[(name, now, before)]``."""
    result = analyze_video(CROWD, analyzer=analyzer, fps=fps, min_track_frames=1).collect()
    from matplotlib.figure import Figure  # imported before timing: both ways pay it once

    Figure()
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    before = {f"timeline_{s.track}.png": (lambda p, s=s: timeline_before(s, result.labels, p))
              for s in result.tracks}
    before["overview.png"] = lambda p: overview_before(result, p)
    for path, draw in chart_jobs(result, out_dir):
        t = time.perf_counter()
        draw(path)
        now = time.perf_counter() - t
        t = time.perf_counter()
        before[path.name](out_dir / f"before_{path.name}")
        rows.append((path.name, now, time.perf_counter() - t))
    return rows, {"tracks": len(result.tracks), "analysed": result.frames_analysed,
                  "duration": result.info.duration}


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
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0: automatic)")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of the speed clips")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the memory video (0: skip)")
    parser.add_argument("--every", type=int, default=10, help="sampling of the memory video")
    parser.add_argument("--detect-size", type=int, default=320, help="the smaller detector input to compare")
    parser.add_argument("--charts-only", action="store_true", help="only the chart timings")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of now/before")
    parser.add_argument("--videos", type=Path, default=VIDEOS, help="the shared videos (../shared/data/videos)")
    parser.add_argument("--speed-only", action="store_true", help="only ferkit now against before")
    parser.add_argument("--profile", action="store_true", help="cProfile tables of the 640x480 run, both ways")
    args = parser.parse_args()
    global CLIP, CROWD
    CLIP, CROWD = args.videos / CLIP.name, args.videos / CROWD.name
    console = Console(width=130)
    for needed in (CLIP, CROWD):
        if not needed.exists():
            raise SystemExit(f"needs {needed}")
    analyzer = Analyzer(threads=args.threads)
    small = Analyzer(create_detector("retinaface", max_side=args.detect_size, threads=args.threads),
                     threads=args.threads)
    console.print(f"ferkit video benchmark: {os.cpu_count()} CPUs, onnxruntime threads={args.threads}, "
                  f"load average {os.getloadavg()[0]:.1f} before start")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if not args.charts_only:
            frames = int(args.seconds * 24)
            clips = [(render(tmp / f"vs_{w}x{h}.mp4", (w, h), frames), frames) for w, h in ((640, 480), (1280, 720))]
            console.print(now_vs_before(clips, args.threads, args.rounds, tmp))
            if args.profile:
                for fast in (False, True):
                    an = Analyzer(threads=args.threads, fast=fast)
                    analyze_video(clips[0][0], analyzer=an, every=1000).collect()   # warm-up
                    for title, body in profile_tables(clips[0][0], an, tmp / "profile", 14).items():
                        console.print(f"\n[bold]{'now' if fast else 'before'}: {title}[/bold]")
                        console.print(body, markup=False, highlight=False)
            if args.speed_only:
                return
        rows, about = chart_times(analyzer, tmp / "charts")
        console.print(f"charts of {CROWD.name} ({about['duration']:.1f} s, {about['analysed']} frames "
                      f"analysed at 3 fps, {about['tracks']} tracks):")
        table = Table(title="seconds per chart")
        for col in ("chart", "now", "before", "speed-up"):
            table.add_column(col, justify="right")
        for name, now, before in rows:
            table.add_row(name, f"{now:.3f}", f"{before:.3f}", f"{before / now:.1f}x")
        timelines = [r for r in rows if r[0].startswith("timeline_")]
        if timelines:
            table.add_row("timeline, median", f"{np.median([r[1] for r in timelines]):.3f}",
                          f"{np.median([r[2] for r in timelines]):.3f}", "")
        now, before = sum(r[1] for r in rows), sum(r[2] for r in rows)
        table.add_row("all", f"{now:.2f}", f"{before:.2f}", f"{before / now:.1f}x")
        console.print(table)
        if args.charts_only:
            return

        table = Table(title="end-to-end speed (one face, frames analysed per second)")
        for col in ("clip", "detector input", "detect every", "outputs", "fps", "ms/frame", "detect ms",
                    "classify ms", "decode ms", "rest ms", "files s", "charts s"):
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
                                      f"{rest:.1f}", f"{s['files']:.2f}", f"{s['charts']:.2f}")
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
