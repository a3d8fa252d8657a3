"""Smoothing, running per-track statistics and the bounded timeline."""

import numpy as np
import pytest

from ferkit.video.smoothing import Smoothing
from ferkit.video.summary import Timeline, TrackStats

LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def random_probs(n, seed=0):
    p = np.random.default_rng(seed).dirichlet(np.ones(len(LABELS)) * 0.5, size=n)
    return p


def test_parse_specs():
    assert Smoothing.parse("none") == Smoothing("none")
    assert Smoothing.parse(None) == Smoothing("none")
    assert Smoothing.parse("ema") == Smoothing("ema", alpha=0.3)
    assert Smoothing.parse("EMA:0.5") == Smoothing("ema", alpha=0.5)
    assert Smoothing.parse("window:9") == Smoothing("window", window=9)
    assert str(Smoothing.parse("window:9")) == "window:9"
    for bad in ("kalman", "ema:2", "window:0", "window:x"):
        with pytest.raises(ValueError):
            Smoothing.parse(bad)


def test_ema_window_and_none():
    seq = random_probs(12)
    ema, win, raw = Smoothing("ema", alpha=0.25).new(), Smoothing("window", window=4).new(), Smoothing("none").new()
    expected = seq[0]
    for i, p in enumerate(seq):
        if i:
            expected = 0.25 * p + 0.75 * expected
        np.testing.assert_allclose(ema(p), expected)
        np.testing.assert_allclose(win(p), seq[max(0, i - 3):i + 1].mean(0))
        np.testing.assert_array_equal(raw(p), p)


@pytest.mark.parametrize("method", ["none", "ema", "window"])
def test_track_stats_match_numpy(method):
    probs = random_probs(300, seed=1)
    stats = TrackStats(7, LABELS, Smoothing(method).new(), timeline_points=64)
    smoother = Smoothing(method).new()
    smoothed = np.array([smoother(p) for p in probs])
    for i, p in enumerate(probs):
        stats.add(10 + 2 * i, 0.5 + i / 10, p, detected=i % 3 == 0)
    s = stats.summary()
    assert (s.track, s.frames, s.detected_frames) == (7, 300, 100)
    assert (s.start_frame, s.end_frame) == (10, 10 + 2 * 299)
    assert s.start_time == pytest.approx(0.5) and s.end_time == pytest.approx(0.5 + 29.9)
    for k, label in enumerate(LABELS):
        assert s.mean[label] == pytest.approx(smoothed[:, k].mean(), abs=1e-12)
        assert s.std[label] == pytest.approx(smoothed[:, k].std(), abs=1e-12)
        assert s.min[label] == pytest.approx(smoothed[:, k].min())
        assert s.max[label] == pytest.approx(smoothed[:, k].max())
        assert s.share[label] == pytest.approx(np.mean(smoothed.argmax(1) == k))
    # dominant: the class on top for the largest share of the time, so the two agree
    assert s.dominant == max(LABELS, key=lambda k: s.share[k])
    assert sum(s.share.values()) == pytest.approx(1.0)


def test_frames_count_by_the_time_they_stand_for():
    """Weighted statistics equal those of the video with each frame repeated for its time."""
    probs = random_probs(40, seed=3)
    weights = np.random.default_rng(4).integers(1, 6, size=40)
    weighted = TrackStats(1, LABELS, Smoothing("none").new())
    repeated = TrackStats(1, LABELS, Smoothing("none").new())
    for i, (p, w) in enumerate(zip(probs, weights)):
        weighted.add(i, i / 5, p, True, weight=w / 25)
        for _ in range(w):
            repeated.add(i, i / 5, p, True, weight=1 / 25)
    a, b = weighted.summary(), repeated.summary()
    for stat in ("mean", "std", "min", "max", "share"):
        for k in LABELS:
            assert getattr(a, stat)[k] == pytest.approx(getattr(b, stat)[k], abs=1e-12)
    assert a.dominant == b.dominant and a.frames == 40


def test_dominant_agrees_with_share_where_the_mean_would_not():
    """A track that is mildly sad most of the time and very angry briefly: the mean
    favours angry, the time on top favours sad, and dominant follows the time."""
    sad = np.array([0.3, 0, 0, 0, 0.4, 0, 0.3])
    angry = np.array([0.95, 0, 0, 0, 0.05, 0, 0])
    stats = TrackStats(1, LABELS, Smoothing("none").new())
    for i, p in enumerate([sad] * 6 + [angry] * 4):
        stats.add(i, i / 25, p, True, weight=1 / 25)
    s = stats.summary()
    assert s.mean["angry"] > s.mean["sad"]
    assert s.share["sad"] == pytest.approx(0.6) and s.dominant == "sad"


def test_timeline_stays_bounded_and_keeps_the_average():
    probs = random_probs(1001, seed=2)
    times = np.arange(1001) / 30
    tl = Timeline(len(LABELS), capacity=50)
    for t, p in zip(times, probs):
        tl.add(t, p)
    assert 25 <= len(tl.times) <= 50
    assert np.all(np.diff(tl.times) > 0)
    assert tl.times[0] >= times[0] and tl.times[-1] <= times[-1]
    # each point averages per_point consecutive frames (the last may hold fewer)
    n = tl.per_point
    np.testing.assert_allclose(tl.probabilities[0], probs[:n].mean(0))
    np.testing.assert_allclose(tl.times[1], times[n:2 * n].mean())


def test_short_timeline_keeps_every_frame():
    tl = Timeline(2, capacity=8)
    for i in range(5):
        tl.add(float(i), np.array([i, 1.0 - i]))
    np.testing.assert_array_equal(tl.times, np.arange(5.0))
    np.testing.assert_array_equal(tl.probabilities[:, 0], np.arange(5.0))
