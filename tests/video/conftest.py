"""Fixtures for the video tests: one analyzer, and a rendered video of two real faces crossing."""

from __future__ import annotations

import pytest
from videofiles import CROSSING_FRAMES, Path2D, face_sprites, render

from ferkit import Analyzer
from ferkit.video import analyze_video


@pytest.fixture(scope="session")
def video_analyzer():
    return Analyzer(threads=1)


@pytest.fixture(scope="session")
def crossing(tmp_path_factory, video_analyzer, photos_dir):
    """Two faces crossing at 25 fps, 640x480: the astronaut left to right, growing
    from 110 to 150 px, and Justin right to left in front of it, partly hiding it
    mid-way. Returns ``(path, {name: [face box per frame]})``."""
    sprites = face_sprites(video_analyzer, photos_dir)
    paths = {"astronaut": Path2D(sprites["astronaut"], (110, 200), (530, 200), 110, 150),
             "justin": Path2D(sprites["justin"], (530, 285), (110, 285), 130, 130)}
    path = tmp_path_factory.mktemp("crossing") / "crossing.mp4"
    return path, render(path, paths, CROSSING_FRAMES)


@pytest.fixture(scope="session")
def crossing_run(crossing, video_analyzer, tmp_path_factory):
    """The crossing video analysed with default settings: ``(VideoResult, out_dir)``."""
    out = tmp_path_factory.mktemp("crossing_out")
    return analyze_video(crossing[0], analyzer=video_analyzer, out_dir=out).collect(), out
