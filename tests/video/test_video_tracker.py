"""The tracker on hand-made detections with known paths."""

import numpy as np
import pytest

from ferkit.results import Detection
from ferkit.video.tracker import Tracker

FPS = 25.0


def face(cx, cy, size=50.0, score=0.9, landmarks=False):
    points = None
    if landmarks:
        points = np.array([[cx - 10, cy - 8], [cx + 10, cy - 8], [cx, cy], [cx - 8, cy + 10], [cx + 8, cy + 10]])
    return Detection((cx - size / 2, cy - size / 2, size, size), score, points)


def centre(f):
    x, y, w, h = f.box
    return np.array([x + w / 2, y + h / 2])


def test_crossing_faces_keep_their_ids_through_an_occlusion():
    """A moves right, B left along almost the same line; A is hidden for three
    frames as they cross, so only motion prediction can tell them apart."""
    tracker = Tracker(max_gap=5)
    owner = {}
    for i in range(21):
        ax, bx = 20 + 10 * i, 220 - 10 * i
        dets = [("B", face(bx, 104))]
        if i not in (9, 10, 11):
            dets.insert(0, ("A", face(ax, 100)))
        out = tracker.update([f for _, f in dets], i / FPS)
        assert all(d.track_id is None for _, d in dets)  # the input is not changed
        by_box = {d.box: d.track_id for d in out}
        for name, f in dets:
            owner.setdefault(name, set()).add(by_box[f.box])
    assert owner["A"] == {1} and owner["B"] == {2}
    assert [t.id for t in tracker.tracks] == [1, 2]


def test_unmatched_track_survives_max_gap_then_ends_and_a_new_id_follows():
    tracker = Tracker(max_gap=2)
    tracker.update([face(100, 100)], 0.0)
    for k in range(1, 3):  # two missed detection frames: still alive
        assert tracker.update([], k / FPS) == []
        assert [t.id for t in tracker.tracks] == [1] and not tracker.ended
    tracker.update([], 3 / FPS)  # third miss: ended
    assert tracker.tracks == [] and [t.id for t in tracker.ended] == [1]
    out = tracker.update([face(100, 100)], 4 / FPS)
    assert [d.track_id for d in out] == [2]


def test_a_detection_far_from_every_track_starts_a_new_one():
    tracker = Tracker()
    tracker.update([face(100, 100)], 0.0)
    out = tracker.update([face(400, 300)], 1 / FPS)
    assert [d.track_id for d in out] == [2]
    assert tracker.tracks[0].misses == 1


def test_carry_moves_box_and_landmarks_at_the_tracked_velocity():
    tracker = Tracker()
    tracker.update([face(100, 100, 50, landmarks=True)], 0.0)
    tracker.update([face(110, 100, 60, landmarks=True)], 1 / FPS)   # +10 px and +10 px size per frame
    (carried,) = tracker.carry(3 / FPS)
    assert carried.track_id == 1
    np.testing.assert_allclose(centre(carried), [130, 100], atol=1e-6)
    np.testing.assert_allclose(carried.box[2:], [80, 80], atol=1e-6)
    # landmarks keep their place relative to the box: scaled by 80/60 about the centre
    np.testing.assert_allclose(carried.landmarks[0], [130 - 10 * 80 / 60, 100 - 8 * 80 / 60], atol=1e-6)
    assert carried.score == pytest.approx(0.9)


def test_only_tracks_seen_on_the_last_detection_frame_are_carried():
    tracker = Tracker(max_gap=3)
    tracker.update([face(100, 100), face(300, 100)], 0.0)
    tracker.update([face(100, 100)], 1 / FPS)
    assert [d.track_id for d in tracker.carry(2 / FPS)] == [1]


def test_end_all_ends_every_track():
    tracker = Tracker()
    tracker.update([face(100, 100), face(300, 100)], 0.0)
    tracker.end_all()
    assert tracker.tracks == [] and sorted(t.id for t in tracker.ended) == [1, 2]
    assert [d.track_id for d in tracker.update([face(100, 100)], 1 / FPS)] == [3]


def test_negative_max_gap_is_refused():
    with pytest.raises(ValueError):
        Tracker(max_gap=-1)
