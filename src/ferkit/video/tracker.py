"""Following faces from frame to frame: stable integer ids for each person.

Each track predicts its box with a constant-velocity model (centre and size,
per second, so sampled or variable-rate video predicts right). Detections are
assigned to predictions by the Hungarian method on a cost mixing box overlap
(1 - IoU) and centre distance (in box sizes); pairs that neither overlap
enough nor lie close enough are never matched. A track that misses detections
survives ``max_gap`` analysed frames, then ends.

The assignment is solved by ``lap`` (Jonker-Volgenant, a 2 MB wheel with only
numpy as dependency) rather than SciPy's ``linear_sum_assignment``, which would
add about 140 MB to the base install for this one call; the tests check that
both give the same assignments.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import lap
import numpy as np

from ferkit.results import Detection

_FORBIDDEN = 1e6


@dataclass
class Track:
    """One followed face. ``state`` is ``(cx, cy, w, h)``; ``velocity`` its change per second."""

    id: int
    state: np.ndarray
    time: float                       # time of the last matched detection
    detection: Detection              # the last matched detection
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    hits: int = 1                     # matched detections so far
    misses: int = 0                   # consecutive detection frames without a match

    def predict(self, t: float) -> np.ndarray:
        """``(cx, cy, w, h)`` expected at time ``t``."""
        state = self.state + self.velocity * (t - self.time)
        state[2:] = np.maximum(state[2:], 1.0)
        return state

    def detection_at(self, t: float) -> Detection:
        """The last detection moved to the predicted box (landmarks moved and scaled with it)."""
        state = self.predict(t)
        landmarks = None
        if self.detection.landmarks is not None:
            scale = state[2:] / self.state[2:]
            landmarks = (np.asarray(self.detection.landmarks) - self.state[:2]) * scale + state[:2]
        return Detection(_to_box(state), self.detection.score, landmarks, self.id)


class Tracker:
    """Multi-face tracker. Call :meth:`update` on frames with detections and
    :meth:`carry` on frames without; both return detections carrying their
    ``track_id``, in track order.

    ``min_iou`` and ``max_distance`` (centre distance in units of the predicted
    box's size) gate a match: a pair is allowed when either holds.
    ``distance_weight`` weighs the distance term against ``1 - IoU``;
    ``velocity_smoothing`` is the weight of the newest velocity estimate.
    """

    def __init__(self, max_gap: int = 10, min_iou: float = 0.1, max_distance: float = 1.0,
                 distance_weight: float = 1.0, velocity_smoothing: float = 0.5) -> None:
        if max_gap < 0:
            raise ValueError(f"max_gap must be >= 0, got {max_gap}")
        self.max_gap = max_gap
        self.min_iou = min_iou
        self.max_distance = max_distance
        self.distance_weight = distance_weight
        self.velocity_smoothing = velocity_smoothing
        self.tracks: list[Track] = []
        self.ended: list[Track] = []   # tracks ended by the last update; read and cleared by the caller
        self._next_id = 1

    def update(self, detections: list[Detection], t: float) -> list[Detection]:
        """Match ``detections`` made at time ``t``; unmatched ones start new tracks."""
        pairs = self._assign(detections, t)
        matched_tracks = {ti for ti, _ in pairs}
        matched_dets = {di for _, di in pairs}
        out: list[Detection] = []
        for ti, di in pairs:
            track = self.tracks[ti]
            tracked = replace(detections[di], track_id=track.id)
            self._correct(track, tracked, t)
            out.append(tracked)
        alive = []
        for ti, track in enumerate(self.tracks):
            if ti not in matched_tracks:
                track.misses += 1
                if track.misses > self.max_gap:
                    self.ended.append(track)
                    continue
            alive.append(track)
        for di, detection in enumerate(detections):
            if di not in matched_dets:
                tracked = replace(detection, track_id=self._next_id)
                alive.append(Track(self._next_id, _to_state(detection.box), t, tracked))
                self._next_id += 1
                out.append(tracked)
        self.tracks = alive
        out.sort(key=lambda d: d.track_id)
        return out

    def carry(self, t: float) -> list[Detection]:
        """The tracks matched on the last detection frame, on their predicted boxes at ``t``."""
        return [tr.detection_at(t) for tr in self.tracks if tr.misses == 0]

    def end_all(self) -> None:
        """End every track (at a scene cut, or when the stream is over)."""
        self.ended.extend(self.tracks)
        self.tracks = []

    def _assign(self, detections: list[Detection], t: float) -> list[tuple[int, int]]:
        if not self.tracks or not detections:
            return []
        predicted = np.array([tr.predict(t) for tr in self.tracks])
        observed = np.array([_to_state(f.box) for f in detections])
        iou = _iou(predicted, observed)
        scale = np.sqrt(predicted[:, 2] * predicted[:, 3])[:, None]
        distance = np.linalg.norm(predicted[:, None, :2] - observed[None, :, :2], axis=2) / scale
        allowed = (iou >= self.min_iou) | (distance <= self.max_distance)
        cost = (1.0 - iou) + self.distance_weight * np.minimum(distance, self.max_distance * 2)
        cost[~allowed] = _FORBIDDEN
        rows, cols = min_cost_assignment(cost)
        return [(int(r), int(c)) for r, c in zip(rows, cols) if allowed[r, c]]

    def _correct(self, track: Track, detection: Detection, t: float) -> None:
        state = _to_state(detection.box)
        dt = t - track.time
        if dt > 0:
            measured = (state - track.state) / dt
            a = self.velocity_smoothing if track.hits > 1 else 1.0
            track.velocity = a * measured + (1 - a) * track.velocity
        track.state, track.time, track.detection = state, t, detection
        track.hits += 1
        track.misses = 0


def min_cost_assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A minimum-cost assignment of ``min(N, M)`` row-column pairs of an ``(N, M)``
    cost matrix: ``(rows, cols)``, rows ascending, as SciPy's ``linear_sum_assignment``."""
    cost = np.ascontiguousarray(cost, dtype=np.float64)
    if cost.ndim != 2:
        raise ValueError(f"cost must be a 2-D matrix, got shape {cost.shape}")
    if cost.size == 0:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    # Non-square matrices are padded to square with zero cost; rows left on padding come back as -1.
    _, col_of_row, _ = lap.lapjv(cost, extend_cost=cost.shape[0] != cost.shape[1])
    rows = np.flatnonzero(col_of_row >= 0)
    return rows, col_of_row[rows].astype(np.intp)


def _to_state(box) -> np.ndarray:
    x, y, w, h = box
    return np.array([x + w / 2, y + h / 2, w, h], dtype=np.float64)


def _to_box(state: np.ndarray) -> tuple[float, float, float, float]:
    cx, cy, w, h = (float(v) for v in state)
    return (cx - w / 2, cy - h / 2, w, h)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``(N, 4)`` and ``(M, 4)`` centre-size boxes."""
    a0, a1 = a[:, None, :2] - a[:, None, 2:] / 2, a[:, None, :2] + a[:, None, 2:] / 2
    b0, b1 = b[None, :, :2] - b[None, :, 2:] / 2, b[None, :, :2] + b[None, :, 2:] / 2
    inter = np.prod(np.clip(np.minimum(a1, b1) - np.maximum(a0, b0), 0, None), axis=2)
    union = np.prod(a[:, None, 2:], axis=2) + np.prod(b[None, :, 2:], axis=2) - inter
    return inter / np.maximum(union, 1e-9)
