"""Charts of a video's result: ``timeline_<track>.png`` per track and ``overview.png``.

Figures are drawn with matplotlib's object API on the Agg canvas, so no display
or pyplot state is involved.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from ferkit.annotate import class_color
from ferkit.video.summary import TrackSummary, VideoResult


def _rgb(label: str) -> tuple[float, float, float]:
    return tuple(c / 255 for c in class_color(label))


def plot_timeline(summary: TrackSummary, labels: list[str], path: str | os.PathLike,
                  title: str = "") -> None:
    """Each class's probability over the track's time on screen."""
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
    ax.set_title(title or f"track {summary.track}: {summary.dominant} "
                 f"({summary.start_time:.1f}-{summary.end_time:.1f} s, {summary.frames} frames)")
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, title="mean", title_fontsize=8)
    fig.savefig(path)


def plot_overview(result: VideoResult, path: str | os.PathLike) -> None:
    """Top class of each track over time (one row per track) and each track's share of classes."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    tracks, labels = result.tracks, result.labels
    rows = max(len(tracks), 1)
    fig = Figure(figsize=(10, 2.2 + 0.45 * rows), dpi=110, layout="constrained")
    time_ax, share_ax = fig.subplots(1, 2, width_ratios=(3, 1), sharey=True)
    for row, s in enumerate(tracks):
        times, probs = s.timeline.times, s.timeline.probabilities
        edges = _segment_edges(times, s.start_time, s.end_time)
        top = probs.argmax(1)
        time_ax.broken_barh([(a, b - a) for a, b in zip(edges[:-1], edges[1:])], (row - 0.35, 0.7),
                            facecolors=[_rgb(labels[k]) for k in top])
        left = 0.0
        for label in labels:
            width = s.share[label]
            share_ax.barh(row, width, left=left, color=_rgb(label), height=0.7)
            left += width
    time_ax.set_yticks(range(len(tracks)), [f"#{s.track}" for s in tracks])
    time_ax.set_ylim(rows - 0.5, -0.5)
    end = result.info.duration or max((s.end_time for s in tracks), default=1.0)
    time_ax.set_xlim(0, max(end, max((s.end_time for s in tracks), default=0.0)))
    time_ax.set_xlabel("time (s)")
    time_ax.set_ylabel("track")
    time_ax.set_title(f"{Path(result.source).name}: top expression per track over time")
    time_ax.grid(axis="x", alpha=0.3)
    share_ax.set_xlim(0, 1)
    share_ax.set_xlabel("share of frames")
    share_ax.set_title("expression share")
    if not tracks:
        time_ax.text(0.5, 0.5, "no tracked faces", ha="center", va="center", transform=time_ax.transAxes)
    fig.legend(handles=[Patch(color=_rgb(k), label=k) for k in labels], loc="outside lower center",
               ncols=min(len(labels), 8), fontsize=8)
    fig.savefig(path)


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
    """Every chart of ``result`` as ``(path, draw)``: a timeline per track, then the overview."""
    if not have_matplotlib():   # the base install: one notice, no charts
        log.warning(NO_MATPLOTLIB)
        return []
    out = Path(out_dir)
    jobs: list[tuple[Path, Callable[[Path], None]]] = [
        (out / f"timeline_{s.track}.png", partial(plot_timeline, s, result.labels)) for s in result.tracks]
    jobs.append((out / "overview.png", partial(plot_overview, result)))
    return jobs


def write_plots(result: VideoResult, out_dir: str | os.PathLike) -> dict[str, str]:
    """All charts of ``result`` into ``out_dir``; returns ``{file name: path}``."""
    written = {}
    for path, draw in chart_jobs(result, out_dir):
        draw(path)
        written[path.name] = str(path)
    return written
