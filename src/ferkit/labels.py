"""Expression label sets, their aliases, and mappings between them.

A :class:`LabelSet` is an ordered tuple of canonical class names. Every name a
user or a dataset may write (``"Happiness"``, ``"joy"``, ``"기쁨"``) resolves to
one canonical name through :func:`canonical`. Mapping a prediction from one set
to another goes through canonical names, and classes with no counterpart are
reported rather than dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass

# Canonical names used across ferkit.
ANGRY, DISGUST, FEAR, HAPPY, SAD, SURPRISE, NEUTRAL = (
    "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
CONTEMPT, ANXIETY, HURT, EMBARRASSED = "contempt", "anxiety", "hurt", "embarrassed"

# alias -> canonical name (keys are lower-cased, stripped).
ALIASES: dict[str, str] = {
    "angry": ANGRY, "anger": ANGRY, "mad": ANGRY, "분노": ANGRY,
    "disgust": DISGUST, "disgusted": DISGUST, "disgusting": DISGUST, "혐오": DISGUST,
    "fear": FEAR, "fearful": FEAR, "afraid": FEAR, "scared": FEAR, "공포": FEAR,
    "happy": HAPPY, "happiness": HAPPY, "joy": HAPPY, "smile": HAPPY,
    "smiling": HAPPY, "기쁨": HAPPY,
    "sad": SAD, "sadness": SAD, "unhappy": SAD, "슬픔": SAD,
    "surprise": SURPRISE, "surprised": SURPRISE, "놀람": SURPRISE,
    "neutral": NEUTRAL, "calm": NEUTRAL, "중립": NEUTRAL,
    "contempt": CONTEMPT, "경멸": CONTEMPT,
    "anxiety": ANXIETY, "anxious": ANXIETY, "불안": ANXIETY,
    "hurt": HURT, "상처": HURT,
    # 당황 (AIHub's Korean-5/7) is embarrassment/bewilderment, acted and labelled as its own
    # emotion; it is not FER's surprise, so it has its own class and maps onto no FER class.
    "embarrassed": EMBARRASSED, "embarrassment": EMBARRASSED, "당황": EMBARRASSED,
}

# Display names per language (``ferkit analyze --label-names``); English is the canonical name.
LABEL_LANGUAGES = ("en", "ko")
KOREAN_NAMES: dict[str, str] = {
    ANGRY: "분노", DISGUST: "혐오", FEAR: "공포", HAPPY: "기쁨", SAD: "슬픔", SURPRISE: "놀람",
    NEUTRAL: "중립", CONTEMPT: "경멸", ANXIETY: "불안", HURT: "상처", EMBARRASSED: "당황",
}


class UnknownLabelError(ValueError):
    """A label name that no alias resolves."""


def display_name(name: str, language: str = "en") -> str:
    """How class ``name`` (any alias) is written in ``language`` (one of :data:`LABEL_LANGUAGES`);
    a name no alias resolves (a custom model's class) is returned unchanged."""
    if language not in LABEL_LANGUAGES:
        raise ValueError(f"unknown label language {language!r}; known: {', '.join(LABEL_LANGUAGES)}")
    try:
        c = canonical(name)
    except UnknownLabelError:
        return name
    return KOREAN_NAMES[c] if language == "ko" else c


def display_names(labels, language: str = "en") -> dict[str, str]:
    """``{label: display name}`` for a model's labels, refusing names that would collide."""
    names = {label: display_name(label, language) for label in labels}
    if len(set(names.values())) != len(names):
        raise ValueError(f"labels {list(labels)} do not have distinct {language} names")
    return names


def canonical(name: str) -> str:
    """Canonical class name for ``name`` (case-insensitive, aliases resolved)."""
    key = str(name).strip().lower().replace("-", "_")
    if key in ALIASES:
        return ALIASES[key]
    raise UnknownLabelError(f"unknown expression label {name!r}; known: "
                            f"{', '.join(sorted(set(ALIASES.values())))}")


@dataclass(frozen=True)
class LabelSet:
    """An ordered set of expression classes; index ``i`` is model output ``i``."""

    name: str
    labels: tuple[str, ...]
    description: str = ""

    def __post_init__(self) -> None:
        labels = tuple(canonical(x) for x in self.labels)
        if len(set(labels)) != len(labels):
            raise ValueError(f"label set {self.name!r} repeats a class: {labels}")
        object.__setattr__(self, "labels", labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __iter__(self):
        return iter(self.labels)

    def __contains__(self, name: object) -> bool:
        try:
            return canonical(str(name)) in self.labels
        except UnknownLabelError:
            return False

    def index(self, name: str) -> int:
        """Index of the class ``name`` (any alias) in this set."""
        c = canonical(name)
        try:
            return self.labels.index(c)
        except ValueError:
            raise UnknownLabelError(
                f"{name!r} ({c}) is not a class of label set {self.name!r}: {self.labels}") from None

    def mapping_to(self, other: "LabelSet") -> "LabelMapping":
        """How the classes of this set map onto ``other``'s."""
        pairs = {i: other.labels.index(c) for i, c in enumerate(self.labels) if c in other.labels}
        return LabelMapping(self, other, pairs)


@dataclass(frozen=True)
class LabelMapping:
    """Class correspondence between two label sets (by canonical name)."""

    source: LabelSet
    target: LabelSet
    pairs: dict[int, int]  # source index -> target index

    @property
    def unmapped_source(self) -> tuple[str, ...]:
        """Source classes with no counterpart in the target set."""
        return tuple(c for i, c in enumerate(self.source.labels) if i not in self.pairs)

    @property
    def unmapped_target(self) -> tuple[str, ...]:
        """Target classes that no source class maps to."""
        hit = set(self.pairs.values())
        return tuple(c for i, c in enumerate(self.target.labels) if i not in hit)

    def map_indices(self, indices):
        """Source indices to target indices; ``-1`` where a class has no counterpart."""
        import numpy as np

        table = np.full(len(self.source), -1, dtype=np.int64)
        for s, t in self.pairs.items():
            table[s] = t
        return table[np.asarray(indices, dtype=np.int64)]

    def map_probabilities(self, probs):
        """Move probability mass onto the target classes.

        Mass on source classes without a counterpart is dropped and the rest
        renormalised, so the result is a distribution over the target classes
        the source can express; call :attr:`unmapped_source` to report what was lost.
        """
        import numpy as np

        probs = np.asarray(probs, dtype=np.float64)
        out = np.zeros(probs.shape[:-1] + (len(self.target),))
        for s, t in self.pairs.items():
            out[..., t] += probs[..., s]
        total = out.sum(-1, keepdims=True)
        return np.divide(out, total, out=np.zeros_like(out), where=total > 0)


FER7 = LabelSet("fer7", (ANGRY, DISGUST, FEAR, HAPPY, SAD, SURPRISE, NEUTRAL),
                "FER2013 order: 0=angry 1=disgust 2=fear 3=happy 4=sad 5=surprise 6=neutral")
FERPLUS8 = LabelSet("ferplus8", (NEUTRAL, HAPPY, SURPRISE, SAD, ANGRY, DISGUST, FEAR, CONTEMPT),
                    "FER+ vote-column order")
KOREAN5 = LabelSet("korean5", (HAPPY, EMBARRASSED, ANGRY, SAD, NEUTRAL),
                   "기쁨 (happy), 당황 (embarrassed), 분노 (angry), 슬픔 (sad), 중립 (neutral)")
KOREAN6 = LabelSet("korean6", (HAPPY, EMBARRASSED, ANGRY, ANXIETY, HURT, SAD),
                   "AIHub order 기쁨, 당황, 분노, 불안, 상처, 슬픔: Korean-7 without 중립")
KOREAN7 = LabelSet("korean7", (HAPPY, EMBARRASSED, ANGRY, SAD, NEUTRAL, ANXIETY, HURT),
                   "Korean-5 plus 불안 (anxiety) and 상처 (hurt)")

LABEL_SETS: dict[str, LabelSet] = {s.name: s for s in (FER7, FERPLUS8, KOREAN5, KOREAN6,
                                                        KOREAN7)}


def get_label_set(name_or_labels) -> LabelSet:
    """A registered label set by name, or a custom one from a list of class names."""
    if isinstance(name_or_labels, LabelSet):
        return name_or_labels
    if isinstance(name_or_labels, str):
        key = name_or_labels.strip().lower().replace("-", "").replace("+", "plus")
        if key in LABEL_SETS:
            return LABEL_SETS[key]
        raise KeyError(f"unknown label set {name_or_labels!r}; known: {', '.join(LABEL_SETS)}")
    labels = tuple(name_or_labels)
    for s in LABEL_SETS.values():
        if s.labels == tuple(canonical(x) for x in labels):
            return s
    return LabelSet("custom", labels)
