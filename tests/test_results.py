"""The result types and their serialisations: golden files keep the JSONL, CSV and
frames.csv contracts byte-stable; the DataFrame has the same columns whatever the data."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ferkit.results import Detection, Face, ImageResult, face_records, to_dataframe
from ferkit.video.writer import FrameCsvWriter
from ferkit.writers import ResultWriter

GOLDEN = Path(__file__).parent / "golden"
LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def _face(probs, box=(10.123, 20.5, 30.0, 40.256), track_id=None, landmarks=True):
    points = np.array([[1.111, 2.0], [3.0, 4.555], [5.0, 6.0], [7.0, 8.0], [9.0, 10.0]]) if landmarks else None
    return Face.classified(Detection(box, 0.98765432, points, track_id), LABELS, np.asarray(probs))


P1 = [0.01, 0.002, 0.003, 0.9, 0.0051234567, 0.0298765433, 0.05]
P2 = [0.3, 0.1, 0.1, 0.1, 0.2, 0.1, 0.1]


def image_results():
    return [
        ImageResult("photos/two.jpg", 640, 480, [_face(P1), _face(P2, (300, 50, 60.5, 70), landmarks=False)],
                    labels=LABELS),
        ImageResult("photos/empty-room.jpg", 800, 600, [], labels=LABELS),
        ImageResult("photos/broken.jpg", error="corrupt or truncated image: photos/broken.jpg", labels=LABELS),
        ImageResult("IMG[copy] ü,\"q\".png", 10, 10, [_face(P2)], labels=LABELS),
    ]


def frame_results():
    return [
        ImageResult("clip.mp4", 640, 360, [_face(P1, track_id=1), _face(P2, (300, 50, 60.5, 70), track_id=2)],
                    labels=LABELS, frame=0, time=0.0, detected=True),
        ImageResult("clip.mp4", 640, 360, [_face(P1, (11, 21, 30, 40), track_id=1)],
                    labels=LABELS, frame=3, time=0.1001, detected=False),
        ImageResult("clip.mp4", 640, 360, [], labels=LABELS, frame=6, time=0.2002, detected=True),
    ]


@pytest.mark.parametrize("fmt, golden", [("jsonl", "results.jsonl"), ("csv", "faces.csv"),
                                         ("json", "results.json")])
def test_image_result_files_match_the_golden_files(tmp_path, fmt, golden):
    out = tmp_path / golden
    with ResultWriter(out, fmt, LABELS) as writer:
        for result in image_results():
            writer.write(result)
    assert out.read_bytes() == (GOLDEN / golden).read_bytes()


def test_frames_csv_matches_the_golden_file(tmp_path):
    out = tmp_path / "frames.csv"
    writer = FrameCsvWriter(out, LABELS)
    for result in frame_results():
        writer.write(result)
    writer.close()
    assert out.read_bytes() == (GOLDEN / "frames.csv").read_bytes()


def test_video_frames_serialise_their_frame_and_track():
    d = frame_results()[1].to_dict()
    assert (d["frame"], d["time"], d["detected"]) == (3, 0.1001, False)
    assert d["faces"][0]["track"] == 1
    assert "frame" not in image_results()[0].to_dict()  # photos keep the image contract
    assert "track" not in image_results()[0].to_dict()["faces"][0]


def test_no_faces_and_failed_are_told_apart_everywhere():
    empty, broken = image_results()[1:3]
    assert empty.ok and not broken.ok
    assert (empty.to_dict()["width"], broken.to_dict()["width"]) == (800, None)
    (e,), (b,) = face_records(empty), face_records(broken)
    assert e["face"] is None and e["error"] is None
    assert b["face"] is None and b["error"].startswith("corrupt")
    df = to_dataframe([empty, broken])
    assert df["face"].isna().all()
    assert df["error"].isna().tolist() == [True, False]


def test_dataframe_columns_and_dtypes_do_not_depend_on_the_data():
    with_faces = to_dataframe(image_results())
    without = to_dataframe([image_results()[1]])
    single = to_dataframe(image_results()[0])  # one result is accepted as well
    assert list(with_faces.columns) == list(without.columns) == list(single.columns)
    assert [c for c in without.columns if c.startswith("p_")] == [f"p_{k}" for k in LABELS]
    assert with_faces.dtypes.equals(without.dtypes) and with_faces.dtypes.equals(single.dtypes)
    assert all(with_faces[f"p_{k}"].dtype == np.float64 for k in LABELS)
    assert len(with_faces) == 2 + 1 + 1 + 1 and len(single) == 2
    row = with_faces.iloc[0]
    assert row["label"] == "happy" and row["p_happy"] == pytest.approx(0.9)
    assert row["x"] == pytest.approx(10.123)  # unrounded in the DataFrame


def test_dataframe_of_video_frames_has_tracks_and_times():
    df = to_dataframe(frame_results())
    assert df["track"].tolist()[:3] == [1, 2, 1]
    assert df["detected"].tolist() == [True, True, False, True]
    assert pd.isna(df["track"].iloc[3]) and df["frame"].tolist() == [0, 0, 3, 6]


def test_non_finite_numbers_never_reach_json():
    face = _face(P1)
    face.score = float("nan")
    d = ImageResult("x.jpg", 1, 1, [face]).to_dict()
    assert d["faces"][0]["score"] is None
    json.dumps(d, allow_nan=False)


def test_classified_face_takes_everything_from_its_detection():
    detection = Detection((1.0, 2.0, 3.0, 4.0), 0.5, None, track_id=7)
    face = Face.classified(detection, LABELS, np.array(P2))
    assert (face.box, face.score, face.track_id, face.label) == ((1.0, 2.0, 3.0, 4.0), 0.5, 7, "angry")
    assert math.isclose(sum(face.probabilities.values()), 1.0)


def test_without_pandas_the_error_names_the_extra(monkeypatch):
    import sys

    from ferkit.errors import UsageError

    monkeypatch.setitem(sys.modules, "pandas", None)   # makes `import pandas` fail
    with pytest.raises(UsageError, match=r"pip install 'ferkit\[dataframe\]'"):
        to_dataframe(image_results())
