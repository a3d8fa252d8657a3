"""The tracker on hand-made detections with known paths."""

import numpy as np
import pytest

from ferkit.results import Detection
from ferkit.video.tracker import Tracker, min_cost_assignment

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


def test_assignment_is_scipys_on_random_costs():
    """lap's solver against SciPy's linear_sum_assignment (in the test extra through
    scikit-image): continuous random costs have one optimum, so the pairs must be the same."""
    linear_sum_assignment = pytest.importorskip("scipy.optimize").linear_sum_assignment
    rng = np.random.default_rng(19)
    for _ in range(2000):
        rows, cols = rng.integers(1, 9, size=2)
        cost = rng.random((rows, cols)) * rng.choice([1.0, 3.0, 1000.0])
        expected = linear_sum_assignment(cost)
        got = min_cost_assignment(cost)
        np.testing.assert_array_equal(got[0], expected[0], err_msg=str(cost))
        np.testing.assert_array_equal(got[1], expected[1], err_msg=str(cost))


def test_assignment_cost_is_scipys_with_ties_and_forbidden_pairs():
    """Integer costs (many ties) and the tracker's forbidden pairs: the optimum may be
    reached by other pairs than SciPy's, but it is an assignment of min(N, M) pairs
    with the same total cost."""
    linear_sum_assignment = pytest.importorskip("scipy.optimize").linear_sum_assignment
    rng = np.random.default_rng(20)
    for _ in range(2000):
        n, m = rng.integers(1, 9, size=2)
        cost = rng.integers(0, 4, size=(n, m)).astype(float)
        cost[rng.random((n, m)) < 0.3] = 1e6
        rows, cols = min_cost_assignment(cost)
        assert len(rows) == min(n, m)
        assert len(set(rows.tolist())) == len(rows) and len(set(cols.tolist())) == len(cols)
        assert list(rows) == sorted(rows)
        r, c = linear_sum_assignment(cost)
        assert cost[rows, cols].sum() == pytest.approx(cost[r, c].sum())


@pytest.mark.parametrize("shape", [(0, 0), (0, 3), (3, 0)])
def test_assignment_of_an_empty_matrix_is_empty(shape):
    rows, cols = min_cost_assignment(np.zeros(shape))
    assert rows.shape == cols.shape == (0,)


def test_assignment_of_wide_and_tall_matrices_takes_the_cheap_pairs():
    wide = np.array([[5.0, 1.0, 9.0, 7.0], [2.0, 8.0, 9.0, 0.5]])
    assert [a.tolist() for a in min_cost_assignment(wide)] == [[0, 1], [1, 3]]
    assert [a.tolist() for a in min_cost_assignment(wide.T)] == [[1, 3], [0, 1]]


def test_many_faces_keep_their_ids_when_detections_come_in_any_order():
    """Twelve faces drifting right, listed in a new order every frame: the assignment,
    not the order, keeps every face on its track."""
    rng = np.random.default_rng(3)
    tracker = Tracker()
    start = [(80 + 90 * (k % 6), 80 + 120 * (k // 6)) for k in range(12)]
    ids = None
    for i in range(10):
        faces = {k: face(x + 4 * i, y) for k, (x, y) in enumerate(start)}
        out = tracker.update([faces[k] for k in rng.permutation(12)], i / FPS)
        face_of_box = {f.box: k for k, f in faces.items()}
        track_of_face = {face_of_box[d.box]: d.track_id for d in out}
        ids = ids or track_of_face
        assert track_of_face == ids
    assert sorted(ids.values()) == list(range(1, 13))
