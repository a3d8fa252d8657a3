"""What the base install leaves out: ferkit without SciPy and matplotlib (``ferkit[plots]``),
and ``ferkit live`` on an OpenCV build without windows."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata

import av
import cv2
import numpy as np
import pytest
from skimage import data
from typer.testing import CliRunner

from ferkit.cli import app
from ferkit.cli import video as video_cli

runner = CliRunner()
CLIP_FRAMES = 12


def run_cli(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, " ".join(result.output.split())   # undo Rich's line wrapping


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """12 frames at 10 fps, 320x240: the astronaut's face drifting right on grey."""
    path = tmp_path_factory.mktemp("clip") / "astronaut.mp4"
    face = cv2.resize(data.astronaut()[20:240, 120:340], (150, 150))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for i in range(CLIP_FRAMES):
            frame = np.full((240, 320, 3), 128, np.uint8)
            frame[40:190, 20 + 8 * i:170 + 8 * i] = face
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def decoded_frames(path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def test_base_modules_work_without_scipy_and_matplotlib():
    """Photo and video analysis import neither (a blocked import fails the child process)."""
    code = r"""
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("scipy", "matplotlib"):
            raise ImportError(f"{name} is blocked")

sys.meta_path.insert(0, Block())
import numpy as np
import ferkit, ferkit.cli, ferkit.cli.video, ferkit.video.pipeline, ferkit.video.plots
from ferkit.results import Detection
from ferkit.video.tracker import Tracker

tracker = Tracker()
tracker.update([Detection((10, 10, 50, 50), 0.9, None), Detection((200, 10, 50, 50), 0.9, None)], 0.0)
out = tracker.update([Detection((205, 12, 50, 50), 0.9, None), Detection((14, 10, 50, 50), 0.9, None)], 0.04)
assert [d.track_id for d in out] == [1, 2] and out[0].box[0] == 14, out
assert not any(m.split(".")[0] in ("scipy", "matplotlib") for m in sys.modules)
ferkit.analyze(np.full((120, 160, 3), 90, np.uint8))
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


@pytest.mark.parametrize("info, has_gui", [
    ("General configuration\n  GUI:                           NONE\n    VTK support:  NO\n", False),
    ("  GUI:                           QT5\n    QT:                          YES (ver 5.15.19 )\n", True),
    ("  GUI:                           COCOA\n", True),
    ("  Video I/O:\n    FFMPEG:  YES\n", True),          # says nothing: assume a window can open
])
def test_window_support_is_read_from_opencvs_build_information(monkeypatch, info, has_gui):
    monkeypatch.setattr(cv2, "getBuildInformation", lambda: info)
    assert video_cli._opencv_has_gui() is has_gui


def test_window_support_matches_the_installed_opencv_package():
    """opencv-python (and -contrib) can open windows, the -headless builds cannot."""
    installed = []
    for name in ("opencv-python", "opencv-python-headless", "opencv-contrib-python",
                 "opencv-contrib-python-headless"):
        try:
            metadata.version(name)
            installed.append(name)
        except metadata.PackageNotFoundError:
            pass
    if len(installed) != 1:
        pytest.skip(f"cv2 comes from {installed or 'no pip package'}: which build won is unknown")
    assert video_cli._opencv_has_gui() is not installed[0].endswith("-headless")


def test_live_with_a_display_but_no_window_support_writes_the_stream_and_says_how(
        clip, tmp_path, monkeypatch):
    """On an OpenCV build without windows (simulated: GUI NONE, as opencv-python-headless,
    which another package may install over ferkit's opencv-python), ``ferkit live`` with a
    display writes annotated.mp4 and says how to get the build with windows back."""
    def no_window(*args, **kwargs):
        raise cv2.error("The function is not implemented (simulated opencv-python-headless)")

    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(cv2, "getBuildInformation", lambda: "  GUI:                           NONE\n")
    for name in ("imshow", "waitKey", "namedWindow", "destroyAllWindows"):
        monkeypatch.setattr(cv2, name, no_window)
    out = tmp_path / "live"
    code, output = run_cli("live", clip, "--out", out, "--quiet")
    assert code == 0, output
    assert "no window support" in output
    assert "pip install --force-reinstall --no-deps opencv-python" in output
    assert decoded_frames(out / "annotated.mp4") == CLIP_FRAMES
    assert json.loads((out / "tracks.json").read_text())["tracks"]


def block_matplotlib(monkeypatch):
    """Make ``import matplotlib`` (and its sub-modules) fail, as in the base install."""
    for name in [m for m in sys.modules if m.split(".")[0] == "matplotlib"] + ["matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)


def test_video_without_matplotlib_writes_everything_but_the_charts_with_a_notice(clip, tmp_path, monkeypatch):
    block_matplotlib(monkeypatch)
    code, output = run_cli("video", clip, "--out", tmp_path, "--quiet")
    assert code == 0, output
    assert "charts skipped: they need matplotlib (pip install 'ferkit[plots]')" in output
    assert output.count("ferkit[plots]") == 1
    for name in ("frames.csv", "tracks.json", "tracks.csv", "annotated.mp4"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert json.loads((tmp_path / "tracks.json").read_text())["tracks"]
    assert not list(tmp_path.glob("*.png"))


def test_video_with_matplotlib_draws_the_charts(clip, tmp_path):
    code, output = run_cli("video", clip, "--out", tmp_path, "--quiet")
    assert code == 0, output
    assert "ferkit[plots]" not in output
    tracks = json.loads((tmp_path / "tracks.json").read_text())["tracks"]
    assert tracks
    for name in ["overview.png"] + [f"timeline_{t['track']}.png" for t in tracks]:
        assert (tmp_path / name).stat().st_size > 0, name


def test_analyze_video_without_matplotlib_lists_no_charts(clip, tmp_path, monkeypatch):
    from ferkit.video import analyze_video

    block_matplotlib(monkeypatch)
    result = analyze_video(clip, out_dir=tmp_path).collect()
    assert result.tracks and "tracks.json" in result.outputs
    assert not [name for name in result.outputs if name.endswith(".png")]
    assert not list(tmp_path.glob("*.png"))
