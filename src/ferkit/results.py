"""Result types, for photos and video alike, and their one serialiser.

A detector gives :class:`Detection` s; classification turns each into a new
:class:`Face`. One :class:`ImageResult` holds the faces of one image, or of one
video frame (then with ``frame``, ``time`` and ``detected`` set, and each face's
``track_id``). :func:`face_records` flattens a result into one record per face;
``faces.csv``, ``frames.csv`` and :func:`to_dataframe` are all cut from those
records.

The JSON form is ferkit's output contract (documented in the README and checked
by golden-file tests)::

    {"file": str, "width": int | null, "height": int | null,
     "faces": [{"box": [x, y, w, h], "score": float,
                "landmarks": [[x, y], ...] | null,
                "label": str, "probabilities": {label: float}}],
     "error": null | str}

Video frames add ``"frame"``, ``"time"`` and ``"detected"``, and ``"track"`` to
each face. ``width``/``height`` are null when the image could not be read; an
image with ``"faces": []`` and ``"error": null`` was read and holds no face.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import numpy as np

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Detection:
    """A face a detector found (or a tracker predicted): ``box`` ``(x, y, w, h)`` in
    pixels of the image, detector ``score``, five ``landmarks`` (image-left eye
    first) or ``None``, and the ``track_id`` a tracker gave it."""

    box: Box
    score: float
    landmarks: np.ndarray | None = None
    track_id: int | None = None


@dataclass
class Face:
    """One face: where it is and what expression it shows.

    ``box`` is ``(x, y, w, h)`` in pixels of the original image; ``landmarks`` are
    five ``(x, y)`` points (right eye, left eye, nose, right and left mouth corner
    from the viewer's side: image-left first) or ``None`` when the detector gives none.
    ``track_id`` identifies the person across video frames (``None`` for photos).
    """

    box: Box
    score: float
    landmarks: np.ndarray | None = None
    label: str | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    crop: np.ndarray | None = field(default=None, repr=False)  # aligned model input, if kept
    track_id: int | None = None

    @classmethod
    def classified(cls, detection: Detection, labels: list[str], probabilities: np.ndarray,
                   crop: np.ndarray | None = None) -> "Face":
        """The face of ``detection`` with the class ``probabilities`` (model output order)."""
        return cls(detection.box, detection.score, detection.landmarks,
                   labels[int(np.argmax(probabilities))],
                   {k: float(v) for k, v in zip(labels, probabilities)}, crop, detection.track_id)

    @property
    def confidence(self) -> float:
        """Probability of the predicted label."""
        return self.probabilities.get(self.label, 0.0) if self.label else 0.0

    def to_dict(self, ndigits: int = 6) -> dict:
        d = {"box": [_round(v, 2) for v in self.box],
             "score": _round(self.score, ndigits),
             "landmarks": (None if self.landmarks is None
                           else [[_round(x, 2), _round(y, 2)] for x, y in self.landmarks]),
             "label": self.label,
             "probabilities": {k: _round(v, ndigits) for k, v in self.probabilities.items()}}
        if self.track_id is not None:
            d["track"] = int(self.track_id)
        return d


@dataclass
class ImageResult:
    """Every face found in one image or video frame, or the error that stopped it.

    ``labels`` are the model's classes (so tables have one column per class even
    when no face was found). For a video frame, ``frame`` is the input frame's
    index, ``time`` its timestamp in seconds and ``detected`` whether the detector
    ran on it (otherwise the boxes are the tracks' predictions). ``image`` is the
    decoded RGB image where the producer kept it (video frames, and
    ``Analyzer.analyze_files(..., keep_images=True)``); it is never serialised.
    """

    file: str
    width: int | None = None
    height: int | None = None
    faces: list[Face] = field(default_factory=list)
    error: str | None = None
    labels: list[str] = field(default_factory=list, repr=False)
    frame: int | None = None
    time: float | None = None
    detected: bool | None = None
    image: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True when the image was read and analysed (with or without faces)."""
        return self.error is None

    def with_label_names(self, names: dict[str, str]) -> "ImageResult":
        """A copy whose class names (each face's label and probability keys, and
        ``labels``) are renamed by ``names`` (e.g. :func:`ferkit.labels.display_names`);
        names it lacks stay as they are. Crops and the image are shared, not copied."""
        def rename(label):
            return names.get(label, label) if label is not None else None

        faces = [replace(f, label=rename(f.label),
                         probabilities={rename(k): v for k, v in f.probabilities.items()})
                 for f in self.faces]
        return replace(self, faces=faces, labels=[rename(k) for k in self.labels])

    def to_dict(self) -> dict:
        d = {"file": self.file,
             "width": None if self.width is None else int(self.width),
             "height": None if self.height is None else int(self.height)}
        if self.frame is not None:
            d.update(frame=int(self.frame), time=_round(self.time, 6), detected=bool(self.detected))
        d.update(faces=[f.to_dict() for f in self.faces], error=self.error)
        return d


def face_records(result: ImageResult, labels: list[str] | None = None) -> list[dict]:
    """One flat record per face, values unrounded; an image without faces, or one
    that failed, still gets one record (its face fields ``None``).

    Keys: ``file frame time track face x y w h score detected label p_<label>... error``.
    """
    labels = list(labels if labels is not None else result.labels)
    base = {"file": result.file, "frame": result.frame, "time": result.time}
    if not result.faces:
        return [{**base, "track": None, "face": None, "x": None, "y": None, "w": None, "h": None,
                 "score": None, "detected": result.detected, "label": None,
                 **{f"p_{k}": None for k in labels}, "error": result.error}]
    records = []
    for i, face in enumerate(result.faces):
        x, y, w, h = (float(v) for v in face.box)
        records.append({**base, "track": face.track_id, "face": i, "x": x, "y": y, "w": w, "h": h,
                        "score": float(face.score), "detected": result.detected,
                        "label": face.label,
                        **{f"p_{k}": float(face.probabilities.get(k, 0.0)) for k in labels},
                        "error": result.error})
    return records


# --- CSV layouts: which record fields, in which order, written how -------------

PROBABILITIES = "p_*"   # stands for one column per class, in label order


def _text(v) -> str:
    return "" if v is None else str(v)


def _integer(v) -> str:
    return "" if v is None else str(int(v))


def _flag(v) -> str:
    return "" if v is None else str(int(bool(v)))


def _rounded(ndigits: int) -> Callable[[object], str]:
    return lambda v: "" if v is None else str(_round(v, ndigits))


def _fixed(decimals: int) -> Callable[[object], str]:
    return lambda v: "" if v is None else f"{float(v):.{decimals}f}"


@dataclass(frozen=True)
class CsvLayout:
    """A CSV file's columns, each a record field and how its value is written."""

    fields: tuple[tuple[str, Callable[[object], str]], ...]

    def _expanded(self, labels: list[str]):
        for name, fmt in self.fields:
            if name == PROBABILITIES:
                yield from ((f"p_{k}", fmt) for k in labels)
            else:
                yield name, fmt

    def columns(self, labels: list[str]) -> list[str]:
        return [name for name, _ in self._expanded(labels)]

    def rows(self, result: ImageResult, labels: list[str]) -> list[list[str]]:
        fields = list(self._expanded(labels))
        return [[fmt(record[name]) for name, fmt in fields]
                for record in face_records(result, labels)]


FACES_CSV = CsvLayout((
    ("file", _text), ("face", _integer), ("x", _rounded(2)), ("y", _rounded(2)),
    ("w", _rounded(2)), ("h", _rounded(2)), ("score", _rounded(6)), ("label", _text),
    (PROBABILITIES, _rounded(6)), ("error", _text)))
"""``ferkit analyze --format csv``: one row per face, or one per image without faces or that failed."""

FRAMES_CSV = CsvLayout((
    ("frame", _integer), ("time", _fixed(6)), ("track", _integer), ("x", _fixed(2)),
    ("y", _fixed(2)), ("w", _fixed(2)), ("h", _fixed(2)), ("score", _fixed(6)),
    ("detected", _flag), ("label", _text), (PROBABILITIES, _fixed(6))))
"""``frames.csv`` of a video: one row per face per analysed frame, or one per frame without faces."""


# --- DataFrame -------------------------------------------------------------------

_DTYPES = {"file": "string", "frame": "Int64", "time": "float64", "track": "Int64",
           "face": "Int64", "x": "float64", "y": "float64", "w": "float64", "h": "float64",
           "score": "float64", "detected": "boolean", "label": "string", "error": "string"}


def to_dataframe(results: ImageResult | Iterable[ImageResult], labels: list[str] | None = None):
    """A pandas DataFrame with one row per face (and one per image without faces
    or that failed: ``face`` is missing, ``error`` set only for failures).

    Columns are the same whatever the data: ``file frame time track face x y w h
    score detected label p_<class>... error``, one ``p_`` column per class of the
    model's label set (``labels``, else the results' own), numeric dtypes with
    missing values as ``<NA>``/``NaN``. Needs pandas: ``pip install 'ferkit[dataframe]'``.
    """
    try:
        import pandas as pd
    except ImportError:
        from ferkit.errors import UsageError

        raise UsageError("to_dataframe needs pandas: pip install 'ferkit[dataframe]'") from None
    if isinstance(results, ImageResult):
        results = [results]
    results = list(results)
    if labels is None:
        labels = []
        for r in results:
            labels.extend(k for k in (r.labels or [k for f in r.faces for k in f.probabilities])
                          if k not in labels)
    records = [rec for r in results for rec in face_records(r, labels)]
    columns = [*_DTYPES][:-1] + [f"p_{k}" for k in labels] + ["error"]
    frame = pd.DataFrame.from_records(records, columns=columns)
    dtypes = {**_DTYPES, **{f"p_{k}": "float64" for k in labels}}
    return frame.astype(dtypes)


def _round(value, ndigits: int) -> float | None:
    """``value`` rounded; non-finite numbers become ``None`` (JSON has no NaN)."""
    v = float(value)
    return round(v, ndigits) if math.isfinite(v) else None
