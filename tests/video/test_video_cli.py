"""``ferkit video`` and ``ferkit live`` on real clips and bad input."""

import json
import subprocess
import sys

import av
import numpy as np
import pandas as pd
from typer.testing import CliRunner
from videofiles import audio_packets, truncated_copy

from ferkit.cli import app

runner = CliRunner()


def run_cli(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, " ".join(result.output.split())   # undo Rich's line wrapping


def decode_times(path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return (s.width, s.height), [f.time for f in c.decode(s)]


def test_real_clip_end_to_end(videos_dir, tmp_path):
    """One woman, close-up, 472 frames: every 6th analysed, the detector on every 2nd of those."""
    clip = videos_dir / "pyfeat_WolfgangLanger_Pexels.mp4"
    code, output = run_cli("video", clip, "--out", tmp_path, "--every", 6, "--detect-every", 2)
    assert code == 0, output
    for name in ("frames.csv", "tracks.json", "tracks.csv", "overview.png", "annotated.mp4"):
        assert (tmp_path / name).stat().st_size > 0, name
    saved = json.loads((tmp_path / "tracks.json").read_text())
    assert saved["complete"] and saved["error"] is None
    assert saved["frames_decoded"] == 472 and saved["frames_analysed"] == 79
    assert saved["settings"]["every"] == 6 and saved["settings"]["detect_every"] == 2
    for track in saved["tracks"]:
        assert (tmp_path / f"timeline_{track['track']}.png").exists()
    # one person: one track holds nearly every analysed frame
    longest = max(saved["tracks"], key=lambda t: t["frames"])
    assert longest["frames"] >= 0.9 * 79
    rows = pd.read_csv(tmp_path / "frames.csv")
    assert set(rows.frame) <= set(range(0, 472, 6))
    assert rows.groupby("frame").time.first().is_monotonic_increasing
    # annotated.mp4: every input frame, same size and timestamps as the input
    size, times = decode_times(tmp_path / "annotated.mp4")
    in_size, in_times = decode_times(clip)
    assert size == in_size == (640, 360)
    assert len(times) == len(in_times) == 472
    assert np.all(np.diff(times) > 0)
    np.testing.assert_allclose(times, in_times, atol=1e-3)
    # and the clip's sound, copied packet for packet
    assert audio_packets(tmp_path / "annotated.mp4") == audio_packets(clip)


def test_hevc_clip_with_and_without_faces(videos_dir, tmp_path):
    """A man smiling to camera, then an animated title from about 2.4 s."""
    clip = videos_dir / "pyfeat_face_noface.mov"
    code, output = run_cli("video", clip, "--out", tmp_path, "--fps", 5, "--no-annotate", "--quiet")
    assert code == 0, output
    rows = pd.read_csv(tmp_path / "frames.csv")
    per_frame = rows.groupby("time").track.count()   # faces per analysed frame
    assert per_frame.index.is_monotonic_increasing and len(per_frame) == 32   # 0.0, 0.2, ... 6.2 s
    assert (per_frame[per_frame.index < 2.3] >= 1).all()
    assert (per_frame[per_frame.index > 2.6] == 0).mean() > 0.9
    assert not (tmp_path / "annotated.mp4").exists()


def test_missing_file_exits_1(tmp_path):
    code, output = run_cli("video", tmp_path / "nope.mp4", "--out", tmp_path / "out")
    assert code == 1 and "no such file" in output


def test_text_file_named_mp4_exits_1(tmp_path):
    fake = tmp_path / "fake.mp4"
    fake.write_text("hello\n" * 100)
    code, output = run_cli("video", fake, "--out", tmp_path / "out")
    assert code == 1 and "not a readable video" in output


def test_usage_errors_exit_2(videos_dir, tmp_path):
    clip = videos_dir / "pyfeat_face_noface.mov"
    for args in (["--every", 2, "--fps", 5], ["--smoothing", "kalman"], ["--every", 0],
                 ["--model", "no-such-model"]):
        code, output = run_cli("video", clip, "--out", tmp_path, *args)
        assert code == 2, (args, output)
    code, _ = run_cli("video", clip)   # --out is required
    assert code == 2


def test_truncated_clip_exits_1_with_partial_results(videos_dir, tmp_path):
    cut = truncated_copy(videos_dir / "pyfeat_WolfgangLanger_Pexels.mp4", tmp_path / "cut.mp4")
    out = tmp_path / "out"
    code, output = run_cli("video", cut, "--out", out, "--every", 10, "--no-plots")
    assert code == 1 and "truncated" in output
    rows = pd.read_csv(out / "frames.csv")
    assert len(rows) > 10 and rows.track.notna().mean() > 0.8
    saved = json.loads((out / "tracks.json").read_text())
    assert "truncated" in saved["error"] and saved["tracks"]
    _, times = decode_times(out / "annotated.mp4")
    assert len(times) == saved["frames_decoded"]


def test_live_without_display_writes_the_annotated_stream(videos_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code, output = run_cli("live", videos_dir / "pyfeat_face_noface.mov", "--out", tmp_path,
                           "--fps", 4)
    assert code == 0, output
    assert "no display" in output
    _, times = decode_times(tmp_path / "annotated.mp4")
    assert len(times) == 169
    assert json.loads((tmp_path / "tracks.json").read_text())["tracks"]


def test_ctrl_c_ends_cleanly_and_writes_the_summaries(tmp_path, videos_dir):
    """SIGINT a real ``ferkit video`` process mid-run: it stops after the frame in hand."""
    import signal
    import time

    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", "from ferkit.cli import main; main()", "video",
                             str(videos_dir / "pyfeat_WolfgangLanger_Pexels.mp4"), "--out", str(out),
                             "--no-plots"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:   # wait until a few frames are on disk
        rows = out / "frames.csv"
        if rows.exists() and len(rows.read_text().splitlines()) > 5:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr  # as ferkit analyze: interrupted
    assert "interrupted" in stderr
    saved = json.loads((out / "tracks.json").read_text())
    assert saved["complete"] is False and 0 < saved["frames_analysed"] < 472
    assert sorted(pd.read_csv(out / "frames.csv").frame.unique()) == list(range(saved["frames_analysed"]))
    _, times = decode_times(out / "annotated.mp4")
    assert len(times) == saved["frames_decoded"]
