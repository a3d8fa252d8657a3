"""``ferkit video`` and ``ferkit live`` refuse bad options before the video stack and
the models load, and ``ferkit live`` looks for the camera before loading the models.

Each check runs the CLI in a fresh interpreter and looks at ``sys.modules`` when
it exits; timings are in the report of issue 19, not here.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from clirun import HEAVY, run_cli_fresh


def run_cli(args, cwd, env=None) -> tuple[int, set[str], str]:
    run = run_cli_fresh(args, cwd, env)
    return run.code, run.modules, " ".join(run.stderr.split())


CLIP = "clip.mp4"   # never opened: every case is refused before


@pytest.mark.parametrize("args, message", [
    (["video", CLIP, "--out", "out", "--smoothing", "foo"], "unknown smoothing 'foo'"),
    (["video", CLIP, "--out", "out", "--smoothing", "ema:2"], "alpha"),
    (["video", CLIP, "--out", "out", "--smoothing", "window:x"], "bad smoothing"),
    (["video", CLIP, "--out", "out", "--every", "2", "--fps", "5"], "not both"),
    (["video", CLIP, "--out", "out", "--every", "0"], "--every"),
    (["live", "0", "--out", "out", "--smoothing", "kalman"], "unknown smoothing 'kalman'"),
    (["live", "0", "--out", "out", "--cut-threshold", "2"], "--cut-threshold"),
], ids=lambda v: " ".join([v[0], *v[4:]]) if isinstance(v, list) else "")
def test_bad_options_are_refused_before_the_video_stack_loads(args, message, tmp_path):
    code, modules, stderr = run_cli(args, tmp_path)
    assert code == 2, stderr
    assert message in stderr, stderr
    loaded = [m for m in HEAVY if m in modules]
    assert loaded == [], f"{args} imported {loaded} before refusing"
    assert "ferkit.video.pipeline" not in modules
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["video", "live"])
@pytest.mark.parametrize("option, message", [("--detector", "unknown detector"),
                                             ("--model", "model not found")])
def test_unknown_detector_or_model_is_refused_before_the_source_opens(command, option, message, tmp_path):
    """Names are checked first: no camera probe, no decoder, no ONNX Runtime
    (``ferkit.detect`` itself needs OpenCV, so cv2 may be loaded)."""
    source = "0" if command == "live" else CLIP
    code, modules, stderr = run_cli([command, source, "--out", "out", option, "no-such-thing"], tmp_path)
    assert code == 2 and message in stderr, stderr
    assert "camera" not in stderr and "no such file" not in stderr, stderr
    assert not {"onnxruntime", "av", "matplotlib", "torch"} & modules


@pytest.mark.skipif(not sys.platform.startswith("linux") or any(Path("/dev").glob("video*")),
                    reason="needs a Linux machine without cameras")
def test_live_without_a_camera_says_so_before_loading_the_models(tmp_path):
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    code, modules, stderr = run_cli(["live", "0", "--out", "out"], tmp_path, env=env)
    assert code == 1 and stderr.startswith("error: camera 0: cannot be opened"), stderr
    assert not {"onnxruntime", "av", "matplotlib", "ferkit.classify"} & modules
    assert not (tmp_path / "out").exists()


def test_video_options_import_nothing_heavy():
    code = ("import json, sys\n"
            "from ferkit.video import VideoOptions, Smoothing\n"
            "import ferkit\n"
            "assert ferkit.VideoOptions is VideoOptions\n"
            "options = VideoOptions(fps=5, smoothing='window:4')\n"
            "assert isinstance(options.smoothing, Smoothing) and str(options.smoothing) == 'window:4'\n"
            f"print(json.dumps([m for m in {HEAVY + ('numpy', 'ferkit.analyzer')!r} if m in sys.modules]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_the_old_import_paths_still_work():
    from ferkit.video import VideoOptions, analyze_video
    from ferkit.video.pipeline import VideoOptions as from_pipeline
    from ferkit.video.smoothing import Smoothing, WindowSmoother

    assert from_pipeline is VideoOptions and callable(analyze_video)
    assert isinstance(Smoothing.parse("window:3").new(), WindowSmoother)
