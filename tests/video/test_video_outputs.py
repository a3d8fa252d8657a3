"""Output folders of ``analyze_video``: stale results of an earlier run, one run per
folder; scene cuts; and the options object the API and the CLI share."""

import fcntl

import numpy as np
import pytest
from skimage import data
from videofiles import write_video

from ferkit.errors import OutputError, UsageError
from ferkit.video import VideoOptions, analyze_video


@pytest.fixture(scope="module")
def cut_clip(tmp_path_factory):
    """The astronaut in the same place for 20 frames, with the colours of the whole
    picture changed at frame 10: a hard cut that leaves the face where it was."""
    image = data.astronaut()
    recoloured = np.ascontiguousarray(255 - image[:, :, ::-1])
    path = tmp_path_factory.mktemp("cut") / "cut.mp4"
    return write_video(path, [image] * 10 + [recoloured] * 10)


def test_a_scene_cut_ends_every_track(cut_clip, video_analyzer):
    with_cuts = analyze_video(cut_clip, analyzer=video_analyzer, min_track_frames=1).collect()
    without = analyze_video(cut_clip, analyzer=video_analyzer, min_track_frames=1,
                            cut_threshold=None).collect()
    assert [(t.start_frame, t.end_frame) for t in with_cuts.tracks] == [(0, 9), (10, 19)]
    assert [(t.start_frame, t.end_frame) for t in without.tracks] == [(0, 19)]


def test_a_rerun_in_the_same_folder_leaves_nothing_of_the_first(crossing, video_analyzer, tmp_path):
    first = analyze_video(crossing[0], analyzer=video_analyzer, out_dir=tmp_path, every=5).collect()
    assert "annotated.mp4" in first.outputs and list(tmp_path.glob("timeline_*.png"))
    (tmp_path / "notes.txt").write_text("the user's own file")
    second = analyze_video(crossing[0], analyzer=video_analyzer, out_dir=tmp_path, every=5,
                           annotate=False, plots=False).collect()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames.csv", "notes.txt",
                                                         "tracks.csv", "tracks.json"]
    assert set(second.outputs) == {"frames.csv", "tracks.csv", "tracks.json"}


def test_a_folder_another_run_is_writing_is_refused(crossing, video_analyzer, tmp_path):
    frames = tmp_path / "frames.csv"
    frames.write_text("frame,time\n0,0.0\n")
    (tmp_path / "overview.png").write_bytes(b"of the other run")
    with open(frames, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(OutputError, match="another ferkit run"):
            analyze_video(crossing[0], analyzer=video_analyzer, out_dir=tmp_path)
    assert frames.read_text() == "frame,time\n0,0.0\n"
    assert (tmp_path / "overview.png").read_bytes() == b"of the other run"


def test_an_output_folder_that_is_a_file_is_refused(crossing, video_analyzer, tmp_path):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        analyze_video(crossing[0], analyzer=video_analyzer, out_dir=tmp_path / "taken")


@pytest.mark.parametrize("settings, message", [
    ({"every": 2, "fps": 5.0}, "not both"), ({"every": 0}, "every"), ({"detect_every": 0}, "detect_every"),
    ({"fps": -1.0}, "fps"), ({"max_gap": -1}, "max_gap"), ({"smoothing": "median"}, "smoothing"),
    ({"cut_threshold": 2.0}, "cut_threshold"), ({"min_track_frames": 0}, "min_track_frames"),
])
def test_video_options_are_checked(settings, message):
    with pytest.raises(UsageError, match=message):
        VideoOptions(**settings)


def test_an_analyzer_together_with_analyzer_settings_is_an_error(crossing, video_analyzer):
    with pytest.raises(UsageError, match="min_face_size"):
        analyze_video(crossing[0], analyzer=video_analyzer, min_face_size=40)
    with pytest.raises(TypeError, match="colour"):
        analyze_video(crossing[0], analyzer=video_analyzer, colour="red")


def test_options_object_and_keywords_agree(crossing, video_analyzer):
    a = analyze_video(crossing[0], VideoOptions(every=5, smoothing="none"), analyzer=video_analyzer).collect()
    b = analyze_video(crossing[0], analyzer=video_analyzer, every=5, smoothing="none").collect()
    assert a.settings == b.settings and [t.to_dict() for t in a.tracks] == [t.to_dict() for t in b.tracks]
