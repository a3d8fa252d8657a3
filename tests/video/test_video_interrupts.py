"""``ferkit video`` / ``ferkit live`` stopped from outside: Ctrl-C pressed many times,
Ctrl-C while a stream is still opening, ``kill -9`` mid-run, and no camera at all."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest

CLI = [sys.executable, "-c", "from ferkit.cli import main; main()"]


@pytest.fixture(autouse=True)
def terminal_ctrl_c():
    """Ctrl-C as a terminal delivers it: Python's own SIGINT handler in this process, which
    children started here inherit as the default action. Something earlier in a full test
    run leaves SIGINT ignored in the pytest process (an ignored signal stays ignored across
    exec, and interrupt_main() then does nothing), which these tests must not depend on."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def start_cli(*args, env=None):
    return subprocess.Popen([*CLI, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def last_frame_written(path: Path) -> int:
    """The frame index of the last complete row of ``frames.csv`` (-1 before any)."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return -1
    rows = [line for line in lines[1:] if line]
    return int(rows[-1].split(",", 1)[0]) if rows else -1


def wait_for_frame(proc, path: Path, frame: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while last_frame_written(path) < frame:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"frames.csv never reached frame {frame}"
        time.sleep(0.05)


def decode_times(path: Path, kind: str = "video") -> list[float]:
    """Timestamps of every frame (of the first ``kind`` stream) that decodes; a cut-off
    last fragment just ends the list."""
    times = []
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(getattr(container.streams, kind)[0]):
                times.append(frame.time)
    except av.error.FFmpegError:
        pass
    return times


def claimed_files(stderr: str) -> tuple[Path, list[str]]:
    """The folder and file names of the ``results in <folder>: a, b, ...`` line."""
    text = " ".join(stderr.split())
    match = re.search(r"results in (\S+): ([\w.]+(?:, [\w.]+)*)", text)
    assert match, stderr
    return Path(match.group(1)), match.group(2).split(", ")


def test_ctrl_c_again_and_again_still_leaves_the_summaries(tmp_path, videos_dir):
    """Ctrl-C, then a burst of Ctrl-Cs while the run is stopping and finishing its
    files (the video's last frames, the summaries, the charts): frames.csv,
    annotated.mp4, tracks.json and tracks.csv are complete, and the console
    names only files that exist."""
    clip = videos_dir / "pyfeat_WolfgangLanger_Pexels.mp4"
    out = tmp_path / "out"
    proc = start_cli("video", clip, "--out", out, "--every", 2)
    wait_for_frame(proc, out / "frames.csv", 20)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.1)
    for _ in range(40):            # 2 s of Ctrl-C every 50 ms (ignored once the process ends)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.05)
    _, stderr = proc.communicate(timeout=60)
    # 130; or, for a press after the report, death by SIGINT, which shells also show as 130
    assert proc.returncode in (130, -signal.SIGINT), stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    assert "interrupted: results cover the frames analysed so far" in stderr
    saved = json.loads((out / "tracks.json").read_text())
    assert saved["complete"] is False and 0 < saved["frames_analysed"] < 236
    tracks = pd.read_csv(out / "tracks.csv")
    assert list(tracks.track) == [t["track"] for t in saved["tracks"]]
    frames = pd.read_csv(out / "frames.csv")
    assert frames.frame.nunique() == saved["frames_analysed"]
    assert len(decode_times(out / "annotated.mp4")) == saved["frames_decoded"]
    folder, names = claimed_files(stderr)
    assert folder == out
    assert {"frames.csv", "annotated.mp4", "tracks.json", "tracks.csv"} <= set(names)
    for name in names:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    # charts are either claimed and whole, or not there at all
    for chart in [*out.glob("timeline_*.png"), out / "overview.png"]:
        assert not chart.exists() or chart.name in names, chart.name


def test_ctrl_c_during_the_charts_skips_them_but_keeps_the_rest(tmp_path, videos_dir):
    """A run that reached its end, interrupted while drawing its 17 timelines: exit
    130, the summaries kept, no half-written chart, the console names what exists."""
    clip = videos_dir / "facerec_short_hamilton_clip.mp4"
    out = tmp_path / "out"
    proc = start_cli("video", clip, "--out", out, "--fps", 3, "--no-annotate", "--min-track-frames", 1)
    deadline = time.monotonic() + 90
    while not list(out.glob("timeline_*.png")):   # the charts come after the summaries
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr, stderr
    assert "charts skipped" in stderr
    saved = json.loads((out / "tracks.json").read_text())
    assert saved["complete"] is True and len(saved["tracks"]) > 5
    _, names = claimed_files(stderr)
    assert {"frames.csv", "tracks.json", "tracks.csv"} <= set(names)
    for name in names:
        assert (out / name).is_file(), name
    charts = [*out.glob("timeline_*.png"), *out.glob("overview.png")]
    assert len(charts) < len(saved["tracks"]) + 1
    for chart in charts:
        assert chart.name in names, chart.name


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.accepted = threading.Event()
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)
            self.accepted.set()

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.mark.parametrize("scheme", ["http", "rtsp"])
def test_ctrl_c_while_a_stream_is_still_opening(tmp_path, scheme):
    """The server takes the connection and says nothing: Ctrl-C ends the wait at once
    (not after the 10 s open timeout), exit 130, one line, no traceback."""
    server = SilentServer()
    try:
        proc = start_cli("video", f"{scheme}://127.0.0.1:{server.port}/stream", "--out", tmp_path / "out")
        assert server.accepted.wait(60), proc.communicate()
        time.sleep(1.5)      # well inside the 10 s open, and past start-up on a loaded machine
        assert proc.poll() is None
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        server.close()
    assert proc.returncode == 130, stderr
    assert took < 5, f"ended {took:.1f} s after Ctrl-C"    # the open timeout is 10 s
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "interrupted" in lines[0], stderr
    assert not (tmp_path / "out" / "tracks.json").exists()


def test_annotated_mp4_survives_kill_9(tmp_path, videos_dir):
    """annotated.mp4 is a fragmented MP4: after SIGKILL mid-run the frames written
    before still decode, with the input's timestamps."""
    clip = videos_dir / "pyfeat_WolfgangLanger_Pexels.mp4"
    out = tmp_path / "out"
    proc = start_cli("video", clip, "--out", out, "--every", 4, "--no-plots", "--quiet")
    wait_for_frame(proc, out / "frames.csv", 150)    # > 6 s of video handed to the encoder
    proc.kill()
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "tracks.json").exists()    # it really died mid-run
    times = decode_times(out / "annotated.mp4")
    assert len(times) > 0
    with av.open(str(clip)) as container:
        input_times = [f.time for f in container.decode(container.streams.video[0])][:len(times)]
    np.testing.assert_allclose(times, input_times, atol=1e-3)
    # the clip's sound is in the fragments too, from its start
    sound = decode_times(out / "annotated.mp4", "audio")
    assert sound and sound[0] == pytest.approx(0.0, abs=1e-3) and sound[-1] > 1.0


def test_annotated_mp4_is_fragmented_with_true_timestamps(crossing_run, crossing):
    """A complete run writes a standard fragmented MP4 (moov first, then moof/mdat
    fragments) holding every frame at the input's times."""
    result, out = crossing_run
    raw = (out / "annotated.mp4").read_bytes()
    assert raw[4:8] == b"ftyp" and b"moov" in raw[:4096] and b"moof" in raw
    with av.open(str(out / "annotated.mp4")) as container:
        stream = container.streams.video[0]
        times = [f.time for f in container.decode(stream)]
        codec = stream.codec_context.name
    with av.open(str(crossing[0])) as container:
        input_times = [f.time for f in container.decode(container.streams.video[0])]
    np.testing.assert_allclose(times, input_times, atol=1e-3)
    if "libx264" in av.codecs_available:
        assert codec == "h264"


def test_annotated_writer_cuts_a_fragment_at_least_every_2_seconds(tmp_path):
    """Keyframes (and so fragments) at most 2 s apart: a kill loses about 2 s of video."""
    from ferkit.video.writer import AnnotatedVideoWriter

    writer = AnnotatedVideoWriter(tmp_path / "a.mp4", 64, 48, 10.0, Fraction(1, 10))
    for i in range(70):   # 7 s at 10 fps
        writer.write(np.full((48, 64, 3), (i * 3) % 256, np.uint8), i, Fraction(1, 10))
    writer.close()
    with av.open(str(tmp_path / "a.mp4")) as container:
        frames = [(f.time, f.key_frame) for f in container.decode(container.streams.video[0])]
    assert len(frames) == 70
    keys = [t for t, key in frames if key]
    assert keys[0] == 0.0 and np.all(np.diff([*keys, 7.0]) <= 2.0 + 1e-6), keys
    assert (tmp_path / "a.mp4").read_bytes().count(b"moof") >= 3


@pytest.mark.skipif(not sys.platform.startswith("linux") or any(Path("/dev").glob("video*")),
                    reason="needs a Linux machine without cameras")
def test_live_without_a_camera_says_one_line(tmp_path):
    env = {**os.environ, "DISPLAY": ""}
    env.pop("WAYLAND_DISPLAY", None)
    env.pop("OPENCV_LOG_LEVEL", None)
    started = time.monotonic()
    proc = subprocess.run([*CLI, "live", "0", "--out", str(tmp_path / "out")], capture_output=True,
                          text=True, env=env, timeout=60, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: camera 0: "), proc.stderr
    assert time.monotonic() - started < 30
    assert not (tmp_path / "out").exists()


def test_an_open_abandoned_by_ctrl_c_is_closed_when_it_completes():
    """Ctrl-C while the worker is still opening: the caller gets KeyboardInterrupt at
    once; the source that opens later is closed, not leaked."""
    import _thread

    from ferkit.video.source import open_interruptibly

    release, closed = threading.Event(), threading.Event()

    class Slow:
        def close(self):
            closed.set()

    def opener():
        release.wait(10)
        return Slow()

    threading.Timer(0.2, _thread.interrupt_main).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        open_interruptibly(opener)
    assert time.monotonic() - started < 5
    assert not closed.is_set()
    release.set()
    assert closed.wait(5)


def test_open_interruptibly_hands_over_the_source_or_its_error():
    from ferkit.video.source import VideoSourceError, open_interruptibly

    assert open_interruptibly(lambda: 42) == 42

    def fails():
        raise VideoSourceError("rtsp://x: cannot open stream")

    with pytest.raises(VideoSourceError, match="cannot open stream"):
        open_interruptibly(fails)


def test_a_silent_stream_times_out_with_a_plain_message(monkeypatch):
    from ferkit.video import source

    monkeypatch.setattr(source, "STREAM_TIMEOUT", 1.0)
    server = SilentServer()
    try:
        with pytest.raises(source.VideoSourceError, match=r"cannot open stream: no answer within 1 s"):
            source.open_source(f"http://127.0.0.1:{server.port}/live.mp4")
    finally:
        server.close()
