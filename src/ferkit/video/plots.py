"""Charts of a video's result: ``timeline_<track>.png`` per track and ``overview.png``.

Figures are drawn with matplotlib's object API straight on the Agg canvas, so no
display or pyplot state is involved. Every track's timeline has the same layout,
so one :class:`TimelineChart` is built (and laid out) once and only its data,
legend values, limits and title change from track to track; each PNG then costs
one render and a light compression. Only the summarised tracks are drawn (those
with at least ``min_track_frames`` analysed frames).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ferkit.annotate import class_color
from ferkit.video.summary import TrackSummary, VideoResult

DPI = 110
# zlib level 1: about 4x faster to write than the default (6) for these line
# charts, for files about 15% larger.
PNG_OPTIONS = {"compress_level": 1}
OVERVIEW_MAX_ROWS = 40   # beyond this many tracks the overview's rows get thinner, not the figure taller


def _rgb(label: str) -> tuple[float, float, float]:
    return tuple(c / 255 for c in class_color(label))


def _save(fig, path: str | os.PathLike) -> None:
    """One render on the Agg canvas, written as PNG (``savefig`` renders twice when a
    layout engine is set)."""
    fig.canvas.print_png(os.fspath(path), pil_kwargs=dict(PNG_OPTIONS))


class TimelineChart:
    """The timeline figure for a label set, laid out once and redrawn per track.

    >>> chart = TimelineChart(result.labels)
    >>> for s in result.tracks:
    ...     chart.draw(s, f"timeline_{s.track}.png")
    """

    def __init__(self, labels: list[str]) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.labels = list(labels)
        fig = Figure(figsize=(8, 3.2), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        self.lines = [ax.plot([], [], color=_rgb(label), lw=1.6, ms=3, label=f"{label} 0.00")[0]
                      for label in self.labels]
        ax.set_ylim(0, 1)
        ax.set_xlim(0, 1)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("probability")
        ax.set_title("track 0")
        ax.grid(alpha=0.3)
        self.legend = ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8,
                                title="mean", title_fontsize=8)
        # Lay out once with the widest legend values ("0.00" to "1.00": digits have one
        # width), then freeze: every track's chart has the same frame.
        fig.canvas.draw()
        fig.set_layout_engine("none")
        self.fig, self.ax = fig, ax

    def draw(self, summary: TrackSummary, path: str | os.PathLike, title: str = "") -> None:
        """Write ``summary``'s timeline (each class's probability over the track's time) to ``path``."""
        times, probs = summary.timeline.times, summary.timeline.probabilities
        marker = "o" if len(times) < 3 else "None"
        for k, line in enumerate(self.lines):
            line.set_data(times, probs[:, k])
            line.set_marker(marker)
        for text, label in zip(self.legend.get_texts(), self.labels):
            text.set_text(f"{label} {summary.mean[label]:.2f}")
        lo, hi = float(times.min()), float(times.max())
        pad = 0.05 * (hi - lo) if hi > lo else 0.05
        self.ax.set_xlim(lo - pad, hi + pad)
        self.ax.set_title(title or f"track {summary.track}: {summary.dominant} "
                          f"({summary.start_time:.1f}-{summary.end_time:.1f} s, {summary.frames} frames)")
        _save(self.fig, path)


def plot_timeline(summary: TrackSummary, labels: list[str], path: str | os.PathLike,
                  title: str = "") -> None:
    """Each class's probability over the track's time on screen (a one-off figure; for
    many tracks reuse one :class:`TimelineChart`, as :func:`chart_jobs` does)."""
    TimelineChart(labels).draw(summary, path, title)


def plot_overview(result: VideoResult, path: str | os.PathLike) -> None:
    """Top class of each track over time (one row per track) and each track's share of classes.

    Each panel is one collection however many tracks there are, and the figure
    stops growing at :data:`OVERVIEW_MAX_ROWS` rows (rows get thinner instead)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    tracks, labels = result.tracks, result.labels
    rows = max(len(tracks), 1)
    fig = Figure(figsize=(10, 2.2 + 0.45 * min(rows, OVERVIEW_MAX_ROWS)), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    time_ax, share_ax = fig.subplots(1, 2, width_ratios=(3, 1), sharey=True)
    colors = np.array([_rgb(label) for label in labels])
    boxes, faces = [], []
    for row, s in enumerate(tracks):
        edges = _segment_edges(s.timeline.times, s.start_time, s.end_time)
        top = s.timeline.probabilities.argmax(1)
        runs = np.flatnonzero(np.diff(top, prepend=-1))   # where the top class changes: one box a run
        a, b = edges[runs], edges[np.append(runs[1:], len(top))]
        y0, y1 = np.full_like(a, row - 0.35), np.full_like(a, row + 0.35)
        boxes.append(np.stack([np.stack([a, y0], 1), np.stack([a, y1], 1),
                               np.stack([b, y1], 1), np.stack([b, y0], 1)], 1))
        faces.append(colors[top[runs]])
    if tracks:
        time_ax.add_collection(PolyCollection(np.concatenate(boxes), facecolors=np.concatenate(faces),
                                              edgecolors="none"))
        shares = np.array([[s.share[label] for label in labels] for s in tracks])
        left = np.zeros(len(tracks))
        for k in range(len(labels)):
            share_ax.barh(np.arange(len(tracks)), shares[:, k], left=left, color=colors[k], height=0.7)
            left = left + shares[:, k]
    step = -(-len(tracks) // OVERVIEW_MAX_ROWS) if tracks else 1   # label every step-th row
    time_ax.set_yticks(range(0, len(tracks), step), [f"#{s.track}" for s in tracks[::step]])
    time_ax.set_ylim(rows - 0.5, -0.5)
    end = result.info.duration or max((s.end_time for s in tracks), default=1.0)
    time_ax.set_xlim(0, max(end, max((s.end_time for s in tracks), default=0.0)))
    time_ax.set_xlabel("time (s)")
    time_ax.set_ylabel("track")
    time_ax.set_title(f"{Path(result.source).name}: top expression per track over time")
    time_ax.grid(axis="x", alpha=0.3)
    share_ax.set_xlim(0, 1)
    share_ax.set_xlabel("share of time")
    share_ax.set_title("expression share")
    if not tracks:
        time_ax.text(0.5, 0.5, "no tracked faces", ha="center", va="center", transform=time_ax.transAxes)
    fig.legend(handles=[Patch(color=_rgb(k), label=k) for k in labels], loc="outside lower center",
               ncols=min(len(labels), 8), fontsize=8)
    _save(fig, path)


def _segment_edges(times: np.ndarray, start: float, end: float) -> np.ndarray:
    """Boundaries between timeline points: midpoints, bounded by the track's start and end.

    A single-point track gets a sliver wide enough to see."""
    if len(times) == 1:
        return np.array([start, max(end, start + 0.05)])
    mids = (times[:-1] + times[1:]) / 2
    return np.concatenate([[start], mids, [end]])


log = logging.getLogger(__name__)
NO_MATPLOTLIB = "charts skipped: they need matplotlib (pip install 'ferkit[plots]')"


def have_matplotlib() -> bool:
    """Whether matplotlib can be imported (it comes with ``ferkit[plots]``, not the base install)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def chart_jobs(result: VideoResult, out_dir: str | os.PathLike) -> list[tuple[Path, Callable[[Path], None]]]:
    """Every chart of ``result`` as ``(path, draw)``: a timeline per summarised track
    (all drawn on one :class:`TimelineChart`, built by the first), then the overview."""
    if not have_matplotlib():   # the base install: one notice, no charts
        log.warning(NO_MATPLOTLIB)
        return []
    out = Path(out_dir)
    shared: list[TimelineChart] = []

    def timeline(summary: TrackSummary, path: Path) -> None:
        if not shared:
            shared.append(TimelineChart(result.labels))
        shared[0].draw(summary, path)

    jobs: list[tuple[Path, Callable[[Path], None]]] = [
        (out / f"timeline_{s.track}.png", _bind(timeline, s)) for s in result.tracks]
    jobs.append((out / "overview.png", _bind(plot_overview, result)))
    return jobs


def _bind(draw, first) -> Callable[[Path], None]:
    return lambda path: draw(first, path)


def write_plots(result: VideoResult, out_dir: str | os.PathLike) -> dict[str, str]:
    """All charts of ``result`` into ``out_dir``; returns ``{file name: path}``."""
    written = {}
    for path, draw in chart_jobs(result, out_dir):
        draw(path)
        written[path.name] = str(path)
    return written
