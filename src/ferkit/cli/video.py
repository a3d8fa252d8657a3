"""``ferkit video`` (files and streams to result files) and ``ferkit live`` (camera or stream, on screen)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.progress import ProgressColumn
from rich.table import Table
from rich.text import Text

from ferkit.progress import progress_bar

from . import app
from ._common import (
    CUT_THRESHOLD,
    DETECT_EVERY,
    DETECT_SIZE,
    DETECTOR,
    EVERY,
    EXIT_INTERRUPTED,
    FPS,
    MARGIN,
    MAX_GAP,
    MIN_FACE_SIZE,
    MIN_TRACK_FRAMES,
    MODEL,
    PRIOR_CORRECTION,
    QUIET,
    SMOOTH_FRAMES,
    SMOOTHING,
    THREADS,
    analyzer_options,
    check_names,
    err,
    print_error,
    print_warning,
    video_options,
)


class FpsColumn(ProgressColumn):
    """Frames per second over the last seconds."""

    def render(self, task) -> Text:
        return Text(f"{task.speed or 0:5.1f} fps")


@app.command()
def video(
    source: str = typer.Argument(..., help="Video file (mp4, mov, avi, mkv, webm, ...) or rtsp:// / http:// URL."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for frames.csv, tracks.json/csv, plots and annotated.mp4."),
    every: Optional[int] = EVERY, fps: Optional[float] = FPS, detect_every: int = DETECT_EVERY,
    smoothing: str = SMOOTHING, smooth_frames: bool = SMOOTH_FRAMES,
    min_track_frames: int = MIN_TRACK_FRAMES, max_gap: int = MAX_GAP,
    cut_threshold: float = CUT_THRESHOLD, detector: Optional[str] = DETECTOR, model: Optional[str] = MODEL,
    margin: Optional[float] = MARGIN, min_face_size: Optional[int] = MIN_FACE_SIZE,
    detect_size: Optional[int] = DETECT_SIZE, prior_correction: Optional[float] = PRIOR_CORRECTION, threads: int = THREADS,
    no_annotate: bool = typer.Option(False, "--no-annotate", help="Do not write annotated.mp4."),
    no_plots: bool = typer.Option(False, "--no-plots", help="Do not draw the timeline and overview charts."),
    no_audio: bool = typer.Option(False, "--no-audio", help="Leave the input's audio out of annotated.mp4."),
    quiet: bool = QUIET,
) -> None:
    """Track every face in a video and follow its expression over time."""
    started = time.perf_counter()
    options = video_options(every, fps, detect_every, smoothing, smooth_frames, min_track_frames,
                            max_gap, cut_threshold, annotate=not no_annotate, plots=False,
                            audio=not no_audio)
    check_names(detector, model)
    run = _start(source, out, options,
                 lambda: analyzer_options(detector, model, margin, min_face_size, detect_size, threads,
                                          prior_correction))
    _finish_run(run, _drive, charts=not no_plots, quiet=quiet, started=started)


@app.command()
def live(
    source: str = typer.Argument("0", help="Camera index, /dev/video* device, rtsp:// / http:// URL or file."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write frames.csv, tracks and charts here, and annotated.mp4 when there is no window (no display: default ./ferkit-live-<time>)."),
    every: Optional[int] = EVERY, fps: Optional[float] = FPS, detect_every: int = DETECT_EVERY,
    smoothing: str = SMOOTHING, min_track_frames: int = MIN_TRACK_FRAMES, max_gap: int = MAX_GAP,
    cut_threshold: float = CUT_THRESHOLD, detector: Optional[str] = DETECTOR, model: Optional[str] = MODEL,
    margin: Optional[float] = MARGIN, min_face_size: Optional[int] = MIN_FACE_SIZE,
    detect_size: Optional[int] = DETECT_SIZE, prior_correction: Optional[float] = PRIOR_CORRECTION, threads: int = THREADS,
    no_audio: bool = typer.Option(False, "--no-audio", help="Leave the stream's audio out of annotated.mp4."),
    quiet: bool = QUIET,
) -> None:
    """Expressions from a camera or stream: on screen when a display exists, else to annotated.mp4.

    q or Esc in the window, or Ctrl-C, ends; the summaries are written either way.
    """
    started = time.perf_counter()
    options = video_options(every, fps, detect_every, smoothing, False, min_track_frames,
                            max_gap, cut_threshold, annotate=True, plots=False, audio=not no_audio)
    check_names(detector, model)
    window = _has_display()
    no_gui = window and not _opencv_has_gui()   # opencv-python-headless: no windows
    window = window and not no_gui
    options.annotate = not window
    if not window and out is None:
        out = Path(f"ferkit-live-{time.strftime('%Y%m%d-%H%M%S')}")
    run = _start(source, out, options,
                 lambda: analyzer_options(detector, model, margin, min_face_size, detect_size, threads,
                                          prior_correction))
    if no_gui:
        print_warning(f"OpenCV here has no window support, so the stream goes to {out / 'annotated.mp4'}; "
                      f"{OPENCV_WINDOW_HINT}")
    elif not window and not quiet:
        err.print(f"no display: writing the annotated stream to {out / 'annotated.mp4'}; Ctrl-C ends")
    _finish_run(run, _show if window else _drive, charts=True, quiet=quiet, started=started)


def _start(source: str, out: Path | None, options, analyzer_settings):
    """Open ``source`` first (a missing camera or a bad file is said at once), then
    load the video stack and the models. ``analyzer_settings()`` gives the
    :class:`~ferkit.analyzer.AnalyzerOptions`."""
    from ferkit.video.source import open_source, opening_abandoned

    try:
        opened = open_source(source)
    except KeyboardInterrupt:
        if opening_abandoned():
            # FFmpeg is still connecting on a worker thread that cannot be stopped,
            # and tearing the interpreter down under it can crash (SIGSEGV): nothing
            # is written yet, so leave at once.
            print_error("interrupted", kind="warning")
            sys.stderr.flush()
            os._exit(EXIT_INTERRUPTED)
        raise
    try:
        from ferkit.analyzer import Analyzer
        from ferkit.video.pipeline import VideoAnalysis

        return VideoAnalysis(opened, options, Analyzer.from_options(analyzer_settings()), out)
    except BaseException:
        opened.close()
        raise


def _finish_run(run, loop, *, charts: bool, quiet: bool, started: float) -> None:
    """Run ``loop`` (:func:`_drive` or :func:`_show`), complete the outputs, draw the
    charts, report, and exit: 130 when Ctrl-C cut the run or its charts short,
    else 0, or 1 when decoding failed. ``started``: when the command started
    (``time.perf_counter()``), for the total time in the report."""
    with _ctrl_c(run) as ctrl:
        loop(run, ctrl, quiet)
        result = run.result
        stopped = ctrl.presses > 0 and not result.complete
        if stopped and not quiet:
            print_warning("interrupted: results cover the frames analysed so far")
        charts_started = time.perf_counter()
        charted = _charts(run, ctrl, quiet) if charts else True
        times = Timings(total=time.perf_counter() - started, analysis=result.seconds,
                        files=run.finish_seconds, charts=time.perf_counter() - charts_started)
        _report(result, quiet, times)
    if stopped or not charted:
        raise typer.Exit(EXIT_INTERRUPTED)
    raise typer.Exit(0 if result.ok else 1)


class Timings:
    """Seconds of a run, for its report: ``total`` from the command's start, of which
    ``analysis`` (first to last frame), ``files`` (completing the output files) and
    ``charts``; the rest is starting up (loading the models, opening the source)."""

    def __init__(self, total: float, analysis: float, files: float, charts: float) -> None:
        self.total, self.analysis, self.files, self.charts = total, analysis, files, charts

    @property
    def start(self) -> float:
        return max(self.total - self.analysis - self.files - self.charts, 0.0)


def _drive(run, ctrl: "_CtrlC", quiet: bool) -> None:
    """Run to the end (or to Ctrl-C) with a progress bar, then complete the outputs."""
    from ferkit.video import VideoDecodeError

    progress = progress_bar(not quiet, FpsColumn(), console=err)
    name = Path(run.info.source).name[:40]
    with progress:
        task = progress.add_task(f"{name} (frames)", total=run.info.frame_count)

        def finishing() -> None:   # the source ran out: from here Ctrl-C only skips the charts
            ctrl.finishing()
            progress.update(task, description=f"{name} (writing files)")

        run.on_finishing = finishing
        try:
            for frame in run:
                progress.update(task, completed=frame.frame + 1)
                if ctrl.stop.is_set():
                    ctrl.finishing()   # before the break: it makes the run write its files
                    break
        except (VideoDecodeError, KeyboardInterrupt):
            pass  # the error is in result.error; Ctrl-C: the outputs are completed below
        ctrl.finishing()
        run.close()


def _show(run, ctrl: "_CtrlC", quiet: bool) -> None:
    """Run with a window showing each analysed frame; q, Esc or Ctrl-C ends."""
    import cv2

    from ferkit.annotate import draw_faces
    from ferkit.video import VideoDecodeError

    title = f"ferkit live: {run.info.source} (q to quit)"
    try:
        for frame in run:
            image = draw_faces(frame.image, frame.faces)
            cv2.imshow(title, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            if cv2.waitKey(1) & 0xFF in (ord("q"), 27) or ctrl.stop.is_set():
                ctrl.finishing()
                break
    except (VideoDecodeError, KeyboardInterrupt):
        pass
    except cv2.error as e:  # an OpenCV build without GUI support
        print_error(f"cannot open a window ({e.msg.strip()}); use --out without a display")
    finally:
        ctrl.finishing()
        run.close()
        try:
            cv2.destroyAllWindows()
        except cv2.error:   # a build without windows raises here too
            pass


class _CtrlC:
    """What Ctrl-C (SIGINT) does at each stage of a run.

    While frames are analysed, the first press asks to stop after the frame in hand
    (:attr:`stop`) and the second stops at once (``KeyboardInterrupt``). From then
    on, and whenever the run is completing its outputs, presses are only counted:
    ``frames.csv``, ``annotated.mp4`` and ``tracks.json``/``tracks.csv`` are always
    finished, and the charts are skipped (:attr:`skip_charts`). While the charts
    are drawn, a press skips the rest of them.
    """

    def __init__(self, run) -> None:
        self.run = run
        self.stop = threading.Event()
        self.presses = 0
        self.skip_charts = False
        self._stage = "running"   # running -> finishing -> charts -> done

    def finishing(self) -> None:
        """The run is about to complete its outputs: no more KeyboardInterrupt."""
        if self._stage == "running":
            self._stage = "finishing"

    def charts(self) -> None:
        """Charts are being drawn: the next press raises KeyboardInterrupt."""
        self._stage = "charts"

    def done(self) -> None:
        self._stage = "done"

    def __call__(self, signum, frame) -> None:
        self.presses += 1
        if self._stage == "charts":
            self._stage = "done"
            raise KeyboardInterrupt
        if self._stage == "done":
            return
        if self._stage == "finishing" or self.run.result is not None:
            self.skip_charts = True
            return   # the run is writing its result: let it finish
        if not self.stop.is_set():
            self.stop.set()
            return
        self._stage = "finishing"
        self.skip_charts = True
        raise KeyboardInterrupt


@contextmanager
def _ctrl_c(run):
    """Install :class:`_CtrlC` as the SIGINT handler for the run, its outputs and its report."""
    ctrl = _CtrlC(run)
    previous = signal.signal(signal.SIGINT, ctrl)
    try:
        yield ctrl
    finally:
        signal.signal(signal.SIGINT, previous)


def _charts(run, ctrl: _CtrlC, quiet: bool) -> bool:
    """Draw ``timeline_<track>.png`` and ``overview.png`` one by one with a progress
    bar, each listed in ``result.outputs`` once written; Ctrl-C skips the rest (a
    chart it cut short is removed). Returns whether all were drawn."""
    result = run.result
    if run.out_dir is None:
        return True
    path, drawn = None, 0
    try:
        ctrl.charts()
        if ctrl.skip_charts:   # Ctrl-C while the run was finishing
            raise KeyboardInterrupt
        # matplotlib loads here, where Ctrl-C skips the charts
        from ferkit.video.plots import chart_jobs

        jobs = chart_jobs(result, run.out_dir)   # none without matplotlib (said once)
        if not jobs:
            return True
        with progress_bar(not quiet, console=err) as progress:
            task = progress.add_task(f"{Path(run.info.source).name[:40]} (charts)", total=len(jobs))
            for path, draw in jobs:
                draw(path)
                result.outputs[path.name] = str(path)
                drawn += 1
                progress.update(task, completed=drawn)
        return True
    except KeyboardInterrupt:
        if path is not None and path.name not in result.outputs:
            path.unlink(missing_ok=True)
        print_warning("Ctrl-C: the remaining charts skipped" if drawn else "Ctrl-C: charts skipped")
        return False
    finally:
        ctrl.done()


def _report(result, quiet: bool, times: Timings) -> None:
    if result.error:
        print_error(result.error)
    if quiet:
        return
    table = Table(title=f"{len(result.tracks)} tracked faces ({result.short_tracks} shorter than "
                        f"{result.settings['min_track_frames']} frames left out)")
    for col in ("track", "from (s)", "to (s)", "frames", "dominant", "share"):
        table.add_column(col, justify="right" if col != "share" else "left")
    shown = 20
    for s in result.tracks[:shown]:
        top = sorted(s.share.items(), key=lambda kv: -kv[1])[:3]
        table.add_row(str(s.track), f"{s.start_time:.2f}", f"{s.end_time:.2f}", str(s.frames),
                      s.dominant, ", ".join(f"{k} {v:.0%}" for k, v in top if v > 0))
    err.print(table)
    if len(result.tracks) > shown:
        err.print(f"... and {len(result.tracks) - shown} more tracks in tracks.csv")
    written = {name: Path(path) for name, path in result.outputs.items() if Path(path).is_file()}
    if written:
        folder = next(iter(written.values())).parent
        err.print(f"results in {folder}: {', '.join(sorted(written))}")
    speed = result.frames_analysed / result.seconds if result.seconds else 0.0
    err.print(f"{result.frames_analysed} of {result.frames_decoded} frames analysed in "
              f"{result.seconds:.1f} s ({speed:.1f} fps); {times.total:.1f} s in all: "
              f"start {times.start:.1f} s, analysis {times.analysis:.1f} s, "
              f"files {times.files:.1f} s, charts {times.charts:.1f} s")


# opencv-python-headless, when installed after opencv-python (another package may bring
# it), overwrites the shared cv2 files with its build without windows.
OPENCV_WINDOW_HINT = ("for a live window, reinstall OpenCV's build with windows: "
                      "pip install --force-reinstall --no-deps opencv-python")


def _opencv_has_gui() -> bool:
    """Whether this OpenCV build can open windows: its build information says ``GUI: NONE``
    when it cannot (opencv-python-headless); when it does not say, assume it can."""
    import cv2

    for line in cv2.getBuildInformation().splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "GUI":
            return value.strip().upper() != "NONE"
    return True


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or sys.platform in ("win32", "darwin"))
