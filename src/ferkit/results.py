"""Result types: one :class:`Face` per face, one :class:`ImageResult` per image.

The JSON form is ferkit's output contract (documented in the README and checked
by a schema test)::

    {"file": str, "width": int, "height": int,
     "faces": [{"box": [x, y, w, h], "score": float,
                "landmarks": [[x, y], ...] | null,
                "label": str, "probabilities": {label: float}}],
     "error": null | str}
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Face:
    """One face: where it is and what expression it shows.

    ``box`` is ``(x, y, w, h)`` in pixels of the original image; ``landmarks`` are
    five ``(x, y)`` points (right eye, left eye, nose, right and left mouth corner
    from the viewer's side: image-left first) or ``None`` when the detector gives none.
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray | None = None
    label: str | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    crop: np.ndarray | None = field(default=None, repr=False)  # aligned model input, if kept
    track_id: int | None = None  # the person's id across video frames; None for photos

    @property
    def confidence(self) -> float:
        """Probability of the predicted label."""
        return self.probabilities.get(self.label, 0.0) if self.label else 0.0

    def to_dict(self, ndigits: int = 6) -> dict:
        return {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), ndigits),
            "landmarks": (None if self.landmarks is None
                          else [[round(float(x), 2), round(float(y), 2)] for x, y in self.landmarks]),
            "label": self.label,
            "probabilities": {k: round(float(v), ndigits) for k, v in self.probabilities.items()},
        }


@dataclass
class ImageResult:
    """Every face found in one image, or the error that stopped it."""

    file: str
    width: int = 0
    height: int = 0
    faces: list[Face] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        return {"file": self.file, "width": int(self.width), "height": int(self.height),
                "faces": [f.to_dict() for f in self.faces], "error": self.error}

    def csv_rows(self, labels: list[str]) -> list[dict]:
        """One row per face; an image without faces or with an error still gets one row."""
        blank = {"face": "", "x": "", "y": "", "w": "", "h": "", "score": "", "label": ""}
        if not self.faces:
            row = {"file": self.file, **blank, **{f"p_{k}": "" for k in labels},
                   "error": self.error or "no faces"}
            return [row]
        rows = []
        for i, f in enumerate(self.faces):
            x, y, w, h = (round(float(v), 2) for v in f.box)
            rows.append({"file": self.file, "face": i, "x": x, "y": y, "w": w, "h": h,
                         "score": round(float(f.score), 6), "label": f.label,
                         **{f"p_{k}": round(float(f.probabilities.get(k, 0.0)), 6) for k in labels},
                         "error": ""})
        return rows


def csv_columns(labels: list[str]) -> list[str]:
    return ["file", "face", "x", "y", "w", "h", "score", "label",
            *(f"p_{k}" for k in labels), "error"]


def to_dataframe(results: list[ImageResult]):
    """A pandas DataFrame with one row per face (needs ``pandas``)."""
    import pandas as pd

    labels: list[str] = []
    for r in results:
        for f in r.faces:
            labels.extend(k for k in f.probabilities if k not in labels)
    rows = [row for r in results for row in r.csv_rows(labels)]
    return pd.DataFrame(rows, columns=csv_columns(labels))
