"""The model card: everything inference needs to use a model, and what it was measured at.

One JSON file sits beside each ONNX file (``model.onnx`` + ``model.json``). The
training pipeline writes it at export; the classifier reads it to know the
label set, input geometry, normalisation, alignment and temperature.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ferkit.errors import ModelError
from ferkit.labels import LabelSet, get_label_set

CARD_FORMAT = 3                  # the newest card format this ferkit reads
# Format 2 adds the input modes format-1 readers cannot apply (histeq, lbp, hog); format 3 the
# class-prior correction. A card without them is still written in the older format, so older
# ferkit versions keep reading it.
# The input transforms a model may be trained on (applied by ferkit.preprocess.preprocess_pixels);
# all work on grayscale, these also on RGB (CLAHE on the L of Lab).
PREPROCESS_MODES = ("none", "histeq", "clahe", "lbp", "hog")
COLOUR_MODES = ("none", "clahe")
FORMAT1_MODES = ("none", "clahe")
MAX_PRIOR_TAU = 2.0              # beyond tau = 1 the correction favours rare classes outright


def check_preprocess(mode: str, channels: int) -> None:
    """Raise ``ValueError`` unless ``mode`` is a known mode that works on ``channels``-channel
    input (histeq, LBP and HOG images are grayscale only)."""
    if mode not in PREPROCESS_MODES:
        raise ValueError(f"unknown preprocess {mode!r}; known: {', '.join(PREPROCESS_MODES)}")
    if channels != 1 and mode not in COLOUR_MODES:
        raise ValueError(f"preprocess {mode!r} works on grayscale input only (channels 1), not "
                         f"on {channels} channels; with RGB input use 'none' or 'clahe'")


@dataclass
class InputSpec:
    """What the ONNX graph takes: ``(N, channels, size, size)`` float32.

    ``preprocess`` is the image transform the model was trained on, applied to the crop in
    the model's colour before normalising (:func:`ferkit.preprocess.model_pixels`): ``none``,
    ``histeq`` (histogram equalisation), ``clahe``, ``lbp`` (local binary pattern image) or
    ``hog`` (HOG picture); histeq, lbp and hog need ``channels`` 1. Cards of format 1 said
    ``"clahe": true`` instead; they read as ``preprocess`` ``clahe``.
    """

    size: int = 48
    channels: int = 1            # 1 = grayscale, 3 = RGB
    mean: float = 0.5            # x = (pixel / 255 - mean) / std
    std: float = 0.25
    preprocess: str = "none"

    def __post_init__(self) -> None:
        try:
            check_preprocess(self.preprocess, self.channels)
        except ValueError as e:
            raise ModelError(f"the card's input: {e}") from None

    @property
    def clahe(self) -> bool:
        """True for CLAHE input (the format-1 field)."""
        return self.preprocess == "clahe"

    @classmethod
    def from_dict(cls, d: dict) -> "InputSpec":
        d = dict(d)
        clahe = d.pop("clahe", False)
        if clahe and d.get("preprocess", "clahe") != "clahe":
            raise ModelError(f"the card's input says both clahe and preprocess "
                             f"{d['preprocess']!r}")
        if clahe:
            d["preprocess"] = "clahe"
        return cls(**d)

    def to_dict(self) -> dict:
        """The JSON form: format-1 readers find ``clahe``; ``preprocess`` only where needed."""
        d = asdict(self)
        d["clahe"] = self.clahe
        if self.preprocess in FORMAT1_MODES:
            del d["preprocess"]
        return d

    @property
    def card_format(self) -> int:
        """The oldest card format that can describe this input."""
        return 1 if self.preprocess in FORMAT1_MODES else 2


@dataclass
class AlignSpec:
    """How faces are cut from photos for this model (see :mod:`ferkit.align`)."""

    template: str = "fer2013"    # name of a 5-point template in ferkit.align.TEMPLATES
    margin: float = 0.0          # extra border as a fraction of the crop size (0 = template framing)


@dataclass
class Metric:
    """One measured figure, with the data and split it was measured on."""

    name: str                    # e.g. "accuracy", "macro_f1", "ece"
    value: float
    dataset: str                 # e.g. "FER2013"
    split: str                   # e.g. "PrivateTest"
    samples: int = 0
    notes: str = ""


@dataclass
class PriorCorrection:
    """Class-prior correction at inference (logit adjustment): the calibrated
    probabilities are divided by ``prior ** tau`` and renormalised.

    ``tau = 1`` answers as if every class were equally common; ``tau = 0``
    (off) leaves the probabilities as they are. ``prior`` is the class
    distribution the model learned, in label order (its scale does not matter);
    ``source`` says how it was estimated and ``selection`` how ``tau`` was
    chosen, with what it measured.
    """

    prior: list[float]
    tau: float = 0.0
    source: str = ""
    selection: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.prior or not all(isinstance(p, (int, float)) and not isinstance(p, bool)
                                     and math.isfinite(p) and p > 0 for p in self.prior):
            raise ModelError(f"prior_correction.prior must be positive numbers, got {self.prior!r}")
        if isinstance(self.tau, bool) or not isinstance(self.tau, (int, float)) \
                or not math.isfinite(self.tau) or not 0 <= self.tau <= MAX_PRIOR_TAU:
            raise ModelError(f"prior_correction.tau must be a number from 0 to {MAX_PRIOR_TAU:g}, "
                             f"got {self.tau!r}")
        self.tau = float(self.tau)


@dataclass
class ModelCard:
    name: str
    labels: list[str]
    label_set: str = "custom"
    architecture: str = ""
    parameters: int = 0
    input: InputSpec = field(default_factory=InputSpec)
    align: AlignSpec = field(default_factory=AlignSpec)
    temperature: float = 1.0
    metrics: list[Metric] = field(default_factory=list)
    training: dict = field(default_factory=dict)   # data, splits, command, config, wall time, hardware
    ferkit_version: str = ""
    description: str = ""
    prior_correction: PriorCorrection | None = None
    format: int = 1              # the oldest card format that can read this card

    def __post_init__(self) -> None:
        self.format = max(self.format, self.oldest_format)
        if self.prior_correction is not None and len(self.prior_correction.prior) != len(self.labels):
            raise ModelError(f"prior_correction.prior has {len(self.prior_correction.prior)} "
                             f"classes but the card names {len(self.labels)} labels")

    @property
    def oldest_format(self) -> int:
        """The oldest card format that can describe what this card holds."""
        return 3 if self.prior_correction is not None else self.input.card_format

    @property
    def label_set_obj(self) -> LabelSet:
        """The card's classes as a :class:`LabelSet`, in model output order."""
        ls = get_label_set(self.labels)
        return ls if ls.name != "custom" else LabelSet(self.label_set, tuple(self.labels))

    def metric(self, name: str, split: str | None = None) -> Metric | None:
        for m in self.metrics:
            if m.name == name and (split is None or m.split == split):
                return m
        return None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input"] = self.input.to_dict()
        if self.prior_correction is None:
            del d["prior_correction"]
        d["format"] = max(self.format, self.oldest_format)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelCard":
        d = dict(d)
        if d.get("format", CARD_FORMAT) > CARD_FORMAT:
            raise ModelError(f"model card format {d['format']} is newer than this ferkit "
                             f"understands ({CARD_FORMAT}); upgrade ferkit")
        d["input"] = InputSpec.from_dict(d.get("input", {}))
        d["align"] = AlignSpec(**d.get("align", {}))
        d["metrics"] = [Metric(**m) for m in d.get("metrics", [])]
        if d.get("prior_correction") is not None:
            d["prior_correction"] = PriorCorrection(**d["prior_correction"])
        return cls(**d)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ModelCard":
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except ModelError as e:
            raise ModelError(f"{path}: {e}") from None
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError, KeyError, AttributeError) as e:
            raise ModelError(f"{path}: not a valid ferkit model card ({e})") from None

    def save(self, path: str | os.PathLike) -> None:
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n",
                       encoding="utf-8")
        os.replace(tmp, path)


def card_path_for(onnx_path: str | os.PathLike) -> Path:
    """The card that belongs to an ONNX file: same name, ``.json``."""
    return Path(onnx_path).with_suffix(".json")
