"""The charts of a video: drawn for the summarised tracks only, on one shared
timeline figure that leaves nothing of one track in the next, with progress
shown, and the run's total time in the report."""

import json
import re

import numpy as np
import pytest
from matplotlib.image import imread
from typer.testing import CliRunner

from ferkit.cli import app
from ferkit.video.plots import OVERVIEW_MAX_ROWS, chart_jobs, plot_overview, plot_timeline
from ferkit.video.smoothing import Smoothing
from ferkit.video.source import VideoInfo
from ferkit.video.summary import TrackStats, VideoResult

SUMMARY = re.compile(r"(\d+) of (\d+) frames analysed in ([\d.]+) s \([\d.]+ fps\); ([\d.]+) s in all: "
                     r"start ([\d.]+) s, analysis ([\d.]+) s, files ([\d.]+) s, charts ([\d.]+) s")


def test_charts_of_summarised_tracks_with_progress_and_total_time(videos_dir, tmp_path):
    """The Hamilton clip at 3 fps: 17 tracks, of which only those with at least
    --min-track-frames analysed frames get a timeline; the charts' progress bar
    counts them, and the last line adds up the run's time."""
    clip = videos_dir / "facerec_short_hamilton_clip.mp4"
    result = CliRunner().invoke(app, ["video", str(clip), "--out", str(tmp_path), "--fps", "3",
                                      "--no-annotate", "--min-track-frames", "4"])
    output = " ".join(result.output.split())
    assert result.exit_code == 0, output
    saved = json.loads((tmp_path / "tracks.json").read_text())
    kept = [t["track"] for t in saved["tracks"]]
    assert kept and saved["short_tracks"] > 0                    # some tracks were too short
    assert all(t["frames"] >= 4 for t in saved["tracks"])
    assert sorted(p.name for p in tmp_path.glob("timeline_*.png")) == sorted(f"timeline_{k}.png" for k in kept)
    charts = len(kept) + 1
    assert re.search(rf"\(charts\) [━╸╺ ]*{charts}/{charts}", output), output
    last = result.output.strip().splitlines()[-1]
    match = SUMMARY.fullmatch(" ".join(last.split()))
    assert match, last
    analysed, decoded = int(match[1]), int(match[2])
    assert (analysed, decoded) == (saved["frames_analysed"], saved["frames_decoded"])
    total, start, analysis, files, drawn = map(float, match.group(4, 5, 6, 7, 8))
    assert analysis == float(match[3]) and drawn > 0 and start >= 0    # start-up can round to 0.0 s
    assert abs(start + analysis + files + drawn - total) <= 0.25   # each rounded to 0.1 s


@pytest.fixture(scope="module")
def many_tracks():
    """A result with 60 tracks of 40 points each, probabilities drawn at random."""
    labels = ["angry", "happy", "neutral"]
    rng = np.random.default_rng(1)
    tracks = []
    for k in range(60):
        stats = TrackStats(k + 1, labels, Smoothing.parse("none").new())
        t0 = rng.uniform(0, 20)
        for i in range(40):
            stats.add(i, t0 + i / 10, rng.dirichlet(np.ones(3) * (k % 3 + 0.5)), True, 0.1)
        tracks.append(stats.summary())
    info = VideoInfo("many.mp4", 320, 240, 10.0, 300, 30.0, "h264")
    return VideoResult("many.mp4", info, labels, {"min_track_frames": 1}, 300, 300, tracks)


def test_the_shared_timeline_figure_draws_each_track_as_a_fresh_figure_would(many_tracks, tmp_path):
    """Timelines drawn one after another on the shared figure (in reverse order, with
    tracks of one and two points in between) are pixel for pixel those of a figure
    made for the track alone: nothing of the track before is left."""
    short = TrackStats(99, many_tracks.labels, Smoothing.parse("none").new())
    short.add(0, 5.0, np.array([0.2, 0.7, 0.1]), True, 0.1)
    result = VideoResult(many_tracks.source, many_tracks.info, many_tracks.labels, many_tracks.settings,
                         tracks=[*many_tracks.tracks[:5], short.summary()])
    jobs = chart_jobs(result, tmp_path)[:-1][::-1]
    for path, draw in jobs:
        draw(path)
    for summary in result.tracks:
        plot_timeline(summary, result.labels, tmp_path / "alone.png")
        shared = imread(tmp_path / f"timeline_{summary.track}.png")
        alone = imread(tmp_path / "alone.png")
        assert shared.shape == alone.shape
        assert np.array_equal(shared, alone), summary.track


def test_overview_stops_growing_with_many_tracks(many_tracks, tmp_path):
    heights = {}
    for n in (5, OVERVIEW_MAX_ROWS, 60):
        subset = VideoResult(many_tracks.source, many_tracks.info, many_tracks.labels,
                             many_tracks.settings, tracks=many_tracks.tracks[:n])
        plot_overview(subset, tmp_path / f"overview_{n}.png")
        heights[n] = imread(tmp_path / f"overview_{n}.png").shape[0]
    assert heights[5] < heights[OVERVIEW_MAX_ROWS] == heights[60]
