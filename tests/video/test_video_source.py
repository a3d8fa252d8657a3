"""Decoding real and deliberately awkward files: timing, sampling, rotation, bad input."""

from fractions import Fraction

import numpy as np
import pytest
from skimage import data
from videofiles import (
    blank_frame_data,
    truncated_copy,
    unknown_codec,
    write_audio_only,
    write_no_frames,
    write_video,
)

from ferkit.video.source import Sampler, VideoDecodeError, VideoSourceError, open_source

# name -> (frames, width, height, codec) as the data README lists them (ffprobe -count_frames)
CLIPS = {
    "pyfeat_WolfgangLanger_Pexels.mp4": (472, 640, 360, "h264"),
    "facerec_short_hamilton_clip.mp4": (275, 640, 360, "h264"),
    "pyfeat_face_noface.mov": (169, 960, 540, "hevc"),
}


@pytest.mark.parametrize("name", sorted(CLIPS))
def test_real_clips_decode_completely_with_increasing_timestamps(videos_dir, name):
    frames, width, height, codec = CLIPS[name]
    source = open_source(videos_dir / name)
    assert (source.info.width, source.info.height, source.info.codec) == (width, height, codec)
    assert source.info.frame_count == frames
    times = []
    for frame in source.frames():
        assert frame.image.shape == (height, width, 3) and frame.image.dtype == np.uint8
        assert frame.index == len(times)
        times.append(frame.time)
    assert len(times) == frames
    assert np.all(np.diff(times) > 0)


def test_timestamps_come_from_pts(videos_dir):
    """The hamilton clip's video starts 0.852 s into the file (pts 10214 at 1/11988)."""
    first = next(open_source(videos_dir / "facerec_short_hamilton_clip.mp4").frames())
    assert first.pts == 10214 and first.time_base == Fraction(1, 11988)
    assert first.time == pytest.approx(10214 / 11988)


@pytest.fixture(scope="module")
def vfr_video(tmp_path_factory):
    """12 frames at irregular times (ms): bursts and pauses."""
    pts = [0, 40, 80, 120, 300, 310, 320, 330, 700, 740, 1000, 1500]
    frames = [np.full((48, 64, 3), 20 * i, np.uint8) for i in range(len(pts))]
    path = tmp_path_factory.mktemp("vfr") / "vfr.mp4"
    write_video(path, frames, pts=pts, time_base=Fraction(1, 1000))
    return path, [p / 1000 for p in pts]


def test_variable_frame_rate_timestamps(vfr_video):
    path, times = vfr_video
    got = [f.time for f in open_source(path).frames()]
    np.testing.assert_allclose(got, times, atol=1e-3)


def test_fps_sampling_follows_time_not_frame_count(vfr_video):
    path, times = vfr_video
    sampler = Sampler(fps=5)   # one frame at or after each 0.2 s step
    taken = [round(f.time, 3) for f in open_source(path).frames() if sampler.take(f)]
    assert taken == [0.0, 0.3, 0.7, 1.0, 1.5]


def test_every_n_sampling(vfr_video):
    path, _ = vfr_video
    sampler = Sampler(every=5)
    assert [f.index for f in open_source(path).frames() if sampler.take(f)] == [0, 5, 10]


def test_sampler_refuses_bad_settings():
    for kwargs in ({"every": 2, "fps": 5}, {"every": 0}, {"fps": 0}):
        with pytest.raises(ValueError):
            Sampler(**kwargs)


@pytest.mark.parametrize("rotation", [90, 180, -90])
def test_rotation_metadata_turns_frames_upright(tmp_path, rotation):
    """Store the astronaut turned against the display rotation: frames must come back upright."""
    upright = data.astronaut()[::2, ::2][:, :192]        # 256x192, not square
    stored = np.ascontiguousarray(np.rot90(upright, -(rotation // 90)))
    path = write_video(tmp_path / f"rot{rotation}.mp4", [stored] * 3, rotation=rotation)
    source = open_source(path)
    assert source.info.rotation == rotation % 360
    assert (source.info.height, source.info.width) == upright.shape[:2]
    frame = next(source.frames())
    assert frame.image.shape == upright.shape
    assert np.abs(frame.image.astype(int) - upright).mean() < 6   # only compression error left


def test_missing_file(tmp_path):
    with pytest.raises(VideoSourceError, match="no such file"):
        open_source(tmp_path / "nope.mp4")


def test_folder_and_empty_file(tmp_path):
    with pytest.raises(VideoSourceError, match="folder"):
        open_source(tmp_path)
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoSourceError, match="empty file"):
        open_source(tmp_path / "empty.mp4")


def test_text_file_named_mp4(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("these are not the frames you are looking for\n" * 50)
    with pytest.raises(VideoSourceError, match="not a readable video"):
        open_source(path)


def test_audio_only_file(tmp_path):
    with pytest.raises(VideoSourceError, match=r"no video stream \(audio streams only\)"):
        open_source(write_audio_only(tmp_path / "tone.m4a"))


def test_file_without_frames(tmp_path):
    with pytest.raises(VideoSourceError, match="no video stream"):
        open_source(write_no_frames(tmp_path / "zero.mp4"))


def test_unsupported_codec(tmp_path):
    with pytest.raises(VideoSourceError, match="codec not supported"):
        open_source(unknown_codec(tmp_path / "zz.avi"))


def test_video_stream_whose_frames_cannot_be_decoded(videos_dir, tmp_path):
    path = blank_frame_data(videos_dir / "pyfeat_WolfgangLanger_Pexels.mp4", tmp_path / "blank.mp4")
    with pytest.raises(VideoSourceError, match="no decodable video frames"):
        open_source(path)


def test_truncated_file_with_index_at_the_end_cannot_open(videos_dir, tmp_path):
    path = truncated_copy(videos_dir / "facerec_short_hamilton_clip.mp4", tmp_path / "cut.mp4")
    with pytest.raises(VideoSourceError, match="truncated"):
        open_source(path)


def test_truncated_file_yields_what_decodes_then_reports(videos_dir, tmp_path):
    path = truncated_copy(videos_dir / "pyfeat_WolfgangLanger_Pexels.mp4", tmp_path / "cut.mp4")
    frames = []
    with pytest.raises(VideoDecodeError, match=r"truncated or corrupt: decoded \d+ of 472 frames"):
        for frame in open_source(path).frames():
            frames.append(frame.index)
    # 30% of the bytes hold roughly 30% of the frames
    assert 100 < len(frames) < 200
    assert frames == list(range(len(frames)))


def test_missing_camera():
    with pytest.raises(VideoSourceError, match="camera 97: cannot be opened"):
        open_source(97)
