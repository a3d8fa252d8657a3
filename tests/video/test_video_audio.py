"""annotated.mp4 keeps the input's sound: the first audio stream's packets copied
as they are, at their timestamps, cut where the video stops; ``--no-audio`` and
codecs MP4 cannot hold leave it out."""

import logging

import av
import numpy as np
import pytest
from typer.testing import CliRunner
from videofiles import audio_packets, audio_track, video_end, write_video_with_audio

from ferkit.cli import app
from ferkit.video import analyze_video

FRAMES = 50   # 2 s at 25 fps


def clip_frames(n: int = FRAMES) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
    return [np.roll(base, 3 * i, axis=1) for i in range(n)]


@pytest.fixture(scope="module", params=["aac", "libopus"])
def clip(request, tmp_path_factory):
    if request.param not in av.codecs_available:
        pytest.skip(f"this FFmpeg build has no {request.param} encoder")
    path = tmp_path_factory.mktemp("audio") / f"tone_{request.param}.mp4"
    return write_video_with_audio(path, clip_frames(), audio_codec=request.param)


def test_annotated_mp4_copies_the_audio_packets_unchanged(clip, video_analyzer, tmp_path):
    result = analyze_video(clip, analyzer=video_analyzer, out_dir=tmp_path, every=5, plots=False).collect()
    assert result.complete
    out = tmp_path / "annotated.mp4"
    codec, first, end, samples = audio_track(out)
    source = audio_track(clip)
    assert codec == source[0] and samples == source[3]
    assert first == pytest.approx(source[1], abs=1e-6) and end == pytest.approx(source[2], abs=1e-6)
    # remuxed, not re-encoded: the same packets at the same times
    assert audio_packets(out) == audio_packets(clip)
    with av.open(str(out)) as container:
        assert len([f for f in container.decode(video=0)]) == FRAMES


def test_the_audio_stops_with_the_video(clip, video_analyzer, tmp_path):
    """A run stopped after 20 frames (as by Ctrl-C): the sound ends with the last
    frame, give or take the one packet that straddles it."""
    run = analyze_video(clip, analyzer=video_analyzer, out_dir=tmp_path, plots=False)
    for frame in run:
        if frame.frame == 19:
            break
    run.close()
    out = tmp_path / "annotated.mp4"
    end = video_end(out)
    assert end == pytest.approx(20 / 25)
    packets = audio_packets(out)
    assert packets == audio_packets(clip)[:len(packets)]
    _, first, audio_end, _ = audio_track(out)
    packet_seconds = max(b[0] - a[0] for a, b in zip(packets, packets[1:]))
    assert first == pytest.approx(0.0, abs=1e-6)
    assert end - 1e-6 <= audio_end <= end + packet_seconds + 1e-6, (audio_end, end)


def test_audio_shorter_than_the_video_holds_nothing_back(video_analyzer, tmp_path):
    """Sound for the first second of two: all of it is kept, and every frame after it."""
    clip = write_video_with_audio(tmp_path / "short_sound.mp4", clip_frames(), audio_seconds=1.0)
    out = tmp_path / "out"
    analyze_video(clip, analyzer=video_analyzer, out_dir=out, every=10, plots=False).collect()
    assert audio_packets(out / "annotated.mp4") == audio_packets(clip)
    assert video_end(out / "annotated.mp4") == pytest.approx(FRAMES / 25)


def test_no_audio_leaves_it_out(tmp_path):
    clip = write_video_with_audio(tmp_path / "tone.mp4", clip_frames(20))
    runner = CliRunner()
    for flags, expected in (([], "aac"), (["--no-audio"], None)):
        out = tmp_path / ("with" if expected else "without")
        result = runner.invoke(app, ["video", str(clip), "--out", str(out), "--every", "5", "--no-plots",
                                     "--quiet", *flags])
        assert result.exit_code == 0, result.output
        track = audio_track(out / "annotated.mp4")
        assert (track[0] if track else None) == expected, flags
        with av.open(str(out / "annotated.mp4")) as container:
            assert len(list(container.decode(video=0))) == 20


def test_audio_mp4_cannot_hold_is_left_out_with_a_warning(video_analyzer, tmp_path, caplog):
    """µ-law audio in an AVI: MP4 has no place for it, so annotated.mp4 is written without it."""
    clip = write_video_with_audio(tmp_path / "mulaw.avi", clip_frames(), audio_codec="pcm_mulaw", rate=8000,
                                  video_codec="mpeg4")
    assert audio_track(clip)[0] == "pcm_mulaw"
    with caplog.at_level(logging.WARNING, logger="ferkit"):
        result = analyze_video(clip, analyzer=video_analyzer, out_dir=tmp_path / "out", every=10,
                               plots=False).collect()
    assert result.complete and result.error is None
    assert audio_track(tmp_path / "out" / "annotated.mp4") is None
    assert video_end(tmp_path / "out" / "annotated.mp4") == pytest.approx(FRAMES / 25)
    assert any("pcm_mulaw" in r.getMessage() and "left out" in r.getMessage() for r in caplog.records)


def test_without_annotated_video_the_source_keeps_no_audio(clip, video_analyzer):
    """No output folder: the audio packets read along with the frames are dropped
    at once, not kept for a writer that never comes."""
    run = analyze_video(clip, analyzer=video_analyzer, every=10)
    run.collect()
    assert run.source._audio_sink is None and run.source._audio_waiting is None
