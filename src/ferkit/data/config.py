"""The thresholds ``ferkit data clean`` decides by, with defaults measured on the
shared photos and datasets (``docs/data.md`` gives the figures and the command
that measured them).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ferkit.errors import ConfigError


@dataclass(frozen=True)
class CleanConfig:
    """What makes a face unusable, and how crops are made.

    * ``min_face_size``: the shorter side of the face box, in pixels of the photo.
    * ``min_sharpness``: variance of the Laplacian of the grey 96x96 aligned crop.
    * ``max_yaw``: head yaw estimated from the landmarks, degrees.
    * ``min_eye_brightness``: eye regions over cheeks brightness (hair, hands or
      dark glasses over the eyes).
    * ``duplicate_distance``: the largest Hamming distance of two crops' 64-bit
      perceptual hashes that still makes them one picture.
    * ``text_confidence`` / ``text_min_chars``: an OCR line counts as text in the
      picture when read with this confidence and this many letters or digits.
    * ``model_disagree``: with ``--model-check``, the default model's confidence in
      another class above which a face goes to review.
    * ``crop_size``: side of the saved aligned crops; ``margin``: their border
      (``None``: the default model's, as inference frames faces).
    """

    min_face_size: int = 40
    min_sharpness: float = 25.0
    max_yaw: float = 55.0
    min_eye_brightness: float = 0.33
    duplicate_distance: int = 4
    text_confidence: float = 0.8
    text_min_chars: int = 3
    model_disagree: float = 0.9
    crop_size: int = 112
    margin: float | None = None

    def __post_init__(self) -> None:
        ints = {"min_face_size": 1, "duplicate_distance": 0, "text_min_chars": 1, "crop_size": 32}
        for name, low in ints.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"clean config: {name} must be an integer >= {low}, not {value!r}")
        ranges = {"min_sharpness": (0, 1e9), "max_yaw": (0, 90), "min_eye_brightness": (0, 10),
                  "text_confidence": (0, 1), "model_disagree": (0, 1)}
        for name, (low, high) in ranges.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise ConfigError(f"clean config: {name} must be a number from {low} to {high:g}, "
                                  f"not {value!r}")
        if self.margin is not None and (isinstance(self.margin, bool)
                                        or not isinstance(self.margin, (int, float))
                                        or not 0 <= self.margin <= 2):
            raise ConfigError(f"clean config: margin must be a number from 0 to 2, not {self.margin!r}")

    @classmethod
    def from_dict(cls, d: dict | None) -> CleanConfig:
        d = dict(d or {})
        from ferkit.train.config import check_options

        check_options(cls, d, "clean config")
        return cls(**d)

    @classmethod
    def load(cls, path: str | os.PathLike | None) -> CleanConfig:
        """Defaults, or those a JSON/YAML file overrides (unknown keys refused)."""
        if path is None:
            return cls()
        from ferkit.train.config import read_config_file

        path = Path(path)
        d = read_config_file(path, "clean config")
        if d is not None and not isinstance(d, dict):
            raise ConfigError(f"{path}: a clean config is a mapping of thresholds")
        try:
            return cls.from_dict(d)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None

    def to_dict(self) -> dict:
        return asdict(self)


FIELDS = tuple(f.name for f in fields(CleanConfig))
